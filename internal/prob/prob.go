// Package prob holds the one copy of the small numerical helpers every stage needs on class
// scores: softmax, log-sum-exp, log-softmax and argmax. Sums run in float64 with the row's
// maximum subtracted first, so large logits neither overflow nor lose the small classes.
//
// Invariants: no function allocates; NaN in a row propagates to the results (callers that take
// scores from a model check finiteness first and name the image at fault).
package prob

import "math"

// Argmax is the index of the largest value (the first on ties; 0 for an empty row).
func Argmax[T float32 | float64](row []T) int {
	arg := 0
	for j, v := range row {
		if v > row[arg] {
			arg = j
		}
	}
	return arg
}

// LogSumExp is log Σ exp(row[j]), computed as m + log Σ exp(row[j] − m) with m the maximum.
func LogSumExp[T float32 | float64](row []T) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// LogSumExpExcept is LogSumExp over every entry but row[skip].
func LogSumExpExcept(row []float64, skip int) float64 {
	m := math.Inf(-1)
	for j, v := range row {
		if j != skip {
			m = math.Max(m, v)
		}
	}
	var s float64
	for j, v := range row {
		if j != skip {
			s += math.Exp(v - m)
		}
	}
	return m + math.Log(s)
}

// LogSoftmax writes log softmax(row) into dst (len(row) values) in float64.
func LogSoftmax[T float32 | float64](dst []float64, row []T) {
	lse := LogSumExp(row)
	for j, v := range row {
		dst[j] = float64(v) - lse
	}
}

// Softmax replaces each row of k logits in v by its softmax, computed in float64.
func Softmax(v []float32, k int) {
	for r := 0; r+k <= len(v); r += k {
		row := v[r : r+k]
		m := math.Inf(-1)
		for _, x := range row {
			m = math.Max(m, float64(x))
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x) - m)
		}
		for i, x := range row {
			row[i] = float32(math.Exp(float64(x)-m) / s)
		}
	}
}

// CrossEntropy is −log softmax(z)[label] in float64 and whether label is the arg max (first
// maximum on ties). A label outside the row costs +Inf.
func CrossEntropy[T float32 | float64](z []T, label int) (float64, bool) {
	if label < 0 || label >= len(z) {
		return math.Inf(1), false
	}
	return LogSumExp(z) - float64(z[label]), Argmax(z) == label
}
