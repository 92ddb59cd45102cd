package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy returns the scalar mean over rows of −Σ_j t[i,j]·log softmax(z[i,:])_j
// for logits z and targets t, both [N, K] (t is typically one-hot; rows of soft labels work
// too). The gradient flows to z only.
func SoftmaxCrossEntropy(z, t *gorgonia.Node) (*gorgonia.Node, error) {
	zs, ts := z.Shape(), t.Shape()
	if len(zs) != 2 || !zs.Eq(ts) {
		return nil, fmt.Errorf("gops: SoftmaxCrossEntropy: logits %q shape %v and targets %q shape %v; want equal [N, K]", z.Name(), zs, t.Name(), ts)
	}
	if err := checkFloat(z, "SoftmaxCrossEntropy", "logits"); err != nil {
		return nil, err
	}
	if t.Dtype() != z.Dtype() {
		return nil, fmt.Errorf("gops: SoftmaxCrossEntropy: targets %q dtype %v; want logits dtype %v", t.Name(), t.Dtype(), z.Dtype())
	}
	op := &xentOp{base: base{name: fmt.Sprintf("SoftmaxCrossEntropy%v", zs)}, n: zs[0], k: zs[1]}
	return gorgonia.ApplyOp(op, z, t)
}

type xentOp struct {
	base
	n, k  int
	probs *tensor.Dense // softmax of the last Do, read by the gradient op of the same run
}

func (op *xentOp) Arity() int    { return 2 }
func (op *xentOp) Type() hm.Type { return fnType(2, 2, 0) }
func (op *xentOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (op *xentOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	z, err := dense(op.name, "logits", vals[0])
	if err != nil {
		return nil, err
	}
	t, err := dense(op.name, "targets", vals[1])
	if err != nil {
		return nil, err
	}
	if z.DataSize() != op.n*op.k || t.DataSize() != op.n*op.k || z.Dtype() != t.Dtype() {
		return nil, fmt.Errorf("gops: %s: got logits %v and targets %v", op.name, z.Shape(), t.Shape())
	}
	p := reuse(&op.probs, z.Dtype(), op.n, op.k)
	if z.Dtype() == tensor.Float32 {
		return gorgonia.NewF32(kernels.SoftmaxCrossEntropy(z.Float32s(), t.Float32s(), op.n, op.k, p.Float32s())), nil
	}
	return gorgonia.NewF64(kernels.SoftmaxCrossEntropy(z.Float64s(), t.Float64s(), op.n, op.k, p.Float64s())), nil
}

func (op *xentOp) DiffWRT(n int) []bool { return []bool{true, false} }

func (op *xentOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	d := &xentGradOp{base: base{name: "Grad" + op.name}, fwd: op}
	// output orders the gradient after the forward op, whose softmax it reads.
	dz, err := gorgonia.ApplyOp(d, output, inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("gops: %s gradient: %w", op.name, err)
	}
	return gorgonia.Nodes{dz, nil}, nil
}

type xentGradOp struct {
	base
	fwd *xentOp
	out *tensor.Dense
}

func (op *xentGradOp) Arity() int    { return 3 }
func (op *xentGradOp) Type() hm.Type { return fnType(0, 2, 0, 2) }
func (op *xentGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.n, op.fwd.k}, nil
}

func (op *xentGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	t, err := dense(op.name, "targets", vals[1])
	if err != nil {
		return nil, err
	}
	scale, err := scalarOf(vals[2])
	if err != nil {
		return nil, fmt.Errorf("gops: %s: %w", op.name, err)
	}
	f := op.fwd
	if f.probs == nil || f.probs.Dtype() != t.Dtype() || t.DataSize() != f.n*f.k {
		return nil, fmt.Errorf("gops: %s: targets %v %v; want [%d %d] after the forward pass", op.name, t.Shape(), t.Dtype(), f.n, f.k)
	}
	dz := reuse(&op.out, t.Dtype(), f.n, f.k)
	if t.Dtype() == tensor.Float32 {
		kernels.SoftmaxCrossEntropyBackward(f.probs.Float32s(), t.Float32s(), f.n, f.k, float32(scale), dz.Float32s())
	} else {
		kernels.SoftmaxCrossEntropyBackward(f.probs.Float64s(), t.Float64s(), f.n, f.k, scale, dz.Float64s())
	}
	return dz, nil
}
