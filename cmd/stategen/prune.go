package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// pruneCmd is 'stategen prune NS --keep-last N --max-age D [--dry-run]'.
type pruneCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) whose checkpoints to prune."`
	KeepLast  int    `placeholder:"N" help:"Keep the N newest checkpoints."`
	MaxAge    maxAge `placeholder:"D" help:"Keep the checkpoints younger than D: a Go duration (90m, 36h) or days (7d, 1d12h)."`
	DryRun    bool   `help:"Remove nothing; print what would be removed."`
}

func (pruneCmd) Help() string {
	return `Removes the checkpoints that no rule keeps: a checkpoint stays when it is
one of the --keep-last newest or younger than --max-age; give at least one.
Prints "removed checkpoint NS/NAME (created TIME)" for each one removed, or
"would remove ..." with --dry-run. A checkpoint that cannot be read (damaged
data) is never removed, nor counted by --keep-last, since its age is
unknown: a warning on stderr names it and says what is wrong, and the
command succeeds with the others pruned (delete or repair it by hand).

--json prints {"removed": [{"name": "...", "created": "...", "revision": 7,
"keys": 5, "schema": {...}}, ...], "dry_run": false, "unreadable": [...]}:
the removed (or, with --dry-run, doomed) checkpoints oldest first, as
'checkpoints --json' prints them, and the unreadable ones kept, each with
its "name" and "error" (omitted when there are none).`
}

// Validate makes a missing rule a usage error.
func (c *pruneCmd) Validate() error {
	switch {
	case c.KeepLast < 0:
		return fmt.Errorf("--keep-last %d: want a positive number", c.KeepLast)
	case c.KeepLast == 0 && c.MaxAge == 0:
		return errors.New("give --keep-last N, --max-age D or both")
	}
	return nil
}

// pruneJSON is what prune prints with --json.
type pruneJSON struct {
	Removed    []checkpointJSON `json:"removed"`
	DryRun     bool             `json:"dry_run"`
	Unreadable []checkpointJSON `json:"unreadable,omitempty"`
}

func (c *pruneCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	open := e.withStore
	if c.DryRun {
		open = e.withReader
	}
	return open(func(ctx context.Context, st *runtime.Store) error {
		// The listing names what cannot be read, and why; Prune keeps
		// those and says only that it did.
		list, err := st.Checkpoints(ctx, c.Namespace)
		if err != nil {
			return err
		}
		var unreadable []runtime.CheckpointInfo
		for _, cp := range list {
			if cp.Err != nil {
				unreadable = append(unreadable, cp)
			}
		}
		r := runtime.Retention{KeepLast: c.KeepLast, MaxAge: time.Duration(c.MaxAge)}
		prune := st.Prune
		if c.DryRun {
			prune = st.Prunable
		}
		removed, err := prune(ctx, c.Namespace, r)
		if errors.Is(err, runtime.ErrCorrupt) && len(unreadable) > 0 {
			err = nil // the warnings below say it
		}
		warnUnreadable(e.stderr, c.Namespace, unreadable)
		if err != nil && len(removed) == 0 {
			return err
		}
		// A failure part way still reports what went, then the error.
		if len(removed) == 0 {
			if _, serr := statediff.Current(ctx, st, c.Namespace); serr != nil {
				return serr
			}
		}
		if e.JSON {
			out := pruneJSON{Removed: checkpointsJSON(removed), DryRun: c.DryRun}
			if len(unreadable) > 0 {
				out.Unreadable = checkpointsJSON(unreadable)
			}
			if werr := writeJSON(e.stdout, out); werr != nil {
				return werr
			}
			return err
		}
		verb := "removed"
		if c.DryRun {
			verb = "would remove"
		}
		if len(removed) == 0 {
			fmt.Fprintf(e.stdout, "no checkpoint of %s to remove\n", c.Namespace)
		}
		for _, cp := range removed {
			fmt.Fprintf(e.stdout, "%s checkpoint %s/%s (created %s)\n", verb, c.Namespace, cp.Name, timeText(cp.Created))
		}
		return err
	})
}

// maxAge is --max-age: a time.Duration that also takes days.
type maxAge time.Duration

// Decode implements kong.MapperValue.
func (m *maxAge) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("duration", &s); err != nil {
		return err
	}
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	*m = maxAge(d)
	return nil
}

// ageTerm is one number and unit of a duration.
var ageTerm = regexp.MustCompile(`^([0-9]*\.?[0-9]*)([a-zµμ]*)`)

// parseAge parses a positive Go duration ("90m", "1h30m") in which "d"
// also counts days of 24 hours ("7d", "1d12h", "1.5d").
func parseAge(s string) (time.Duration, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid age %q: %s (want a Go duration such as 90m or 36h, or days such as 7d)", s, why)
	}
	switch {
	case s == "":
		return 0, bad("empty")
	case s[0] == '-':
		return 0, bad("not positive")
	}
	var days float64
	var rest strings.Builder
	for in := s; in != ""; {
		m := ageTerm.FindStringSubmatch(in)
		switch {
		case m[1] == "" || m[1] == ".":
			return 0, bad(fmt.Sprintf("no number before %q", in))
		case m[2] == "":
			return 0, bad(fmt.Sprintf("no unit after %s (ns, us, ms, s, m, h or d)", m[1]))
		}
		in = in[len(m[0]):]
		if m[2] != "d" {
			rest.WriteString(m[0])
			continue
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, bad(err.Error())
		}
		days += n
	}
	var d time.Duration
	if rest.Len() > 0 {
		var err error
		if d, err = time.ParseDuration(rest.String()); err != nil {
			return 0, bad(strings.TrimPrefix(err.Error(), "time: "))
		}
	}
	dayPart := days * float64(24*time.Hour)
	if dayPart+float64(d) >= math.MaxInt64 {
		return 0, bad("too long")
	}
	d += time.Duration(dayPart)
	if d <= 0 {
		return 0, bad("not positive")
	}
	return d, nil
}
