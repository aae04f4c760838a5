package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	backendtest.Run(t, harness(srv))
}

// harness is the conformance harness on a server.
func harness(srv *redistest.Server) backendtest.Harness {
	return backendtest.Harness{NewURL: srv.URL, Corrupt: corrupter(srv), CorruptCheckpoint: cpCorrupter(srv), Raw: rawDump(srv)}
}

// rawDump lists, with redis-cli, every key of a store URL's prefix and
// what it holds.
func rawDump(srv *redistest.Server) func(t testing.TB, raw string) []byte {
	return func(t testing.TB, raw string) []byte {
		cli, err := exec.LookPath("redis-cli")
		if err != nil {
			t.Skip("redis-cli is not on PATH: cannot read the store with Redis's own client")
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(srv.Addr())
		run := func(args ...string) []byte {
			out, err := exec.Command(cli, append([]string{"-h", host, "-p", port, "--no-raw"}, args...)...).Output()
			if err != nil {
				t.Fatalf("redis-cli %v: %v", args, err)
			}
			return out
		}
		var dump bytes.Buffer
		for _, key := range strings.Fields(string(run("--scan", "--pattern", u.Query().Get("prefix")+":*"))) {
			key = strings.Trim(key, `"`)
			dump.WriteString(key + "\n")
			switch typ := strings.TrimSpace(string(run("TYPE", key))); typ {
			case "hash":
				dump.Write(run("HGETALL", key))
			case "zset":
				dump.Write(run("ZRANGE", key, "0", "-1", "WITHSCORES"))
			case "string":
				dump.Write(run("GET", key))
			}
		}
		return dump.Bytes()
	}
}

// TestChaos runs the fault suite, with a fault proxy in front of the server
// and a server of its own to kill and restart.
func TestChaos(t *testing.T) {
	h := harness(redistest.Start(t))
	h.Proxy = func(raw string) (string, func(string) string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host, func(addr string) string {
			v := *u
			v.Host = addr
			return v.String()
		}
	}
	h.Durable = func(t testing.TB) backendtest.Server {
		srv := redistest.StartPrivate(t, "--appendonly", "yes", "--appendfsync", "always")
		return backendtest.Server{URL: srv.URL(t), Kill: srv.Kill, Restart: srv.Restart}
	}
	backendtest.Chaos(t, h)
}

// TestConformanceCluster runs the suite on a one-node cluster, which refuses
// any command or script whose keys span slots, as a real cluster does.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a new cluster takes seconds to accept writes")
	}
	backendtest.Run(t, harness(redistest.StartCluster(t)))
}

// corrupter damages a stored value behind the backend's back: the v: field
// of the key becomes a JSON document cut in the middle.
func corrupter(srv *redistest.Server) func(t testing.TB, url, ns, key string) func() []byte {
	return func(t testing.TB, url, ns, key string) func() []byte {
		c := srv.Client(t)
		ctx := context.Background()
		hash := prefixOf(t, url) + ":{" + ns + "}:state"
		if err := c.HSet(ctx, hash, "v:"+key, `{"will": "bre`).Err(); err != nil {
			t.Fatal(err)
		}
		return func() []byte {
			raw, err := c.HGet(ctx, hash, "v:"+key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
	}
}

// cpCorrupter damages a checkpoint's bookkeeping behind the backend's back:
// its creation time is no longer a number, in its hash (which reading it
// decodes) and in its header (which listing decodes).
func cpCorrupter(srv *redistest.Server) func(t testing.TB, url, ns, name string) func() []byte {
	return func(t testing.TB, url, ns, name string) func() []byte {
		c := srv.Client(t)
		ctx := context.Background()
		hash := prefixOf(t, url) + ":{" + ns + "}:cp:" + name
		headers := prefixOf(t, url) + ":{" + ns + "}:cph"
		if err := c.HSet(ctx, hash, "_created", "yesterday").Err(); err != nil {
			t.Fatal(err)
		}
		// REV:CREATED:KEYS:SCHEMA\nMETA
		head := strings.SplitN(c.HGet(ctx, headers, name).Val(), ":", 3)
		if len(head) != 3 {
			t.Fatalf("header of checkpoint %s: %q", name, head)
		}
		head[1] = "yesterday"
		if err := c.HSet(ctx, headers, name, strings.Join(head, ":")).Err(); err != nil {
			t.Fatal(err)
		}
		return func() []byte {
			fields, err := c.HGetAll(ctx, hash).Result()
			if err != nil {
				t.Fatal(err)
			}
			// fmt prints a map sorted by key
			return fmt.Appendf(nil, "%v %s", fields, c.HGet(ctx, headers, name).Val())
		}
	}
}
