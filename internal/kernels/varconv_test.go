package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// varTol is the relative tolerance between a fused variational layer and the separate float32
// products it replaces: the products are the same GEMMs, and only the input gradient adds the
// two paths' patch gradients before col2im rather than after (a few roundings of values near 1).
const varTol = 1e-5

// unfusedVar is what the separate graph computes for a variational layer: both products
// from the plain kernels, x² by Square, and the input gradient as the sum of the mean's and
// 2x ⊙ the variance's.
type unfusedVar struct {
	forward  func(x, w, b, y []float32)
	backData func(x, w, dy, dx []float32) // x: the input of the last forward
	backW    func(x, dy, dw, db []float32)
}

// checkVarLayer compares a fused layer (fwd, back) with two unfused products (mean, vari)
// on random values.
func checkVarLayer(t *testing.T, r *rand.Rand, xn, wn, yn, bn int, mean, vari unfusedVar,
	fwd func(x, w, b, s, y, v []float32), back func(x, w, s, dy, dv, dx, dw, db, ds []float32)) {
	t.Helper()
	x, w, s, b := randSlice[float32](r, xn), randSlice[float32](r, wn), randSlice[float32](r, wn), randSlice[float32](r, bn)
	for i := range s {
		s[i] *= s[i] // variances are positive
	}
	dy, dv := randSlice[float32](r, yn), randSlice[float32](r, yn)
	x2 := make([]float32, xn)
	Square(x, x2)

	y, v := make([]float32, yn), make([]float32, yn)
	fwd(x, w, b, s, y, v)
	wantY, wantV := make([]float32, yn), make([]float32, yn)
	mean.forward(x, w, b, wantY)
	vari.forward(x2, s, nil, wantV)

	dx, dw, db, ds := make([]float32, xn), make([]float32, wn), make([]float32, bn), make([]float32, wn)
	back(x, w, s, dy, dv, dx, dw, db, ds)
	wantDX, dx2 := make([]float32, xn), make([]float32, xn)
	mean.backData(x, w, dy, wantDX)
	vari.backData(x2, s, dv, dx2)
	SquareBackward(x, dx2, dx2)
	for i := range wantDX {
		wantDX[i] += dx2[i]
	}
	wantDW, wantDB, wantDS := make([]float32, wn), make([]float32, bn), make([]float32, wn)
	mean.backW(x, dy, wantDW, wantDB)
	vari.backW(x2, dv, wantDS, nil)

	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"y", y, wantY}, {"v", v, wantV}, {"dx", dx, wantDX}, {"dw", dw, wantDW}, {"db", db, wantDB}, {"ds", ds, wantDS}} {
		if e := maxRelErr(to64(c.got), to64(c.want)); e > varTol {
			t.Errorf("%s: max rel err %g > %g\n got %v\nwant %v", c.name, e, varTol, c.got[:min(8, len(c.got))], c.want[:min(8, len(c.want))])
		}
	}
}

// TestVarConvMatchesUnfused: VarConv gives the values of two plain convolutions (x's and
// x²'s) on the im2col path and the extended-width path, with the patches kept or not, and for
// batches that split unevenly over the workers.
func TestVarConvMatchesUnfused(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name          string
		x, w          [4]int
		pads          [4]int
		strides       [2]int
		colLimitElems int // 0: the default
	}{
		{name: "im2col", x: [4]int{5, 3, 11, 11}, w: [4]int{4, 3, 3, 3}, strides: [2]int{2, 2}},
		{name: "im2col-lenet-conv2", x: [4]int{7, 20, 12, 12}, w: [4]int{50, 20, 5, 5}, strides: [2]int{1, 1}},
		{name: "im2col-not-kept", x: [4]int{5, 3, 11, 11}, w: [4]int{4, 3, 3, 3}, strides: [2]int{2, 2}, colLimitElems: 1},
		{name: "extended", x: [4]int{5, 3, 10, 10}, w: [4]int{4, 3, 3, 3}, pads: [4]int{1, 1, 1, 1}, strides: [2]int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.colLimitElems > 0 {
				old := colLimit
				colLimit = tc.colLimitElems
				defer func() { colLimit = old }()
			}
			g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, [2]int{1, 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "extended" && g.fast() || tc.name == "extended" && !g.fast() {
				t.Fatalf("geometry %+v: fast() = %v; the case wants the other path", g, g.fast())
			}
			unfused := func() unfusedVar {
				c := NewConv[float32](g)
				return unfusedVar{forward: c.Forward, backData: func(_, w, dy, dx []float32) { c.BackwardData(w, dy, dx) }, backW: c.BackwardFilter}
			}
			f := NewVarConv[float32](g)
			checkVarLayer(t, r, g.XSize(), g.WSize(), g.YSize(), g.M, unfused(), unfused(), f.Forward,
				func(x, w, s, dy, dv, dx, dw, db, ds []float32) {
					f.BackwardFilter(x, dy, dv, dw, db, ds)
					f.BackwardData(x, w, s, dy, dv, dx)
				})
		})
	}
}

// TestVarDenseMatchesUnfused: VarDense gives the values of two plain products (x's and x²'s),
// with W in either layout, for layers run side by side on two cores and one after the other.
func TestVarDenseMatchesUnfused(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][3]int{{5, 300, 200}, {3, 7, 4}} {
		for _, transW := range []bool{false, true} {
			n, k, m := sz[0], sz[1], sz[2]
			t.Run(fmt.Sprintf("%dx%dx%d-transW-%v", n, k, m, transW), func(t *testing.T) {
				ldw := m
				if transW {
					ldw = k
				}
				unfused := unfusedVar{
					forward: func(x, w, b, y []float32) {
						Gemm(false, transW, n, m, k, 1, x, k, w, ldw, 0, y, m)
						if b != nil {
							AddRowVector(y, n, m, b)
						}
					},
					backData: func(_, w, dy, dx []float32) { Gemm(false, !transW, n, k, m, 1, dy, m, w, ldw, 0, dx, k) },
					backW: func(x, dy, dw, db []float32) {
						if transW {
							Gemm(true, false, m, k, n, 1, dy, m, x, k, 0, dw, k)
						} else {
							Gemm(true, false, k, m, n, 1, x, k, dy, m, 0, dw, m)
						}
						if db != nil {
							ColumnSums(dy, n, m, db)
						}
					},
				}
				d := &VarDense[float32]{N: n, K: k, M: m, TransW: transW}
				checkVarLayer(t, r, n*k, k*m, n*m, m, unfused, unfused, d.Forward, d.Backward)
			})
		}
	}
}
