package nn

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/onnxio"
)

// ortTol bounds |Gorgonia − onnxruntime| per output, scaled by max(1, largest |output| of the
// image), since rounding error follows the largest values summed: both run
// float32 with different summation orders, so they differ by a few ulps of the value. For
// outputs up to 1 in magnitude (probabilities, most logits) this is the 1e-4 absolute bound;
// the CNTK zoo model takes 0..255 pixels and has logits near 6000, where one float32 ulp is
// already 4.9e-4, so an absolute 1e-4 is not representable there.
const ortTol = 1e-4

// testImages returns n raw 0..255 MNIST test images (n·784) and labels.
func testImages(t *testing.T, n int) ([]float32, []int) {
	t.Helper()
	ds := testenv.MNIST(t)
	raw := ds.Test.Float(0, n)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = int(ds.Test.Labels[i])
	}
	return raw, labels
}

// TestMatchesORT checks every good shared model: Gorgonia's scores (logits, or probabilities
// for models that end in Softmax) match onnxruntime's on MNIST test images.
func TestMatchesORT(t *testing.T) {
	dir := sharedModels(t)
	initORT(t)
	n := 1000
	if testing.Short() {
		n = 100
	}
	raw, _ := testImages(t, n)
	for _, gm := range goodModels(t) {
		t.Run(gm.file, func(t *testing.T) {
			path := filepath.Join(dir, gm.file)
			c, err := ort.Open(path, gm.pp, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want, err := c.Scores(context.Background(), raw, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := gorgoniaScores(path, gm.pp, raw, n, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d scores, want %d", len(got), len(want))
			}
			worst, at := 0.0, 0
			k := c.Classes()
			for r := 0; r < n; r++ {
				scale := 1.0
				for _, v := range want[r*k : r*k+k] {
					scale = max(scale, math.Abs(float64(v)))
				}
				for i := r * k; i < r*k+k; i++ {
					if d := math.Abs(float64(got[i]-want[i])) / scale; d > worst {
						worst, at = d, i
					}
				}
			}
			t.Logf("max scaled |Δ| = %.3g", worst)
			if worst > ortTol {
				t.Errorf("max |gorgonia − ort|/max(1,|ort row|) = %.3g at image %d class %d (got %v, want %v); want ≤ %g",
					worst, at/c.Classes(), at%c.Classes(), got[at], want[at], ortTol)
			}
		})
	}
}

// gorgoniaScores runs n raw images through a Net in batches and returns the model's own outputs
// (softmax of the logits when the model outputs probabilities).
func gorgoniaScores(path string, pp ort.Preprocess, raw []float32, n, batch int) ([]float32, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	net, err := Build(m, Config{Batch: batch})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	per := len(raw) / n
	x := make([]float32, batch*per)
	var out []float32
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		clear(x)
		for i, v := range raw[lo*per : hi*per] {
			x[i] = v*pp.Scale + pp.Offset
		}
		lg, err := net.Forward(x)
		if err != nil {
			return nil, fmt.Errorf("images %d..%d: %w", lo, hi, err)
		}
		k := net.Classes()
		lg = lg[:(hi-lo)*k]
		if net.OutputIsProb() {
			softmaxRows(lg, lg, k, false)
		}
		out = append(out, lg...)
	}
	return out, nil
}
