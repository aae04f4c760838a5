package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/stategen/stategen/runtime"
)

// heartbeat is how often an idle event stream sends a comment, so that
// proxies and the browser keep the connection open.
const heartbeat = 20 * time.Second

// event is what one server-sent event carries.
type event struct {
	Namespace string `json:"namespace"`
	Revision  int64  `json:"revision,omitempty"`
}

// events streams the store's changes (those of ?ns= only, when given) as
// server-sent events: "change" for each change, "gap" when the feed lost
// track and the page should read everything again. It ends when the client
// goes away or the server shuts down.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	ns := r.URL.Query().Get("ns")
	if ns != "" {
		if err := runtime.ValidateName("namespace", ns); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting.
	fmt.Fprint(w, "retry: 2000\n: stategen change feed\n\n")
	if err := rc.Flush(); err != nil {
		return
	}

	ctx := r.Context()
	type item struct {
		ev  event
		err error
	}
	items := make(chan item)
	go func() {
		defer close(items)
		for ev, err := range h.feed(ctx, ns) {
			select {
			case items <- item{ev, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case it, ok := <-items:
			if !ok {
				return
			}
			name := "change"
			if it.err != nil {
				// A gap, or the feed failing: either way the page can only
				// read everything again.
				h.log.WarnContext(ctx, "change feed", "namespace", ns, "err", it.err)
				name = "gap"
			}
			data, _ := json.Marshal(it.ev)
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
