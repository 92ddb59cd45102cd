package nn

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/internal/nn/gops"
	"github.com/uqnn/uqnn/onnxio"
)

// The fused variational layer: one op computes a Conv's (group 1) or a Linear layer's mean
// op(x, θ) + b and variance op(x², σ²) together (kernels.VarConv, kernels.VarDense) and adds
// the noise, y = mean + √(variance + varEps)·ε; one gradient op computes every input's
// gradient from the output's. The values are those of variational's separate graph (x²,
// both products, lrt), with the work they share done once: x²'s patches are the squared
// patches of x, the input gradients of both products go through one col2im, and the two
// products split across the cores together.

// varProducts are a fused layer's two products for one element type, both from kernels'
// VarConv or VarDense: forward writes the mean y and the variance v; backward writes the
// input gradient dx (skipped when nil), dw, db (when not nil) and ds from dy and dv.
type varProducts[T kernels.Float] struct {
	forward  func(x, w, b, s, y, v []T)
	backward func(x, w, s, dy, dv, dx, dw, db, ds []T)
}

func convProducts[T kernels.Float](g kernels.ConvGeom) varProducts[T] {
	c := kernels.NewVarConv[T](g)
	return varProducts[T]{
		forward: c.Forward,
		backward: func(x, w, s, dy, dv, dx, dw, db, ds []T) {
			c.BackwardFilter(x, dy, dv, dw, db, ds)
			if dx != nil {
				c.BackwardData(x, w, s, dy, dv, dx)
			}
		},
	}
}

func denseProducts[T kernels.Float](n, k, m int, transW bool) varProducts[T] {
	d := &kernels.VarDense[T]{N: n, K: k, M: m, TransW: transW}
	return varProducts[T]{forward: d.Forward, backward: d.Backward}
}

// fusedLayer is the state a fused layer's forward and gradient ops share.
type fusedLayer struct {
	name        string
	x, w, y     tensor.Shape
	bias        bool
	noInputGrad bool
	p32         varProducts[float32]
	p64         varProducts[float64]
	ctl         *noiseCtl
	base        int           // the layer's first noise span
	eps         *tensor.Dense // float32: ½ε/√(v + varEps) of the last forward; float64: ε
	mean, vari  *tensor.Dense // the products of the last forward
	out         *tensor.Dense
	dx, dw, ds  *tensor.Dense
	db          *tensor.Dense
	dv          *tensor.Dense // the variance's output gradient
}

// fusedVariational builds node n's fused layer over x, w, σ² (w's shape) and bias b ([M], or
// nil), when sigma2 makes it variational; it returns nil, nil otherwise.
func (b *builder) fusedVariational(n *onnxio.Node, x, w, bias *G.Node, y tensor.Shape, noInputGrad bool, p32 varProducts[float32], p64 varProducts[float64]) (*G.Node, error) {
	s2, vl, err := b.sigma2(n, w)
	if s2 == nil || err != nil {
		return nil, err
	}
	base := b.addNoise(vl, y)
	l := &fusedLayer{name: n.Name, x: x.Shape().Clone(), w: w.Shape().Clone(), y: y.Clone(), bias: bias != nil,
		noInputGrad: noInputGrad, p32: p32, p64: p64, ctl: b.noise, base: base, eps: vl.noise}
	args := []*G.Node{x, w, s2}
	if bias != nil {
		args = append(args, bias)
	}
	out, err := G.ApplyOp(&fusedOp{l}, args...)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "variational layer: %v", err)
	}
	return out, nil
}

// fusedConv builds Conv node n (group 1) as a fused variational layer, or returns nil, nil
// when it is not variational.
func (b *builder) fusedConv(n *onnxio.Node, x, w, bias *G.Node, p gops.ConvParams) (*G.Node, error) {
	if !b.cfg.Variational {
		return nil, nil
	}
	xs, ws := x.Shape(), w.Shape()
	g, err := kernels.NewConvGeom([4]int{xs[0], xs[1], xs[2], xs[3]}, [4]int{ws[0], ws[1], ws[2], ws[3]}, p.Pads, p.Strides, p.Dilations)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "%v", err)
	}
	ys := g.YShape()
	return b.fusedVariational(n, x, w, bias, tensor.Shape{ys[0], ys[1], ys[2], ys[3]}, p.NoInputGrad, convProducts[float32](g), convProducts[float64](g))
}

// fusedDense builds Gemm or MatMul node n, x·w + c (w transposed with transW; c [M] or nil),
// as a fused variational layer, or returns nil, nil when it is not variational.
func (b *builder) fusedDense(n *onnxio.Node, x, w, c *G.Node, transW bool) (*G.Node, error) {
	if !b.cfg.Variational {
		return nil, nil
	}
	rows, k, m := x.Shape()[0], w.Shape()[0], w.Shape()[1]
	if transW {
		k, m = m, k
	}
	return b.fusedVariational(n, x, w, c, tensor.Shape{rows, m}, b.dataOnly(n.Inputs[0]), denseProducts[float32](rows, k, m, transW), denseProducts[float64](rows, k, m, transW))
}

// buf returns *t as a tensor of dt and shape s, allocating it on first use.
func buf(t **tensor.Dense, dt tensor.Dtype, s tensor.Shape) *tensor.Dense {
	if *t == nil || (*t).Dtype() != dt {
		*t = tensor.New(tensor.Of(dt), tensor.WithShape(s.Clone()...))
	}
	return *t
}

// fusedOp is the forward op: (x, w, σ², [b]) → y.
type fusedOp struct{ l *fusedLayer }

func (o *fusedOp) Arity() int {
	if o.l.bias {
		return 4
	}
	return 3
}

func (o *fusedOp) Type() hm.Type {
	l := o.l
	ranks := []int{len(l.x), len(l.w), len(l.w)}
	if l.bias {
		ranks = append(ranks, 1)
	}
	return tensorFn(append(ranks, len(l.y))...)
}

func (o *fusedOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.l.y.Clone(), nil }
func (o *fusedOp) ReturnsPtr() bool                               { return false }
func (o *fusedOp) CallsExtern() bool                              { return false }
func (o *fusedOp) OverwritesInput() int                           { return -1 }
func (o *fusedOp) WriteHash(h hash.Hash)                          { fmt.Fprint(h, o) }
func (o *fusedOp) Hashcode() uint32                               { return hashString(o.String()) }
func (o *fusedOp) String() string                                 { return fmt.Sprintf("SVDLayer(%s)%v", o.l.name, o.l.y) }
func (o *fusedOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i > 0 || !o.l.noInputGrad
	}
	return d
}

func (o *fusedOp) Do(in ...G.Value) (G.Value, error) {
	l := o.l
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("nn: %v: got %d inputs; want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	y := buf(&l.out, dt, l.y)
	m, v := buf(&l.mean, dt, l.y), buf(&l.vari, dt, l.y)
	switch dt {
	case tensor.Float32:
		ins, err := gather[float32](o.String(), in)
		if err != nil {
			return nil, err
		}
		var bias []float32
		if l.bias {
			bias = ins[3]
		}
		l.p32.forward(ins[0], ins[1], bias, ins[2], m.Float32s(), v.Float32s())
		lrtForward32(l.ctl, l.base, m.Float32s(), v.Float32s(), y.Float32s(), l.eps.Float32s())
	case tensor.Float64:
		ins, err := gather[float64](o.String(), in)
		if err != nil {
			return nil, err
		}
		var bias []float64
		if l.bias {
			bias = ins[3]
		}
		l.p64.forward(ins[0], ins[1], bias, ins[2], m.Float64s(), v.Float64s())
		lrtForward64(m.Float64s(), v.Float64s(), l.eps.Float64s(), y.Float64s())
	default:
		return nil, fmt.Errorf("nn: %v: dtype %v; want float32 or float64", o, dt)
	}
	return y, nil
}

// SymDiff returns the gradients: one op computes them all (the weight's is its value), and
// a fusedPart op reads each other one out.
func (o *fusedOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	l := o.l
	gw, err := G.ApplyOp(&fusedGradOp{l}, inputs[0], inputs[1], inputs[2], grad)
	if err != nil {
		return nil, fmt.Errorf("nn: %v gradient: %w", o, err)
	}
	grads := make(G.Nodes, len(inputs))
	grads[1] = gw
	part := func(i int, t **tensor.Dense, s tensor.Shape) error {
		grads[i], err = G.ApplyOp(&fusedPart{l: l, which: i, t: t, shape: s, from: len(l.w)}, gw)
		return err
	}
	if !l.noInputGrad {
		if err := part(0, &l.dx, l.x); err != nil {
			return nil, err
		}
	}
	if err := part(2, &l.ds, l.w); err != nil {
		return nil, err
	}
	if l.bias {
		if err := part(3, &l.db, tensor.Shape{l.y[1]}); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

// fusedGradOp computes every gradient of a fused layer from (x, w, σ², dy); its value is w's.
type fusedGradOp struct{ l *fusedLayer }

func (o *fusedGradOp) Arity() int { return 4 }
func (o *fusedGradOp) Type() hm.Type {
	l := o.l
	return tensorFn(len(l.x), len(l.w), len(l.w), len(l.y), len(l.w))
}
func (o *fusedGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.l.w.Clone(), nil }
func (o *fusedGradOp) ReturnsPtr() bool                               { return false }
func (o *fusedGradOp) CallsExtern() bool                              { return false }
func (o *fusedGradOp) OverwritesInput() int                           { return -1 }
func (o *fusedGradOp) WriteHash(h hash.Hash)                          { fmt.Fprint(h, o) }
func (o *fusedGradOp) Hashcode() uint32                               { return hashString(o.String()) }
func (o *fusedGradOp) String() string                                 { return fmt.Sprintf("SVDLayerGrad(%s)%v", o.l.name, o.l.y) }

func (o *fusedGradOp) Do(in ...G.Value) (G.Value, error) {
	l := o.l
	if len(in) != 4 {
		return nil, fmt.Errorf("nn: %v: got %d inputs; want 4", o, len(in))
	}
	dt := in[0].Dtype()
	dw, ds, dv := buf(&l.dw, dt, l.w), buf(&l.ds, dt, l.w), buf(&l.dv, dt, l.y)
	var dx, db *tensor.Dense
	if !l.noInputGrad {
		dx = buf(&l.dx, dt, l.x)
	}
	if l.bias {
		db = buf(&l.db, dt, tensor.Shape{l.y[1]})
	}
	switch dt {
	case tensor.Float32:
		ins, err := gather[float32](o.String(), in)
		if err != nil {
			return nil, err
		}
		kernels.LRTBackwardH(l.eps.Float32s(), ins[3], dv.Float32s())
		l.p32.backward(ins[0], ins[1], ins[2], ins[3], dv.Float32s(), data[float32](dx), dw.Float32s(), data[float32](db), ds.Float32s())
	case tensor.Float64:
		ins, err := gather[float64](o.String(), in)
		if err != nil {
			return nil, err
		}
		lrtBackward64(l.vari.Float64s(), l.eps.Float64s(), ins[3], dv.Float64s())
		l.p64.backward(ins[0], ins[1], ins[2], ins[3], dv.Float64s(), data[float64](dx), dw.Float64s(), data[float64](db), ds.Float64s())
	default:
		return nil, fmt.Errorf("nn: %v: dtype %v; want float32 or float64", o, dt)
	}
	return dw, nil
}

func data[T kernels.Float](t *tensor.Dense) []T {
	if t == nil {
		return nil
	}
	return t.Data().([]T)
}

// fusedPart is the gradient of input which of a fused layer, computed by the fusedGradOp that
// is its input.
type fusedPart struct {
	l     *fusedLayer
	which int
	t     **tensor.Dense
	shape tensor.Shape
	from  int // the rank of the fusedGradOp's value
}

func (o *fusedPart) Arity() int                                     { return 1 }
func (o *fusedPart) Type() hm.Type                                  { return tensorFn(o.from, len(o.shape)) }
func (o *fusedPart) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *fusedPart) ReturnsPtr() bool                               { return false }
func (o *fusedPart) CallsExtern() bool                              { return false }
func (o *fusedPart) OverwritesInput() int                           { return -1 }
func (o *fusedPart) WriteHash(h hash.Hash)                          { fmt.Fprint(h, o) }
func (o *fusedPart) Hashcode() uint32                               { return hashString(o.String()) }
func (o *fusedPart) String() string {
	return fmt.Sprintf("SVDLayerGrad%d(%s)%v", o.which, o.l.name, o.shape)
}

func (o *fusedPart) Do(...G.Value) (G.Value, error) {
	if *o.t == nil {
		return nil, fmt.Errorf("nn: %v: run before the layer's gradient", o)
	}
	return *o.t, nil
}

// tensorFn is the type of an op over tensors of the given ranks (the last is the output's),
// all of one element type.
func tensorFn(ranks ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, len(ranks))
	for i, r := range ranks {
		ts[i] = &G.TensorType{Dims: r, Of: a}
	}
	return hm.NewFnType(ts...)
}
