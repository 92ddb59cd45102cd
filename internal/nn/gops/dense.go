package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dense returns x·W + b on OpenBLAS for x [N, K]. W is [K, M], or [M, K] when transW is set
// (ONNX Gemm with transB = 1, PyTorch's Linear layout). b ([M]) may be nil. The result is [N, M].
func Dense(x, w, b *gorgonia.Node, transW bool) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 {
		return nil, fmt.Errorf("gops: Dense: input %q has shape %v; want rank 2 [N, K]", x.Name(), xs)
	}
	if err := checkFloat(x, "Dense", "input x"); err != nil {
		return nil, err
	}
	if len(ws) != 2 || w.Dtype() != x.Dtype() {
		return nil, fmt.Errorf("gops: Dense: weight %q has shape %v dtype %v; want rank 2 %v", w.Name(), ws, w.Dtype(), x.Dtype())
	}
	k, m := ws[0], ws[1]
	if transW {
		k, m = ws[1], ws[0]
	}
	if k != xs[1] {
		return nil, fmt.Errorf("gops: Dense: input %q shape %v and weight %q shape %v (transW %v) disagree on K; want weight K = %d",
			x.Name(), xs, w.Name(), ws, transW, xs[1])
	}
	args := []*gorgonia.Node{x, w}
	if b != nil {
		if bs := b.Shape(); len(bs) != 1 || bs[0] != m || b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: Dense: bias %q has shape %v dtype %v; want [%d] %v", b.Name(), bs, b.Dtype(), m, x.Dtype())
		}
		args = append(args, b)
	}
	op := &denseOp{base: base{name: fmt.Sprintf("Dense{%dx%d·%dx%d transW %v}", xs[0], k, k, m, transW)},
		n: xs[0], k: k, m: m, transW: transW, bias: b != nil}
	return gorgonia.ApplyOp(op, args...)
}

type denseOp struct {
	base
	n, k, m int
	transW  bool
	bias    bool
	out     *tensor.Dense
}

func (op *denseOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *denseOp) Type() hm.Type {
	if op.bias {
		return fnType(2, 2, 1, 2)
	}
	return fnType(2, 2, 2)
}

func (op *denseOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.m}, nil
}

func (op *denseOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense(op.name, "x", vals[0])
	if err != nil {
		return nil, err
	}
	w, err := dense(op.name, "w", vals[1])
	if err != nil {
		return nil, err
	}
	if x.DataSize() != op.n*op.k || w.DataSize() != op.k*op.m || x.Dtype() != w.Dtype() {
		return nil, fmt.Errorf("gops: %s: got x %v and w %v", op.name, x.Shape(), w.Shape())
	}
	var b *tensor.Dense
	if op.bias {
		if b, err = dense(op.name, "b", vals[2]); err != nil {
			return nil, err
		}
		if b.DataSize() != op.m || b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: %s: bias has shape %v; want [%d]", op.name, b.Shape(), op.m)
		}
	}
	y := reuse(&op.out, x.Dtype(), op.n, op.m)
	if x.Dtype() == tensor.Float32 {
		denseForward(op, x.Float32s(), w.Float32s(), bData[float32](b), y.Float32s())
	} else {
		denseForward(op, x.Float64s(), w.Float64s(), bData[float64](b), y.Float64s())
	}
	return y, nil
}

func bData[T kernels.Float](b *tensor.Dense) []T {
	if b == nil {
		return nil
	}
	return b.Data().([]T)
}

func denseForward[T kernels.Float](op *denseOp, x, w, b, y []T) {
	ldw := op.m
	if op.transW {
		ldw = op.k
	}
	kernels.Gemm(false, op.transW, op.n, op.m, op.k, 1, x, op.k, w, ldw, 0, y, op.m)
	if b != nil {
		kernels.AddRowVector(y, op.n, op.m, b)
	}
}

func (op *denseOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op *denseOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	grads := make(gorgonia.Nodes, len(inputs))
	var err error
	if grads[0], err = gorgonia.ApplyOp(&denseGradOp{base: base{name: "DenseGradX" + op.name}, fwd: op, wrtX: true}, inputs[1], grad); err != nil {
		return nil, fmt.Errorf("gops: %s input gradient: %w", op.name, err)
	}
	if grads[1], err = gorgonia.ApplyOp(&denseGradOp{base: base{name: "DenseGradW" + op.name}, fwd: op}, inputs[0], grad); err != nil {
		return nil, fmt.Errorf("gops: %s weight gradient: %w", op.name, err)
	}
	if op.bias {
		if grads[2], err = channelSum(grad); err != nil {
			return nil, fmt.Errorf("gops: %s bias gradient: %w", op.name, err)
		}
	}
	return grads, nil
}

// denseGradOp computes dx from (w, dy) when wrtX, else dw from (x, dy).
type denseGradOp struct {
	base
	fwd  *denseOp
	wrtX bool
	out  *tensor.Dense
}

func (op *denseGradOp) Arity() int    { return 2 }
func (op *denseGradOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *denseGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.outShape(), nil
}

func (op *denseGradOp) outShape() tensor.Shape {
	f := op.fwd
	switch {
	case op.wrtX:
		return tensor.Shape{f.n, f.k}
	case f.transW:
		return tensor.Shape{f.m, f.k}
	default:
		return tensor.Shape{f.k, f.m}
	}
}

func (op *denseGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	a, err := dense(op.name, "input", vals[0])
	if err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[1])
	if err != nil {
		return nil, err
	}
	f := op.fwd
	want := f.k * f.m
	if !op.wrtX {
		want = f.n * f.k
	}
	if a.DataSize() != want || dy.DataSize() != f.n*f.m || a.Dtype() != dy.Dtype() {
		return nil, fmt.Errorf("gops: %s: got input %v and dy %v", op.name, a.Shape(), dy.Shape())
	}
	out := reuse(&op.out, a.Dtype(), op.outShape()...)
	if a.Dtype() == tensor.Float32 {
		denseBackward(op, a.Float32s(), dy.Float32s(), out.Float32s())
	} else {
		denseBackward(op, a.Float64s(), dy.Float64s(), out.Float64s())
	}
	return out, nil
}

func denseBackward[T kernels.Float](op *denseGradOp, a, dy, out []T) {
	f := op.fwd
	switch {
	case op.wrtX && f.transW: // dx[n,k] = dy[n,m]·W[m,k]
		kernels.Gemm(false, false, f.n, f.k, f.m, 1, dy, f.m, a, f.k, 0, out, f.k)
	case op.wrtX: // dx[n,k] = dy[n,m]·W[k,m]ᵀ
		kernels.Gemm(false, true, f.n, f.k, f.m, 1, dy, f.m, a, f.m, 0, out, f.k)
	case f.transW: // dW[m,k] = dy[n,m]ᵀ·x[n,k]
		kernels.Gemm(true, false, f.m, f.k, f.n, 1, dy, f.m, a, f.k, 0, out, f.k)
	default: // dW[k,m] = x[n,k]ᵀ·dy[n,m]
		kernels.Gemm(true, false, f.k, f.m, f.n, 1, a, f.k, dy, f.m, 0, out, f.m)
	}
}
