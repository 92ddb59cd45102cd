package compress

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

func TestRegistry(t *testing.T) {
	names := MethodNames()
	for _, want := range []string{"filter", "magnitude", "sdr"} {
		if !slices.Contains(names, want) {
			t.Errorf("MethodNames() = %v; want %q among them", names, want)
		}
	}
	if _, err := NewMethod("prune"); err == nil {
		t.Error("NewMethod(\"prune\") gave no error")
	}
	// Option names become flags of one command: they must be unique and bound to a field.
	seen := map[string]string{}
	for _, n := range names {
		m, err := NewMethod(n)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != n {
			t.Errorf("method registered as %q calls itself %q", n, m.Name())
		}
		for _, o := range m.Options() {
			if other, dup := seen[o.Name]; dup {
				t.Errorf("option %q of %s is also an option of %s", o.Name, n, other)
			}
			seen[o.Name] = n
			switch o.Value.(type) {
			case *float64, *int, *string, *bool:
			default:
				t.Errorf("option %q of %s is a %T; want a pointer to float64, int, string or bool", o.Name, n, o.Value)
			}
		}
	}
}

func TestMagnitudeStageTargets(t *testing.T) {
	p := &MagnitudeMethod{Stages: 3}
	// Default overall target 0.08 in three stages: 0.08^(1/3) = 0.4309, 0.08^(2/3) = 0.1857, 0.08.
	want := []float64{0.4308869380063767, 0.18566355334451115, 0.08}
	for i, w := range want {
		cfg, err := p.stageConfig(i)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(cfg.KeepAll-w) > 1e-12 {
			t.Errorf("stage %d keeps %.6f; want %.6f", i, cfg.KeepAll, w)
		}
	}
	q := &MagnitudeMethod{Quality: 1.5, Stages: 2}
	if cfg, _ := q.stageConfig(1); cfg.Quality != 1.5 || cfg.KeepAll != 0 {
		t.Errorf("quality stage config %+v; want Quality 1.5 alone", cfg)
	}
	for _, bad := range []*MagnitudeMethod{{Quality: 1, KeepAll: 0.1, Stages: 1}, {KeepAll: 2, Stages: 1}, {Stages: 0}, {Keep: "conv1", Stages: 1}} {
		if err := bad.Check(); err == nil {
			t.Errorf("Check(%+v) gave no error", *bad)
		}
	}
}

// fakeMethod zeroes the first weight of every layer not already masked and records it.
type fakeMethod struct{ sawPrior Masks }

func (*fakeMethod) Name() string      { return "fake" }
func (*fakeMethod) Options() []Option { return nil }
func (f *fakeMethod) Apply(_ context.Context, m *onnxio.Model, env *Env) (*Step, error) {
	f.sawPrior = env.Prior.Clone()
	ms := env.Prior.Clone()
	ls, _ := Layers(m)
	for _, l := range ls {
		k, ok := ms[l.Weight]
		if !ok {
			k = make([]bool, l.Params)
			for i := range k {
				k[i] = true
			}
		}
		k[slices.Index(k, true)] = false
		ms[l.Weight] = k
	}
	out, err := Apply(m, ms)
	return &Step{Model: out, Masks: ms, Params: map[string]int{"n": 1}}, err
}

func TestChainRecordsAndPriors(t *testing.T) {
	m := lenet5(1)
	a, b := &fakeMethod{}, &fakeMethod{}
	src := SHA256([]byte("source file"))
	res, err := Chain(context.Background(), m, []Method{a, b}, Env{}, src)
	if err != nil {
		t.Fatal(err)
	}
	if a.sawPrior != nil && len(a.sawPrior) != 0 {
		t.Errorf("first method saw prior masks %v; want none", a.sawPrior.Names())
	}
	if len(b.sawPrior) != 4 {
		t.Errorf("second method saw masks for %v; want the 4 layers the first pruned", b.sawPrior.Names())
	}
	// Each method pruned one weight per layer: 8 zeros in 4 layers.
	for name, k := range res.Masks {
		if kept, total := res.Masks.Kept(name); total-kept != 2 {
			t.Errorf("%s: %d pruned; want 2 (one per method)", name, total-kept)
		}
		w := res.Model.Initializer(name).Float32
		for i := range k {
			if !k[i] && w[i] != 0 {
				t.Fatalf("%s[%d] = %g under a false mask", name, i, w[i])
			}
		}
	}
	recs, err := Records(res.Model)
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %v, %v; want 2", recs, err)
	}
	if recs[0].SourceSHA256 != src {
		t.Errorf("first record hashes %s; want the source file's %s", recs[0].SourceSHA256, src)
	}
	mid, _ := a.Apply(context.Background(), m, &Env{})
	if err := Annotate(mid.Model, recs[0]); err != nil {
		t.Fatal(err)
	}
	midSHA, _ := ModelSHA256(mid.Model) // the intermediate as saved: with the first record
	if recs[1].SourceSHA256 != midSHA {
		t.Errorf("second record hashes %s; want the intermediate model's %s", recs[1].SourceSHA256, midSHA)
	}
	if _, ok := m.Meta(MetaKey); ok {
		t.Error("Chain annotated its input model")
	}
}

func TestScoreLogitsAndProbabilities(t *testing.T) {
	set := train.Set{Images: make([]uint8, 2*4), Labels: []uint8{0, 1}, N: 2, Rows: 2, Cols: 2}
	for _, tc := range []struct {
		name     string
		out      []float32
		loss     float64
		accuracy float64
	}{
		// Logits [0, ln 3] and [0, 0] for labels 0 and 1: softmax gives 1/4 and 1/2 to the labels;
		// neither is the arg max (a tie goes to the first class).
		{"logits", []float32{0, float32(math.Log(3)), 0, 0}, (math.Log(4) + math.Log(2)) / 2, 0},
		// Probability rows (non-negative, sum 1): read as they are.
		{"probabilities", []float32{0.9, 0.1, 0.2, 0.8}, -(math.Log(0.9) + math.Log(0.8)) / 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotX []float32
			env := &Env{Data: train.Data{Scale: 2, Offset: 1}, Run: func(_ context.Context, _ *onnxio.Model, x []float32, n int) ([][]float32, error) {
				gotX = x
				return [][]float32{tc.out}, nil
			}}
			loss, acc, err := env.Score(context.Background(), lenet5(1), &set, 0)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(loss-tc.loss) > 1e-6 || acc != tc.accuracy {
				t.Errorf("loss %.6f accuracy %g; want %.6f, %g", loss, acc, tc.loss, tc.accuracy)
			}
			if len(gotX) != 8 || gotX[0] != 1 {
				t.Errorf("runner got %v; want 8 pixels mapped 0·2+1 = 1", gotX)
			}
		})
	}
}

func TestRemapPrior(t *testing.T) {
	m := lenet5(1)
	w := m.Initializer("fc2_W")
	if w == nil {
		t.Skip("fixture naming changed")
	}
	prior := Masks{"fc2_W": make([]bool, w.NumElements()), "gone": {true}}
	got := remapPrior(prior, m)
	if _, ok := got["gone"]; ok || len(got["fc2_W"]) != len(w.Float32) {
		t.Errorf("remapPrior kept %v; want fc2_W alone at its size", got.Names())
	}
}

// TestMagnitudeRetrainKeepsMask runs the method for real (two stages, one epoch of 128 images
// each): the kept count is exactly round(0.2·params) and every pruned weight is exactly zero
// after retraining, while the kept ones moved.
func TestMagnitudeRetrainKeepsMask(t *testing.T) {
	m := lenet5(3)
	rng := rand.New(rand.NewPCG(4, 5))
	s := train.Set{Images: make([]uint8, 128*fixtures.Pixels), Labels: make([]uint8, 128), N: 128, Rows: 28, Cols: 28}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
	}
	env := &Env{Data: train.Data{Train: s, Scale: 1.0 / 255}, Seed: 1, Tune: Tune{Batch: 32}}
	p := &MagnitudeMethod{KeepAll: 0.2, Stages: 2, Epochs: 1}
	st, err := p.Apply(context.Background(), m, env)
	if err != nil {
		t.Fatal(err)
	}
	pruned, _, err := Magnitude(m, MagnitudeConfig{KeepAll: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	led, err := NewLedger(m, st.Model)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(math.Round(0.2 * float64(led.Params))); led.NonZero != want {
		t.Errorf("%d weights non-zero; want round(0.2·%d) = %d", led.NonZero, led.Params, want)
	}
	moved := 0
	for name, k := range st.Masks {
		w, w0 := st.Model.Initializer(name).Float32, pruned.Initializer(name).Float32
		for i := range k {
			if !k[i] && w[i] != 0 {
				t.Fatalf("%s[%d] = %g after retraining; the mask prunes it", name, i, w[i])
			}
			if k[i] && w[i] != w0[i] {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Error("no kept weight changed: retraining did not run")
	}
}

// PriorOf: a model uqnn never compressed brings no masks; once it carries a compression
// record, its zeros are the prior, exactly.
func TestPriorOf(t *testing.T) {
	m, err := fixtures.Build("lenet5", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	pruned, _, err := Magnitude(m, MagnitudeConfig{KeepAll: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := PriorOf(pruned); err != nil || p != nil {
		t.Fatalf("PriorOf without records = %v, %v; want nil, nil", p != nil, err)
	}
	if err := Annotate(pruned, Record{Method: "magnitude", SourceSHA256: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}
	p, err := PriorOf(pruned)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Layers(pruned)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		w, k := pruned.Initializer(l.Weight).Float32, p[l.Weight]
		if len(k) != len(w) {
			t.Fatalf("%s: mask of %d for %d weights", l.Weight, len(k), len(w))
		}
		for i, v := range w {
			if k[i] != (v != 0) {
				t.Fatalf("%s[%d] = %g, mask %v; want the mask to keep exactly the non-zeros", l.Weight, i, v, k[i])
			}
		}
	}
}
