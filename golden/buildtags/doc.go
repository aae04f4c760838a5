// Package buildtags has a state type that only builds with a tag.
package buildtags
