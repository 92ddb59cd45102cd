package train

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// StepInfo is what a Stepper may use besides the parameters and their gradients.
type StepInfo struct {
	Step  int        // global step index, 0-based
	Epoch int        // epoch index, 0-based
	LR    float64    // learning rate (step size) after the schedule
	N     int        // training set size, for samplers that scale the minibatch likelihood
	Batch int        // minibatch size
	Rand  *rand.Rand // the "noise" stream; checkpointed by Loop
	// Explore asks a sampler for an optimizer step: no injected noise (Config.Explore,
	// cyclical SG-MCMC's exploration stage). Optimizers ignore it.
	Explore bool
}

// Stepper moves the parameters given their minibatch gradients. It owns its state (momenta,
// moment estimates, preconditioners) and serialises it for checkpoints. Samplers (pSGLD,
// BAOAB) are Steppers that draw from StepInfo.Rand.
type Stepper interface {
	// Init sizes the state for params; it is called once before the first step of a fresh
	// run, and before UnmarshalState when resuming.
	Init(params []Param) error
	// Step updates every Param.Value from its Grad.
	Step(params []Param, s StepInfo) error
	// MarshalState and UnmarshalState save and restore the state exactly.
	MarshalState() ([]byte, error)
	UnmarshalState(b []byte) error
}

// SGD is stochastic gradient descent with momentum, PyTorch's convention:
// v ← Momentum·v + g; θ ← θ − lr·v. Weight decay is the L2Prior hook, which adds decay·θ to g
// before any Stepper runs (one prior term for optimizers and samplers alike).
type SGD struct {
	Momentum float64
	v        [][]float32
}

// Init implements Stepper.
func (o *SGD) Init(params []Param) error {
	o.v = zerosLike(params)
	return nil
}

// Step implements Stepper.
func (o *SGD) Step(params []Param, s StepInfo) error {
	if err := checkState("SGD", params, o.v); err != nil {
		return err
	}
	lr, mu := float32(s.LR), float32(o.Momentum)
	for k, p := range params {
		v := o.v[k]
		for i, g := range p.Grad {
			v[i] = mu*v[i] + g
			p.Value[i] -= lr * v[i]
		}
	}
	return nil
}

// MarshalState implements Stepper.
func (o *SGD) MarshalState() ([]byte, error) { return marshalSlices(0, o.v), nil }

// UnmarshalState implements Stepper.
func (o *SGD) UnmarshalState(b []byte) error {
	_, err := unmarshalSlices("SGD", b, o.v)
	return err
}

// Adam is Kingma & Ba's algorithm (ICLR 2015, Algorithm 1) with bias correction (L2 weight
// decay, when wanted, is the L2Prior hook adding decay·θ to g first):
//
//	m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²
//	θ ← θ − lr·m̂/(√v̂ + ε), m̂ = m/(1−β1^t), v̂ = v/(1−β2^t).
//
// Zero Beta1, Beta2, Eps mean the published defaults 0.9, 0.999, 1e-8.
type Adam struct {
	Beta1, Beta2, Eps float64
	t                 uint64
	m, v              [][]float32
	spans             []Span
}

func (o *Adam) hyper() (b1, b2, eps float64) {
	b1, b2, eps = o.Beta1, o.Beta2, o.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	return b1, b2, eps
}

// Init implements Stepper.
func (o *Adam) Init(params []Param) error {
	o.t = 0
	o.m, o.v = zerosLike(params), zerosLike(params)
	o.spans = Spans(params)
	return nil
}

// Step implements Stepper.
func (o *Adam) Step(params []Param, s StepInfo) error {
	if err := checkState("Adam", params, o.m); err != nil {
		return err
	}
	b1, b2, eps := o.hyper()
	if o.spans == nil {
		o.spans = Spans(params)
	}
	o.t++
	c1 := 1 - math.Pow(b1, float64(o.t))
	c2 := 1 - math.Pow(b2, float64(o.t))
	// θ −= lr·(m/c1)/(√(v/c2)+ε), computed in float32 per element with float64 constants folded.
	a := float32(s.LR / c1)
	rc2 := float32(1 / math.Sqrt(c2))
	fb1, fb2, feps := float32(b1), float32(b2), float32(eps)
	// 1−β in float64 first: float32(1)−float32(0.999) is off by 5e-5 relative.
	gb1, gb2 := float32(1-b1), float32(1-b2)
	// Every element is independent: the spans run on all cores.
	EachSpan(o.spans, func(sp Span) {
		p := params[sp.K]
		m, v, val := o.m[sp.K][sp.Lo:sp.Hi], o.v[sp.K][sp.Lo:sp.Hi], p.Value[sp.Lo:sp.Hi]
		for i, g := range p.Grad[sp.Lo:sp.Hi] {
			m[i] = fb1*m[i] + gb1*g
			v[i] = fb2*v[i] + gb2*g*g
			val[i] -= a * m[i] / (sqrt32(v[i])*rc2 + feps)
		}
	})
	return nil
}

// MarshalState implements Stepper.
func (o *Adam) MarshalState() ([]byte, error) {
	b := marshalSlices(o.t, o.m)
	return append(b, marshalSlices(0, o.v)...), nil
}

// UnmarshalState implements Stepper.
func (o *Adam) UnmarshalState(b []byte) error {
	n := sliceBytes(o.m)
	if len(b) != 2*n {
		return fmt.Errorf("train: Adam state: %d bytes; want %d for these parameters", len(b), 2*n)
	}
	t, err := unmarshalSlices("Adam", b[:n], o.m)
	if err != nil {
		return err
	}
	if _, err := unmarshalSlices("Adam", b[n:], o.v); err != nil {
		return err
	}
	o.t = t
	return nil
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func zerosLike(params []Param) [][]float32 {
	s := make([][]float32, len(params))
	for i, p := range params {
		s[i] = make([]float32, len(p.Value))
	}
	return s
}

func checkState(name string, params []Param, st [][]float32) error {
	if len(st) != len(params) {
		return fmt.Errorf("train: %s: state for %d parameters, got %d (Init not called?)", name, len(st), len(params))
	}
	for i, p := range params {
		if len(st[i]) != len(p.Value) || len(p.Grad) != len(p.Value) {
			return fmt.Errorf("train: %s: parameter %q has %d values and %d gradients; state has %d",
				name, p.Name, len(p.Value), len(p.Grad), len(st[i]))
		}
	}
	return nil
}

// sliceBytes is the size of marshalSlices(·, s): a counter, then the values.
func sliceBytes(s [][]float32) int {
	n := 8
	for _, v := range s {
		n += 4 * len(v)
	}
	return n
}

func marshalSlices(counter uint64, s [][]float32) []byte {
	var buf bytes.Buffer
	buf.Grow(sliceBytes(s))
	binary.Write(&buf, binary.LittleEndian, counter)
	for _, v := range s {
		binary.Write(&buf, binary.LittleEndian, v)
	}
	return buf.Bytes()
}

func unmarshalSlices(name string, b []byte, s [][]float32) (uint64, error) {
	if len(b) != sliceBytes(s) {
		return 0, fmt.Errorf("train: %s state: %d bytes; want %d for these parameters", name, len(b), sliceBytes(s))
	}
	r := bytes.NewReader(b)
	var counter uint64
	binary.Read(r, binary.LittleEndian, &counter)
	for _, v := range s {
		binary.Read(r, binary.LittleEndian, v)
	}
	return counter, nil
}
