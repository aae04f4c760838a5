// Package schema models a stategen state type and parses its declaration:
// the `state:"..."` struct tags of its fields and the //stategen:version
// directive of its doc comment. It is pure Go: the generator (package gen)
// loads the source and hands this package the strings it found.
//
// # Tags
//
// A persisted field carries a tag of the form
//
//	state:"KEY[,OPTION...]"
//
// KEY is the storage key. An empty KEY means the snake_case of the field
// name (see SnakeCase); an exported field without a state tag is persisted
// under that key too. The tag "-" alone means the field is not persisted.
//
// The options are:
//
//	required      the key must hold a value: Load refuses state without one, and
//	              writes refuse to leave it without one (runtime.ErrMissing);
//	              null and an empty string, array or object are no value, a
//	              number or boolean always is (0 and false included)
//	secret        the value is redacted by the CLI and never printed in errors or logs
//	nullzero      the field's zero value is stored as null, and null loads as
//	              the zero value: Python's Optional[X] = None without a pointer
//	              field (for a slice or map, nil and empty are stored as null);
//	              without it a nil slice or map is stored as [] or {}
//	default=JSON  the value used when the key is absent; JSON is any JSON value
//
// default= must be the last option: its JSON may itself hold commas and
// quotes, so it takes the whole rest of the tag. In Go source the quotes of
// a JSON string are escaped, as in any struct tag:
//
//	ADWID    string   `state:"adw_id,required"`
//	ModelSet string   `state:"model_set,default=\"base\""`
//	Tags     []string `state:"tags,secret,default=[\"a\",\"b\"]"`
//	Limits   Limits   `state:",default={\"cpu\":2,\"note\":\"a, b\"}"`
//	Port     int      `state:"backend_port,default=8080"`
//	Cache    []byte   `state:"-"`
//
// The rules ParseTag enforces, each refusal being an error that says what
// to write instead:
//
//   - No spaces around the key or an option: struct tags take none, and a
//     stray space would otherwise become part of a key. Whitespace inside
//     or around the default's JSON is JSON's own and is compacted away.
//   - An option is given at most once; empty options ("a,,required",
//     "a,") and unknown options are refused, the latter naming the known
//     ones.
//   - required and default= together are refused: a required key is never
//     absent, so its default could never be used; so are required and
//     nullzero: a required key never holds null.
//   - A key spelled like an option ("required", "secret", "nullzero", "default=...")
//     is refused: state:"required" is almost always a forgotten comma, as
//     in state:",required".
//   - "-" followed by anything ("-,required") is refused: write "-" alone
//     to skip a field, or choose a real key.
//
// The key's characters are checked by Type.Check (they must be a valid
// runtime key name), because only there is the field's Go name known to
// resolve an empty key.
//
// # Versions
//
// The schema version comes from a directive line in the type's doc comment,
// written with no space after the slashes, as Go directives are:
//
//	// ADWState is the state of one ADW run.
//	//
//	//stategen:version 2
//	type ADWState struct { ... }
//
// Without it the version is 1. See ParseVersion.
package schema
