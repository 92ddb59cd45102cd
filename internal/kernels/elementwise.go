package kernels

import (
	"math"
	"unsafe"
)

// ReLUForward writes max(x, 0) to y (0 for -0 and for NaNs with the sign bit set).
// The loops are branchless and run on the values' bit patterns as integers: ReLU inputs have
// random signs, so a branch per element mispredicts, and converting each value between
// floating-point and integer registers cost more than the masking itself (the integer loop
// takes about half the instructions).
func ReLUForward[T Float](x, y []T) {
	checkLen("relu y", len(y), len(x))
	parallelFor(len(x), len(x), func(lo, hi int) {
		switch xs := any(x[lo:hi]).(type) {
		case []float32:
			xb, yb := bits32(xs), bits32(any(y[lo:hi]).([]float32))
			yb = yb[:len(xb)]
			for i, b := range xb {
				yb[i] = b &^ uint32(int32(b)>>31)
			}
		case []float64:
			xb, yb := bits64(xs), bits64(any(y[lo:hi]).([]float64))
			yb = yb[:len(xb)]
			for i, b := range xb {
				yb[i] = b &^ uint64(int64(b)>>63)
			}
		}
	})
}

// ReLUBackward writes dy where the ReLU output y is positive and 0 elsewhere to dx. y must be
// a ReLU output (every element >= 0 or +0), as ReLUForward produces.
func ReLUBackward[T Float](y, dy, dx []T) {
	checkLen("relu dy", len(dy), len(y))
	checkLen("relu dx", len(dx), len(y))
	parallelFor(len(y), len(y), func(lo, hi int) {
		switch ys := any(y[lo:hi]).(type) {
		case []float32:
			yb, dyb, dxb := bits32(ys), bits32(any(dy[lo:hi]).([]float32)), bits32(any(dx[lo:hi]).([]float32))
			dyb, dxb = dyb[:len(yb)], dxb[:len(yb)]
			for i, v := range yb {
				// For y >= 0, bits > 0 exactly when y > 0; -bits then has its sign bit set.
				dxb[i] = dyb[i] & uint32(-int32(v)>>31)
			}
		case []float64:
			yb, dyb, dxb := bits64(ys), bits64(any(dy[lo:hi]).([]float64)), bits64(any(dx[lo:hi]).([]float64))
			dyb, dxb = dyb[:len(yb)], dxb[:len(yb)]
			for i, v := range yb {
				dxb[i] = dyb[i] & uint64(-int64(v)>>63)
			}
		}
	})
}

// bits32 and bits64 view float slices as their IEEE bit patterns (no copy).
func bits32(s []float32) []uint32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&s[0])), len(s))
}

func bits64(s []float64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&s[0])), len(s))
}

// AddRowVector adds b (length cols) to every row of the rows×cols matrix y.
func AddRowVector[T Float](y []T, rows, cols int, b []T) {
	checkLen("bias", len(b), cols)
	checkLen("matrix", len(y), rows*cols)
	for r := 0; r < rows; r++ {
		row := y[r*cols : (r+1)*cols]
		for i := range row {
			row[i] += b[i]
		}
	}
}

// ColumnSums writes the column sums of the rows×cols matrix y to s (length cols).
func ColumnSums[T Float](y []T, rows, cols int, s []T) {
	checkLen("sums", len(s), cols)
	checkLen("matrix", len(y), rows*cols)
	clear(s[:cols])
	for r := 0; r < rows; r++ {
		for i, v := range y[r*cols : (r+1)*cols] {
			s[i] += v
		}
	}
}

// SoftmaxCrossEntropy returns the mean over the n rows of -Σ_j t[i,j]·log softmax(z[i,:])_j for
// logits z and targets t (n×k each; t is typically one-hot), and writes softmax(z) to probs.
func SoftmaxCrossEntropy[T Float](z, t []T, n, k int, probs []T) T {
	checkLen("logits", len(z), n*k)
	checkLen("targets", len(t), n*k)
	checkLen("probs", len(probs), n*k)
	var loss float64
	for i := 0; i < n; i++ {
		zi, ti, pi := z[i*k:(i+1)*k], t[i*k:(i+1)*k], probs[i*k:(i+1)*k]
		m := zi[0]
		for _, v := range zi {
			m = max(m, v)
		}
		var s float64
		for j, v := range zi {
			e := math.Exp(float64(v - m))
			pi[j] = T(e)
			s += e
		}
		logS := math.Log(s)
		for j, v := range zi {
			pi[j] = T(float64(pi[j]) / s)
			if ti[j] != 0 {
				loss -= float64(ti[j]) * (float64(v-m) - logS)
			}
		}
	}
	return T(loss / float64(n))
}

// SoftmaxCrossEntropyBackward writes dz = scale·(probs·Σ_j t[i,j] − t)/n, the gradient of
// SoftmaxCrossEntropy times scale (the incoming gradient of the loss).
func SoftmaxCrossEntropyBackward[T Float](probs, t []T, n, k int, scale T, dz []T) {
	checkLen("probs", len(probs), n*k)
	checkLen("targets", len(t), n*k)
	checkLen("dz", len(dz), n*k)
	f := scale / T(n)
	for i := 0; i < n; i++ {
		pi, ti, di := probs[i*k:(i+1)*k], t[i*k:(i+1)*k], dz[i*k:(i+1)*k]
		var st T
		for _, v := range ti {
			st += v
		}
		for j := range di {
			di[j] = f * (pi[j]*st - ti[j])
		}
	}
}

// ChannelSums writes s[c] = Σ_{i,j} y[i, c, j] for y laid out [n, m, inner] (the bias gradient
// of an NCHW convolution, or of a dense layer with inner = 1). Channels are split across
// goroutines; each sum uses four accumulators to break the floating-point add chain.
func ChannelSums[T Float](y []T, n, m, inner int, s []T) {
	checkLen("sums", len(s), m)
	checkLen("channel tensor", len(y), n*m*inner)
	parallelFor(m, n*m*inner, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var a0, a1, a2, a3 T
			for i := 0; i < n; i++ {
				v := y[(i*m+c)*inner : (i*m+c+1)*inner]
				j := 0
				for ; j+4 <= len(v); j += 4 {
					a0 += v[j]
					a1 += v[j+1]
					a2 += v[j+2]
					a3 += v[j+3]
				}
				for ; j < len(v); j++ {
					a0 += v[j]
				}
			}
			s[c] = (a0 + a1) + (a2 + a3)
		}
	})
}
