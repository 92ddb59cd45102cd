package train

import (
	"hash/fnv"
	"math/rand/v2"
)

// Stream names used by Loop.
const (
	StreamDataOrder = "data order"
	StreamNoise     = "noise"
)

// Stream returns the PCG generator of the named stream of seed. Streams with different names
// are independent, so adding a draw to one never reshuffles another.
func Stream(seed uint64, name string) *rand.PCG {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.NewPCG(seed, h.Sum64())
}
