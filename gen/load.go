package gen

import (
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/tools/go/packages"
)

// loadMode is what stategen needs of a package: its files' syntax (for doc
// comments and positions) and types. Never NeedDeps: dependencies' types
// come from export data, which keeps loading fast.
const loadMode = packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo

// load loads the package, and with tests its test variants too (a state
// type may be declared in a test file; loading them costs a second
// type-check, so Generate asks for them only when it must).
func load(cfg Config, tests bool) ([]*packages.Package, error) {
	pattern := cfg.Pattern
	if pattern == "" {
		pattern = "."
	}
	lc := &packages.Config{Mode: loadMode, Dir: cfg.Dir, Tests: tests}
	if len(cfg.Tags) > 0 {
		lc.BuildFlags = []string{"-tags=" + strings.Join(cfg.Tags, ",")}
	}
	pkgs, err := packages.Load(lc, pattern)
	if err != nil {
		return nil, Errors{{Msg: fmt.Sprintf("load %s: %v", pattern, err)}}
	}
	if len(pkgs) == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("load %s: %s", pattern, goListError(lc, pattern))}}
	}
	// A package that cannot be loaded at all is reported; type errors
	// elsewhere in the package are not ours to report while the state
	// type itself is sound (model.go checks its fields).
	for _, p := range pkgs {
		for _, e := range p.Errors {
			if e.Kind == packages.ListError && p.Types == nil {
				return nil, Errors{{Msg: e.Error()}}
			}
		}
	}
	return pkgs, nil
}

// goListError asks the go command why it found no package: go/packages
// returns no package and no error when go list itself fails (a go.mod that
// needs tidying, say), so its message would otherwise be lost.
func goListError(lc *packages.Config, pattern string) string {
	args := append([]string{"list"}, lc.BuildFlags...)
	cmd := exec.Command("go", append(args, "--", pattern)...)
	cmd.Dir = lc.Dir
	out, err := cmd.CombinedOutput()
	if msg := strings.TrimSpace(string(out)); err != nil && msg != "" {
		return strings.ReplaceAll(msg, "\n", "; ")
	}
	return "no Go package matches"
}
