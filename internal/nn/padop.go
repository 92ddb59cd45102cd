package nn

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/onnxio"
)

// padNode builds Pad in constant mode. Before opset 11 the pads and the value are attributes;
// from opset 11 on they are inputs 1 (int64 pads, all begins then all ends) and 2 (an optional
// scalar), and from opset 18 input 3 may name the axes the pads apply to. The batch axis is
// never padded, and negative pads (crops) are refused.
func (b *builder) padNode(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	if mode := n.String("mode", "constant"); mode != "constant" {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "mode %q; want constant", mode)
	}
	s := x.Shape()
	r := len(s)
	var (
		raw   []int64
		value float64
		axes  []int64
	)
	if b.opset(n) < 11 {
		if raw = n.Ints("pads", nil); raw == nil {
			if raw = n.Ints("paddings", nil); raw == nil { // opset 1
				return nil, b.errorf(n, onnxio.ErrInvalidModel, "no pads attribute")
			}
		}
		value = float64(n.Float("value", 0))
	} else {
		if raw, err = b.constInts(n, 1); err != nil {
			return nil, err
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != "" {
			v, err := b.constFloats(n, 2)
			if err != nil {
				return nil, err
			}
			if len(v) != 1 {
				return nil, b.errorf(n, onnxio.ErrInvalidModel, "constant_value %q has %d values; want a scalar", n.Inputs[2], len(v))
			}
			value = float64(v[0])
		}
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			if axes, err = b.constInts(n, 3); err != nil {
				return nil, err
			}
		}
	}
	if axes == nil {
		for i := range r {
			axes = append(axes, int64(i))
		}
	}
	if len(raw) != 2*len(axes) {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "pads %v for %d axes of input shape %v; want %d values", raw, len(axes), s, 2*len(axes))
	}
	begin, end := make([]int, r), make([]int, r)
	for i, a := range axes {
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a >= int64(r) {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "axis %d for input shape %v", axes[i], s)
		}
		begin[a], end[a] = int(raw[i]), int(raw[i+len(axes)])
	}
	for i := range r {
		if begin[i] < 0 || end[i] < 0 {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "pads %v: negative pads (cropping); want pads >= 0", raw)
		}
	}
	if begin[0] != 0 || end[0] != 0 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "pads %v pad the batch axis; want 0 there", raw)
	}
	if !slices.ContainsFunc(begin, func(p int) bool { return p != 0 }) && !slices.ContainsFunc(end, func(p int) bool { return p != 0 }) {
		return x, nil
	}
	y, err := padND(x, begin, end, value)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}

// padGeom places an input of shape in inside an output of shape out at offset begin.
type padGeom struct {
	in, out tensor.Shape
	begin   []int
	inner   int   // elements of one input row (the last axis)
	rows    int   // input rows
	ostr    []int // output strides
}

func newPadGeom(in tensor.Shape, begin, end []int) *padGeom {
	r := len(in)
	g := &padGeom{in: in.Clone(), out: make(tensor.Shape, r), begin: slices.Clone(begin), ostr: make([]int, r)}
	for i := range r {
		g.out[i] = in[i] + begin[i] + end[i]
	}
	acc := 1
	for i := r - 1; i >= 0; i-- {
		g.ostr[i] = acc
		acc *= g.out[i]
	}
	g.inner = in[r-1]
	g.rows = in.TotalSize() / max(g.inner, 1)
	return g
}

// eachRow calls fn with the offset of each input row in the input and in the output.
func (g *padGeom) eachRow(fn func(i, o int)) {
	r := len(g.in)
	idx := make([]int, r)
	for row := 0; row < g.rows; row++ {
		o := 0
		for a := range r {
			o += (idx[a] + g.begin[a]) * g.ostr[a]
		}
		fn(row*g.inner, o)
		for a := r - 2; a >= 0; a-- {
			if idx[a]++; idx[a] < g.in[a] {
				break
			}
			idx[a] = 0
		}
	}
}

func padNDFwd[T float32 | float64](g *padGeom, out, x []T, v T) {
	for i := range out {
		out[i] = v
	}
	g.eachRow(func(i, o int) { copy(out[o:o+g.inner], x[i:i+g.inner]) })
}

func cropNDFwd[T float32 | float64](g *padGeom, out, dy []T) {
	g.eachRow(func(i, o int) { copy(out[i:i+g.inner], dy[o:o+g.inner]) })
}

// padND pads every axis of x by begin[i] before and end[i] after with value; the gradient
// crops the padding off.
func padND(x *G.Node, begin, end []int, value float64) (*G.Node, error) {
	s := x.Shape().Clone()
	if len(s) == 0 || len(begin) != len(s) || len(end) != len(s) {
		return nil, fmt.Errorf("pad: input shape %v with pads %v, %v; want one begin and end per axis", s, begin, end)
	}
	g := newPadGeom(s, begin, end)
	k := &kernel{
		name: fmt.Sprintf("PadND%v%v%v(%g)", s, begin, end, value),
		in:   []int{len(s)},
		out:  g.out,
		f32:  func(o []float32, in [][]float32) { padNDFwd(g, o, in[0], float32(value)) },
		f64:  func(o []float64, in [][]float64) { padNDFwd(g, o, in[0], value) },
		wrt:  []bool{true},
	}
	k.grads = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("PadNDGrad%v%v%v", s, begin, end),
			in:   []int{len(s)},
			out:  s,
			f32:  func(o []float32, in [][]float32) { cropNDFwd(g, o, in[0]) },
			f64:  func(o []float64, in [][]float64) { cropNDFwd(g, o, in[0]) },
		}
		d, err := gk.apply(grad)
		return G.Nodes{d}, err
	}
	return k.apply(x)
}
