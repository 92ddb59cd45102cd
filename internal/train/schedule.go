package train

import "math"

// Schedule maps a step (0-based) of a run of total steps to a multiplier of Config.LR.
// A nil Schedule is constant.
type Schedule func(step, total int) float64

// Cosine decays the rate from 1 to floor along half a cosine over the run.
func Cosine(floor float64) Schedule {
	return func(step, total int) float64 {
		if total <= 1 {
			return 1
		}
		p := float64(step) / float64(total-1)
		return floor + (1-floor)*0.5*(1+math.Cos(math.Pi*p))
	}
}

// StepDecay multiplies the rate by gamma every `every` steps.
func StepDecay(every int, gamma float64) Schedule {
	return func(step, _ int) float64 {
		if every <= 0 {
			return 1
		}
		return math.Pow(gamma, float64(step/every))
	}
}

// Cyclical is the cosine step-size schedule of cyclical SG-MCMC (Zhang, Li, Zhang, Chen &
// Wilson, ICLR 2020, eq. 1) with cycles of length steps: for the 1-based step k,
//
//	α_k = ½·(cos(π·mod(k−1, L)/L) + 1),   L = length = ⌈K/M⌉ for K steps in M cycles,
//
// so each cycle starts at the full rate and decays to nearly 0 at its last step. The run's
// total is not used: the cycles are fixed in steps, and a run that stops early (a sampling
// chain ends at its last member) sees the same rates.
func Cyclical(length int) Schedule {
	return func(step, _ int) float64 {
		if length <= 1 {
			return 1
		}
		r := float64(step%length) / float64(length)
		return 0.5 * (math.Cos(math.Pi*r) + 1)
	}
}

// CyclicalExplore marks the exploration stage of Cyclical(length): the steps whose position in
// their cycle, mod(k−1, L)/L for the 1-based step k, is below fraction (the paper's β). A
// sampler injects no noise there and runs as its optimizer; the rest of each cycle is the
// sampling stage.
func CyclicalExplore(length int, fraction float64) func(step, total int) bool {
	return func(step, _ int) bool {
		if length <= 0 {
			return false
		}
		return float64(step%length)/float64(length) < fraction
	}
}
