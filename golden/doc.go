// Package golden holds the generator's golden cases, one package per
// directory: the input, an args file with the generator's flags, and either
// the exact generated file (beside the input, so that the module's vet and
// tests compile it) or, for a case that must fail, the exact stderr.
// gen's TestGolden checks them; `make golden` rewrites them.
package golden
