// Package errbadtag has bad state tags.
package errbadtag

// Tags has bad tags.
//
//stategen:versoin 2
type Tags struct {
	A string `state:"a,requird"`
	B string `state:"b,default=base"`
}
