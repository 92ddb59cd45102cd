package kernels

import "math"

// ReLUForward writes max(x, 0) to y.
func ReLUForward[T Float](x, y []T) {
	checkLen("relu y", len(y), len(x))
	parallelFor(len(x), len(x), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			if v > 0 {
				y[lo+i] = v
			} else {
				y[lo+i] = 0
			}
		}
	})
}

// ReLUBackward writes dy where the ReLU output y is positive and 0 elsewhere to dx.
func ReLUBackward[T Float](y, dy, dx []T) {
	checkLen("relu dy", len(dy), len(y))
	checkLen("relu dx", len(dx), len(y))
	parallelFor(len(y), len(y), func(lo, hi int) {
		for i, v := range y[lo:hi] {
			if v > 0 {
				dx[lo+i] = dy[lo+i]
			} else {
				dx[lo+i] = 0
			}
		}
	})
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
