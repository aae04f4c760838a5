package gen

import (
	"encoding/json"
	"fmt"
	"go/types"

	"github.com/stategen/stategen/schema"
)

// typeChecker decides whether values of a type survive a JSON round trip
// through encoding/json, the rule for every persisted field.
type typeChecker struct {
	pkg  *types.Package
	seen map[types.Type]bool // named types being checked, for recursive types
}

func newTypeChecker(pkg *types.Package) *typeChecker {
	return &typeChecker{pkg: pkg, seen: map[types.Type]bool{}}
}

// check returns why t would be lost or changed by a JSON round trip, or "".
func (c *typeChecker) check(t types.Type) string {
	if _, ok := t.(*types.Named); ok {
		if c.seen[t] {
			return ""
		}
		c.seen[t] = true
	}
	switch m := marshalers(t); {
	case m.json == both || m.text == both:
		return "" // the type says how it round-trips
	case m.json == encodeOnly:
		return "it has MarshalJSON but no UnmarshalJSON (on its pointer), so it would be written but could not be read back"
	case m.text == encodeOnly && m.json == none:
		return "it has MarshalText but no UnmarshalText (on its pointer), so it would be written but could not be read back"
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.Invalid:
			return "its type does not compile"
		case u.Info()&types.IsComplex != 0:
			return "complex numbers have no JSON form"
		case u.Kind() == types.UnsafePointer:
			return "unsafe.Pointer has no JSON form"
		}
		return ""
	case *types.Pointer:
		return c.elem("what it points to", u.Elem())
	case *types.Slice:
		return c.elem("its elements", u.Elem())
	case *types.Array:
		return c.elem("its elements", u.Elem())
	case *types.Map:
		if !mapKeyOK(u.Key()) {
			return "map keys must be strings, integers or types with MarshalText and UnmarshalText"
		}
		return c.elem("its values", u.Elem())
	case *types.Chan:
		return "channels have no JSON form"
	case *types.Signature:
		return "functions have no JSON form"
	case *types.Interface:
		return "an interface value would come back as map[string]any, []any or float64 and lose its type: use a concrete type, or one with its own UnmarshalJSON"
	case *types.Struct:
		visible := 0
		for i := range u.NumFields() {
			f := u.Field(i)
			if !f.Exported() && !f.Embedded() {
				continue
			}
			if jsonTagSkips(u.Tag(i)) {
				continue
			}
			visible++
			if r := c.check(f.Type()); r != "" {
				return fmt.Sprintf("its field %s: %s", f.Name(), r)
			}
		}
		if visible == 0 {
			return "none of its fields is exported, so it would be stored as {} and lose its content"
		}
		return ""
	case *types.TypeParam:
		return "a type parameter cannot be stored"
	}
	return fmt.Sprintf("%s has no JSON form stategen knows", t)
}

func (c *typeChecker) elem(what string, t types.Type) string {
	if r := c.check(t); r != "" {
		return what + ": " + r
	}
	return ""
}

func mapKeyOK(k types.Type) bool {
	if m := marshalers(k); m.text == both {
		return true
	}
	b, ok := k.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsString|types.IsInteger) != 0
}

func jsonTagSkips(tag string) bool {
	v, ok := lookupTag(tag, "json")
	return ok && v == "-"
}

type marshalKind int

const (
	none marshalKind = iota
	encodeOnly
	both
)

// marshalers says whether t has encoding/json's or encoding's methods.
func marshalers(t types.Type) (m struct{ json, text marshalKind }) {
	ptr := types.NewMethodSet(types.NewPointer(t))
	has := func(name string) bool { return ptr.Lookup(nil, name) != nil }
	kind := func(enc, dec string) marshalKind {
		switch {
		case has(enc) && has(dec):
			return both
		case has(enc):
			return encodeOnly
		}
		return none
	}
	m.json = kind("MarshalJSON", "UnmarshalJSON")
	m.text = kind("MarshalText", "UnmarshalText")
	return m
}

// checkAccessible refuses types the generated file could not name: an
// unexported type of another package.
func checkAccessible(t types.Type, pkg *types.Package) error {
	var walk func(types.Type) error
	seen := map[types.Type]bool{}
	walk = func(t types.Type) error {
		if seen[t] {
			return nil
		}
		seen[t] = true
		switch t := t.(type) {
		case *types.Named:
			obj := t.Obj()
			if obj.Pkg() != nil && obj.Pkg() != pkg && !obj.Exported() {
				return fmt.Errorf("type %s.%s is not exported by its package, so the generated code cannot name it", obj.Pkg().Name(), obj.Name())
			}
			for i := range t.TypeArgs().Len() {
				if err := walk(t.TypeArgs().At(i)); err != nil {
					return err
				}
			}
		case *types.Alias:
			return walk(types.Unalias(t))
		case *types.Pointer:
			return walk(t.Elem())
		case *types.Slice:
			return walk(t.Elem())
		case *types.Array:
			return walk(t.Elem())
		case *types.Map:
			if err := walk(t.Key()); err != nil {
				return err
			}
			return walk(t.Elem())
		case *types.Struct:
			return fmt.Errorf("an anonymous struct type cannot be named by the generated code: declare a named type for it")
		}
		return nil
	}
	return walk(t)
}

// jsonKind is the JSON kind encoding/json gives a type's values, for the
// lock file: a type with its own JSON methods is KindAny, one with text
// methods a string.
func jsonKind(t types.Type) schema.Kind {
	switch m := marshalers(t); {
	case m.json == both:
		return schema.KindAny
	case m.text == both:
		return schema.KindString
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsString != 0:
			return schema.KindString
		case u.Info()&types.IsBoolean != 0:
			return schema.KindBoolean
		}
		return schema.KindNumber
	case *types.Pointer:
		return jsonKind(u.Elem())
	case *types.Slice:
		if b, ok := u.Elem().(*types.Basic); ok && b.Kind() == types.Byte {
			return schema.KindString // base64
		}
		return schema.KindArray
	case *types.Array:
		return schema.KindArray
	}
	return schema.KindObject
}

// nullZeroProblem says why the nullzero option cannot apply to t, or "":
// it needs a zero value to tell, which comparable types, slices and maps
// have; a pointer already stores nil as null.
func nullZeroProblem(t types.Type, q types.Qualifier) string {
	switch t.Underlying().(type) {
	case *types.Pointer:
		return "is for fields that are not pointers: a pointer field already stores nil as null, so drop nullzero"
	case *types.Slice, *types.Map:
		return ""
	}
	if !types.Comparable(t) {
		return fmt.Sprintf("needs a type whose zero value can be told (a comparable type, a slice or a map), and %s is none of them: make the field a pointer, which stores nil as null", types.TypeString(t, q))
	}
	return ""
}

// defaultProblem says why a field's default cannot be its value, or "":
// a default of another JSON kind than the field's (null is every kind's).
func defaultProblem(f schema.Field, t types.Type, q types.Qualifier) string {
	if f.Default == nil || f.Kind == schema.KindAny {
		return ""
	}
	var v any
	if err := json.Unmarshal(f.Default, &v); err != nil {
		return "" // schema.Check reports invalid JSON
	}
	kind := schema.KindObject
	switch v.(type) {
	case nil:
		return ""
	case string:
		kind = schema.KindString
	case float64:
		kind = schema.KindNumber
	case bool:
		kind = schema.KindBoolean
	case []any:
		kind = schema.KindArray
	}
	if kind != f.Kind {
		return fmt.Sprintf("default %s is a JSON %s, but the field's type %s holds a JSON %s: give a default of its kind", f.Default, kind, types.TypeString(t, q), f.Kind)
	}
	return ""
}
