// Package errbadkey stores a field under a key that is no key.
package errbadkey

// Bad has a key with a slash.
type Bad struct {
	Path string `state:"a/b"`
}
