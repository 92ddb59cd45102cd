package compress

import "math"

// A kept-fraction target for sparse variational dropout (SVDConfig.Keep, the CLI's --svd-keep).
//
// The threshold rule zeroes a weight as soon as its log α passes the threshold, during training
// as at its end, so how many weights survive is whatever training makes of it. A sweep wants the
// kept fraction chosen instead. With Keep set, training runs with the threshold at +∞ — the KL
// term and the noise as usual, but no weight is zeroed along the way (weights pruned by an
// earlier method stay 0 through the masks) — and at the end the weights are ranked by their
// unclipped log α = log σ² − log θ² over every layer at once and the round(Keep·n) lowest keep
// their θ. Ranking by the unclipped value keeps the order of weights that the KL term's clip
// would tie at ±LogAlphaClip. Zeroing weights along the way could leave fewer than the target,
// which is why the threshold rule is off rather than merely late. The epoch-end evaluations of a
// Keep run therefore score the network before the cut.

// trainingConfig is cfg as the training loop's hook uses it: with Keep, a threshold no log α
// passes, so nothing is zeroed before the end.
func trainingConfig(cfg SVDConfig) SVDConfig {
	if cfg.Keep > 0 {
		cfg.Threshold = math.Inf(1)
	}
	return cfg
}

// keepLowest keeps θ of the round(keep·n) weights with the lowest log α over every layer and
// zeroes the rest.
func (s *svdState) keepLowest(keep float64) {
	theta, ls := make([][]float32, len(s.layers)), make([][]float32, len(s.layers))
	for k, l := range s.layers {
		theta[k], ls[k] = l.theta, l.ls
	}
	keepLowestLogAlpha(theta, ls, keep)
}

// keepLowestLogAlpha keeps the round(keep·n) entries of theta (n in all, over every tensor)
// with the lowest log α = ls − log θ², ties to the earlier tensor and position (keepTop), and
// sets the others to 0. A θ already 0 has log α = +∞ and comes last.
func keepLowestLogAlpha(theta, ls [][]float32, keep float64) {
	negLogAlpha := func(k, i int) float64 {
		v := theta[k][i]
		if v == 0 {
			return math.Inf(-1)
		}
		t := float64(v)
		return math.Log(t*t) - float64(ls[k][i])
	}
	for k, mask := range keepTop(theta, negLogAlpha, keep) {
		for i, kept := range mask {
			if !kept {
				theta[k][i] = 0
			}
		}
	}
}
