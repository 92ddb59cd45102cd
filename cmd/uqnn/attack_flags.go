package main

// The flags of uqnn attack beyond the campaign itself: their checks, the GenAttack config they
// make, and the detector-aware attack's ensemble (--detector).

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/pixel"
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

func (o attackOptions) config() adversarial.Config {
	return adversarial.Config{
		Epsilon: o.eps, Population: o.population, Temperature: o.temperature,
		Rho: o.rho, Alpha: o.alpha, Adaptive: o.plateau > 0,
		RhoInit: o.rho, AlphaInit: o.alpha, RhoMin: min(o.rhoMin, o.rho), AlphaMin: min(o.alphaMin, o.alpha),
		Decay: o.decay, Plateau: max(o.plateau, 1),
	}.WithDefaults()
}

// validate checks the flags before anything is read or written.
func (o attackOptions) validate() error {
	switch {
	case o.out == "":
		return usagef("attack: -o DIR is required")
	case o.plateau < 0:
		return usagef("--plateau %d: want generations ≥ 1, or 0 to keep ρ and α fixed", o.plateau)
	case o.n <= 0 || o.n > fixtures.TestSize:
		return usagef("--n %d: want 1..%d (the MNIST test set)", o.n, fixtures.TestSize)
	case o.budget <= 0:
		return usagef("--budget %d: want a positive number of queries per example", o.budget)
	case !(o.eps > 0 && o.eps <= 1):
		return usagef("--eps %v: want a value in (0, 1] (a fraction of the 0..1 pixel range)", o.eps)
	case o.eps < 1.0/255:
		return usagef("--eps %v: below one pixel level (1/255 ≈ 0.0039); want at least that", o.eps)
	case o.workers < 1:
		return usagef("--workers %d: want at least 1", o.workers)
	case o.gridN < 0:
		return usagef("--grid %d: want 0 or more examples", o.gridN)
	case o.population < 2:
		return usagef("--population %d: want at least 2 (the elite and one child)", o.population)
	case !(o.temperature > 0):
		return usagef("--temperature %v: want a value > 0", o.temperature)
	case !(o.rho > 0 && o.rho <= 1):
		return usagef("--rho %v: want a value in (0, 1]", o.rho)
	case !(o.alpha > 0 && o.alpha <= 1):
		return usagef("--alpha %v: want a value in (0, 1]", o.alpha)
	case !(o.decay > 0 && o.decay < 1):
		return usagef("--decay %v: want a factor in (0, 1)", o.decay)
	case !(o.rhoMin > 0 && o.rhoMin <= 1), !(o.alphaMin > 0 && o.alphaMin <= 1):
		return usagef("--rho-min %v, --alpha-min %v: want values in (0, 1]", o.rhoMin, o.alphaMin)
	case o.calibN < 1:
		return usagef("--calib-n %d: want at least 1 validation image", o.calibN)
	}
	if _, _, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("%v", err)
	}
	if err := o.config().Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := o.detector.validate(); err != nil {
		return err
	}
	if err := checkOutputDir(o.out); err != nil {
		return err
	}
	return dirUsage(adversarial.CheckDir(o.out, o.resume), o.resume)
}

// dirUsage turns a campaign folder conflict into a usage error that says what to do.
func dirUsage(err error, resume bool) error {
	var de *adversarial.DirError
	switch {
	case !errors.As(err, &de):
		return err
	case de.File == "":
		return usagef("-o %v", err)
	case resume:
		return usagef("-o %v; rerun with the same flags or choose another folder", err)
	}
	return usagef("-o %v; pass --resume to continue it, or choose another folder", err)
}
