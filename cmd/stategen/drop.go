package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

// dropCmd is 'stategen drop NS --yes'.
type dropCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) to delete."`
	Yes       bool   `help:"Really delete it: without this flag nothing is deleted."`
}

func (dropCmd) Help() string {
	return `Deletes the whole run NS: its state, every checkpoint, its lease and its
labels, all at once (no reader ever sees part of it gone). It cannot be
undone, so it needs --yes; without it the command fails and changes
nothing. A later write to NS starts a new run. On the file backends the
run's directory goes whole, with any file stategen did not write.

--json prints {"dropped": "NS"}.`
}

func (c *dropCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	if !c.Yes {
		return errors.New("drop deletes " + c.Namespace + " with its checkpoints for good: give --yes to do it")
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		if err := st.Drop(ctx, c.Namespace); err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, map[string]string{"dropped": c.Namespace})
		}
		fmt.Fprintf(e.stdout, "dropped %s\n", c.Namespace)
		return nil
	})
}

// gcCmd is 'stategen gc [--dry-run]'.
type gcCmd struct {
	DryRun bool `help:"Delete nothing; print the runs that would be deleted."`
}

func (gcCmd) Help() string {
	return `Deletes, as drop does, every run idle longer than the TTL it was written
with (runtime.WithTTL records it with the run, so gc needs no option).
Prints "dropped NS (idle since TIME, ttl D)" for each, or "would drop ..."
with --dry-run. Redis expires such runs by itself; gc finds the rest.

--json prints {"dropped": [{"namespace": "...", "updated": "...", "ttl":
N}, ...], "dry_run": false}.`
}

func (c *gcCmd) Run(e *env) error {
	open := e.withStore
	if c.DryRun {
		open = e.withReader
	}
	return open(func(ctx context.Context, st *runtime.Store) error {
		gc := st.GC
		if c.DryRun {
			gc = st.Expired
		}
		runs, err := gc(ctx)
		if e.JSON {
			out := struct {
				Dropped []runJSON `json:"dropped"`
				DryRun  bool      `json:"dry_run"`
			}{Dropped: []runJSON{}, DryRun: c.DryRun}
			for _, r := range runs {
				out.Dropped = append(out.Dropped, runJSON{Namespace: r.Namespace, Revision: r.Revision, Schema: schemaJSON(r.Schema), Updated: timeJSON(r.Updated), TTL: r.TTL})
			}
			if werr := writeJSON(e.stdout, out); werr != nil {
				return werr
			}
			return err
		}
		verb := "dropped"
		if c.DryRun {
			verb = "would drop"
		}
		for _, r := range runs {
			fmt.Fprintf(e.stdout, "%s %s (idle since %s, ttl %s)\n", verb, r.Namespace, timeText(r.Updated), r.TTL)
		}
		if len(runs) == 0 && err == nil {
			fmt.Fprintln(e.stdout, "no expired run")
		}
		return err
	})
}
