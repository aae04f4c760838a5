package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stategen/stategen/internal/web"
	"github.com/stategen/stategen/runtime"
)

// serveCmd is 'stategen serve'.
type serveCmd struct {
	Addr        string `default:"127.0.0.1:8080" placeholder:"HOST:PORT" help:"Address to listen on (port 0 picks a free one). Only loopback addresses unless --public."`
	AllowWrites bool   `name:"allow-writes" help:"Offer restore and delete-checkpoint (behind a confirmation, for this server's own pages only) and open the store for writing."`
	Public      bool   `help:"Allow an address that is not loopback, reachable by other machines: anyone who can reach it can read the store."`
	secretFlags
}

func (serveCmd) Help() string {
	return `Serves a web view of the store: the runs (namespaces) in a table that
can be filtered and paged, each run's state, raw JSON and checkpoints, and
a diff between two checkpoints or a checkpoint and now. Pages update live
as the store changes. Everything is embedded: no network is needed.

The view is read-only, and the store opened read-only, unless
--allow-writes; then checkpoints can be restored and deleted, each after
a confirmation page, and only from this server's own pages (cross-site
requests and requests without the server's token are refused).

It listens on loopback only (127.0.0.1, [::1], localhost) unless --public,
and answers only requests addressed to a loopback name. Secret values show
as [redacted] unless --show-secrets. It prints the URL it serves on and
runs until interrupted (SIGINT or SIGTERM), then exits 0.`
}

// shutdownGrace is how long serve waits for requests in flight on exit.
const shutdownGrace = 5 * time.Second

func (c *serveCmd) Run(e *env) error {
	if err := checkServeAddr(c.Addr, c.Public); err != nil {
		return err
	}
	return e.open(!c.AllowWrites, func(ctx context.Context, st *runtime.Store) error {
		logger := slog.New(slog.NewTextHandler(e.stderr, nil))
		h, err := web.New(st, web.Options{ShowSecrets: c.ShowSecrets, AllowWrites: c.AllowWrites, AnyHost: c.Public, Logger: logger})
		if err != nil {
			return err
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.Addr)
		if err != nil {
			return err
		}
		mode := "read-only"
		if c.AllowWrites {
			mode = "writes allowed"
		}
		if c.Public {
			fmt.Fprintf(e.stderr, "stategen: warning: serving on %s with --public: anyone who can reach this address can read the store%s\n",
				ln.Addr(), map[bool]string{true: " and restore or delete its checkpoints", false: ""}[c.AllowWrites])
		}
		fmt.Fprintf(e.stdout, "serving %s on http://%s/ (%s)\n", st.Name(), ln.Addr(), mode)

		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// Requests (and the event streams) end when serve is stopped.
			BaseContext: func(net.Listener) context.Context { return ctx },
			ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("stop serving: %w", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// checkServeAddr refuses an address that is not HOST:PORT, and one whose
// host is not loopback unless public.
func checkServeAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	if public || isLoopback(host) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return fmt.Errorf("--addr %s: %s is not a loopback address; add --public to serve other machines", addr, shown)
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
