// Package errunknowntype lacks the type asked for.
package errunknowntype

// State is not the type asked for.
type State struct{ A string }
