package gen

import (
	"fmt"
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
		// go/packages says no more when the go command itself failed.
		return nil, Errors{{Msg: fmt.Sprintf("no Go package matches %s: 'go list %s' says why (a module whose generated code is new may need 'go mod tidy')", pattern, pattern)}}
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
