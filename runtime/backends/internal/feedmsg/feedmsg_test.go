package feedmsg

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stategen/stategen/runtime"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want runtime.Change
	}{
		{`{"ns":"a","rev":3,"put":["y","x"],"del":{}}`, runtime.Change{Namespace: "a", Kind: runtime.ChangeWrite, Revision: 3, Keys: []string{"x", "y"}}},
		{`{"ns":"a","rev":4,"del":["k"],"schema":true,"cp":"c","op":"restored"}`, runtime.Change{Namespace: "a", Kind: runtime.ChangeWrite, Revision: 4, Deleted: []string{"k"}, Schema: true, Checkpoint: "c", CheckpointOp: runtime.CheckpointRestored}},
		{`{"ns":"a","rev":4,"cp":"c","op":"created"}`, runtime.Change{Namespace: "a", Kind: runtime.ChangeCheckpoint, Revision: 4, Checkpoint: "c", CheckpointOp: runtime.CheckpointCreated}},
		{`{"ns":"a","rev":4,"cp":"c","op":"deleted"}`, runtime.Change{Namespace: "a", Kind: runtime.ChangeCheckpoint, Revision: 4, Checkpoint: "c", CheckpointOp: runtime.CheckpointDeleted}},
		{`{"ns":"a","rev":9,"big":true}`, runtime.Change{Namespace: "a", Kind: runtime.ChangeGap, FromRevision: 8, Revision: 9}},
	} {
		got, err := Decode([]byte(tc.msg))
		if err != nil {
			t.Errorf("%s: %v", tc.msg, err)
			continue
		}
		if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.msg, d)
		}
	}
	for _, bad := range []string{`{`, `{"rev":1}`} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, runtime.ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", bad, err)
		}
	}
}
