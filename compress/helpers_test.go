package compress

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

// runORT runs m through onnxruntime (skipping the test when the library is absent).
func runORT(t *testing.T, m *onnxio.Model, x []float32, n int) [][]float32 {
	t.Helper()
	testenv.ORT(t)
	out, err := ort.RunModel(context.Background(), m, x, n)
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	return out
}

func ortRunner(t *testing.T) Runner {
	testenv.ORT(t)
	return ort.RunModel
}

// loadShared loads one of ../shared/models (skipping when absent).
func loadShared(t *testing.T, file string) *onnxio.Model {
	t.Helper()
	m, err := onnxio.Load(filepath.Join(testmodels.Dir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lenet5(seed uint64) *onnxio.Model { return fixtures.LeNet5(rand.New(rand.NewPCG(seed, 1))) }

// randomInputs returns n inputs of per values uniform in [lo, hi).
func randomInputs(seed uint64, n, per int, lo, hi float32) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*per)
	for i := range x {
		x[i] = lo + (hi-lo)*rng.Float32()
	}
	return x
}

// maxAbsDiff returns max |a-b| and max |b|.
func maxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

// zeroChannels returns a copy of m whose tensor feature (rank 4, [N,K,H,W]) has the channels in
// rm multiplied by zero before anything reads it: an independent reference for filter removal.
func zeroChannels(t *testing.T, m *onnxio.Model, feature string, k int64, rm []int64) *onnxio.Model {
	t.Helper()
	c := m.Clone()
	mask := make([]float32, k)
	for i := range mask {
		if !slices.Contains(rm, int64(i)) {
			mask[i] = 1
		}
	}
	out := feature + "__zeroed"
	for _, n := range c.Graph.Nodes {
		for i, in := range n.Inputs {
			if in == feature {
				n.Inputs[i] = out
			}
		}
	}
	c.Graph.Initializers = append(c.Graph.Initializers, onnxio.NewFloat32(feature+"__mask", []int64{1, k, 1, 1}, mask))
	c.Graph.Nodes = append(c.Graph.Nodes, &onnxio.Node{Name: feature + "__zero", Op: "Mul", Inputs: []string{feature, feature + "__mask"}, Outputs: []string{out}})
	order, err := c.Graph.TopoOrder()
	if err != nil {
		t.Fatal(err)
	}
	c.Graph.Nodes = order
	return c
}
