package main

import (
	"context"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

// forkCmd is 'stategen fork NS CHECKPOINT NEWNS'.
type forkCmd struct {
	Namespace  string `arg:"" name:"NS" help:"Namespace (workflow run) to fork."`
	Checkpoint string `arg:"" name:"CHECKPOINT" help:"Its checkpoint the new run starts as."`
	New        string `arg:"" name:"NEWNS" help:"Namespace of the new run; it must not exist."`
}

func (forkCmd) Help() string {
	return `Starts run NEWNS as exactly checkpoint CHECKPOINT of run NS (its values
and schema, in one atomic write) and records NS@CHECKPOINT as its parent,
which 'namespaces' and 'checkpoints' show. Fails, changing nothing, when
NEWNS exists. Secret values sealed for NS are sealed again for NEWNS, which
needs the keys (STATEGEN_KEYS). Labels are not copied.

--json prints {"namespace": "NEWNS", "revision": 1, "parent": {"namespace":
"NS", "checkpoint": "CHECKPOINT"}}.`
}

func (c *forkCmd) Run(e *env) error {
	for _, n := range []struct{ kind, name string }{{"namespace", c.Namespace}, {"checkpoint", c.Checkpoint}, {"namespace", c.New}} {
		if err := checkNames(n.kind, n.name); err != nil {
			return err
		}
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		rev, err := st.Fork(ctx, c.Namespace, c.Checkpoint, c.New)
		if err != nil {
			return err
		}
		parent := runtime.CheckpointRef{Namespace: c.Namespace, Checkpoint: c.Checkpoint}
		if e.JSON {
			return writeJSON(e.stdout, map[string]any{"namespace": c.New, "revision": rev, "parent": parent})
		}
		fmt.Fprintf(e.stdout, "forked %s from %s (revision %d)\n", c.New, parent, rev)
		return nil
	})
}
