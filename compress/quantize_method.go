package compress

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/onnxio"
)

// QuantizeMethod is k-means weight sharing (Deep Compression's second stage) as a Method, so a
// chain can end in it (`--method svd,magnitude,quantize`, the study's combined network): per
// layer codebooks of KMeansBits, pruned zeros kept outside them, then KMeansEpochs of centroid
// fine-tuning (QuantizeTuned). It belongs last in a chain: later methods would retrain the
// weights off their codebooks. For int8 or the compact form use the CLI's --quantize and
// --compact, which act on the chain's result.
type QuantizeMethod struct {
	KMeansBits   string `json:"bits"`
	KMeansEpochs int    `json:"finetune_epochs"`
}

func init() {
	Register("quantize", func() Method { return &QuantizeMethod{KMeansBits: "conv=8,fc=5", KMeansEpochs: 1} })
}

func (*QuantizeMethod) Name() string { return "quantize" }

func (p *QuantizeMethod) Options() []Option {
	return []Option{
		{"kmeans-bits", "quantize: index bits per layer (conv=8,fc=5 is Deep Compression's; one number for all)", &p.KMeansBits},
		{"kmeans-epochs", "quantize: epochs of centroid fine-tuning", &p.KMeansEpochs},
	}
}

// Check validates the hyperparameters, naming the flag at fault.
func (p *QuantizeMethod) Check() error {
	cfg, err := ParseQuantize(p.KMeansBits)
	switch {
	case err != nil:
		return fmt.Errorf("--kmeans-bits %q: %v", p.KMeansBits, err)
	case cfg.Int8:
		return fmt.Errorf("--kmeans-bits int8: the quantize method shares weights by k-means; use --quantize int8 for linear int8")
	case p.KMeansEpochs < 0:
		return fmt.Errorf("--kmeans-epochs %d: want ≥ 0", p.KMeansEpochs)
	}
	return nil
}

func (p *QuantizeMethod) Apply(ctx context.Context, m *onnxio.Model, env *Env) (*Step, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	cfg, _ := ParseQuantize(p.KMeansBits)
	q, cbs, err := QuantizeTuned(ctx, m, cfg, env, p.KMeansEpochs)
	if err != nil {
		return nil, err
	}
	masks, err := NonZero(q)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("quantize: %d layers shared through k-means codebooks (%s), %d epochs of centroid fine-tuning", len(cbs), p.KMeansBits, p.KMeansEpochs)
	env.logf("  %s", note)
	return &Step{Model: q, Masks: masks, Params: p, Notes: []string{note}}, nil
}
