package bayes

import (
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/internal/noise"
	"github.com/uqnn/uqnn/internal/train"
)

// PSGLD is preconditioned stochastic gradient Langevin dynamics (Li, Chen, Carlson & Carin,
// AAAI 2016) as a train.Stepper. Per parameter, with g the gradient the loop hands over (the
// mean minibatch loss plus the prior's term, an unbiased estimate of ∇U(θ)/N):
//
//	V ← α·V + (1−α)·g²          (V ← g² on the first step, as in the authors' code)
//	G = 1/(λ + √V)
//	θ ← θ − h·G·g + √(2·h·G·T/N)·ξ,   ξ ~ N(0, 1)
//
// where h is StepInfo.LR and N is StepInfo.N. A step with StepInfo.Explore set (cyclical
// SG-MCMC's exploration stage) adds no noise: it is the RMSprop step θ ← θ − h·G·g.
//
// Scaling. Preconditioned Langevin dynamics dθ = −G·∇U dt + √(2·T·G) dW has the stationary
// density exp(−U/T) (G constant). Its Euler step of length δ is θ ← θ − δ·G·∇U + √(2δTG)·ξ;
// with ∇U = N·g and δ = h/N this is the update above. So h is the learning rate an optimizer
// would apply to the same mean-loss gradient (h·G·g is exactly RMSprop's step), the dynamics
// advance by h/N in Langevin time per step, and T = 1 samples the posterior of the full-data
// likelihood. The analytic tests in psgld_test.go check this scaling on a Gaussian posterior.
//
// Approximations: the Γ(θ) correction term of the paper (the divergence of G, which V's
// dependence on θ would require) is dropped, as in the paper, which argues it is small when α is
// close to 1. It is not always small: where V follows g² as fast as θ moves, G(θ) is largest
// near the mode and the chain's density becomes ∝ exp(−U/T)/G(θ), wider than the target. On the
// full-batch analytic test (bayes/sampler_test.go) α = 0.99 inflates the posterior variances by
// 17–47%; α = 0.9999 (G constant over the chain's relaxation time) matches the posterior within
// the Euler bias. With minibatches, gradient noise dominates V and G hardly depends on θ. The
// Euler discretisation adds a relative O(h·G·κ) variance bias, κ the largest eigenvalue of
// ∇²U/N. Both vanish as h → 0 and α → 1.
//
// The zero value is ready to use: zero fields mean the documented defaults.
type PSGLD struct {
	// Lambda is the stabiliser λ added to √V; 0 means DefaultPSGLDLambda. It bounds G by 1/λ
	// where the gradient is zero (weights only the prior sees) and sets how far pSGLD departs
	// from plain SGLD with step h/λ.
	Lambda float64
	// Alpha is the decay α of the squared-gradient average; 0 means 0.99.
	Alpha float64
	// Temperature is T; 0 means 1 (the Bayes posterior). T < 1 sharpens it (cold posterior).
	Temperature float64

	t     uint64       // steps taken
	v     [][]float32  // running mean of g², per parameter
	z     [][]float32  // scratch: this step's normal draws
	spans []train.Span // the parameters cut for the cores, with z
}

// DefaultPSGLDLambda is PSGLD's λ when Lambda is 0, chosen by measuring √V (the RMS of the
// gradient the sampler sees: mean minibatch loss plus the 5e-4 prior term) over 100 minibatches
// at the `uqnn train` default LeNet-5: median 6.5e-5, 90th percentile 3.8e-4 (conv layers
// 4e-4..2e-3), and 10% of the weights (fc1's inputs from dead ReLUs) below 1e-41. λ must stay
// well under the median, or the preconditioning is switched off (λ = 1e-4 halves G for half
// the weights, 1e-3 for 90%; the authors' 1e-1 makes pSGLD plain SGLD), and well above the
// dead weights' √V, where G = 1/λ: there only the prior acts, and its pull h·decay/λ per step
// must be < 2 for the Euler step to be stable (λ > 2.5e-8 at h = 1e-4) and should relax them
// within a thinning interval. λ = 1e-5 changes G by at most 13% for the median weight and
// relaxes dead weights at 0.5% per step (200 steps). The analytic test (√V ≈ 0.06) gives the
// same chain to three digits for every λ ≤ 1e-3.
const DefaultPSGLDLambda = 1e-5

// DefaultAlpha is PSGLD's α when Alpha is 0 (the paper's and the authors' code's 0.99).
const DefaultAlpha = 0.99

func (o *PSGLD) hyper() (lambda, alpha, temp float64, err error) {
	lambda, alpha, temp = o.Lambda, o.Alpha, o.Temperature
	if lambda == 0 {
		lambda = DefaultPSGLDLambda
	}
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	if temp == 0 {
		temp = 1
	}
	switch {
	case !(lambda > 0) || math.IsInf(lambda, 0):
		return 0, 0, 0, fmt.Errorf("bayes: pSGLD Lambda %g; want > 0 (0 means %g)", o.Lambda, DefaultPSGLDLambda)
	case !(alpha > 0 && alpha < 1):
		return 0, 0, 0, fmt.Errorf("bayes: pSGLD Alpha %g; want in (0, 1) (0 means %g)", o.Alpha, DefaultAlpha)
	case !(temp > 0) || math.IsInf(temp, 0):
		return 0, 0, 0, fmt.Errorf("bayes: pSGLD Temperature %g; want > 0 (0 means 1)", o.Temperature)
	}
	return lambda, alpha, temp, nil
}

// Init implements train.Stepper.
func (o *PSGLD) Init(params []train.Param) error {
	if _, _, _, err := o.hyper(); err != nil {
		return err
	}
	o.t = 0
	o.v, o.z = zerosLike(params), nil
	return nil
}

// Step implements train.Stepper.
func (o *PSGLD) Step(params []train.Param, s train.StepInfo) error {
	lambda, alpha, temp, err := o.hyper()
	if err != nil {
		return err
	}
	if err := checkState("pSGLD", params, o.v); err != nil {
		return err
	}
	if err := checkStepInfo("pSGLD", s); err != nil {
		return err
	}
	// float32 arithmetic (the parameters' own precision) with float64 constants folded; the
	// noise comes from one seed of the noise stream per step (internal/noise).
	h := float32(s.LR)
	kick := float32(2 * s.LR * temp / float64(s.N)) // variance of the injected noise, times G
	first, explore := o.t == 0, s.Explore
	a, b, lam := float32(alpha), float32(1-alpha), float32(lambda)
	stepSeed := s.Rand.Uint64()
	if o.z == nil {
		o.z, o.spans = zerosLike(params), train.Spans(params)
	}
	c := kernels.PSGLDConsts{A: a, B: b, Lambda: lam, H: h, Noise: kick, First: first, Explore: explore}
	train.EachSpan(o.spans, func(sp train.Span) {
		p := params[sp.K]
		z := o.z[sp.K][sp.Lo:sp.Hi]
		if !explore {
			r := noise.New(stepSeed, sp.Index)
			r.Fill(z)
		}
		kernels.PSGLDUpdate(p.Value[sp.Lo:sp.Hi], p.Grad[sp.Lo:sp.Hi], o.v[sp.K][sp.Lo:sp.Hi], z, c)
	})
	o.t++
	return nil
}

// Preconditioner returns G = 1/(λ + √V) of parameter k (a copy), for diagnostics.
func (o *PSGLD) Preconditioner(k int) []float64 {
	lambda, _, _, _ := o.hyper()
	if k < 0 || k >= len(o.v) {
		return nil
	}
	G := make([]float64, len(o.v[k]))
	for i, v := range o.v[k] {
		G[i] = 1 / (lambda + math.Sqrt(float64(v)))
	}
	return G
}

// MarshalState implements train.Stepper: the step count, then V.
func (o *PSGLD) MarshalState() ([]byte, error) {
	var w stateWriter
	w.u64(o.t)
	w.slices(o.v)
	return w.b, nil
}

// UnmarshalState implements train.Stepper.
func (o *PSGLD) UnmarshalState(b []byte) error {
	r := stateReader{name: "pSGLD", b: b}
	t := r.u64()
	r.slices(o.v)
	if err := r.done(); err != nil {
		return err
	}
	o.t = t
	return nil
}

func checkStepInfo(name string, s train.StepInfo) error {
	switch {
	case s.N <= 0:
		return fmt.Errorf("bayes: %s: training set size %d; want > 0 (it scales the likelihood)", name, s.N)
	case s.Rand == nil:
		return fmt.Errorf("bayes: %s: no noise stream in StepInfo.Rand", name)
	case !(s.LR > 0) || math.IsInf(s.LR, 0):
		return fmt.Errorf("bayes: %s: step size %g; want > 0", name, s.LR)
	}
	return nil
}

func zerosLike(params []train.Param) [][]float32 {
	s := make([][]float32, len(params))
	for i, p := range params {
		s[i] = make([]float32, len(p.Value))
	}
	return s
}

func checkState(name string, params []train.Param, st [][]float32) error {
	if len(st) != len(params) {
		return fmt.Errorf("bayes: %s: state for %d parameters, got %d (Init not called?)", name, len(st), len(params))
	}
	for i, p := range params {
		if len(st[i]) != len(p.Value) || len(p.Grad) != len(p.Value) {
			return fmt.Errorf("bayes: %s: parameter %q has %d values and %d gradients; state has %d",
				name, p.Name, len(p.Value), len(p.Grad), len(st[i]))
		}
	}
	return nil
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
