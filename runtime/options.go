package runtime

import (
	"log/slog"
	"time"
)

// Option configures a Store.
type Option func(*options)

type options struct {
	cache    cacheMode
	ttl      time.Duration // relaxed cache trust period
	retry    RetryPolicy
	logger   *slog.Logger
	keyTTL   time.Duration // expiry of stored data
	readOnly bool
	keys     *Keyring // seals secret values; nil: none

	retention Retention // applied on every checkpoint
}

func defaultOptions() options {
	return options{cache: cacheStrict, retry: DefaultRetry, logger: slog.New(slog.DiscardHandler)}
}

// WithStrictCache caches decoded values and checks, before each use, that no
// writer (this process or another) changed the namespace since. It is the
// default. On a backend that cannot check cheaply every read goes through.
func WithStrictCache() Option { return func(o *options) { o.cache = cacheStrict } }

// WithRelaxedCache trusts a cached value for ttl without checking: for a
// process that owns its namespaces. Writes through this Store still
// invalidate at once; writes by others are seen after ttl at the latest.
func WithRelaxedCache(ttl time.Duration) Option {
	return func(o *options) { o.cache, o.ttl = cacheRelaxed, ttl }
}

// WithoutCache sends every read to the backend.
func WithoutCache() Option { return func(o *options) { o.cache = cacheOff } }

// WithRetry sets the policy for transient errors (DefaultRetry otherwise).
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithLogger sends the Store's diagnostics (retries, migrations) to l.
// The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithTTL makes stored namespaces expire d after their last write. Without
// it nothing ever expires. Each run records its TTL (RunInfo.TTL), so that
// every tool knows it: Redis expires the run's keys itself; on the other
// backends a run idle longer than d reads as not found (Load, Run, Runs)
// and Store.GC (stategen gc) deletes it.
func WithTTL(d time.Duration) Option { return func(o *options) { o.keyTTL = d } }

// ReadOnly opens the store for reading only: Open fails, creating nothing,
// when there is no store at the URL (the error wraps ErrNotFound), and every
// write fails with ErrReadOnly. Inspection tools use it so that a mistyped
// URL is reported instead of becoming a new, empty store.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithRetention applies r on every Checkpoint: the run's checkpoints r does
// not keep are removed (never the one just written), so that no sweeper is
// needed; in the same write where the backend copies checkpoints itself
// (CheckpointCopier: SQLite, PostgreSQL, Redis), right after it elsewhere. Prune
// still applies any policy by hand.
func WithRetention(r Retention) Option { return func(o *options) { o.retention = r } }
