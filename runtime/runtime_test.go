package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "adw_1234abcd", "workflow-123", "v1.2", "A_b-C.d", strings.Repeat("x", MaxNameLen)}
	for _, n := range good {
		if err := ValidateName("key", n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", ".", "..", "../x", "a/b", `a\b`, "a\x00b", "{x}", "a*", "a?", "a[b]", "a b", "ü",
		".hidden", "__stategen__", strings.Repeat("x", MaxNameLen+1)}
	for _, n := range bad {
		err := ValidateName("key", n)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		}
		if err != nil && strings.ContainsRune(err.Error(), 0) {
			t.Errorf("ValidateName(%q): error message holds a raw NUL: %q", n, err)
		}
	}
}

func TestRetentionDoomed(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	var list []CheckpointInfo
	for i := 1; i <= 5; i++ { // c1 is 5 days old ... c5 is 1 day old
		list = append(list, CheckpointInfo{Name: fmt.Sprintf("c%d", i), Created: now.Add(-time.Duration(6-i) * 24 * time.Hour)})
	}
	names := func(l []CheckpointInfo) []string {
		var out []string
		for _, c := range l {
			out = append(out, c.Name)
		}
		return out
	}
	for _, tc := range []struct {
		r    Retention
		want []string
	}{
		{Retention{}, nil},
		{Retention{KeepLast: 2}, []string{"c1", "c2", "c3"}},
		{Retention{KeepLast: 10}, nil},
		{Retention{MaxAge: 60 * time.Hour}, []string{"c1", "c2", "c3"}},
		{Retention{KeepLast: 4, MaxAge: 60 * time.Hour}, []string{"c1"}},
		{Retention{KeepLast: 1, MaxAge: 60 * time.Hour}, []string{"c1", "c2", "c3"}},
	} {
		if d := cmp.Diff(tc.want, names(tc.r.Doomed(list, now))); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.r, d)
		}
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Attempts: 10, Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for n := 1; n <= 8; n++ {
		ceiling := min(10*time.Millisecond<<(n-1), 80*time.Millisecond)
		for range 50 {
			if d := p.backoff(n); d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", n, d, ceiling)
			}
		}
	}
}

func TestRetryTransientOnly(t *testing.T) {
	ctx := context.Background()
	p := RetryPolicy{Attempts: 4, Initial: time.Microsecond, Max: time.Microsecond}
	var retries int
	count := func(int, error) { retries++ }

	calls := 0
	err := p.run(ctx, func() error {
		calls++
		if calls < 3 {
			return Transient(errors.New("connection reset"))
		}
		return nil
	}, count)
	if err != nil || calls != 3 || retries != 2 {
		t.Errorf("transient twice then success: err %v, %d calls, %d retries; want nil, 3, 2", err, calls, retries)
	}

	calls, retries = 0, 0
	err = p.run(ctx, func() error { calls++; return Transient(errors.New("down")) }, count)
	if err == nil || calls != 4 {
		t.Errorf("always transient: err %v after %d calls, want an error after 4", err, calls)
	}

	for _, final := range []error{ErrNotFound, ErrConflict, ErrCorrupt, ErrInvalidName} {
		calls = 0
		// Even marked transient by mistake, a final error is not retried.
		err = p.run(ctx, func() error { calls++; return Transient(fmt.Errorf("x: %w", final)) }, count)
		if !errors.Is(err, final) || calls != 1 {
			t.Errorf("%v: %d calls, err %v; want exactly one call", final, calls, err)
		}
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p := RetryPolicy{Attempts: 1000, Initial: time.Hour, Max: time.Hour}
	var calls atomic.Int32
	err := p.run(ctx, func() error { calls.Add(1); return Transient(errors.New("busy")) }, func(int, error) {})
	if err == nil || calls.Load() != 1 {
		t.Errorf("a backoff past the deadline: %d calls, err %v; want one call and the error", calls.Load(), err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, "nosuch://x")
	if !errors.Is(err, ErrUnknownScheme) || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("unknown scheme: %v", err)
	}
	_, err = Open(ctx, "nosuch://user:hunter2@host/0")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
	_, err = Open(ctx, "nosuch://h:26379?master_name=m&password=hunter2&sentinel_password=hunter3")
	if err == nil || strings.Contains(err.Error(), "hunter") || !strings.Contains(err.Error(), "master_name=m") {
		t.Errorf("error leaks a query password, or lost the rest of the URL: %v", err)
	}
	_, err = Open(ctx, "nosuch://user:hunter2@ho st:%zz/0")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("parse error leaks the password: %v", err)
	}
}
