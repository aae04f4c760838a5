// Package minimal is the smallest state type.
package minimal

//go:generate go tool stategen gen --type=Minimal

// Minimal has one field.
type Minimal struct {
	Phase string
}
