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

// events streams the store's change feed (Store.Watch; the changes of ?ns=
// only, when given) as server-sent events, each a runtime.Change as JSON:
// "change" for a write or a checkpoint, "gap" when the feed lost track (a
// ChangeGap, or an error it recovers from) and the page should read
// everything again. It ends when the client goes away or the server shuts
// down.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	ns := r.URL.Query().Get("ns")
	if ns != "" {
		if err := runtime.ValidateName("namespace", ns); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	ctx := r.Context()
	// Watch takes its starting point now, before the browser hears that
	// the stream is open: no change after that is missed.
	feed := h.st.Watch(ctx, ns)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting.
	fmt.Fprint(w, "retry: 2000\n: stategen change feed\n\n")
	if err := rc.Flush(); err != nil {
		return
	}

	type item struct {
		ch  runtime.Change
		err error
	}
	items := make(chan item)
	go func() {
		defer close(items)
		for ch, err := range feed {
			select {
			case items <- item{ch, err}:
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
				// The feed failed and goes on: what happened meanwhile is
				// unknown, so the page reads everything again, as after a
				// gap.
				h.log.WarnContext(ctx, "change feed", "namespace", ns, "err", it.err)
				it.ch = runtime.Change{Namespace: ns, Kind: runtime.ChangeGap}
			}
			if it.ch.Kind == runtime.ChangeGap {
				name = "gap"
			}
			var data []byte
			if data, err = json.Marshal(it.ch); err == nil {
				_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
			}
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
