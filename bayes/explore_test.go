package bayes

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/uqnn/uqnn/internal/train"
)

// TestExploreStepsInjectNoNoise checks one exploration step (cyclical SG-MCMC's first stage,
// StepInfo.Explore) of each sampler against its optimizer step computed by hand, at a
// temperature whose noise would move the parameters by ~10³ if it were injected, and that the
// same step with Explore off does move them that far.
func TestExploreStepsInjectNoNoise(t *testing.T) {
	const tol = 1e-6 // float32 arithmetic on values of order 1
	const temp = 1e6 // noise sd √(2·h·G·T/N) ≈ 450 for pSGLD, √((1−c²)·T) ≈ 440 for BAOAB
	w0, g := []float32{0.5, -0.2}, []float32{0.1, -0.4}
	params := func() []train.Param {
		return []train.Param{{Name: "w", Value: append([]float32(nil), w0...), Grad: append([]float32(nil), g...)}}
	}
	// pSGLD, first step (V = g²): θ − h·g/(λ + |g|), h = 0.01, λ = 1e-5.
	// BAOAB, first step from p = 0, h = 0.1, γ = 1 (c = e^−0.1), N = 10, F = −N·g:
	// B p = (h/2)·F; A θ += (h/2)·p; O p = c·p; A θ += (h/2)·p, so θ + (h/2)²·F·(1 + c).
	c := math.Exp(-0.1)
	tests := []struct {
		name string
		st   train.Stepper
		info train.StepInfo
		want []float64
	}{
		{"pSGLD", &PSGLD{Temperature: temp}, train.StepInfo{LR: 0.01, N: 10},
			[]float64{0.5 - 0.01*0.1/(1e-5+0.1), -0.2 + 0.01*0.4/(1e-5+0.4)}},
		{"BAOAB", &BAOAB{Temperature: temp, Friction: 1}, train.StepInfo{LR: 0.1, N: 10},
			[]float64{0.5 + 0.0025*(-1)*(1+c), -0.2 + 0.0025*4*(1+c)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := params()
			if err := tc.st.Init(p); err != nil {
				t.Fatal(err)
			}
			info := tc.info
			info.Explore, info.Rand = true, rand.New(rand.NewPCG(1, 2))
			if err := tc.st.Step(p, info); err != nil {
				t.Fatal(err)
			}
			for i, v := range p[0].Value {
				if math.Abs(float64(v)-tc.want[i]) > tol {
					t.Errorf("exploration step: θ[%d] = %v; want the optimizer's %v (w %v, g %v)", i, v, tc.want[i], w0, g)
				}
			}
			// The same step sampling: the noise moves θ by hundreds.
			p = params()
			tc.st.Init(p)
			info.Explore = false
			if err := tc.st.Step(p, info); err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(p[0].Value[0]) - tc.want[0]); d < 1 {
				t.Errorf("sampling step: θ[0] = %v, %g from the optimizer's step; want the noise to move it by ≫ 1", p[0].Value[0], d)
			}
		})
	}
}

// TestBAOABExploreKeepsMomentum checks two exploration steps of BAOAB by hand: the second
// completes the first one's closing B with the new force, then B-A-O-A without noise.
func TestBAOABExploreKeepsMomentum(t *testing.T) {
	const tol = 1e-6
	h, c := 0.1, math.Exp(-0.1)
	st := &BAOAB{Temperature: 1e6, Friction: 1}
	p := []train.Param{{Name: "w", Value: []float32{0.5}, Grad: []float32{0.1}}}
	st.Init(p)
	rng := rand.New(rand.NewPCG(3, 4))
	info := train.StepInfo{LR: h, N: 10, Explore: true, Rand: rng}
	if err := st.Step(p, info); err != nil {
		t.Fatal(err)
	}
	p[0].Grad[0] = -0.3
	if err := st.Step(p, info); err != nil {
		t.Fatal(err)
	}
	// Step 1: F1 = −1: p = (h/2)·F1·c, θ1 = 0.5 + (h/2)²·F1·(1 + c).
	f1, f2 := -1.0, 3.0
	mom := h / 2 * f1 * c
	th := 0.5 + h*h/4*f1*(1+c)
	// Step 2: closing B of step 1, then B, A, O, A with F2 = 3.
	mom += h / 2 * f2
	mom += h / 2 * f2
	th += h / 2 * mom
	mom *= c
	th += h / 2 * mom
	if got := float64(p[0].Value[0]); math.Abs(got-th) > tol {
		t.Errorf("after two exploration steps θ = %v; want %v", got, th)
	}
	if got, want := st.KineticTemperature(), math.Pow(h/2*f1*c+h/2*f2, 2); math.Abs(got-want) > tol {
		t.Errorf("kinetic temperature %v; want p² = %v after the closing B", got, want)
	}
}
