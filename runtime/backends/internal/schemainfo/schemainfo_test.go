package schemainfo

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stategen/stategen/runtime"
)

func TestRoundTrip(t *testing.T) {
	ref := runtime.SchemaRef{Name: "adw", Version: 2, Keys: []string{"a", "b"}, Secret: []string{"b"}}
	meta := runtime.CheckpointMeta{Labels: map[string]string{"team": "x"}, Restored: &runtime.CheckpointRef{Namespace: "n", Checkpoint: "c"}}
	col, ok, err := EncodeCheckpoint(ref, meta)
	if err != nil || !ok {
		t.Fatalf("EncodeCheckpoint: %q %v %v", col, ok, err)
	}
	for range 2 { // decoded, then from the memo
		got := runtime.SchemaRef{Name: "adw", Version: 2}
		gotMeta, err := Decode("checkpoint c", col, &got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ref) || !reflect.DeepEqual(gotMeta, meta) {
			t.Fatalf("Decode = %+v %+v, want %+v %+v", got, gotMeta, ref, meta)
		}
	}
	if col, ok, err := Encode(runtime.SchemaRef{Name: "adw", Version: 1}); ok || col != "" || err != nil {
		t.Errorf("Encode of a schema without keys = %q %v %v, want NULL", col, ok, err)
	}
	if col, ok, _ := EncodeCheckpoint(runtime.SchemaRef{}, meta); !ok || col == "" {
		t.Errorf("EncodeCheckpoint of meta only = NULL, want the meta")
	}
}

// What Decode returns is the caller's: changing it changes nothing the
// next caller of the same column sees.
func TestDecodeReturnsCopies(t *testing.T) {
	col := `{"keys":["a","b"],"secret":["b"],"labels":{"team":"x"},"restored":{"namespace":"n","checkpoint":"c"}}`
	var first runtime.SchemaRef
	meta, err := Decode("here", col, &first)
	if err != nil {
		t.Fatal(err)
	}
	first.Keys[0], first.Secret[0] = "changed", "changed"
	meta.Labels["team"] = "changed"
	meta.Restored.Checkpoint = "changed"

	var second runtime.SchemaRef
	meta2, err := Decode("here", col, &second)
	if err != nil {
		t.Fatal(err)
	}
	if second.Keys[0] != "a" || second.Secret[0] != "b" || meta2.Labels["team"] != "x" || meta2.Restored.Checkpoint != "c" {
		t.Fatalf("a caller's change reached the next caller: %+v %+v", second, meta2)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	var ref runtime.SchemaRef
	_, err := Decode("checkpoint c", `{"keys": 7}`, &ref)
	if !errors.Is(err, runtime.ErrCorrupt) {
		t.Fatalf("Decode of a damaged column = %v, want ErrCorrupt", err)
	}
}

func TestMemoBounded(t *testing.T) {
	for i := range maxMemo + 10 {
		col, _, _ := EncodeCheckpoint(runtime.SchemaRef{Keys: []string{string(rune('a' + i%26))}}, runtime.CheckpointMeta{Labels: map[string]string{"i": string(rune(i))}})
		var ref runtime.SchemaRef
		if _, err := Decode("here", col, &ref); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	memo.Range(func(any, any) bool { n++; return true })
	if n > maxMemo {
		t.Fatalf("memo holds %d columns, more than %d", n, maxMemo)
	}
}
