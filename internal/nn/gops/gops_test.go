package gops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const (
	// fdTol is the relative tolerance of central finite differences (step fdStep) in float64:
	// truncation O(h²)≈1e-10 and rounding ≈1e-16/h≈1e-11 leave ~1e-6 headroom. Max pooling and
	// ReLU kinks are avoided by the random draws (a crossing within ±h has probability ~1e-5).
	fdTol  = 1e-6
	fdStep = 1e-5
	// fdFloor is the magnitude below which gradients are compared absolutely (error / fdFloor):
	// a finite difference of a near-zero gradient carries ~1e-11 absolute error, which would be
	// a large relative one.
	fdFloor = 1e-2
	// stockTol bounds the difference from gorgonia's own Conv2d/MaxPool2D in float64: the same
	// products summed in a different order.
	stockTol = 1e-10
)

func randTensor(r *rand.Rand, dt tensor.Dtype, shape ...int) *tensor.Dense {
	n := tensor.Shape(shape).TotalSize()
	if dt == tensor.Float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.Float64()*2 - 1)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = r.Float64()*2 - 1
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

type netCase struct {
	name    string
	x       [4]int
	filters int
	k       int
	conv    ConvParams
	pool    [2]int
	avg     bool
	classes int
}

// buildNet makes conv→relu→pool→reshape→dense→softmax cross-entropy in float64.
func buildNet(t *testing.T, r *rand.Rand, tc netCase) (g *gorgonia.ExprGraph, cost *gorgonia.Node, params []*gorgonia.Node) {
	t.Helper()
	g = gorgonia.NewGraph()
	dt := tensor.Float64
	x := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(tc.x[:]...), gorgonia.WithName("x"), gorgonia.WithValue(randTensor(r, dt, tc.x[:]...)))
	w := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(tc.filters, tc.x[1], tc.k, tc.k), gorgonia.WithName("w"),
		gorgonia.WithValue(randTensor(r, dt, tc.filters, tc.x[1], tc.k, tc.k)))
	b := gorgonia.NewTensor(g, dt, 1, gorgonia.WithShape(tc.filters), gorgonia.WithName("b"), gorgonia.WithValue(randTensor(r, dt, tc.filters)))
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	h := must(Conv2D(x, w, b, tc.conv))
	h = must(ReLU(h))
	if tc.avg {
		h = must(AvgPool2D(h, tc.pool, [4]int{}, tc.pool))
	} else {
		h = must(MaxPool2D(h, tc.pool, [4]int{}, tc.pool))
	}
	s := h.Shape()
	flat := s[1] * s[2] * s[3]
	h = must(gorgonia.Reshape(h, tensor.Shape{s[0], flat}))
	fw := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(tc.classes, flat), gorgonia.WithName("fw"), gorgonia.WithValue(randTensor(r, dt, tc.classes, flat)))
	fb := gorgonia.NewTensor(g, dt, 1, gorgonia.WithShape(tc.classes), gorgonia.WithName("fb"), gorgonia.WithValue(randTensor(r, dt, tc.classes)))
	z := must(Dense(h, fw, fb, true))
	oh := make([]float64, s[0]*tc.classes)
	for i := 0; i < s[0]; i++ {
		oh[i*tc.classes+r.IntN(tc.classes)] = 1
	}
	y := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(s[0], tc.classes), gorgonia.WithName("y"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s[0], tc.classes), tensor.WithBacking(oh))))
	cost = must(SoftmaxCrossEntropy(z, y))
	params = []*gorgonia.Node{w, b, fw, fb}
	if !tc.conv.NoInputGrad {
		params = append(params, x)
	}
	return g, cost, params
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	cases := []netCase{
		{name: "max_nopad", x: [4]int{2, 1, 8, 8}, filters: 3, k: 3, conv: ConvParams{NoInputGrad: true}, pool: [2]int{2, 2}, classes: 4},
		{name: "max_pad_xgrad", x: [4]int{3, 2, 7, 7}, filters: 2, k: 3, conv: ConvParams{Pads: [4]int{1, 1, 1, 1}}, pool: [2]int{2, 2}, classes: 3},
		{name: "avg_stride_dil", x: [4]int{2, 2, 11, 10}, filters: 3, k: 3,
			conv: ConvParams{Pads: [4]int{2, 1, 0, 1}, Strides: [2]int{2, 1}, Dilations: [2]int{1, 2}}, pool: [2]int{2, 2}, avg: true, classes: 5},
		{name: "max_pool3", x: [4]int{2, 1, 9, 9}, filters: 2, k: 5, conv: ConvParams{Pads: [4]int{2, 2, 2, 2}}, pool: [2]int{3, 3}, classes: 3},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 77))
			g, cost, params := buildNet(t, r, tc)
			grads, err := gorgonia.Grad(cost, params...)
			if err != nil {
				t.Fatalf("Grad: %v", err)
			}
			m := gorgonia.NewTapeMachine(g)
			defer m.Close()
			run := func() float64 {
				m.Reset()
				if err := m.RunAll(); err != nil {
					t.Fatalf("RunAll: %v", err)
				}
				return cost.Value().Data().(float64)
			}
			for pi, p := range params {
				run() // gradients of the unperturbed parameters
				got := append([]float64(nil), grads[pi].Value().Data().([]float64)...)
				data := p.Value().Data().([]float64)
				worst := 0.0
				for j := range data {
					old := data[j]
					data[j] = old + fdStep
					fp := run()
					data[j] = old - fdStep
					fm := run()
					data[j] = old
					want := (fp - fm) / (2 * fdStep)
					e := math.Abs(got[j]-want) / math.Max(fdFloor, math.Abs(want))
					if e > worst {
						worst = e
					}
					if e > fdTol {
						t.Errorf("d cost/d %s[%d] = %.10g; finite difference %.10g (rel err %g)", p.Name(), j, got[j], want, e)
						break
					}
				}
				t.Logf("%s: %d entries, max rel err %.2g", p.Name(), len(data), worst)
			}
		})
	}
}

// TestForwardMatchesStock compares Conv2D and MaxPool2D with gorgonia's own Conv2d and
// MaxPool2D on the same random input (symmetric pads, which the stock ops support).
func TestForwardMatchesStock(t *testing.T) {
	for i, tc := range []struct {
		x             [4]int
		w             [4]int
		pad, str, dil int
		pool          int
	}{
		{x: [4]int{2, 1, 12, 12}, w: [4]int{4, 1, 5, 5}, pad: 0, str: 1, dil: 1, pool: 2},
		{x: [4]int{3, 2, 9, 9}, w: [4]int{3, 2, 3, 3}, pad: 1, str: 1, dil: 1, pool: 3},
		{x: [4]int{2, 3, 11, 11}, w: [4]int{2, 3, 3, 3}, pad: 2, str: 2, dil: 2, pool: 2},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 99))
			g := gorgonia.NewGraph()
			dt := tensor.Float64
			x := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(tc.x[:]...), gorgonia.WithName("x"), gorgonia.WithValue(randTensor(r, dt, tc.x[:]...)))
			w := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(tc.w[:]...), gorgonia.WithName("w"), gorgonia.WithValue(randTensor(r, dt, tc.w[:]...)))
			p := tc.pad
			ours, err := Conv2D(x, w, nil, ConvParams{Pads: [4]int{p, p, p, p}, Strides: [2]int{tc.str, tc.str}, Dilations: [2]int{tc.dil, tc.dil}})
			if err != nil {
				t.Fatal(err)
			}
			stock, err := gorgonia.Conv2d(x, w, tensor.Shape{tc.w[2], tc.w[3]}, []int{p, p}, []int{tc.str, tc.str}, []int{tc.dil, tc.dil})
			if err != nil {
				t.Fatal(err)
			}
			ourPool, err := MaxPool2D(ours, [2]int{tc.pool, tc.pool}, [4]int{}, [2]int{tc.pool, tc.pool})
			if err != nil {
				t.Fatal(err)
			}
			stockPool, err := gorgonia.MaxPool2D(stock, tensor.Shape{tc.pool, tc.pool}, []int{0, 0}, []int{tc.pool, tc.pool})
			if err != nil {
				t.Fatal(err)
			}
			m := gorgonia.NewTapeMachine(g)
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			for _, pair := range [][2]*gorgonia.Node{{ours, stock}, {ourPool, stockPool}} {
				a, b := pair[0].Value().(tensor.Tensor), pair[1].Value().(tensor.Tensor)
				if !a.Shape().Eq(b.Shape()) {
					t.Fatalf("%v: shape %v; stock %v", pair[0].Op(), a.Shape(), b.Shape())
				}
				ad, bd := a.Data().([]float64), b.Data().([]float64)
				for j := range ad {
					if math.Abs(ad[j]-bd[j]) > stockTol*math.Max(1, math.Abs(bd[j])) {
						t.Fatalf("%v: [%d] = %v; stock %v", pair[0].Op(), j, ad[j], bd[j])
					}
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 2, 5, 5), gorgonia.WithName("x"))
	w := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(3, 1, 3, 3), gorgonia.WithName("w"))
	v := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(2, 5), gorgonia.WithName("v"))
	w64 := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(3, 2, 3, 3), gorgonia.WithName("w64"))
	for _, tc := range []struct {
		name string
		f    func() (*gorgonia.Node, error)
	}{
		{"conv channels", func() (*gorgonia.Node, error) { return Conv2D(x, w, nil, ConvParams{}) }},
		{"conv rank", func() (*gorgonia.Node, error) { return Conv2D(v, w, nil, ConvParams{}) }},
		{"conv dtype", func() (*gorgonia.Node, error) { return Conv2D(x, w64, nil, ConvParams{}) }},
		{"pool pad", func() (*gorgonia.Node, error) { return MaxPool2D(x, [2]int{2, 2}, [4]int{2, 0, 0, 0}, [2]int{2, 2}) }},
		{"pool big", func() (*gorgonia.Node, error) { return AvgPool2D(x, [2]int{6, 6}, [4]int{}, [2]int{1, 1}) }},
		{"dense K", func() (*gorgonia.Node, error) { return Dense(v, v, nil, false) }},
		{"xent shape", func() (*gorgonia.Node, error) { return SoftmaxCrossEntropy(v, x) }},
	} {
		if _, err := tc.f(); err == nil {
			t.Errorf("%s: nil error; want one", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// TestTransposedInput feeds Conv2D from an NHWC input through gorgonia's Transpose (as the
// keras2onnx models do) and compares with feeding the NCHW tensor directly.
func TestTransposedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	dt := tensor.Float64
	nchw := randTensor(r, dt, 2, 3, 6, 5)
	nhwcT, err := tensor.Transpose(nchw, 0, 2, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	nhwc := nhwcT.(*tensor.Dense).Materialize().(*tensor.Dense)
	wv := randTensor(r, dt, 4, 3, 3, 3)
	var outs [2][]float64
	for i := range outs {
		g := gorgonia.NewGraph()
		w := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(4, 3, 3, 3), gorgonia.WithName("w"), gorgonia.WithValue(wv))
		var x *gorgonia.Node
		if i == 0 {
			x = gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(2, 3, 6, 5), gorgonia.WithName("x"), gorgonia.WithValue(nchw))
		} else {
			in := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(2, 6, 5, 3), gorgonia.WithName("x"), gorgonia.WithValue(nhwc))
			if x, err = gorgonia.Transpose(in, 0, 3, 1, 2); err != nil {
				t.Fatal(err)
			}
		}
		y, err := Conv2D(x, w, nil, ConvParams{Pads: [4]int{1, 1, 1, 1}})
		if err != nil {
			t.Fatal(err)
		}
		m := gorgonia.NewTapeMachine(g)
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		outs[i] = append([]float64(nil), y.Value().Data().([]float64)...)
		m.Close()
	}
	for j := range outs[0] {
		if math.Abs(outs[0][j]-outs[1][j]) > stockTol {
			t.Fatalf("[%d]: via transpose %v; direct %v", j, outs[1][j], outs[0][j])
		}
	}
}

// TestDenseGradientsFiniteDifferences covers Dense without bias and with W as [K, M]
// (transW false), and ReLU on a rank-2 tensor, through Grad and a TapeMachine.
func TestDenseGradientsFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	g := gorgonia.NewGraph()
	dt := tensor.Float64
	mk := func(name string, shape ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(randTensor(r, dt, shape...)))
	}
	x, w1, w2, b2 := mk("x", 3, 4), mk("w1", 4, 5), mk("w2", 5, 3), mk("b2", 3)
	h, err := Dense(x, w1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = ReLU(h); err != nil {
		t.Fatal(err)
	}
	z, err := Dense(h, w2, b2, false)
	if err != nil {
		t.Fatal(err)
	}
	// Soft targets: rows summing to 1.5 exercise the Σt factor of the gradient.
	tv := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking([]float64{1, 0.5, 0, 0, 0, 1.5, 0.25, 0.25, 1}))
	y := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(3, 3), gorgonia.WithName("y"), gorgonia.WithValue(tv))
	cost, err := SoftmaxCrossEntropy(z, y)
	if err != nil {
		t.Fatal(err)
	}
	params := []*gorgonia.Node{x, w1, w2, b2}
	grads, err := gorgonia.Grad(cost, params...)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	run := func() float64 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return cost.Value().Data().(float64)
	}
	for pi, p := range params {
		run()
		got := append([]float64(nil), grads[pi].Value().Data().([]float64)...)
		data := p.Value().Data().([]float64)
		for j := range data {
			old := data[j]
			data[j] = old + fdStep
			fp := run()
			data[j] = old - fdStep
			fm := run()
			data[j] = old
			want := (fp - fm) / (2 * fdStep)
			if e := math.Abs(got[j]-want) / math.Max(fdFloor, math.Abs(want)); e > fdTol {
				t.Errorf("d cost/d %s[%d] = %.10g; finite difference %.10g (rel err %g)", p.Name(), j, got[j], want, e)
			}
		}
	}
}
