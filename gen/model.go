package gen

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/stategen/stategen/schema"
)

// model is everything emit needs for one state type.
type model struct {
	pkgPath, pkgName string
	name             string // the Go type name
	pos              token.Position
	output           string // the file to generate
	buildLine        string // the source file's //go:build line, if any
	schema           schema.Type
	fields           []field
	all              []structField // every field of the struct, for the guard
	migrations       []string      // migrate<T>V<n> for n = 1 .. version-1
}

// field is a persisted field and its Go type.
type field struct {
	schema.Field
	typ types.Type
}

// structField is one field of the struct as declared, persisted or not:
// what makes two struct types identical.
type structField struct {
	name     string
	typ      types.Type
	tag      string
	embedded bool
}

// storeMethods are the methods a generated store gets from
// runtime.StateStore; no per-field accessor may take one of their names.
var storeMethods = []string{"Save", "Load", "Update", "Checkpoint", "Restore", "Checkpoints", "DeleteCheckpoint", "Prune", "Fork", "Store", "Namespace"}

// accessorVerbs prefix the per-field accessors.
var accessorVerbs = []string{"Save", "Load", "Delete", "Update"}

// buildModel finds the type name in the loaded packages and checks it.
func buildModel(pkgs []*packages.Package, name, output string) (*model, error) {
	pkg, obj := findType(pkgs, name)
	if obj == nil {
		hint := ""
		if close, ok := schema.Closest(name, typeNames(pkgs)); ok {
			hint = fmt.Sprintf(" (did you mean %s?)", close)
		}
		return nil, &Error{Msg: fmt.Sprintf("type %s not found in package %s%s: check the name given to --type (it is case-sensitive)", name, pkgName(pkgs), hint)}
	}
	pos := pkg.Fset.Position(obj.Pos())
	fail := func(format string, args ...any) error {
		return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	if obj.IsAlias() {
		return nil, fail("%s is an alias: generate for the type it stands for", name)
	}
	named, _ := obj.Type().(*types.Named)
	if named != nil && named.TypeParams().Len() > 0 {
		return nil, fail("%s is generic: a state type must be a concrete struct (declare a named struct that holds the instantiation)", name)
	}
	st, ok := obj.Type().Underlying().(*types.Struct)
	if !ok {
		return nil, fail("%s is not a struct (its underlying type is %s): a state type is a struct whose fields are the state", name, obj.Type().Underlying())
	}
	file, spec := findDecl(pkg, obj)
	m := &model{pkgPath: pkg.PkgPath, pkgName: pkg.Name, name: name, pos: pos}
	m.output = outputPath(pos.Filename, name, output)
	m.buildLine = buildConstraint(file)

	var errs Errors
	version, found, err := schema.ParseVersion(docLines(spec))
	if err != nil {
		errs = append(errs, &Error{Pos: pos, Msg: fmt.Sprintf("%s: %v", name, err)})
	}
	if !found {
		version = 1
	}
	m.schema = schema.Type{Name: name, Version: version}

	tc := newTypeChecker(pkg.Types)
	for i := range st.NumFields() {
		f := st.Field(i)
		m.all = append(m.all, structField{name: f.Name(), typ: f.Type(), tag: st.Tag(i), embedded: f.Embedded()})
		fpos := pkg.Fset.Position(f.Pos())
		ferr := func(format string, args ...any) {
			errs = append(errs, &Error{Pos: fpos, Msg: fmt.Sprintf("field %s: ", f.Name()) + fmt.Sprintf(format, args...)})
		}
		raw, tagged := reflect.StructTag(st.Tag(i)).Lookup("state")
		tag, err := schema.ParseTag(raw)
		if err != nil {
			ferr("%v", err)
			continue
		}
		if tag.Skip {
			continue
		}
		switch {
		case f.Embedded():
			ferr("embedded fields are not persisted one by one: give the field a name, or tag it `state:\"-\"`")
			continue
		case !f.Exported():
			if tagged {
				ferr("unexported fields are never persisted: export it, or remove the state tag")
			}
			continue
		}
		if reason := tc.check(f.Type()); reason != "" {
			ferr("type %s cannot be stored: %s; to leave the field out of the state, tag it `state:\"-\"`", types.TypeString(f.Type(), types.RelativeTo(pkg.Types)), reason)
			continue
		}
		if err := checkAccessible(f.Type(), pkg.Types); err != nil {
			ferr("%v", err)
			continue
		}
		key := tag.Key
		if key == "" {
			key = schema.SnakeCase(f.Name())
		}
		sf := schema.Field{GoName: f.Name(), Key: key, Required: tag.Required, Secret: tag.Secret, NullZero: tag.NullZero, Default: tag.Default, Kind: jsonKind(f.Type()), Pos: fpos}
		if tag.NullZero {
			if reason := nullZeroProblem(f.Type(), types.RelativeTo(pkg.Types)); reason != "" {
				ferr("nullzero %s", reason)
				continue
			}
		}
		if reason := defaultProblem(sf, f.Type(), types.RelativeTo(pkg.Types)); reason != "" {
			ferr("%s", reason)
			continue
		}
		m.schema.Fields = append(m.schema.Fields, sf)
		m.fields = append(m.fields, field{Field: sf, typ: f.Type()})
		for _, verb := range accessorVerbs {
			for _, taken := range storeMethods {
				if verb+f.Name() == taken {
					ferr("its accessor %s would clash with the store's own %s method: rename the Go field (the key can stay, with a state:%q tag)", taken, taken, key)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(m.fields) == 0 {
		return nil, fail("%s has no field to persist: export a field (unexported fields and fields tagged state:\"-\" are not stored)", name)
	}
	if err := m.schema.Check(); err != nil {
		var fe *schema.FieldError
		if errors.As(err, &fe) {
			return nil, &Error{Pos: fe.Pos, Msg: fe.Msg}
		}
		return nil, &Error{Pos: pos, Msg: err.Error()}
	}
	if err := m.checkNames(pkg); err != nil {
		return nil, err
	}
	if err := m.findMigrations(pkg); err != nil {
		return nil, err
	}
	return m, nil
}

// findMigrations checks that the package defines each step from version 1
// to the type's version, as func migrate<T>V<n>(m *runtime.Migration) error.
func (m *model) findMigrations(pkg *packages.Package) error {
	var errs Errors
	for n := 1; n < m.schema.Version; n++ {
		name := fmt.Sprintf("migrate%sV%d", m.name, n)
		want := fmt.Sprintf("func %s(m *runtime.Migration) error", name)
		fn, ok := pkg.Types.Scope().Lookup(name).(*types.Func)
		switch {
		case !ok:
			errs = append(errs, &Error{Pos: m.pos, Msg: fmt.Sprintf("%s is version %d, so stored version %d state needs a migration: define %s", m.name, m.schema.Version, n, want)})
		case !isMigrationFunc(fn):
			errs = append(errs, &Error{Pos: pkg.Fset.Position(fn.Pos()), Msg: fmt.Sprintf("%s has the wrong signature: want %s", name, want)})
		default:
			m.migrations = append(m.migrations, name)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func isMigrationFunc(fn *types.Func) bool {
	sig := fn.Signature()
	if sig.Recv() != nil || sig.Params().Len() != 1 || sig.Results().Len() != 1 || sig.TypeParams().Len() > 0 {
		return false
	}
	ptr, ok := sig.Params().At(0).Type().(*types.Pointer)
	if !ok {
		return false
	}
	named, ok := ptr.Elem().(*types.Named)
	return ok && named.Obj().Name() == "Migration" && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == runtimePath &&
		types.Identical(sig.Results().At(0).Type(), types.Universe.Lookup("error").Type())
}

// findType looks the name up in each loaded package, preferring the
// package itself to its test variants, which repeat its declarations.
func findType(pkgs []*packages.Package, name string) (*packages.Package, *types.TypeName) {
	var bestPkg *packages.Package
	var best *types.TypeName
	for _, p := range pkgs {
		if p.Types == nil {
			continue
		}
		obj, ok := p.Types.Scope().Lookup(name).(*types.TypeName)
		if !ok {
			continue
		}
		if best == nil || !strings.Contains(p.ID, " [") && strings.Contains(bestPkg.ID, " [") {
			bestPkg, best = p, obj
		}
	}
	return bestPkg, best
}

// typeNames lists the types the loaded packages declare, for hints.
func typeNames(pkgs []*packages.Package) []string {
	var names []string
	for _, p := range pkgs {
		if p.Types == nil {
			continue
		}
		for _, n := range p.Types.Scope().Names() {
			if _, ok := p.Types.Scope().Lookup(n).(*types.TypeName); ok {
				names = append(names, n)
			}
		}
	}
	return names
}

func pkgName(pkgs []*packages.Package) string {
	for _, p := range pkgs {
		if p.PkgPath != "" {
			return p.PkgPath
		}
	}
	return "?"
}

// findDecl returns the file and type spec declaring obj.
func findDecl(pkg *packages.Package, obj types.Object) (*ast.File, *ast.GenDecl) {
	for _, f := range pkg.Syntax {
		if f.Pos() > obj.Pos() || obj.Pos() > f.End() {
			continue
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				if ts := s.(*ast.TypeSpec); ts.Name.Pos() == obj.Pos() {
					if ts.Doc != nil {
						return f, &ast.GenDecl{Doc: ts.Doc}
					}
					return f, gd
				}
			}
		}
		return f, nil
	}
	return nil, nil
}

// docLines is the raw text of a declaration's doc comment, directives
// included (ast.CommentGroup.Text drops them).
func docLines(gd *ast.GenDecl) string {
	if gd == nil || gd.Doc == nil {
		return ""
	}
	var lines []string
	for _, c := range gd.Doc.List {
		lines = append(lines, c.Text)
	}
	return strings.Join(lines, "\n")
}

// buildConstraint returns the file's //go:build line, which the generated
// file carries over so that it builds exactly when its source does.
func buildConstraint(f *ast.File) string {
	if f == nil {
		return ""
	}
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build ") {
				return c.Text
			}
		}
	}
	return ""
}

// outputPath is the file to generate for a type declared in src.
func outputPath(src, name, output string) string {
	dir := filepath.Dir(src)
	if output != "" {
		if filepath.IsAbs(output) {
			return output
		}
		return filepath.Join(dir, output)
	}
	suffix := "_state.go"
	if strings.HasSuffix(src, "_test.go") {
		suffix = "_state_test.go"
	}
	return filepath.Join(dir, strings.ToLower(name)+suffix)
}

// idents are the package-level names generated code declares for the model.
func (m *model) idents() []string {
	ids := []string{m.name + "Schema", m.name + "Store", "New" + m.name + "Store", "New" + m.name, guardName(m.name)}
	for _, f := range m.fields {
		ids = append(ids, m.name+"Key"+f.GoName, keyVar(m.name, f.GoName))
	}
	return ids
}

func keyVar(typeName, field string) string { return "key" + typeName + field }

// guardName is the type alias of the generated compile-time guard: the
// compiler's error names it when the struct changed, and it says what to
// do. The leading underscore keeps it out of the package's API.
func guardName(typeName string) string {
	return "_" + typeName + "_changed_since_generation_run_go_generate"
}

// checkNames refuses to generate names the package already declares
// (outside the file being regenerated).
func (m *model) checkNames(pkg *packages.Package) error {
	var errs Errors
	for _, id := range m.idents() {
		obj := pkg.Types.Scope().Lookup(id)
		if obj == nil || pkg.Fset.Position(obj.Pos()).Filename == m.output {
			continue
		}
		errs = append(errs, &Error{Pos: m.pos, Msg: fmt.Sprintf("%s: the generated code declares %s, which the package already declares: rename one of them", m.name, id)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
