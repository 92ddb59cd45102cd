package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is the numeric body of a custom Gorgonia op: one forward function per dtype over
// dense row-major buffers whose shapes were fixed when the graph was built.
type kernel struct {
	name  string       // unique per configuration: Gorgonia merges nodes with equal op hashes and inputs
	in    []int        // rank of each input; 0 means a scalar
	out   tensor.Shape // output shape; nil (rank 0) means a scalar
	f32   func(out []float32, in [][]float32)
	f64   func(out []float64, in [][]float64)
	grads func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) // nil: not differentiable
	wrt   []bool                                                      // inputs grads returns a gradient for

	// cache is the output tensor, returned by every run so that a step allocates nothing
	// large. This is safe as each run overwrites all of it before any reader (Gorgonia's
	// register allocation keeps a value live until its last reader within the run), and a
	// Net never runs two machines at once.
	cache *tensor.Dense
}

// customOp adapts a kernel to Gorgonia's Op, SDOp and UsePreallocDoer interfaces.
type customOp struct{ k *kernel }

// scalarOp is a customOp with a scalar output (no preallocation).
type scalarOp struct{ k *kernel }

var (
	_ G.SDOp            = customOp{}
	_ G.UsePreallocDoer = customOp{}
	_ G.SDOp            = scalarOp{}
)

// apply adds the kernel to the graph as a node over inputs.
func (k *kernel) apply(inputs ...*G.Node) (*G.Node, error) {
	if len(k.out) == 0 {
		return G.ApplyOp(scalarOp{k}, inputs...)
	}
	return G.ApplyOp(customOp{k}, inputs...)
}

func opType(k *kernel) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(k.in)+1)
	for _, d := range k.in {
		if d == 0 {
			ts = append(ts, a)
		} else {
			ts = append(ts, &G.TensorType{Dims: d, Of: a})
		}
	}
	if len(k.out) == 0 {
		ts = append(ts, a)
	} else {
		ts = append(ts, &G.TensorType{Dims: len(k.out), Of: a})
	}
	return hm.NewFnType(ts...)
}

func hashOf(k *kernel) uint32 { return hashString(k.name) }

func hashString(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// valueData returns the dense row-major data of a Gorgonia value (materialising views).
func valueData(v G.Value) (any, error) {
	switch t := v.(type) {
	case *tensor.Dense:
		if t.IsMaterializable() {
			m := t.Materialize()
			return m.Data(), nil
		}
		return t.Data(), nil
	case *G.F32:
		return []float32{float32(*t)}, nil
	case *G.F64:
		return []float64{float64(*t)}, nil
	}
	return nil, fmt.Errorf("nn: unexpected value type %T", v)
}

func run(k *kernel, out G.Value, inputs []G.Value) (G.Value, error) {
	if len(inputs) != len(k.in) {
		return nil, fmt.Errorf("nn: op %s: got %d inputs, want %d", k.name, len(inputs), len(k.in))
	}
	var dt tensor.Dtype
	switch inputs[0].Dtype() {
	case tensor.Float32:
		dt = tensor.Float32
	case tensor.Float64:
		dt = tensor.Float64
	default:
		return nil, fmt.Errorf("nn: op %s: dtype %v; want float32 or float64", k.name, inputs[0].Dtype())
	}
	if len(k.out) == 0 {
		if dt == tensor.Float32 {
			ins, err := gather[float32](k.name, inputs)
			if err != nil {
				return nil, err
			}
			o := make([]float32, 1)
			k.f32(o, ins)
			return G.NewF32(o[0]), nil
		}
		ins, err := gather[float64](k.name, inputs)
		if err != nil {
			return nil, err
		}
		o := make([]float64, 1)
		k.f64(o, ins)
		return G.NewF64(o[0]), nil
	}
	fits := func(d *tensor.Dense) bool {
		return d != nil && d.Dtype() == dt && slices.Equal(d.Shape(), k.out) && !d.IsView()
	}
	od, _ := out.(*tensor.Dense)
	if !fits(od) {
		if !fits(k.cache) {
			k.cache = tensor.New(tensor.Of(dt), tensor.WithShape(k.out.Clone()...))
		}
		od = k.cache
	}
	if dt == tensor.Float32 {
		ins, err := gather[float32](k.name, inputs)
		if err != nil {
			return nil, err
		}
		k.f32(od.Data().([]float32), ins)
	} else {
		ins, err := gather[float64](k.name, inputs)
		if err != nil {
			return nil, err
		}
		k.f64(od.Data().([]float64), ins)
	}
	return od, nil
}

// gather returns the inputs' data of op name as []T.
func gather[T float32 | float64](name string, inputs []G.Value) ([][]T, error) {
	ins := make([][]T, len(inputs))
	for i, v := range inputs {
		d, err := valueData(v)
		if err != nil {
			return nil, err
		}
		s, ok := d.([]T)
		if !ok {
			return nil, fmt.Errorf("nn: op %s: input %d has data %T; want mixed dtypes never", name, i, d)
		}
		ins[i] = s
	}
	return ins, nil
}

func (o customOp) Arity() int                                     { return len(o.k.in) }
func (o customOp) Type() hm.Type                                  { return opType(o.k) }
func (o customOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.k.out.Clone(), nil }
func (o customOp) Do(in ...G.Value) (G.Value, error)              { return run(o.k, nil, in) }
func (o customOp) UsePreallocDo(p G.Value, in ...G.Value) (G.Value, error) {
	return run(o.k, p, in)
}
func (o customOp) ReturnsPtr() bool      { return false }
func (o customOp) CallsExtern() bool     { return false }
func (o customOp) OverwritesInput() int  { return -1 }
func (o customOp) WriteHash(h hash.Hash) { h.Write([]byte(o.k.name)) }
func (o customOp) Hashcode() uint32      { return hashOf(o.k) }
func (o customOp) String() string        { return o.k.name }
func (o customOp) DiffWRT(n int) []bool  { return diffWRT(o.k, n) }
func (o customOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.k, inputs, output, grad)
}

func (o scalarOp) Arity() int                                     { return len(o.k.in) }
func (o scalarOp) Type() hm.Type                                  { return opType(o.k) }
func (o scalarOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (o scalarOp) Do(in ...G.Value) (G.Value, error)              { return run(o.k, nil, in) }
func (o scalarOp) ReturnsPtr() bool                               { return false }
func (o scalarOp) CallsExtern() bool                              { return false }
func (o scalarOp) OverwritesInput() int                           { return -1 }
func (o scalarOp) WriteHash(h hash.Hash)                          { h.Write([]byte(o.k.name)) }
func (o scalarOp) Hashcode() uint32                               { return hashOf(o.k) }
func (o scalarOp) String() string                                 { return o.k.name }
func (o scalarOp) DiffWRT(n int) []bool                           { return diffWRT(o.k, n) }
func (o scalarOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.k, inputs, output, grad)
}

func diffWRT(k *kernel, n int) []bool {
	if k.wrt != nil {
		return k.wrt
	}
	return make([]bool, n)
}

func symDiff(k *kernel, inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if k.grads == nil {
		return nil, fmt.Errorf("nn: op %s is not differentiable", k.name)
	}
	return k.grads(inputs, output, grad)
}
