package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPool2D returns the window maxima of x [N, C, H, W] with the given kernel [h, w], ONNX
// pads [top, left, bottom, right] (each smaller than the kernel) and strides [h, w] (zero
// means 1). Output sizes round down (ONNX ceil_mode 0).
func MaxPool2D(x *gorgonia.Node, kernel [2]int, pads [4]int, strides [2]int) (*gorgonia.Node, error) {
	g, err := poolGeom("MaxPool2D", x, kernel, pads, strides)
	if err != nil {
		return nil, err
	}
	op := &maxPoolOp{base: base{name: fmt.Sprintf("MaxPool2D{k%v p%v s%v}", kernel, pads, strides)}, g: g}
	return gorgonia.ApplyOp(op, x)
}

// AvgPool2D is MaxPool2D's average counterpart; padded cells are excluded from each mean
// (ONNX count_include_pad 0).
func AvgPool2D(x *gorgonia.Node, kernel [2]int, pads [4]int, strides [2]int) (*gorgonia.Node, error) {
	g, err := poolGeom("AvgPool2D", x, kernel, pads, strides)
	if err != nil {
		return nil, err
	}
	op := &avgPoolOp{base: base{name: fmt.Sprintf("AvgPool2D{k%v p%v s%v}", kernel, pads, strides)}, g: g}
	return gorgonia.ApplyOp(op, x)
}

func poolGeom(name string, x *gorgonia.Node, kernel [2]int, pads [4]int, strides [2]int) (kernels.PoolGeom, error) {
	xs, err := shape4(x, name, "input x")
	if err != nil {
		return kernels.PoolGeom{}, err
	}
	if err := checkFloat(x, name, "input x"); err != nil {
		return kernels.PoolGeom{}, err
	}
	for i := range strides {
		if strides[i] == 0 {
			strides[i] = 1
		}
	}
	g, err := kernels.NewPoolGeom(xs, kernel, pads, strides)
	if err != nil {
		return kernels.PoolGeom{}, fmt.Errorf("gops: %s(%q): %w", name, x.Name(), err)
	}
	return g, nil
}

func yShape(g kernels.PoolGeom) tensor.Shape {
	s := g.YShape()
	return tensor.Shape{s[0], s[1], s[2], s[3]}
}

type maxPoolOp struct {
	base
	g      kernels.PoolGeom
	argmax []int32 // filled by Do, read by the gradient op of the same run
	out    *tensor.Dense
}

func (op *maxPoolOp) Arity() int    { return 1 }
func (op *maxPoolOp) Type() hm.Type { return fnType(4, 4) }
func (op *maxPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return yShape(op.g), nil
}

func (op *maxPoolOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense(op.name, "x", vals[0])
	if err != nil {
		return nil, err
	}
	if x.DataSize() != op.g.XSize() {
		return nil, fmt.Errorf("gops: %s: x has shape %v; want %v", op.name, x.Shape(), [4]int{op.g.N, op.g.C, op.g.H, op.g.W})
	}
	y := reuse(&op.out, x.Dtype(), yShape(op.g)...)
	if len(op.argmax) != op.g.YSize() {
		op.argmax = make([]int32, op.g.YSize())
	}
	if x.Dtype() == tensor.Float32 {
		kernels.MaxPoolForward(op.g, x.Float32s(), y.Float32s(), op.argmax)
	} else {
		kernels.MaxPoolForward(op.g, x.Float64s(), y.Float64s(), op.argmax)
	}
	return y, nil
}

func (op *maxPoolOp) DiffWRT(n int) []bool { return []bool{true} }

func (op *maxPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	d := &maxPoolGradOp{base: base{name: "Grad" + op.name}, fwd: op}
	// output is an input of the gradient op only to order it after the forward op.
	dx, err := gorgonia.ApplyOp(d, output, grad)
	if err != nil {
		return nil, fmt.Errorf("gops: %s gradient: %w", op.name, err)
	}
	return gorgonia.Nodes{dx}, nil
}

type maxPoolGradOp struct {
	base
	fwd *maxPoolOp
	out *tensor.Dense
}

func (op *maxPoolGradOp) Arity() int    { return 2 }
func (op *maxPoolGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *maxPoolGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	g := op.fwd.g
	return tensor.Shape{g.N, g.C, g.H, g.W}, nil
}

func (op *maxPoolGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[1])
	if err != nil {
		return nil, err
	}
	g := op.fwd.g
	if dy.DataSize() != g.YSize() || len(op.fwd.argmax) != g.YSize() {
		return nil, fmt.Errorf("gops: %s: dy has shape %v (forward ran: %v); want %v after the forward pass", op.name, dy.Shape(), op.fwd.argmax != nil, yShape(g))
	}
	dx := reuse(&op.out, dy.Dtype(), g.N, g.C, g.H, g.W)
	if dy.Dtype() == tensor.Float32 {
		kernels.MaxPoolBackward(g, dy.Float32s(), op.fwd.argmax, dx.Float32s())
	} else {
		kernels.MaxPoolBackward(g, dy.Float64s(), op.fwd.argmax, dx.Float64s())
	}
	return dx, nil
}

type avgPoolOp struct {
	base
	g   kernels.PoolGeom
	out *tensor.Dense
}

func (op *avgPoolOp) Arity() int    { return 1 }
func (op *avgPoolOp) Type() hm.Type { return fnType(4, 4) }
func (op *avgPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return yShape(op.g), nil
}

func (op *avgPoolOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense(op.name, "x", vals[0])
	if err != nil {
		return nil, err
	}
	if x.DataSize() != op.g.XSize() {
		return nil, fmt.Errorf("gops: %s: x has shape %v; want %v", op.name, x.Shape(), [4]int{op.g.N, op.g.C, op.g.H, op.g.W})
	}
	y := reuse(&op.out, x.Dtype(), yShape(op.g)...)
	if x.Dtype() == tensor.Float32 {
		kernels.AvgPoolForward(op.g, x.Float32s(), y.Float32s())
	} else {
		kernels.AvgPoolForward(op.g, x.Float64s(), y.Float64s())
	}
	return y, nil
}

func (op *avgPoolOp) DiffWRT(n int) []bool { return []bool{true} }

func (op *avgPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	d := &avgPoolGradOp{base: base{name: "Grad" + op.name}, g: op.g}
	dx, err := gorgonia.ApplyOp(d, grad)
	if err != nil {
		return nil, fmt.Errorf("gops: %s gradient: %w", op.name, err)
	}
	return gorgonia.Nodes{dx}, nil
}

type avgPoolGradOp struct {
	base
	g   kernels.PoolGeom
	out *tensor.Dense
}

func (op *avgPoolGradOp) Arity() int    { return 1 }
func (op *avgPoolGradOp) Type() hm.Type { return fnType(4, 4) }
func (op *avgPoolGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.g.N, op.g.C, op.g.H, op.g.W}, nil
}

func (op *avgPoolGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[0])
	if err != nil {
		return nil, err
	}
	if dy.DataSize() != op.g.YSize() {
		return nil, fmt.Errorf("gops: %s: dy has shape %v; want %v", op.name, dy.Shape(), yShape(op.g))
	}
	dx := reuse(&op.out, dy.Dtype(), op.g.N, op.g.C, op.g.H, op.g.W)
	if dy.Dtype() == tensor.Float32 {
		kernels.AvgPoolBackward(op.g, dy.Float32s(), dx.Float32s())
	} else {
		kernels.AvgPoolBackward(op.g, dy.Float64s(), dx.Float64s())
	}
	return dx, nil
}
