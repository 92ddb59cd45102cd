package kernels

import (
	"runtime"
	"sync"
)

// VarDense is a fully connected layer together with its variance product, the two products of
// a variational layer under the local reparameterization trick: the mean y = x·W + b and the
// variance v = x²·S for the weight variances S (W's shape). x is [N, K]; W and S are [K, M], or
// [M, K] with TransW; y and v are [N, M].
//
// The mean's products and the variance's run side by side, each on one core as a single
// OpenBLAS call, when the layer is large enough: each core then streams one weight matrix
// instead of both cores sharing each, and the pair costs one split, not one per product.
// Every product has the same operands and shape whatever the split, so results do not
// depend on it.
type VarDense[T Float] struct {
	N, K, M int
	TransW  bool
	x2      []T // x² of the last Forward
	dx2     []T // the input gradient of the variance product
}

// pair runs f and g side by side when the products (of m·n·k multiply-adds each) are large
// enough and two cores may be used, else one after the other.
func pair(mnk int, f, g func()) {
	if min(Threads(), runtime.GOMAXPROCS(0)) < 2 || mnk < minSplitGemm {
		f()
		g()
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g()
	}()
	f()
	wg.Wait()
}

// ldw is W's leading dimension.
func (d *VarDense[T]) ldw() int {
	if d.TransW {
		return d.K
	}
	return d.M
}

// Forward computes y = x·W + b and v = x²·S. b may be nil (no bias).
func (d *VarDense[T]) Forward(x, w, b, s, y, v []T) {
	n, k, m := d.N, d.K, d.M
	checkLen("dense x", len(x), n*k)
	checkLen("dense w", len(w), k*m)
	checkLen("dense s", len(s), k*m)
	checkLen("dense y", len(y), n*m)
	checkLen("dense v", len(v), n*m)
	if b != nil {
		checkLen("dense b", len(b), m)
	}
	d.x2 = grow(d.x2, n*k)
	pair(n*k*m, func() {
		gemm1(false, d.TransW, n, m, k, 1, x, k, w, d.ldw(), 0, y, m)
		if b != nil {
			AddRowVector(y, n, m, b)
		}
	}, func() {
		squareInto(x[:n*k], d.x2)
		gemm1(false, d.TransW, n, m, k, 1, d.x2, k, s, d.ldw(), 0, v, m)
	})
}

// Backward computes, from the output gradients dy (of y) and dv (of v) and the x of the last
// Forward: dx = dy·Wᵀ + 2x ⊙ (dv·Sᵀ) (skipped when dx is nil), dw = xᵀ·dy, db = dy's column
// sums (when db is not nil) and ds = (x²)ᵀ·dv, each in its operand's layout. The outputs are
// overwritten.
func (d *VarDense[T]) Backward(x, w, s, dy, dv, dx, dw, db, ds []T) {
	n, k, m := d.N, d.K, d.M
	checkLen("dense x", len(x), n*k)
	checkLen("dense w", len(w), k*m)
	checkLen("dense s", len(s), k*m)
	checkLen("dense dy", len(dy), n*m)
	checkLen("dense dv", len(dv), n*m)
	checkLen("dense dw", len(dw), k*m)
	checkLen("dense ds", len(ds), k*m)
	if dx != nil {
		checkLen("dense dx", len(dx), n*k)
		d.dx2 = grow(d.dx2, n*k)
	}
	// product computes the input gradient gx (when not nil) and the weight gradient gw of one
	// product with weights a, input in and output gradient g.
	product := func(a, in, g, gx, gw []T) {
		if gx != nil {
			gemm1(false, !d.TransW, n, k, m, 1, g, m, a, d.ldw(), 0, gx, k)
		}
		if d.TransW { // gw[m,k] = g[n,m]ᵀ·in[n,k]
			gemm1(true, false, m, k, n, 1, g, m, in, k, 0, gw, k)
		} else { // gw[k,m] = in[n,k]ᵀ·g[n,m]
			gemm1(true, false, k, m, n, 1, in, k, g, m, 0, gw, m)
		}
	}
	var dx2 []T
	if dx != nil {
		dx2 = d.dx2
	}
	pair(n*k*m, func() {
		product(w, x, dy, dx, dw)
		if db != nil {
			ColumnSums(dy, n, m, db)
		}
	}, func() { product(s, d.x2, dv, dx2, ds) })
	if dx != nil {
		addSquareGrad(x[:n*k], dx2, dx)
	}
}
