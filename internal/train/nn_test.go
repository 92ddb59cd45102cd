package train

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/testenv"
)

// lenetRun trains a fresh LeNet-5 (seeded) on the first n MNIST images with batch 8.
func lenetSetup(t *testing.T, n, val int) (Net, Data) {
	t.Helper()
	m := testenv.MNIST(t)
	all := m.Train.Slice(0, n+val)
	tr, va := *all.Slice(0, n), *all.Slice(n, n+val)
	model := fixtures.LeNet5(seed.Rand(3, "init"))
	g, err := nn.Build(model, nn.Config{Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	net, err := NN(g)
	if err != nil {
		t.Fatal(err)
	}
	return net, Data{Train: tr, Val: va, Scale: 1.0 / 255}
}

func TestLeNet5ResumeBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: LeNet-5 on Gorgonia; TestResumeBitIdentical covers the same path on a small model")
	}
	cfg := Config{Epochs: 2, Batch: 8, LR: 1e-3, Seed: 11, Schedule: Cosine(0.1), CurvesEvery: 3, EvalTrain: 16, Checkpoint: filepath.Join(t.TempDir(), "ck")}
	ref, data := lenetSetup(t, 48, 16)
	want, err := Loop(context.Background(), ref, data, &Adam{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net, data := lenetSetup(t, 48, 16)
	stop := Hook{AfterStep: func(_ context.Context, s *State) error {
		if s.Step == 4 { // mid first epoch (6 steps per epoch)
			cancel()
		}
		return nil
	}}
	if _, err := Loop(ctx, net, data, &Adam{}, cfg, stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	net2, data := lenetSetup(t, 48, 16)
	got, err := Resume(context.Background(), net2, data, &Adam{}, cfg, cfg.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(paramsOf(net2), paramsOf(ref)) {
		t.Error("resumed LeNet-5 parameters differ from the uninterrupted run")
	}
	if len(got.Curves) != len(want.Curves) || got.Curves[len(got.Curves)-1] != want.Curves[len(want.Curves)-1] {
		t.Errorf("resumed curves end %+v; want %+v", got.Curves[len(got.Curves)-1], want.Curves[len(want.Curves)-1])
	}
}
