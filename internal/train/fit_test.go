package train

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/onnxio"
)

// randomMask keeps each entry with probability keep.
func randomMask(n int, keep float64, rng *rand.Rand) []bool {
	m := make([]bool, n)
	for i := range m {
		m[i] = rng.Float64() < keep
	}
	return m
}

// Masked entries stay exactly zero through every Stepper, with a prior and momentum pushing
// them, and unmasked entries train.
func TestMasksStayZeroThroughEveryStepper(t *testing.T) {
	for _, mk := range []func() Stepper{
		func() Stepper { return &SGD{Momentum: 0.9} },
		func() Stepper { return &Adam{} },
		func() Stepper { return &noisySGD{} },
	} {
		st := mk()
		t.Run(typeName(st), func(t *testing.T) {
			net := fakeNet()
			before := paramsOf(net)
			cfg := fakeConfig(t.TempDir())
			rng := rand.New(rand.NewPCG(5, 5))
			cfg.Masks = map[string][]bool{}
			for _, p := range net.Params() {
				cfg.Masks[p.Name] = randomMask(len(p.Value), 0.5, rng)
			}
			if _, err := Loop(context.Background(), net, fakeData(t), st, cfg, L2Prior(1e-3)); err != nil {
				t.Fatal(err)
			}
			moved := 0
			for k, p := range net.Params() {
				for i, v := range p.Value {
					switch keep := cfg.Masks[p.Name][i]; {
					case !keep && v != 0:
						t.Fatalf("%s[%d] is masked but %v after training", p.Name, i, v)
					case keep && v != before[k][i]:
						moved++
					}
				}
			}
			if moved == 0 {
				t.Fatal("no unmasked entry moved")
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *SGD:
		return "sgd"
	case *Adam:
		return "adam"
	default:
		return "noisy"
	}
}

func TestMaskErrors(t *testing.T) {
	net := fakeNet()
	p := net.Params()[0]
	for name, m := range map[string]map[string][]bool{
		"unknown name": {"nope": {true}},
		"wrong length": {p.Name: make([]bool, len(p.Value)+1)},
	} {
		cfg := fakeConfig(t.TempDir())
		cfg.Masks = m
		if _, err := Loop(context.Background(), net, fakeData(t), &SGD{}, cfg); err == nil {
			t.Errorf("%s: Loop accepted the mask", name)
		}
	}
}

// A resume whose result-changing settings differ from the checkpoint's is refused, naming the
// setting; a hook's Save/Load state survives the interruption.
func TestResumeChecksSettingsAndHookState(t *testing.T) {
	dir := t.TempDir()
	cfg := fakeConfig(dir)
	cfg.Settings = map[string]string{"lr": "0.05", "optimizer": "adam"}
	counter := func(n *uint64) Hook {
		return Hook{
			Name:      "counter",
			AfterStep: func(context.Context, *State) error { *n++; return nil },
			Save:      func() ([]byte, error) { return binary.LittleEndian.AppendUint64(nil, *n), nil },
			Load: func(b []byte) error {
				if len(b) != 8 {
					return errors.New("want 8 bytes")
				}
				*n = binary.LittleEndian.Uint64(b)
				return nil
			},
		}
	}
	var full uint64
	if _, err := Loop(context.Background(), fakeNet(), fakeData(t), &Adam{}, cfg, counter(&full)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var part uint64
	stop := Hook{AfterStep: func(_ context.Context, s *State) error {
		if s.Step == 40 {
			cancel()
		}
		return nil
	}}
	if _, err := Loop(ctx, fakeNet(), fakeData(t), &Adam{}, cfg, counter(&part), stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	bad := cfg
	bad.Settings = map[string]string{"lr": "0.1", "optimizer": "adam"}
	var se *SettingError
	if _, err := Resume(context.Background(), fakeNet(), fakeData(t), &Adam{}, bad, cfg.Checkpoint); !errors.As(err, &se) || se.Name != "lr" || !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("resume with another lr: %v; want a SettingError naming lr", err)
	}
	var resumed uint64 = 999 // Load must overwrite it
	if _, err := Resume(context.Background(), fakeNet(), fakeData(t), &Adam{}, cfg, cfg.Checkpoint, counter(&resumed)); err != nil {
		t.Fatal(err)
	}
	if resumed != full {
		t.Fatalf("hook counted %d steps across the resume; the uninterrupted run %d", resumed, full)
	}
}

// Fit trains a LeNet-5 Model under masks into a new Model: the input is untouched, masked
// weights are exactly zero in the output, the rest moved, and names and metadata are kept.
func TestFitModelToModelWithMasks(t *testing.T) {
	m := testenv.MNIST(t)
	tr, val := m.Train.Slice(0, 256), m.Validation().Slice(0, 64)
	model := fixtures.LeNet5(seed.Rand(3, "init"))
	w := model.Initializer("conv2.weight")
	if w == nil {
		t.Fatalf("LeNet5 has no conv2.weight; initializers changed?")
	}
	orig := slices.Clone(w.Float32)
	keep := randomMask(len(orig), 0.3, rand.New(rand.NewPCG(1, 1)))
	cfg := FitConfig{Config: Config{Epochs: 1, Batch: 32, LR: 1e-3, Seed: 1, EvalTrain: -1, Masks: map[string][]bool{"conv2.weight": keep}, Checkpoint: filepath.Join(t.TempDir(), "ck")}}
	f, err := Fit(context.Background(), model, Data{Train: *tr, Val: *val, Scale: 1.0 / 255}, &Adam{}, cfg, L2Prior(5e-4))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Equal(w.Float32, orig) {
		t.Fatal("Fit modified its input model")
	}
	out := f.Model.Initializer("conv2.weight").Float32
	moved := 0
	for i, v := range out {
		if !keep[i] && v != 0 {
			t.Fatalf("conv2.weight[%d] masked but %v", i, v)
		}
		if keep[i] && v != orig[i] {
			moved++
		}
	}
	if moved == 0 || f.Params != 431080 {
		t.Fatalf("moved %d unmasked weights, %d parameters; want > 0 and 431,080", moved, f.Params)
	}
	if v, ok := f.Model.Meta("uqnn.preprocess"); !ok || v != "0..1" {
		t.Fatalf("metadata lost: %q %v", v, ok)
	}
	// A model whose input does not fit the data is refused with both shapes named.
	small := Set{Images: make([]uint8, 64*10*10), Labels: make([]uint8, 64), N: 64, Rows: 10, Cols: 10}
	if _, err := Fit(context.Background(), model, Data{Train: small, Scale: 1}, &Adam{}, FitConfig{Config: Config{Epochs: 1, Batch: 32, LR: 1e-3}}); err == nil {
		t.Fatal("Fit accepted 10×10 images for a 28×28 model")
	}
}

// A model with a NaN or infinite weight is a bad model (named), not a learning-rate problem.
func TestFitRefusesNonFiniteWeights(t *testing.T) {
	m := testenv.MNIST(t)
	model := fixtures.LeNet5(seed.Rand(3, "init"))
	model.Initializer("fc2.weight").Float32[3] = float32(math.Inf(-1))
	_, err := Fit(context.Background(), model, Data{Train: *m.Train.Slice(0, 64), Scale: 1.0 / 255}, &Adam{}, FitConfig{Config: Config{Epochs: 1, Batch: 32, LR: 1e-3}})
	if !errors.Is(err, onnxio.ErrInvalidModel) || !strings.Contains(err.Error(), "fc2.weight") {
		t.Fatalf("err = %v; want ErrInvalidModel naming fc2.weight", err)
	}
}
