// Command stategen generates typed state accessors for Go structs and
// inspects the stores they live in.
//
// Declare the state as a struct with state:"..." tags and let go generate
// run the generator beside it, as a tool of your module (go get -tool, or
// go mod edit -tool, adds it; Go 1.24 or later):
//
//	//go:generate go tool stategen gen --type=ADWState
//
// gen writes <lowercased type>_state.go beside each type, and only when its
// bytes change, so that an unchanged file keeps its modification time. It is
// silent on success (-v lists each file); gen --check writes nothing and
// fails when a committed file is stale, for CI. The store commands
// (namespaces, load, save, checkpoint, diff, migrate...) take the store's URL
// from --store or STATEGEN_STORE. They print aligned tables for people and,
// with --json, stable JSON for scripts: each command's help documents its
// shape. Commands that only read (namespaces, keys, load, dump,
// checkpoints, diff, prune --dry-run, and migrate's --from) open the store
// read-only: one that does not exist is reported ("no store at ...") and
// never created. Values of keys marked secret print as [redacted] unless
// --show-secrets is given: the program that wrote the state records which
// keys are secret with its schema, so every stategen binary knows them.
// Run 'stategen help' for the commands, 'stategen help COMMAND' (or
// 'stategen COMMAND --help') for one of them, and 'stategen --version' for
// the version this binary was built from.
//
// Exit status: 0 on success; 1 when the command failed (an input error, a
// stale file under 'gen --check', a store error) or, for 'diff
// --exit-code', when there are differences; 2 when the command line itself
// is wrong (an unknown flag, a missing argument), or is empty (the usage is
// then printed on stderr, as the go command does). Errors are printed on
// stderr, one line each, prefixed with "stategen: " and ending, for a
// wrong command line, with the failing command's help to see; errors
// located in a source file are printed as "file:line:col: message"
// instead, so editors can jump to them.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
