package onnxgo

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	ortgo "github.com/yalue/onnxruntime_go"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/onnxio"
)

// interopTol: two float32 runtimes with different summation orders in Conv and Gemm (800- and
// 500-term dot products of values ~1) differ by ~1e-6 on the logits; 1e-4 is the bound asked
// for two independent implementations.
const interopTol = 1e-4

const images = 200

// fixedBatch returns a copy of m whose input and outputs have batch dimension n: onnx-go sizes
// its graph from the declared shapes and does not take a symbolic batch.
func fixedBatch(m *onnxio.Model, n int64) *onnxio.Model {
	c := m.Clone()
	for _, v := range append(slices.Clone(c.Graph.Inputs), c.Graph.Outputs...) {
		if v.ShapeKnown && len(v.Shape) > 0 {
			v.Shape[0] = onnxio.Dim{Value: n}
		}
	}
	return c
}

func inputs(t *testing.T) []float32 {
	x := testenv.MNIST(t).Test.Float(0, images)
	for i := range x {
		x[i] /= 255
	}
	return x
}

// runORT runs m in onnxruntime on x and returns its outputs.
func runORT(t *testing.T, m *onnxio.Model, x []float32) [][]float32 {
	t.Helper()
	testenv.ORT(t)
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.Save(path, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range m.Graph.Outputs {
		names = append(names, o.Name)
	}
	s, err := ortgo.NewDynamicAdvancedSession(path, []string{fixtures.InputName}, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	in, err := ortgo.NewTensor(ortgo.NewShape(images, 1, fixtures.Rows, fixtures.Cols), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := make([]ortgo.Value, len(names))
	if err := s.Run([]ortgo.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	var res [][]float32
	for _, o := range outs {
		res = append(res, slices.Clone(o.(*ortgo.Tensor[float32]).GetData()))
		o.Destroy()
	}
	return res
}

// runOnnxGo runs m in onnx-go's Gorgonia backend on x.
func runOnnxGo(m *onnxio.Model, x []float32) ([][]float32, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, err
	}
	backend := gorgonnx.NewGraph()
	model := onnx.NewModel(backend)
	if err := model.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	in := tensor.New(tensor.WithShape(images, 1, fixtures.Rows, fixtures.Cols), tensor.WithBacking(slices.Clone(x)))
	if err := model.SetInput(0, in); err != nil {
		return nil, err
	}
	if err := backend.Run(); err != nil {
		return nil, err
	}
	outs, err := model.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	var res [][]float32
	for _, o := range outs {
		d, ok := o.Data().([]float32)
		if !ok {
			return nil, errors.New("onnx-go returned a non-float32 output")
		}
		res = append(res, slices.Clone(d))
	}
	return res, nil
}

func members() []*onnxio.Model {
	base := fixtures.LeNet5(rand.New(rand.NewPCG(1, 1)))
	var out []*onnxio.Model
	for m := range 3 {
		c := base.Clone()
		rng := rand.New(rand.NewPCG(7, uint64(m)))
		for _, p := range c.Params() {
			for i := range p.Float32 {
				p.Float32[i] += float32(0.02 * rng.NormFloat64())
			}
		}
		out = append(out, fixedBatch(c, images))
	}
	return out
}

func maxDiff(a, b []float32) (float64, int) {
	worst, at := 0.0, 0
	for i := range a {
		if d := math.Abs(float64(a[i]) - float64(b[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func TestMemberMatchesORT(t *testing.T) {
	x := inputs(t)
	m := members()[0]
	want := runORT(t, m, x)[0]
	got, err := runOnnxGo(m, x)
	if err != nil {
		t.Fatalf("onnx-go cannot run the LeNet-5 member: %v", err)
	}
	if len(got[0]) != len(want) {
		t.Fatalf("onnx-go gave %d logits; onnxruntime %d", len(got[0]), len(want))
	}
	if d, i := maxDiff(got[0], want); !(d <= interopTol) {
		t.Fatalf("logit %d: onnx-go %v, onnxruntime %v (|Δ| = %.2g > %g)", i, got[0][i], want[i], d, interopTol)
	} else {
		t.Logf("LeNet-5 member: onnx-go vs onnxruntime max |Δ| = %.2g over %d logits", d, len(want))
	}
}

func TestEnsembleMatchesORT(t *testing.T) {
	x := inputs(t)
	// onnx-go reads Unsqueeze's axes only as an attribute (opset < 13); build at opset 11 so
	// the head uses that form where onnx-go could follow.
	ms := members()
	for _, m := range ms {
		m.Opsets = []onnxio.Opset{{Domain: "", Version: 11}}
		m.IRVersion = 6
	}
	ens, err := bayes.EnsembleGraph(ms, true)
	if err != nil {
		t.Fatal(err)
	}
	ens = fixedBatch(ens, images)
	want := runORT(t, ens, x)
	missing, err := unsupportedOps(ens, x)
	if len(missing) > 0 {
		rest := "with Identity in their place the rest of the graph runs"
		if err != nil {
			rest = "with Identity in their place: " + err.Error()
		}
		t.Skipf("onnx-go v0.5.0 lacks the ensemble head's ops %v (%s); only the member is compared", missing, rest)
	}
	got, err := runOnnxGo(ens, x)
	if err != nil {
		t.Fatalf("onnx-go: %v", err)
	}
	for i, name := range []string{bayes.EnsembleProbs, bayes.EnsembleEntropy, bayes.EnsembleMI} {
		if d, j := maxDiff(got[i], want[i]); !(d <= interopTol) {
			t.Errorf("%s[%d]: onnx-go %v, onnxruntime %v (|Δ| = %.2g)", name, j, got[i][j], want[i][j], d)
		}
	}
}

// unsupportedOps lists every op of m that onnx-go does not implement: it runs the model (onnx-go
// finds a missing op when it builds the graph on Run), and on each missing-op error it
// replaces that op by Identity and tries again. The error is what ended the search: nil when
// the stand-ins ran, else the first failure that is not a missing op (shapes the stand-ins broke).
func unsupportedOps(m *onnxio.Model, x []float32) ([]string, error) {
	c := m.Clone()
	var missing []string
	for range len(c.Graph.Nodes) {
		_, err := runOnnxGo(c, x)
		var ni *onnx.ErrNotImplemented
		if !errors.As(err, &ni) || slices.Contains(missing, ni.Operator) {
			return missing, err
		}
		missing = append(missing, ni.Operator)
		for _, n := range c.Graph.Nodes {
			if n.Op == ni.Operator {
				n.Op, n.Inputs, n.Attrs = "Identity", n.Inputs[:1], nil
			}
		}
	}
	return missing, nil
}
