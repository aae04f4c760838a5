package runtime

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestRedact: no password survives into a store's name or an error,
// whatever the URL's shape, parsed or not.
func TestRedact(t *testing.T) {
	const pw = "hunter2"
	for _, raw := range []string{
		"redis://user:" + pw + "@host:6379/0",
		"redis://:" + pw + "@host/0",
		"redis//:" + pw + "@host/0",
		"//:" + pw + "@host/0",
		"redis:/:" + pw + "@host",
		"redis://host:1/0?password=" + pw,
		"redis://host:1/0?master_name=m&sentinel_password=" + pw,
		"redis://u:p/" + pw + "@host",
		"redis://u:" + pw + "@host:notaport",
		"postgres://u:" + pw + "@h1,h2/db?sslmode=disable",
	} {
		got := redactRaw(raw)
		if u, err := url.Parse(raw); err == nil {
			got = redact(u)
		}
		if strings.Contains(got, pw) {
			t.Errorf("%s: redacted to %s, which still shows the password", raw, got)
		}
		_, err := Open(context.Background(), raw)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%s): %v, want an error without the password", raw, err)
		}
	}
	for raw, want := range map[string]string{
		"redis://user:pw@host:6379/0":  "redis://user:xxxxx@host:6379/0",
		"redis//:pw@host/0":            "redis//:xxxxx@host/0",
		"redis:/:pw@host":              "redis:/:xxxxx@host",
		"sqlite:pct/x%41.db":           "sqlite:pct/x%41.db",
		"json:a@b/dir":                 "json:a@b/dir",
		"redis://host/0?password=pw&x": "redis://host/0?password=xxxxx&x=",
	} {
		if got := redactRaw(raw); got != want {
			t.Errorf("redactRaw(%s) = %s, want %s", raw, got, want)
		}
	}
}
