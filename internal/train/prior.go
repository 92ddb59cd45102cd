package train

import "context"

// L2Prior is the one prior term of the loop: an AfterGrad hook that adds decay·θ to every
// gradient, the gradient of (decay/2)·‖θ‖². For optimizers it is L2 weight decay (PyTorch's
// convention for SGD and Adam). For samplers it is a Gaussian prior N(0, σ²) on every weight in the
// mean-minibatch-loss convention: the loop's gradient is ∇U/N with U the full-data negative log
// posterior, so decay = 1/(N·σ²). A decay of 0 returns a hook that does nothing.
func L2Prior(decay float64) Hook {
	if decay == 0 {
		return Hook{}
	}
	wd := float32(decay)
	return Hook{AfterGrad: func(_ context.Context, s *State) error {
		for _, p := range s.Params {
			for i, v := range p.Value {
				p.Grad[i] += wd * v
			}
		}
		return nil
	}}
}
