package onnxio_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

// needORT starts onnxruntime once per test binary or skips.
func needORT(t *testing.T) { testenv.ORT(t) }

func sharedModelsDir(t *testing.T) string { return testmodels.Dir(t) }

var sharedModelFiles = testmodels.Files()

// ortShapes runs the model with every node output exposed as a graph output and returns the
// shape onnxruntime gives each. Values in skip are not exposed: onnxruntime_go cannot return
// rank-0 tensors, so callers skip the scalars (checked through their consumers instead).
func ortShapes(t *testing.T, m *onnxio.Model, inShape []int64, skip func(name string) bool) map[string][]int64 {
	t.Helper()
	c := m.Clone()
	isOut := map[string]bool{}
	for _, o := range c.Graph.Outputs {
		isOut[o.Name] = true
	}
	for _, n := range c.Graph.Nodes {
		for _, o := range n.Outputs {
			if o != "" && !isOut[o] && !skip(o) {
				c.Graph.Outputs = append(c.Graph.Outputs, &onnxio.ValueInfo{Name: o})
				isOut[o] = true
			}
		}
	}
	path := filepath.Join(t.TempDir(), "all-outputs.onnx")
	if err := c.Save(path, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range c.Graph.Outputs {
		names = append(names, o.Name)
	}
	in := c.Graph.DataInputs()[0]
	opts, err := ortgo.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ortgo.NewDynamicAdvancedSession(path, []string{in.Name}, names, opts)
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	defer s.Destroy()
	x, err := ortgo.NewEmptyTensor[float32](ortgo.Shape(inShape))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	outs := make([]ortgo.Value, len(names))
	if err := s.Run([]ortgo.Value{x}, outs); err != nil {
		t.Fatalf("onnxruntime run: %v", err)
	}
	res := map[string][]int64{}
	for i, o := range outs {
		res[names[i]] = slices.Clone([]int64(o.GetShape()))
		o.Destroy()
	}
	return res
}

func TestInferShapesMatchesORT(t *testing.T) {
	dir := sharedModelsDir(t)
	needORT(t)
	for _, file := range sharedModelFiles {
		m, err := onnxio.Load(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		batches := []int{1, 3}
		if !onnxio.FreeBatch(m) {
			batches = []int{0}
		}
		for _, b := range batches {
			t.Run(fmt.Sprintf("%s/batch=%d", file, b), func(t *testing.T) {
				shapes, err := onnxio.InferShapes(m, b)
				if err != nil {
					t.Fatal(err)
				}
				in := m.Graph.DataInputs()[0]
				want := ortShapes(t, m, shapes[in.Name], func(name string) bool { return len(shapes[name]) == 0 })
				if len(want) < len(m.Graph.Nodes) {
					t.Fatalf("onnxruntime gave %d values for %d nodes", len(want), len(m.Graph.Nodes))
				}
				for name, w := range want {
					if got, ok := shapes[name]; !ok || !slices.Equal(got, w) {
						t.Errorf("batch %d: value %q: InferShapes gives %v; onnxruntime %v", b, name, got, w)
					}
				}
			})
		}
	}
}
