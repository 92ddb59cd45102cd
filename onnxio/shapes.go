package onnxio

import (
	"fmt"
	"slices"
)

// InferShapes returns the static shape of every value of the graph (inputs, initializers, node
// outputs) when the data inputs' free batch dimension is batch. Models with a fixed batch
// dimension take it (batch <= 0 means "the declared one"); any free dimension other than the
// leading one is refused. Shape subgraphs (Shape, Gather, Unsqueeze, Squeeze, Concat, Constant,
// Cast, Slice, arithmetic on int64) are evaluated on the way, so a Reshape whose target is
// computed from the input's shape gets a static shape too.
func InferShapes(m *Model, batch int) (map[string][]int64, error) {
	s, err := inferShapes(m, batch)
	if err != nil {
		return nil, err
	}
	return s.shapes, nil
}

// shapeState is the result of one inference pass: shapes, and the values known statically.
type shapeState struct {
	opset  int64
	shapes map[string][]int64
	consts map[string]*Tensor // Int64 or Float values known without running the model
}

// FreeBatch reports whether the model's data inputs have a free leading dimension.
func FreeBatch(m *Model) bool {
	for _, v := range m.Graph.DataInputs() {
		if len(v.Shape) > 0 && v.Shape[0].Value < 0 {
			return true
		}
	}
	return false
}

func inferShapes(m *Model, batch int) (*shapeState, error) {
	s := &shapeState{opset: m.Opset(""), shapes: map[string][]int64{}, consts: map[string]*Tensor{}}
	for _, t := range m.Graph.Initializers {
		s.shapes[t.Name] = dimsOf(t)
		if (t.DType == Int64 || t.DType == Float) && !t.keepData {
			s.consts[t.Name] = t
		}
	}
	for _, v := range m.Graph.DataInputs() {
		if !v.Tensor || !v.ShapeKnown {
			return nil, fmt.Errorf("onnxio: input %q has no declared shape; want a tensor of known rank: %w", v.Name, ErrUnsupported)
		}
		dims := v.Dims()
		for i, d := range dims {
			switch {
			case i == 0 && d < 0:
				if batch <= 0 {
					return nil, fmt.Errorf("onnxio: input %q has a free batch dimension; want a batch size > 0 (got %d)", v.Name, batch)
				}
				dims[0] = int64(batch)
			case i == 0 && batch > 0 && d != int64(batch):
				return nil, fmt.Errorf("onnxio: input %q has a fixed batch of %d; asked for %d: %w", v.Name, d, batch, ErrUnsupported)
			case d < 0:
				return nil, fmt.Errorf("onnxio: input %q dimension %d (%q) is free; uqnn needs static shapes apart from the batch: %w", v.Name, i, v.Shape[i].Param, ErrUnsupported)
			}
		}
		s.shapes[v.Name] = dims
	}
	order, err := m.Graph.TopoOrder()
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	for _, n := range order {
		if err := s.node(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// nodeError formats an error about node n.
func (s *shapeState) nodeError(n *Node, sentinel error, format string, a ...any) error {
	return fmt.Errorf("onnxio: node %q (%s, opset %d): %s: %w", n.Name, n.Op, s.opset, fmt.Sprintf(format, a...), sentinel)
}

// in returns the shape of input i of n (nil, false when the input is omitted).
func (s *shapeState) in(n *Node, i int) ([]int64, bool) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, false
	}
	sh, ok := s.shapes[n.Inputs[i]]
	return sh, ok
}

// constInts returns input i of n as int64 values, if known statically.
func (s *shapeState) constInts(n *Node, i int) ([]int64, bool) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, false
	}
	t, ok := s.consts[n.Inputs[i]]
	if !ok {
		return nil, false
	}
	switch t.DType {
	case Int64:
		return t.Int64, true
	case Float:
		v := make([]int64, len(t.Float32))
		for i, f := range t.Float32 {
			v[i] = int64(f)
		}
		return v, true
	}
	return nil, false
}

func (s *shapeState) set(n *Node, i int, shape []int64) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		if shape == nil {
			shape = []int64{} // a scalar, not a missing shape
		}
		s.shapes[n.Outputs[i]] = shape
	}
}

// maxConstElements bounds the constants inference evaluates (shape vectors are tiny); bigger
// results are left unevaluated so that a hostile file cannot make inference allocate much.
const maxConstElements = 1 << 16

func (s *shapeState) setConst(n *Node, i int, t *Tensor) {
	if t.check() != nil || t.NumElements() > maxConstElements {
		s.set(n, i, dimsOf(t))
		return
	}
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		t.Name = n.Outputs[i]
		s.shapes[t.Name] = dimsOf(t)
		s.consts[t.Name] = t
	}
}

// dimsOf returns a copy of t's dims, never nil (a scalar has shape []).
func dimsOf(t *Tensor) []int64 {
	d := slices.Clone(t.Dims)
	if d == nil {
		d = []int64{}
	}
	return d
}

// axis normalizes a possibly negative axis against rank.
func normAxis(a, rank int64) (int64, bool) {
	if a < 0 {
		a += rank
	}
	return a, a >= 0 && a < rank
}

func prod(d []int64) int64 {
	p := int64(1)
	for _, x := range d {
		p *= x
	}
	return p
}

// unary ops keep their input's shape.
var sameShapeOps = map[string]bool{
	"Relu": true, "Sigmoid": true, "Tanh": true, "LeakyRelu": true, "Elu": true, "Selu": true,
	"Softplus": true, "Softsign": true, "Exp": true, "Log": true, "Sqrt": true, "Neg": true, "Abs": true,
	"Identity": true, "Dropout": true, "Clip": true, "Softmax": true, "LogSoftmax": true, "Erf": true,
	"HardSigmoid": true, "HardSwish": true, "Reciprocal": true, "Floor": true, "Ceil": true, "Round": true,
	"BatchNormalization": true, "LRN": true, "InstanceNormalization": true, "LpNormalization": true,
	"PRelu": true, "ThresholdedRelu": true, "Sign": true, "Not": true, "Mish": true, "Gelu": true,
	"Hardmax": true, "Celu": true, "Sin": true, "Cos": true, "IsNaN": true, "IsInf": true,
}

// broadcastOps combine inputs with numpy broadcasting.
var broadcastOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true,
	"Sum": true, "Mean": true, "Equal": true, "Less": true, "Greater": true, "LessOrEqual": true,
	"GreaterOrEqual": true, "And": true, "Or": true, "Xor": true, "Where": true, "Mod": true,
}

func broadcast(a, b []int64) ([]int64, bool) {
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := range r {
		da, db := int64(1), int64(1)
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

func (s *shapeState) node(n *Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return s.nodeError(n, ErrUnsupported, "operator domain %q; want the default ONNX domain", n.Domain)
	}
	var ins [][]int64
	for i, name := range n.Inputs {
		if name == "" {
			ins = append(ins, nil)
			continue
		}
		sh, ok := s.shapes[name]
		if !ok {
			return s.nodeError(n, ErrInvalidModel, "input %d %q has no known shape", i, name)
		}
		ins = append(ins, sh)
	}
	need := func(k int) error {
		if len(ins) < k {
			return s.nodeError(n, ErrInvalidModel, "has %d inputs; want at least %d", len(ins), k)
		}
		for i := range k {
			if n.Inputs[i] == "" {
				return s.nodeError(n, ErrInvalidModel, "input %d is omitted; it is required", i)
			}
		}
		return nil
	}
	rankErr := func(i int, want string) error {
		return s.nodeError(n, ErrInvalidModel, "input %q has shape %v; want %s", n.Inputs[i], ins[i], want)
	}
	op := n.Op
	switch {
	case sameShapeOps[op]:
		if err := need(1); err != nil {
			return err
		}
		for i := range n.Outputs {
			s.set(n, i, slices.Clone(ins[0]))
		}
		if op == "Identity" {
			if c, ok := s.consts[n.Inputs[0]]; ok {
				cc := c.Clone()
				s.setConst(n, 0, cc)
			}
		}
		return nil
	case broadcastOps[op]:
		if err := need(1); err != nil {
			return err
		}
		out := ins[0]
		for i := 1; i < len(ins); i++ {
			b, ok := broadcast(out, ins[i])
			if !ok {
				return s.nodeError(n, ErrInvalidModel, "inputs %q %v and %q %v do not broadcast", n.Inputs[0], ins[0], n.Inputs[i], ins[i])
			}
			out = b
		}
		s.set(n, 0, out)
		s.constArith(n, out)
		return nil
	}
	switch op {
	case "Constant":
		t, err := s.constantValue(n)
		if err != nil {
			return err
		}
		s.set(n, 0, slices.Clone(t.Dims))
		if t.DType == Int64 || t.DType == Float {
			s.setConst(n, 0, t)
		}
	case "Conv", "MaxPool", "AveragePool", "LpPool":
		return s.convPool(n, ins, need)
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
		if err := need(1); err != nil {
			return err
		}
		if len(ins[0]) < 3 {
			return rankErr(0, "rank >= 3 (N, C, spatial...)")
		}
		out := slices.Clone(ins[0])
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
		s.set(n, 0, out)
	case "Gemm":
		if err := need(2); err != nil {
			return err
		}
		a, b := ins[0], ins[1]
		if len(a) != 2 || len(b) != 2 {
			return s.nodeError(n, ErrInvalidModel, "inputs %v and %v; want two matrices", a, b)
		}
		m, ka := a[0], a[1]
		if n.Int("transA", 0) != 0 {
			m, ka = a[1], a[0]
		}
		kb, nn := b[0], b[1]
		if n.Int("transB", 0) != 0 {
			kb, nn = b[1], b[0]
		}
		if ka != kb {
			return s.nodeError(n, ErrInvalidModel, "A %v and B %v (transA=%d, transB=%d) disagree on the inner dimension", a, b, n.Int("transA", 0), n.Int("transB", 0))
		}
		s.set(n, 0, []int64{m, nn})
	case "MatMul":
		if err := need(2); err != nil {
			return err
		}
		out, ok := matmulShape(ins[0], ins[1])
		if !ok {
			return s.nodeError(n, ErrInvalidModel, "inputs %q %v and %q %v do not multiply", n.Inputs[0], ins[0], n.Inputs[1], ins[1])
		}
		s.set(n, 0, out)
	case "Flatten":
		if err := need(1); err != nil {
			return err
		}
		r := int64(len(ins[0]))
		ax := n.Int("axis", 1)
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax > r {
			return s.nodeError(n, ErrInvalidModel, "axis %d out of range for input shape %v", n.Int("axis", 1), ins[0])
		}
		s.set(n, 0, []int64{prod(ins[0][:ax]), prod(ins[0][ax:])})
	case "Reshape":
		if err := need(2); err != nil {
			return err
		}
		target, ok := s.constInts(n, 1)
		if !ok {
			return s.nodeError(n, ErrUnsupported, "target shape %q is computed at run time from values uqnn cannot evaluate statically", n.Inputs[1])
		}
		out, err := reshapeTarget(ins[0], target, n.Int("allowzero", 0) != 0)
		if err != nil {
			return s.nodeError(n, ErrInvalidModel, "input %q %v: %v", n.Inputs[0], ins[0], err)
		}
		s.set(n, 0, out)
		if c, ok := s.consts[n.Inputs[0]]; ok {
			cc := c.Clone()
			cc.Dims = out
			s.setConst(n, 0, cc)
		}
	case "Transpose":
		if err := need(1); err != nil {
			return err
		}
		r := len(ins[0])
		perm := n.Ints("perm", nil)
		if perm == nil {
			for i := r - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		if len(perm) != r {
			return s.nodeError(n, ErrInvalidModel, "perm %v for input shape %v", perm, ins[0])
		}
		out := make([]int64, r)
		seen := make([]bool, r)
		for i, p := range perm {
			if p < 0 || p >= int64(r) || seen[p] {
				return s.nodeError(n, ErrInvalidModel, "perm %v is not a permutation of 0..%d", perm, r-1)
			}
			seen[p] = true
			out[i] = ins[0][p]
		}
		s.set(n, 0, out)
	case "Shape":
		if err := need(1); err != nil {
			return err
		}
		r := int64(len(ins[0]))
		start, end := n.Int("start", 0), n.Int("end", r)
		start, end = clampIndex(start, r), clampIndex(end, r)
		dims := []int64{}
		if end > start {
			dims = slices.Clone(ins[0][start:end])
		}
		s.setConst(n, 0, NewInt64("", []int64{int64(len(dims))}, dims))
	case "Size":
		if err := need(1); err != nil {
			return err
		}
		s.setConst(n, 0, NewInt64("", nil, []int64{prod(ins[0])}))
	case "Gather":
		if err := need(2); err != nil {
			return err
		}
		r := int64(len(ins[0]))
		ax, ok := normAxis(n.Int("axis", 0), r)
		if !ok {
			return s.nodeError(n, ErrInvalidModel, "axis %d out of range for input shape %v", n.Int("axis", 0), ins[0])
		}
		out := append(append(slices.Clone(ins[0][:ax]), ins[1]...), ins[0][ax+1:]...)
		s.set(n, 0, out)
		s.constGather(n, ax, out)
	case "Unsqueeze":
		if err := need(1); err != nil {
			return err
		}
		axes := n.Ints("axes", nil)
		if s.opset >= 13 {
			var ok bool
			if axes, ok = s.constInts(n, 1); !ok {
				return s.nodeError(n, ErrUnsupported, "axes input is not a constant")
			}
		}
		r := int64(len(ins[0]) + len(axes))
		ones := make([]bool, r)
		for _, a := range axes {
			a, ok := normAxis(a, r)
			if !ok || ones[a] {
				return s.nodeError(n, ErrInvalidModel, "axes %v invalid for input shape %v", axes, ins[0])
			}
			ones[a] = true
		}
		out := make([]int64, 0, r)
		k := 0
		for i := range r {
			if ones[i] {
				out = append(out, 1)
			} else {
				out = append(out, ins[0][k])
				k++
			}
		}
		s.set(n, 0, out)
		s.constReshaped(n, out)
	case "Squeeze":
		if err := need(1); err != nil {
			return err
		}
		axes := n.Ints("axes", nil)
		if s.opset >= 13 && len(n.Inputs) > 1 && n.Inputs[1] != "" {
			var ok bool
			if axes, ok = s.constInts(n, 1); !ok {
				return s.nodeError(n, ErrUnsupported, "axes input is not a constant")
			}
		}
		r := int64(len(ins[0]))
		drop := make([]bool, r)
		for _, a := range axes {
			a, ok := normAxis(a, r)
			if !ok || ins[0][a] != 1 {
				return s.nodeError(n, ErrInvalidModel, "cannot squeeze axes %v of shape %v", axes, ins[0])
			}
			drop[a] = true
		}
		out := []int64{}
		for i, d := range ins[0] {
			if (axes == nil && d == 1) || drop[i] {
				continue
			}
			out = append(out, d)
		}
		s.set(n, 0, out)
		s.constReshaped(n, out)
	case "Concat":
		if err := need(1); err != nil {
			return err
		}
		r := int64(len(ins[0]))
		ax, ok := normAxis(n.Int("axis", 0), r)
		if !ok {
			return s.nodeError(n, ErrInvalidModel, "axis %d out of range for input shape %v", n.Int("axis", 0), ins[0])
		}
		out := slices.Clone(ins[0])
		for i := 1; i < len(ins); i++ {
			if len(ins[i]) != len(out) {
				return rankErr(i, fmt.Sprintf("rank %d like %q", len(out), n.Inputs[0]))
			}
			for j := range out {
				if int64(j) == ax {
					out[j] += ins[i][j]
				} else if ins[i][j] != out[j] {
					return rankErr(i, fmt.Sprintf("the shape of %q %v outside axis %d", n.Inputs[0], ins[0], ax))
				}
			}
		}
		s.set(n, 0, out)
		s.constConcat(n, ax, out)
	case "Cast":
		if err := need(1); err != nil {
			return err
		}
		s.set(n, 0, slices.Clone(ins[0]))
		s.constCast(n, DataType(n.Int("to", 0)))
	case "Slice":
		return s.slice(n, ins, need)
	case "Pad":
		if err := need(1); err != nil {
			return err
		}
		pads := n.Ints("pads", nil)
		if s.opset >= 11 {
			var ok bool
			if pads, ok = s.constInts(n, 1); !ok {
				return s.nodeError(n, ErrUnsupported, "pads input is not a constant")
			}
		}
		r := len(ins[0])
		axes := make([]int64, r)
		for i := range axes {
			axes[i] = int64(i)
		}
		if s.opset >= 18 && len(n.Inputs) > 3 && n.Inputs[3] != "" {
			var ok bool
			if axes, ok = s.constInts(n, 3); !ok {
				return s.nodeError(n, ErrUnsupported, "axes input is not a constant")
			}
		}
		if len(pads) != 2*len(axes) {
			return s.nodeError(n, ErrInvalidModel, "pads %v for axes %v of input shape %v; want %d values", pads, axes, ins[0], 2*len(axes))
		}
		out := slices.Clone(ins[0])
		for i, a := range axes {
			if a < 0 {
				a += int64(r)
			}
			if a < 0 || a >= int64(r) {
				return s.nodeError(n, ErrInvalidModel, "axis %d for input shape %v", axes[i], ins[0])
			}
			out[a] += pads[i] + pads[i+len(axes)]
		}
		s.set(n, 0, out)
	case "Expand":
		if err := need(2); err != nil {
			return err
		}
		target, ok := s.constInts(n, 1)
		if !ok {
			return s.nodeError(n, ErrUnsupported, "shape input is not a constant")
		}
		out, ok := broadcast(ins[0], target)
		if !ok {
			return s.nodeError(n, ErrInvalidModel, "cannot expand %v to %v", ins[0], target)
		}
		s.set(n, 0, out)
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin":
		if err := need(1); err != nil {
			return err
		}
		var axes []int64
		if op == "ArgMax" || op == "ArgMin" {
			axes = []int64{n.Int("axis", 0)}
		} else if (op == "ReduceSum" && s.opset >= 13) || s.opset >= 18 {
			if len(n.Inputs) > 1 && n.Inputs[1] != "" {
				var ok bool
				if axes, ok = s.constInts(n, 1); !ok {
					return s.nodeError(n, ErrUnsupported, "axes input is not a constant")
				}
			}
		} else {
			axes = n.Ints("axes", nil)
		}
		r := int64(len(ins[0]))
		red := make([]bool, r)
		for _, a := range axes {
			a, ok := normAxis(a, r)
			if !ok {
				return s.nodeError(n, ErrInvalidModel, "axes %v out of range for shape %v", axes, ins[0])
			}
			red[a] = true
		}
		all := len(axes) == 0 && n.Int("noop_with_empty_axes", 0) == 0
		keep := n.Int("keepdims", 1) != 0
		out := []int64{}
		for i, d := range ins[0] {
			switch {
			case !(all || red[i]):
				out = append(out, d)
			case keep:
				out = append(out, 1)
			}
		}
		s.set(n, 0, out)
	default:
		return s.nodeError(n, ErrUnsupported, "no shape rule for this operator")
	}
	return nil
}

func clampIndex(i, r int64) int64 {
	if i < 0 {
		i += r
	}
	return max(0, min(i, r))
}

func matmulShape(a, b []int64) ([]int64, bool) {
	if len(a) == 0 || len(b) == 0 {
		return nil, false
	}
	a1, b1 := len(a) == 1, len(b) == 1
	if a1 {
		a = []int64{1, a[0]}
	}
	if b1 {
		b = []int64{b[0], 1}
	}
	if a[len(a)-1] != b[len(b)-2] {
		return nil, false
	}
	batch, ok := broadcast(a[:len(a)-2], b[:len(b)-2])
	if !ok {
		return nil, false
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if a1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if b1 {
		out = out[:len(out)-1]
	}
	return out, true
}

// reshapeTarget resolves 0 (copy, unless allowzero) and -1 (infer) in a Reshape target.
func reshapeTarget(in, target []int64, allowZero bool) ([]int64, error) {
	out := slices.Clone(target)
	infer := -1
	known := int64(1)
	for i, d := range out {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("target %v copies dimension %d, which the input lacks", target, i)
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("target %v has two -1 entries", target)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("target %v has a negative entry %d", target, d)
		}
		known *= out[i]
	}
	total := prod(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("target %v does not divide %d elements", target, total)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("target %v holds %d elements; the input has %d", target, known, total)
	}
	return out, nil
}

// convPool computes Conv and pooling output shapes.
func (s *shapeState) convPool(n *Node, ins [][]int64, need func(int) error) error {
	k := 1
	if n.Op == "Conv" {
		k = 2
	}
	if err := need(k); err != nil {
		return err
	}
	x := ins[0]
	if len(x) < 3 {
		return s.nodeError(n, ErrInvalidModel, "input %q has shape %v; want rank >= 3 (N, C, spatial...)", n.Inputs[0], x)
	}
	sp := len(x) - 2
	kernel := n.Ints("kernel_shape", nil)
	channels := x[1]
	if n.Op == "Conv" {
		w := ins[1]
		if len(w) != len(x) {
			return s.nodeError(n, ErrInvalidModel, "weight %q has shape %v; want rank %d", n.Inputs[1], w, len(x))
		}
		if kernel == nil {
			kernel = w[2:]
		}
		g := n.Int("group", 1)
		if g <= 0 || x[1] != w[1]*g {
			return s.nodeError(n, ErrInvalidModel, "input %q has %d channels; weight %q %v with group %d wants %d", n.Inputs[0], x[1], n.Inputs[1], w, g, w[1]*g)
		}
		channels = w[0]
	}
	if len(kernel) != sp {
		return s.nodeError(n, ErrInvalidModel, "kernel_shape %v for input shape %v; want %d values", kernel, x, sp)
	}
	strides := n.Ints("strides", nil)
	dil := n.Ints("dilations", nil)
	pads := n.Ints("pads", nil)
	if strides == nil {
		strides = slices.Repeat([]int64{1}, sp)
	}
	if dil == nil {
		dil = slices.Repeat([]int64{1}, sp)
	}
	if pads == nil {
		pads = make([]int64, 2*sp)
	}
	if len(strides) != sp || len(dil) != sp || len(pads) != 2*sp {
		return s.nodeError(n, ErrInvalidModel, "strides %v, dilations %v, pads %v for %d spatial dimensions", strides, dil, pads, sp)
	}
	autoPad := n.String("auto_pad", "NOTSET")
	ceil := n.Int("ceil_mode", 0) != 0
	out := []int64{x[0], channels}
	for i := range sp {
		in, st, ek := x[2+i], strides[i], (kernel[i]-1)*dil[i]+1
		if st <= 0 || kernel[i] <= 0 || dil[i] <= 0 {
			return s.nodeError(n, ErrInvalidModel, "kernel %v, strides %v, dilations %v must be positive", kernel, strides, dil)
		}
		var o int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (in + st - 1) / st
		case "VALID":
			o = (in-ek)/st + 1
		case "NOTSET", "":
			span := in + pads[i] + pads[i+sp] - ek
			if span < 0 {
				return s.nodeError(n, ErrInvalidModel, "kernel %v (dilations %v) is larger than the padded input %v", kernel, dil, x)
			}
			if ceil {
				o = (span+st-1)/st + 1
				// The last window must start inside the input or its left padding.
				if (o-1)*st >= in+pads[i] {
					o--
				}
			} else {
				o = span/st + 1
			}
		default:
			return s.nodeError(n, ErrInvalidModel, "auto_pad %q; want NOTSET, SAME_UPPER, SAME_LOWER or VALID", autoPad)
		}
		if o <= 0 {
			return s.nodeError(n, ErrInvalidModel, "output dimension %d is %d for input %v", i+2, o, x)
		}
		out = append(out, o)
	}
	s.set(n, 0, out)
	if len(n.Outputs) > 1 { // MaxPool indices
		s.set(n, 1, slices.Clone(out))
	}
	return nil
}

// slice computes Slice (attribute form before opset 10, inputs after).
func (s *shapeState) slice(n *Node, ins [][]int64, need func(int) error) error {
	if err := need(1); err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	if s.opset < 10 {
		starts, ends, axes = n.Ints("starts", nil), n.Ints("ends", nil), n.Ints("axes", nil)
	} else {
		var ok1, ok2 bool
		starts, ok1 = s.constInts(n, 1)
		ends, ok2 = s.constInts(n, 2)
		if !ok1 || !ok2 {
			return s.nodeError(n, ErrUnsupported, "starts/ends inputs are not constants")
		}
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			var ok bool
			if axes, ok = s.constInts(n, 3); !ok {
				return s.nodeError(n, ErrUnsupported, "axes input is not a constant")
			}
		}
		if len(n.Inputs) > 4 && n.Inputs[4] != "" {
			var ok bool
			if steps, ok = s.constInts(n, 4); !ok {
				return s.nodeError(n, ErrUnsupported, "steps input is not a constant")
			}
		}
	}
	r := int64(len(ins[0]))
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = slices.Repeat([]int64{1}, len(starts))
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return s.nodeError(n, ErrInvalidModel, "starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	out := slices.Clone(ins[0])
	type rng struct{ start, step, count int64 }
	ranges := make([]rng, r)
	for i := range ranges {
		ranges[i] = rng{0, 1, out[i]}
	}
	for i, a := range axes {
		a, ok := normAxis(a, r)
		if !ok || steps[i] == 0 {
			return s.nodeError(n, ErrInvalidModel, "axis %d or step %d invalid for shape %v", axes[i], steps[i], ins[0])
		}
		d := ins[0][a]
		st, en, step := starts[i], ends[i], steps[i]
		if st < 0 {
			st += d
		}
		if en < 0 {
			en += d
		}
		var cnt int64
		if step > 0 {
			st, en = max(0, min(st, d)), max(0, min(en, d))
			if en > st {
				cnt = (en - st + step - 1) / step
			}
		} else {
			st, en = max(-1, min(st, d-1)), max(-1, min(en, d-1))
			if st > en {
				cnt = (st - en - step - 1) / -step
			}
		}
		out[a] = cnt
		ranges[a] = rng{st, step, cnt}
	}
	s.set(n, 0, out)
	if c, ok := s.consts[n.Inputs[0]]; ok && r == 1 {
		var vi []int64
		var vf []float32
		for j := range ranges[0].count {
			idx := ranges[0].start + j*ranges[0].step
			if c.DType == Int64 {
				vi = append(vi, c.Int64[idx])
			} else {
				vf = append(vf, c.Float32[idx])
			}
		}
		t := &Tensor{DType: c.DType, Dims: out, Int64: vi, Float32: vf}
		if c.DType == Int64 && vi == nil {
			t.Int64 = []int64{}
		}
		if c.DType == Float && vf == nil {
			t.Float32 = []float32{}
		}
		s.setConst(n, 0, t)
	}
	return nil
}

// constantValue decodes a Constant node's value (value, or the opset 12+ scalar/list forms).
func (s *shapeState) constantValue(n *Node) (*Tensor, error) {
	if t := n.Tensor("value"); t != nil {
		c := t.Clone()
		return c, nil
	}
	if a := n.Attr("value_float"); a != nil {
		return NewFloat32("", nil, []float32{a.F}), nil
	}
	if a := n.Attr("value_floats"); a != nil {
		return NewFloat32("", []int64{int64(len(a.Floats))}, slices.Clone(a.Floats)), nil
	}
	if a := n.Attr("value_int"); a != nil {
		return NewInt64("", nil, []int64{a.I}), nil
	}
	if a := n.Attr("value_ints"); a != nil {
		return NewInt64("", []int64{int64(len(a.Ints))}, slices.Clone(a.Ints)), nil
	}
	return nil, s.nodeError(n, ErrUnsupported, "Constant without a value, value_float(s) or value_int(s) attribute")
}

// tooBig reports whether a constant of shape dims would exceed maxConstElements (or has
// negative dimensions), without overflowing.
func tooBig(dims []int64) bool {
	n, err := numElements(dims)
	return err != nil || n > maxConstElements
}

// constReshaped propagates a constant through an op that only changes its shape.
func (s *shapeState) constReshaped(n *Node, out []int64) {
	if c, ok := s.consts[n.Inputs[0]]; ok {
		cc := c.Clone()
		cc.Dims = slices.Clone(out)
		s.setConst(n, 0, cc)
	}
}

// constGather evaluates Gather on a constant.
func (s *shapeState) constGather(n *Node, ax int64, out []int64) {
	c, ok := s.consts[n.Inputs[0]]
	idx, ok2 := s.constInts(n, 1)
	if !ok || !ok2 {
		return
	}
	if c.check() != nil || len(c.Dims) <= int(ax) || tooBig(out) {
		return
	}
	outer, inner := prod(c.Dims[:ax]), prod(c.Dims[ax+1:])
	d := c.Dims[ax]
	t := &Tensor{DType: c.DType, Dims: slices.Clone(out)}
	for o := range outer {
		for _, i := range idx {
			if i < 0 {
				i += d
			}
			if i < 0 || i >= d {
				return
			}
			base := (o*d + i) * inner
			if c.DType == Int64 {
				t.Int64 = append(t.Int64, c.Int64[base:base+inner]...)
			} else {
				t.Float32 = append(t.Float32, c.Float32[base:base+inner]...)
			}
		}
	}
	if t.check() == nil {
		s.setConst(n, 0, t)
	}
}

// constConcat evaluates Concat when every input is constant and of one type.
func (s *shapeState) constConcat(n *Node, ax int64, out []int64) {
	var cs []*Tensor
	for _, name := range n.Inputs {
		c, ok := s.consts[name]
		if !ok || (len(cs) > 0 && c.DType != cs[0].DType) {
			return
		}
		cs = append(cs, c)
	}
	if tooBig(out) {
		return
	}
	outer := prod(out[:ax])
	t := &Tensor{DType: cs[0].DType, Dims: slices.Clone(out)}
	for o := range outer {
		for _, c := range cs {
			chunk := prod(c.Dims[ax:])
			if c.DType == Int64 {
				t.Int64 = append(t.Int64, c.Int64[o*chunk:(o+1)*chunk]...)
			} else {
				t.Float32 = append(t.Float32, c.Float32[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	if t.check() == nil {
		s.setConst(n, 0, t)
	}
}

// constCast converts a constant between int64 and float32.
func (s *shapeState) constCast(n *Node, to DataType) {
	c, ok := s.consts[n.Inputs[0]]
	if !ok {
		return
	}
	t := &Tensor{DType: to, Dims: slices.Clone(c.Dims)}
	switch {
	case to == c.DType:
		t = c.Clone()
	case to == Int64 && c.DType == Float:
		for _, v := range c.Float32 {
			t.Int64 = append(t.Int64, int64(v))
		}
	case to == Float && c.DType == Int64:
		for _, v := range c.Int64 {
			t.Float32 = append(t.Float32, float32(v))
		}
	default:
		return
	}
	if t.check() == nil {
		s.setConst(n, 0, t)
	}
}

// constArith evaluates Add, Sub, Mul and Div on int64 constants of equal size or with a scalar.
func (s *shapeState) constArith(n *Node, out []int64) {
	if len(n.Inputs) != 2 {
		return
	}
	a, ok1 := s.consts[n.Inputs[0]]
	b, ok2 := s.consts[n.Inputs[1]]
	if !ok1 || !ok2 || a.DType != Int64 || b.DType != Int64 {
		return
	}
	if tooBig(out) {
		return
	}
	size := prod(out)
	at := func(t *Tensor, i int64) (int64, bool) {
		switch int64(len(t.Int64)) {
		case size:
			return t.Int64[i], true
		case 1:
			return t.Int64[0], true
		}
		return 0, false
	}
	t := &Tensor{DType: Int64, Dims: slices.Clone(out), Int64: make([]int64, size)}
	for i := range size {
		x, ok1 := at(a, i)
		y, ok2 := at(b, i)
		if !ok1 || !ok2 {
			return
		}
		switch n.Op {
		case "Add":
			t.Int64[i] = x + y
		case "Sub":
			t.Int64[i] = x - y
		case "Mul":
			t.Int64[i] = x * y
		case "Div":
			if y == 0 {
				return
			}
			t.Int64[i] = x / y
		default:
			return
		}
	}
	s.setConst(n, 0, t)
}
