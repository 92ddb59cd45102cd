package compress

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

func TestSDRShrink(t *testing.T) {
	grad := []float32{0, 0.5, -1, 2}
	for _, tc := range []struct {
		name string
		cfg  SDRConfig
		want []float32
	}{
		// Normalised: S = |g|/2 = (0, .25, .5, 1); w = 1 − 0.1·(1, .75, .5, 0).
		{"normalised", SDRConfig{Lambda: 0.1}, []float32{0.9, 0.925, 0.95, 1}},
		// Raw: S = |g|; insensitivity max(0, 1−|g|) = (1, .5, 0, 0).
		{"raw", SDRConfig{Lambda: 0.1, Raw: true}, []float32{0.9, 0.95, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := []float32{1, 1, 1, 1}
			bias := []float32{1, 1}
			h, err := SDR([]string{"w"}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := &train.State{Params: []train.Param{{Name: "b", Value: bias, Grad: []float32{0, 0}}, {Name: "w", Value: w, Grad: slices.Clone(grad)}}}
			if err := h.AfterStep(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			for i := range w {
				if math.Abs(float64(w[i]-tc.want[i])) > 1e-7 {
					t.Errorf("w = %v; want %v", w, tc.want)
					break
				}
			}
			if !slices.Equal(bias, []float32{1, 1}) {
				t.Errorf("bias shrunk to %v; only named weights should be", bias)
			}
		})
	}
	// Zero stays zero; an all-zero gradient shrinks everything by λ (S = 0, no 0/0).
	w := []float32{0, -2}
	sdrShrink(w, []float32{0, 0}, SDRConfig{Lambda: 0.5})
	if w[0] != 0 || w[1] != -1 {
		t.Errorf("w = %v; want [0 -1]", w)
	}
	h, _ := SDR([]string{"missing"}, SDRConfig{Lambda: 0.1})
	if err := h.AfterStep(context.Background(), &train.State{}); err == nil {
		t.Error("unknown parameter: no error")
	}
	for _, l := range []float64{0, 1, -0.1, math.NaN()} {
		if _, err := SDR([]string{"w"}, SDRConfig{Lambda: l}); err == nil {
			t.Errorf("λ = %g: no error", l)
		}
	}
}

// thresholdModel is tinyConv with c.w = (0.1, −0.4, 0.3) and fc.w holding 0.2 and 0.5 and
// larger values, so the cut-offs are easy to follow by hand.
func thresholdModel() *onnxio.Model {
	m := tinyConv()
	m.Initializer("c.w").Float32 = []float32{0.1, -0.4, 0.3}
	w := m.Initializer("fc.w").Float32
	for i := range w {
		w[i] = float32(i + 1)
	}
	w[0], w[1] = 0.2, -0.5
	return m
}

func TestThresholdBisection(t *testing.T) {
	m := thresholdModel()
	// The loss rises by the total magnitude removed, so with tolerance 1.05 the largest
	// cut-off is 0.4: it removes 0.1+0.2+0.3+0.4 = 1.0; 0.5 would remove 1.5.
	orig := m.Clone()
	eval := func(_ context.Context, p *onnxio.Model) (float64, error) {
		var removed float64
		for _, name := range []string{"c.w", "fc.w"} {
			for i, v := range orig.Initializer(name).Float32 {
				if p.Initializer(name).Float32[i] == 0 {
					removed += math.Abs(float64(v))
				}
			}
		}
		return 2 + removed, nil
	}
	got, ms, res, err := Threshold(context.Background(), m, eval, ThresholdConfig{Tolerance: 1.05})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Cutoff-0.4) > 1e-7 || math.Abs(res.Loss-3.0) > 1e-6 || res.BaseLoss != 2 {
		t.Fatalf("result %+v; want cut-off 0.4, loss 3, base 2", res)
	}
	if w := got.Initializer("c.w").Float32; !slices.Equal(w, []float32{0, 0, 0}) {
		t.Errorf("c.w %v; want all cut", w)
	}
	if k, n := ms.Kept("fc.w"); k != n-1 {
		t.Errorf("fc.w kept %d of %d; want all but 0.2", k, n)
	}
	// 26 distinct magnitudes: about log2(27) ≈ 5 bisection steps plus two fixed evaluations.
	if res.Evaluations > 8 {
		t.Errorf("%d evaluations; want a bisection (≤ 8)", res.Evaluations)
	}
	// Restricted to c: the cut-off stops at its largest weight.
	_, _, res, err = Threshold(context.Background(), m, eval, ThresholdConfig{Tolerance: 10, Layers: []string{"c"}})
	if err != nil || math.Abs(res.Cutoff-0.4) > 1e-7 {
		t.Errorf("layers [c]: %+v %v; want cut-off 0.4", res, err)
	}
	// Tolerance 0: only exact zeros go.
	_, _, res, err = Threshold(context.Background(), m, eval, ThresholdConfig{})
	if err != nil || res.Cutoff != 0 {
		t.Errorf("tolerance 0: %+v %v; want cut-off 0", res, err)
	}
	if _, _, _, err := Threshold(context.Background(), m, eval, ThresholdConfig{Tolerance: -1}); err == nil {
		t.Error("negative tolerance: no error")
	}
}
