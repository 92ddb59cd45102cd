package train

import (
	"context"
	"errors"
	"testing"
)

// TestEvalAndCurvesHooks: installing EvalHook and CurvesHook explicitly gives the curves the
// defaults give; without them nothing is evaluated or collected; the curves' state is in the
// checkpoint as hook "curves"; and a Ctrl-C during the end-of-epoch evaluation resumes to the
// uninterrupted curves.
func TestEvalAndCurvesHooks(t *testing.T) {
	ctx := context.Background()
	cfg := fakeConfig(t.TempDir())
	want, err := Loop(ctx, fakeNet(), fakeData(t), &Adam{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Loop(ctx, fakeNet(), fakeData(t), &Adam{}, cfg, EvalHook(cfg.EvalTrain), CurvesHook(cfg.CurvesEvery))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Curves) != len(want.Curves) {
		t.Fatalf("explicit hooks: %d points; the defaults give %d", len(got.Curves), len(want.Curves))
	}
	for i := range got.Curves {
		if got.Curves[i] != want.Curves[i] {
			t.Errorf("explicit hooks: point %d = %+v; the defaults give %+v", i, got.Curves[i], want.Curves[i])
		}
	}

	// Only an EvalHook: evaluated every epoch end (State.Eval), no curves collected.
	evals := 0
	seen := Hook{AfterEpoch: func(_ context.Context, s *State) error {
		if s.Eval.ValN != 200 || s.Eval.ValAcc == 0 || s.Eval.TrainN != 1000 {
			t.Errorf("epoch %d: State.Eval = %+v; want the 200 validation and 1000 training images measured", s.Epoch, s.Eval)
		}
		evals++
		return nil
	}}
	res, err := Loop(ctx, fakeNet(), fakeData(t), &Adam{}, cfg, EvalHook(0), seen)
	if err != nil {
		t.Fatal(err)
	}
	if evals != cfg.Epochs || res.Curves != nil {
		t.Errorf("EvalHook alone: %d evaluations, %d points; want %d, none", evals, len(res.Curves), cfg.Epochs)
	}

	// Cancelled while evaluating after epoch 2: the checkpoint holds the curves so far and the
	// position at the epoch's end; Resume evaluates again and ends with the same curves.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := Hook{EpochEnd: func(_ context.Context, s *State) error {
		if s.Epoch == 1 {
			cancel()
			return cctx.Err()
		}
		return nil
	}}
	if _, err := Loop(cctx, fakeNet(), fakeData(t), &Adam{}, cfg, EvalHook(cfg.EvalTrain), CurvesHook(cfg.CurvesEvery), stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in EpochEnd: err = %v; want context.Canceled", err)
	}
	ck, err := ReadCheckpoint(cfg.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ck.Hooks["curves"]; !ok || ck.Epoch != 1 || ck.Pos == 0 {
		t.Fatalf("checkpoint: hooks %v, epoch %d, position %d; want the curves' state at the end of epoch 2's steps", len(ck.Hooks), ck.Epoch, ck.Pos)
	}
	res, err = Resume(ctx, fakeNet(), fakeData(t), &Adam{}, cfg, cfg.Checkpoint, EvalHook(cfg.EvalTrain), CurvesHook(cfg.CurvesEvery))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curves) != len(want.Curves) || res.Curves[len(res.Curves)-1] != want.Curves[len(want.Curves)-1] {
		t.Errorf("resumed after a cancelled evaluation: %d points ending %+v; want %d ending %+v",
			len(res.Curves), res.Curves[len(res.Curves)-1], len(want.Curves), want.Curves[len(want.Curves)-1])
	}
}
