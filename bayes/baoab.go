package bayes

import (
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/internal/noise"
	"github.com/uqnn/uqnn/internal/train"
)

// BAOAB is Leimkuhler & Matthews' splitting of underdamped Langevin dynamics (Appl. Math. Res.
// Express 2013) with stochastic gradients, as a train.Stepper. Unit mass; per parameter:
//
//	B: p += (h/2)·F(θ)
//	A: θ += (h/2)·p
//	O: p ← c·p + √((1 − c²)·T)·ξ,   c = e^(−γh), ξ ~ N(0, 1)
//	A: θ += (h/2)·p
//	B: p += (h/2)·F(θ')
//
// The closing B needs the force at the new θ', which is the gradient the loop computes at the
// start of the next step, so one gradient serves two half-kicks: each Step first completes the
// previous step's closing B (with that step's h; skipped on the very first step, which instead
// draws p ~ N(0, T)), then runs B-A-O-A of its own. The last step's closing B is never applied;
// it would change only p, never θ.
//
// A step with StepInfo.Explore set (cyclical SG-MCMC's exploration stage) injects no noise:
// the O step is p ← c·p (and a first step starts from p = 0), so B-A-O-A is heavy-ball
// momentum descent on U with friction c per step.
//
// Scaling. The loop hands over g = ∇(mean minibatch loss) + prior term, an unbiased estimate of
// ∇U(θ)/N with U the full-data negative log posterior and N = StepInfo.N. The force is
// F = −∇U = −N·g, and the stationary density of the dynamics dθ = p dt,
// dp = −∇U dt − γp dt + √(2γT) dW is exp(−(U(θ) + |p|²/2)/T): T = 1 samples the posterior of
// the full-data likelihood. h = StepInfo.LR is the time step in the units where the mass is 1:
// it must resolve the fastest oscillation, h·√(λmax(∇²U)) < 2, so h ≈ √(η/N) for a problem an
// optimizer would train with learning rate η on the mean loss (h = 1e-3 for η = 0.06, N = 60,000).
// γ has units of 1/time.
//
// Diagnostics: KineticTemperature is the mean p² at the integer time point (after the closing
// B) and ConfigurationalTemperature the estimator θ·∇U/d at the current θ; under the target both
// average to T (equipartition; ⟨θᵢ ∂ᵢU⟩ = T by parts), so a gap between them and T measures the
// discretisation and gradient-noise bias.
//
// The zero value is ready to use: zero fields mean the documented defaults.
type BAOAB struct {
	// Friction is γ; 0 means DefaultFrictionStep/h each step (the O step keeps e^(−0.1) ≈ 90% of
	// the momentum, like SGD momentum 0.9), whatever the units of h.
	Friction float64
	// Temperature is T; 0 means 1 (the Bayes posterior). T < 1 sharpens it (cold posterior).
	Temperature float64

	started bool    // a step has been taken: its closing B is pending
	t       uint64  // steps taken
	hPrev   float64 // h of the previous step, for its closing B
	kin     float64 // mean p² after the last completed closing B (or the initial draw)
	conf    float64 // θ·∇U/d at the last step's θ
	p       [][]float32
	z       [][]float32  // scratch: this step's normal draws
	spans   []train.Span // the parameters cut for the cores, with z
}

// DefaultFrictionStep is γ·h when Friction is 0.
const DefaultFrictionStep = 0.1

func (o *BAOAB) temp() (float64, error) {
	t := o.Temperature
	if t == 0 {
		t = 1
	}
	if !(t > 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("bayes: BAOAB Temperature %g; want > 0 (0 means 1)", o.Temperature)
	}
	if o.Friction < 0 || math.IsNaN(o.Friction) || math.IsInf(o.Friction, 0) {
		return 0, fmt.Errorf("bayes: BAOAB Friction %g; want ≥ 0 (0 means %g/h)", o.Friction, DefaultFrictionStep)
	}
	return t, nil
}

// Init implements train.Stepper.
func (o *BAOAB) Init(params []train.Param) error {
	if _, err := o.temp(); err != nil {
		return err
	}
	o.started, o.t, o.hPrev, o.kin, o.conf = false, 0, 0, 0, 0
	o.p, o.z = zerosLike(params), nil
	return nil
}

// Step implements train.Stepper.
func (o *BAOAB) Step(params []train.Param, s train.StepInfo) error {
	temp, err := o.temp()
	if err != nil {
		return err
	}
	if err := checkState("BAOAB", params, o.p); err != nil {
		return err
	}
	if err := checkStepInfo("BAOAB", s); err != nil {
		return err
	}
	h, n := s.LR, float64(s.N)
	gamma := o.Friction
	if gamma == 0 {
		gamma = DefaultFrictionStep / h
	}
	c := math.Exp(-gamma * h)
	sd := math.Sqrt(-math.Expm1(-2*gamma*h) * temp) // √((1 − c²)·T), accurate for small γh
	if s.Explore {
		sd, temp = 0, 0 // no noise: the first step starts at p = 0
	}
	// Per chunk (internal/noise): its own generator from one seed of the noise stream per step,
	// and its own partial sums of p² and θ·∇U, added in chunk order so the result is the same
	// on any number of cores.
	stepSeed := s.Rand.Uint64()
	if o.z == nil {
		o.z, o.spans = zerosLike(params), train.Spans(params)
	}
	spans := o.spans
	ppC, tgC := make([]float64, len(spans)), make([]float64, len(spans))
	started, hPrev, sqT := o.started, o.hPrev, math.Sqrt(temp)
	h32, hp32, n32, c32, sd32, sq32 := float32(h/2), float32(hPrev/2), float32(n), float32(c), float32(sd), float32(sqT)
	train.EachSpan(spans, func(sp train.Span) {
		r := noise.New(stepSeed, sp.Index)
		q, p := params[sp.K], o.p[sp.K]
		val, grad, p, z := q.Value[sp.Lo:sp.Hi], q.Grad[sp.Lo:sp.Hi], p[sp.Lo:sp.Hi], o.z[sp.K][sp.Lo:sp.Hi]
		if started {
			// The common step, vectorized (internal/kernels); the draws come first, in the
			// order the loop below takes them.
			if sd32 != 0 {
				r.Fill(z)
			}
			pp, tf := kernels.BAOABUpdate(val, grad, p, z, kernels.BAOABConsts{N: n32, HPrev: hp32, H: h32, C: c32, SD: sd32})
			ppC[sp.Index], tgC[sp.Index] = pp, -tf
			return
		}
		var pp, tg float64
		for i, g := range grad {
			f := -n32 * g // F = −∇U
			th := val[i]
			tg -= float64(th * f)
			pi := sq32 * float32(r.Normal())
			pp += float64(pi * pi)
			pi += h32 * f  // B
			th += h32 * pi // A
			pi = c32 * pi
			if sd32 != 0 {
				pi += sd32 * float32(r.Normal()) // O
			}
			th += h32 * pi // A
			p[i] = pi
			val[i] = th
		}
		ppC[sp.Index], tgC[sp.Index] = pp, tg
	})
	var pp, tg float64
	var d int
	for i := range spans {
		pp += ppC[i]
		tg += tgC[i]
	}
	for _, q := range params {
		d += len(q.Grad)
	}
	if d > 0 {
		o.kin, o.conf = pp/float64(d), tg/float64(d)
	}
	o.started, o.hPrev = true, h
	o.t++
	return nil
}

// KineticTemperature is the mean p² over all parameters at the start of the last step (after
// the previous step's closing B; the initial draw on the first step). It averages to T.
func (o *BAOAB) KineticTemperature() float64 { return o.kin }

// ConfigurationalTemperature is θ·∇U/d at the θ where the last step's gradient was computed,
// with ∇U = N·g the loop's stochastic estimate. It averages to T under the target.
func (o *BAOAB) ConfigurationalTemperature() float64 { return o.conf }

// MarshalState implements train.Stepper: flags and counters, then p.
func (o *BAOAB) MarshalState() ([]byte, error) {
	var w stateWriter
	started := uint64(0)
	if o.started {
		started = 1
	}
	w.u64(started)
	w.u64(o.t)
	w.f64(o.hPrev)
	w.f64(o.kin)
	w.f64(o.conf)
	w.slices(o.p)
	return w.b, nil
}

// UnmarshalState implements train.Stepper.
func (o *BAOAB) UnmarshalState(b []byte) error {
	r := stateReader{name: "BAOAB", b: b}
	started, t, hPrev, kin, conf := r.u64(), r.u64(), r.f64(), r.f64(), r.f64()
	r.slices(o.p)
	if err := r.done(); err != nil {
		return err
	}
	if started > 1 {
		return fmt.Errorf("bayes: BAOAB state: started flag %d; want 0 or 1", started)
	}
	o.started, o.t, o.hPrev, o.kin, o.conf = started == 1, t, hPrev, kin, conf
	return nil
}
