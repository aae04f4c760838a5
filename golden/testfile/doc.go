// Package testfile has a state type declared in a test file.
package testfile
