package compress

import (
	"maps"
	"math"
	"slices"
)

// # Entropy floor
//
// The floor of a coded tensor is what an ideal coder of its two streams would need under the
// best of a few simple models, each with its probabilities known for free (empirical entropy:
// the model's own description is not charged, so the figure is a lower bound for any coder of
// that model class, ours included):
//
//   - positions (the zero/non-zero mask of the N elements in row-major order), the least of
//     (a) i.i.d.: N·H(m/N) for m non-zeros;
//     (b) gaps: the m+1 gaps (zeros before each non-zero, then the zeros after the last) as
//     i.i.d. draws from their own histogram, Σ_g c_g·log2((m+1)/c_g);
//     (c) context: each mask bit given the two bits before it in its row and the bits at the
//     same place in the two rows before (16 contexts; a row is a tensor's elements per index of
//     its first dimension, bits outside the tensor or row count as zero), Σ_ctx n_ctx·H(p_ctx);
//   - codebook indices: m·H of the histogram of the m non-zeros' codebook indices.
//
// The archive's floor adds what it stores without modelling: each codebook at its stored
// size, and the model section (graph, names, metadata, biases) at its stored size.

// entropyBits returns n·H of the empirical distribution with these counts, n = Σ counts:
// Σ c·log2(n/c) bits.
func entropyBits(counts []int64) float64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			h += float64(c) * math.Log2(float64(n)/float64(c))
		}
	}
	return h
}

// TensorFloor is the entropy floor of one coded tensor's streams, in bits.
type TensorFloor struct {
	MaskIIDBits     float64 `json:"mask_iid_bits"`
	MaskGapBits     float64 `json:"mask_gap_bits"`
	MaskContextBits float64 `json:"mask_context_bits"`
	// MaskBits is the least of the three; IndexBits the codebook indices' zero-order entropy.
	MaskBits  float64 `json:"mask_bits"`
	IndexBits float64 `json:"index_bits"`
}

// Bits is the floor of both streams.
func (f TensorFloor) Bits() float64 { return f.MaskBits + f.IndexBits }

// floorOf computes the floor of a tensor given per element its symbol (0 for zero, else
// 1 + codebook index), k the codebook size and row the elements per row (≥ 1).
func floorOf[S int | uint16](syms []S, k, row int) TensorFloor {
	n := len(syms)
	var f TensorFloor
	if n == 0 {
		return f
	}
	row = max(row, 1)
	mask := make([]uint8, n+2*row) // 2 rows of zeros, then the mask: no bounds to test
	for i, v := range syms {
		if v != 0 {
			mask[2*row+i] = 1
		}
	}
	idx := make([]int64, k+1)
	small := make([]int64, 1<<maxRunBits) // gaps below 4096; longer ones in a map
	gaps := map[int]int64{}
	var ctx [16][2]int64
	gap, col := 0, 0
	for i, s := range syms {
		j := 2*row + i
		c := mask[j-row]<<1 | mask[j-2*row]
		if col >= 1 {
			c |= mask[j-1] << 3
		}
		if col >= 2 {
			c |= mask[j-2] << 2
		}
		ctx[c][mask[j]]++
		if col++; col == row {
			col = 0
		}
		if s == 0 {
			gap++
			continue
		}
		idx[s]++
		if gap < len(small) {
			small[gap]++
		} else {
			gaps[gap]++
		}
		gap = 0
	}
	gaps[gap]++
	for g, c := range small {
		if c > 0 {
			gaps[g] += c
		}
	}
	m := int64(0)
	for _, c := range idx[1:] {
		m += c
	}
	f.MaskIIDBits = entropyBits([]int64{int64(n) - m, m})
	f.MaskGapBits = entropyBits(slices.Sorted(maps.Values(gaps))) // sorted: the same sum every run
	for _, c := range ctx {
		f.MaskContextBits += entropyBits(c[:])
	}
	f.MaskBits = min(f.MaskIIDBits, f.MaskGapBits, f.MaskContextBits)
	f.IndexBits = entropyBits(idx[1:])
	return f
}
