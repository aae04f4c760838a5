package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Leases: one owner of a run at a time, with fencing.
//
// A run's lease is the reserved key LeaseKey in its own namespace, holding a
// LeaseInfo as JSON. Acquire reads it and, when it is free, expired, or
// already the caller's, writes a new one with the next fencing token,
// conditioned on the revision it read: of two acquirers racing, one wins.
// A Lease remembers the revision of its last write of the key; every write
// made through the lease (Lease.Apply, StateStore.WithLease) carries the
// condition that the key still has that revision, in the same batch as the
// write, so the backend applies it only while nobody else has written the
// lease since: no successor took it over, broke it or released it. That is
// one more Cond of the core contract, which every backend evaluates in the
// same atomic step as the write (a Lua script on Redis, the transaction on
// SQLite and PostgreSQL, under the lock on files): no backend does anything
// of its own for leases.
//
// Tokens only grow: each acquisition stores the previous token plus one,
// Release keeps the token, BreakLease adds one. (A run deleted whole loses
// its lease with it, and its next lease starts again at token 1.)
//
// Expiry is judged by the clock of whoever looks: an acquirer takes over a
// lease whose Expires is past by its own clock. Clocks of the machines that
// share a store must agree to well within a lease's TTL; a clock that runs
// ahead takes over early. Fencing makes that safe for writes through the
// lease (the holder that lost it can no longer write), not for what the
// holder does outside the store.

// LeaseKey is the reserved key that holds a run's lease (a LeaseInfo).
const LeaseKey = ReservedPrefix + "lease"

// LeaseInfo is a run's lease as stored under LeaseKey, in JSON with the
// field names below. A lease nobody holds (never taken, released or
// broken) has an empty Holder and keeps its Token.
type LeaseInfo struct {
	// Holder names the owner, as it called itself when it acquired.
	Holder string `json:"holder"`
	// Token is the fencing token of the acquisition: it only grows.
	Token int64 `json:"token"`
	// Acquired is when the holder took the lease; Expires, when it ends
	// unless renewed (both by the writer's clock; zero when free).
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// Held reports whether somebody holds the lease at now: it has a holder
// and has not expired.
func (i LeaseInfo) Held(now time.Time) bool { return i.Holder != "" && now.Before(i.Expires) }

// State says, in one word, what the lease is at now: "free" (nobody holds
// it), "held" or "expired" (its holder did not renew it in time; anyone may
// take it over).
func (i LeaseInfo) State(now time.Time) string {
	switch {
	case i.Holder == "":
		return "free"
	case now.Before(i.Expires):
		return "held"
	}
	return "expired"
}

// LeaseError is the error of an acquisition refused because another
// holder has the lease (it wraps ErrLeased), or of an operation through a
// lease that is no longer current (it wraps ErrFenced). It describes the
// lease as stored when the operation was refused.
type LeaseError struct {
	Namespace string
	// Lease is the lease as stored (the holder, token and expiry that won).
	Lease LeaseInfo
	// Token is the token of the refused handle (0 for an acquisition).
	Token int64
	// Released says the handle itself released the lease before.
	Released bool
	err      error
}

func (e *LeaseError) Error() string {
	l := e.Lease
	switch {
	case errors.Is(e.err, ErrLeased):
		return fmt.Sprintf("run %s is leased by %s (token %d) until %s (%s)",
			e.Namespace, l.Holder, l.Token, l.Expires.UTC().Format(time.RFC3339Nano), until(l.Expires))
	case e.Released:
		return fmt.Sprintf("the lease of run %s (token %d) was released by its holder: fenced, nothing was written", e.Namespace, e.Token)
	case l.Holder == "":
		return fmt.Sprintf("the lease of run %s (token %d) was broken or released (the stored token is %d): fenced, nothing was written",
			e.Namespace, e.Token, l.Token)
	}
	return fmt.Sprintf("the lease of run %s (token %d) was taken over by %s (token %d, until %s): fenced, nothing was written",
		e.Namespace, e.Token, l.Holder, l.Token, l.Expires.UTC().Format(time.RFC3339Nano))
}

func (e *LeaseError) Unwrap() error { return e.err }

// until says how far t is from now, in words.
func until(t time.Time) string {
	d := time.Until(t)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.Round(time.Millisecond).String()
}

// Lease is one acquisition of a run's lease, and the fencing token that
// comes with it. Its methods are safe for concurrent use: a KeepAlive may
// renew it while writes go through it.
type Lease struct {
	st     *Store
	ns     string
	holder string
	token  int64
	ttl    time.Duration

	// renew is held by a renewal or release (one at a time), and shared
	// by the writes through the lease: a renewal waits for the writes
	// under way, which would otherwise find the lease at a revision they
	// did not condition on, and new writes wait for it.
	renew sync.RWMutex

	mu       sync.Mutex
	rev      int64 // revision of this lease's last write of LeaseKey
	acquired time.Time
	expires  time.Time
	released bool
}

// Namespace is the run the lease is of.
func (l *Lease) Namespace() string { return l.ns }

// Holder is the name the lease was acquired under.
func (l *Lease) Holder() string { return l.holder }

// Token is the lease's fencing token: greater than that of every earlier
// acquisition of the run.
func (l *Lease) Token() int64 { return l.token }

// Expires is when the lease ends unless renewed, as of its last renewal.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Info is the lease as this handle last wrote it.
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return LeaseInfo{Token: l.token}
	}
	return LeaseInfo{Holder: l.holder, Token: l.token, Acquired: l.acquired, Expires: l.expires}
}

// Acquire takes the lease of run ns for holder, for ttl: when nobody holds
// it, when its holder let it expire (by this process's clock), or when
// holder already holds it. The lease gets the next fencing token, so that
// a handle from an earlier acquisition (by holder too: a restarted process
// that reuses its name) is fenced from then on.
//
// A lease held by another holder is an error wrapping ErrLeased, a
// *LeaseError that names the holder and when its lease ends. Acquire does
// not wait for it: call again later, or after the time the error names.
func (s *Store) Acquire(ctx context.Context, ns, holder string, ttl time.Duration) (*Lease, error) {
	const op = "acquire lease"
	if err := validate(ns); err != nil {
		return nil, s.wrap(op, ns, "", err)
	}
	if holder == "" {
		return nil, s.wrap(op, ns, "", errors.New("the holder's name is empty"))
	}
	if ttl <= 0 {
		return nil, s.wrap(op, ns, "", fmt.Errorf("lease TTL %v is not positive", ttl))
	}
	var l *Lease
	err := s.retryConflicts(ctx, op, ns, "", func() (int64, bool, error) {
		cur, rev, err := s.readLease(ctx, ns)
		if err != nil {
			return 0, false, err
		}
		now := time.Now().UTC()
		if cur.Held(now) && cur.Holder != holder {
			return rev, true, s.wrap(op, ns, "", &LeaseError{Namespace: ns, Lease: cur, err: ErrLeased})
		}
		next := LeaseInfo{Holder: holder, Token: cur.Token + 1, Acquired: now, Expires: now.Add(ttl)}
		wrote, err := s.writeLease(ctx, op, ns, next, rev)
		if err != nil {
			return rev, false, err
		}
		if cur.Holder != "" && cur.Holder != holder {
			s.opts.logger.LogAttrs(ctx, slog.LevelInfo, "stategen: took over an expired lease",
				slog.String("namespace", ns), slog.String("holder", holder), slog.Int64("token", next.Token),
				slog.String("previous_holder", cur.Holder), slog.Time("expired", cur.Expires))
		}
		l = &Lease{st: s, ns: ns, holder: holder, token: next.Token, ttl: ttl, rev: wrote, acquired: next.Acquired, expires: next.Expires}
		return rev, false, nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// LeaseInfo returns run ns's lease as stored. A run never leased (or one
// that does not exist) has the zero LeaseInfo: free, token 0.
func (s *Store) LeaseInfo(ctx context.Context, ns string) (LeaseInfo, error) {
	if err := validate(ns); err != nil {
		return LeaseInfo{}, s.wrap("read lease", ns, "", err)
	}
	info, _, err := s.readLease(ctx, ns)
	return info, err
}

// BreakLease ends run ns's lease by hand, whoever holds it: it stores a
// free lease with the next token, so that the holder's handle is fenced
// (its writes, renewals and release fail with ErrFenced) and the next
// Acquire succeeds at once. It returns the lease it broke; a lease nobody
// holds is left as it is and returned.
func (s *Store) BreakLease(ctx context.Context, ns string) (LeaseInfo, error) {
	const op = "break lease"
	if err := validate(ns); err != nil {
		return LeaseInfo{}, s.wrap(op, ns, "", err)
	}
	var broke LeaseInfo
	err := s.retryConflicts(ctx, op, ns, "", func() (int64, bool, error) {
		cur, rev, err := s.readLease(ctx, ns)
		if err != nil {
			return 0, false, err
		}
		broke = cur
		if cur.Holder == "" {
			return rev, false, nil
		}
		if _, err := s.writeLease(ctx, op, ns, LeaseInfo{Token: cur.Token + 1}, rev); err != nil {
			return rev, false, err
		}
		s.opts.logger.LogAttrs(ctx, slog.LevelInfo, "stategen: broke a lease",
			slog.String("namespace", ns), slog.String("holder", cur.Holder), slog.Int64("token", cur.Token))
		return rev, false, nil
	})
	return broke, err
}

// readLease reads run ns's lease and the revision of its last write (0,
// with the zero LeaseInfo, when there is none).
func (s *Store) readLease(ctx context.Context, ns string) (LeaseInfo, int64, error) {
	var v Value
	err := s.do(ctx, "read lease", ns, LeaseKey, func() (err error) {
		v, err = s.be.Get(ctx, ns, LeaseKey)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return LeaseInfo{}, 0, nil
	case err != nil:
		return LeaseInfo{}, 0, err
	}
	var info LeaseInfo
	if err := json.Unmarshal(v.Data, &info); err != nil {
		return LeaseInfo{}, 0, s.wrap("read lease", ns, LeaseKey, Corrupt("lease "+LeaseKey, err))
	}
	return info, v.Revision, nil
}

// writeLease stores info as run ns's lease on condition that the lease
// still has revision rev, and returns the revision written.
func (s *Store) writeLease(ctx context.Context, op, ns string, info LeaseInfo, rev int64) (int64, error) {
	data, err := json.Marshal(info)
	if err != nil {
		return 0, s.wrap(op, ns, LeaseKey, err)
	}
	return s.applyReserved(ctx, op, ns, LeaseKey, &Batch{
		Puts:  []KV{{Key: LeaseKey, Value: data}},
		Conds: []Cond{{Key: LeaseKey, Revision: rev}},
	})
}

// Renew extends the lease to ttl from now (ttl <= 0: the TTL it was
// acquired with). A lease that is no longer this handle's (taken over,
// broken, or released) is an error wrapping ErrFenced. A lease that
// expired without anybody taking it over is still this handle's: Renew
// succeeds, as its writes do.
func (l *Lease) Renew(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = l.ttl
	}
	l.renew.Lock()
	defer l.renew.Unlock()
	l.mu.Lock()
	next := LeaseInfo{Holder: l.holder, Token: l.token, Acquired: l.acquired, Expires: time.Now().UTC().Add(ttl)}
	released := l.released
	l.mu.Unlock()
	if released {
		return l.st.wrap("renew lease", l.ns, "", l.fenced(LeaseInfo{Token: l.token}))
	}
	return l.rewrite(ctx, "renew lease", next)
}

// Release gives the lease up: it stores a free lease that keeps the token,
// so that the next holder's is greater. Writes through the handle fail with
// ErrFenced from then on. Releasing a released lease is no error; one that
// is no longer this handle's is an error wrapping ErrFenced.
func (l *Lease) Release(ctx context.Context) error {
	l.renew.Lock()
	defer l.renew.Unlock()
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return nil
	}
	return l.rewrite(ctx, "release lease", LeaseInfo{Token: l.token})
}

// leaseWriteAttempts bounds how many times a renewal or release starts
// over after finding the lease written by this very handle at another
// revision than it remembered (a renewal whose reply was lost).
const leaseWriteAttempts = 5

// rewrite stores next, a renewal or release of this handle's lease, on
// condition that the lease is as this handle last wrote it. A write whose
// outcome was unknown, or that found the lease at another revision, reads
// the lease: when it holds this handle's token and holder, this handle
// wrote it (a token is one acquisition's), so its revision is adopted
// (and, if it holds next, the write landed).
func (l *Lease) rewrite(ctx context.Context, op string, next LeaseInfo) error {
	for range leaseWriteAttempts {
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		wrote, err := l.st.writeLease(ctx, op, l.ns, next, rev)
		if err == nil {
			l.wrote(wrote, next)
			return nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrUnknownOutcome) {
			return err
		}
		cur, curRev, rerr := l.st.readLease(ctx, l.ns)
		if rerr != nil {
			return err
		}
		if sameLease(cur, next) {
			l.wrote(curRev, next) // an attempt whose reply was lost landed
			return nil
		}
		if !l.owns(cur) {
			return l.st.wrap(op, l.ns, "", l.fenced(cur))
		}
		l.mu.Lock()
		if l.rev == rev {
			l.rev = curRev
		}
		l.mu.Unlock()
	}
	return l.st.wrap(op, l.ns, "", fmt.Errorf("%w: the lease keeps changing under this handle's own token", ErrConflict))
}

// wrote records a write of the lease at revision rev.
func (l *Lease) wrote(rev int64, info LeaseInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rev = rev
	if info.Holder == "" {
		l.released = true
		return
	}
	l.acquired, l.expires = info.Acquired, info.Expires
}

// sameLease reports whether a and b are the same lease, whatever their
// times' locations.
func sameLease(a, b LeaseInfo) bool {
	return a.Holder == b.Holder && a.Token == b.Token && a.Acquired.Equal(b.Acquired) && a.Expires.Equal(b.Expires)
}

// owns reports whether the stored lease cur is this handle's acquisition,
// still held (perhaps expired, but nobody took it over).
func (l *Lease) owns(cur LeaseInfo) bool {
	return cur.Token == l.token && cur.Holder == l.holder && cur.Holder != ""
}

// fenced is the error of an operation through this handle once the stored
// lease cur is no longer its own.
func (l *Lease) fenced(cur LeaseInfo) error {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	return &LeaseError{Namespace: l.ns, Lease: cur, Token: l.token, Released: released, err: ErrFenced}
}

// KeepAlive renews the lease every interval (every <= 0: a third of its
// TTL) until ctx ends or the lease is released, for phases longer than a
// TTL. The channel it returns is closed when it stops; if the lease was lost
// first (taken over or broken, or not renewed before it expired, the store
// failing meanwhile) it receives that error before. Stop writing when it
// does: writes through the lease fail with ErrFenced from the moment another
// holder takes it.
func (l *Lease) KeepAlive(ctx context.Context, every time.Duration) <-chan error {
	if every <= 0 {
		every = l.ttl / 3
	}
	lost := make(chan error, 1)
	go func() {
		defer close(lost)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l.mu.Lock()
			released, expires := l.released, l.expires
			l.mu.Unlock()
			if released {
				return
			}
			err := l.Renew(ctx, 0)
			switch {
			case err == nil:
				continue
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrFenced):
			case time.Now().Before(expires):
				// The store failed; the lease holds until it expires.
				l.st.opts.logger.LogAttrs(ctx, slog.LevelWarn, "stategen: lease renewal failed, will try again",
					slog.String("namespace", l.ns), slog.String("holder", l.holder), slog.String("error", err.Error()))
				continue
			default:
				err = fmt.Errorf("lease of run %s expired at %s before it could be renewed: %w", l.ns, expires.Format(time.RFC3339Nano), err)
			}
			l.st.opts.logger.LogAttrs(ctx, slog.LevelWarn, "stategen: lease lost",
				slog.String("namespace", l.ns), slog.String("holder", l.holder), slog.String("error", err.Error()))
			lost <- err
			return
		}
	}()
	return lost
}

// Check reads the run's lease and returns an error wrapping ErrFenced if
// it is no longer this handle's (taken over, broken or released). It is a
// read: the lease may be lost the moment after; writes through the lease
// are fenced in the same step instead.
func (l *Lease) Check(ctx context.Context) error {
	cur, _, err := l.st.readLease(ctx, l.ns)
	if err != nil {
		return err
	}
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released || !l.owns(cur) {
		return l.st.wrap("check lease", l.ns, "", l.fenced(cur))
	}
	return nil
}

// Apply writes b to the lease's run, fenced: atomically, and only while the
// lease is this handle's (nobody took it over, broke or released it), else
// nothing is written and the error wraps ErrFenced. Other failed
// conditions of b are ErrConflict, as for Store.Apply.
func (l *Lease) Apply(ctx context.Context, b *Batch) (int64, error) {
	return l.st.applyFenced(ctx, l, "apply", l.ns, "", b)
}

// applyFenced applies b to ns under lease l: with the condition, in the
// same batch, that l's lease is as l last wrote it. The batch keeps its
// ID across the Store's retries, condition included, so a retry after a
// lost reply applies it at most once whatever became of the lease
// meanwhile. A failed condition is told apart by reading the lease: if it
// is no longer l's, the error wraps ErrFenced; if it is l's at another
// revision (a renewal of l whose reply was lost), l adopts that revision
// and the batch is tried again (the failed attempt changed nothing);
// otherwise the caller's own condition failed: an ordinary ErrConflict.
// l's renewals wait for the writes under way, so that a lease renewed in
// the background does not make its own writes conflict.
func (s *Store) applyFenced(ctx context.Context, l *Lease, op, ns, key string, b *Batch) (int64, error) {
	if l.ns != ns {
		return 0, s.wrap(op, ns, key, fmt.Errorf("the lease is of run %s, not of this one", l.ns))
	}
	// The caller's batch may not touch reserved keys; only the fence may.
	if err := validateBatch(ns, b, false); err != nil {
		return 0, s.wrap(op, ns, key, err)
	}
	l.renew.RLock()
	defer l.renew.RUnlock()
	for attempt := 1; ; attempt++ {
		l.mu.Lock()
		rev, released := l.rev, l.released
		l.mu.Unlock()
		if released {
			return 0, s.wrap(op, ns, key, l.fenced(LeaseInfo{Token: l.token}))
		}
		// A run that holds only its lease holds no state: a condition that
		// it not exist is one on its revision (see absentCond), read anew
		// each attempt since the lease's own writes move it.
		ub, err := s.absentCond(ctx, ns, b)
		if err != nil {
			return 0, s.wrap(op, ns, key, err)
		}
		c := *ub
		c.Conds = append(slices.Clip(ub.Conds), Cond{Key: LeaseKey, Revision: rev})
		wrote, err := s.applyReserved(ctx, op, ns, key, &c)
		if err == nil || !errors.Is(err, ErrConflict) || errors.Is(err, ErrUnknownOutcome) {
			return wrote, err
		}
		cur, curRev, rerr := s.readLease(ctx, ns)
		switch {
		case rerr != nil:
			return 0, err
		case !l.owns(cur):
			return 0, s.wrap(op, ns, key, l.fenced(cur))
		case curRev == rev || attempt >= leaseWriteAttempts:
			return 0, err
		}
		l.mu.Lock()
		if l.rev == rev {
			l.rev = curRev
		}
		l.mu.Unlock()
	}
}
