package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func typeOf(version int, fields ...Field) *Type {
	return &Type{Name: "ADWState", Version: version, Fields: fields}
}

var (
	adwID  = Field{GoName: "ADWID", Key: "adw_id", Kind: KindString, Required: true}
	branch = Field{GoName: "BranchName", Key: "branch_name", Kind: KindString}
	port   = Field{GoName: "Port", Key: "port", Kind: KindNumber}
)

func TestLockCompatibleChanges(t *testing.T) {
	l, err := (*Lock)(nil).Apply(typeOf(1, adwID, branch))
	if err != nil {
		t.Fatal(err)
	}
	withDefault := branch
	withDefault.Default = []byte(`"main"`)
	for name, next := range map[string]*Type{
		"a new optional field":         typeOf(1, adwID, branch, port),
		"another order":                typeOf(1, branch, adwID),
		"a new default":                typeOf(1, adwID, withDefault),
		"a required key made optional": typeOf(1, Field{GoName: "ADWID", Key: "adw_id", Kind: KindString}, branch),
	} {
		got, err := l.Apply(next)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d := cmp.Diff(lockFields(next), got.Versions[0].Fields); len(got.Versions) != 1 || d != "" {
			t.Errorf("%s: lock not updated in place (-want +got):\n%s", name, d)
		}
	}
}

func TestLockBreakingChanges(t *testing.T) {
	l, _ := (*Lock)(nil).Apply(typeOf(2, adwID, branch, port))
	renamed := branch
	renamed.Key = "branch"
	portString := port
	portString.Kind = KindString
	portRequired := port
	portRequired.Required = true
	for name, tc := range map[string]struct {
		next *Type
		want string
	}{
		"removed":      {typeOf(2, adwID, port), `key "branch_name" (field BranchName) was removed`},
		"renamed":      {typeOf(2, adwID, renamed, port), `key "branch_name" of field BranchName was renamed to "branch"`},
		"kind":         {typeOf(2, adwID, branch, portString), `key "port" changed its JSON kind from number to string`},
		"required":     {typeOf(2, adwID, branch, portRequired), `key "port" became required`},
		"new required": {typeOf(2, adwID, branch, port, Field{GoName: "Token", Key: "token", Kind: KindString, Required: true}), `new key "token" is required`},
	} {
		_, err := l.Apply(tc.next)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, want := range []string{tc.want, "stored version 2 state", "bump to //stategen:version 3", "func migrateADWStateV2(m *runtime.Migration) error"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", name, want, err)
			}
		}
	}
	// The same change with a version bump is fine, and keeps the old version.
	got, err := l.Apply(typeOf(3, adwID, port))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Versions) != 2 || got.Versions[0].Version != 2 || got.Versions[1].Version != 3 || len(got.Versions[0].Fields) != 3 {
		t.Errorf("after a bump: %+v", got.Versions)
	}
	// A key whose kind is unknown (a marshaler) is not checked.
	anyPort := port
	anyPort.Kind = KindAny
	if _, err := l.Apply(typeOf(2, adwID, branch, anyPort)); err != nil {
		t.Errorf("a kind change to any: %v", err)
	}
}

func TestLockVersionsOnlyGoUp(t *testing.T) {
	l, _ := (*Lock)(nil).Apply(typeOf(3, adwID))
	if _, err := l.Apply(typeOf(2, adwID)); err == nil || !strings.Contains(err.Error(), "versions only go up") {
		t.Errorf("version down: %v", err)
	}
	other := &Type{Name: "Other", Version: 3, Fields: []Field{adwID}}
	if _, err := l.Apply(other); err == nil || !strings.Contains(err.Error(), "not Other") {
		t.Errorf("lock of another type: %v", err)
	}
}

func TestLockFile(t *testing.T) {
	l, _ := (*Lock)(nil).Apply(typeOf(2, adwID, port))
	l, _ = l.Apply(typeOf(3, adwID))
	data := l.Marshal()
	want := `{
  "type": "ADWState",
  "versions": [
    {
      "version": 2,
      "fields": [
        {
          "key": "adw_id",
          "field": "ADWID",
          "kind": "string",
          "required": true
        },
        {
          "key": "port",
          "field": "Port",
          "kind": "number"
        }
      ]
    },
    {
      "version": 3,
      "fields": [
        {
          "key": "adw_id",
          "field": "ADWID",
          "kind": "string",
          "required": true
        }
      ]
    }
  ]
}
`
	if d := cmp.Diff(want, string(data)); d != "" {
		t.Errorf("lock file (-want +got):\n%s", d)
	}
	back, err := ParseLock(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(l, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	for _, bad := range []string{`{`, `{"type":"X","versions":[],"extra":1}`} {
		if _, err := ParseLock([]byte(bad)); err == nil || !strings.Contains(err.Error(), "restore it from version control") {
			t.Errorf("ParseLock(%s): %v", bad, err)
		}
	}
}
