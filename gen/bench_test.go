package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkGenerate times the stategen binary generating a small package
// against the stringer binary on the same package, in the same run: both
// load the package with go/packages, which is most of the work.
func BenchmarkGenerate(b *testing.B) {
	repo, err := filepath.Abs("..")
	if err != nil {
		b.Fatal(err)
	}
	bin := b.TempDir()
	build := func(out, pkg string) {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg)
		cmd.Dir = repo
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", pkg, err, msg)
		}
	}
	build("stringer", "golang.org/x/tools/cmd/stringer")
	build("stategen", "./cmd/stategen")

	mod := b.TempDir()
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		b.Fatal(err)
	}
	for name, content := range map[string]string{
		"go.mod": "module example.com/bench\n\ngo 1.26\n\nrequire github.com/stategen/stategen v0.0.0\n\nreplace github.com/stategen/stategen => " + repo + "\n",
		"go.sum": string(sum),
		"phase.go": `package bench

// Phase is a workflow phase.
type Phase int

const (
	Plan Phase = iota
	Build
	Test
	Review
	Document
)

// Run is a workflow run's state.
type Run struct {
	IssueNumber string
	BranchName  string
	Phase       Phase
	Done        []string
	Port        int
}
`,
	} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	tool := func(b *testing.B, name string, args ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	// Both outputs exist before timing starts, so that both tools load
	// the same package (the generated state file imports the runtime,
	// which the go command must then list too).
	tool(b, "stringer", "-type=Phase")
	tool(b, "stategen", "gen", "--type=Run")
	b.Run("stringer", func(b *testing.B) {
		for b.Loop() {
			tool(b, "stringer", "-type=Phase")
		}
	})
	b.Run("stategen", func(b *testing.B) {
		for b.Loop() {
			tool(b, "stategen", "gen", "--type=Run")
		}
	})
}
