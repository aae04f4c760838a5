//go:build stategen_golden

package buildtags

// Tagged exists only with the stategen_golden build tag.
type Tagged struct {
	Mode string
}
