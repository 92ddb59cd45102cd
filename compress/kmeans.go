package compress

import (
	"math"
	"slices"
	"sort"
)

// DefaultKMeansIterations bounds Lloyd's iterations in KMeans; 1-D k-means from a linear
// start settles in a few dozen on trained weights.
const DefaultKMeansIterations = 100

// KMeans clusters values into at most k groups by Lloyd's algorithm in one dimension, started
// from Deep Compression's linear initialisation (Han et al. 2016, §3.1: k centroids spaced evenly
// over [min, max]; a single centroid starts at the midpoint). It returns the centroids, sorted
// and each used by at least one value, and each value's centroid index. Each iteration assigns
// every value to its nearest centroid (ties to the lower one) and moves each centroid to the
// mean of its values (summed in float64); it stops when no assignment changes or after iters
// iterations (≤ 0: DefaultKMeansIterations). Deterministic: no randomness anywhere.
func KMeans(values []float32, k, iters int) (centroids []float32, assign []int32) {
	if len(values) == 0 || k < 1 {
		return nil, make([]int32, len(values))
	}
	if iters <= 0 {
		iters = DefaultKMeansIterations
	}
	lo, hi := slices.Min(values), slices.Max(values)
	c := make([]float64, k)
	for j := range c {
		if k == 1 {
			c[j] = (float64(lo) + float64(hi)) / 2
		} else {
			c[j] = float64(lo) + (float64(hi)-float64(lo))*float64(j)/float64(k-1)
		}
	}
	assign = make([]int32, len(values))
	for i := range assign {
		assign[i] = -1
	}
	sum := make([]float64, k)
	cnt := make([]int, k)
	for it := 0; it < iters; it++ {
		changed := nearest(values, c, assign)
		if !changed && it > 0 {
			break
		}
		clear(sum)
		clear(cnt)
		for i, v := range values {
			sum[assign[i]] += float64(v)
			cnt[assign[i]]++
		}
		for j := range c {
			if cnt[j] > 0 {
				c[j] = sum[j] / float64(cnt[j])
			}
		}
		// Means of adjacent intervals stay ordered; an empty cluster keeps its place and may
		// not, so restore the order nearest relies on.
		if !sort.Float64sAreSorted(c) {
			sort.Float64s(c)
		}
	}
	// Round to float32, drop unused and duplicate centroids, and assign once more against the
	// float32 values the model will hold.
	cf := make([]float64, 0, k)
	nearest(values, c, assign)
	clear(cnt)
	for _, a := range assign {
		cnt[a]++
	}
	for j, v := range c {
		f := float64(float32(v))
		if cnt[j] > 0 && (len(cf) == 0 || cf[len(cf)-1] != f) {
			cf = append(cf, f)
		}
	}
	nearest(values, cf, assign)
	used := make([]int32, len(cf))
	for _, a := range assign {
		used[a]++
	}
	remap := make([]int32, len(cf))
	for j, v := range cf {
		remap[j] = int32(len(centroids))
		if used[j] > 0 {
			centroids = append(centroids, float32(v))
		}
	}
	for i, a := range assign {
		assign[i] = remap[a]
	}
	return centroids, assign
}

// nearest sets assign[i] to the index of the centroid nearest values[i] (c sorted; a value
// halfway between two goes to the lower), and reports whether any assignment changed.
func nearest(values []float32, c []float64, assign []int32) bool {
	changed := false
	for i, v := range values {
		x := float64(v)
		// First centroid ≥ x, then compare with its lower neighbour.
		j := sort.SearchFloat64s(c, x)
		switch {
		case j == len(c):
			j = len(c) - 1
		case j > 0 && math.Abs(x-c[j-1]) <= math.Abs(c[j]-x):
			j--
		}
		if assign[i] != int32(j) {
			assign[i] = int32(j)
			changed = true
		}
	}
	return changed
}
