// Package redis is stategen's shared backend: state in Redis, through
// go-redis's UniversalClient, so that several machines share one store.
// Importing the package registers the URL schemes redis, rediss and
// redis+cluster.
//
// # URLs
//
// The URL follows go-redis's own conventions, so every go-redis query option
// (dial_timeout, pool_size, ...) works:
//
//	redis://[user:pass@]HOST:PORT/DB                 one server (go-redis ParseURL)
//	rediss://[user:pass@]HOST:PORT/DB                the same over TLS
//	redis://H1:P1?addr=H2:P2&addr=H3:P3              a cluster (ParseClusterURL)
//	redis+cluster://HOST:PORT                        a cluster from one seed node
//	redis://HOST:26379/DB?master_name=M              Sentinel (ParseFailoverURL);
//	                                                 user:pass@ authenticates to the
//	                                                 sentinels, ?password= to the master
//
// A URL names its server: one without a host (redis:HOST:PORT, missing
// its //) is refused rather than left to go-redis, which would connect to
// localhost. A cluster has no databases, so a cluster URL with one
// (redis+cluster://H:P/2) is refused. A plain redis:// URL that turns out
// to name a Cluster node (INFO says cluster_enabled) is used as a cluster,
// as redis+cluster:// would be, when it names database 0; with another
// database it is refused, saying to use redis+cluster://.
//
// stategen adds one query parameter of its own, prefix (default "stategen"),
// the first part of every key, so that several stores share one database.
// It may not contain '{' or '}', which would move the hash slot.
//
// go-redis's own retries are off unless the URL sets max_retries (and it dials
// once unless the URL sets dialer_retries): the Store retries transient errors
// itself, with backoff bounded by the context, and retrying in both places
// would multiply the attempts.
//
// # Layout
//
// Every key of namespace NS carries the hash tag {NS}, so a namespace lives in
// one cluster slot and the scripts below may touch all of its keys at once:
//
//	PREFIX:{NS}:state      hash: v:KEY (JSON value), r:KEY (revision of the
//	                       write that stored it), t:KEY (unix nanoseconds of
//	                       that write), _rev (namespace revision), _created
//	                       (unix nanoseconds of the namespace's first write),
//	                       _schema (JSON {"name":..,"version":..}, absent if none)
//	PREFIX:{NS}:cp:NAME    hash: checkpoint NAME, the same v:/r:/t: fields plus
//	                       _rev (revision it copies), _schema, _created, _name,
//	                       _meta (JSON {"labels":..,"restored":..}, if any)
//	PREFIX:{NS}:cps        sorted set: checkpoint names scored by creation
//	                       (unix milliseconds), for listing
//	PREFIX:{NS}:cph        hash: NAME -> checkpoint NAME's header,
//	                       REV:CREATED:KEYS:SCHEMA\nMETA (its hash's _rev,
//	                       _created, how many keys it holds, and its
//	                       _schema and _meta, each empty if absent; compact
//	                       JSON holds no newline); written and deleted with
//	                       the checkpoint, so that listing is one HGETALL
//	                       (with the ZRANGE of cps, in one round trip)
//	PREFIX:label:K:V       sorted set: the namespaces carrying label K=V (V as
//	                       JSON), in its own slot; see labels.go
//	PREFIX:{NS}:applied    sorted set: the IDs of the conditional batches
//	                       applied (see below), scored by their revision, and
//	                       the member "" scored by the revision up to which
//	                       IDs may have been forgotten
//
// The state hash is never deleted, even when its last key is, so that _rev
// only grows: a namespace that holds no key and no schema reads as not found,
// but its next write still gets a higher revision than every earlier one.
//
// A conditional batch carries an ID that the Store keeps across its retries,
// and the script that applies it records the ID in the applied set, in the
// same atomic step. A retry whose first attempt landed (its reply was lost)
// finds its ID there and gets that write's revision instead of applying it
// again; a retry whose conditions fail is a plain conflict only if the set
// proves the ID was never applied (it still holds every ID applied after the
// conditions' revisions), and runtime.ErrUnknownOutcome otherwise. The set
// keeps at least the last 512 IDs (once it holds 64 more, the oldest go
// together: one trim is cheaper than many) and expires 10 minutes after
// the namespace's last conditional write (sooner with a shorter TTL): far
// longer than any retry waits, and bounded for a busy namespace. (Versions before this one kept a
// string PREFIX:{NS}:batch instead; it is no longer read.)
//
// Checkpoints written before the header hash existed have no header (nor
// has one replaced by such a version, whose header then names another
// creation time than its cps entry): listing reads those few from their
// own hashes, as it once read them all.
//
// # Feed
//
// Every write script PUBLISHes, in the same atomic step, a JSON message on
// the channel PREFIX:feed: {"ns": NS, "rev": N, "put": [keys stored],
// "del": [keys that were there and are gone], "schema": true when the
// recorded schema changed, "cp": NAME, "op": "created"|"deleted"|"restored"}
// (empty fields left out). Feed (the runtime's change feed) SUBSCRIBEs to
// it and keeps the messages of the namespace watched. Pub/Sub delivers at
// most once: a subscription cut (a restart, a network failure, a client
// output buffer limit) is renewed, and reported as a gap; a message lost
// otherwise shows as a revision skipped, which the runtime reports as a
// gap too. One channel serves the whole store: in a cluster, PUBLISH
// reaches every node (sharded Pub/Sub would need one channel per slot,
// which a watch of the whole store cannot subscribe to), and every
// subscriber receives every namespace's messages. With ACLs, writers need
// the channel (&PREFIX:feed) to publish and watchers to subscribe; a write
// by a user without it is still made, unpublished, and a feed learns of
// it as a gap at the namespace's next published write.
//
// # Durability
//
// Redis acknowledges a write before it reaches the disk unless it is told
// otherwise: stategen's promises need appendonly yes with appendfsync
// always (or everysec, which can lose the last second of acknowledged
// writes to a crash of the machine, not of Redis alone). Open checks the
// server's settings (CONFIG GET, or INFO persistence where CONFIG is
// disabled) and logs a warning through the configured logger when they
// cannot keep acknowledged writes across a restart.
//
// Every write runs as one Lua script (EVALSHA, falling back to EVAL), which
// Redis executes atomically: a batch is applied whole or not at all, also when
// the writer is killed mid-call. Namespaces are listed with SCAN (on every
// master of a cluster), never KEYS.
//
// A checkpoint is copied by one script too (runtime.CheckpointCopier), its
// values going from the state hash to the checkpoint's hash inside Redis:
// it reads the state hash, refuses a run that reads as not found (no key
// of the user's and no schema, or idle longer than the TTL its reserved
// key __ttl records) or that holds damaged data before writing anything,
// writes the checkpoint's hash, index entry and header as PutCheckpoint
// does, removes in the same step the checkpoints the Store's retention
// policy does not keep (the new one counted as the newest), and publishes
// the checkpoint created and each one deleted. An observer never sees the
// new checkpoint without the removals, nor more checkpoints than the
// policy keeps.
//
// Nothing gets an expiry unless the Store was opened with a TTL; with one,
// every write sets it (PEXPIRE) on all of the namespace's keys, state and
// checkpoints alike, so they expire together TTL after the namespace's last
// write. Opening a store without a TTL does not remove an expiry set earlier.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// DefaultPrefix is the first part of every key unless the URL's prefix
// parameter says otherwise.
const DefaultPrefix = "stategen"

// How many IDs of applied conditional batches a namespace remembers, and
// for how long after its last conditional write (see the package doc).
const (
	appliedKeep = 512
	appliedTTL  = 10 * time.Minute
)

func init() {
	for _, scheme := range []string{"redis", "rediss", "redis+cluster"} {
		runtime.Register(scheme, open)
	}
}

// Backend is the Redis backend. It is safe for concurrent use.
type Backend struct {
	client goredis.UniversalClient
	prefix string
	// ttl is the expiry in milliseconds as the scripts take it ("0": none).
	ttl      string
	logger   *slog.Logger
	readOnly bool
}

func open(ctx context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	return Open(ctx, u, cfg)
}

// Open connects to the server(s) a redis, rediss or redis+cluster URL names,
// checks with PING that they answer, and logs a warning when their
// persistence settings cannot keep acknowledged writes (see Durability).
func Open(ctx context.Context, u *url.URL, cfg runtime.Config) (*Backend, error) {
	opts, prefix, raw, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	client, where := newClient(opts)
	o, single := opts.(*goredis.Options)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if single && o.DB != 0 && strings.Contains(err.Error(), "not allowed in cluster mode") {
			return nil, clusterDBError(where, o)
		}
		return nil, fmt.Errorf("redis: cannot reach %s: %w", where, classify(err))
	}
	if single {
		// A cluster node answers single-server commands only for its own
		// slots: use it as the cluster it belongs to.
		cluster, err := clusterNode(ctx, client.(*goredis.Client))
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("redis: %s: %w", where, classify(err))
		}
		if cluster {
			client.Close()
			if o.DB != 0 {
				return nil, clusterDBError(where, o)
			}
			co, err := goredis.ParseClusterURL(raw)
			if err != nil {
				return nil, fmt.Errorf("redis: %s is a Redis Cluster node: use redis+cluster://%s (%w)", where, o.Addr, parseError(err))
			}
			keepRetries(u.Query(), &co.MaxRetries, &co.DialerRetries)
			client, where = newClient(co)
			if err := client.Ping(ctx).Err(); err != nil {
				client.Close()
				return nil, fmt.Errorf("redis: cannot reach %s: %w", where, classify(err))
			}
		}
	}
	b, err := New(client, prefix, cfg)
	if err != nil {
		client.Close()
		return nil, err
	}
	b.logger.Debug("stategen: redis connected", "server", where, "prefix", prefix)
	b.checkPersistence(ctx, where)
	return b, nil
}

func clusterDBError(where string, o *goredis.Options) error {
	return fmt.Errorf("redis: %s is a Redis Cluster node, and a cluster has no databases (the URL names database %d): use redis+cluster://%s", where, o.DB, o.Addr)
}

// clusterNode reports whether the server is a node of a Redis Cluster. A
// server that will not say (INFO refused by an ACL) is taken as it is.
func clusterNode(ctx context.Context, c *goredis.Client) (bool, error) {
	info, err := c.Info(ctx, "cluster").Result()
	if err != nil {
		var reply goredis.Error
		if errors.As(err, &reply) {
			return false, nil
		}
		return false, err
	}
	return strings.Contains(info, "cluster_enabled:1"), nil
}

// New makes a Backend over a client the caller configured (TLS, credentials,
// hooks); prefix is the first part of every key (DefaultPrefix if empty).
// Close closes the client. Give the client MaxRetries: -1 so that only the
// Store retries.
func New(client goredis.UniversalClient, prefix string, cfg runtime.Config) (*Backend, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	b := &Backend{client: client, prefix: prefix, ttl: "0", logger: cfg.Logger, readOnly: cfg.ReadOnly}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL > 0 {
		// PEXPIRE takes whole milliseconds; round up so a tiny TTL still expires later, not now.
		b.ttl = strconv.FormatInt(max(int64((cfg.TTL+time.Millisecond-1)/time.Millisecond), 1), 10)
	}
	return b, nil
}

// Close closes the client and its connections.
func (b *Backend) Close() error { return b.client.Close() }

// checkPrefix refuses prefixes that would break the key layout: a brace
// changes the hash slot, and control characters and spaces make keys that
// tools print badly.
func checkPrefix(p string) error {
	for _, c := range []byte(p) {
		if c == '{' || c == '}' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("redis: prefix %q: '{', '}', spaces and control characters are not allowed", p)
		}
	}
	return nil
}

// newClient makes the go-redis client for options parseURL returned, and,
// for messages, a description of the server(s) without credentials.
func newClient(opts any) (client goredis.UniversalClient, where string) {
	switch o := opts.(type) {
	case *goredis.ClusterOptions:
		return goredis.NewClusterClient(o), "cluster " + strings.Join(o.Addrs, ", ")
	case *goredis.FailoverOptions:
		return goredis.NewFailoverClient(o), fmt.Sprintf("master %q via sentinels %s", o.MasterName, strings.Join(o.SentinelAddrs, ", "))
	case *goredis.Options:
		return goredis.NewClient(o), o.Addr
	}
	panic(fmt.Sprintf("redis: parseURL returned %T", opts))
}

// keepRetries turns go-redis's retries off unless the URL's query q asks
// for them (see the package doc): MaxRetries -1 means none, DialerRetries
// 1 one dial.
func keepRetries(q url.Values, maxRetries, dialerRetries *int) {
	if !q.Has("max_retries") {
		*maxRetries = -1
	}
	if !q.Has("dialer_retries") {
		*dialerRetries = 1
	}
}

// parseURL reads a URL as go-redis's conventions say: one server
// (*redis.Options), a cluster (*redis.ClusterOptions) or Sentinel
// (*redis.FailoverOptions). It returns the options, the key prefix, and
// the URL as go-redis parsed it (without stategen's own parameters).
func parseURL(u *url.URL) (any, string, string, error) {
	if u.Opaque != "" || u.Host == "" {
		return nil, "", "", fmt.Errorf("redis: URL names no server: write %s://HOST:PORT/DB (redis://localhost:6379/0 for a local one)", u.Scheme)
	}
	q := u.Query()
	prefix := DefaultPrefix
	if ps, ok := q["prefix"]; ok {
		if len(ps) != 1 || ps[0] == "" {
			return nil, "", "", errors.New("redis: URL parameter prefix must be given once and not be empty")
		}
		prefix = ps[0]
		if err := checkPrefix(prefix); err != nil {
			return nil, "", "", err
		}
	}
	// go-redis refuses options it does not know, so ours goes before it parses.
	q.Del("prefix")
	noRetries := func(maxRetries, dialerRetries *int) { keepRetries(q, maxRetries, dialerRetries) }
	gu := *u
	gu.RawQuery = q.Encode()
	cluster := false
	switch u.Scheme {
	case "redis", "rediss":
		cluster = q.Has("addr") && !q.Has("master_name")
	case "redis+cluster":
		if q.Has("master_name") {
			return nil, "", "", errors.New("redis: bad URL: master_name is for Sentinel, whose URLs use the redis scheme, not redis+cluster")
		}
		gu.Scheme, cluster = "redis", true
	default:
		return nil, "", "", fmt.Errorf("redis: unknown URL scheme %q (want redis, rediss or redis+cluster)", u.Scheme)
	}
	raw := gu.String()

	switch {
	case cluster:
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, "", "", fmt.Errorf("redis: bad URL: a Redis Cluster has no databases, but the URL names database %s: drop /%s", db, db)
		}
		o, err := goredis.ParseClusterURL(raw)
		if err != nil {
			return nil, "", "", parseError(err)
		}
		noRetries(&o.MaxRetries, &o.DialerRetries)
		return o, prefix, raw, nil
	case q.Has("master_name"):
		o, err := goredis.ParseFailoverURL(raw)
		if err != nil {
			return nil, "", "", parseError(err)
		}
		if o.MasterName == "" {
			return nil, "", "", errors.New("redis: bad URL: master_name is empty")
		}
		noRetries(&o.MaxRetries, &o.DialerRetries)
		return o, prefix, raw, nil
	default:
		o, err := goredis.ParseURL(raw)
		if err != nil {
			return nil, "", "", parseError(err)
		}
		noRetries(&o.MaxRetries, &o.DialerRetries)
		return o, prefix, raw, nil
	}
}

// parseError reports a URL go-redis refused. A url.Error would repeat the
// URL, password included, so only its cause is kept.
func parseError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	return fmt.Errorf("redis: bad URL: %s", msg)
}

// transientReplies are the server replies that say "not now": a server
// loading its data, a cluster resharding or failing over, a replica that lost
// its master, a script running too long, a master demoted by a failover.
// Each refuses the command before running it.
var transientReplies = []string{"LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "BUSY", "READONLY"}

// corruptReply is the code of the error reply the scripts give when they
// find stored data damaged, before writing anything.
const corruptReply = "STATEGEN_CORRUPT"

// classify marks the errors worth retrying as runtime.Transient: dropped or
// refused connections, timeouts, and the transient server replies. Those
// that surely left the command unrun (a failed dial, a server that refused
// it) are runtime.NotApplied; the others (a connection lost while waiting
// for the reply) may have left a write applied. Server replies that will
// not change by retrying (auth failures, script errors) and redis.Nil stay
// as they are; a script's report of damaged data is runtime.ErrCorrupt.
func classify(err error) error {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, goredis.ErrClosed) {
		return err
	}
	var reply goredis.Error
	if errors.As(err, &reply) {
		code, msg, _ := strings.Cut(reply.Error(), " ")
		if code == corruptReply {
			return runtime.Corrupt("state hash", errors.New(msg))
		}
		for _, t := range transientReplies {
			if code == t {
				return runtime.NotApplied(err)
			}
		}
		return err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// Checked before the context errors: go-redis bounds each dial with
		// its own timeout context, and a dial that timed out is worth retrying.
		if opErr.Op == "dial" {
			return runtime.NotApplied(err)
		}
		return runtime.Transient(err)
	}
	if errors.Is(err, goredis.ErrPoolTimeout) {
		return runtime.NotApplied(err) // no connection, so no command sent
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.As(err, &netErr):
		return runtime.Transient(err)
	}
	return err
}

// Key names. The namespace goes between braces, the hash tag: Redis Cluster
// hashes only that part, so all of a namespace's keys share one slot.

func (b *Backend) stateKey(ns string) string { return b.prefix + ":{" + ns + "}:state" }
func (b *Backend) indexKey(ns string) string { return b.prefix + ":{" + ns + "}:cps" }
func (b *Backend) appliedKey(ns string) string {
	return b.prefix + ":{" + ns + "}:applied"
}
func (b *Backend) headersKey(ns string) string {
	return b.prefix + ":{" + ns + "}:cph"
}
func (b *Backend) cpPrefix(ns string) string { return b.prefix + ":{" + ns + "}:cp:" }
func (b *Backend) cpKey(ns, name string) string {
	return b.cpPrefix(ns) + name
}
