package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// channelSum sums dy over every axis except axis 1: the bias gradient of a convolution
// ([N, M, H, W] → [M]) or of a dense layer ([N, M] → [M]).
func channelSum(dy *gorgonia.Node) (*gorgonia.Node, error) {
	s := dy.Shape()
	if len(s) < 2 {
		return nil, fmt.Errorf("gops: bias gradient: dy %q has shape %v; want rank >= 2", dy.Name(), s)
	}
	return gorgonia.ApplyOp(&channelSumOp{base: base{name: fmt.Sprintf("ChannelSum%v", s)}, shape: s.Clone()}, dy)
}

type channelSumOp struct {
	base
	shape tensor.Shape
	out   *tensor.Dense
}

func (op *channelSumOp) Arity() int    { return 1 }
func (op *channelSumOp) Type() hm.Type { return fnType(len(op.shape), 1) }
func (op *channelSumOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.shape[1]}, nil
}

func (op *channelSumOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[0])
	if err != nil {
		return nil, err
	}
	if dy.DataSize() != op.shape.TotalSize() {
		return nil, fmt.Errorf("gops: %s: dy has shape %v; want %v", op.name, dy.Shape(), op.shape)
	}
	n, m := op.shape[0], op.shape[1]
	inner := op.shape.TotalSize() / (n * m)
	out := reuse(&op.out, dy.Dtype(), m)
	if dy.Dtype() == tensor.Float32 {
		kernels.ChannelSums(dy.Float32s(), n, m, inner, out.Float32s())
	} else {
		kernels.ChannelSums(dy.Float64s(), n, m, inner, out.Float64s())
	}
	return out, nil
}
