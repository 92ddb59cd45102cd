package nn

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/onnxio"
)

// builder turns IR nodes into Gorgonia nodes.
type builder struct {
	m          *onnxio.Model
	cfg        Config
	dt         tensor.Dtype
	g          *G.ExprGraph
	env        map[string]*G.Node        // ONNX value name → node
	consts     map[string]*onnxio.Tensor // constant tensors known at build time (initializers, folded)
	params     map[string]*Param
	order      []*Param
	shared     map[string]*tensor.Dense
	isParam    map[string]bool
	modelBatch int             // the model's own batch dimension, or -1 when free
	noGrad     map[string]bool // memo of dataOnly
	// reluBeforePool maps the output of a Relu whose only reader is a MaxPool to the Relu's
	// input: the MaxPool node builds max-pool then ReLU (see poolFirst).
	reluBeforePool map[string]*G.Node
	// fused marks Add nodes already built as the bias of the Conv or MatMul before them.
	fused map[*onnxio.Node]bool
	// fromInput memoizes which values depend on the data input (see weight).
	fromInput map[string]bool
	svd       []*VarLayer // Config.Variational's layers, in graph order
	noise     *noiseCtl   // the variational layers' noise switch and seed
	spans     int         // noise spans of the variational layers so far
}

// constInputs lists, per op, the input positions that are constants rather than parameters.
var constInputs = map[string][]int{
	"Reshape":            {1},
	"BatchNormalization": {3, 4},
	"Clip":               {1, 2},
	"Pad":                {1, 2, 3},
}

// elementwise ops whose single-element float initializer operands are constants, not weights.
var elementwise = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Sum": true, "Mean": true}

// Build builds the Net for m. m is not changed: the graph is built from a copy whose shape
// sub-graphs are folded to constants.
func Build(m *onnxio.Model, cfg Config) (*Net, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("nn: %w: model has no graph", onnxio.ErrInvalidModel)
	}
	work := m.Clone()
	if err := onnxio.FoldConstants(work); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	return build(work, cfg, nil)
}

func build(m *onnxio.Model, cfg Config, shared map[string]*tensor.Dense) (*Net, error) {
	if cfg.Batch <= 0 {
		return nil, fmt.Errorf("nn: batch size %d; want a positive number", cfg.Batch)
	}
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("nn: %w: model has no graph", onnxio.ErrInvalidModel)
	}
	b := &builder{
		m: m, cfg: cfg, dt: tensor.Float32, g: G.NewGraph(),
		env: map[string]*G.Node{}, consts: map[string]*onnxio.Tensor{},
		params: map[string]*Param{}, shared: shared, isParam: map[string]bool{}, noGrad: map[string]bool{},
		reluBeforePool: map[string]*G.Node{}, fused: map[*onnxio.Node]bool{},
	}
	if cfg.Float64 {
		b.dt = tensor.Float64
	}
	nodes, err := m.Graph.TopoOrder()
	if err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	for _, t := range m.Graph.Initializers {
		b.consts[t.Name] = t
	}
	b.classifyParams(nodes)

	// The input.
	ins := m.Graph.DataInputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("nn: %w: model has %d data inputs; want 1 image input", onnxio.ErrUnsupported, len(ins))
	}
	in := ins[0]
	dims := in.Dims()
	if len(dims) < 2 {
		return nil, fmt.Errorf("nn: %w: input %q has shape %v; want a batch dimension and at least one more", onnxio.ErrUnsupported, in.Name, dims)
	}
	b.modelBatch = int(dims[0])
	inShape := []int{cfg.Batch}
	for i, d := range dims[1:] {
		if d <= 0 {
			return nil, fmt.Errorf("nn: %w: input %q has shape %v: dimension %d is not fixed", onnxio.ErrUnsupported, in.Name, dims, i+1)
		}
		inShape = append(inShape, int(d))
	}
	inData := tensor.New(tensor.Of(b.dt), tensor.WithShape(inShape...))
	x := G.NewTensor(b.g, b.dt, len(inShape), G.WithShape(inShape...), G.WithName("input:"+in.Name), G.WithValue(inData))
	b.env[in.Name] = x

	// The output: a final Softmax is left out so the Net ends at logits.
	if len(m.Graph.Outputs) == 0 {
		return nil, fmt.Errorf("nn: %w: model has no outputs", onnxio.ErrInvalidModel)
	}
	outName := m.Graph.Outputs[0].Name
	isProb := false
	if name, skip := finalSoftmax(m.Graph, outName); skip != nil {
		outName, isProb = name, true
		nodes = slices.DeleteFunc(slices.Clone(nodes), func(n *onnxio.Node) bool { return slices.Contains(skip, n) })
	}
	for _, n := range nodes {
		if err := b.node(n); err != nil {
			return nil, err
		}
	}
	logits, ok := b.env[outName]
	if !ok {
		return nil, fmt.Errorf("nn: %w: output %q is not computed from the input", onnxio.ErrUnsupported, outName)
	}
	if s := logits.Shape(); len(s) != 2 {
		if len(s) < 2 || s.TotalSize() != s[0]*s[1] {
			return nil, fmt.Errorf("nn: %w: output %q has shape %v; want [batch, classes]", onnxio.ErrUnsupported, outName, s)
		}
		if logits, err = G.Reshape(logits, tensor.Shape{s[0], s[1]}); err != nil {
			return nil, fmt.Errorf("nn: output %q: %w", outName, err)
		}
	}
	if logits.Shape()[0] != cfg.Batch {
		return nil, fmt.Errorf("nn: %w: output %q has shape %v; want batch %d first", onnxio.ErrUnsupported, outName, logits.Shape(), cfg.Batch)
	}

	slices.SortStableFunc(b.order, func(p, q *Param) int { return b.initIndex(p.Name) - b.initIndex(q.Name) })
	net := &Net{
		model: m, cfg: cfg, dt: b.dt, g: b.g, input: x, inData: inData, inShape: inShape,
		logits: logits, labels: make([]int, cfg.Batch), params: b.order, byName: b.params,
		isProb: isProb, classes: logits.Shape()[1], svd: b.svd, noise: b.noise,
	}
	if net.loss, err = crossEntropy(logits, &net.labels); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	wrt := make(G.Nodes, len(b.order))
	for i, p := range b.order {
		wrt[i] = p.Node
	}
	roots := G.Nodes{net.loss}
	if len(wrt) > 0 {
		grads, err := G.Grad(net.loss, wrt...)
		if err != nil {
			return nil, fmt.Errorf("nn: gradients: %w", err)
		}
		for i, p := range b.order {
			p.grad = grads[i]
		}
		roots = append(roots, grads...)
	}
	net.fwdVM = G.NewTapeMachine(b.g.SubgraphRoots(logits))
	// Only what the loss and the parameter gradients need: Grad also adds the gradients of
	// inputs no parameter depends on (the data batch of a first Dense layer: one more GEMM of
	// the layer's size per step), which nothing reads.
	net.trainG = b.g.SubgraphRoots(roots...)
	net.trainVM = G.NewTapeMachine(net.trainG)
	return net, nil
}

// classifyParams marks the float initializers that are weights: those a node reads at a
// position that is not a constant one (shape targets, BatchNorm statistics), except
// single-element operands of elementwise arithmetic.
func (b *builder) classifyParams(nodes []*onnxio.Node) {
	for _, n := range nodes {
		for i, name := range n.Inputs {
			t := b.m.Graph.Initializer(name)
			if t == nil || t.DType != onnxio.Float || slices.Contains(constInputs[n.Op], i) {
				continue
			}
			if elementwise[n.Op] && t.NumElements() <= 1 {
				continue
			}
			b.isParam[name] = true
		}
	}
}

// value returns the node for an ONNX value name: a computed value, a parameter or a constant.
func (b *builder) value(n *onnxio.Node, i int) (*G.Node, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "input %d is missing", i)
	}
	name := n.Inputs[i]
	if v, ok := b.env[name]; ok {
		return v, nil
	}
	t, ok := b.consts[name]
	if !ok {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "input %q is not computed before this node", name)
	}
	if t.DType != onnxio.Float {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input %q has dtype %v; want float32", name, t.DType)
	}
	shape := make([]int, len(t.Dims))
	size := 1
	for j, d := range t.Dims {
		shape[j] = int(d)
		size *= int(d)
	}
	if len(shape) == 0 {
		shape = []int{1}
	}
	if size != len(t.Float32) || size == 0 {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "initializer %q has dims %v but %d values", name, t.Dims, len(t.Float32))
	}
	if b.isParam[name] {
		val := b.shared[name]
		if val == nil {
			val = b.dense(t.Float32, shape)
		}
		node := G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(val))
		p := &Param{Name: name, Node: node, Shape: shape, value: val}
		b.params[name] = p
		b.order = append(b.order, p)
		b.env[name] = node
		return node, nil
	}
	node := G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName("const:"+name), G.WithValue(b.dense(t.Float32, shape)))
	b.env[name] = node
	return node, nil
}

// constNode adds an unnamed constant of the given shape.
func (b *builder) constNode(name string, data []float32, shape ...int) *G.Node {
	return G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(b.dense(data, shape)))
}

func (b *builder) dense(data []float32, shape []int) *tensor.Dense {
	if b.dt == tensor.Float64 {
		d := make([]float64, len(data))
		for i, v := range data {
			d[i] = float64(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(data)))
}

// constInts reads input i as an integer constant (an INT64 or INT32 initializer or folded value).
func (b *builder) constInts(n *onnxio.Node, i int) ([]int64, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "input %d is missing", i)
	}
	t, ok := b.consts[n.Inputs[i]]
	if !ok {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input %q is computed at run time; want a constant (fold shape sub-graphs first)", n.Inputs[i])
	}
	switch t.DType {
	case onnxio.Int64:
		return t.Int64, nil
	case onnxio.Float:
		out := make([]int64, len(t.Float32))
		for j, v := range t.Float32 {
			out[j] = int64(v)
		}
		return out, nil
	}
	return nil, b.errorf(n, onnxio.ErrUnsupported, "input %q has dtype %v; want int64", n.Inputs[i], t.DType)
}

// constFloats reads input i as a float constant.
func (b *builder) constFloats(n *onnxio.Node, i int) ([]float32, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "input %d is missing", i)
	}
	t, ok := b.consts[n.Inputs[i]]
	if !ok || t.DType != onnxio.Float {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input %q: want a float32 constant", n.Inputs[i])
	}
	return t.Float32, nil
}

func (b *builder) opset(n *onnxio.Node) int64 {
	return b.m.Opset(n.Domain)
}

// errorf formats an error naming the node, op and opset.
func (b *builder) errorf(n *onnxio.Node, sentinel error, format string, a ...any) error {
	return fmt.Errorf("nn: node %q (%s, opset %d): %s: %w", n.Name, n.Op, b.opset(n), fmt.Sprintf(format, a...), sentinel)
}

// set records the node's first output.
func (b *builder) set(n *onnxio.Node, v *G.Node) error {
	if len(n.Outputs) == 0 {
		return b.errorf(n, onnxio.ErrInvalidModel, "node has no outputs")
	}
	b.env[n.Outputs[0]] = v
	return nil
}

// finalSoftmax finds a Softmax over the last axis that ends the graph (possibly followed by
// Identity nodes): it returns the Softmax's input and the nodes to leave out, or nil.
func finalSoftmax(g *onnxio.Graph, out string) (string, []*onnxio.Node) {
	var skip []*onnxio.Node
	for {
		p := g.Producer(out)
		if p == nil || len(g.Consumers(out)) != 0 && len(skip) == 0 {
			return "", nil
		}
		if len(skip) > 0 && len(g.Consumers(out)) != 1 {
			return "", nil
		}
		skip = append(skip, p)
		switch p.Op {
		case "Identity":
			if len(p.Inputs) == 0 {
				return "", nil
			}
			out = p.Inputs[0]
		case "Softmax":
			if len(p.Inputs) == 0 {
				return "", nil
			}
			axis := p.Int("axis", -1)
			if axis != -1 && axis != 1 {
				return "", nil
			}
			return p.Inputs[0], skip
		default:
			return "", nil
		}
	}
}

// initIndex is the position of initializer name in the model.
func (b *builder) initIndex(name string) int {
	return slices.IndexFunc(b.m.Graph.Initializers, func(t *onnxio.Tensor) bool { return t.Name == name })
}

// dataOnly reports whether the value called name depends on the input and constants only (no
// parameter), so no gradient has to flow into it.
func (b *builder) dataOnly(name string) bool {
	if v, ok := b.noGrad[name]; ok {
		return v
	}
	b.noGrad[name] = false // cycles (invalid graphs) count as needing gradients
	v := true
	if b.isParam[name] {
		v = false
	} else if p := b.m.Graph.Producer(name); p != nil {
		for _, in := range p.Inputs {
			if in != "" && !b.dataOnly(in) {
				v = false
				break
			}
		}
	}
	b.noGrad[name] = v
	return v
}
