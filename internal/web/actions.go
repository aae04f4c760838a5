package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/stategen/stategen/runtime"
)

// action is a write the view offers on a checkpoint.
type action struct {
	Verb   string // as the button says it
	Done   string // the run page's notice code afterwards
	Effect string // what it does, for the confirmation
}

var actions = map[string]action{
	"restore": {Verb: "Restore", Done: "restored", Effect: "makes the run's state exactly this checkpoint again: keys written since are removed"},
	"delete":  {Verb: "Delete", Done: "deleted", Effect: "removes this checkpoint for good; the run's state is unchanged"},
}

// readOnlyMessage is why a write is refused without AllowWrites.
const readOnlyMessage = "This server is read-only: restoring and deleting checkpoints needs stategen serve --allow-writes."

// confirmView is the data of the confirmation page.
type confirmView struct {
	base
	Namespace  string
	Checkpoint runtime.CheckpointInfo
	Action     string
	Verb       string
	Effect     string
}

// confirmPage asks before a write: a form that POSTs the action with the
// CSRF token, and a way back.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.action(w, r)
	if !ok {
		return
	}
	ns, cpName, name := r.PathValue("ns"), r.PathValue("cp"), r.PathValue("action")
	cp, err := h.st.GetCheckpoint(r.Context(), ns, cpName)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "confirm", confirmView{
		base:      h.base(fmt.Sprintf("%s checkpoint %s of %s?", a.Verb, cpName, ns), ""),
		Namespace: ns, Checkpoint: cp.CheckpointInfo, Action: name, Verb: a.Verb, Effect: a.Effect,
	})
}

// act carries out a confirmed write, after checking that writes are
// allowed, that the request comes from this site, and that it carries the
// token, then sends the browser back to the run's page.
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	a, ok := h.action(w, r)
	if !ok {
		return
	}
	if err := h.cop.Check(r); err != nil {
		h.fail(w, r, http.StatusForbidden, "Cross-site request refused", "A write must come from this server's own pages: "+err.Error()+".")
		return
	}
	if !h.checkToken(r) {
		h.fail(w, r, http.StatusForbidden, "Missing or wrong token", "A write must come from this server's own confirmation form; reload it and try again.")
		return
	}
	ns, cpName, name := r.PathValue("ns"), r.PathValue("cp"), r.PathValue("action")
	var err error
	switch name {
	case "restore":
		_, err = h.st.Restore(r.Context(), ns, cpName)
	case "delete":
		err = h.st.DeleteCheckpoint(r.Context(), ns, cpName)
	}
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "web action", "action", name, "namespace", ns, "checkpoint", cpName)
	done := url.Values{"done": {a.Done}, "cp": {cpName}}
	http.Redirect(w, r, runURL(ns)+"?"+done.Encode(), http.StatusSeeOther)
}

// action is the action the request's path names, when writes are allowed
// and there is one; otherwise it has answered the request.
func (h *Handler) action(w http.ResponseWriter, r *http.Request) (action, bool) {
	if !h.opts.AllowWrites {
		h.fail(w, r, http.StatusForbidden, "Read-only", readOnlyMessage)
		return action{}, false
	}
	name := r.PathValue("action")
	a, ok := actions[name]
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such action", fmt.Sprintf("There is no action %q; there are restore and delete.", name))
	}
	return a, ok
}
