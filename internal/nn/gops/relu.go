package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ReLU returns max(x, 0) elementwise for a float tensor x of any shape.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) {
	if err := checkFloat(x, "ReLU", "input x"); err != nil {
		return nil, err
	}
	if x.IsScalar() {
		return nil, fmt.Errorf("gops: ReLU: input %q is a scalar; want a tensor", x.Name())
	}
	return gorgonia.ApplyOp(&reluOp{base: base{name: "ReLU"}, shape: x.Shape().Clone()}, x)
}

type reluOp struct {
	base
	shape tensor.Shape
	out   *tensor.Dense
}

func (op *reluOp) Arity() int    { return 1 }
func (op *reluOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *reluOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *reluOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense("ReLU", "x", vals[0])
	if err != nil {
		return nil, err
	}
	if x.DataSize() != op.shape.TotalSize() {
		return nil, fmt.Errorf("gops: ReLU: x has shape %v; want %v", x.Shape(), op.shape)
	}
	y := reuse(&op.out, x.Dtype(), op.shape...)
	if x.Dtype() == tensor.Float32 {
		kernels.ReLUForward(x.Float32s(), y.Float32s())
	} else {
		kernels.ReLUForward(x.Float64s(), y.Float64s())
	}
	return y, nil
}

func (op *reluOp) DiffWRT(n int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	dx, err := gorgonia.ApplyOp(&reluGradOp{base: base{name: "ReLUGrad"}, shape: op.shape}, output, grad)
	if err != nil {
		return nil, fmt.Errorf("gops: ReLU gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// reluGradOp computes dx from (y, dy): dy where y > 0.
type reluGradOp struct {
	base
	shape tensor.Shape
	out   *tensor.Dense
}

func (op *reluGradOp) Arity() int { return 2 }
func (op *reluGradOp) Type() hm.Type {
	return fnType(len(op.shape), len(op.shape), len(op.shape))
}
func (op *reluGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *reluGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	y, err := dense("ReLUGrad", "y", vals[0])
	if err != nil {
		return nil, err
	}
	dy, err := dense("ReLUGrad", "dy", vals[1])
	if err != nil {
		return nil, err
	}
	n := op.shape.TotalSize()
	if y.DataSize() != n || dy.DataSize() != n || y.Dtype() != dy.Dtype() {
		return nil, fmt.Errorf("gops: ReLUGrad: y %v and dy %v; want both %v of one dtype", y.Shape(), dy.Shape(), op.shape)
	}
	dx := reuse(&op.out, y.Dtype(), op.shape...)
	if y.Dtype() == tensor.Float32 {
		kernels.ReLUBackward(y.Float32s(), dy.Float32s(), dx.Float32s())
	} else {
		kernels.ReLUBackward(y.Float64s(), dy.Float64s(), dx.Float64s())
	}
	return dx, nil
}
