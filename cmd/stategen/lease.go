package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// leaseCmd is 'stategen lease NS [--break]'.
type leaseCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) whose lease to show."`
	Break     bool   `name:"break" help:"End the lease by hand, whoever holds it: its holder's writes are refused from then on."`
}

func (leaseCmd) Help() string {
	return `Shows who owns a run: one line, one of
  NS: held by HOLDER (token N), acquired T, expires T
  NS: expired: held by HOLDER (token N), acquired T, expired T; anyone may take it over
  NS: free (token N)          (released or broken; the next holder gets N+1)
  NS: free (never leased)
Times are UTC. A lease's holder takes it for a TTL and renews it; its
fencing token grows with every acquisition, and writes made under an
older token are refused.

--break ends the lease, whoever holds it (for a holder that died without
releasing it and whose TTL is long): it stores a free lease with the next
token, so that the holder's writes, renewals and release fail, and prints
"broke the lease of NS held by HOLDER (token N, expires T)". A free lease
is left as it is.

--json prints {"namespace": "...", "state": "held" | "expired" | "free",
"holder": "..." ("" when free), "token": 3, "acquired": "...",
"expires": "..."} (times null when free); with --break, the lease as it
was before, and "broken": true when there was one to break.`
}

// leaseJSON is what lease prints with --json.
type leaseJSON struct {
	Namespace string     `json:"namespace"`
	State     string     `json:"state"`
	Holder    string     `json:"holder"`
	Token     int64      `json:"token"`
	Acquired  *time.Time `json:"acquired"`
	Expires   *time.Time `json:"expires"`
	Broken    *bool      `json:"broken,omitempty"`
}

func (c *leaseCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	open := e.withReader
	if c.Break {
		open = e.withStore
	}
	return open(func(ctx context.Context, st *runtime.Store) error {
		// A run that does not exist is named as such, not shown free.
		if _, err := statediff.Current(ctx, st, c.Namespace); err != nil {
			return err
		}
		var info runtime.LeaseInfo
		var err error
		if c.Break {
			info, err = st.BreakLease(ctx, c.Namespace)
		} else {
			info, err = st.LeaseInfo(ctx, c.Namespace)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		if e.JSON {
			j := leaseJSON{Namespace: c.Namespace, State: info.State(now), Holder: info.Holder, Token: info.Token,
				Acquired: timeJSON(info.Acquired), Expires: timeJSON(info.Expires)}
			if c.Break {
				broken := info.Holder != ""
				j.Broken = &broken
			}
			return writeJSON(e.stdout, j)
		}
		if c.Break {
			return printBroken(e.stdout, c.Namespace, info)
		}
		return printLease(e.stdout, c.Namespace, info, now)
	})
}

func printLease(w io.Writer, ns string, info runtime.LeaseInfo, now time.Time) error {
	var err error
	switch info.State(now) {
	case "held":
		_, err = fmt.Fprintf(w, "%s: held by %s (token %d), acquired %s, expires %s\n", ns, info.Holder, info.Token, timeText(info.Acquired), timeText(info.Expires))
	case "expired":
		_, err = fmt.Fprintf(w, "%s: expired: held by %s (token %d), acquired %s, expired %s; anyone may take it over\n", ns, info.Holder, info.Token, timeText(info.Acquired), timeText(info.Expires))
	default:
		if info.Token == 0 {
			_, err = fmt.Fprintf(w, "%s: free (never leased)\n", ns)
		} else {
			_, err = fmt.Fprintf(w, "%s: free (token %d)\n", ns, info.Token)
		}
	}
	return err
}

func printBroken(w io.Writer, ns string, info runtime.LeaseInfo) error {
	if info.Holder == "" {
		_, err := fmt.Fprintf(w, "the lease of %s is free (token %d): nothing to break\n", ns, info.Token)
		return err
	}
	_, err := fmt.Fprintf(w, "broke the lease of %s held by %s (token %d, expires %s)\n", ns, info.Holder, info.Token, timeText(info.Expires))
	return err
}
