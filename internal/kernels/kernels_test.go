package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

const (
	// refTol64 bounds the difference between the GEMM kernels and the naive float64 loops:
	// both sum the same few hundred products in different orders, so errors stay near 1e-13.
	refTol64 = 1e-10
	// refTol32 is refTol64 for float32: a few hundred float32 products summed in a different
	// order differ by roughly 1e-6 relative.
	refTol32 = 1e-4
	// fdTol is the relative tolerance of central finite differences in float64 with step fdStep:
	// truncation error O(h²)≈1e-10 and rounding error ≈1e-16/h≈1e-11 leave ~1e-6 headroom.
	fdTol  = 1e-6
	fdStep = 1e-5
)

type convCase struct {
	x, w      [4]int
	pads      [4]int
	strides   [2]int
	dilations [2]int
}

var convCases = []convCase{
	{x: [4]int{2, 1, 8, 8}, w: [4]int{3, 1, 5, 5}, pads: [4]int{}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
	{x: [4]int{3, 2, 7, 6}, w: [4]int{4, 2, 3, 3}, pads: [4]int{1, 1, 1, 1}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
	{x: [4]int{2, 3, 9, 8}, w: [4]int{2, 3, 3, 2}, pads: [4]int{2, 0, 1, 1}, strides: [2]int{2, 3}, dilations: [2]int{1, 1}},
	{x: [4]int{1, 2, 9, 9}, w: [4]int{3, 2, 3, 3}, pads: [4]int{1, 2, 0, 1}, strides: [2]int{1, 2}, dilations: [2]int{2, 2}},
	{x: [4]int{5, 1, 6, 6}, w: [4]int{2, 1, 5, 5}, pads: [4]int{2, 2, 2, 2}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
	{x: [4]int{4, 2, 5, 7}, w: [4]int{3, 2, 2, 3}, pads: [4]int{0, 1, 1, 0}, strides: [2]int{2, 1}, dilations: [2]int{2, 1}},
}

func randSlice[T Float](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

// naiveConv is the direct 7-loop definition of an ONNX Conv (group 1).
func naiveConv(g ConvGeom, x, w, b []float64) []float64 {
	y := make([]float64, g.YSize())
	for n := 0; n < g.N; n++ {
		for m := 0; m < g.M; m++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					s := 0.0
					if b != nil {
						s = b[m]
					}
					for c := 0; c < g.C; c++ {
						for kh := 0; kh < g.KH; kh++ {
							for kw := 0; kw < g.KW; kw++ {
								ih := oh*g.SH - g.PadT + kh*g.DH
								iw := ow*g.SW - g.PadL + kw*g.DW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								s += x[((n*g.C+c)*g.H+ih)*g.W+iw] * w[((m*g.C+c)*g.KH+kh)*g.KW+kw]
							}
						}
					}
					y[((n*g.M+m)*g.OH+oh)*g.OW+ow] = s
				}
			}
		}
	}
	return y
}

func maxRelErr(got, want []float64) float64 {
	worst := 0.0
	for i := range want {
		d := math.Abs(got[i]-want[i]) / math.Max(1, math.Abs(want[i]))
		worst = max(worst, d)
	}
	return worst
}

func to64[T Float](s []T) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestConvForwardMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i, tc := range convCases {
		t.Run(fmt.Sprintf("case%d_%v_%v", i, tc.x, tc.w), func(t *testing.T) {
			g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := randSlice[float64](r, g.XSize()), randSlice[float64](r, g.WSize()), randSlice[float64](r, g.M)
			want := naiveConv(g, x, w, b)
			y := make([]float64, g.YSize())
			NewConv[float64](g).Forward(x, w, b, y)
			if e := maxRelErr(y, want); e > refTol64 {
				t.Errorf("float64 forward %+v: max rel err %g > %g", g, e, refTol64)
			}
			x32, w32, b32 := toT[float32](x), toT[float32](w), toT[float32](b)
			y32 := make([]float32, g.YSize())
			NewConv[float32](g).Forward(x32, w32, b32, y32)
			if e := maxRelErr(to64(y32), want); e > refTol32 {
				t.Errorf("float32 forward %+v: max rel err %g > %g", g, e, refTol32)
			}
		})
	}
}

func toT[T Float](s []float64) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdGrad returns the central-difference gradient of f at p (p is restored afterwards).
func fdGrad(p []float64, f func() float64) []float64 {
	g := make([]float64, len(p))
	for i := range p {
		old := p[i]
		p[i] = old + fdStep
		fp := f()
		p[i] = old - fdStep
		fm := f()
		p[i] = old
		g[i] = (fp - fm) / (2 * fdStep)
	}
	return g
}

func TestConvBackwardFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i, tc := range convCases {
		t.Run(fmt.Sprintf("case%d_%v_%v", i, tc.x, tc.w), func(t *testing.T) {
			g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := randSlice[float64](r, g.XSize()), randSlice[float64](r, g.WSize()), randSlice[float64](r, g.M)
			dy := randSlice[float64](r, g.YSize()) // loss = <dy, conv(x)>
			loss := func() float64 { return dot(dy, naiveConv(g, x, w, b)) }
			c := NewConv[float64](g)
			y := make([]float64, g.YSize())
			c.Forward(x, w, b, y)
			dx, dw, db := make([]float64, g.XSize()), make([]float64, g.WSize()), make([]float64, g.M)
			c.BackwardData(w, dy, dx)
			c.BackwardFilterFromCol(dy, dw, db)
			for _, chk := range []struct {
				name      string
				got, want []float64
			}{
				{"dx", dx, fdGrad(x, loss)},
				{"dw", dw, fdGrad(w, loss)},
				{"db", db, fdGrad(b, loss)},
			} {
				if e := maxRelErr(chk.got, chk.want); e > fdTol {
					t.Errorf("%s: max rel err %g > %g\n got %v\nwant %v", chk.name, e, fdTol, chk.got, chk.want)
				}
			}
			dw2 := make([]float64, g.WSize())
			c.BackwardFilter(x, dy, dw2, nil)
			dw3 := make([]float64, g.WSize())
			c.BackwardFilterReuse(x, dy, dw3, nil)
			if e := maxRelErr(dw3, dw); e > refTol64 {
				t.Errorf("BackwardFilterReuse vs BackwardFilterFromCol: max rel err %g", e)
			}
			if e := maxRelErr(dw2, dw); e > refTol64 {
				t.Errorf("BackwardFilter vs BackwardFilterFromCol: max rel err %g", e)
			}
		})
	}
}

func TestNewConvGeomRejects(t *testing.T) {
	for _, tc := range []convCase{
		{x: [4]int{1, 2, 5, 5}, w: [4]int{1, 3, 3, 3}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
		{x: [4]int{1, 1, 2, 2}, w: [4]int{1, 1, 3, 3}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
		{x: [4]int{1, 1, 5, 5}, w: [4]int{1, 1, 3, 3}, strides: [2]int{0, 1}, dilations: [2]int{1, 1}},
		{x: [4]int{1, 1, 5, 5}, w: [4]int{1, 1, 3, 3}, pads: [4]int{-1, 0, 0, 0}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
	} {
		if _, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations); err == nil {
			t.Errorf("NewConvGeom(%+v) = nil error; want error", tc)
		}
	}
}

type poolCase struct {
	x       [4]int
	kernel  [2]int
	pads    [4]int
	strides [2]int
}

var poolCases = []poolCase{
	{x: [4]int{2, 3, 8, 8}, kernel: [2]int{2, 2}, strides: [2]int{2, 2}},
	{x: [4]int{2, 2, 7, 9}, kernel: [2]int{2, 2}, strides: [2]int{2, 2}},
	{x: [4]int{1, 2, 14, 14}, kernel: [2]int{3, 3}, strides: [2]int{3, 3}},
	{x: [4]int{2, 2, 7, 11}, kernel: [2]int{2, 3}, strides: [2]int{2, 3}},
	{x: [4]int{2, 1, 7, 6}, kernel: [2]int{3, 2}, pads: [4]int{1, 1, 2, 0}, strides: [2]int{2, 1}},
	{x: [4]int{1, 2, 5, 5}, kernel: [2]int{3, 3}, pads: [4]int{1, 1, 1, 1}, strides: [2]int{1, 1}},
}

// naivePool is the direct definition: max, or mean over in-image cells.
func naivePool(g PoolGeom, x []float64, isMax bool) []float64 {
	y := make([]float64, g.YSize())
	for pl := 0; pl < g.N*g.C; pl++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				best, sum, cnt := math.Inf(-1), 0.0, 0
				for kh := 0; kh < g.KH; kh++ {
					for kw := 0; kw < g.KW; kw++ {
						ih, iw := oh*g.SH-g.PadT+kh, ow*g.SW-g.PadL+kw
						if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
							continue
						}
						v := x[(pl*g.H+ih)*g.W+iw]
						best, sum, cnt = max(best, v), sum+v, cnt+1
					}
				}
				if isMax {
					y[(pl*g.OH+oh)*g.OW+ow] = best
				} else {
					y[(pl*g.OH+oh)*g.OW+ow] = sum / float64(cnt)
				}
			}
		}
	}
	return y
}

func TestPoolMatchesNaiveAndFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i, tc := range poolCases {
		g, err := NewPoolGeom(tc.x, tc.kernel, tc.pads, tc.strides)
		if err != nil {
			t.Fatal(err)
		}
		// Distinct values keep the max away from ties, where it is not differentiable.
		x := make([]float64, g.XSize())
		for j, p := range r.Perm(len(x)) {
			x[j] = float64(p) / float64(len(x))
		}
		dy := randSlice[float64](r, g.YSize())
		for _, isMax := range []bool{true, false} {
			t.Run(fmt.Sprintf("case%d_max%v", i, isMax), func(t *testing.T) {
				y, dx := make([]float64, g.YSize()), make([]float64, g.XSize())
				if isMax {
					am := make([]int32, g.YSize())
					MaxPoolForward(g, x, y, am)
					MaxPoolBackward(g, dy, am, dx)
				} else {
					AvgPoolForward(g, x, y)
					AvgPoolBackward(g, dy, dx)
				}
				if e := maxRelErr(y, naivePool(g, x, isMax)); e > refTol64 {
					t.Errorf("forward %+v: max rel err %g", g, e)
				}
				// fdStep is far below the 1/len(x) gap between values, so no max switches.
				want := fdGrad(x, func() float64 { return dot(dy, naivePool(g, x, isMax)) })
				if e := maxRelErr(dx, want); e > fdTol {
					t.Errorf("backward %+v: max rel err %g\n got %v\nwant %v", g, e, dx, want)
				}
				y32, dx32 := make([]float32, g.YSize()), make([]float32, g.XSize())
				x32, dy32 := toT[float32](x), toT[float32](dy)
				if isMax {
					am := make([]int32, g.YSize())
					MaxPoolForward(g, x32, y32, am)
					MaxPoolBackward(g, dy32, am, dx32)
				} else {
					AvgPoolForward(g, x32, y32)
					AvgPoolBackward(g, dy32, dx32)
				}
				if e := maxRelErr(to64(dx32), dx); e > refTol32 {
					t.Errorf("float32 backward: max rel err %g", e)
				}
			})
		}
	}
}

func TestSoftmaxCrossEntropyFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, k = 4, 5
	z := randSlice[float64](r, n*k)
	tg := make([]float64, n*k)
	for i := 0; i < n; i++ {
		tg[i*k+r.IntN(k)] = 1
	}
	probs := make([]float64, n*k)
	loss := SoftmaxCrossEntropy(z, tg, n, k, probs)
	// Analytic value of the first row's term, computed directly.
	wantLoss := 0.0
	for i := 0; i < n; i++ {
		s := 0.0
		for j := 0; j < k; j++ {
			s += math.Exp(z[i*k+j])
		}
		for j := 0; j < k; j++ {
			wantLoss -= tg[i*k+j] * math.Log(math.Exp(z[i*k+j])/s)
		}
	}
	wantLoss /= n
	if math.Abs(loss-wantLoss) > refTol64 {
		t.Errorf("loss = %v; want %v", loss, wantLoss)
	}
	dz := make([]float64, n*k)
	SoftmaxCrossEntropyBackward(probs, tg, n, k, 2, dz)
	want := fdGrad(z, func() float64 { return 2 * SoftmaxCrossEntropy(z, tg, n, k, make([]float64, n*k)) })
	if e := maxRelErr(dz, want); e > fdTol {
		t.Errorf("dz max rel err %g\n got %v\nwant %v", e, dz, want)
	}
}

func TestGemmMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		ta, tb  bool
		m, n, k int
	}{{false, false, 3, 4, 5}, {true, false, 7, 2, 3}, {false, true, 4, 6, 2}, {true, true, 5, 5, 9}} {
		a, b, c := randSlice[float64](r, tc.m*tc.k), randSlice[float64](r, tc.k*tc.n), randSlice[float64](r, tc.m*tc.n)
		at := func(i, j int) float64 {
			if tc.ta {
				return a[j*tc.m+i]
			}
			return a[i*tc.k+j]
		}
		bt := func(i, j int) float64 {
			if tc.tb {
				return b[j*tc.k+i]
			}
			return b[i*tc.n+j]
		}
		want := make([]float64, len(c))
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				s := 0.0
				for l := 0; l < tc.k; l++ {
					s += at(i, l) * bt(l, j)
				}
				want[i*tc.n+j] = 2*s + 0.5*c[i*tc.n+j]
			}
		}
		lda, ldb := tc.k, tc.n
		if tc.ta {
			lda = tc.m
		}
		if tc.tb {
			ldb = tc.k
		}
		c32 := toT[float32](c)
		Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 2, a, lda, b, ldb, 0.5, c, tc.n)
		Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 2, toT[float32](a), lda, toT[float32](b), ldb, 0.5, c32, tc.n)
		if e := maxRelErr(c, want); e > refTol64 {
			t.Errorf("%+v float64: max rel err %g", tc, e)
		}
		if e := maxRelErr(to64(c32), want); e > refTol32 {
			t.Errorf("%+v float32: max rel err %g", tc, e)
		}
	}
}

// TestConvLargeAdjoint covers the batch-parallel paths (work above minParallelWork) with
// exact identities instead of finite differences: conv is bilinear, so without bias
// <dy, conv(x, w)> = <dx, x> = <dw, w>.
func TestConvLargeAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []convCase{
		{x: [4]int{16, 3, 16, 16}, w: [4]int{4, 3, 3, 3}, pads: [4]int{1, 1, 1, 1}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
		{x: [4]int{9, 2, 20, 20}, w: [4]int{5, 2, 5, 5}, pads: [4]int{0, 2, 1, 0}, strides: [2]int{2, 1}, dilations: [2]int{1, 2}},
		// rows of 24 and more: the copy path of im2col
		{x: [4]int{4, 1, 28, 28}, w: [4]int{3, 1, 5, 5}, pads: [4]int{2, 2, 2, 2}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
		{x: [4]int{4, 1, 30, 30}, w: [4]int{3, 1, 5, 5}, pads: [4]int{0, 0, 0, 0}, strides: [2]int{1, 1}, dilations: [2]int{1, 1}},
	} {
		g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
		if err != nil {
			t.Fatal(err)
		}
		if g.N*g.k()*g.p() < minParallelWork {
			t.Fatalf("case %+v too small to exercise the parallel path", tc)
		}
		x, w := randSlice[float64](r, g.XSize()), randSlice[float64](r, g.WSize())
		dy := randSlice[float64](r, g.YSize())
		want := naiveConv(g, x, w, nil)
		c := NewConv[float64](g)
		y := make([]float64, g.YSize())
		c.Forward(x, w, nil, y)
		if e := maxRelErr(y, want); e > refTol64 {
			t.Errorf("%+v forward: max rel err %g", tc, e)
		}
		dx, dw := make([]float64, g.XSize()), make([]float64, g.WSize())
		c.BackwardData(w, dy, dx)
		c.BackwardFilterFromCol(dy, dw, nil)
		ref := dot(dy, want)
		if e := math.Abs(dot(dx, x)-ref) / math.Max(1, math.Abs(ref)); e > refTol64 {
			t.Errorf("%+v <dx,x> = %v; want <dy,y> = %v", tc, dot(dx, x), ref)
		}
		if e := math.Abs(dot(dw, w)-ref) / math.Max(1, math.Abs(ref)); e > refTol64 {
			t.Errorf("%+v <dw,w> = %v; want <dy,y> = %v", tc, dot(dw, w), ref)
		}
	}
}

// TestGemmSplitMatchesSingle checks the goroutine split of large products (rows, columns and
// the inner dimension, every transpose) against one unsplit OpenBLAS call.
func TestGemmSplitMatchesSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		ta, tb  bool
		m, n, k int
	}{{false, false, 300, 70, 40}, {true, false, 70, 301, 40}, {false, true, 133, 250, 33}, {true, true, 250, 133, 17},
		// small C, long k: split along k
		{false, true, 8, 25, 5001}, {true, false, 20, 9, 3001}, {true, true, 7, 30, 2501}, {false, false, 31, 31, 999}} {
		a, b := randSlice[float32](r, tc.m*tc.k), randSlice[float32](r, tc.k*tc.n)
		c0 := randSlice[float32](r, tc.m*tc.n)
		c1 := append([]float32(nil), c0...)
		lda, ldb := tc.k, tc.n
		if tc.ta {
			lda = tc.m
		}
		if tc.tb {
			ldb = tc.k
		}
		if tc.m*tc.n*tc.k < minSplitGemm {
			t.Fatalf("%+v too small to split", tc)
		}
		Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1.5, a, lda, b, ldb, 0.5, c0, tc.n)
		gemm1(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1.5, a, lda, b, ldb, 0.5, c1, tc.n)
		// Splitting m or n is exact; splitting k reorders float32 sums.
		if e := maxRelErr(to64(c0), to64(c1)); e > refTol32 {
			t.Fatalf("%+v: split vs single call max rel err %g", tc, e)
		}
	}
}

func TestReLU(t *testing.T) {
	x := []float64{-2, -0.0, 0, 1e-300, 3, math.Inf(-1), math.Inf(1), -1e-300}
	want := []float64{0, 0, 0, 1e-300, 3, 0, math.Inf(1), 0}
	dy := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	wantDx := []float64{0, 0, 0, 4, 5, 0, 7, 0}
	y, dx := make([]float64, len(x)), make([]float64, len(x))
	ReLUForward(x, y)
	ReLUBackward(y, dy, dx)
	y32, dx32 := make([]float32, len(x)), make([]float32, len(x))
	ReLUForward(toT[float32](x), y32)
	ReLUBackward(y32, toT[float32](dy), dx32)
	for i := range x {
		if y[i] != want[i] || math.Signbit(y[i]) || dx[i] != wantDx[i] {
			t.Errorf("x=%v: relu %v, grad %v; want %v, %v", x[i], y[i], dx[i], want[i], wantDx[i])
		}
		if float64(y32[i]) != float64(float32(want[i])) || float64(dx32[i]) != float64(float32(wantDx[i]))*boolF(float32(x[i]) > 0) {
			t.Errorf("float32 x=%v: relu %v, grad %v", x[i], y32[i], dx32[i])
		}
	}
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestConvChunkedMatchesWhole forces the image-chunked path (a small colLimit) and compares
// it with the one-chunk path; both run the same per-element arithmetic except the weight
// gradient's sum over chunks.
func TestConvChunkedMatchesWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, tc := range convCases {
		g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
		if err != nil {
			t.Fatal(err)
		}
		x, w, b := randSlice[float64](r, g.XSize()), randSlice[float64](r, g.WSize()), randSlice[float64](r, g.M)
		dy := randSlice[float64](r, g.YSize())
		run := func() (y, dx, dw, db []float64) {
			y, dx, dw, db = make([]float64, g.YSize()), make([]float64, g.XSize()), make([]float64, g.WSize()), make([]float64, g.M)
			c := NewConv[float64](g)
			c.Forward(x, w, b, y)
			c.BackwardData(w, dy, dx)
			c.BackwardFilterReuse(x, dy, dw, db)
			return
		}
		y0, dx0, dw0, db0 := run()
		old := colLimit
		colLimit = g.k() * g.p() * 2 // two images per chunk
		y1, dx1, dw1, db1 := run()
		colLimit = old
		if g.chunk() < g.N {
			t.Fatalf("%+v: colLimit restore failed", tc)
		}
		for _, chk := range []struct {
			name string
			a, b []float64
		}{{"y", y1, y0}, {"dx", dx1, dx0}, {"dw", dw1, dw0}, {"db", db1, db0}} {
			if e := maxRelErr(chk.a, chk.b); e > refTol64 {
				t.Errorf("%+v %s: chunked vs whole max rel err %g", tc, chk.name, e)
			}
		}
	}
}

func TestChannelSums(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, tc := range [][3]int{{2, 3, 5}, {64, 20, 576}, {7, 10, 1}, {1, 1, 3}} {
		n, m, inner := tc[0], tc[1], tc[2]
		y := randSlice[float64](r, n*m*inner)
		want := make([]float64, m)
		for i := 0; i < n; i++ {
			for c := 0; c < m; c++ {
				for j := 0; j < inner; j++ {
					want[c] += y[(i*m+c)*inner+j]
				}
			}
		}
		got := make([]float64, m)
		ChannelSums(y, n, m, inner, got)
		if e := maxRelErr(got, want); e > refTol64 {
			t.Errorf("%v: max rel err %g\n got %v\nwant %v", tc, e, got, want)
		}
	}
}
