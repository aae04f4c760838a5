package pyredis

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// pythonLayout writes, into database db of the server, what the Python
// StateManager's RedisBackend writes: save() is SET state:<ns>:<key>
// json.dumps(value) then EXPIRE 86400; checkpoint() is SET
// checkpoint:<ns>:<name> json.dumps({key: value, ...}).
func pythonLayout(t *testing.T, srv *redistest.Server, db int) *goredis.Client {
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), DB: db})
	t.Cleanup(func() { c.Close() })
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	save := func(ns, key, value string) {
		if err := c.Set(ctx, "state:"+ns+":"+key, value, 0).Err(); err != nil {
			t.Fatal(err)
		}
		c.Expire(ctx, "state:"+ns+":"+key, 86400*time.Second)
	}
	save("default", "branch", `"feat/x"`)
	save("default", "issue", `{"n": 42, "tags": ["a", "\u00e9"]}`)
	save("run1", "phase", `"build"`)
	c.Set(ctx, "checkpoint:default:auto_20250102_030405", `{"branch": "main", "issue": {"n": 41}}`, 0)
	c.Set(ctx, "checkpoint:cponly:before", `{"k": 1}`, 0)
	c.Set(ctx, "unrelated", "x", 0)
	return c
}

func TestMigrateFromPythonRedis(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := pythonLayout(t, srv, 9)
	src, err := runtime.Open(ctx, "pyredis://"+srv.Addr()+"/9")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := runtime.Open(ctx, "sqlite:"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	nss, err := src.Namespaces(ctx)
	if err != nil || strings.Join(nss, " ") != "cponly default run1" {
		t.Fatalf("namespaces %v, %v", nss, err)
	}
	for _, ns := range nss {
		if _, err := runtime.Copy(ctx, src, dst, ns, runtime.CopyOptions{}); err != nil {
			t.Fatalf("copy %s: %v", ns, err)
		}
		want, err := src.Digest(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := dst.Digest(ctx, ns); err != nil || got != want {
			t.Errorf("%s: digest %+v, want %+v (%v)", ns, got, want, err)
		}
	}
	v, err := dst.Get(ctx, "default", "issue")
	var issue struct {
		N    int
		Tags []string
	}
	if err != nil || json.Unmarshal(v.Data, &issue) != nil || issue.N != 42 || issue.Tags[1] != "é" {
		t.Errorf("issue: %s, %v", v.Data, err)
	}
	cps, err := dst.Checkpoints(ctx, "default")
	if err != nil || len(cps) != 1 || !cps[0].Created.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || cps[0].Keys != 2 {
		t.Errorf("checkpoints %+v, %v", cps, err)
	}

	// Read-only, and listing never uses KEYS.
	if _, err := src.Put(ctx, "default", "k", json.RawMessage(`1`)); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("write: %v, want ErrReadOnly", err)
	}
	if _, err := src.Checkpoint(ctx, "default", "x"); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("checkpoint: %v, want ErrReadOnly", err)
	}
	stats, _ := c.Info(ctx, "commandstats").Result()
	if strings.Contains(stats, "cmdstat_keys:") {
		t.Error("KEYS was called")
	}

	// A name stategen cannot take is an error that names it, not a silent
	// omission.
	c.Set(ctx, "state:default:bad key", `1`, 0)
	if _, err := src.Snapshot(ctx, "default"); err == nil || !strings.Contains(err.Error(), `"state:default:bad key"`) {
		t.Errorf("bad key: %v", err)
	}
	c.Set(ctx, "state:bad ns:k", `1`, 0)
	if _, err := src.Namespaces(ctx); err == nil || !strings.Contains(err.Error(), "bad ns") {
		t.Errorf("bad namespace: %v", err)
	}
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"pyredis:", "pyredis:///0", "pyredis://:s3cret@host:notaport/0"} {
		_, err := runtime.Open(ctx, bad)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
