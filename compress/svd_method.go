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
// of a chain stay zero.
type SVDMethod struct {
	Epochs    int     `json:"epochs"`
	LR        float64 `json:"lr"`
	Warmup    float64 `json:"warmup_epochs"`
	Threshold float64 `json:"log_alpha_threshold"`
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
		{"svd-threshold", "svd: log α above which a weight is zeroed (3: dropout rate above 95%)", &p.Threshold},
	}
}

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
	cfg := SVDConfig{Epochs: p.Epochs, Batch: env.Tune.Batch, LR: p.LR, Warmup: warm, Threshold: p.Threshold,
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
	if n := len(r.Result.Curves); n > 0 {
		note += fmt.Sprintf("; validation accuracy %.2f%%", 100*r.Result.Curves[n-1].ValAcc)
	}
	env.logf("  %s", note)
	return &Step{Model: r.Model, Masks: r.Masks, Params: r.Params, Notes: []string{note}}, nil
}
