package compress

import (
	"context"
	"fmt"
	"math"

	"github.com/uqnn/uqnn/onnxio"
)

// Defaults of the magnitude method, measured on the validation split: 8% of the weights kept
// overall in 3 prune → retrain stages of 4 epochs at 3× the fine-tuning rate (LeNet-300-100:
// 98.54% validation accuracy against 98.56% unpruned; with 2 epochs at 1× 98.14%).
const (
	DefaultMagnitudeKeepAll = 0.08
	DefaultMagnitudeStages  = 3
	DefaultMagnitudeEpochs  = 4
)

// MagnitudeMethod is Han et al.'s (2015) iterative magnitude pruning as a Method: Stages times,
// prune the smallest weights (Magnitude, with everything pruned before kept pruned) and
// retrain Epochs epochs with the mask fixed. The target is one of: Quality (each layer keeps
// |w| > Quality·σ_layer at every stage), Keep (a kept fraction per named layer) or KeepAll
// (the kept fraction of all layers' weights, one threshold for all); with none of them,
// KeepAll = DefaultMagnitudeKeepAll. Stage i of n keeps target^(i/n) (Stages), so each stage
// removes the same share of what is left.
type MagnitudeMethod struct {
	Quality float64 `json:"quality,omitempty"`
	Keep    string  `json:"keep,omitempty"`
	KeepAll float64 `json:"keep_all,omitempty"`
	Stages  int     `json:"stages"`
	Epochs  int     `json:"epochs"`
}

func init() {
	Register("magnitude", func() Method {
		return &MagnitudeMethod{Stages: DefaultMagnitudeStages, Epochs: DefaultMagnitudeEpochs}
	})
}

func (*MagnitudeMethod) Name() string { return "magnitude" }

// SetFineTuneEpochs sets the retraining epochs after each stage.
func (p *MagnitudeMethod) SetFineTuneEpochs(e int) { p.Epochs = e }

func (p *MagnitudeMethod) Options() []Option {
	return []Option{
		{"quality", "magnitude: per-layer threshold = QUALITY × the layer's weight std (Han et al.)", &p.Quality},
		{"keep", "magnitude: kept fraction per layer, e.g. conv1=0.66,conv2=0.12,fc1=0.08,fc2=0.19", &p.Keep},
		{"keep-all", fmt.Sprintf("magnitude: kept fraction of all layers' weights, one threshold (default %g when neither --quality nor --keep)", DefaultMagnitudeKeepAll), &p.KeepAll},
		{"stages", "magnitude: prune → retrain stages; stage i of n keeps target^(i/n)", &p.Stages},
	}
}

// Check validates the hyperparameters, naming the flag at fault.
func (p *MagnitudeMethod) Check() error {
	set := 0
	for _, b := range []bool{p.Quality != 0, p.Keep != "", p.KeepAll != 0} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		return fmt.Errorf("give one of --quality, --keep and --keep-all")
	case p.Quality < 0 || math.IsNaN(p.Quality) || math.IsInf(p.Quality, 0):
		return fmt.Errorf("--quality %g: want a finite value > 0", p.Quality)
	case p.KeepAll != 0 && !(p.KeepAll > 0 && p.KeepAll <= 1):
		return fmt.Errorf("--keep-all %g: want a fraction in (0, 1]", p.KeepAll)
	case p.Stages < 1:
		return fmt.Errorf("--stages %d: want at least 1", p.Stages)
	case p.Epochs < 0:
		return fmt.Errorf("--finetune-epochs %d: want ≥ 0", p.Epochs)
	}
	if p.Keep != "" {
		if _, err := ParseKeep(p.Keep); err != nil {
			return fmt.Errorf("--keep: %v", err)
		}
	}
	return nil
}

// stageConfig is the Magnitude configuration of stage i (0-based).
func (p *MagnitudeMethod) stageConfig(i int) (MagnitudeConfig, error) {
	switch {
	case p.Quality > 0:
		return MagnitudeConfig{Quality: p.Quality}, nil
	case p.Keep != "":
		k, err := ParseKeep(p.Keep)
		if err != nil {
			return MagnitudeConfig{}, err
		}
		st, err := Stages(k, p.Stages)
		if err != nil {
			return MagnitudeConfig{}, err
		}
		return MagnitudeConfig{Keep: st[i]}, nil
	}
	all := p.KeepAll
	if all == 0 {
		all = DefaultMagnitudeKeepAll
	}
	if i < p.Stages-1 {
		all = math.Pow(all, float64(i+1)/float64(p.Stages))
	}
	return MagnitudeConfig{KeepAll: all}, nil
}

func (p *MagnitudeMethod) Apply(ctx context.Context, m *onnxio.Model, env *Env) (*Step, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	rec := *p
	if rec.Quality == 0 && rec.Keep == "" && rec.KeepAll == 0 {
		rec.KeepAll = DefaultMagnitudeKeepAll
	}
	cur, masks := m, env.Prior
	for i := range p.Stages {
		cfg, err := p.stageConfig(i)
		if err != nil {
			return nil, err
		}
		cfg.Prior = masks
		out, ms, err := Magnitude(cur, cfg)
		if err != nil {
			return nil, err
		}
		if masks, err = Intersect(masks, ms); err != nil {
			return nil, err
		}
		led, err := NewLedger(m, out)
		if err != nil {
			return nil, err
		}
		env.logf("  stage %d/%d: %.2f%% of the weights kept", i+1, p.Stages, 100*led.Kept)
		if cur, err = env.Retrain(ctx, out, masks, p.Epochs, RetrainLRScale, uint64(100+i)); err != nil {
			return nil, err
		}
	}
	return &Step{Model: cur, Masks: masks, Params: rec}, nil
}
