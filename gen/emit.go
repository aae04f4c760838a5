package gen

import (
	"bytes"
	"fmt"
	"go/types"
	"reflect"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
)

const runtimePath = "github.com/stategen/stategen/runtime"

// emitter writes one model's file. Generated code stays thin: the logic is
// in runtime (Key, Schema, StateStore), so fixing a bug there fixes every
// user's code without regenerating it.
type emitter struct {
	m *model
	f *jen.File
}

// emit renders the model's file, gofmt-formatted.
func emit(m *model) ([]byte, error) {
	e := &emitter{m: m, f: jen.NewFilePathName(m.pkgPath, m.pkgName)}
	e.f.HeaderComment(Header)
	if m.buildLine != "" {
		e.f.HeaderComment(m.buildLine)
	}
	// Name every import by its package name, so that paths like .../v2
	// never get invented aliases.
	e.f.ImportName(runtimePath, "runtime")
	e.f.ImportName("context", "context")
	e.f.ImportName("encoding/json", "json")
	e.keys()
	e.schema()
	e.constructor()
	e.guard()
	e.store()
	for _, fl := range m.fields {
		e.accessors(fl)
	}
	var buf bytes.Buffer
	if err := e.f.Render(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (e *emitter) keyConst(fl field) string { return e.m.name + "Key" + fl.GoName }

// keys emits the key constants and each field's typed key.
func (e *emitter) keys() {
	m := e.m
	e.f.Commentf("Storage keys of the fields of %s.", m.name)
	e.f.Const().DefsFunc(func(g *jen.Group) {
		for _, fl := range m.fields {
			g.Id(e.keyConst(fl)).Op("=").Lit(fl.Key)
		}
	})
	e.f.Line()
	e.f.Var().DefsFunc(func(g *jen.Group) {
		for _, fl := range m.fields {
			typ := e.typeCode(fl.typ)
			fields := []any{"Name", jen.Id(e.keyConst(fl))}
			if fl.Required {
				fields = append(fields, "Required", jen.True())
			}
			if fl.Secret {
				fields = append(fields, "Secret", jen.True())
			}
			if fl.Default != nil {
				fields = append(fields, "Default", jen.Qual("encoding/json", "RawMessage").Call(jen.Lit(string(fl.Default))))
			}
			fields = append(fields, "Codec", e.fieldCodec(fl, typ))
			g.Id(keyVar(m.name, fl.GoName)).Op("=").Op("&").Qual(runtimePath, "Key").Types(typ).Add(literal(fields...))
		}
	})
}

// schema emits TSchema.
func (e *emitter) schema() {
	m := e.m
	e.f.Commentf("%sSchema is the schema of %s: its name and version, recorded with", m.name, m.name)
	e.f.Comment("stored state, and its persisted fields.")
	defer func() {
		e.f.Line()
		e.f.Func().Id("init").Params().Block(jen.Qual(runtimePath, "RegisterSchema").Call(jen.Id(m.name + "Schema").Dot("Info").Call()))
	}()
	fields := []any{
		"Name", jen.Lit(m.name),
		"Version", jen.Lit(m.schema.Version),
		"Fields", jen.Index().Qual(runtimePath, "Field").Types(jen.Id(m.name)).ValuesFunc(func(g *jen.Group) {
			for _, fl := range m.fields {
				g.Line().Qual(runtimePath, "FieldOf").Call(
					jen.Id(keyVar(m.name, fl.GoName)),
					jen.Func().Params(jen.Id("v").Op("*").Id(m.name)).Op("*").Add(e.typeCode(fl.typ)).Block(
						jen.Return(jen.Op("&").Id("v").Dot(fl.GoName)),
					),
				)
			}
			g.Line()
		}),
	}
	if len(m.migrations) > 0 {
		fields = append(fields, "Migrations", jen.Map(jen.Int()).Qual(runtimePath, "MigrationFunc").ValuesFunc(func(g *jen.Group) {
			for i, name := range m.migrations {
				g.Line().Lit(i + 1).Op(":").Id(name)
			}
			g.Line()
		}))
	}
	e.f.Var().Id(m.name+"Schema").Op("=").Op("&").Qual(runtimePath, "Schema").Types(jen.Id(m.name)).Add(literal(fields...))
}

// constructor emits NewT, which returns a T with the tag defaults set.
func (e *emitter) constructor() {
	m := e.m
	var defaults []string
	for _, fl := range m.fields {
		if fl.Default != nil {
			defaults = append(defaults, fmt.Sprintf("%s %s", fl.GoName, fl.Default))
		}
	}
	e.f.Line()
	if len(defaults) == 0 {
		e.f.Commentf("New%s returns a new %s. Its fields have no defaults: it is the zero %s.", m.name, m.name, m.name)
	} else {
		e.f.Commentf("New%s returns a new %s with the defaults of its tags set (%s)", m.name, m.name, strings.Join(defaults, ", "))
		e.f.Comment("and every other field zero. Save writes every field, zero values too: start")
		e.f.Comment("from New" + m.name + ", not from a literal, so that the defaults are stored.")
	}
	e.f.Func().Id("New" + m.name).Params().Op("*").Id(m.name).Block(
		jen.Return(jen.Id(m.name + "Schema").Dot("New").Call()),
	)
}

// guard emits a compile-time check that the struct's fields (names,
// types, tags, order) are still what this file was generated for: an
// alias of the struct type as it was, to which a T literal must be
// assignable. The compiler's error names the alias, which says to run go
// generate. (A literal, not a variable: go vet would take a copy of a
// struct holding a mutex for a bug.)
func (e *emitter) guard() {
	m := e.m
	name := guardName(m.name)
	fields := make([]jen.Code, 0, len(m.all))
	for _, sf := range m.all {
		fields = append(fields, e.fieldDecl(sf))
	}
	e.f.Line()
	e.f.Commentf("%s is %s as this file was generated for. The build fails", name, m.name)
	e.f.Commentf("below, naming it, when the fields of %s (their names, types, tags or order)", m.name)
	e.f.Comment("changed since, so that no field is silently left unstored: run go generate.")
	e.f.Type().Id(name).Op("=").Struct(fields...)
	e.f.Line()
	e.f.Var().Id("_").Id(name).Op("=").Id(m.name).Values()
}

// fieldDecl is a struct field's declaration: name (unless embedded), type
// and tag.
func (e *emitter) fieldDecl(sf structField) jen.Code {
	f := e.anyTypeCode(sf.typ)
	if !sf.embedded {
		f = jen.Id(sf.name).Add(f)
	}
	if sf.tag != "" {
		f.Add(tagCode(sf.tag))
	}
	return f
}

// tagCode is a struct tag as Go source: a raw string literal when it can be
// one, an interpreted one otherwise.
func tagCode(tag string) jen.Code {
	if strconv.CanBackquote(tag) {
		return jen.Op("`" + tag + "`")
	}
	return jen.Lit(tag)
}

// literal is a composite literal's body with its fields in the order given
// (name, value, name, value...), one per line; jen.Dict would sort them.
func literal(pairs ...any) *jen.Statement {
	return jen.ValuesFunc(func(g *jen.Group) {
		for i := 0; i < len(pairs); i += 2 {
			g.Line().Id(pairs[i].(string)).Op(":").Add(pairs[i+1].(jen.Code))
		}
		g.Line()
	})
}

// store emits TStore and its constructor.
func (e *emitter) store() {
	m := e.m
	store := m.name + "Store"
	e.f.Commentf("%s is a typed view of one namespace (one workflow run) holding %s:", store, m.name)
	e.f.Comment("whole-struct Save, Load and Update, checkpoints, and an accessor per field.")
	e.f.Type().Id(store).Struct(jen.Op("*").Qual(runtimePath, "StateStore").Types(jen.Id(m.name)))
	e.f.Line()
	e.f.Commentf("New%s returns the view of namespace in st.", store)
	e.f.Func().Id("New"+store).Params(jen.Id("st").Op("*").Qual(runtimePath, "Store"), jen.Id("namespace").String()).
		Params(jen.Op("*").Id(store), jen.Error()).Block(
		jen.List(jen.Id("s"), jen.Err()).Op(":=").Qual(runtimePath, "NewStateStore").Call(jen.Id("st"), jen.Id("namespace"), jen.Id(m.name+"Schema")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Return(jen.Op("&").Id(store).Values(jen.Id("s")), jen.Nil()),
	)
	e.f.Line()
	e.f.Comment("Fork starts run newNamespace as exactly checkpoint name of this run, recording")
	e.f.Comment("its parent, and returns its view; newNamespace must not exist (runtime.ErrConflict).")
	e.f.Func().Params(jen.Id("s").Op("*").Id(store)).Id("Fork").
		Params(jen.Id("ctx").Qual("context", "Context"), jen.List(jen.Id("name"), jen.Id("newNamespace")).String()).
		Params(jen.Op("*").Id(store), jen.Error()).Block(
		jen.List(jen.Id("f"), jen.Err()).Op(":=").Id("s").Dot("StateStore").Dot("Fork").Call(jen.Id("ctx"), jen.Id("name"), jen.Id("newNamespace")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Return(jen.Op("&").Id(store).Values(jen.Id("f")), jen.Nil()),
	)
	e.f.Line()
	e.f.Commentf("WithLease returns a copy of the view whose every write (the whole struct's and each")
	e.f.Comment("field's) is fenced by l, a lease of its namespace: applied only while l is the run's")
	e.f.Comment("current lease, else nothing is written and the error matches runtime.ErrFenced.")
	e.f.Func().Params(jen.Id("s").Op("*").Id(store)).Id("WithLease").Params(jen.Id("l").Op("*").Qual(runtimePath, "Lease")).Op("*").Id(store).Block(
		jen.Return(jen.Op("&").Id(store).Values(jen.Id("s").Dot("StateStore").Dot("WithLease").Call(jen.Id("l")))),
	)
}

// accessors emits Save<F>, Load<F>, Delete<F> and Update<F>.
func (e *emitter) accessors(fl field) {
	m := e.m
	recv := jen.Id("s").Op("*").Id(m.name + "Store")
	key := jen.Id(keyVar(m.name, fl.GoName))
	at := []jen.Code{jen.Id("ctx"), jen.Id("s")}
	ctx := jen.Id("ctx").Qual("context", "Context")
	typ := e.typeCode(fl.typ)
	absent := "an absent key is an error matching runtime.ErrNotFound"
	if fl.Default != nil {
		absent = fmt.Sprintf("an absent key gives the default, %s", fl.Default)
	}
	start := "the zero value"
	if fl.Default != nil {
		start = "the default"
	}

	e.f.Line()
	e.f.Commentf("Save%s stores %s.", fl.GoName, fl.GoName)
	e.f.Func().Params(recv).Id("Save"+fl.GoName).Params(ctx, jen.Id("v").Add(typ)).Error().Block(
		jen.Return(key.Clone().Dot("Save").Call(append(at, jen.Id("v"))...)),
	)
	e.f.Line()
	e.f.Commentf("Load%s reads %s; %s.", fl.GoName, fl.GoName, absent)
	e.f.Func().Params(recv).Id("Load"+fl.GoName).Params(ctx).Params(typ, jen.Error()).Block(
		jen.Return(key.Clone().Dot("Load").Call(at...)),
	)
	e.f.Line()
	e.f.Commentf("Delete%s removes %s; an absent key is no error.", fl.GoName, fl.GoName)
	e.f.Func().Params(recv).Id("Delete" + fl.GoName).Params(ctx).Error().Block(
		jen.Return(key.Clone().Dot("Delete").Call(at...)),
	)
	e.f.Line()
	e.f.Commentf("Update%s replaces %s with fn's result (fn gets %s when the key is", fl.GoName, fl.GoName, start)
	e.f.Comment("absent), retrying on conflict with other writers until ctx ends.")
	e.f.Func().Params(recv).Id("Update"+fl.GoName).Params(ctx, jen.Id("fn").Func().Params(typ).Params(typ, jen.Error())).
		Params(typ, jen.Error()).Block(
		jen.Return(key.Clone().Dot("Update").Call(append(at, jen.Id("fn"))...)),
	)
}

// typeCode is the Go source of a field's type, qualified for the generated
// file's package.
func (e *emitter) typeCode(t types.Type) *jen.Statement {
	switch t := t.(type) {
	case *types.Basic:
		return jen.Id(t.Name())
	case *types.Named:
		return e.named(t.Obj(), t.TypeArgs())
	case *types.Alias:
		return e.named(t.Obj(), t.TypeArgs())
	case *types.Pointer:
		return jen.Op("*").Add(e.typeCode(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(e.typeCode(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(e.typeCode(t.Elem()))
	case *types.Map:
		return jen.Map(e.typeCode(t.Key())).Add(e.typeCode(t.Elem()))
	}
	// model.go refuses every other type before emit runs.
	panic(fmt.Sprintf("stategen: no source form for %T", t))
}

// anyTypeCode is typeCode for any type a struct field can have, stored or
// not (channels, functions, interfaces, anonymous structs), for the guard.
func (e *emitter) anyTypeCode(t types.Type) *jen.Statement {
	switch t := t.(type) {
	case *types.Pointer:
		return jen.Op("*").Add(e.anyTypeCode(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(e.anyTypeCode(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(e.anyTypeCode(t.Elem()))
	case *types.Map:
		return jen.Map(e.anyTypeCode(t.Key())).Add(e.anyTypeCode(t.Elem()))
	case *types.Chan:
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(e.anyTypeCode(t.Elem()))
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(e.anyTypeCode(t.Elem()))
		}
		return jen.Chan().Add(e.anyTypeCode(t.Elem()))
	case *types.Signature:
		return jen.Func().Add(e.signature(t))
	case *types.Interface:
		var methods []jen.Code
		for i := range t.NumEmbeddeds() {
			methods = append(methods, e.anyTypeCode(t.EmbeddedType(i)))
		}
		for i := range t.NumExplicitMethods() {
			fn := t.ExplicitMethod(i)
			methods = append(methods, jen.Id(fn.Name()).Add(e.signature(fn.Signature())))
		}
		return jen.Interface(methods...)
	case *types.Struct:
		var fields []jen.Code
		for i := range t.NumFields() {
			f := t.Field(i)
			fields = append(fields, e.fieldDecl(structField{name: f.Name(), typ: f.Type(), tag: t.Tag(i), embedded: f.Embedded()}))
		}
		return jen.Struct(fields...)
	}
	return e.typeCode(t)
}

// signature is a function type's parameters and results.
func (e *emitter) signature(sig *types.Signature) *jen.Statement {
	tuple := func(tup *types.Tuple, variadic bool) []jen.Code {
		var out []jen.Code
		for i := range tup.Len() {
			if variadic && i == tup.Len()-1 {
				out = append(out, jen.Op("...").Add(e.anyTypeCode(tup.At(i).Type().(*types.Slice).Elem())))
				continue
			}
			out = append(out, e.anyTypeCode(tup.At(i).Type()))
		}
		return out
	}
	s := jen.Params(tuple(sig.Params(), sig.Variadic())...)
	if sig.Results().Len() > 0 {
		s.Params(tuple(sig.Results(), false)...)
	}
	return s
}

func (e *emitter) named(obj *types.TypeName, args *types.TypeList) *jen.Statement {
	var s *jen.Statement
	if obj.Pkg() == nil || obj.Pkg().Path() == e.m.pkgPath {
		s = jen.Id(obj.Name())
	} else {
		e.f.ImportName(obj.Pkg().Path(), obj.Pkg().Name())
		s = jen.Qual(obj.Pkg().Path(), obj.Name())
	}
	if args.Len() > 0 {
		var codes []jen.Code
		for i := range args.Len() {
			codes = append(codes, e.typeCode(args.At(i)))
		}
		s = s.Types(codes...)
	}
	return s
}

// fieldCodec is a field's codec: its type's, wrapped so that nullzero
// stores the zero value as null, and so that otherwise a nil slice or map
// is stored as [] or {} rather than null.
func (e *emitter) fieldCodec(fl field, typ *jen.Statement) jen.Code {
	c := e.codecCode(fl.typ, typ)
	// A type with its own JSON or text methods says how its nil is stored.
	m := marshalers(fl.typ)
	own := m.json != none || m.text != none
	switch u := fl.typ.Underlying().(type) {
	case *types.Slice:
		if b, ok := u.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.Byte && !fl.NullZero {
			return c // base64: a string
		}
		if fl.NullZero {
			return jen.Qual(runtimePath, "NullZeroSlice").Call(c)
		}
		if !own {
			return jen.Qual(runtimePath, "EmptySlice").Call(c)
		}
	case *types.Map:
		if fl.NullZero {
			return jen.Qual(runtimePath, "NullZeroMap").Call(c)
		}
		if !own {
			return jen.Qual(runtimePath, "EmptyMap").Call(c)
		}
	default:
		if fl.NullZero {
			return jen.Qual(runtimePath, "NullZero").Call(c)
		}
	}
	return c
}

// codecCode picks a field's codec: the hand-written codecs (no
// reflection) for types whose underlying type is a scalar and that do not
// marshal themselves, and for slices of such strings; encoding/json on the
// concrete type otherwise.
func (e *emitter) codecCode(t types.Type, typ *jen.Statement) jen.Code {
	for basic, name := range map[types.BasicKind]string{types.String: "StringCodec", types.Int: "IntCodec", types.Int64: "Int64Codec", types.Bool: "BoolCodec", types.Float64: "Float64Codec"} {
		if types.Identical(t, types.Typ[basic]) {
			return jen.Qual(runtimePath, name)
		}
	}
	if m := marshalers(t); m.json == none && m.text == none {
		if b, ok := t.Underlying().(*types.Basic); ok {
			info := b.Info()
			ctor := ""
			switch {
			case info&types.IsString != 0:
				ctor = "StringOf"
			case info&types.IsBoolean != 0:
				ctor = "BoolOf"
			case info&types.IsUnsigned != 0:
				ctor = "UintOf"
			case info&types.IsInteger != 0:
				ctor = "IntOf"
			case info&types.IsFloat != 0:
				ctor = "FloatOf"
			}
			if ctor != "" {
				return jen.Qual(runtimePath, ctor).Types(typ.Clone()).Call()
			}
		}
	}
	// A slice (not a named one) of strings: the hand-written codec.
	if sl, ok := t.(*types.Slice); ok {
		elem := sl.Elem()
		if b, ok := elem.Underlying().(*types.Basic); ok && b.Info()&types.IsString != 0 {
			if m := marshalers(elem); m.json == none && m.text == none {
				if types.Identical(elem, types.Typ[types.String]) {
					return jen.Qual(runtimePath, "StringsCodec")
				}
				return jen.Qual(runtimePath, "StringsOf").Types(e.typeCode(elem)).Call()
			}
		}
	}
	return jen.Qual(runtimePath, "JSONCodec").Types(typ.Clone()).Call()
}

func lookupTag(tag, key string) (string, bool) {
	v, ok := reflect.StructTag(tag).Lookup(key)
	name, _, _ := strings.Cut(v, ",")
	return name, ok
}
