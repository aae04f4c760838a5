package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error the runtime returns wraps one of these where it
// applies, together with the store, namespace and key it concerns, so callers
// test for them with errors.Is.
var (
	// ErrNotFound: the namespace, key or checkpoint does not exist.
	ErrNotFound = errors.New("not found")
	// ErrMissing: a required key has no value: absent, null or empty in
	// stored state, or in a value about to be written.
	ErrMissing = errors.New("required key missing")
	// ErrConflict: a conditional write found a revision other than the expected one.
	ErrConflict = errors.New("revision conflict")
	// ErrInvalidName: a namespace, key or checkpoint name was refused.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidValue: a value to store is not valid JSON.
	ErrInvalidValue = errors.New("invalid value")
	// ErrCorrupt: stored data could not be decoded; it is left as it was.
	ErrCorrupt = errors.New("corrupt stored data")
	// ErrTypeMismatch: a stored value, valid JSON, does not decode as its
	// field's Go type (Python wrote a number where Go has a string, or a
	// value the type cannot hold); it is left as it was.
	ErrTypeMismatch = errors.New("type mismatch")
	// ErrSchemaTooNew: stored state was written by a newer schema version.
	ErrSchemaTooNew = errors.New("stored schema version is newer than this program's")
	// ErrSchemaMismatch: stored state belongs to another schema.
	ErrSchemaMismatch = errors.New("stored state belongs to another schema")
	// ErrUnknownScheme: no backend is registered for the URL's scheme.
	ErrUnknownScheme = errors.New("unknown store scheme")
	// ErrUnsupported: the backend cannot do what an option asked for.
	ErrUnsupported = errors.New("not supported by this backend")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrReadOnly: a write to a store opened with ReadOnly, or to a backend
	// that is only a source for copies.
	ErrReadOnly = errors.New("store is read-only")
	// ErrUnknownOutcome: a write may have reached the backend but its reply
	// was lost, and whether it was applied cannot be known; it was not
	// applied twice. Read the state to learn what happened before writing
	// again: a read-modify-write repeated blindly could apply twice.
	ErrUnknownOutcome = errors.New("outcome of the write is unknown")
	// ErrDecrypt: a sealed secret value could not be opened: no key with
	// its id is configured, the key is wrong, or the envelope was changed,
	// truncated or moved to another key or namespace. The value is never
	// printed.
	ErrDecrypt = errors.New("cannot decrypt")
	// ErrLeased: the run's lease is held by another holder, who has not
	// let it expire; the error is a *LeaseError naming the holder and when
	// the lease ends.
	ErrLeased = errors.New("run is leased by another holder")
	// ErrFenced: a write, renewal or release through a lease that is no
	// longer current (another holder took it over, it was broken or
	// released); nothing was written. The error is a *LeaseError.
	ErrFenced = errors.New("lease is no longer current (fenced)")
)

// transientError marks an error as worth retrying. notApplied says that the
// operation certainly changed nothing.
type transientError struct {
	err        error
	notApplied bool
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Transient marks err as transient (a dropped connection, a busy database):
// the Store retries operations that fail with it. Backends call it; a nil err
// stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err}
}

// NotApplied marks err as transient, as Transient does, and also as certain
// to have changed nothing: the request never reached the server (a failed
// dial), the server refused it before running it (Redis LOADING), the
// transaction rolled back (SQLITE_BUSY). A write that failed with an error
// from Transient alone may have been applied, so the Store reports it as
// ErrUnknownOutcome if its retries run out; one that failed with this error
// was not. A nil err stays nil.
func NotApplied(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err, notApplied: true}
}

// IsTransient reports whether err, or an error it wraps, was marked Transient
// and is none of the final errors (not found, conflict, corrupt data, bad
// names), which are never retried whatever wraps them.
func IsTransient(err error) bool {
	var t *transientError
	if !errors.As(err, &t) {
		return false
	}
	for _, final := range []error{ErrNotFound, ErrMissing, ErrConflict, ErrInvalidName, ErrInvalidValue, ErrCorrupt, ErrTypeMismatch, ErrSchemaTooNew, ErrSchemaMismatch, ErrReadOnly, ErrUnknownOutcome, ErrDecrypt, ErrLeased, ErrFenced} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// mayHaveApplied reports whether a write that failed with err may
// nevertheless have been applied: its reply was lost (a transient error not
// marked NotApplied), or the context ended while it was under way. Final
// errors (a conflict, a bad name, corrupt data) say the write was refused.
func mayHaveApplied(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUnknownOutcome):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var t *transientError
	return errors.As(err, &t) && !t.notApplied && IsTransient(err)
}

// Corrupt wraps a decoding failure of stored data as ErrCorrupt, naming where.
func Corrupt(where string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, where, err)
}

// opError is the error a Store returns: the operation, store, namespace and
// key it concerns, around the backend's error.
type opError struct {
	op, store, ns, key string
	err                error
}

func (e *opError) Error() string {
	if e.err == ErrNotFound && e.ns != "" {
		// Say what is missing rather than which operation missed it.
		what := "namespace " + e.ns
		switch {
		case strings.Contains(e.op, "checkpoint") || e.op == "restore":
			what = "checkpoint " + e.key + " in namespace " + e.ns
		case e.key != "" && !strings.Contains(e.key, ","):
			what = "key " + e.key + " in namespace " + e.ns
		}
		return "stategen: " + what + " not found (" + e.store + ")"
	}
	msg := "stategen: " + e.op
	if e.ns != "" {
		msg += " " + e.ns
		if e.key != "" {
			msg += "/" + e.key
		}
	}
	return msg + " (" + e.store + "): " + e.err.Error()
}

func (e *opError) Unwrap() error { return e.err }
