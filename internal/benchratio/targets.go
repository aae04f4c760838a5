package main

import "fmt"

// target is the ratio a benchmark must stay within, against the first
// sub-benchmark of its group (the raw driver call, or the one-writer
// case), as the project's issues set them.
type target struct {
	max float64
}

// targets are keyed by the package-qualified sub-benchmark name that
// report prints.
var targets = map[string]target{
	"sqlite.BenchmarkWholeSave/full/stategen":   {1.3},
	"sqlite.BenchmarkWholeSave/normal/stategen": {2},
	"sqlite.BenchmarkWholeLoad/stategen":        {1.5},
	// The strict cache at least 10x faster than an uncached load, itself
	// within 1.5x of raw: at most 0.15x of raw.
	"sqlite.BenchmarkWholeLoad/strict-cache": {0.15},
	"sqlite.BenchmarkCheckpoint/stategen":    {2},
	// Listing 50 checkpoints of 1000 keys within 1.5x of 50 of 10 keys.
	"sqlite.BenchmarkCheckpointList/keys1000":   {1.5},
	"postgres.BenchmarkCheckpointList/keys1000": {1.5},
	"jsonfile.BenchmarkCheckpointList/keys1000": {1.5},
	"adw.BenchmarkCheckpointList/keys1000":      {1.5},
	// Eight writers at least three times the throughput of one: each
	// write at most a third of one writer's time.
	"sqlite.BenchmarkWriters/8": {1.0 / 3},
	// 1000 keys saved within 3x of one JSON document of them.
	"sqlite.BenchmarkWide/1000/stategen":  {3},
	"all.BenchmarkFileLoad/json/stategen": {2.5},
	// PostgreSQL within 1.15x of raw pgx running the same SQL.
	"postgres.BenchmarkSave/stategen":       {1.15},
	"postgres.BenchmarkLoad/stategen":       {1.15},
	"postgres.BenchmarkSaveState/stategen":  {1.15},
	"postgres.BenchmarkCheckpoint/stategen": {1.15},
	"all.BenchmarkFileLoad/adw/stategen":    {2.5},
	// A write fenced by a lease at most 1.2x an unfenced one.
	"all.BenchmarkFencedWrite/sqlite/fenced":   {1.2},
	"all.BenchmarkFencedWrite/json/fenced":     {1.2},
	"all.BenchmarkFencedWrite/adw/fenced":      {1.2},
	"all.BenchmarkFencedWrite/redis/fenced":    {1.2},
	"all.BenchmarkFencedWrite/postgres/fenced": {1.2},
	// A page of runs by label out of 10,000 within 2x of one out of 100.
	"sqlite.BenchmarkRunsByLabel/runs10000":   {2},
	"redis.BenchmarkRunsByLabel/runs10000":    {2},
	"postgres.BenchmarkRunsByLabel/runs10000": {2},
	// Redis: a whole-struct save within 1.2x of one raw HSET of its fields,
	// and listing 50 checkpoints of 1000 keys within 1.5x of 50 of 10.
	"redis.BenchmarkWholeSave/stategen":      {1.2},
	"redis.BenchmarkCheckpointList/keys1000": {1.5},
}

// verdict is what report prints after a ratio: nothing without a target.
func (t target) verdict(ratio float64) string {
	if t.max == 0 {
		return ""
	}
	if ratio <= t.max {
		return fmt.Sprintf("   target <= %.2fx: met", t.max)
	}
	return fmt.Sprintf("   target <= %.2fx: MISSED", t.max)
}
