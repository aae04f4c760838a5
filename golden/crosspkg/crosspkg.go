// Package crosspkg uses types of other packages.
package crosspkg

import (
	"github.com/stategen/stategen/golden/crosspkg/other"
	otherv2 "github.com/stategen/stategen/golden/crosspkg/v2"
)

//go:generate go tool stategen gen --type=Job

// Job refers to other packages' types.
type Job struct {
	Ref    other.Ref
	Refs   map[string]other.Ref
	Pair   other.Pair[string, int]
	Level  otherv2.Level
	Levels []otherv2.Level
}
