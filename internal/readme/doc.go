// Package readme holds the test that follows README.md's quick start word
// for word in a new module outside the repository, so that the README and
// what works cannot drift apart.
package readme
