package nn

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/onnxio"
)

// dataPath reports whether a Squeeze, Unsqueeze or Concat node reads a float value (the data
// path: computed values, weights, float constants) rather than an integer shape computation.
func (b *builder) dataPath(n *onnxio.Node) bool {
	if n.Op != "Squeeze" && n.Op != "Unsqueeze" && n.Op != "Concat" {
		return false
	}
	ins := n.Inputs[:1]
	if n.Op == "Concat" {
		ins = n.Inputs
	}
	for _, name := range ins {
		if _, ok := b.env[name]; ok {
			return true
		}
		if t, ok := b.consts[name]; ok && t.DType == onnxio.Float {
			return true
		}
	}
	return false
}

// weight reports whether the value called name does not depend on the data input (a weight,
// a constant or a value computed from them only): it has no batch axis.
func (b *builder) weight(name string) bool {
	if b.fromInput == nil {
		b.fromInput = map[string]bool{}
		for _, in := range b.m.Graph.DataInputs() {
			b.fromInput[in.Name] = true
		}
	}
	var dep func(string) bool
	dep = func(name string) bool {
		if v, ok := b.fromInput[name]; ok {
			return v
		}
		b.fromInput[name] = false // cycles (invalid graphs) count as weights here
		v := false
		if p := b.m.Graph.Producer(name); p != nil {
			v = slices.ContainsFunc(p.Inputs, func(in string) bool { return in != "" && dep(in) })
		}
		b.fromInput[name] = v
		return v
	}
	return !dep(name)
}

// axesOf reads a Squeeze or Unsqueeze node's axes: the attribute before opset 13, the optional
// input 1 from then on. It returns nil when there are none.
func (b *builder) axesOf(n *onnxio.Node) ([]int64, error) {
	if b.opset(n) < 13 {
		return n.Ints("axes", nil), nil
	}
	if len(n.Inputs) < 2 || n.Inputs[1] == "" {
		return nil, nil
	}
	return b.constInts(n, 1)
}

// normAxes resolves negative axes against rank r and checks range, duplicates and, when
// batch is set, that the batch axis 0 is not named.
func (b *builder) normAxes(n *onnxio.Node, axes []int64, r int, s tensor.Shape, batch bool) ([]int, error) {
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a >= int64(r) {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "axis %d out of range for input shape %v", axes[i], s)
		}
		if a == 0 && batch {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "axes %v name the batch axis; want axes > 0", axes)
		}
		if slices.Contains(out[:i], int(a)) {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "axes %v repeat axis %d", axes, a)
		}
		out[i] = int(a)
	}
	return out, nil
}

// squeeze builds Squeeze and Unsqueeze on the data path as reshapes. Without axes, Squeeze
// drops every size-1 axis except the batch axis, which the builder keeps fixed.
func (b *builder) squeeze(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	s := x.Shape()
	batch := !b.weight(n.Inputs[0])
	axes, err := b.axesOf(n)
	if err != nil {
		return nil, err
	}
	var to tensor.Shape
	if n.Op == "Unsqueeze" {
		if len(axes) == 0 {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "no axes; want at least one")
		}
		r := len(s) + len(axes)
		ax, err := b.normAxes(n, axes, r, s, batch)
		if err != nil {
			return nil, err
		}
		rest := s
		for i := range r {
			if slices.Contains(ax, i) {
				to = append(to, 1)
			} else {
				to, rest = append(to, rest[0]), rest[1:]
			}
		}
	} else {
		ax, err := b.normAxes(n, axes, len(s), s, batch)
		if err != nil {
			return nil, err
		}
		for i, d := range s {
			drop := slices.Contains(ax, i) || len(ax) == 0 && (i > 0 || !batch) && d == 1
			if slices.Contains(ax, i) && d != 1 {
				return nil, b.errorf(n, onnxio.ErrInvalidModel, "axis %d of input shape %v has size %d; want 1", i, s, d)
			}
			if !drop {
				to = append(to, d)
			}
		}
	}
	if slices.Equal(to, s) {
		return x, nil
	}
	return b.reshapeTo(n, x, to)
}

// concat builds Concat on the data path; the axis may be any but the batch axis.
func (b *builder) concat(n *onnxio.Node) (*G.Node, error) {
	xs := make([]*G.Node, len(n.Inputs))
	for i := range n.Inputs {
		x, err := b.value(n, i)
		if err != nil {
			return nil, err
		}
		xs[i] = x
	}
	s0 := xs[0].Shape()
	r := len(s0)
	a := n.Int("axis", 1<<40)
	if a == 1<<40 {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "no axis attribute")
	}
	allWeights := !slices.ContainsFunc(n.Inputs, func(name string) bool { return !b.weight(name) })
	ax, err := b.normAxes(n, []int64{a}, r, s0, !allWeights)
	if err != nil {
		return nil, err
	}
	axis := ax[0]
	for i, x := range xs {
		s := x.Shape()
		ok := len(s) == r
		for j := 0; ok && j < r; j++ {
			ok = j == axis || s[j] == s0[j]
		}
		if !ok {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "input %d %q has shape %v; want %v except on axis %d", i, n.Inputs[i], s, s0, axis)
		}
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	y, err := concatNodes(xs, axis)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}

// concatNodes joins xs (equal shapes but on axis) along axis; each input's gradient is its
// block of the output gradient.
func concatNodes(xs []*G.Node, axis int) (*G.Node, error) {
	s0 := xs[0].Shape()
	outer := tensor.Shape(s0[:axis]).TotalSize()
	out := s0.Clone()
	out[axis] = 0
	blocks := make([]int, len(xs)) // elements of input i per outer index
	ranks := make([]int, len(xs))
	names := ""
	for i, x := range xs {
		s := x.Shape()
		out[axis] += s[axis]
		blocks[i] = tensor.Shape(s[axis:]).TotalSize()
		ranks[i] = len(s)
		names += fmt.Sprint(s)
	}
	row := tensor.Shape(out[axis:]).TotalSize()
	offs := make([]int, len(xs)) // offset of input i's block within an output row
	for i := 1; i < len(xs); i++ {
		offs[i] = offs[i-1] + blocks[i-1]
	}
	k := &kernel{
		name: fmt.Sprintf("Concat%d%s", axis, names),
		in:   ranks,
		out:  out,
		f32:  func(o []float32, in [][]float32) { concatFwd(o, in, outer, row, blocks, offs) },
		f64:  func(o []float64, in [][]float64) { concatFwd(o, in, outer, row, blocks, offs) },
		wrt:  slices.Repeat([]bool{true}, len(xs)),
	}
	k.grads = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, len(xs))
		for i, x := range xs {
			blk, off := blocks[i], offs[i]
			gk := &kernel{
				name: fmt.Sprintf("ConcatGrad%d,%d%s", axis, i, names),
				in:   []int{len(out)},
				out:  x.Shape().Clone(),
				f32:  func(o []float32, in [][]float32) { splitFwd(o, in[0], outer, row, blk, off) },
				f64:  func(o []float64, in [][]float64) { splitFwd(o, in[0], outer, row, blk, off) },
			}
			g, err := gk.apply(grad)
			if err != nil {
				return nil, err
			}
			gs[i] = g
		}
		return gs, nil
	}
	return k.apply(xs...)
}

func concatFwd[T float32 | float64](out []T, in [][]T, outer, row int, blocks, offs []int) {
	for o := range outer {
		for i, x := range in {
			copy(out[o*row+offs[i]:o*row+offs[i]+blocks[i]], x[o*blocks[i]:(o+1)*blocks[i]])
		}
	}
}

func splitFwd[T float32 | float64](out, g []T, outer, row, blk, off int) {
	for o := range outer {
		copy(out[o*blk:(o+1)*blk], g[o*row+off:o*row+off+blk])
	}
}
