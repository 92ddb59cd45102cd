package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/internal/noise"
	"github.com/uqnn/uqnn/onnxio"
)

// Sparse variational dropout's training graph (Molchanov, Ashukha & Vetrov, ICML 2017).
//
// With Config.Variational, every Conv, Gemm and MatMul whose weight is a parameter (directly, or
// through a Reshape as CNTK exports it) gets a second parameter log σ² of the weight's stored
// shape, and its output y = op(x, θ) + b becomes
//
//	y + √(op(x², σ²) + varEps) · ε,   σ² = exp(log σ²),  ε ~ N(0, 1) per output element,
//
// the local reparameterization trick for fully connected layers and its convolutional form
// (the output's variance is the convolution of x² with σ², so the noise is drawn per output
// value, never per weight). The bias is deterministic. The caller sets ε before each LossGrad
// (DrawNoise, from a seed: float32 nets draw it inside the forward pass, in registers, and
// keep only what the backward pass needs) or to zero (ZeroNoise) for the deterministic net:
// with ε = 0 the output is exactly op(x, θ) + b. In float32 nets the
// elementwise work (σ², x², the reparameterization and their gradients) runs on
// internal/kernels' dedicated loops (σ² by a polynomial exp within 1 ulp of math.Exp); float64
// nets, for gradient checks, use package math. Conv (group 1), Gemm and MatMul layers are built
// as one fused op (svdfused.go); grouped convolutions as the separate graph here (x², the
// variance product, lrt).

// LogSigma2Suffix is appended to a weight's initializer name to name its log σ² parameter.
const LogSigma2Suffix = ":log_sigma2"

// LogSigma2Init is the initial value of every log σ² (the paper's −10).
const LogSigma2Init = -10

// varEps keeps the square root's gradient finite where the output variance is zero.
const varEps = 1e-8

// VarLayer is one variational layer of a Net built with Config.Variational.
type VarLayer struct {
	Node      string // the ONNX node's name
	Op        string // Conv, Gemm or MatMul
	Weight    *Param // θ, as stored in the model
	LogSigma2 *Param // log σ², the same shape as Weight
	noise     *tensor.Dense
}

// Variational returns the variational layers in graph order (nil unless Config.Variational).
func (n *Net) Variational() []*VarLayer { return n.svd }

// noiseCtl is what a variational net's noise is: off (ε = 0), or the draws of a seed.
type noiseCtl struct {
	on   bool
	seed uint64
}

// DrawNoise sets every layer's ε to standard normal draws from seed, until the next DrawNoise
// or ZeroNoise: the layers' noise values, in graph order, are cut into fixed spans, each drawn
// by its own generator (internal/noise.Spans) on all cores. The same seed gives the same noise,
// whatever the number of cores, and the same values (rounded to float32) in float32 and
// float64 nets. A float64 net holds the draws in its ε tensors from here on; a float32 net
// draws them inside each forward pass, in registers (kernels.LRTNoiseForward), and its ε
// tensors then hold ½ε/√(v + varEps), what the backward pass needs.
func (n *Net) DrawNoise(seed uint64) {
	if n.noise == nil {
		return
	}
	n.noise.on, n.noise.seed = true, seed
	if n.dt != tensor.Float64 {
		return
	}
	if n.noiseBufs == nil {
		n.noiseBufs = make([][]float32, len(n.svd))
		for i, l := range n.svd {
			n.noiseBufs[i] = make([]float32, l.noise.Shape().TotalSize())
		}
	}
	noise.FillSpans(seed, n.noiseBufs)
	for i, l := range n.svd {
		d := l.noise.Data().([]float64)
		for j, v := range n.noiseBufs[i] {
			d[j] = float64(v)
		}
	}
}

// ZeroNoise sets every ε to zero: the net then computes op(x, θ) + b, the deterministic model.
func (n *Net) ZeroNoise() {
	if n.noise == nil {
		return
	}
	n.noise.on = false
	for _, l := range n.svd {
		switch d := l.noise.Data().(type) {
		case []float32:
			clear(d)
		case []float64:
			clear(d)
		}
	}
}

// variational wraps y = op(x, w) (+ bias) of node n in the local reparameterization when the
// net is variational and w is a parameter; prod builds op(x², σ²) (σ² in w's shape). Layers
// with a fused form (fusedConv, fusedDense) are built by it instead.
func (b *builder) variational(n *onnxio.Node, x, w, y *G.Node, prod func(x2, s2 *G.Node) (*G.Node, error)) (*G.Node, error) {
	s2, vl, err := b.sigma2(n, w)
	if s2 == nil || err != nil {
		return y, err
	}
	x2, err := svdElementwise(fmt.Sprintf("SVDSquare(%s)", n.Name), x, svdSquare)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	v, err := prod(x2, s2)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "variance: %v", err)
	}
	if !equalShape(v.Shape(), y.Shape()) {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "variance shape %v differs from the output's %v", v.Shape(), y.Shape())
	}
	shape := y.Shape().Clone()
	base := b.addNoise(vl, shape)
	eps := G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName("noise:"+n.Name), G.WithValue(vl.noise))
	out, err := lrt(n.Name, y, v, eps, b.noise, base)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return out, nil
}

// sigma2 returns σ² = exp(log σ²) in w's shape for node n's weight w, creating the log σ²
// parameter (or taking it from the shared values), and the layer to register with addNoise.
// It returns nil, nil when the layer stays deterministic: the net is not variational, or w is
// computed or constant.
func (b *builder) sigma2(n *onnxio.Node, w *G.Node) (*G.Node, *VarLayer, error) {
	if !b.cfg.Variational {
		return nil, nil, nil
	}
	theta := b.params[n.Inputs[1]]
	if theta == nil {
		// A stored weight seen through a Reshape (CNTK's MatMul operands).
		if p := b.m.Graph.Producer(n.Inputs[1]); p != nil && p.Op == "Reshape" && len(p.Inputs) > 0 {
			theta = b.params[p.Inputs[0]]
		}
	}
	if theta == nil || theta.Node.Shape().TotalSize() != w.Shape().TotalSize() {
		return nil, nil, nil // a computed or constant weight: the layer stays deterministic
	}
	name := theta.Name + LogSigma2Suffix
	ls := b.params[name]
	if ls == nil {
		val := b.shared[name]
		if val == nil {
			init := make([]float32, theta.Node.Shape().TotalSize())
			for i := range init {
				init[i] = LogSigma2Init
			}
			val = b.dense(init, theta.Shape)
		}
		node := G.NewTensor(b.g, b.dt, len(theta.Shape), G.WithShape(theta.Shape...), G.WithName(name), G.WithValue(val))
		ls = &Param{Name: name, Shape: theta.Shape, Node: node, value: val, logSigma2: true}
		b.params[name] = ls
		b.order = append(b.order, ls)
	}
	s2, err := svdElementwise(fmt.Sprintf("SVDExp(%s)", name), ls.Node, svdExp)
	if err != nil {
		return nil, nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	if !equalShape(s2.Shape(), w.Shape()) {
		if s2, err = G.Reshape(s2, w.Shape().Clone()); err != nil {
			return nil, nil, b.errorf(n, onnxio.ErrUnsupported, "σ² of %q as %v: %v", theta.Name, w.Shape(), err)
		}
	}
	return s2, &VarLayer{Node: n.Name, Op: n.Op, Weight: theta, LogSigma2: ls}, nil
}

// addNoise registers variational layer l with output shape: it gets its ε tensor and the
// noise spans after the previous layers'; addNoise returns the first span's number.
func (b *builder) addNoise(l *VarLayer, shape tensor.Shape) int {
	if b.noise == nil {
		b.noise = &noiseCtl{}
	}
	l.noise = tensor.New(tensor.Of(b.dt), tensor.WithShape(shape...))
	base := b.spans
	b.spans += noise.SpanCount(shape.TotalSize())
	b.svd = append(b.svd, l)
	return base
}

func equalShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// svdLoops are an elementwise op's loops: y = f(x), and dx from x, y and dy. The float32 loops
// are internal/kernels' dedicated ones (vectorized where it pays, split across the cores when
// large); the float64 ones, for gradient checks, use package math.
type svdLoops struct {
	f32 func(x, y []float32)
	f64 func(x, y []float64)
	d32 func(x, y, dy, dx []float32)
	d64 func(x, y, dy, dx []float64)
}

// σ² = exp(log σ²), ∂/∂log σ² = σ²·dy.
var svdExp = svdLoops{
	f32: kernels.Exp,
	f64: func(x, y []float64) {
		for i, v := range x {
			y[i] = math.Exp(v)
		}
	},
	d32: func(_, y, dy, dx []float32) { kernels.Mul(y, dy, dx) },
	d64: func(_, y, dy, dx []float64) {
		for i, v := range y {
			dx[i] = v * dy[i]
		}
	},
}

// x², ∂/∂x = 2x·dy.
var svdSquare = svdLoops{
	f32: kernels.Square,
	f64: func(x, y []float64) {
		for i, v := range x {
			y[i] = v * v
		}
	},
	d32: func(x, _, dy, dx []float32) { kernels.SquareBackward(x, dy, dx) },
	d64: func(x, _, dy, dx []float64) {
		for i, v := range x {
			dx[i] = 2 * v * dy[i]
		}
	},
}

// svdElementwise applies the loops l to x.
func svdElementwise(name string, x *G.Node, l svdLoops) (*G.Node, error) {
	s := x.Shape().Clone()
	k := &kernel{
		name: fmt.Sprintf("%s%v", name, s),
		in:   []int{len(s)},
		out:  s,
		f32:  func(o []float32, in [][]float32) { l.f32(in[0], o) },
		f64:  func(o []float64, in [][]float64) { l.f64(in[0], o) },
		wrt:  []bool{true},
	}
	k.grads = func(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("%sGrad%v", name, s),
			in:   []int{len(s), len(s), len(s)},
			out:  s,
			f32:  func(o []float32, in [][]float32) { l.d32(in[0], in[1], in[2], o) },
			f64:  func(o []float64, in [][]float64) { l.d64(in[0], in[1], in[2], o) },
		}
		n, err := gk.apply(in[0], out, grad)
		return G.Nodes{n}, err
	}
	return k.apply(x)
}

// lrt builds mu + √(v + varEps)·ε with gradients dy (to mu) and dy·ε / (2√(v + varEps)) (to v);
// ε is not differentiated. With ctl off, ε = 0. A float64 net reads ε from eps (DrawNoise
// filled it); a float32 net draws it from ctl's seed in the forward pass itself, spans base,
// base+1, … of the seed being this layer's (noise.Spans), and leaves ½ε/√(v + varEps) in eps
// for the backward pass.
func lrt(name string, mu, v, eps *G.Node, ctl *noiseCtl, base int) (*G.Node, error) {
	s := mu.Shape().Clone()
	r := len(s)
	k := &kernel{
		name: fmt.Sprintf("SVDNoise(%s)%v", name, s),
		in:   []int{r, r, r},
		out:  s,
		f32:  func(o []float32, in [][]float32) { lrtForward32(ctl, base, in[0], in[1], o, in[2]) },
		f64:  func(o []float64, in [][]float64) { lrtForward64(in[0], in[1], in[2], o) },
		wrt:  []bool{true, true, false},
	}
	k.grads = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("SVDNoiseGrad(%s)%v", name, s),
			in:   []int{r, r, r},
			out:  s,
			f32:  func(o []float32, in [][]float32) { kernels.LRTBackwardH(in[1], in[2], o) },
			f64:  func(o []float64, in [][]float64) { lrtBackward64(in[0], in[1], in[2], o) },
		}
		dv, err := gk.apply(in[1], in[2], grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{grad, dv, nil}, nil
	}
	return k.apply(mu, v, eps)
}

// lrtForward32 writes o = m + √(v + varEps)·ε, with ε drawn from ctl's seed, spans base,
// base+1, … being the layer's (noise.Spans), and h = ½ε/√(v + varEps); with ctl off, o = m and
// h = 0.
func lrtForward32(ctl *noiseCtl, base int, m, v, o, h []float32) {
	if !ctl.on {
		copy(o, m)
		clear(h)
		return
	}
	noise.Spans(ctl.seed, base, len(o), func(st *kernels.NormalState, lo, hi int) {
		kernels.LRTNoiseForward(st, m[lo:hi], v[lo:hi], o[lo:hi], h[lo:hi], varEps)
	})
}

// lrtForward64 writes o = m + √(v + varEps)·e.
func lrtForward64(m, v, e, o []float64) {
	for i := range o {
		o[i] = m[i] + math.Sqrt(v[i]+varEps)*e[i]
	}
}

// lrtBackward64 writes dv = dy·e / (2√(v + varEps)), the gradient of lrtForward64's o to v.
func lrtBackward64(v, e, dy, dv []float64) {
	for i := range dv {
		dv[i] = 0.5 * dy[i] * e[i] / math.Sqrt(v[i]+varEps)
	}
}
