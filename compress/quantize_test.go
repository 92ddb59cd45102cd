package compress

import (
	"math"
	"slices"
	"testing"

	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

func TestKMeansHandCases(t *testing.T) {
	f := func(vs ...float32) float32 { // the float64 mean of float32 values, rounded
		s := 0.0
		for _, v := range vs {
			s += float64(v)
		}
		return float32(s / float64(len(vs)))
	}
	for _, tc := range []struct {
		name   string
		values []float32
		k      int
		cents  []float32
		assign []int32
	}{
		// Linear start at 0.1 and 1.1: {0.1, 0.2} and {0.9, 1.0, 1.1}; one update, then stable.
		{"two groups", []float32{0.1, 1.0, 0.2, 0.9, 1.1}, 2, []float32{f(0.1, 0.2), f(1.0, 0.9, 1.1)}, []int32{0, 1, 0, 1, 1}},
		// Linear start at −1, 1, 3: 0.5…0.7 join the middle centroid, which moves to 0.6.
		{"three groups", []float32{-1, 0.5, 0.6, 0.7, 3}, 3, []float32{-1, f(0.5, 0.6, 0.7), 3}, []int32{0, 1, 1, 1, 2}},
		// Four centroids for three distinct values: the unused one is dropped.
		{"unused centroid dropped", []float32{0, 0, 3, 3, 1}, 4, []float32{0, 1, 3}, []int32{0, 0, 2, 2, 1}},
		{"one centroid", []float32{1, 2, 6}, 1, []float32{3}, []int32{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, a := KMeans(tc.values, tc.k, 0)
			if !slices.Equal(c, tc.cents) || !slices.Equal(a, tc.assign) {
				t.Fatalf("KMeans(%v, %d) = %v, %v; want %v, %v", tc.values, tc.k, c, a, tc.cents, tc.assign)
			}
		})
	}
}

func TestParseQuantize(t *testing.T) {
	for in, want := range map[string]string{"int8": "int8", "5": "*=5", "conv=8,fc=5": "conv=8,fc=5", " fc1=3 , conv = 6": "conv=6,fc1=3"} {
		c, err := ParseQuantize(in)
		if err != nil || c.String() != want {
			t.Errorf("ParseQuantize(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, bad := range []string{"", "9", "0", "conv=8,conv=5", "=3", "int4", "conv=x"} {
		if _, err := ParseQuantize(bad); err == nil {
			t.Errorf("ParseQuantize(%q): no error", bad)
		}
	}
}

// Pruned zeros stay zero and outside the codebook; a layer holds at most 2^bits − 1 values
// besides its zeros.
func TestQuantizePrunedLeNet5(t *testing.T) {
	m := lenet5(1)
	p, _, err := Magnitude(m, MagnitudeConfig{Keep: HanLeNet5Keep})
	if err != nil {
		t.Fatal(err)
	}
	q, cbs, err := Quantize(p, QuantizeConfig{Bits: DeepCompressionBits})
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := Layers(p)
	if len(cbs) != len(ls) {
		t.Fatalf("%d codebooks for %d layers", len(cbs), len(ls))
	}
	for _, l := range ls {
		before, after := p.Initializer(l.Weight).Float32, q.Initializer(l.Weight).Float32
		cb := cbs[l.Weight]
		k := 1<<DeepCompressionBits[opClass(l.Op)] - 1
		if len(cb.Centroids) > k {
			t.Errorf("%s: %d centroids; want at most %d", l.Name, len(cb.Centroids), k)
		}
		distinct := map[float32]bool{}
		for i := range before {
			if (before[i] == 0) != (after[i] == 0) || (before[i] == 0) != (cb.Index[i] < 0) {
				t.Fatalf("%s[%d]: %g became %g (index %d); zeros must stay zero and only zeros", l.Name, i, before[i], after[i], cb.Index[i])
			}
			if after[i] != 0 {
				distinct[after[i]] = true
			}
		}
		if len(distinct) != len(cb.Centroids) {
			t.Errorf("%s: %d distinct values; codebook has %d", l.Name, len(distinct), len(cb.Centroids))
		}
	}
	if _, err := p.Encode(); err != nil {
		t.Fatal(err)
	}
}

// recorder is a Stepper that keeps the gradients it was given and then takes a plain
// gradient step of size LR.
type recorder struct{ grads [][]float32 }

func (r *recorder) Init([]train.Param) error { return nil }
func (r *recorder) Step(ps []train.Param, s train.StepInfo) error {
	r.grads = nil
	for _, p := range ps {
		r.grads = append(r.grads, slices.Clone(p.Grad))
		for i, g := range p.Grad {
			p.Value[i] -= float32(s.LR) * g
		}
	}
	return nil
}
func (r *recorder) MarshalState() ([]byte, error) { return nil, nil }
func (r *recorder) UnmarshalState([]byte) error   { return nil }

func TestSharedCentroidGradientIsSumOfWeightGradients(t *testing.T) {
	cbs := Codebooks{"w": {Weight: "w", Centroids: []float32{1, 2}, Index: []int32{0, 1, 0, -1, 1}}}
	rec := &recorder{}
	s, err := NewShared(rec, cbs)
	if err != nil {
		t.Fatal(err)
	}
	w := train.Param{Name: "w", Value: []float32{1, 2, 1, 0, 2}, Grad: []float32{0.5, 0.25, 1.5, 9, -1}}
	b := train.Param{Name: "b", Value: []float32{3}, Grad: []float32{0.5}}
	ps := []train.Param{w, b}
	if err := s.Init(ps); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(ps, train.StepInfo{LR: 1}); err != nil {
		t.Fatal(err)
	}
	// Centroid 0: 0.5 + 1.5; centroid 1: 0.25 − 1; the pruned weight's 9 counts nowhere.
	if want := [][]float32{{2, -0.75}, {0.5}}; !slices.EqualFunc(rec.grads, want, slices.Equal) {
		t.Fatalf("stepper saw gradients %v; want %v", rec.grads, want)
	}
	if want := []float32{-1, 2.75, -1, 0, 2.75}; !slices.Equal(w.Value, want) {
		t.Fatalf("weights after the step %v; want %v (written back from the centroids)", w.Value, want)
	}
	if b.Value[0] != 2.5 {
		t.Fatalf("unshared parameter %v; want 2.5", b.Value[0])
	}
	if got := s.Codebooks()["w"].Centroids; !slices.Equal(got, []float32{-1, 2.75}) {
		t.Fatalf("tuned centroids %v; want [-1 2.75]", got)
	}
	// State round trip: a fresh wrapper restored from the state holds the same centroids.
	st, _ := s.MarshalState()
	s2, _ := NewShared(&recorder{}, cbs)
	if err := s2.Init(ps); err != nil {
		t.Fatal(err)
	}
	if err := s2.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	if got := s2.Codebooks()["w"].Centroids; !slices.Equal(got, []float32{-1, 2.75}) {
		t.Fatalf("restored centroids %v; want [-1 2.75]", got)
	}
	if err := s2.UnmarshalState(st[:len(st)-1]); err == nil {
		t.Fatal("truncated state: no error")
	}
}

// The compact form (indices, codebook, Gather) computes bit for bit what the shared-value model
// computes in onnxruntime; int8 stays within its quantization error.
func TestCompactAndInt8InORT(t *testing.T) {
	m := lenet5(2)
	p, _, err := Magnitude(m, MagnitudeConfig{Keep: HanLeNet5Keep})
	if err != nil {
		t.Fatal(err)
	}
	q, cbs, err := Quantize(p, QuantizeConfig{Bits: map[string]int{"conv": 8, "fc": 5}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compact(q, cbs)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInputs(5, 16, 28*28, 0, 1)
	want := runORT(t, q, x, 16)
	got := runORT(t, c, x, 16)
	for i := range want {
		for j := range want[i] {
			if math.Float32bits(want[i][j]) != math.Float32bits(got[i][j]) {
				t.Fatalf("compact output %d[%d] = %g; shared-value model %g", i, j, got[i][j], want[i][j])
			}
		}
	}
	for name := range cbs {
		if t8 := c.Initializer(name + "_index"); c.Initializer(name) != nil || t8 == nil || t8.DType != onnxio.Uint8 {
			t.Fatalf("compact model: weight %q should be gone, replaced by uint8 indices %q", name, name+"_index")
		}
	}

	i8, err := Int8(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i8.Encode(); err != nil {
		t.Fatal(err)
	}
	ref := runORT(t, p, x, 16)
	out := runORT(t, i8, x, 16)
	// int8 with per-channel scales moves each logit by at most a few 1e-2 on this random net
	// (weights change by ≤ scale/2 = max|w|/254 per channel).
	const int8Tolerance = 0.05
	d, s := maxAbsDiff(flat(out), flat(ref))
	if d > int8Tolerance*max(1, s) {
		t.Fatalf("int8 logits differ from float by %g (scale %g); want ≤ %g", d, s, int8Tolerance)
	}
	var nz int
	for _, t8 := range i8.Graph.Initializers {
		if t8.DType == onnxio.Int8 && len(t8.Dims) >= 2 {
			for _, b := range t8.Raw {
				if b != 0 {
					nz++
				}
			}
		}
	}
	led, _ := NewLedger(m, p)
	if int64(nz) > led.NonZero {
		t.Fatalf("int8 model has %d non-zero weights; the pruned float model %d (zeros must stay zero)", nz, led.NonZero)
	}
}

func flat(xs [][]float32) []float32 {
	var f []float32
	for _, x := range xs {
		f = append(f, x...)
	}
	return f
}
