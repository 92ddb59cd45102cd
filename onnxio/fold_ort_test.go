package onnxio_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/uqnn/uqnn/onnxio"
)

// shapeSubgraphModel builds, at the given opset, the shape computation exporters emit before a
// Reshape (Shape → Gather → Unsqueeze → Concat with a Constant → Cast → Reshape), followed by
// Slice, Unsqueeze/Squeeze and Gemm, on a Conv and a MaxPool (ceil_mode from opset 10).
func shapeSubgraphModel(opset int64, rng *rand.Rand) *onnxio.Model {
	randT := func(name string, dims ...int64) *onnxio.Tensor {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32() - 0.5
		}
		return onnxio.NewFloat32(name, dims, v)
	}
	i64 := func(name string, v ...int64) *onnxio.Tensor {
		return onnxio.NewInt64(name, []int64{int64(len(v))}, v)
	}
	g := &onnxio.Graph{Name: "shape-subgraph"}
	node := func(op string, ins, outs []string, attrs ...*onnxio.Attribute) {
		g.Nodes = append(g.Nodes, &onnxio.Node{Name: outs[0] + "_node", Op: op, Inputs: ins, Outputs: outs, Attrs: attrs})
	}
	g.Initializers = append(g.Initializers, randT("W", 4, 1, 3, 3), randT("B", 4), randT("W2", 10, 100), randT("B2", 10))
	node("Conv", []string{"x", "W", "B"}, []string{"conv"}, onnxio.IntsAttr("strides", []int64{2, 2}), onnxio.IntsAttr("pads", []int64{1, 1, 1, 1}))
	poolAttrs := []*onnxio.Attribute{onnxio.IntsAttr("kernel_shape", []int64{3, 3}), onnxio.IntsAttr("strides", []int64{2, 2})}
	if opset >= 10 {
		poolAttrs = append(poolAttrs, onnxio.IntAttr("ceil_mode", 1))
	}
	node("MaxPool", []string{"conv"}, []string{"pool"}, poolAttrs...)
	node("Shape", []string{"pool"}, []string{"shape"})
	g.Initializers = append(g.Initializers, onnxio.NewInt64("zero", nil, []int64{0}))
	node("Gather", []string{"shape", "zero"}, []string{"batch"}, onnxio.IntAttr("axis", 0))
	if opset >= 13 {
		g.Initializers = append(g.Initializers, i64("axes0", 0))
		node("Unsqueeze", []string{"batch", "axes0"}, []string{"batch1"})
	} else {
		node("Unsqueeze", []string{"batch"}, []string{"batch1"}, onnxio.IntsAttr("axes", []int64{0}))
	}
	node("Constant", nil, []string{"minus1"}, onnxio.TensorAttr("value", i64("", -1)))
	node("Concat", []string{"batch1", "minus1"}, []string{"target"}, onnxio.IntAttr("axis", 0))
	node("Cast", []string{"target"}, []string{"target64"}, onnxio.IntAttr("to", int64(onnxio.Int64)))
	node("Reshape", []string{"pool", "target64"}, []string{"flat"})
	if opset >= 10 {
		g.Initializers = append(g.Initializers, i64("starts", 0), i64("ends", 100), i64("axes1", 1))
		node("Slice", []string{"flat", "starts", "ends", "axes1"}, []string{"sliced"})
	} else {
		node("Slice", []string{"flat"}, []string{"sliced"}, onnxio.IntsAttr("starts", []int64{0}), onnxio.IntsAttr("ends", []int64{100}), onnxio.IntsAttr("axes", []int64{1}))
	}
	if opset >= 13 {
		node("Unsqueeze", []string{"sliced", "axes1"}, []string{"u"})
		node("Squeeze", []string{"u", "axes1"}, []string{"sq"})
	} else {
		node("Unsqueeze", []string{"sliced"}, []string{"u"}, onnxio.IntsAttr("axes", []int64{1}))
		node("Squeeze", []string{"u"}, []string{"sq"}, onnxio.IntsAttr("axes", []int64{1}))
	}
	node("Gemm", []string{"sq", "W2", "B2"}, []string{"y"}, onnxio.IntAttr("transB", 1))
	g.Inputs = []*onnxio.ValueInfo{{Name: "x", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
		Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 1}, {Value: 28}, {Value: 28}}}}
	g.Outputs = []*onnxio.ValueInfo{{Name: "y", Tensor: true, DType: onnxio.Float, ShapeKnown: true,
		Shape: []onnxio.Dim{{Value: -1, Param: "N"}, {Value: 10}}}}
	return &onnxio.Model{IRVersion: 7, Producer: "uqnn-test", Opsets: []onnxio.Opset{{Domain: "", Version: opset}}, Graph: g}
}

// runOutputs runs path on data (n images of per values each, in one batch or in batches of the
// model's fixed batch) and returns the first output.
func runOutputs(t *testing.T, path string, m *onnxio.Model, data []float32, n int) []float32 {
	t.Helper()
	in := m.Graph.DataInputs()[0]
	dims := in.Dims()
	batch := int64(n)
	if dims[0] > 0 {
		batch = dims[0]
	}
	per := int64(len(data) / n)
	opts, err := ortgo.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ortgo.NewDynamicAdvancedSession(path, []string{in.Name}, []string{m.Graph.Outputs[0].Name}, opts)
	if err != nil {
		t.Fatalf("onnxruntime cannot open %s: %v", path, err)
	}
	defer s.Destroy()
	var res []float32
	for off := int64(0); off < int64(n); off += batch {
		x, err := ortgo.NewTensor(append(ortgo.Shape{batch}, dims[1:]...), data[off*per:(off+batch)*per])
		if err != nil {
			t.Fatal(err)
		}
		outs := []ortgo.Value{nil}
		if err := s.Run([]ortgo.Value{x}, outs); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		x.Destroy()
		res = append(res, outs[0].(*ortgo.Tensor[float32]).GetData()...)
		outs[0].Destroy()
	}
	return res
}

// foldCase is a model to fold: a shared file or a synthetic one.
type foldCase struct {
	name  string
	model *onnxio.Model
}

func foldCases(t *testing.T) []foldCase {
	dir := sharedModelsDir(t)
	var cs []foldCase
	for _, f := range sharedModelFiles {
		m, err := onnxio.Load(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, foldCase{f, m})
	}
	for _, opset := range []int64{9, 11, 13, 17} {
		cs = append(cs, foldCase{fmt.Sprintf("synthetic-op%d", opset), shapeSubgraphModel(opset, rand.New(rand.NewPCG(3, uint64(opset))))})
	}
	return cs
}

func TestSyntheticShapesMatchORT(t *testing.T) {
	needORT(t)
	for _, opset := range []int64{9, 11, 13, 17} {
		t.Run(fmt.Sprintf("opset%d", opset), func(t *testing.T) {
			m := shapeSubgraphModel(opset, rand.New(rand.NewPCG(3, uint64(opset))))
			for _, b := range []int{1, 4} {
				shapes, err := onnxio.InferShapes(m, b)
				if err != nil {
					t.Fatal(err)
				}
				scalar := func(name string) bool { return len(shapes[name]) == 0 }
				want := ortShapes(t, m, shapes["x"], scalar)
				if len(want) != len(m.Graph.Nodes)-1 { // all but the scalar Gather output
					t.Fatalf("onnxruntime gave %d values; want %d", len(want), len(m.Graph.Nodes)-1)
				}
				if got := shapes["batch"]; got == nil || len(got) != 0 {
					t.Errorf("Gather of a scalar index: shape %v; want [] (a scalar)", got)
				}
				for name, w := range want {
					if got := shapes[name]; !slices.Equal(got, w) {
						t.Errorf("batch %d: %q: InferShapes %v; onnxruntime %v", b, name, got, w)
					}
				}
			}
		})
	}
}

// shapeOps are the operators FoldConstants must remove from every test model.
var shapeOps = []string{"Constant", "Shape", "Gather", "Concat", "Cast"}

func TestFoldConstantsKeepsOutputs(t *testing.T) {
	needORT(t)
	const images = 20 // a multiple of every fixed batch (1, 10)
	for _, tc := range foldCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			orig := filepath.Join(dir, "orig.onnx")
			if err := tc.model.Save(orig, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			f := tc.model.Clone()
			if err := onnxio.FoldConstants(f); err != nil {
				t.Fatal(err)
			}
			for _, n := range f.Graph.Nodes {
				if slices.Contains(shapeOps, n.Op) {
					t.Errorf("node %q (%s) survived folding", n.Name, n.Op)
				}
			}
			var before, after []string
			for _, p := range tc.model.Params() {
				before = append(before, p.Name)
			}
			for _, p := range f.Params() {
				after = append(after, p.Name)
			}
			if !slices.Equal(before, after) {
				t.Errorf("Params changed from %v to %v", before, after)
			}
			folded := filepath.Join(dir, "folded.onnx")
			if err := f.Save(folded, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			dims := tc.model.Graph.DataInputs()[0].Dims()
			per := 1
			for _, d := range dims[1:] {
				per *= int(d)
			}
			rng := rand.New(rand.NewPCG(5, uint64(len(tc.name))))
			for _, n := range []int{10, images} {
				data := make([]float32, n*per)
				for i := range data {
					data[i] = rng.Float32()
				}
				want := runOutputs(t, orig, tc.model, data, n)
				got := runOutputs(t, folded, f, data, n)
				if len(got) != len(want) {
					t.Fatalf("%d images: %d outputs after folding; want %d", n, len(got), len(want))
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%d images: output[%d] = %v after folding; want %v (bit-identical)", n, i, got[i], want[i])
					}
				}
			}
		})
	}
}
