package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/stategen/stategen/runtime"
)

func ExampleStore_Runs() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stategen-example")
	defer os.RemoveAll(dir)
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	for i, team := range []string{"red", "blue", "red", "red"} {
		ns := fmt.Sprintf("run%d", i)
		st.Put(ctx, ns, "phase", json.RawMessage(`"build"`))
		st.Label(ctx, ns, map[string]string{"team": team})
	}
	// Two runs a page, following the cursor.
	q := runtime.RunQuery{Labels: map[string]string{"team": "red"}, Limit: 2}
	for {
		page, err := st.Runs(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range page.Runs {
			fmt.Println(r.Namespace, r.Labels["team"])
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	// Output:
	// run0 red
	// run2 red
	// run3 red
}

func ExampleStore_Fork() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stategen-example")
	defer os.RemoveAll(dir)
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	st.Put(ctx, "a1b2c3d4", "plan", json.RawMessage(`"v1"`))
	st.Checkpoint(ctx, "a1b2c3d4", "after_plan")
	st.Put(ctx, "a1b2c3d4", "plan", json.RawMessage(`"v2"`))

	// Try another build from the same plan, in a run of its own.
	if _, err := st.Fork(ctx, "a1b2c3d4", "after_plan", "e5f6a7b8"); err != nil {
		log.Fatal(err)
	}
	v, _ := st.Get(ctx, "e5f6a7b8", "plan")
	run, _ := st.Run(ctx, "e5f6a7b8")
	fmt.Println(string(v.Data), run.Parent)
	// Output: "v1" a1b2c3d4@after_plan
}
