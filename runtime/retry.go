package runtime

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries of transient errors: at most Attempts tries
// in all, sleeping a random time up to Initial, 2*Initial, 4*Initial ... (at
// most Max) between them ("full jitter"), and never past the context's
// deadline.
type RetryPolicy struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
}

// DefaultRetry is the policy a Store uses unless WithRetry says otherwise.
var DefaultRetry = RetryPolicy{Attempts: 6, Initial: 10 * time.Millisecond, Max: time.Second}

// NoRetry tries once.
var NoRetry = RetryPolicy{Attempts: 1}

// backoff returns how long to sleep before try number n+1 (n counts from 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d) + 1
}

// sleep waits d or until ctx ends; it reports whether the full d elapsed.
// It gives up at once when the deadline would pass before d does.
func sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// run calls f until it succeeds, fails with a non-transient error, or the
// policy or context says stop. onRetry is told of each retry.
func (p RetryPolicy) run(ctx context.Context, f func() error, onRetry func(attempt int, err error)) error {
	attempts := max(p.Attempts, 1)
	for n := 1; ; n++ {
		err := f()
		if err == nil || !IsTransient(err) || n >= attempts || ctx.Err() != nil {
			return err
		}
		onRetry(n, err)
		if !sleep(ctx, p.backoff(n)) {
			return err
		}
	}
}
