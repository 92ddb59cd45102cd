package nn

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/onnxio"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// probsTol bounds |p_gorgonia − p_ort|: both are float32 softmaxes of logits that
// agree to a few ulps (TestMatchesORT checks the logits themselves).
const probsTol = 1e-4

// TestProbsMatchORT runs an image count that leaves a partial last batch through both
// engines on every good shared model, each with its reference preprocessing.
func TestProbsMatchORT(t *testing.T) {
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	ds := testenv.MNIST(t)
	const n = 150
	raw := ds.Test.Float(0, n)
	for _, sm := range testmodels.Good {
		t.Run(sm.File, func(t *testing.T) {
			path := filepath.Join(dir, sm.File)
			pp, _, err := pixel.Parse(sm.Preprocess)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ort.Open(path, pp, ort.Options{Height: 28, Width: 28})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want, err := c.Probs(context.Background(), raw, n)
			if err != nil {
				t.Fatal(err)
			}
			m, err := onnxio.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Probs(context.Background(), m, pp, raw, n, 784, c.MaxBatch())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d probabilities; want %d", len(got), len(want))
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > probsTol {
					t.Fatalf("image %d class %d: gorgonia %v, ort %v; want |Δ| ≤ %g", i/c.Classes(), i%c.Classes(), got[i], want[i], probsTol)
				}
			}
		})
	}
}
