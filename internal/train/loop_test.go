package train

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const (
	fakeDim     = 24
	fakeClasses = 4
)

// fakeData is 1,000 training and 200 validation images of the blobs problem.
func fakeData(t testing.TB) Data {
	t.Helper()
	all := blobs(1200, fakeDim, fakeClasses, rand.New(rand.NewPCG(7, 7)))
	return Data{Train: *all.Slice(0, 1000), Val: *all.Slice(1000, 1200), Scale: 1.0 / 255}
}

func fakeNet() *softmaxReg { return newSoftmaxReg(fakeDim, fakeClasses, rand.New(rand.NewPCG(1, 2))) }

func fakeConfig(dir string) Config {
	return Config{Epochs: 3, Batch: 32, LR: 0.05, Seed: 42, Schedule: Cosine(0.1), CurvesEvery: 7, Checkpoint: filepath.Join(dir, "ck")}
}

func TestLoopLearns(t *testing.T) {
	// The blobs problem is nearly linearly separable; 3 epochs of Adam should get most of it.
	const minValAcc = 0.9
	for _, tc := range []struct {
		name string
		st   Stepper
	}{{"adam", &Adam{}}, {"sgd", &SGD{Momentum: 0.9}}} {
		t.Run(tc.name, func(t *testing.T) {
			net, data := fakeNet(), fakeData(t)
			net.batch = 32 // as internal/nn: every call takes exactly one batch
			res, err := Loop(context.Background(), net, data, tc.st, fakeConfig(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			last := res.Curves[len(res.Curves)-1]
			if !last.Evaluated || last.ValAcc < minValAcc {
				t.Errorf("final point %+v; want evaluated with val accuracy ≥ %v", last, minValAcc)
			}
			first := res.Curves[0]
			if last.BatchLoss >= first.BatchLoss {
				t.Errorf("batch loss went from %v to %v; want a decrease", first.BatchLoss, last.BatchLoss)
			}
			if want := 3 * (1000 / 32); res.Steps != want {
				t.Errorf("steps = %d; want %d (tail batch skipped)", res.Steps, want)
			}
			// Curve points: every 7 steps within an epoch plus one per epoch end.
			nEval := 0
			for _, p := range res.Curves {
				if p.Evaluated {
					nEval++
				}
			}
			if nEval != 3 {
				t.Errorf("%d evaluated points; want 3", nEval)
			}
			// The evaluated validation loss agrees with an independent Evaluate of the final net.
			net.batch = 17 // 200 validation images: the last batch of 13 is padded
			vl, va, err := Evaluate(context.Background(), net, data.Val, data.Scale, data.Offset, 17)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(vl-last.ValLoss) > 1e-9 || va != last.ValAcc {
				t.Errorf("Evaluate with batch 17 gives (%v, %v); last point has (%v, %v)", vl, va, last.ValLoss, last.ValAcc)
			}
		})
	}
}

func paramsOf(n Net) [][]float32 {
	var out [][]float32
	for _, p := range n.Params() {
		out = append(out, slices.Clone(p.Value))
	}
	return out
}

func sameBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestLoopDeterministic(t *testing.T) {
	run := func(seed uint64) [][]float32 {
		net := fakeNet()
		cfg := fakeConfig(t.TempDir())
		cfg.Seed = seed
		if _, err := Loop(context.Background(), net, fakeData(t), &Adam{}, cfg); err != nil {
			t.Fatal(err)
		}
		return paramsOf(net)
	}
	a, b, c := run(5), run(5), run(6)
	if !sameBits(a, b) {
		t.Error("two runs with seed 5 differ")
	}
	if sameBits(a, c) {
		t.Error("seeds 5 and 6 give identical parameters; the data order ignores the seed")
	}
}

// noisySGD is SGD plus Gaussian noise from the noise stream, standing in for a sampler
// (pSGLD, BAOAB), so resume tests cover the noise stream's checkpoint.
type noisySGD struct{ SGD }

func (o *noisySGD) Step(p []Param, s StepInfo) error {
	if err := o.SGD.Step(p, s); err != nil {
		return err
	}
	for _, q := range p {
		for i := range q.Value {
			q.Value[i] += float32(1e-3 * s.Rand.NormFloat64())
		}
	}
	return nil
}

func TestResumeBitIdentical(t *testing.T) {
	steppers := map[string]func() Stepper{
		"adam":  func() Stepper { return &Adam{} },
		"noisy": func() Stepper { return &noisySGD{SGD{Momentum: 0.9}} },
	}
	perEpoch := 1000 / 32
	for name, mk := range steppers {
		dir := t.TempDir()
		cfg := fakeConfig(dir)
		ref := fakeNet()
		want, err := Loop(context.Background(), ref, fakeData(t), mk(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, stop := range []int{1, 10, perEpoch - 1, perEpoch, perEpoch + 5, 3*perEpoch - 1, 3 * perEpoch} {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				net := fakeNet()
				stopAt := Hook{AfterStep: func(_ context.Context, s *State) error {
					if s.Step == stop {
						cancel()
					}
					return nil
				}}
				_, err := Loop(ctx, net, fakeData(t), mk(), cfg, stopAt)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("stop at step %d: err = %v; want context.Canceled", stop, err)
				}
				// Resume into a freshly built net and stepper, as the CLI does.
				net2 := fakeNet()
				got, err := Resume(context.Background(), net2, fakeData(t), mk(), cfg, cfg.Checkpoint)
				if err != nil {
					t.Fatal(err)
				}
				if !sameBits(paramsOf(net2), paramsOf(ref)) {
					t.Errorf("stop at step %d: resumed parameters differ from the uninterrupted run", stop)
				}
				if got.Steps != want.Steps || len(got.Curves) != len(want.Curves) {
					t.Fatalf("stop at step %d: %d steps, %d points; want %d, %d", stop, got.Steps, len(got.Curves), want.Steps, len(want.Curves))
				}
				for i := range got.Curves {
					if got.Curves[i] != want.Curves[i] {
						t.Errorf("stop at step %d: curve point %d = %+v; want %+v", stop, i, got.Curves[i], want.Curves[i])
					}
				}
			})
		}
	}
}

func TestResumeRejectsMismatch(t *testing.T) {
	dir := t.TempDir()
	cfg := fakeConfig(dir)
	ctx, cancel := context.WithCancel(context.Background())
	stop := Hook{AfterStep: func(context.Context, *State) error { cancel(); return nil }}
	if _, err := Loop(ctx, fakeNet(), fakeData(t), &Adam{}, cfg, stop); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Config, *Stepper)
	}{
		{"seed", func(c *Config, _ *Stepper) { c.Seed++ }},
		{"batch", func(c *Config, _ *Stepper) { c.Batch = 16 }},
		{"epochs", func(c *Config, _ *Stepper) { c.Epochs = 5 }},
		{"stepper kind", func(_ *Config, s *Stepper) { *s = &SGD{} }},
	}
	for _, tc := range tests {
		c := cfg
		var st Stepper = &Adam{}
		tc.mod(&c, &st)
		if _, err := Resume(context.Background(), fakeNet(), fakeData(t), st, c, cfg.Checkpoint); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s changed: err = %v; want ErrBadCheckpoint", tc.name, err)
		}
	}
	if _, err := Resume(context.Background(), fakeNet(), fakeData(t), &Adam{}, cfg, filepath.Join(dir, "missing")); err == nil {
		t.Error("missing checkpoint accepted")
	}
	// Corrupt checkpoints: garbage bytes, a truncated file, a data order that is not a permutation.
	good, err := os.ReadFile(cfg.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := ReadCheckpoint(cfg.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	ck.Perm[0] = ck.Perm[1]
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"garbage":         []byte("not a checkpoint"),
		"truncated":       good[:len(good)/2],
		"not permutation": buf.Bytes(),
	} {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Resume(context.Background(), fakeNet(), fakeData(t), &Adam{}, cfg, p); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s checkpoint: err = %v; want ErrBadCheckpoint", name, err)
		}
	}
}

func TestValidationNeverTrainedOn(t *testing.T) {
	// Mark every validation image with pixel 0 = 255 and every training image with pixel 0 = 0.
	data := fakeData(t)
	for i := 0; i < data.Train.N; i++ {
		data.Train.Images[i*fakeDim] = 0
	}
	for i := 0; i < data.Val.N; i++ {
		data.Val.Images[i*fakeDim] = 255
	}
	net := fakeNet()
	net.seen = func(x []float32, _ []int) {
		for r := 0; r < len(x)/fakeDim; r++ {
			if x[r*fakeDim] != 0 {
				t.Fatalf("a validation image (marker %v) reached LossGrad", x[r*fakeDim])
			}
		}
	}
	if _, err := Loop(context.Background(), net, data, &Adam{}, fakeConfig(t.TempDir())); err != nil {
		t.Fatal(err)
	}
}

func TestHooks(t *testing.T) {
	// A mask applied after each step keeps masked weights exactly zero (pruning's retraining),
	// and an AfterGrad hook sees the gradient before the stepper does.
	net := fakeNet()
	mask := make([]bool, len(net.w))
	for i := range mask {
		mask[i] = i%3 == 0
	}
	steps, epochs := 0, 0
	h := Hook{
		AfterGrad: func(_ context.Context, s *State) error {
			for i, m := range mask {
				if m {
					s.Params[0].Grad[i] = 0
				}
			}
			return nil
		},
		AfterStep: func(_ context.Context, s *State) error {
			steps++
			for i, m := range mask {
				if m {
					s.Params[0].Value[i] = 0
				}
			}
			return nil
		},
		AfterEpoch: func(_ context.Context, s *State) error { epochs++; return nil },
	}
	res, err := Loop(context.Background(), net, fakeData(t), &Adam{}, fakeConfig(t.TempDir()), h)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range mask {
		if m && net.w[i] != 0 {
			t.Fatalf("masked weight %d = %v; want 0", i, net.w[i])
		}
	}
	if steps != res.Steps || epochs != 3 {
		t.Errorf("hooks ran %d steps, %d epochs; want %d, 3", steps, epochs, res.Steps)
	}
	boom := errors.New("boom")
	_, err = Loop(context.Background(), fakeNet(), fakeData(t), &Adam{}, fakeConfig(t.TempDir()),
		Hook{AfterStep: func(context.Context, *State) error { return boom }})
	if !errors.Is(err, boom) {
		t.Errorf("hook error: got %v; want it wrapped", err)
	}
}

func TestLoopRejectsBadInput(t *testing.T) {
	data := fakeData(t)
	tests := []struct {
		name string
		cfg  Config
		data Data
	}{
		{"zero epochs", Config{LR: 0.1}, data},
		{"zero lr", Config{Epochs: 1}, data},
		{"batch larger than set", Config{Epochs: 1, LR: 0.1, Batch: 5000}, data},
		{"zero scale", Config{Epochs: 1, LR: 0.1}, Data{Train: data.Train}},
		{"short labels", Config{Epochs: 1, LR: 0.1}, Data{Train: Set{Images: data.Train.Images, Labels: data.Train.Labels[:3], N: data.Train.N, Rows: 1, Cols: fakeDim}, Scale: 1}},
	}
	for _, tc := range tests {
		if _, err := Loop(context.Background(), fakeNet(), tc.data, &Adam{}, tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestHookCheckpointResumes(t *testing.T) {
	// A checkpoint written by a hook after epoch 1 (periodic checkpointing) resumes to the
	// uninterrupted result, like the one written on cancellation.
	dir := t.TempDir()
	cfg := fakeConfig(dir)
	ref := fakeNet()
	periodic := filepath.Join(dir, "epoch1")
	save := Hook{AfterEpoch: func(_ context.Context, s *State) error {
		if s.Epoch == 1 {
			return s.WriteCheckpoint(periodic)
		}
		return nil
	}}
	if _, err := Loop(context.Background(), ref, fakeData(t), &Adam{}, cfg, save); err != nil {
		t.Fatal(err)
	}
	net := fakeNet()
	res, err := Resume(context.Background(), net, fakeData(t), &Adam{}, cfg, periodic)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(paramsOf(net), paramsOf(ref)) || res.Epochs != 3 {
		t.Errorf("resumed from the epoch-1 checkpoint: %d epochs, parameters equal %v; want 3, true", res.Epochs, sameBits(paramsOf(net), paramsOf(ref)))
	}
}
