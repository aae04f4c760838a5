package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stategen/stategen/runtime"
)

// leaseTTL is how long a phase's lease lasts without renewal: a phase
// renews it every third of that while it works, so only a phase that died
// (or hangs) lets it expire, and then another may take the run over after
// at most this long.
const leaseTTL = 30 * time.Second

// holderName names this process as a lease holder: its host, process id
// and what it does, so that whoever is refused knows where to look.
func holderName(what string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), what)
}

// leased runs f with run s's lease, taken for what (a phase, resume):
// one owner of a run at a time. f gets the store fenced by the lease, so
// that if the lease is lost (it expired while this process was stopped,
// and another took it over) none of its writes land, and a context that
// ends with the loss. The lease is renewed in the background and released
// when f returns, also when it fails: a phase that crashes for real (kill
// -9) leaves it held until it expires, or until `stategen lease ID
// --break`.
func (w *workflow) leased(ctx context.Context, s *ADWStateStore, what string, f func(context.Context, *ADWStateStore) error) (err error) {
	l, err := w.st.Acquire(ctx, s.Namespace(), holderName(what), leaseTTL)
	var le *runtime.LeaseError
	if errors.As(err, &le) && errors.Is(err, runtime.ErrLeased) {
		return fmt.Errorf("run %s is busy: %s holds its lease (token %d) until %s; try again then, or end it with: stategen lease %s --break",
			s.Namespace(), le.Lease.Holder, le.Lease.Token, le.Lease.Expires.UTC().Format(time.RFC3339), s.Namespace())
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	lost := l.KeepAlive(ctx, 0)
	go func() {
		if err, ok := <-lost; ok {
			cancel(err) // stop the phase: its writes would be refused anyway
		}
	}()
	defer func() {
		cancel(nil)
		if rerr := l.Release(context.WithoutCancel(ctx)); err == nil {
			err = rerr
		}
	}()
	err = f(ctx, s.WithLease(l))
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("run %s: lost its lease: %w", s.Namespace(), cause)
	}
	return err
}
