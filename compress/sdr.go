package compress

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Sensitivity-driven regularisation (Tartaglione, Lepsøy, Fiandrotti & Francini, NeurIPS 2018,
// "Learning Sparse Neural Networks via Sensitivity-Driven Regularization").
//
// After every optimizer step, each layer weight w is shrunk towards zero in proportion to its
// insensitivity:
//
//	w ← w − λ · w · max(0, 1 − S)
//
// where S is the weight's sensitivity. Weights the network does not need (S ≈ 0) decay
// geometrically at rate λ per step; weights that matter (S ≥ 1) are left to the loss gradient.
// Training ends with many weights near zero, and Threshold then cuts them.
//
// Sensitivity. The paper defines S as the sensitivity of the network output to the weight,
// S = |∂y/∂w| (averaged over the C outputs for a classifier), which costs C extra backward passes
// per step. The authors' follow-up (LOBSTER, Tartaglione et al. 2020, arXiv:2011.09905) uses the
// loss gradient instead, S = |∂L/∂w|, which the training loop has already computed: it costs
// nothing extra, and it also lets go of weights that move the outputs without moving the loss.
// Their released code (EIDOSearch's LOBSTER regulariser) normalises it per tensor,
//
//	S = |∂L/∂w| / max(max over the tensor of |∂L/∂w|, ε),   ε = 1e-10,
//
// so S lies in [0, 1] and the most sensitive weight of each tensor is never shrunk. uqnn uses
// this loss-based, per-tensor normalised form by default (SDRConfig.Raw selects the unnormalised
// |∂L/∂w| with the max(0, ·) clamp). The output-sensitivity form is not offered: train.Net gives
// the loss gradient only.

// SDRConfig holds the hyperparameters of the SDR shrinkage.
type SDRConfig struct {
	// Lambda is λ, the fraction of a fully insensitive weight removed per step; must be in
	// (0, 1). It is not multiplied by the learning rate (as in the paper and the authors' code).
	// A fully insensitive weight is multiplied by 1−λ each step, so λ = 1e-4 halves it in
	// about 6,900 steps (ln 2 / λ); choose λ against the number of training steps.
	Lambda float64 `json:"lambda"`
	// Raw uses S = |∂L/∂w| without the per-tensor normalisation.
	Raw bool `json:"raw,omitempty"`
}

// sdrEps is the floor of the normalising maximum (the authors' value), so an all-zero gradient
// gives S = 0 rather than 0/0.
const sdrEps = 1e-10

// SDR returns a train.Hook whose AfterStep applies the shrinkage to the parameters named in
// weights (initializer names; use the Weight of each Layers entry: biases and BatchNorm
// parameters are not shrunk). The sensitivity is read from Param.Grad as the Stepper saw it
// (the minibatch loss gradient plus whatever AfterGrad hooks added). Masked (zero) weights stay
// exactly zero. A name in weights that the network does not have is an error at the first step.
func SDR(weights []string, cfg SDRConfig) (train.Hook, error) {
	if !(cfg.Lambda > 0 && cfg.Lambda < 1) {
		return train.Hook{}, fmt.Errorf("compress: SDR λ = %g; want a value in (0, 1)", cfg.Lambda)
	}
	if len(weights) == 0 {
		return train.Hook{}, fmt.Errorf("compress: SDR: no weights to regularise")
	}
	want := slices.Clone(weights)
	var idx []int // positions in State.Params, found at the first step
	return train.Hook{AfterStep: func(_ context.Context, s *train.State) error {
		if idx == nil {
			for _, name := range want {
				i := slices.IndexFunc(s.Params, func(p train.Param) bool { return p.Name == name })
				if i < 0 {
					return fmt.Errorf("compress: SDR: the network has no parameter %q", name)
				}
				idx = append(idx, i)
			}
		}
		for _, i := range idx {
			p := s.Params[i]
			sdrShrink(p.Value, p.Grad, cfg)
		}
		return nil
	}}, nil
}

// sdrShrink applies w ← w − λ·w·max(0, 1 − S) in place.
func sdrShrink(w, g []float32, cfg SDRConfig) {
	scale := 1.0
	if !cfg.Raw {
		var mx float64
		for _, v := range g {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		scale = 1 / math.Max(mx, sdrEps)
	}
	for i, v := range w {
		ins := 1 - math.Abs(float64(g[i]))*scale
		if ins <= 0 {
			continue
		}
		w[i] = float32(float64(v) - cfg.Lambda*float64(v)*ins)
	}
}

// Evaluate returns a model's validation loss (lower is better); Threshold calls it on pruned
// candidates. Typically the mean cross-entropy on a held-out set through onnxruntime or nn.
type Evaluate func(ctx context.Context, m *onnxio.Model) (float64, error)

// ThresholdConfig drives Threshold.
type ThresholdConfig struct {
	// Tolerance is how much the validation loss may rise above the unpruned model's, in the
	// loss's units (nats for cross-entropy); must be ≥ 0.
	Tolerance float64 `json:"tolerance"`
	// Layers are the layers cut (names or weight names); nil means every layer.
	Layers []string `json:"layers,omitempty"`
}

// ThresholdResult is what Threshold found.
type ThresholdResult struct {
	// Cutoff is the magnitude at and below which weights were set to zero.
	Cutoff float64 `json:"cutoff"`
	// BaseLoss is the unpruned model's loss, Loss the pruned one's.
	BaseLoss float64 `json:"base_loss"`
	Loss     float64 `json:"loss"`
	// Evaluations counts the calls to Evaluate.
	Evaluations int `json:"evaluations"`
}

// Threshold finds the largest magnitude cut-off T, one for all selected layers, such that
// setting every weight with |w| ≤ T to zero keeps eval within cfg.Tolerance of the unpruned
// model's loss, and returns the pruned copy of m with its masks. Candidates are the distinct
// magnitudes present; the search is a bisection over them (about log2 of their number
// evaluations), which assumes the loss does not fall as the cut-off rises — true in practice
// for SDR-trained weights, whose useless weights sit near zero. A cut-off of 0 (removing only
// exact zeros) is always accepted as the starting point. m is unchanged.
func Threshold(ctx context.Context, m *onnxio.Model, eval Evaluate, cfg ThresholdConfig) (*onnxio.Model, Masks, ThresholdResult, error) {
	var res ThresholdResult
	if !(cfg.Tolerance >= 0) || math.IsInf(cfg.Tolerance, 0) {
		return nil, nil, res, fmt.Errorf("compress: threshold: tolerance %g; want a finite value ≥ 0", cfg.Tolerance)
	}
	ls, err := Layers(m)
	if err != nil {
		return nil, nil, res, err
	}
	sel, err := selectLayers(ls, cfg.Layers)
	if err != nil {
		return nil, nil, res, err
	}
	if len(sel) == 0 {
		return nil, nil, res, fmt.Errorf("compress: threshold: the model has no layers to prune: %w", onnxio.ErrUnsupported)
	}
	var mags []float64
	for _, l := range sel {
		for _, v := range m.Initializer(l.Weight).Float32 {
			mags = append(mags, math.Abs(float64(v)))
		}
	}
	slices.Sort(mags)
	mags = slices.Compact(mags)
	cut := func(t float64) (*onnxio.Model, Masks, error) {
		ms := Masks{}
		for _, l := range sel {
			w := m.Initializer(l.Weight).Float32
			k := make([]bool, len(w))
			for i, v := range w {
				k[i] = math.Abs(float64(v)) > t
			}
			ms[l.Weight] = k
		}
		out, err := Apply(m, ms)
		return out, ms, err
	}
	evalAt := func(t float64) (*onnxio.Model, Masks, float64, error) {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, err
		}
		out, ms, err := cut(t)
		if err != nil {
			return nil, nil, 0, err
		}
		loss, err := eval(ctx, out)
		res.Evaluations++
		if err != nil {
			return nil, nil, 0, fmt.Errorf("compress: threshold: evaluating cut-off %g: %w", t, err)
		}
		if math.IsNaN(loss) {
			return nil, nil, 0, fmt.Errorf("compress: threshold: evaluation at cut-off %g gave NaN", t)
		}
		return out, ms, loss, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, res, err
	}
	base, err := eval(ctx, m)
	res.Evaluations++
	if err != nil {
		return nil, nil, res, fmt.Errorf("compress: threshold: evaluating the unpruned model: %w", err)
	}
	res.BaseLoss = base
	limit := base + cfg.Tolerance
	best, bestMasks, bestLoss, err := evalAt(0)
	if err != nil {
		return nil, nil, res, err
	}
	// Invariant: mags[lo] is accepted (or lo = -1 with cut-off 0), mags[hi] is rejected (or
	// hi = len). mags[0] may be 0 itself.
	lo, hi := -1, len(mags)
	if len(mags) > 0 && mags[0] == 0 {
		lo = 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		out, ms, loss, err := evalAt(mags[mid])
		if err != nil {
			return nil, nil, res, err
		}
		if loss <= limit {
			lo, best, bestMasks, bestLoss = mid, out, ms, loss
		} else {
			hi = mid
		}
	}
	if lo >= 0 {
		res.Cutoff = mags[lo]
	}
	res.Loss = bestLoss
	return best, bestMasks, res, nil
}
