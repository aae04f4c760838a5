// Command stategen generates typed state accessors for Go structs and
// inspects the stores they live in.
//
// Declare the state as a struct with state:"..." tags and let go generate
// run the generator beside it:
//
//	//go:generate go run github.com/stategen/stategen/cmd/stategen gen --type=ADWState
//
// gen writes <lowercased type>_state.go beside each type, and only when its
// bytes change, so that an unchanged file keeps its modification time. It is
// silent on success (-v lists each file); gen --check writes nothing and
// fails when a committed file is stale, for CI. The store commands
// (namespaces, load, save, checkpoint, diff, migrate...) take the store's URL
// from --store or STATEGEN_STORE. They print aligned tables for people and,
// with --json, stable JSON for scripts: each command's --help documents its
// shape. Values of keys that a schema linked into this binary marks secret
// print as [redacted] unless --show-secrets is given. Run 'stategen --help'
// for the commands and 'stategen gen --help' for the generator's flags.
//
// Exit status: 0 on success; 1 when the command failed (an input error, a
// stale file under 'gen --check', a store error); 2 when the command line
// itself is wrong (an unknown flag, a missing argument). Errors are printed
// on stderr, one line each, prefixed with "stategen: "; errors located in a
// source file are printed as "file:line:col: message" instead, so editors
// can jump to them.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
