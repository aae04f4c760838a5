package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

// rekeyCmd is 'stategen rekey [NS...]'.
type rekeyCmd struct {
	Namespace []string `arg:"" optional:"" name:"NS" help:"Namespaces to rekey (default: all)."`
}

func (rekeyCmd) Help() string {
	return `Seals every secret value of each namespace, in its state and its
checkpoints, under the primary key of STATEGEN_KEYS (the first key): values
sealed under another key are opened and sealed again, secret values stored
in the clear (written before keys were configured) are sealed. Then it
verifies that every secret value is sealed under the primary key and opens.
Values already sealed under the primary are left alone, so rekey can be run
again, and an interrupted rekey simply run again: each write is atomic and
loses nothing. Once it has run over every namespace, a retired key can be
removed from STATEGEN_KEYS.

Prints a line per namespace and a summary; --json prints
[{"namespace": "...", "values": 3, "checkpoints": 2}, ...]. A namespace
that does not verify fails the command (exit status 1).`
}

type rekeyJSON struct {
	Namespace   string `json:"namespace"`
	Values      int    `json:"values"`
	Checkpoints int    `json:"checkpoints"`
}

func (c *rekeyCmd) Run(e *env) error {
	names := dedup(c.Namespace)
	for _, ns := range names {
		if err := checkNames("namespace", ns); err != nil {
			return err
		}
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		if st.Keyring() == nil {
			return errors.New("rekey needs keys: set STATEGEN_KEYS to the keys, the new primary first (stategen keygen makes one)")
		}
		if len(names) == 0 {
			var err error
			if names, err = st.Namespaces(ctx); err != nil {
				return err
			}
		}
		var out []rekeyJSON
		values, cps := 0, 0
		for _, ns := range names {
			res, err := rekey(ctx, st, ns)
			if err != nil {
				return err
			}
			values, cps = values+res.Values, cps+res.Checkpoints
			out = append(out, rekeyJSON{Namespace: ns, Values: res.Values, Checkpoints: res.Checkpoints})
			if !e.JSON {
				fmt.Fprintf(e.stdout, "%s: %s and %s sealed anew\n", ns, plural(res.Values, "value"), plural(res.Checkpoints, "checkpoint"))
			}
		}
		if e.JSON {
			return writeJSON(e.stdout, out)
		}
		_, err := fmt.Fprintf(e.stdout, "rekeyed %s under key %s: %s and %s sealed anew, every secret value verified\n",
			plural(len(names), "namespace"), st.Keyring().Primary(), plural(values, "value"), plural(cps, "checkpoint"))
		return err
	})
}

// rekey rekeys one namespace and verifies it.
func rekey(ctx context.Context, st *runtime.Store, ns string) (runtime.RekeyResult, error) {
	res, err := st.Rekey(ctx, ns)
	if err != nil {
		return res, err
	}
	if len(res.Unreadable) > 0 {
		return res, fmt.Errorf("namespace %s: checkpoints that cannot be read were left as they are: %v", ns, res.Unreadable)
	}
	return res, st.CheckSealed(ctx, ns)
}

// keygenCmd is 'stategen keygen [ID]'.
type keygenCmd struct {
	ID string `arg:"" optional:"" default:"k1" help:"The key's id, recorded with every value it seals (default k1)."`
}

func (keygenCmd) Help() string {
	return `Prints a new random 256-bit key as ID:HEX, the form STATEGEN_KEYS takes
(inline, keys separated by commas, or the path of a file with one key per
line; the first key seals, the others only open). Keep it secret: whoever
has it reads the sealed values.`
}

func (c *keygenCmd) Run(e *env) error {
	line, err := runtime.NewKey(c.ID)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, line)
	return err
}
