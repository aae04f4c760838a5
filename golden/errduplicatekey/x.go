// Package errduplicatekey stores two fields under one key.
package errduplicatekey

// Dup has a key clash.
type Dup struct {
	IssueNumber string
	Issue       string `state:"issue_number"`
}
