package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveConvGrads is the direct definition of a convolution's gradients for the loss <dy, y>:
// dx[n,c,ih,iw] and dw[m,c,kh,kw] sum dy[n,m,oh,ow] times the other factor over every
// (output pixel, kernel tap) pair that reads that input pixel; db sums dy per channel.
func naiveConvGrads(g ConvGeom, x, w, dy []float64) (dx, dw, db []float64) {
	dx, dw, db = make([]float64, g.XSize()), make([]float64, g.WSize()), make([]float64, g.M)
	for n := 0; n < g.N; n++ {
		for m := 0; m < g.M; m++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					d := dy[((n*g.M+m)*g.OH+oh)*g.OW+ow]
					db[m] += d
					for c := 0; c < g.C; c++ {
						for kh := 0; kh < g.KH; kh++ {
							for kw := 0; kw < g.KW; kw++ {
								ih := oh*g.SH - g.PadT + kh*g.DH
								iw := ow*g.SW - g.PadL + kw*g.DW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								xi := ((n*g.C+c)*g.H+ih)*g.W + iw
								wi := ((m*g.C+c)*g.KH+kh)*g.KW + kw
								dx[xi] += d * w[wi]
								dw[wi] += d * x[xi]
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// extCases are stride-1, undilated convolutions: odd sizes, asymmetric pads up to KH-1 and
// KW-1, 1x1 kernels, batches that split into several tiles per worker and an odd batch, plus
// pads as large as the kernel, which take the general path.
var extCases = []convCase{
	{x: [4]int{3, 2, 7, 9}, w: [4]int{4, 2, 3, 4}, pads: [4]int{2, 0, 1, 3}},
	{x: [4]int{2, 3, 5, 4}, w: [4]int{2, 3, 1, 1}},
	{x: [4]int{1, 1, 5, 3}, w: [4]int{1, 1, 5, 3}},
	{x: [4]int{2, 1, 4, 5}, w: [4]int{2, 1, 2, 2}, pads: [4]int{2, 2, 2, 2}},
	{x: [4]int{13, 8, 14, 14}, w: [4]int{16, 8, 5, 5}, pads: [4]int{2, 2, 2, 2}},
	{x: [4]int{7, 1, 28, 28}, w: [4]int{8, 1, 5, 5}, pads: [4]int{2, 2, 2, 2}},
	{x: [4]int{5, 3, 11, 10}, w: [4]int{6, 3, 5, 5}},
}

// TestConvExtendedWidthMatchesNaive checks every pass of the convolution, float64 and float32,
// against the naive loops on the shapes of the extended-width path, each also with the
// extended path allowed whatever its wasted columns (extMaxWaste), with it turned off, and
// with the float32 direct kernels turned off (the extended-width GEMM).
func TestConvExtendedWidthMatchesNaive(t *testing.T) {
	def := extMaxWaste
	defer func() { extMaxWaste, noExt = def, false }()
	r := rand.New(rand.NewPCG(21, 22))
	defer func() { noDirect = false }()
	for _, mode := range []string{"default", "any waste", "im2col", "ext gemm"} {
		for i, tc := range extCases {
			extMaxWaste, noExt = map[string]float64{"default": def, "any waste": 1e9, "im2col": def, "ext gemm": def}[mode], mode == "im2col"
			noDirect = mode == "ext gemm"
			testConvExtCase(t, r, mode, i, tc)
		}
	}
	if !directOK {
		t.Log("this processor has no AVX2 and FMA: the direct path was not tested")
	}
}

// TestConvPathChoice pins which path the reference nets' convolutions take.
func TestConvPathChoice(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, w [4]int
		pad  int
		ext  bool
	}{
		{"zoo1", [4]int{64, 1, 28, 28}, [4]int{8, 1, 5, 5}, 2, true},
		{"zoo2", [4]int{64, 8, 14, 14}, [4]int{16, 8, 5, 5}, 2, true},
		{"lenet1", [4]int{64, 1, 28, 28}, [4]int{20, 1, 5, 5}, 0, true},
		{"lenet2", [4]int{64, 20, 12, 12}, [4]int{50, 20, 5, 5}, 0, false},
	} {
		p := tc.pad
		g, err := NewConvGeom(tc.x, tc.w, [4]int{p, p, p, p}, [2]int{1, 1}, [2]int{1, 1})
		if err != nil {
			t.Fatal(err)
		}
		if g.fast() != tc.ext {
			_, _, l := g.ext()
			t.Errorf("%s: extended-width path %v (L/P = %d/%d); want %v", tc.name, g.fast(), l, g.p(), tc.ext)
		}
	}
}

func testConvExtCase(t *testing.T, r *rand.Rand, mode string, i int, tc convCase) {
	{
		tc.strides, tc.dilations = [2]int{1, 1}, [2]int{1, 1}
		t.Run(fmt.Sprintf("%s/case%d_%v_%v_%v", mode, i, tc.x, tc.w, tc.pads), func(t *testing.T) {
			g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := randSlice[float64](r, g.XSize()), randSlice[float64](r, g.WSize()), randSlice[float64](r, g.M)
			dy := randSlice[float64](r, g.YSize())
			wantY := naiveConv(g, x, w, b)
			wantDX, wantDW, wantDB := naiveConvGrads(g, x, w, dy)
			checkConvPasses(t, "float64", g, x, w, b, dy, refTol64, wantY, wantDX, wantDW, wantDB)
			checkConvPasses(t, "float32", g, toT[float32](x), toT[float32](w), toT[float32](b), toT[float32](dy), refTol32, wantY, wantDX, wantDW, wantDB)
		})
	}
}

func checkConvPasses[T Float](t *testing.T, name string, g ConvGeom, x, w, b, dy []T, tol float64, wantY, wantDX, wantDW, wantDB []float64) {
	t.Helper()
	c := NewConv[T](g)
	y, dx := make([]T, g.YSize()), make([]T, g.XSize())
	dw, db := make([]T, g.WSize()), make([]T, g.M)
	dw2, db2 := make([]T, g.WSize()), make([]T, g.M)
	// Twice, so that reused workspaces are exercised too.
	for range 2 {
		c.Forward(x, w, b, y)
		c.BackwardData(w, dy, dx)
		c.BackwardFilterFromCol(dy, dw, db)
		c.BackwardFilter(x, dy, dw2, db2)
	}
	for _, chk := range []struct {
		what      string
		got, want []float64
	}{
		{"y", to64(y), wantY}, {"dx", to64(dx), wantDX}, {"dw", to64(dw), wantDW}, {"db", to64(db), wantDB},
		{"dw (BackwardFilter)", to64(dw2), wantDW}, {"db (BackwardFilter)", to64(db2), wantDB},
	} {
		if e := maxRelErr(chk.got, chk.want); e > tol {
			t.Errorf("%s %s: max rel err %g > %g", name, chk.what, e, tol)
		}
	}
}

// TestConvDeterministic runs the parallel passes twice on fresh workspaces and wants
// bit-identical results: workers split images by fixed ranges and partial sums are added in
// worker order.
func TestConvDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []convCase{extCases[4], {x: [4]int{16, 3, 16, 16}, w: [4]int{4, 3, 3, 3}, pads: [4]int{0, 2, 1, 0}, strides: [2]int{2, 1}, dilations: [2]int{1, 2}}} {
		if tc.strides == [2]int{} {
			tc.strides, tc.dilations = [2]int{1, 1}, [2]int{1, 1}
		}
		g, err := NewConvGeom(tc.x, tc.w, tc.pads, tc.strides, tc.dilations)
		if err != nil {
			t.Fatal(err)
		}
		x, w, b := randSlice[float32](r, g.XSize()), randSlice[float32](r, g.WSize()), randSlice[float32](r, g.M)
		dy := randSlice[float32](r, g.YSize())
		run := func() [][]float32 {
			c := NewConv[float32](g)
			y, dx := make([]float32, g.YSize()), make([]float32, g.XSize())
			dw, db := make([]float32, g.WSize()), make([]float32, g.M)
			c.Forward(x, w, b, y)
			c.BackwardData(w, dy, dx)
			c.BackwardFilterReuse(x, dy, dw, db)
			return [][]float32{y, dx, dw, db}
		}
		a, bb := run(), run()
		for i := range a {
			for j := range a[i] {
				if a[i][j] != bb[i][j] {
					t.Fatalf("%+v: output %d element %d differs between runs: %v vs %v", tc, i, j, a[i][j], bb[i][j])
				}
			}
		}
	}
}

// TestMaxPoolTiesFirstIndex checks that every MaxPoolForward loop (2x2, three-wide tiled,
// general) breaks ties at the window's first cell in row-major order, in float32.
func TestMaxPoolTiesFirstIndex(t *testing.T) {
	for _, tc := range []poolCase{
		{x: [4]int{2, 3, 8, 8}, kernel: [2]int{2, 2}, strides: [2]int{2, 2}},
		{x: [4]int{2, 2, 14, 14}, kernel: [2]int{3, 3}, strides: [2]int{3, 3}},
		{x: [4]int{1, 2, 9, 9}, kernel: [2]int{2, 3}, strides: [2]int{2, 3}},
		{x: [4]int{1, 2, 9, 9}, kernel: [2]int{3, 3}, strides: [2]int{2, 2}},
	} {
		g, err := NewPoolGeom(tc.x, tc.kernel, tc.pads, tc.strides)
		if err != nil {
			t.Fatal(err)
		}
		x, y, am := make([]float32, g.XSize()), make([]float32, g.YSize()), make([]int32, g.YSize())
		MaxPoolForward(g, x, y, am)
		for pl := 0; pl < g.N*g.C; pl++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					i := (pl*g.OH+oh)*g.OW + ow
					want := int32((pl*g.H+oh*g.SH)*g.W + ow*g.SW)
					if am[i] != want {
						t.Fatalf("%+v: output %d argmax %d; want first cell %d", tc, i, am[i], want)
					}
				}
			}
		}
	}
}
