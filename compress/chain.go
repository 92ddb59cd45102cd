package compress

import (
	"fmt"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// A filter chain is what removing one Conv's output channels touches: the Conv's own weights
// and bias, every channelwise operation its output goes through (bias Add, BatchNorm, scale
// Mul, activation, pooling, Transpose) and the consumers that read the channels as inputs (the
// next Conv's input channels; across a Flatten or Reshape, the matching rows or columns of a
// Gemm or MatMul weight). The chain's feature is the tensor whose channels filter pruning ranks
// and whose removal is exactly equivalent to zeroing it: the output of the first activation
// after the Conv, or, without one, the value that reaches the first Transpose, Flatten,
// Reshape or consumer. Past the feature only operations that map zero to zero are allowed, so
// a zeroed channel contributes nothing downstream.

// edit removes indices along one axis of an initializer, viewed with dims view (the
// initializer's own dims, or the shape a Reshape gives it before use).
type edit struct {
	tensor string
	view   []int64
	axis   int
	remove []int64
	// reshape is the node that reshapes the initializer before use (nil when used as is); its
	// target becomes the view with the removed entries taken out.
	reshape *onnxio.Node
}

// targetEdit sets entry 1 of a flattening Reshape's target to features (when it is explicit).
type targetEdit struct {
	node     *onnxio.Node
	features int64
}

type chain struct {
	conv    *onnxio.Node
	filters int64
	feature string
	edits   []edit
	targets []targetEdit
}

// walkItem is a value that carries the conv's channels: along axis (non-flat), or as the
// flattened feature indices remove out of size (flat).
type walkItem struct {
	v      string
	axis   int
	flat   bool
	size   int64   // extent of axis (channels, or flattened features)
	remove []int64 // indices along axis that go
	post   bool    // past the feature
}

var (
	affineOps      = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true}
	activationOps  = map[string]bool{"Relu": true, "LeakyRelu": true, "PRelu": true, "Tanh": true, "Sigmoid": true, "Elu": true, "Selu": true, "Softplus": true, "Softsign": true, "HardSigmoid": true, "Clip": true, "ThresholdedRelu": true, "Celu": true, "Gelu": true, "HardSwish": true, "Mish": true}
	zeroKeepingAct = map[string]bool{"Relu": true, "LeakyRelu": true, "PRelu": true, "Tanh": true, "Elu": true, "Selu": true, "Softsign": true, "ThresholdedRelu": true, "Celu": true, "Gelu": true, "HardSwish": true, "Mish": true}
	poolOps        = map[string]bool{"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true, "LpPool": true, "GlobalLpPool": true}
	identityOps    = map[string]bool{"Identity": true, "Dropout": true}
)

func unsupported(n *onnxio.Node, format string, a ...any) error {
	return fmt.Errorf("compress: filter removal: node %q (%s): %s: %w", n.Name, n.Op, fmt.Sprintf(format, a...), onnxio.ErrUnsupported)
}

// planChain follows conv's output channels through the graph and returns the edits that
// remove the channels in remove (sorted, distinct, in 0..filters-1; may be empty, to find the
// feature only). shapes are the model's value shapes.
func planChain(g *onnxio.Graph, shapes map[string][]int64, conv *onnxio.Node, remove []int64) (*chain, error) {
	if conv.Op != "Conv" {
		return nil, fmt.Errorf("compress: filter removal: node %q is %s; want a Conv", conv.Name, conv.Op)
	}
	if conv.Int("group", 1) != 1 {
		return nil, unsupported(conv, "grouped convolution (group %d); only group 1 filters can be removed", conv.Int("group", 1))
	}
	if len(conv.Inputs) < 2 || g.Initializer(conv.Inputs[1]) == nil {
		return nil, unsupported(conv, "weight %q is not an initializer", at(conv.Inputs, 1))
	}
	w := g.Initializer(conv.Inputs[1])
	if w.DType != onnxio.Float || len(w.Dims) < 3 {
		return nil, unsupported(conv, "weight %q is %v with dims %v; want float32 [filters, channels, kernel...]", w.Name, w.DType, w.Dims)
	}
	c := &chain{conv: conv, filters: w.Dims[0]}
	if err := c.sliceConst(g, conv, w.Name, 0, 0, remove); err != nil {
		return nil, err
	}
	if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
		if err := c.sliceConst(g, conv, conv.Inputs[2], 0, c.filters, remove); err != nil {
			return nil, err
		}
	}
	isOut := map[string]bool{}
	for _, o := range g.Outputs {
		isOut[o.Name] = true
	}
	queue := []walkItem{{v: conv.Outputs[0], axis: 1, size: c.filters, remove: remove}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if isOut[it.v] {
			return nil, unsupported(conv, "its channels reach graph output %q; removing them would change the model's output", it.v)
		}
		cons := g.Consumers(it.v)
		if !it.post && len(cons) > 1 {
			return nil, unsupported(cons[1], "reads %q, which is also read by %q before the activation", it.v, cons[0].Name)
		}
		for _, n := range cons {
			next, err := c.step(g, shapes, n, it)
			if err != nil {
				return nil, err
			}
			queue = append(queue, next...)
		}
	}
	if c.feature == "" {
		return nil, unsupported(conv, "its output %q is read by no node", conv.Outputs[0])
	}
	return c, nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// setFeature marks v as the chain's feature (the first call wins: there is one per chain
// because fan-out before the feature is refused).
func (c *chain) setFeature(it *walkItem, v string) {
	if c.feature == "" {
		c.feature = v
	}
	it.post = true
}

// step handles one consumer n of the channel-carrying value it.v and returns the values that
// carry the channels on.
func (c *chain) step(g *onnxio.Graph, shapes map[string][]int64, n *onnxio.Node, it walkItem) ([]walkItem, error) {
	pos := -1
	for i, in := range n.Inputs {
		if in == it.v {
			if pos >= 0 {
				return nil, unsupported(n, "reads %q twice", it.v)
			}
			pos = i
		}
	}
	out := func(it walkItem) []walkItem {
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			return nil
		}
		it.v = n.Outputs[0]
		return []walkItem{it}
	}
	op := n.Op
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil, unsupported(n, "operator of domain %q", n.Domain)
	}
	switch {
	case affineOps[op]:
		if it.flat {
			return nil, unsupported(n, "elementwise %s on flattened features of conv %q", op, c.conv.Name)
		}
		if len(n.Inputs) != 2 {
			return nil, unsupported(n, "has %d inputs; want 2", len(n.Inputs))
		}
		other := n.Inputs[1-pos]
		t := g.Initializer(other)
		if t == nil {
			return nil, unsupported(n, "%s of %q and %q, which is not a constant (residual connections cannot lose channels on one side)", op, it.v, other)
		}
		if it.post && !(op == "Mul" || (op == "Div" && pos == 0)) {
			return nil, unsupported(n, "%s after the activation of conv %q maps a removed (zero) channel to a non-zero value", op, c.conv.Name)
		}
		rank := len(shapes[it.v])
		ax := it.axis - (rank - len(t.Dims))
		if ax >= 0 && ax < len(t.Dims) && t.Dims[ax] != 1 {
			if err := c.sliceConst(g, n, other, ax, it.size, it.remove); err != nil {
				return nil, err
			}
		}
		return out(it), nil
	case op == "BatchNormalization":
		if it.post {
			return nil, unsupported(n, "BatchNormalization after the activation of conv %q maps a removed (zero) channel to a non-zero value", c.conv.Name)
		}
		if pos != 0 || it.axis != 1 || len(n.Inputs) < 5 {
			return nil, unsupported(n, "want the conv's channels as input X on axis 1 and five inputs")
		}
		for _, p := range n.Inputs[1:5] {
			if err := c.sliceConst(g, n, p, 0, it.size, it.remove); err != nil {
				return nil, err
			}
		}
		if len(n.Outputs) > 1 && slices.ContainsFunc(n.Outputs[1:], func(s string) bool { return s != "" }) {
			return nil, unsupported(n, "training-mode BatchNormalization (running statistics outputs)")
		}
		return out(it), nil
	case activationOps[op]:
		if pos != 0 {
			return nil, unsupported(n, "the conv's channels are not its first input")
		}
		if op == "PRelu" {
			t := g.Initializer(at(n.Inputs, 1))
			if t == nil {
				return nil, unsupported(n, "slope %q is not a constant", at(n.Inputs, 1))
			}
			ax := it.axis - (len(shapes[it.v]) - len(t.Dims))
			if ax >= 0 && ax < len(t.Dims) && t.Dims[ax] != 1 {
				if it.flat {
					return nil, unsupported(n, "per-feature slope on flattened features")
				}
				if err := c.sliceConst(g, n, t.Name, ax, it.size, it.remove); err != nil {
					return nil, err
				}
			}
		}
		if it.post {
			if !zeroKeepingAct[op] {
				return nil, unsupported(n, "%s after the activation of conv %q maps a removed (zero) channel to a non-zero value", op, c.conv.Name)
			}
			return out(it), nil
		}
		res := out(it)
		if len(res) > 0 {
			c.setFeature(&res[0], res[0].v)
		}
		return res, nil
	case poolOps[op] || identityOps[op]:
		if pos != 0 {
			return nil, unsupported(n, "the conv's channels are not its first input")
		}
		if op == "Dropout" && len(n.Outputs) > 1 && n.Outputs[1] != "" && len(g.Consumers(n.Outputs[1])) > 0 {
			return nil, unsupported(n, "its mask output is used")
		}
		if it.flat && poolOps[op] {
			return nil, unsupported(n, "pooling of flattened features")
		}
		return out(it), nil
	case op == "Transpose":
		if it.flat {
			return nil, unsupported(n, "transpose of flattened features")
		}
		c.setFeature(&it, it.v)
		rank := len(shapes[it.v])
		perm := n.Ints("perm", nil)
		if perm == nil {
			for i := range rank {
				perm = append(perm, int64(rank-1-i))
			}
		}
		ax := slices.Index(perm, int64(it.axis))
		if ax < 0 || len(perm) != rank {
			return nil, unsupported(n, "perm %v for rank %d", perm, rank)
		}
		it.axis = ax
		return out(it), nil
	case op == "Flatten" || op == "Reshape":
		if pos != 0 {
			return nil, unsupported(n, "the conv's channels are its shape input")
		}
		if it.flat {
			return nil, unsupported(n, "reshape of flattened features")
		}
		c.setFeature(&it, it.v)
		in, o := shapes[it.v], shapes[n.Outputs[0]]
		if len(o) != 2 || len(in) < 2 || o[0] != in[0] || o[1] != prod(in[1:]) || it.axis < 1 {
			return nil, unsupported(n, "reshapes %v to %v; only flattening [N, ...] to [N, features] is handled", in, o)
		}
		if op == "Flatten" && n.Int("axis", 1) != 1 && n.Int("axis", 1) != -int64(len(in))+1 {
			return nil, unsupported(n, "axis %d; want 1", n.Int("axis", 1))
		}
		flat := flatIndices(in[1:], it.axis-1, it.remove)
		if op == "Reshape" {
			t := g.Initializer(at(n.Inputs, 1))
			if t == nil || t.DType != onnxio.Int64 || len(t.Int64) != 2 {
				return nil, unsupported(n, "target %q is not a constant of two int64 values", at(n.Inputs, 1))
			}
			switch v := t.Int64[1]; {
			case v == 0:
				return nil, unsupported(n, "target %v copies the channel dimension", t.Int64)
			case v > 0:
				c.targets = append(c.targets, targetEdit{node: n, features: o[1] - int64(len(flat))})
			}
		}
		return out(walkItem{axis: 1, flat: true, size: o[1], remove: flat, post: true}), nil
	case op == "Conv":
		if pos != 0 {
			return nil, unsupported(n, "the conv's channels are not its data input")
		}
		if it.flat || it.axis != 1 {
			return nil, unsupported(n, "reads channels on axis %d; want 1", it.axis)
		}
		if n.Int("group", 1) != 1 {
			return nil, unsupported(n, "grouped convolution (group %d) reads the channels of conv %q", n.Int("group", 1), c.conv.Name)
		}
		c.setFeature(&it, it.v)
		w := g.Initializer(at(n.Inputs, 1))
		if w == nil || w.DType != onnxio.Float || len(w.Dims) < 2 {
			return nil, unsupported(n, "weight %q is not a float32 initializer", at(n.Inputs, 1))
		}
		return nil, c.sliceConst(g, n, w.Name, 1, it.size, it.remove)
	case op == "Gemm" || op == "MatMul":
		if pos != 0 {
			return nil, unsupported(n, "the conv's features are its weight operand")
		}
		in := shapes[it.v]
		if len(in) != 2 || it.axis != 1 {
			return nil, unsupported(n, "reads %v; want [N, features]", in)
		}
		if op == "Gemm" && n.Int("transA", 0) != 0 {
			return nil, unsupported(n, "transA = 1")
		}
		c.setFeature(&it, it.v)
		ax := 0
		if op == "Gemm" && n.Int("transB", 0) != 0 {
			ax = 1
		}
		t, rs := resolveWeight(g, at(n.Inputs, 1))
		if t == nil {
			return nil, unsupported(n, "weight %q is not a float32 initializer (or a Reshape of one)", at(n.Inputs, 1))
		}
		view := shapes[n.Inputs[1]]
		if len(view) != 2 || view[ax] != it.size {
			return nil, unsupported(n, "weight %q has shape %v; want %d features on axis %d", n.Inputs[1], view, it.size, ax)
		}
		if rs != nil {
			if len(g.Consumers(rs.Outputs[0])) != 1 {
				return nil, unsupported(rs, "reshaped weight %q is read by several nodes", rs.Outputs[0])
			}
			st := g.Initializer(at(rs.Inputs, 1))
			if st == nil || st.DType != onnxio.Int64 {
				return nil, unsupported(rs, "target %q is not an int64 constant", at(rs.Inputs, 1))
			}
		}
		return nil, c.addEdit(g, n, edit{tensor: t.Name, view: slices.Clone(view), axis: ax, remove: it.remove, reshape: rs})
	}
	return nil, unsupported(n, "reads the channels of conv %q; this op is not handled by filter removal", c.conv.Name)
}

// sliceConst records the removal of indices along axis of initializer name, read by node n.
// size is the extent the axis must have (0: any).
func (c *chain) sliceConst(g *onnxio.Graph, n *onnxio.Node, name string, axis int, size int64, remove []int64) error {
	t := g.Initializer(name)
	if t == nil {
		return unsupported(n, "input %q is not an initializer", name)
	}
	if t.DType != onnxio.Float {
		return unsupported(n, "input %q is %v; want float32", name, t.DType)
	}
	if axis >= len(t.Dims) || (size > 0 && t.Dims[axis] != size) {
		return unsupported(n, "input %q has dims %v; want %d entries on axis %d", name, t.Dims, size, axis)
	}
	return c.addEdit(g, n, edit{tensor: name, view: slices.Clone(t.Dims), axis: axis, remove: remove})
}

func (c *chain) addEdit(g *onnxio.Graph, n *onnxio.Node, e edit) error {
	users := g.Consumers(e.tensor)
	if len(users) != 1 {
		return unsupported(n, "initializer %q is read by %d nodes; want one", e.tensor, len(users))
	}
	c.edits = append(c.edits, e)
	return nil
}

// flatIndices lists the row-major indices, in a tensor of shape dims, whose coordinate on axis
// is in remove.
func flatIndices(dims []int64, axis int, remove []int64) []int64 {
	inner := prod(dims[axis+1:])
	outer := prod(dims[:axis])
	var out []int64
	for o := range outer {
		for _, ch := range remove {
			base := (o*dims[axis] + ch) * inner
			for i := range inner {
				out = append(out, base+i)
			}
		}
	}
	slices.Sort(out)
	return out
}
