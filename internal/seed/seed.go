// Package seed turns a command's one seed into named, independent random streams, so that a
// change in one stage (an extra draw in the data order, say) never reshuffles another (the
// noise, the attack's population). It is the only place streams are derived.
//
// Two forms exist and both are frozen (their outputs are in stored checkpoints and tests):
// Stream(seed, name) for one stream per stage, and Indexed(seed, name, i) for one stream per
// item (example i of an attack), which does not depend on which worker takes the item.
package seed

import (
	"hash/fnv"
	"math/rand/v2"
)

func hash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Stream returns the PCG generator of the named stream of seed: PCG(seed, FNV-1a(name)).
func Stream(seed uint64, name string) *rand.PCG {
	return rand.NewPCG(seed, hash(name))
}

// Rand is rand.New(Stream(seed, name)).
func Rand(seed uint64, name string) *rand.Rand { return rand.New(Stream(seed, name)) }

// Indexed returns the stream for item index of the named stage: PCG(seed ⊕ FNV-1a(name), index).
func Indexed(seed uint64, name string, index int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^hash(name), uint64(index)))
}
