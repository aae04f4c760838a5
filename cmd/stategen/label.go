package main

import (
	"context"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

// labelCmd is 'stategen label NS K=V...'.
type labelCmd struct {
	Namespace string   `arg:"" name:"NS" help:"Namespace (workflow run) to label."`
	Labels    []string `arg:"" name:"K=V" help:"Labels to set; K= removes label K."`
}

func (labelCmd) Help() string {
	return `Sets the run's labels in one atomic write; KEY= removes a label. Label
keys are names (letters, digits, '_', '-', '.'); values are up to 256
bytes of printable text. Prints "labelled NS: k=v,..." with the run's
labels after the write. 'namespaces --label K=V' finds runs by label.

--json prints {"namespace": "...", "revision": 7, "labels": {...}}.`
}

func (c *labelCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	labels, err := parseLabels(c.Labels)
	if err != nil {
		return err
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		if _, err := st.Label(ctx, c.Namespace, labels); err != nil {
			return err
		}
		r, err := st.Run(ctx, c.Namespace)
		if err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, map[string]any{"namespace": c.Namespace, "revision": r.Revision, "labels": r.Labels})
		}
		fmt.Fprintf(e.stdout, "labelled %s: %s\n", c.Namespace, labelsText(r.Labels))
		return nil
	})
}
