package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
)

// detectorFlags are uqnn attack's flags for the detector-aware setting.
type detectorFlags struct {
	path, score string
	fpr, weight float64
}

func (d *detectorFlags) add(f *pflag.FlagSet) {
	f.StringVar(&d.path, "detector", "", "detector-aware attack: an ensemble folder with member-NNN.onnx whose score must stay under its threshold; each candidate then costs 2 queries (classifier and detector)")
	f.StringVar(&d.score, "detector-score", string(adversarial.ScoreMI), "the detector's score: mi, entropy, varratio or maxprob")
	f.Float64Var(&d.fpr, "detector-fpr", 0.05, "false-positive rate on the validation images that sets the detector's threshold")
	f.Float64Var(&d.weight, "detector-weight", adversarial.DefaultGuardWeight, "fitness penalty per factor e of the score above the threshold")
}

func (d *detectorFlags) validate() error {
	if d.path == "" {
		return nil
	}
	if _, err := adversarial.ParseScore(d.score); err != nil {
		return usagef("--detector-score: %v", err)
	}
	if !(d.fpr > 0 && d.fpr < 1) {
		return usagef("--detector-fpr %v: want a rate in (0, 1)", d.fpr)
	}
	if !(d.weight > 0) {
		return usagef("--detector-weight %v: want a value > 0", d.weight)
	}
	return nil
}

// guard opens the detector and sets its threshold on the validation images; nil without
// --detector. The closer must be called when the attack is over.
func (d *detectorFlags) guard(ctx context.Context, g *globals, m *fixtures.MNIST, calibN int) (*adversarial.Guard, func(), error) {
	if d.path == "" {
		return nil, func() {}, nil
	}
	ens, err := openEnsemble(ctx, g, d.path, "auto", m, calibN)
	if err != nil {
		return nil, nil, err
	}
	if ens.Members() == 0 {
		ens.Close()
		return nil, nil, usagef("--detector %s: an ensemble.onnx alone cannot serve an attack's many small queries; give the folder with its member-NNN.onnx files", d.path)
	}
	val := m.Validation()
	p, err := ens.Predict(ctx, val.Float(0, val.N), val.N)
	if err != nil {
		ens.Close()
		return nil, nil, err
	}
	s := adversarial.Score(d.score)
	v, err := s.Values(p, ens.Members())
	if err == nil {
		var t float64
		if t, err = adversarial.Threshold(v, d.fpr); err == nil {
			return &adversarial.Guard{Detector: ens, Name: d.path, Score: s, FPR: d.fpr, Threshold: t, Weight: d.weight}, ens.Close, nil
		}
	}
	ens.Close()
	return nil, nil, fmt.Errorf("--detector %s: %w", d.path, err)
}

// printGuard says what success meant in a detector-aware attack.
func printGuard(w io.Writer, g *adversarial.Guard) error {
	if g == nil {
		return nil
	}
	_, err := fmt.Fprintf(w, "detector    %s, score %s ≤ %.4g (%g %% validation FPR), weight %g; success = fooled and not flagged; queries count classifier and detector (2 per candidate)\n",
		g.Name, g.Score, g.Threshold, 100*g.FPR, g.Weight)
	return err
}
