package gops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// base holds the Op methods every op here shares. Ops are pointer types, so Gorgonia's
// interface comparisons never see an uncomparable value.
type base struct{ name string }

func (b base) ReturnsPtr() bool     { return false }
func (b base) CallsExtern() bool    { return false }
func (b base) OverwritesInput() int { return -1 }
func (b base) String() string       { return b.name }

func (b base) WriteHash(h hash.Hash) { fmt.Fprint(h, b.name) }

func (b base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// tensorType is a rank-d tensor of element type variable a.
func tensorType(d int) hm.Type { return &gorgonia.TensorType{Dims: d, Of: hm.TypeVariable('a')} }

func fnType(ranks ...int) hm.Type {
	ts := make([]hm.Type, len(ranks))
	for i, r := range ranks {
		if r == 0 {
			ts[i] = hm.TypeVariable('a')
		} else {
			ts[i] = tensorType(r)
		}
	}
	return hm.NewFnType(ts...)
}

// dense returns v as a contiguous *tensor.Dense of a float dtype (views are copied out), or
// an error naming the op and argument.
func dense(op string, arg string, v gorgonia.Value) (*tensor.Dense, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("gops: %s: %s is %T; want *tensor.Dense", op, arg, v)
	}
	if t.IsView() {
		// A slice or transpose view (e.g. after an NHWC→NCHW Transpose): copy it out.
		m, ok := t.Materialize().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("gops: %s: %s (shape %v) is a view that does not materialize to *tensor.Dense", op, arg, t.Shape())
		}
		t = m
	}
	if dt := t.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("gops: %s: %s has dtype %v; want float32 or float64", op, arg, dt)
	}
	return t, nil
}

// reuse returns *cache reshaped to shape when its dtype and size fit, or a new tensor stored
// in *cache. Ops return the same output tensor on every run, so a training step allocates
// nothing large; Gorgonia's register allocation guarantees a value is dead before its
// register is reused, and the op overwrites the whole tensor on each run.
func reuse(cache **tensor.Dense, dt tensor.Dtype, shape ...int) *tensor.Dense {
	size := 1
	for _, d := range shape {
		size *= d
	}
	t := *cache
	if t == nil || t.Dtype() != dt || t.DataSize() != size || t.IsView() {
		t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
		*cache = t
		return t
	}
	if !t.Shape().Eq(tensor.Shape(shape)) {
		if err := t.Reshape(shape...); err != nil {
			t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
			*cache = t
		}
	}
	return t
}

func checkArity(op gorgonia.Op, n int) error {
	if n != op.Arity() {
		return fmt.Errorf("gops: %v: got %d inputs; want %d", op, n, op.Arity())
	}
	return nil
}

func shape4(n *gorgonia.Node, op, arg string) ([4]int, error) {
	s := n.Shape()
	if len(s) != 4 {
		return [4]int{}, fmt.Errorf("gops: %s: %s %q has shape %v; want rank 4 (NCHW)", op, arg, n.Name(), s)
	}
	return [4]int{s[0], s[1], s[2], s[3]}, nil
}

func checkFloat(n *gorgonia.Node, op, arg string) error {
	if dt := n.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("gops: %s: %s %q has dtype %v; want float32 or float64", op, arg, n.Name(), dt)
	}
	return nil
}

// scalarOf reads a scalar gradient value (a Gorgonia scalar or a one-element tensor).
func scalarOf(v gorgonia.Value) (float64, error) {
	switch d := v.Data().(type) {
	case float32:
		return float64(d), nil
	case float64:
		return d, nil
	case []float32:
		if len(d) == 1 {
			return float64(d[0]), nil
		}
	case []float64:
		if len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, fmt.Errorf("gops: want a scalar float gradient; got %T with shape %v", v, v.Shape())
}
