package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stategen/stategen/runtime"
)

// PostgreSQL error codes that say "not now" (see the package doc).
var (
	// rolledBack are the errors of a transaction the server rolled back,
	// or of a session it would not start: nothing was applied.
	rolledBack = map[string]bool{
		"40001": true, // serialization_failure
		"40P01": true, // deadlock_detected
		"55P03": true, // lock_not_available
		"57P03": true, // cannot_connect_now (starting up, in recovery)
		"53300": true, // too_many_connections
		"25006": true, // read_only_sql_transaction: a demoted primary
	}
	// ended are the errors of a session the server ended: a write whose
	// transaction had committed may still get one instead of its reply.
	ended = map[string]bool{
		"57P01": true, // admin_shutdown, pg_terminate_backend
		"57P02": true, // crash_shutdown
		"57P05": true, // idle_session_timeout
	}
)

// classify marks the errors worth retrying (see the package doc): as
// runtime.NotApplied those that surely left nothing applied, as
// runtime.Transient those that may have applied a write. Server errors
// that retrying will not change, and the context's own end, stay as they
// are.
func (b *Backend) classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "25006":
			// Connected to a server that is no longer the primary: start
			// the pool over, so that target_session_attrs finds the new one.
			b.reset()
			return runtime.NotApplied(err)
		case rolledBack[pe.Code]:
			return runtime.NotApplied(err)
		case ended[pe.Code]:
			return runtime.Transient(err)
		case len(pe.Code) == 2+3 && pe.Code[:2] == "08": // connection_exception
			return runtime.Transient(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		// The connection was never made, or the request never sent.
		return runtime.NotApplied(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.As(err, &netErr):
		return runtime.Transient(err)
	}
	var closed interface{ SafeToRetry() bool }
	if errors.As(err, &closed) {
		return runtime.Transient(err) // a pgconn error after the request went out
	}
	return err
}

// reset empties the pool after a failover (at most one reset at a time).
func (b *Backend) reset() {
	if b.resetMu.TryLock() {
		defer b.resetMu.Unlock()
		b.logger.Warn("stategen: postgres: the server is read-only (a failover?): reconnecting", "server", b.where)
		b.pool.Reset()
	}
}
