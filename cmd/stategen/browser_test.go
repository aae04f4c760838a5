//go:build e2e

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stategen/stategen/runtime"
)

// The browser tests drive Debian's Chromium, headless, through the Chrome
// DevTools protocol (chromedp) against a real 'stategen serve' on a
// temporary SQLite store: make e2e runs them. They skip when Chromium is
// missing, unless STATEGEN_REQUIRE_CHROMIUM=1 (as in CI), which makes that
// a failure. Each step's screenshot is saved under $STATEGEN_E2E_OUT (a
// temporary directory when unset); with STATEGEN_SCREENSHOTS=DIR the runs
// page and a diff are also written to DIR/serve-runs.png and
// DIR/serve-diff.png, the README's pictures (make screenshots).

const chromiumPath = "/usr/bin/chromium"

// e2eSchema is the schema the three runs are written under, with a secret.
var e2eSchema = runtime.SchemaRef{
	Name:    "ADWState",
	Version: 2,
	Keys:    []string{"adw_id", "issue_number", "branch_name", "phase", "plan", "token"},
	Secret:  []string{"token"},
}

const e2eSecret = "ghp_e2e-secret-value"

func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("no Chromium at %s (apt-get install chromium): the browser tests need it", chromiumPath)
		if os.Getenv("STATEGEN_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(msg + "; STATEGEN_REQUIRE_CHROMIUM=1")
		}
		t.Skip(msg)
	}
	out := os.Getenv("STATEGEN_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "stategen")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	store := "sqlite:" + filepath.Join(dir, "state.db")
	seedRuns(t, store)
	base := startServe(t, bin, "--store", store, "serve", "--addr", "127.0.0.1:0")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI and containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 860),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	b := &browser{t: t, ctx: ctx, out: out}

	t.Log("step 1: the runs page lists the three runs")
	b.do("1-runs", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`tr[data-ns="c3d4e5f6"]`)))
	runs := value(b, "1-runs", chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr[data-ns]")].map(r => r.dataset.ns)`))
	if got := strings.Join(runs, " "); got != "a1b2c3d4 b2c3d4e5 c3d4e5f6" {
		t.Errorf("runs on the page: %q, want the three runs", got)
	}
	if title := value(b, "1-runs", chromedp.Title()); title != "Runs · stategen" {
		t.Errorf("title %q", title)
	}
	holder := value(b, "1-runs", chromedp.Evaluate[string](`document.querySelector('tr[data-ns="b2c3d4e5"] td[data-label="Lease holder"]').textContent.trim()`))
	labels := value(b, "1-runs", chromedp.Evaluate[string](`document.querySelector('tr[data-ns="a1b2c3d4"] td[data-label="Labels"]').textContent.trim()`))
	if holder != "builder-7" || labels != "team=red" {
		t.Errorf("runs page shows lease holder %q and labels %q, want builder-7 and team=red", holder, labels)
	}
	b.shot("1-runs", "serve-runs.png")

	t.Log("step 1b: at phone width nothing scrolls sideways")
	b.do("1b-phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`tr[data-ns="c3d4e5f6"]`)))
	if value(b, "1b-phone", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)) {
		t.Error("the runs page is wider than a phone's screen")
	}
	b.shot("1b-runs-phone", "")
	b.do("1b-phone", chromedp.EmulateViewport(1280, 860))

	t.Log("step 2: open a run from the keyboard: its state, the secret redacted")
	b.do("2-run",
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-ns="a1b2c3d4"]`)),
		chromedp.Focus(chromedp.CSS(`a[href="/runs/a1b2c3d4"]`)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="token"]`)),
	)
	state := value(b, "2-run", chromedp.Text(chromedp.CSS(`table.state`)))
	if !strings.Contains(state, "[redacted]") || strings.Contains(state, e2eSecret) {
		t.Errorf("state table: want the token [redacted], got\n%s", state)
	}
	if !strings.Contains(state, `"build"`) {
		t.Errorf("state table lacks phase build:\n%s", state)
	}
	b.shot("2-run", "")

	t.Log("step 3: a diff between two checkpoints names the changed path")
	const changed = `tr[data-key="plan"][data-path="$.steps[1]"]`
	b.do("3-diff",
		chromedp.Click(chromedp.CSS(`li[data-checkpoint="built"] a[href*="from=planned"]`)),
		chromedp.WaitVisible(chromedp.CSS(changed)),
	)
	row := value(b, "3-diff", chromedp.Text(chromedp.CSS(changed)))
	for _, want := range []string{"plan", "$.steps[1]", `"test"`, `"review"`} {
		if !strings.Contains(row, want) {
			t.Errorf("diff row %q lacks %q", row, want)
		}
	}
	b.shot("3-diff", "serve-diff.png")

	t.Log("step 4: a change made with the CLI appears without reloading")
	b.do("4-live",
		chromedp.Navigate(base+"runs/a1b2c3d4"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="phase"]`)),
	)
	b.do("4-live", chromedp.Click(chromedp.CSS(`details.raw summary`)), chromedp.WaitVisible(chromedp.CSS(`details.raw pre`)))
	value(b, "4-live", chromedp.Evaluate[bool](`window.notReloaded = true`))
	value(b, "4-live", chromedp.Poll[bool](`document.getElementById("live-status").textContent === "Live"`, chromedp.WithPollingTimeout(20*time.Second)))
	if out, err := exec.Command(bin, "--store", store, "save", "a1b2c3d4", "phase", `"shipped"`).CombinedOutput(); err != nil {
		t.Fatalf("stategen save: %v\n%s", err, out)
	}
	value(b, "4-live", chromedp.Poll[bool](`document.querySelector('tr[data-key="phase"] td.value').textContent.includes("shipped")`, chromedp.WithPollingTimeout(20*time.Second)))
	if !value(b, "4-live", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page reloaded to show the change")
	}
	if !value(b, "4-live", chromedp.Evaluate[bool](`document.querySelector("details.raw").open && document.querySelector("details.raw pre").textContent.includes("shipped")`)) {
		t.Error("after the update the raw JSON is closed, or does not show the change")
	}
	b.shot("4-live", "")

	t.Log("step 5: a write without --allow-writes is refused")
	if n := value(b, "5-refused", chromedp.Evaluate[int](`document.querySelectorAll('a[href$="/restore"], a[href$="/delete"], form[method="post"]').length`)); n != 0 {
		t.Errorf("a read-only run page offers %d write actions", n)
	}
	status := value(b, "5-refused", chromedp.Evaluate[int](`fetch("/runs/a1b2c3d4/checkpoints/planned/restore", {method: "POST", body: new URLSearchParams({csrf: "guess"})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("POST restore without --allow-writes: status %d, want 403", status)
	}
	b.do("5-refused",
		chromedp.Navigate(base+"runs/a1b2c3d4/checkpoints/planned/restore"),
		chromedp.WaitVisible(chromedp.CSS(`#error-message`)),
	)
	refused := value(b, "5-refused", chromedp.Text(chromedp.CSS(`#error-message`)))
	if !strings.Contains(refused, "read-only") || !strings.Contains(refused, "--allow-writes") {
		t.Errorf("refusal says %q", refused)
	}
	b.shot("5-refused", "")
	if out, err := exec.Command(bin, "--store", store, "load", "a1b2c3d4", "phase").CombinedOutput(); err != nil || !strings.Contains(string(out), "shipped") {
		t.Errorf("phase after the refused restore: %s (%v), want still shipped", out, err)
	}
	t.Logf("screenshots in %s", out)
}

// browser is one test's tab, with where its screenshots go.
type browser struct {
	t   *testing.T
	ctx context.Context
	out string
}

// shot saves a screenshot of the whole page as out/name.png, and as
// $STATEGEN_SCREENSHOTS/docs too when both are set.
func (b *browser) shot(name, docs string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	paths := []string{filepath.Join(b.out, name+".png")}
	if dir := os.Getenv("STATEGEN_SCREENSHOTS"); dir != "" && docs != "" {
		paths = append(paths, filepath.Join(dir, docs))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// do runs actions as the test's step, failing it (after a screenshot of
// the page) on an error.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.shot(step+"-failed", "")
		b.t.Fatalf("%s: %v", step, err)
	}
}

// value runs one action of step and returns its value, as do fails.
func value[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.shot(step+"-failed", "")
		b.t.Fatalf("%s: %v", step, err)
	}
	return v
}

// seedRuns writes three runs into the store at url, as generated code
// would: each under e2eSchema, with a secret and two checkpoints (planned,
// then built, between which phase and plan.steps[1] change).
func seedRuns(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	st, err := runtime.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(ns string, kv map[string]string) {
		s := e2eSchema
		b := &runtime.Batch{Schema: &s}
		for k, v := range kv {
			b.Puts = append(b.Puts, runtime.KV{Key: k, Value: json.RawMessage(v)})
		}
		if _, err := st.Apply(ctx, ns, b); err != nil {
			t.Fatal(err)
		}
	}
	for i, ns := range []string{"a1b2c3d4", "b2c3d4e5", "c3d4e5f6"} {
		put(ns, map[string]string{
			"adw_id": `"` + ns + `"`, "issue_number": fmt.Sprintf(`"%d"`, 41+i),
			"branch_name": fmt.Sprintf(`"feat-issue-%d-%s"`, 41+i, ns), "phase": `"plan"`,
			"plan": `{"file":"specs/plan.md","steps":["design","test","ship"]}`, "token": `"` + e2eSecret + `"`,
		})
		if _, err := st.Checkpoint(ctx, ns, "planned"); err != nil {
			t.Fatal(err)
		}
		put(ns, map[string]string{"phase": `"build"`, "plan": `{"file":"specs/plan.md","steps":["design","review","ship"]}`})
		if _, err := st.Checkpoint(ctx, ns, "built"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Label(ctx, ns, map[string]string{"team": []string{"red", "blue", "red"}[i]}); err != nil {
			t.Fatal(err)
		}
	}
	// One run is being worked on: its lease shows on the runs page.
	if _, err := st.Acquire(ctx, "b2c3d4e5", "builder-7", time.Hour); err != nil {
		t.Fatal(err)
	}
}

// startServe runs bin with args, which must serve, and returns the URL it
// prints. At the end of the test it is stopped with SIGINT and must exit 0.
func startServe(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stategen serve after SIGINT: %v\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("stategen serve did not stop within 15s of SIGINT\n%s", stderr.String())
		}
	})
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("stategen serve printed no URL: %v\n%s", err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, lines) }()
	m := regexp.MustCompile(`http://\S+/`).FindString(line)
	if m == "" {
		t.Fatalf("stategen serve printed %q, want its URL", line)
	}
	return m
}
