package onnxio

import (
	"container/heap"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
)

// Opset is one operator-set import: a domain ("" is the default ONNX domain) and its version.
type Opset struct {
	Domain  string
	Version int64
}

// Metadata is one metadata_props entry of a model.
type Metadata struct {
	Key, Value string
}

// Meta returns the value of metadata key, and whether the model has it.
func (m *Model) Meta(key string) (string, bool) {
	for _, kv := range m.Metadata {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// SetMeta sets metadata key to value, replacing an existing entry.
func (m *Model) SetMeta(key, value string) {
	for i, kv := range m.Metadata {
		if kv.Key == key {
			m.Metadata[i].Value = value
			return
		}
	}
	m.Metadata = append(m.Metadata, Metadata{Key: key, Value: value})
}

// Model is a decoded ONNX model. Fields are the parts uqnn reads or changes; everything else in
// the file (training info, functions, fields of newer IR versions) is kept in the underlying
// proto and written back unchanged by Encode.
type Model struct {
	IRVersion       int64
	Producer        string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	Doc             string
	Opsets          []Opset
	Metadata        []Metadata
	Graph           *Graph

	pb       *onnxpb.ModelProto // unmodelled fields only
	extFiles []string           // external data files read by Load, in first-use order
}

// ExternalFiles returns the external data files the model was loaded from (absolute, symlinks
// resolved), in first-use order; nil for a self-contained model.
func (m *Model) ExternalFiles() []string { return slices.Clone(m.extFiles) }

// Opset returns the version imported for domain ("" and "ai.onnx" both mean the default
// domain), or 0 when the domain is not imported.
func (m *Model) Opset(domain string) int64 {
	for _, o := range m.Opsets {
		if normDomain(o.Domain) == normDomain(domain) {
			return o.Version
		}
	}
	return 0
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// Initializer returns the graph initializer called name, or nil.
func (m *Model) Initializer(name string) *Tensor { return m.Graph.Initializer(name) }

// Params returns the float initializers, in graph order: the learnable weights. The tensors are
// the model's own; changing their data changes the model.
func (m *Model) Params() []*Tensor {
	var ps []*Tensor
	for _, t := range m.Graph.Initializers {
		if t.DType == Float {
			ps = append(ps, t)
		}
	}
	return ps
}

// SetFloat32 replaces the data of the float initializer called name by a copy of data, which
// must have the same number of elements.
func (m *Model) SetFloat32(name string, data []float32) error {
	t := m.Initializer(name)
	if t == nil {
		return fmt.Errorf("onnxio: SetFloat32: no initializer %q", name)
	}
	if t.DType != Float {
		return fmt.Errorf("onnxio: SetFloat32: initializer %q is %v; want float32", name, t.DType)
	}
	if int64(len(data)) != t.NumElements() {
		return fmt.Errorf("onnxio: SetFloat32: initializer %q has dims %v (%d values); got %d values", name, t.Dims, t.NumElements(), len(data))
	}
	t.Float32 = slices.Clone(data)
	return nil
}

// Clone returns a deep copy of the model.
func (m *Model) Clone() *Model {
	c := *m
	c.Opsets = slices.Clone(m.Opsets)
	c.Metadata = slices.Clone(m.Metadata)
	c.Graph = m.Graph.Clone()
	if m.pb != nil {
		c.pb = proto.Clone(m.pb).(*onnxpb.ModelProto)
	}
	return &c
}

// Graph is the model's main graph.
type Graph struct {
	Name         string
	Doc          string
	Nodes        []*Node // topological order (Decode sorts; file order where the file was sorted)
	Inputs       []*ValueInfo
	Outputs      []*ValueInfo
	Initializers []*Tensor // may also be listed in Inputs (IR < 4 exporters such as CNTK)
	ValueInfo    []*ValueInfo

	pb *onnxpb.GraphProto // unmodelled fields only
}

// Initializer returns the initializer called name, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	for _, t := range g.Initializers {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// DataInputs returns the graph inputs that are not initializers: what a caller must feed.
func (g *Graph) DataInputs() []*ValueInfo {
	init := make(map[string]bool, len(g.Initializers))
	for _, t := range g.Initializers {
		init[t.Name] = true
	}
	var in []*ValueInfo
	for _, v := range g.Inputs {
		if !init[v.Name] {
			in = append(in, v)
		}
	}
	return in
}

// Producer returns the node whose outputs include name, or nil.
func (g *Graph) Producer(name string) *Node {
	for _, n := range g.Nodes {
		if slices.Contains(n.Outputs, name) {
			return n
		}
	}
	return nil
}

// Consumers returns the nodes that read name, in graph order.
func (g *Graph) Consumers(name string) []*Node {
	var ns []*Node
	for _, n := range g.Nodes {
		if slices.Contains(n.Inputs, name) {
			ns = append(ns, n)
		}
	}
	return ns
}

// TopoOrder returns the nodes in an order where each node comes after the producers of its
// inputs, keeping file order where the file already respects that. It fails with
// ErrInvalidModel when an input is defined nowhere or the nodes form a cycle.
func (g *Graph) TopoOrder() ([]*Node, error) {
	defined := make(map[string]bool, len(g.Inputs)+len(g.Initializers))
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for _, t := range g.Initializers {
		defined[t.Name] = true
	}
	if g.pb != nil {
		for _, sp := range g.pb.GetSparseInitializer() { // kept as they are, but they define values
			defined[sp.GetValues().GetName()] = true
		}
	}
	produced := make(map[string]bool)
	for _, n := range g.Nodes {
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if produced[out] || defined[out] {
				return nil, fmt.Errorf("node %q (%s): output %q is already defined (ONNX values have one producer): %w", n.Name, n.Op, out, ErrInvalidModel)
			}
			produced[out] = true
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" && !defined[in] && !produced[in] {
				return nil, fmt.Errorf("node %q (%s): input %q is not a graph input, an initializer or a node output: %w", n.Name, n.Op, in, ErrInvalidModel)
			}
		}
	}
	for _, v := range g.Outputs {
		if !defined[v.Name] && !produced[v.Name] {
			return nil, fmt.Errorf("graph output %q is not produced by any node: %w", v.Name, ErrInvalidModel)
		}
	}
	// Kahn's algorithm; the ready set is a min-heap of file positions so that a file already in
	// order comes back unchanged.
	waiting := make([]int, len(g.Nodes)) // inputs not yet defined, per node
	users := make(map[string][]int)      // value name -> nodes waiting for it
	ready := &intHeap{}
	for i, n := range g.Nodes {
		seen := make(map[string]bool, len(n.Inputs))
		for _, in := range n.Inputs {
			if in != "" && !defined[in] && !seen[in] {
				seen[in] = true
				waiting[i]++
				users[in] = append(users[in], i)
			}
		}
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		n := g.Nodes[i]
		order = append(order, n)
		for _, out := range n.Outputs {
			if defined[out] {
				continue
			}
			defined[out] = true
			for _, u := range users[out] {
				if waiting[u]--; waiting[u] == 0 {
					heap.Push(ready, u)
				}
			}
		}
	}
	if len(order) < len(g.Nodes) {
		for i, n := range g.Nodes {
			if waiting[i] > 0 {
				return nil, fmt.Errorf("node %q (%s): its inputs depend on its own outputs (cycle): %w", n.Name, n.Op, ErrInvalidModel)
			}
		}
	}
	return order, nil
}

// Clone returns a deep copy.
func (g *Graph) Clone() *Graph {
	if g == nil {
		return nil
	}
	c := *g
	c.Nodes = make([]*Node, len(g.Nodes))
	for i, n := range g.Nodes {
		c.Nodes[i] = n.Clone()
	}
	c.Inputs = cloneValueInfos(g.Inputs)
	c.Outputs = cloneValueInfos(g.Outputs)
	c.ValueInfo = cloneValueInfos(g.ValueInfo)
	c.Initializers = make([]*Tensor, len(g.Initializers))
	for i, t := range g.Initializers {
		c.Initializers[i] = t.Clone()
	}
	if g.pb != nil {
		c.pb = proto.Clone(g.pb).(*onnxpb.GraphProto)
	}
	return &c
}

// Dim is one dimension of a declared shape: Value >= 0 when known, else -1 with the symbolic
// name in Param (which may be empty).
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a declared graph input, output or intermediate value.
type ValueInfo struct {
	Name string
	// Tensor is false for non-tensor types (sequences, maps), which are kept as they are.
	Tensor bool
	DType  DataType
	// Shape is nil with ShapeKnown false when the rank is not declared.
	Shape      []Dim
	ShapeKnown bool
	Doc        string

	pb        *onnxpb.ValueInfoProto
	origDType DataType
	origShape []Dim
	origKnown bool
}

// Dims returns the shape with unknown dimensions as -1.
func (v *ValueInfo) Dims() []int64 {
	d := make([]int64, len(v.Shape))
	for i, s := range v.Shape {
		d[i] = s.Value
	}
	return d
}

// Clone returns a deep copy.
func (v *ValueInfo) Clone() *ValueInfo {
	c := *v
	c.Shape = slices.Clone(v.Shape)
	c.origShape = slices.Clone(v.origShape)
	if v.pb != nil {
		c.pb = proto.Clone(v.pb).(*onnxpb.ValueInfoProto)
	}
	return &c
}

func cloneValueInfos(vs []*ValueInfo) []*ValueInfo {
	if vs == nil {
		return nil
	}
	c := make([]*ValueInfo, len(vs))
	for i, v := range vs {
		c[i] = v.Clone()
	}
	return c
}

// Node is one operator application.
type Node struct {
	Name    string
	Op      string
	Domain  string
	Doc     string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   []*Attribute

	pb *onnxpb.NodeProto // unmodelled fields only
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	c := *n
	c.Inputs = slices.Clone(n.Inputs)
	c.Outputs = slices.Clone(n.Outputs)
	c.Attrs = make([]*Attribute, len(n.Attrs))
	for i, a := range n.Attrs {
		c.Attrs[i] = a.Clone()
	}
	if n.pb != nil {
		c.pb = proto.Clone(n.pb).(*onnxpb.NodeProto)
	}
	return &c
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *Attribute {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Int returns the INT attribute name, or def when absent or of another type.
func (n *Node) Int(name string, def int64) int64 {
	if a := n.Attr(name); a != nil && a.Type == AttrInt {
		return a.I
	}
	return def
}

// Ints returns the INTS attribute name, or def when absent or of another type.
func (n *Node) Ints(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil && a.Type == AttrInts {
		return a.Ints
	}
	return def
}

// Float returns the FLOAT attribute name, or def when absent or of another type.
func (n *Node) Float(name string, def float32) float32 {
	if a := n.Attr(name); a != nil && a.Type == AttrFloat {
		return a.F
	}
	return def
}

// Floats returns the FLOATS attribute name, or def when absent or of another type.
func (n *Node) Floats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil && a.Type == AttrFloats {
		return a.Floats
	}
	return def
}

// String returns the STRING attribute name, or def when absent or of another type.
func (n *Node) String(name string, def string) string {
	if a := n.Attr(name); a != nil && a.Type == AttrString {
		return string(a.S)
	}
	return def
}

// Tensor returns the TENSOR attribute name, or nil.
func (n *Node) Tensor(name string) *Tensor {
	if a := n.Attr(name); a != nil && a.Type == AttrTensor {
		return a.T
	}
	return nil
}

// SetAttr adds a, replacing any attribute of the same name.
func (n *Node) SetAttr(a *Attribute) {
	for i, b := range n.Attrs {
		if b.Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// AttrType is an attribute's type; the values are ONNX's AttributeProto.AttributeType.
type AttrType int32

// Attribute types.
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
)

// Attribute is one node attribute. The value sits in the field its Type names; graph-valued
// and other rarely used kinds stay in the underlying proto and are written back unchanged.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings [][]byte

	pb *onnxpb.AttributeProto // unmodelled fields only
}

// IntAttr, IntsAttr, FloatAttr and StringAttr build attributes for SetAttr.
func IntAttr(name string, v int64) *Attribute { return &Attribute{Name: name, Type: AttrInt, I: v} }

// IntsAttr builds an INTS attribute.
func IntsAttr(name string, v []int64) *Attribute {
	return &Attribute{Name: name, Type: AttrInts, Ints: slices.Clone(v)}
}

// FloatAttr builds a FLOAT attribute.
func FloatAttr(name string, v float32) *Attribute {
	return &Attribute{Name: name, Type: AttrFloat, F: v}
}

// StringAttr builds a STRING attribute.
func StringAttr(name, v string) *Attribute {
	return &Attribute{Name: name, Type: AttrString, S: []byte(v)}
}

// TensorAttr builds a TENSOR attribute.
func TensorAttr(name string, t *Tensor) *Attribute {
	return &Attribute{Name: name, Type: AttrTensor, T: t}
}

// Clone returns a deep copy.
func (a *Attribute) Clone() *Attribute {
	c := *a
	c.S = slices.Clone(a.S)
	c.T = a.T.Clone()
	c.Floats = slices.Clone(a.Floats)
	c.Ints = slices.Clone(a.Ints)
	c.Strings = make([][]byte, len(a.Strings))
	for i, s := range a.Strings {
		c.Strings[i] = slices.Clone(s)
	}
	if a.Strings == nil {
		c.Strings = nil
	}
	if a.pb != nil {
		c.pb = proto.Clone(a.pb).(*onnxpb.AttributeProto)
	}
	return &c
}

// intHeap is a min-heap of ints for container/heap.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
