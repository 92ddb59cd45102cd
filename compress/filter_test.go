package compress

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/onnxio"
)

// removalTol bounds |removed − zeroed| relative to max(1, max |zeroed output|): the two models
// compute the same sums in a different order (float32 rounding, about 1e-7 per operation).
const removalTol = 1e-5

type convFeature struct{ conv, feature string }

var filterCases = []struct {
	name   string
	load   func(t *testing.T) *onnxio.Model
	n      int     // inputs (a multiple of a fixed batch)
	lo, hi float32 // input range (the model's preprocessing)
	convs  []convFeature
}{
	{"lenet5", func(*testing.T) *onnxio.Model { return lenet5(3) }, 10, 0, 1,
		[]convFeature{{"conv1", "relu1"}, {"conv2", "relu2"}}},
	{"zoo", func(*testing.T) *onnxio.Model { return fixtures.Zoo(rand.New(rand.NewPCG(4, 1))) }, 10, 0, 1,
		[]convFeature{{"conv1", "relu1"}, {"conv2", "relu2"}}},
	{"pytorch-cnn-op11", func(t *testing.T) *onnxio.Model { return loadShared(t, "pytorch-cnn-op11.onnx") }, 10, -1, 1,
		[]convFeature{{"/conv1/Conv", "/relu/Relu_output_0"}, {"/conv2/Conv", "/relu_1/Relu_output_0"}}},
	{"cntk-zoo-mnist-op7", func(t *testing.T) *onnxio.Model { return loadShared(t, "cntk-zoo-mnist-op7.onnx") }, 10, 0, 255,
		[]convFeature{{"Convolution28", "ReLU32_Output_0"}, {"Convolution110", "ReLU114_Output_0"}}},
	{"keras2onnx-nhwc-op10", func(t *testing.T) *onnxio.Model { return loadShared(t, "keras2onnx-nhwc-op10.onnx") }, 10, 0, 1,
		[]convFeature{{"conv2d_3", "conv2d_3/Relu:0"}, {"conv2d_4", "conv2d_4/Relu:0"}}},
	{"pytorch-lenet5-op9-batch10", func(t *testing.T) *onnxio.Model { return loadShared(t, "pytorch-lenet5-op9-batch10.onnx") }, 10, -0.5, 2.8,
		[]convFeature{{"body.conv1.weight", "12"}, {"body.conv2.weight", "15"}}},
	{"pytorch-op20-external", func(t *testing.T) *onnxio.Model { return loadShared(t, "pytorch-op20-external/mnist.onnx") }, 10, -1, 1,
		[]convFeature{{"node_conv2d", "relu"}}},
}

// TestRemoveFiltersEqualsZeroedFeature is the key property: removing filters structurally
// computes what the original model computes with those filters' feature maps zeroed (an
// independent graph edit: a Mul by a 0/1 channel mask after the feature), and the model is
// genuinely smaller and runs in onnxruntime.
func TestRemoveFiltersEqualsZeroedFeature(t *testing.T) {
	for _, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.load(t)
			run := ortRunner(t)
			before, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			x := randomInputs(11, tc.n, 784, tc.lo, tc.hi)
			var names []string
			for _, c := range tc.convs {
				names = append(names, c.conv)
			}
			scores, err := ScoreFilters(context.Background(), m, run, x, tc.n, names)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 5))
			rm := map[string][]int64{}
			ref := m
			var removed int64
			for i, c := range tc.convs {
				if scores[i].Feature != c.feature {
					t.Errorf("conv %s: feature %q; want %q", c.conv, scores[i].Feature, c.feature)
				}
				k := len(scores[i].Mean)
				var idx []int64
				for _, p := range rng.Perm(k)[:max(1, k/3)] {
					idx = append(idx, int64(p))
				}
				slices.Sort(idx)
				rm[c.conv] = idx
				ref = zeroChannels(t, ref, c.feature, int64(k), idx)
				removed += int64(len(idx))
			}
			got, err := RemoveFilters(m, rm)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := m.Encode()
			if !bytes.Equal(before, after) {
				t.Fatal("RemoveFilters changed its input model")
			}
			yRemoved := runORT(t, got, x, tc.n)[0]
			yZeroed := runORT(t, ref, x, tc.n)[0]
			yOrig := runORT(t, m, x, tc.n)[0]
			diff, scale := maxAbsDiff(yRemoved, yZeroed)
			tol := removalTol * math.Max(1, scale)
			if diff > tol {
				t.Errorf("removed vs zeroed outputs differ by %g (tolerance %g, output scale %g); removed %v", diff, tol, scale, rm)
			}
			if d, _ := maxAbsDiff(yOrig, yZeroed); d < 100*tol {
				t.Errorf("zeroing the removed filters changes the output by only %g: the test cannot tell removal from doing nothing", d)
			}
			// Smaller: each conv has fewer filters, and the parameter count drops.
			var pBefore, pAfter int64
			for _, p := range m.Params() {
				pBefore += p.NumElements()
			}
			for _, p := range got.Params() {
				pAfter += p.NumElements()
			}
			if pAfter >= pBefore {
				t.Errorf("parameters %d → %d; want fewer", pBefore, pAfter)
			}
			for i, c := range tc.convs {
				w := got.Initializer(scores[i].Weight)
				if want := int64(len(scores[i].Mean) - len(rm[c.conv])); w.Dims[0] != want {
					t.Errorf("conv %s: weight dims %v; want %d filters", c.conv, w.Dims, want)
				}
			}
			// The ledger sees the removed filters as gone.
			led, err := NewLedger(m, got)
			if err != nil {
				t.Fatal(err)
			}
			if led.NonZero >= led.Params {
				t.Errorf("ledger: %d non-zero of %d; want fewer", led.NonZero, led.Params)
			}
			t.Logf("removed %d filters: parameters %d → %d, max |Δ| %.2g at output scale %.3g", removed, pBefore, pAfter, diff, scale)
		})
	}
}

// A 1×1 conv with weights (1, −1, 2) and biases (0, 0, −1) over 2×2 images gives ReLU maps
// whose means and zero fractions are worked out by hand.
func tinyConv() *onnxio.Model {
	g := &onnxio.Graph{
		Name: "tiny",
		Inputs: []*onnxio.ValueInfo{{Name: "x", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
			Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 1}, {Value: 2}, {Value: 2}}}},
		Outputs: []*onnxio.ValueInfo{{Name: "y", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
			Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 2}}}},
		Initializers: []*onnxio.Tensor{
			onnxio.NewFloat32("c.w", []int64{3, 1, 1, 1}, []float32{1, -1, 2}),
			onnxio.NewFloat32("c.b", []int64{3}, []float32{0, 0, -1}),
			onnxio.NewFloat32("fc.w", []int64{2, 12}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}),
			onnxio.NewFloat32("fc.b", []int64{2}, []float32{0.5, -0.5}),
		},
		Nodes: []*onnxio.Node{
			{Name: "c", Op: "Conv", Inputs: []string{"x", "c.w", "c.b"}, Outputs: []string{"c"}},
			{Name: "r", Op: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}},
			{Name: "f", Op: "Flatten", Inputs: []string{"r"}, Outputs: []string{"f"}, Attrs: []*onnxio.Attribute{onnxio.IntAttr("axis", 1)}},
			{Name: "fc", Op: "Gemm", Inputs: []string{"f", "fc.w", "fc.b"}, Outputs: []string{"y"}, Attrs: []*onnxio.Attribute{onnxio.IntAttr("transB", 1)}},
		},
	}
	return &onnxio.Model{IRVersion: 7, Opsets: []onnxio.Opset{{Version: 13}}, Graph: g}
}

func TestScoreFiltersHandComputed(t *testing.T) {
	m := tinyConv()
	x := []float32{1, 2, 3, 4, -1, -2, 0, 0}
	scores, err := ScoreFilters(context.Background(), m, ortRunner(t), x, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0: relu(x) = (1,2,3,4) and (0,0,0,0): mean 10/8, zeros 4/8.
	// Channel 1: relu(−x) = (0,0,0,0) and (1,2,0,0): mean 3/8, zeros 6/8.
	// Channel 2: relu(2x−1) = (1,3,5,7) and (0,0,0,0): mean 16/8, zeros 4/8.
	wantMean := []float64{1.25, 0.375, 2}
	wantAPoZ := []float64{0.5, 0.75, 0.5}
	if len(scores) != 1 || scores[0].Feature != "r" || scores[0].Layer != "c" {
		t.Fatalf("scores %+v; want one for conv c, feature r", scores)
	}
	for i := range wantMean {
		if math.Abs(scores[0].Mean[i]-wantMean[i]) > 1e-12 || math.Abs(scores[0].APoZ[i]-wantAPoZ[i]) > 1e-12 {
			t.Errorf("filter %d: mean %g apoz %g; want %g %g", i, scores[0].Mean[i], scores[0].APoZ[i], wantMean[i], wantAPoZ[i])
		}
	}
	for _, crit := range []Criterion{MeanActivation, APoZ} {
		sel, err := SelectFilters(scores, crit, map[string]float64{"": 0.34})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sel["c"], []int64{1}) {
			t.Errorf("%v: selected %v; want [1] (lowest mean, most zeros)", crit, sel)
		}
	}
	// Removing filter 1 drops columns 4..7 of fc.w (transB: features are columns).
	got, err := RemoveFilters(m, map[string][]int64{"c": {1}})
	if err != nil {
		t.Fatal(err)
	}
	fc := got.Initializer("fc.w")
	want := []float32{1, 2, 3, 4, 9, 10, 11, 12, 12, 11, 10, 9, 4, 3, 2, 1}
	if !slices.Equal(fc.Dims, []int64{2, 8}) || !slices.Equal(fc.Float32, want) {
		t.Errorf("fc.w %v %v; want [2 8] %v", fc.Dims, fc.Float32, want)
	}
	if w := got.Initializer("c.w").Float32; !slices.Equal(w, []float32{1, 2}) {
		t.Errorf("c.w %v; want [1 2]", w)
	}
	if b := got.Initializer("c.b").Float32; !slices.Equal(b, []float32{0, -1}) {
		t.Errorf("c.b %v; want [0 -1]", b)
	}
}

// Patterns filter removal cannot handle are refused with ErrUnsupported naming the node.
func TestRemoveFiltersRefuses(t *testing.T) {
	cases := []struct {
		name, node string
		edit       func(m *onnxio.Model)
	}{
		{"residual add", "res", func(m *onnxio.Model) {
			g := m.Graph
			g.Nodes = slices.Insert(g.Nodes, 2, &onnxio.Node{Name: "res", Op: "Add", Inputs: []string{"r", "c"}, Outputs: []string{"r2"}})
			g.Nodes[3].Inputs[0] = "r2"
		}},
		{"concat", "cat", func(m *onnxio.Model) {
			g := m.Graph
			g.Nodes = slices.Insert(g.Nodes, 2, &onnxio.Node{Name: "cat", Op: "Concat", Inputs: []string{"r", "r"}, Outputs: []string{"r2"}, Attrs: []*onnxio.Attribute{onnxio.IntAttr("axis", 1)}})
			g.Nodes[3].Inputs[0] = "r2"
			w := g.Initializer("fc.w")
			w.Dims, w.Float32 = []int64{2, 24}, append(w.Float32, w.Float32...)
		}},
		{"graph output", "c", func(m *onnxio.Model) {
			m.Graph.Outputs = append(m.Graph.Outputs, &onnxio.ValueInfo{Name: "r", Tensor: true, DType: onnxio.Float})
		}},
		{"bias after activation", "post", func(m *onnxio.Model) {
			g := m.Graph
			g.Initializers = append(g.Initializers, onnxio.NewFloat32("pb", []int64{3, 1, 1}, []float32{1, 2, 3}))
			g.Nodes = slices.Insert(g.Nodes, 2, &onnxio.Node{Name: "post", Op: "Add", Inputs: []string{"r", "pb"}, Outputs: []string{"r2"}})
			g.Nodes[3].Inputs[0] = "r2"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyConv()
			tc.edit(m)
			_, err := RemoveFilters(m, map[string][]int64{"c": {0}})
			if !errors.Is(err, onnxio.ErrUnsupported) || !strings.Contains(err.Error(), `"`+tc.node+`"`) {
				t.Fatalf("error %v; want ErrUnsupported naming node %q", err, tc.node)
			}
		})
	}
	if _, err := RemoveFilters(tinyConv(), map[string][]int64{"c": {0, 1, 2}}); err == nil {
		t.Error("removing every filter: no error")
	}
	if _, err := RemoveFilters(tinyConv(), map[string][]int64{"c": {3}}); err == nil {
		t.Error("filter index out of range: no error")
	}
}

// bnNet is conv(3→6, 3×3) → BatchNorm → Relu → MaxPool 2 → conv(6→4, 3×3, pad 1) → bias Mul
// → LeakyRelu → GlobalAveragePool → Flatten → Gemm(4→3, transB 0), random weights.
func bnNet(seed uint64) *onnxio.Model {
	rng := rand.New(rand.NewPCG(seed, 9))
	r := func(name string, dims ...int64) *onnxio.Tensor {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return onnxio.NewFloat32(name, dims, v)
	}
	pos := func(t *onnxio.Tensor) *onnxio.Tensor {
		for i, v := range t.Float32 {
			t.Float32[i] = 0.5 + float32(math.Abs(float64(v)))
		}
		return t
	}
	g := &onnxio.Graph{
		Name: "bn",
		Inputs: []*onnxio.ValueInfo{{Name: "x", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
			Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 1}, {Value: 28}, {Value: 28}}}},
		Outputs: []*onnxio.ValueInfo{{Name: "y", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
			Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 3}}}},
		Initializers: []*onnxio.Tensor{
			r("c1.w", 6, 1, 3, 3), r("c1.b", 6), pos(r("bn.s", 6)), r("bn.b", 6), r("bn.m", 6), pos(r("bn.v", 6)),
			r("c2.w", 4, 6, 3, 3), pos(r("scale", 1, 4, 1, 1)), r("fc.w", 4, 3), r("fc.b", 3),
		},
		Nodes: []*onnxio.Node{
			{Name: "c1", Op: "Conv", Inputs: []string{"x", "c1.w", "c1.b"}, Outputs: []string{"c1"}},
			{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c1", "bn.s", "bn.b", "bn.m", "bn.v"}, Outputs: []string{"bn"}},
			{Name: "r1", Op: "Relu", Inputs: []string{"bn"}, Outputs: []string{"r1"}},
			{Name: "p1", Op: "MaxPool", Inputs: []string{"r1"}, Outputs: []string{"p1"}, Attrs: []*onnxio.Attribute{onnxio.IntsAttr("kernel_shape", []int64{2, 2}), onnxio.IntsAttr("strides", []int64{2, 2})}},
			{Name: "c2", Op: "Conv", Inputs: []string{"p1", "c2.w"}, Outputs: []string{"c2"}, Attrs: []*onnxio.Attribute{onnxio.IntsAttr("pads", []int64{1, 1, 1, 1})}},
			{Name: "mul", Op: "Mul", Inputs: []string{"scale", "c2"}, Outputs: []string{"mul"}},
			{Name: "r2", Op: "LeakyRelu", Inputs: []string{"mul"}, Outputs: []string{"r2"}},
			{Name: "gap", Op: "GlobalAveragePool", Inputs: []string{"r2"}, Outputs: []string{"gap"}},
			{Name: "flat", Op: "Flatten", Inputs: []string{"gap"}, Outputs: []string{"flat"}},
			{Name: "fc", Op: "Gemm", Inputs: []string{"flat", "fc.w", "fc.b"}, Outputs: []string{"y"}},
		},
	}
	return &onnxio.Model{IRVersion: 7, Opsets: []onnxio.Opset{{Version: 13}}, Graph: g}
}

func TestRemoveFiltersBatchNorm(t *testing.T) {
	m := bnNet(1)
	x := randomInputs(2, 4, 784, 0, 1)
	rm := map[string][]int64{"c1": {0, 4}, "c2": {2}}
	got, err := RemoveFilters(m, rm)
	if err != nil {
		t.Fatal(err)
	}
	ref := zeroChannels(t, zeroChannels(t, m, "r1", 6, rm["c1"]), "r2", 4, rm["c2"])
	a, b := runORT(t, got, x, 4)[0], runORT(t, ref, x, 4)[0]
	diff, scale := maxAbsDiff(a, b)
	if diff > removalTol*math.Max(1, scale) {
		t.Errorf("removed vs zeroed differ by %g at scale %g", diff, scale)
	}
	if d, _ := maxAbsDiff(runORT(t, m, x, 4)[0], b); d < 1e-3 {
		t.Errorf("zeroing changes the output by only %g", d)
	}
	for name, dims := range map[string][]int64{"bn.s": {4}, "bn.v": {4}, "c2.w": {3, 4, 3, 3}, "scale": {1, 3, 1, 1}, "fc.w": {3, 3}} {
		if d := got.Initializer(name).Dims; !slices.Equal(d, dims) {
			t.Errorf("%s dims %v; want %v", name, d, dims)
		}
	}
}

func TestPassesDeterministic(t *testing.T) {
	m := lenet5(7)
	a, ma, err := Magnitude(m, MagnitudeConfig{KeepAll: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	b, mb, _ := Magnitude(m, MagnitudeConfig{KeepAll: 0.2})
	if !bytes.Equal(encode(t, a), encode(t, b)) {
		t.Error("Magnitude: same input, different models")
	}
	for name := range ma {
		if !slices.Equal(ma[name], mb[name]) {
			t.Errorf("Magnitude: masks of %s differ", name)
		}
	}
	x := randomInputs(3, 10, 784, 0, 1)
	cfg := FilterConfig{Criterion: APoZ, Remove: map[string]float64{"": 0.3}}
	f1, rm1, _, err := Filters(context.Background(), m, ortRunner(t), x, 10, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f2, rm2, _, _ := Filters(context.Background(), m, ortRunner(t), x, 10, cfg)
	if !bytes.Equal(encode(t, f1), encode(t, f2)) || !slices.Equal(rm1["conv1"], rm2["conv1"]) {
		t.Error("Filters: same input, different models")
	}
	if len(rm1["conv1"]) != 6 || len(rm1["conv2"]) != 15 {
		t.Errorf("removed %v; want round(0.3·20) = 6 and round(0.3·50) = 15", rm1)
	}
}
