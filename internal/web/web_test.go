package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// The schema the test runs are written under, as generated code records it.
var testSchema = runtime.SchemaRef{
	Name:    "ADWState",
	Version: 2,
	Keys:    []string{"adw_id", "issue_number", "phase", "plan", "token"},
	Secret:  []string{"token"},
}

const secretToken = "ghp_s3cr3t-do-not-show"

// newStore returns a SQLite store holding three runs, each with two
// checkpoints: "planned" (phase plan, plan steps a, b) and "built" (phase
// build, plan steps a, c); a1b2c3d4's state has moved on to phase test.
func newStore(t *testing.T) *runtime.Store {
	t.Helper()
	ctx := context.Background()
	st, err := runtime.Open(ctx, "sqlite:"+t.TempDir()+"/state.db", runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, ns := range []string{"a1b2c3d4", "b2c3d4e5", "c3d4e5f6"} {
		write(t, st, ns, map[string]string{
			"adw_id": `"` + ns + `"`, "issue_number": `"` + string(rune('1'+i)) + `"`,
			"phase": `"plan"`, "plan": `{"steps":["a","b"]}`, "token": `"` + secretToken + `"`,
		})
		if _, err := st.Checkpoint(ctx, ns, "planned"); err != nil {
			t.Fatal(err)
		}
		write(t, st, ns, map[string]string{"phase": `"build"`, "plan": `{"steps":["a","c"]}`, "token": `"` + secretToken + `2"`})
		if _, err := st.Checkpoint(ctx, ns, "built"); err != nil {
			t.Fatal(err)
		}
	}
	write(t, st, "a1b2c3d4", map[string]string{"phase": `"test"`})
	if _, err := st.Label(ctx, "b2c3d4e5", map[string]string{"team": "x"}); err != nil {
		t.Fatal(err)
	}
	return st
}

// write stores kvs in ns under testSchema, as generated code does.
func write(t *testing.T, st *runtime.Store, ns string, kvs map[string]string) {
	t.Helper()
	s := testSchema
	b := &runtime.Batch{Schema: &s}
	for k, v := range kvs {
		b.Puts = append(b.Puts, runtime.KV{Key: k, Value: json.RawMessage(v)})
	}
	if _, err := st.Apply(context.Background(), ns, b); err != nil {
		t.Fatal(err)
	}
}

// serve starts the view of st with opts on a loopback test server.
func serve(t *testing.T, st *runtime.Store, opts Options) *httptest.Server {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	h, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// rows are the data-ns attributes of the runs table, in order.
func rows(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<tr data-ns="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestRunsPage(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	status, body := get(t, srv, "/")
	if status != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", status, body)
	}
	if got := strings.Join(rows(body), " "); got != "a1b2c3d4 b2c3d4e5 c3d4e5f6" {
		t.Errorf("runs = %q, want the three runs in order", got)
	}
	for _, want := range []string{"<title>Runs · stategen</title>", "ADWState", "v2", `href="/runs/a1b2c3d4"`, `data-events="/events"`, "read-only"} {
		if !strings.Contains(body, want) {
			t.Errorf("runs page lacks %q", want)
		}
	}
	if strings.Contains(body, secretToken) {
		t.Error("runs page shows a secret")
	}
}

func TestRunsFilterAndPaging(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	for _, c := range []struct{ query, want string }{
		{"q=E5F", "c3d4e5f6"},
		{"q=zz", ""},
		{"schema=ADWState", "a1b2c3d4 b2c3d4e5 c3d4e5f6"},
		{"schema=Other", ""},
		{"label=team=x", "b2c3d4e5"},
		{"label=team=y", ""},
		{"label=team=", "b2c3d4e5"}, // a label asked for without a value: present
		{"label=team=x&q=a1", ""},
		{"limit=2", "a1b2c3d4 b2c3d4e5"},
		{"limit=2&after=b2c3d4e5", "c3d4e5f6"},
	} {
		status, body := get(t, srv, "/?"+c.query)
		if status != http.StatusOK {
			t.Fatalf("GET /?%s = %d", c.query, status)
		}
		if got := strings.Join(rows(body), " "); got != c.want {
			t.Errorf("/?%s: runs %q, want %q", c.query, got, c.want)
		}
	}
	// The next page's link keeps the filter and carries the cursor.
	_, body := get(t, srv, "/?limit=1&q=d4")
	m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no next link on a full page")
	}
	next, _ := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if q := next.Query(); q.Get("after") != "a1b2c3d4" || q.Get("q") != "d4" || q.Get("limit") != "1" {
		t.Errorf("next link %s: want after=a1b2c3d4 with q and limit kept", m[1])
	}
	if status, _ := get(t, srv, "/?limit=0"); status != http.StatusBadRequest {
		t.Errorf("limit=0: status %d, want 400", status)
	}
}

func TestRunPage(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	status, body := get(t, srv, "/runs/a1b2c3d4")
	if status != http.StatusOK {
		t.Fatalf("GET run = %d\n%s", status, body)
	}
	if strings.Contains(body, secretToken) {
		t.Error("run page shows the secret token")
	}
	if !strings.Contains(body, "[redacted]") {
		t.Error("run page does not say [redacted]")
	}
	// Keys in the schema's order, not sorted.
	var keys []string
	for _, m := range regexp.MustCompile(`<tr data-key="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
	}
	if got := strings.Join(keys, " "); got != strings.Join(testSchema.Keys, " ") {
		t.Errorf("state keys %q, want the schema's order", got)
	}
	// Newest checkpoint first, with its diff links; no write action.
	if i, j := strings.Index(body, `data-checkpoint="built"`), strings.Index(body, `data-checkpoint="planned"`); i < 0 || j < 0 || i > j {
		t.Error("checkpoints not listed newest first")
	}
	for _, want := range []string{`/runs/a1b2c3d4/diff?from=planned&amp;to=built`, `&#34;phase&#34;: &#34;test&#34;`, "<summary>Raw JSON</summary>"} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if strings.Contains(body, "/restore") || strings.Contains(body, "/delete") {
		t.Error("read-only run page offers a write action")
	}

	shown := serve(t, newStore(t), Options{ShowSecrets: true})
	if _, body := get(t, shown, "/runs/a1b2c3d4"); !strings.Contains(body, secretToken) {
		t.Error("with ShowSecrets the token is not shown")
	}
	if status, _ := get(t, srv, "/runs/nothere"); status != http.StatusNotFound {
		t.Errorf("missing run: %d, want 404", status)
	}
	if status, _ := get(t, srv, "/runs/..%2Fetc"); status != http.StatusBadRequest {
		t.Errorf("bad name: %d, want 400", status)
	}
}

func TestDiffPage(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	status, body := get(t, srv, "/runs/a1b2c3d4/diff?from=planned&to=built")
	if status != http.StatusOK {
		t.Fatalf("GET diff = %d\n%s", status, body)
	}
	for _, want := range []string{`data-key="plan" data-path="$.steps[1]"`, `&#34;b&#34;`, `&#34;c&#34;`, `data-key="phase" data-path="$"`, "3 keys differ."} {
		if !strings.Contains(body, want) {
			t.Errorf("diff page lacks %q", want)
		}
	}
	// The secret changed too, and is named but not shown.
	if !strings.Contains(body, `data-key="token"`) || strings.Contains(body, secretToken) {
		t.Error("diff page: the secret is not listed as changed, or its value shows")
	}
	// To now: only phase moved on since built.
	_, body = get(t, srv, "/runs/a1b2c3d4/diff?from=built")
	if !strings.Contains(body, "1 key differs.") || !strings.Contains(body, `&#34;test&#34;`) {
		t.Errorf("diff with now: want phase build → test\n%s", body)
	}
	if status, _ := get(t, srv, "/runs/a1b2c3d4/diff?from=nope"); status != http.StatusNotFound {
		t.Errorf("diff from a missing checkpoint: %d, want 404", status)
	}
}

// post sends form to path with the headers h and returns the status and body.
func post(t *testing.T, srv *httptest.Server, path string, form url.Values, h map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func phase(t *testing.T, st *runtime.Store, ns string) string {
	t.Helper()
	v, err := st.Get(context.Background(), ns, "phase")
	if err != nil {
		t.Fatal(err)
	}
	return string(v.Data)
}

func TestWritesRefusedWithoutAllowWrites(t *testing.T) {
	st := newStore(t)
	srv := serve(t, st, Options{})
	for _, path := range []string{"/runs/a1b2c3d4/checkpoints/planned/restore", "/runs/a1b2c3d4/checkpoints/planned/delete"} {
		status, body := post(t, srv, path, url.Values{"csrf": {"anything"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
		if status != http.StatusForbidden || !strings.Contains(body, "read-only") || !strings.Contains(body, "--allow-writes") {
			t.Errorf("POST %s = %d, want 403 saying read-only and --allow-writes\n%s", path, status, body)
		}
		if status, _ := get(t, srv, path); status != http.StatusForbidden {
			t.Errorf("GET %s (confirmation) = %d, want 403", path, status)
		}
	}
	if got := phase(t, st, "a1b2c3d4"); got != `"test"` {
		t.Errorf("phase = %s after refused writes, want unchanged", got)
	}
	if cps, _ := st.Checkpoints(context.Background(), "a1b2c3d4"); len(cps) != 2 {
		t.Errorf("%d checkpoints after a refused delete, want 2", len(cps))
	}
}

func TestWritesNeedSameSiteAndToken(t *testing.T) {
	st := newStore(t)
	srv := serve(t, st, Options{AllowWrites: true})
	const path = "/runs/a1b2c3d4/checkpoints/planned/restore"
	status, body := get(t, srv, path)
	if status != http.StatusOK {
		t.Fatalf("confirmation page = %d", status)
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("confirmation page has no CSRF token")
	}
	token := url.Values{"csrf": {m[1]}}
	if _, run := get(t, srv, "/runs/a1b2c3d4"); !strings.Contains(run, path) {
		t.Error("with AllowWrites the run page does not offer restore")
	}

	for _, c := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"cross-site fetch", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin", token, map[string]string{"Origin": "http://evil.example"}},
		{"no token", url.Values{}, map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"wrong token", url.Values{"csrf": {strings.Repeat("0", 64)}}, map[string]string{"Sec-Fetch-Site": "same-origin"}},
	} {
		if status, body := post(t, srv, path, c.form, c.headers); status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403\n%s", c.name, status, body)
		}
	}
	if got := phase(t, st, "a1b2c3d4"); got != `"test"` {
		t.Fatalf("phase = %s after refused restores, want unchanged", got)
	}

	status, _ = post(t, srv, path, token, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL})
	if status != http.StatusSeeOther {
		t.Fatalf("same-site restore with token: status %d, want 303", status)
	}
	if got := phase(t, st, "a1b2c3d4"); got != `"plan"` {
		t.Errorf("phase = %s after restoring planned, want \"plan\"", got)
	}
	if status, _ = post(t, srv, "/runs/a1b2c3d4/checkpoints/planned/delete", token, map[string]string{"Sec-Fetch-Site": "same-origin"}); status != http.StatusSeeOther {
		t.Fatalf("delete: status %d, want 303", status)
	}
	if _, err := st.GetCheckpoint(context.Background(), "a1b2c3d4", "planned"); err == nil {
		t.Error("checkpoint planned still there after delete")
	}
}

func TestOnlyLoopbackHosts(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "rebound.example:8080"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host rebound.example: status %d, want 421", resp.StatusCode)
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1", "[::1]:80", "app.localhost"} {
		if !loopbackHost(host) {
			t.Errorf("loopbackHost(%q) = false", host)
		}
	}
	for _, host := range []string{"127.0.0.1.evil.example", "10.0.0.1:80", "localhost.evil.example", ""} {
		if loopbackHost(host) {
			t.Errorf("loopbackHost(%q) = true", host)
		}
	}
}

func TestLiveFragment(t *testing.T) {
	srv := serve(t, newStore(t), Options{})
	_, body := get(t, srv, "/runs/a1b2c3d4?fragment=live")
	if strings.Contains(body, "<html") || !strings.Contains(body, `data-key="phase"`) {
		t.Errorf("fragment: want the live part only\n%s", body)
	}
}

func TestEvents(t *testing.T) {
	st := newStore(t)
	srv := serve(t, st, Options{})
	for _, ns := range []string{"a1b2c3d4", ""} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?ns="+ns, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		lines := bufio.NewScanner(resp.Body)
		lines.Scan() // the retry line: the stream is open
		write(t, st, "a1b2c3d4", map[string]string{"phase": `"review` + ns + `"`})
		var got []string
		for lines.Scan() {
			got = append(got, lines.Text())
			if strings.HasPrefix(lines.Text(), "data: ") {
				break
			}
		}
		cancel()
		resp.Body.Close()
		text := strings.Join(got, "\n")
		if !strings.Contains(text, "event: change") || !strings.Contains(text, `"namespace":"a1b2c3d4"`) || !strings.Contains(text, `"keys":["phase"]`) {
			t.Errorf("events?ns=%s: want a change of a1b2c3d4, got\n%s", ns, text)
		}
	}
}
