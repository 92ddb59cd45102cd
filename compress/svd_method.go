package compress

import (
	"context"
	"fmt"
	"math"

	"github.com/uqnn/uqnn/onnxio"
)

// SVDMethod is sparse variational dropout (SVD, svd.go) as a Method: train the model with a
// log σ² per weight, the KL term and the log α threshold, and export the deterministic θ with
// the weights past the threshold at exactly 0. No fine-tuning follows: the epoch-end
// evaluations already score the pruned deterministic model. Weights pruned by an earlier method
// of a chain stay zero. With Keep > 0 the threshold rule gives way to a target: the Keep share
// of the layer weights with the lowest log α at the end of training is kept (SVDConfig.Keep).
type SVDMethod struct {
	Epochs    int     `json:"epochs"`
	LR        float64 `json:"lr"`
	Warmup    float64 `json:"warmup_epochs"`
	Threshold float64 `json:"log_alpha_threshold"`
	Keep      float64 `json:"keep,omitempty"`
}

func init() {
	Register("svd", func() Method {
		return &SVDMethod{Epochs: DefaultSVDEpochs, LR: DefaultSVDLR, Warmup: DefaultSVDWarmup, Threshold: DefaultSVDThreshold}
	})
}

func (*SVDMethod) Name() string { return "svd" }

func (p *SVDMethod) Options() []Option {
	return []Option{
		{"svd-epochs", "svd: training epochs with the variational noise and KL term", &p.Epochs},
		{"svd-lr", "svd: Adam's initial learning rate (decayed linearly to 0)", &p.LR},
		{"svd-warmup", "svd: epochs over which the KL weight rises linearly from 0 to 1", &p.Warmup},
		{"svd-threshold", "svd: log α above which a weight is zeroed (3: dropout rate above 95%; not with --svd-keep)", &p.Threshold},
		{"svd-keep", "svd: kept fraction of all layers' weights: no weight is zeroed during training, and at the end those with the lowest log α are kept, instead of the --svd-threshold rule (0: off)", &p.Keep},
	}
}

// Exclusive: --svd-keep replaces the --svd-threshold rule.
func (*SVDMethod) Exclusive() [][2]string { return [][2]string{{"svd-keep", "svd-threshold"}} }

// Check validates the hyperparameters, naming the flag at fault.
func (p *SVDMethod) Check() error {
	switch {
	case p.Epochs < 1:
		return fmt.Errorf("--svd-epochs %d: want at least 1", p.Epochs)
	case !(p.LR > 0) || math.IsInf(p.LR, 0):
		return fmt.Errorf("--svd-lr %g: want a finite value > 0", p.LR)
	case !(p.Warmup >= 0) || math.IsInf(p.Warmup, 0):
		return fmt.Errorf("--svd-warmup %g: want a finite value ≥ 0", p.Warmup)
	case !(p.Threshold > -LogAlphaClip && p.Threshold < LogAlphaClip) || p.Threshold == 0:
		return fmt.Errorf("--svd-threshold %g: want a non-zero value in (−%g, %g)", p.Threshold, LogAlphaClip, LogAlphaClip)
	case !(p.Keep >= 0 && p.Keep <= 1):
		return fmt.Errorf("--svd-keep %g: want a kept fraction in (0, 1], or 0 for the --svd-threshold rule", p.Keep)
	}
	return nil
}

func (p *SVDMethod) Apply(ctx context.Context, m *onnxio.Model, env *Env) (*Step, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	warm := p.Warmup
	if warm == 0 {
		warm = -1 // SVDConfig's "no warm-up"
	}
	cfg := SVDConfig{Epochs: p.Epochs, Batch: env.Tune.Batch, LR: p.LR, Warmup: warm, Threshold: p.Threshold, Keep: p.Keep,
		Seed: env.Seed*1000003 + 400, EvalTrain: -1, Masks: env.Prior}
	r, err := SVD(ctx, m, env.Data, cfg, env.Hooks...)
	if err != nil {
		return nil, err
	}
	var kept, total int
	for _, l := range r.Layers {
		kept += l.Kept
		total += l.Params
	}
	note := fmt.Sprintf("svd: %d of %d layer weights kept (%.2f%%, %.1f×)", kept, total, 100*float64(kept)/float64(total), float64(total)/float64(max(kept, 1)))
	switch n := len(r.Result.Curves); {
	case p.Keep > 0:
		// The epoch-end evaluations scored the network before the cut: score the exported one.
		note += fmt.Sprintf("; the lowest log α (--svd-keep %g)", p.Keep)
		if env.Run != nil && env.Data.Val.N > 0 {
			_, acc, err := env.Score(ctx, r.Model, &env.Data.Val, 0)
			if err != nil {
				return nil, err
			}
			note += fmt.Sprintf("; validation accuracy %.2f%%", 100*acc)
		}
	case n > 0:
		note += fmt.Sprintf("; validation accuracy %.2f%%", 100*r.Result.Curves[n-1].ValAcc)
	}
	env.logf("  %s", note)
	return &Step{Model: r.Model, Masks: r.Masks, Params: r.Params, Notes: []string{note}}, nil
}
