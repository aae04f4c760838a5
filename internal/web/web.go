// Package web is the web view of a store that 'stategen serve' serves: the
// runs (namespaces) in a filterable, paged table, one run's state and its
// checkpoints, a diff between two checkpoints or a checkpoint and now, and,
// only when writes are allowed, restoring and deleting checkpoints.
//
// Pages are rendered on the server with html/template; a little plain
// JavaScript (static/app.js) keeps them current through server-sent events
// fed by the store's change feed, and every page works without it. Every
// asset is embedded in the binary: nothing is fetched from elsewhere, so the
// view works with no network.
//
// Routes:
//
//	GET  /                                     runs: ?q= (namespace contains), ?label=K=V, ?schema=NAME, ?after=NS, ?limit=N
//	GET  /runs/{ns}                            a run: state, raw JSON, checkpoints
//	GET  /runs/{ns}/diff?from=CP&to=CP         a diff; an empty or absent to is the current state
//	GET  /runs/{ns}/checkpoints/{cp}/{action}  the confirmation of restore or delete
//	POST /runs/{ns}/checkpoints/{cp}/{action}  the action itself
//	GET  /events?ns=NS                         server-sent events: one "change" per change (every run without ns)
//	GET  /static/...                           the embedded style sheet, script and icon
//
// A page asked with ?fragment=live renders only its live part, which the
// script swaps in when an event arrives.
//
// Safety: secret values (the keys the stored schema marks secret, and
// sealed values) show as [redacted] unless Options.ShowSecrets. Writes are
// refused with 403 unless Options.AllowWrites; with it, a write must be a
// POST that passes http.CrossOriginProtection (Sec-Fetch-Site or Origin)
// and carries the server's CSRF token, which only its own pages hold.
// Unless Options.AnyHost, requests whose Host is not a loopback name or
// address are refused (421), so that a web page cannot reach a loopback
// server through a DNS name rebound to 127.0.0.1.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

// Options are what the view may show and do.
type Options struct {
	// ShowSecrets shows the values of secret keys instead of [redacted].
	ShowSecrets bool
	// AllowWrites offers restore and delete-checkpoint, and accepts them.
	AllowWrites bool
	// AnyHost answers requests for any Host; without it only loopback
	// hosts (localhost, 127.0.0.0/8, [::1]) are answered.
	AnyHost bool
	// Logger receives the errors of requests (slog.Default() when nil).
	Logger *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler serves the web view of one store.
type Handler struct {
	st    *runtime.Store
	opts  Options
	log   *slog.Logger
	token string // the CSRF token every write form carries
	pages map[string]*template.Template
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection
}

// New returns the web view of st. The view only reads st unless
// opts.AllowWrites.
func New(st *runtime.Store, opts Options) (*Handler, error) {
	h := &Handler{st: st, opts: opts, log: opts.Logger, cop: http.NewCrossOriginProtection()}
	if h.log == nil {
		h.log = slog.Default()
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("csrf token: %w", err)
	}
	h.token = hex.EncodeToString(raw[:])
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}

	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.runsPage)
	m.HandleFunc("GET /runs/{ns}", h.runPage)
	m.HandleFunc("GET /runs/{ns}/diff", h.diffPage)
	m.HandleFunc("GET /runs/{ns}/checkpoints/{cp}/{action}", h.confirmPage)
	m.HandleFunc("POST /runs/{ns}/checkpoints/{cp}/{action}", h.act)
	m.HandleFunc("GET /events", h.events)
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/icon.svg", http.StatusMovedPermanently)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "No such page", "There is nothing at "+r.URL.Path+".")
	})
	h.mux = m
	return h, nil
}

// pageNames are the templates in templates/ besides layout.html, each a
// page that defines "content" and, where it updates live, "live".
var pageNames = []string{"runs", "run", "diff", "confirm", "error"}

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"runURL":  runURL,
		"timeUTC": timeUTC,
		"ago":     ago,
	}
	h.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	return nil
}

// ServeHTTP answers loopback hosts only (unless AnyHost), with headers that
// keep the pages from being framed or running anything not their own.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if !h.opts.AnyHost && !loopbackHost(r.Host) {
		h.fail(w, r, http.StatusMisdirectedRequest, "Host not served",
			"This server answers only for localhost and loopback addresses; "+r.Host+" is neither. Start it with --public to serve other names.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether hostport names this machine's loopback
// interface: localhost (and its subdomains), 127.0.0.0/8 or ::1.
func loopbackHost(hostport string) bool {
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// base is what every page's layout needs.
type base struct {
	Title       string
	Store       string
	AllowWrites bool
	ShowSecrets bool
	// Events is the server-sent events URL the page listens to; empty for
	// a page that does not update live.
	Events string
	Token  string
}

func (h *Handler) base(title, events string) base {
	return base{Title: title, Store: h.st.Name(), AllowWrites: h.opts.AllowWrites, ShowSecrets: h.opts.ShowSecrets, Events: events, Token: h.token}
}

// render writes page name with data: the whole page, or only its "live"
// template when the request asks for ?fragment=live.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := h.pages[name]
	tmpl := "layout"
	if r.URL.Query().Get("fragment") == "live" && t.Lookup("live") != nil {
		tmpl = "live"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, tmpl, data); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "stategen: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// errorPage is the data of the error page.
type errorPage struct {
	base
	Status  int
	Message string
}

// fail renders the error page with status, a title and a one-sentence
// message.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, "error", errorPage{base: h.base(title, ""), Status: status, Message: msg})
}

// failErr renders err: 404 for what does not exist, 400 for a bad name,
// 500 (and a log line) for the rest.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "Not found", err.Error())
	case errors.Is(err, runtime.ErrInvalidName):
		h.fail(w, r, http.StatusBadRequest, "Bad name", err.Error())
	case errors.Is(err, context.Canceled):
	default:
		h.log.ErrorContext(r.Context(), "web request", "path", r.URL.Path, "err", err)
		h.fail(w, r, http.StatusInternalServerError, "Store error", err.Error())
	}
}

// checkToken reports whether the form carries this server's CSRF token.
func (h *Handler) checkToken(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) == 1
}

// runURL is the path of run ns's page.
func runURL(ns string) string { return "/runs/" + url.PathEscape(ns) }

// timeUTC is t in UTC to the second, or "-" when unknown.
func timeUTC(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago is how long before now t was, roughly ("5s ago", "3m ago"), or ""
// when unknown.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
