package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvParams are a 2-D convolution's settings (group 1). Zero Strides and Dilations mean 1.
type ConvParams struct {
	// Pads in ONNX order: [top, left, bottom, right].
	Pads [4]int
	// Strides and Dilations are [h, w].
	Strides   [2]int
	Dilations [2]int
	// NoInputGrad marks x as needing no gradient (the data batch): the backward pass then skips
	// the input-gradient GEMM and col2im.
	NoInputGrad bool
}

func (p ConvParams) normalized() ConvParams {
	for i := range p.Strides {
		if p.Strides[i] == 0 {
			p.Strides[i] = 1
		}
		if p.Dilations[i] == 0 {
			p.Dilations[i] = 1
		}
	}
	return p
}

// convWork is the workspace shared by a convolution node and its gradient nodes: Forward's
// im2col matrix is reused by the weight gradient within the same run.
type convWork struct {
	g   kernels.ConvGeom
	c32 *kernels.Conv[float32]
	c64 *kernels.Conv[float64]
}

func newConvWork(g kernels.ConvGeom) *convWork {
	return &convWork{g: g, c32: kernels.NewConv[float32](g), c64: kernels.NewConv[float64](g)}
}

// Conv2D returns conv(x, w) + b for x [N, C, H, W] and w [M, C, KH, KW]; b ([M]) may be nil.
// The result is [N, M, OH, OW]. x, w and b must share a float dtype.
func Conv2D(x, w, b *gorgonia.Node, p ConvParams) (*gorgonia.Node, error) {
	p = p.normalized()
	xs, err := shape4(x, "Conv2D", "input x")
	if err != nil {
		return nil, err
	}
	ws, err := shape4(w, "Conv2D", "weight w")
	if err != nil {
		return nil, err
	}
	if err := checkFloat(x, "Conv2D", "input x"); err != nil {
		return nil, err
	}
	if w.Dtype() != x.Dtype() {
		return nil, fmt.Errorf("gops: Conv2D: weight %q dtype %v differs from input %q dtype %v", w.Name(), w.Dtype(), x.Name(), x.Dtype())
	}
	g, err := kernels.NewConvGeom(xs, ws, p.Pads, p.Strides, p.Dilations)
	if err != nil {
		return nil, fmt.Errorf("gops: Conv2D(%q, %q): %w", x.Name(), w.Name(), err)
	}
	op := &convOp{base: base{name: fmt.Sprintf("Conv2D%+v", p)}, work: newConvWork(g), p: p, bias: b != nil}
	args := []*gorgonia.Node{x, w}
	if b != nil {
		if s := b.Shape(); len(s) != 1 || s[0] != g.M {
			return nil, fmt.Errorf("gops: Conv2D: bias %q has shape %v; want [%d] (output channels of weight %v)", b.Name(), s, g.M, ws)
		}
		if b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: Conv2D: bias %q dtype %v differs from input dtype %v", b.Name(), b.Dtype(), x.Dtype())
		}
		args = append(args, b)
	}
	out, err := gorgonia.ApplyOp(op, args...)
	if err != nil {
		return nil, fmt.Errorf("gops: Conv2D(%q, %q): %w", x.Name(), w.Name(), err)
	}
	return out, nil
}

type convOp struct {
	base
	work *convWork
	p    ConvParams
	bias bool
	out  *tensor.Dense
}

func (op *convOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *convOp) Type() hm.Type {
	if op.bias {
		return fnType(4, 4, 1, 4)
	}
	return fnType(4, 4, 4)
}

func (op *convOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	s := op.work.g.YShape()
	return tensor.Shape{s[0], s[1], s[2], s[3]}, nil
}

func (op *convOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense("Conv2D", "x", vals[0])
	if err != nil {
		return nil, err
	}
	w, err := dense("Conv2D", "w", vals[1])
	if err != nil {
		return nil, err
	}
	g := op.work.g
	if x.DataSize() != g.XSize() || w.DataSize() != g.WSize() || x.Dtype() != w.Dtype() {
		return nil, fmt.Errorf("gops: Conv2D: got x %v %v and w %v %v; want x %v and w [%d %d %d %d] of one dtype",
			x.Shape(), x.Dtype(), w.Shape(), w.Dtype(), [4]int{g.N, g.C, g.H, g.W}, g.M, g.C, g.KH, g.KW)
	}
	var b *tensor.Dense
	if op.bias {
		if b, err = dense("Conv2D", "b", vals[2]); err != nil {
			return nil, err
		}
		if b.DataSize() != g.M || b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: Conv2D: bias has shape %v dtype %v; want [%d] %v", b.Shape(), b.Dtype(), g.M, x.Dtype())
		}
	}
	ys := g.YShape()
	y := reuse(&op.out, x.Dtype(), ys[:]...)
	switch x.Dtype() {
	case tensor.Float32:
		var bd []float32
		if b != nil {
			bd = b.Float32s()
		}
		op.work.c32.Forward(x.Float32s(), w.Float32s(), bd, y.Float32s())
	default:
		var bd []float64
		if b != nil {
			bd = b.Float64s()
		}
		op.work.c64.Forward(x.Float64s(), w.Float64s(), bd, y.Float64s())
	}
	return y, nil
}

func (op *convOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i > 0 || !op.p.NoInputGrad
	}
	return d
}

func (op *convOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	x, w := inputs[0], inputs[1]
	grads := make(gorgonia.Nodes, len(inputs))
	var err error
	if !op.p.NoInputGrad {
		dx := &convDataGradOp{base: base{name: "Conv2DGradX" + op.name}, work: op.work}
		if grads[0], err = gorgonia.ApplyOp(dx, w, grad); err != nil {
			return nil, fmt.Errorf("gops: Conv2D input gradient: %w", err)
		}
	}
	dw := &convFilterGradOp{base: base{name: "Conv2DGradW" + op.name}, work: op.work, fwd: op}
	if grads[1], err = gorgonia.ApplyOp(dw, x, grad); err != nil {
		return nil, fmt.Errorf("gops: Conv2D weight gradient: %w", err)
	}
	if op.bias {
		if grads[2], err = channelSum(grad); err != nil {
			return nil, fmt.Errorf("gops: Conv2D bias gradient: %w", err)
		}
	}
	return grads, nil
}

// convDataGradOp computes dx from (w, dy).
type convDataGradOp struct {
	base
	work *convWork
	out  *tensor.Dense
}

func (op *convDataGradOp) Arity() int    { return 2 }
func (op *convDataGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *convDataGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	g := op.work.g
	return tensor.Shape{g.N, g.C, g.H, g.W}, nil
}

func (op *convDataGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	w, err := dense(op.name, "w", vals[0])
	if err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[1])
	if err != nil {
		return nil, err
	}
	g := op.work.g
	if w.DataSize() != g.WSize() || dy.DataSize() != g.YSize() || w.Dtype() != dy.Dtype() {
		return nil, fmt.Errorf("gops: %s: got w %v and dy %v; want %d and %v elements of one dtype", op.name, w.Shape(), dy.Shape(), g.WSize(), g.YShape())
	}
	dx := reuse(&op.out, w.Dtype(), g.N, g.C, g.H, g.W)
	if w.Dtype() == tensor.Float32 {
		op.work.c32.BackwardData(w.Float32s(), dy.Float32s(), dx.Float32s())
	} else {
		op.work.c64.BackwardData(w.Float64s(), dy.Float64s(), dx.Float64s())
	}
	return dx, nil
}

// convFilterGradOp computes dw from (x, dy), reusing the forward pass's im2col of x.
type convFilterGradOp struct {
	base
	work *convWork
	fwd  *convOp
	out  *tensor.Dense
}

func (op *convFilterGradOp) Arity() int    { return 2 }
func (op *convFilterGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *convFilterGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	g := op.work.g
	return tensor.Shape{g.M, g.C, g.KH, g.KW}, nil
}

func (op *convFilterGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense(op.name, "x", vals[0])
	if err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[1])
	if err != nil {
		return nil, err
	}
	g := op.work.g
	if x.DataSize() != g.XSize() || dy.DataSize() != g.YSize() || x.Dtype() != dy.Dtype() {
		return nil, fmt.Errorf("gops: %s: got x %v and dy %v; want %d and %v elements of one dtype", op.name, x.Shape(), dy.Shape(), g.XSize(), g.YShape())
	}
	dw := reuse(&op.out, x.Dtype(), g.M, g.C, g.KH, g.KW)
	// The forward op ran on this x earlier in the same run (dy depends on its output), so its
	// im2col matrix is current when the forward's output tensor is the one it last produced.
	if x.Dtype() == tensor.Float32 {
		op.work.c32.BackwardFilterReuse(x.Float32s(), dy.Float32s(), dw.Float32s(), nil)
	} else {
		op.work.c64.BackwardFilterReuse(x.Float64s(), dy.Float64s(), dw.Float64s(), nil)
	}
	return dw, nil
}
