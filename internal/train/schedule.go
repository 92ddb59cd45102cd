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
