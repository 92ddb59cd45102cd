package bayes_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/onnxio"
)

// ensembleTol: onnxruntime computes the softmax, mean and entropies in float32 (rounding
// ~1e-7 per operation over 10 classes and 3 members); Combine uses float64 on the members'
// float32 outputs. 1e-5 leaves a factor ~10 above what float32 accumulates here.
const ensembleTol = 1e-5

const ensembleImages = 200

// perturbed returns n LeNet-5 members: one He-initialised network with independent Gaussian
// noise of 30% of each tensor's RMS added per member (like posterior samples around one mode),
// at the given default-domain opset (LeNet-5's ops mean the same in opsets 9 to 21).
func perturbed(t testing.TB, n int, opset int64) []*onnxio.Model {
	t.Helper()
	base := fixtures.LeNet5(rand.New(rand.NewPCG(1, 1)))
	base.Opsets = []onnxio.Opset{{Domain: "", Version: opset}}
	base.IRVersion = map[bool]int64{true: 4, false: 8}[opset < 13]
	var out []*onnxio.Model
	for m := range n {
		c := base.Clone()
		rng := rand.New(rand.NewPCG(100, uint64(m)))
		for _, p := range c.Params() {
			var ss float64
			for _, v := range p.Float32 {
				ss += float64(v) * float64(v)
			}
			rms := math.Sqrt(ss / float64(len(p.Float32)))
			if rms == 0 {
				rms = 0.1 // biases start at zero
			}
			for i := range p.Float32 {
				p.Float32[i] += float32(0.3 * rms * rng.NormFloat64())
			}
		}
		out = append(out, c)
	}
	return out
}

// runORT runs the saved model at path on x [n,1,28,28] and returns the named outputs.
func runORT(t *testing.T, path string, x []float32, n int, outputs ...string) [][]float32 {
	t.Helper()
	opts, err := ortgo.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	s, err := ortgo.NewDynamicAdvancedSession(path, []string{fixtures.InputName}, outputs, opts)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer s.Destroy()
	in, err := ortgo.NewTensor(ortgo.NewShape(int64(n), 1, fixtures.Rows, fixtures.Cols), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := make([]ortgo.Value, len(outputs))
	if err := s.Run([]ortgo.Value{in}, outs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = append([]float32(nil), o.(*ortgo.Tensor[float32]).GetData()...)
		o.Destroy()
	}
	return res
}

// mnistInputs returns the first n test images scaled to 0..1 (the builders' convention).
func mnistInputs(t *testing.T, n int) []float32 {
	mn := testenv.MNIST(t)
	x := mn.Test.Float(0, n)
	for i := range x {
		x[i] /= 255
	}
	return x
}

func TestEnsembleGraphMatchesCombine(t *testing.T) {
	testenv.ORT(t)
	x := mnistInputs(t, ensembleImages)
	// Opset 9: axes and Clip bounds as attributes; 13: ReduceSum and Unsqueeze axes as inputs;
	// 18: ReduceMean's too.
	for _, opset := range []int64{9, 13, 18} {
		for _, logits := range []bool{true, false} {
			t.Run(fmt.Sprintf("opset%d/logits=%v", opset, logits), func(t *testing.T) {
				dir := t.TempDir()
				members := perturbed(t, 3, opset)
				if !logits {
					for _, m := range members {
						appendSoftmax(m)
					}
				}
				var memberProbs [][]float32
				for i, m := range members {
					p := filepath.Join(dir, fmt.Sprintf("member%d.onnx", i))
					if err := m.Save(p, onnxio.SaveOptions{}); err != nil {
						t.Fatal(err)
					}
					out := runORT(t, p, x, ensembleImages, m.Graph.Outputs[0].Name)[0]
					if logits {
						prob.Softmax(out, fixtures.Classes)
					}
					memberProbs = append(memberProbs, out)
				}
				want, err := bayes.Combine(memberProbs, fixtures.Classes)
				if err != nil {
					t.Fatal(err)
				}
				ens, err := bayes.EnsembleGraph(members, logits)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "ensemble.onnx")
				if err := ens.Save(path, onnxio.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
				got := runORT(t, path, x, ensembleImages, bayes.EnsembleProbs, bayes.EnsembleEntropy, bayes.EnsembleMI)
				compare(t, "probs", got[0], want.Probs)
				compare(t, "entropy", got[1], want.Entropy)
				compare(t, "mutual_information", got[2], want.MI)
				// The members disagree: the MI is not trivially zero.
				var mi float64
				for _, v := range want.MI {
					mi += v / ensembleImages
				}
				if mi < 1e-3 {
					t.Fatalf("mean MI %.2g: the perturbed members barely disagree; the test would not see a wrong MI", mi)
				}
				t.Logf("mean MI %.4f nats, mean entropy %.4f", mi, mean(want.Entropy))
			})
		}
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func compare(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values from onnxruntime; want %d", name, len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if !(worst <= ensembleTol) {
		t.Errorf("%s[%d]: onnxruntime %v, Combine %v (|Δ| = %.2g > %g)", name, at, got[at], want[at], worst, ensembleTol)
	}
}

// appendSoftmax makes m output probabilities: Softmax over its logits.
func appendSoftmax(m *onnxio.Model) {
	out := m.Graph.Outputs[0]
	m.Graph.Nodes = append(m.Graph.Nodes, &onnxio.Node{Name: "softmax", Op: "Softmax", Inputs: []string{out.Name}, Outputs: []string{"probs_out"}, Attrs: []*onnxio.Attribute{onnxio.IntAttr("axis", 1)}})
	out.Name = "probs_out"
}

func TestEnsembleGraphRejects(t *testing.T) {
	ok := func() []*onnxio.Model { return perturbed(t, 2, 13) }
	for _, c := range []struct {
		name    string
		members func() []*onnxio.Model
		want    error
	}{
		{"none", func() []*onnxio.Model { return nil }, onnxio.ErrInvalidModel},
		{"opsets differ", func() []*onnxio.Model {
			m := ok()
			m[1].Opsets[0].Version = 14
			return m
		}, onnxio.ErrUnsupported},
		{"inputs differ", func() []*onnxio.Model {
			m := ok()
			m[1].Graph.Inputs[0].Shape[2].Value = 32
			return m
		}, onnxio.ErrUnsupported},
		{"classes differ", func() []*onnxio.Model {
			m := ok()
			m[1].Graph.Outputs[0].Shape[1].Value = 9
			return m
		}, onnxio.ErrInvalidModel},
		{"two outputs", func() []*onnxio.Model {
			m := ok()
			m[0].Graph.Outputs = append(m[0].Graph.Outputs, m[0].Graph.Outputs[0].Clone())
			return m
		}, onnxio.ErrUnsupported},
		{"input named probs", func() []*onnxio.Model {
			m := ok()[:1]
			m[0].Graph.Inputs[0].Name = "probs"
			return m
		}, onnxio.ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := bayes.EnsembleGraph(c.members(), true); !errors.Is(err, c.want) {
				t.Fatalf("err = %v; want %v", err, c.want)
			}
		})
	}
}
