package train

import (
	"context"
)

// DefaultEvalTrain is how many training images (the first ones, in order) EvalHook(0)
// evaluates at the end of each epoch, for the training loss and accuracy columns of the curves.
const DefaultEvalTrain = 5000

// EvalHook is the end-of-epoch evaluation: at each epoch end (an EpochEnd hook) it runs the
// net over the first trainN training images (0 means DefaultEvalTrain, or all if fewer;
// negative means none) and over the whole validation set, and puts the mean cross-entropy and
// accuracy in State.Eval for the hooks after it (Curves records them, Progress prints them).
// It collects nothing of its own: what it measures lives on in the Curves hook's checkpointed
// points, and an evaluation that Ctrl-C cut short is run again on Resume.
func EvalHook(trainN int) Hook {
	return Hook{kind: kindEval, EpochEnd: func(ctx context.Context, s *State) error {
		r := s.run
		d := r.data
		n := trainN
		switch {
		case n == 0:
			n = min(DefaultEvalTrain, d.Train.N)
		case n < 0:
			n = 0
		default:
			n = min(n, d.Train.N)
		}
		e := Eval{TrainN: n, ValN: d.Val.N}
		var err error
		if n > 0 {
			first := *d.Train.Slice(0, n)
			if e.TrainLoss, e.TrainAcc, err = Evaluate(ctx, s.Net, first, d.Scale, d.Offset, r.batch); err != nil {
				return err
			}
		}
		if d.Val.N > 0 {
			if e.ValLoss, e.ValAcc, err = Evaluate(ctx, s.Net, d.Val, d.Scale, d.Offset, r.batch); err != nil {
				return err
			}
		}
		s.Eval = e
		return nil
	}}
}

// DefaultHooks are the hooks Loop and Resume install, ahead of the caller's, when the caller
// passes neither an EvalHook nor a CurvesHook: EvalHook(cfg.EvalTrain) and
// CurvesHook(cfg.CurvesEvery). A caller that installs either one installs what it wants itself.
func DefaultHooks(cfg Config) []Hook {
	return []Hook{EvalHook(cfg.EvalTrain), CurvesHook(cfg.CurvesEvery)}
}

func withDefaults(cfg Config, hooks []Hook) []Hook {
	for _, h := range hooks {
		if h.kind == kindEval || h.kind == kindCurves {
			return hooks
		}
	}
	return append(DefaultHooks(cfg), hooks...)
}
