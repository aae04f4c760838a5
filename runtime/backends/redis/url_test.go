package redis

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

func mustParse(t *testing.T, raw string) (any, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	opts, prefix, _, err := parseURL(u)
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	return opts, prefix
}

func TestParseURLSingle(t *testing.T) {
	opts, prefix := mustParse(t, "redis://alice:s3cret@db.example:6380/3?dial_timeout=2s")
	o, ok := opts.(*goredis.Options)
	if !ok {
		t.Fatalf("got %T, want *redis.Options", opts)
	}
	if o.Addr != "db.example:6380" || o.DB != 3 || o.Username != "alice" || o.Password != "s3cret" || o.DialTimeout != 2*time.Second {
		t.Errorf("options %+v", o)
	}
	if o.TLSConfig != nil {
		t.Error("redis:// got TLS")
	}
	if o.MaxRetries != -1 || o.DialerRetries != 1 {
		t.Errorf("MaxRetries %d, DialerRetries %d: go-redis must not retry by default (the Store does)", o.MaxRetries, o.DialerRetries)
	}
	if prefix != DefaultPrefix {
		t.Errorf("prefix %q, want %q", prefix, DefaultPrefix)
	}
}

func TestParseURLTLS(t *testing.T) {
	opts, _ := mustParse(t, "rediss://db.example:6380/0")
	o := opts.(*goredis.Options)
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "db.example" {
		t.Errorf("rediss:// TLS config %+v, want one for db.example", o.TLSConfig)
	}
}

func TestParseURLCluster(t *testing.T) {
	for raw, want := range map[string][]string{
		"redis://h1:7000?addr=h2:7001&addr=h3:7002": {"h1:7000", "h2:7001", "h3:7002"},
		"redis+cluster://seed:7000?prefix=p":        {"seed:7000"},
	} {
		opts, _ := mustParse(t, raw)
		o, ok := opts.(*goredis.ClusterOptions)
		if !ok {
			t.Errorf("%s: got %T, want *redis.ClusterOptions", raw, opts)
			continue
		}
		if strings.Join(o.Addrs, ",") != strings.Join(want, ",") {
			t.Errorf("%s: addrs %v, want %v", raw, o.Addrs, want)
		}
		if o.MaxRetries != -1 || o.DialerRetries != 1 {
			t.Errorf("%s: MaxRetries %d, DialerRetries %d, want -1, 1", raw, o.MaxRetries, o.DialerRetries)
		}
	}
}

func TestParseURLSentinel(t *testing.T) {
	opts, _ := mustParse(t, "redis://sentinel1:26379/2?master_name=mymaster&addr=sentinel2:26379")
	o, ok := opts.(*goredis.FailoverOptions)
	if !ok {
		t.Fatalf("got %T, want *redis.FailoverOptions", opts)
	}
	if o.MasterName != "mymaster" || o.DB != 2 || strings.Join(o.SentinelAddrs, ",") != "sentinel1:26379,sentinel2:26379" {
		t.Errorf("options: master %q db %d sentinels %v", o.MasterName, o.DB, o.SentinelAddrs)
	}
	if o.MaxRetries != -1 {
		t.Errorf("MaxRetries %d, want -1", o.MaxRetries)
	}
}

func TestParseURLPrefixAndExplicitRetries(t *testing.T) {
	// prefix is ours and must not reach go-redis, which refuses unknown options.
	opts, prefix := mustParse(t, "redis://h:1/0?prefix=team-a%3Astate&max_retries=2")
	o := opts.(*goredis.Options)
	if prefix != "team-a:state" {
		t.Errorf("prefix %q, want team-a:state", prefix)
	}
	if o.MaxRetries != 2 {
		t.Errorf("MaxRetries %d: the URL's own setting must be kept", o.MaxRetries)
	}
	opts, _ = mustParse(t, "redis+cluster://h:1?max_retries=2&dialer_retries=3")
	if co := opts.(*goredis.ClusterOptions); co.MaxRetries != 2 || co.DialerRetries != 3 {
		t.Errorf("cluster MaxRetries %d, DialerRetries %d: the URL's own settings must be kept", co.MaxRetries, co.DialerRetries)
	}
}

func TestParseURLBad(t *testing.T) {
	const secret = "s3cret-pw"
	bad := map[string]string{
		"redis://u:" + secret + "@h:1/0?bogus=1":                   "bogus",
		"redis://u:" + secret + "@h:1/notadb":                      "database",
		"redis://u:" + secret + "@h:1/0?prefix=%7Bx%7D":            "prefix",
		"redis://u:" + secret + "@h:1/0?prefix=a&prefix=b":         "prefix",
		"redis://u:" + secret + "@h:1/0?prefix=":                   "prefix",
		"redis+cluster://u:" + secret + "@h:1?master_name=m":       "master_name",
		"redis://u:" + secret + "@h:1?addr=nocolon":                "addr",
		"redis://u:" + secret + "@h:1/0?dial_timeout=notaduration": "dial_timeout",
	}
	for raw, want := range bad {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = parseURL(u)
		if err == nil {
			t.Errorf("%s: no error", u.Redacted())
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not mention %q", u.Redacted(), err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q shows the password", u.Redacted(), err)
		}
		// And through the runtime, which names the store in its errors.
		_, err = runtime.Open(context.Background(), raw)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("runtime.Open(%s): error %v: want one without the password", u.Redacted(), err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	// A port nobody listens on: bind one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const secret = "s3cret-pw"
	for _, raw := range []string{
		"redis://u:" + secret + "@" + addr + "/0",
		"redis+cluster://u:" + secret + "@" + addr,
		"redis://u:" + secret + "@" + addr + "/0?master_name=m&password=" + secret,
	} {
		start := time.Now()
		_, err = Open(context.Background(), mustURL(t, raw), runtime.Config{})
		if err == nil {
			t.Fatal("open of an unreachable server succeeded")
		}
		if !strings.Contains(err.Error(), "cannot reach ") || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), secret) {
			t.Errorf("error %q: want one naming %s, without the password", err, addr)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("open took %v to fail: go-redis is retrying the dial", d)
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestClassify(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	// Real server replies with these codes, from a script that returns them.
	reply := func(msg string) error {
		return c.Eval(ctx, "return redis.error_reply(ARGV[1])", nil, msg).Err()
	}
	transient := map[string]error{
		"LOADING":      reply("LOADING Redis is loading the dataset in memory"),
		"TRYAGAIN":     reply("TRYAGAIN Multiple keys request during rehashing of slot"),
		"CLUSTERDOWN":  reply("CLUSTERDOWN The cluster is down"),
		"MASTERDOWN":   reply("MASTERDOWN Link with MASTER is down"),
		"EOF":          io.EOF,
		"wrapped EOF":  &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF},
		"refused":      &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
		"pool timeout": goredis.ErrPoolTimeout,
		"read timeout": &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}},
	}
	final := map[string]error{
		"WRONGPASS":       reply("WRONGPASS invalid username-password pair or user is disabled."),
		"NOAUTH":          reply("NOAUTH Authentication required."),
		"script error":    c.Eval(ctx, "return redis.call('HINCRBY', KEYS[1], 'f', 'x')", []string{srv.Prefix()}).Err(),
		"wrong type":      reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
		"nil":             goredis.Nil,
		"closed client":   goredis.ErrClosed,
		"canceled":        context.Canceled,
		"caller deadline": context.DeadlineExceeded,
	}
	for what, err := range transient {
		if err == nil {
			t.Fatalf("%s: the server returned no error", what)
		}
		if !runtime.IsTransient(classify(err)) {
			t.Errorf("%s (%v): not transient", what, err)
		}
	}
	for what, err := range final {
		if err == nil {
			t.Fatalf("%s: the server returned no error", what)
		}
		if runtime.IsTransient(classify(err)) {
			t.Errorf("%s (%v): marked transient", what, err)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestSetClientLogger(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	SetClientLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	// Later tests keep go-redis's messages on stderr, as before.
	defer SetClientLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := runtime.Open(context.Background(), "redis://"+addr+"/0"); err == nil {
		t.Fatal("open of an unreachable server succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "go-redis: connection pool: failed to dial") {
		t.Errorf("go-redis's message did not reach the logger at debug level; logged: %q", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestURLWithoutHost: a URL that names no server is refused, rather than
// left to go-redis, which would connect to localhost; the password never
// shows.
func TestURLWithoutHost(t *testing.T) {
	for _, raw := range []string{"redis:db.example:6380/3", "redis:///0", "redis+cluster:h:1", "rediss:/:pw@h"} {
		_, _, _, err := parseURL(mustURL(t, raw))
		if err == nil || !strings.Contains(err.Error(), "names no server") {
			t.Errorf("%s: %v, want an error saying it names no server", raw, err)
		}
	}
}

// TestClusterHasNoDatabases: a cluster URL that names a database other
// than 0 is refused.
func TestClusterHasNoDatabases(t *testing.T) {
	for raw, ok := range map[string]bool{
		"redis+cluster://h:1/2":           false,
		"redis://h1:1/3?addr=h2:2":        false,
		"redis+cluster://h:1/0":           true,
		"redis+cluster://h:1":             true,
		"redis+cluster://h:1/?prefix=abc": true,
	} {
		_, _, _, err := parseURL(mustURL(t, raw))
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), "no databases") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestPlainURLOnClusterNode: a redis:// URL that names a cluster node is
// used as the cluster (so that no key misroutes with MOVED), or, naming a
// database, refused with the advice to use redis+cluster://.
func TestPlainURLOnClusterNode(t *testing.T) {
	srv := redistest.StartCluster(t)
	ctx := context.Background()
	b, err := Open(ctx, mustURL(t, "redis://"+srv.Addr()+"/0?prefix="+srv.Prefix()), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.client.(*goredis.ClusterClient); !ok {
		t.Errorf("a redis:// URL on a cluster node got a %T, want a cluster client", b.client)
	}
	_, err = Open(ctx, mustURL(t, "redis://"+srv.Addr()+"/2"), runtime.Config{})
	if err == nil || !strings.Contains(err.Error(), "redis+cluster://"+srv.Addr()) {
		t.Errorf("database 2 on a cluster node: %v, want advice to use redis+cluster://", err)
	}
	// A plain server stays a plain client.
	plain := redistest.Start(t)
	p, err := Open(ctx, mustURL(t, plain.URL(t)), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.client.(*goredis.Client); !ok {
		t.Errorf("a plain server got a %T", p.client)
	}
}
