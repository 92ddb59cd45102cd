package onnxio

import (
	"fmt"
	"slices"
)

// Batch sizes at which FoldConstants evaluates a model with a free batch dimension: a value
// that is the same at both does not depend on the batch. They are primes unlikely to coincide
// with a real dimension.
const (
	foldBatchA = 7
	foldBatchB = 11
)

// FoldConstants replaces the parts of the graph that do not depend on the data by initializers:
// Constant nodes, and the INT64 shape computations exporters emit (Shape, Gather, Unsqueeze,
// Squeeze, Concat, Cast, Slice, arithmetic) wherever their value does not depend on the batch
// size. A Reshape whose target does depend on the batch (PyTorch's Concat(Shape(x)[0], -1))
// gets a static target that copies the batch dimension with 0 instead. Nodes and initializers
// left without consumers are removed. Float computations are left alone, so Params keeps its
// tensors and names. The model computes the same values afterwards.
func FoldConstants(m *Model) error {
	batches := []int{0}
	if FreeBatch(m) {
		batches = []int{foldBatchA, foldBatchB}
	}
	var states []*shapeState
	for _, b := range batches {
		s, err := inferShapes(m, b)
		if err != nil {
			return fmt.Errorf("onnxio: fold constants: %w", err)
		}
		states = append(states, s)
	}
	s := states[0]
	// stable reports whether name has the same constant value at every batch size.
	stable := func(name string) (*Tensor, bool) {
		c, ok := s.consts[name]
		if !ok {
			return nil, false
		}
		for _, o := range states[1:] {
			d, ok := o.consts[name]
			if !ok || !slices.Equal(c.Dims, d.Dims) || !slices.Equal(c.Int64, d.Int64) || !slices.Equal(c.Float32, d.Float32) {
				return nil, false
			}
		}
		return c, true
	}
	isOutput := map[string]bool{}
	for _, o := range m.Graph.Outputs {
		isOutput[o.Name] = true
	}
	names := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		names[t.Name] = true
	}
	for _, v := range m.Graph.Inputs {
		names[v.Name] = true
	}
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			names[o] = true
		}
	}
	var keep []*Node
	var added []*Tensor
	read := map[string]bool{} // inputs of nodes that go away
	for _, n := range m.Graph.Nodes {
		folded := foldNode(n, s, stable, isOutput)
		if folded != nil {
			added = append(added, folded...)
			for _, in := range n.Inputs {
				read[in] = true
			}
			continue
		}
		if n.Op == "Reshape" && len(n.Inputs) == 2 {
			if t := staticReshapeTarget(n, states); t != nil {
				name := n.Inputs[1] + "_static"
				for i := 2; names[name]; i++ {
					name = fmt.Sprintf("%s_static%d", n.Inputs[1], i)
				}
				names[name] = true
				t.Name = name
				added = append(added, t)
				read[n.Inputs[1]] = true
				n.Inputs[1] = name
				n.Attrs = slices.DeleteFunc(n.Attrs, func(a *Attribute) bool { return a.Name == "allowzero" })
			}
		}
		keep = append(keep, n)
	}
	m.Graph.Nodes = keep
	m.Graph.Initializers = append(m.Graph.Initializers, added...)
	removeDead(m.Graph, read)
	return nil
}

// foldNode returns the initializers that replace n, or nil when n stays.
func foldNode(n *Node, s *shapeState, stable func(string) (*Tensor, bool), isOutput map[string]bool) []*Tensor {
	if (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Outputs) == 0 {
		return nil
	}
	var ts []*Tensor
	for _, o := range n.Outputs {
		if o == "" || isOutput[o] {
			return nil
		}
		if n.Op == "Constant" {
			t, err := s.constantValue(n)
			if err != nil {
				return nil
			}
			t.Name = o
			ts = append(ts, t)
			continue
		}
		c, ok := stable(o)
		if !ok || c.DType != Int64 {
			return nil
		}
		t := c.Clone()
		t.Name = o
		t.pb = nil
		ts = append(ts, t)
	}
	return ts
}

// staticReshapeTarget returns a constant target for a Reshape whose target depends on the batch
// size, or nil. Entries that track the data's own dimension become 0 (copy), one other varying
// entry may become -1; the result must give the same output shape at every batch size.
func staticReshapeTarget(n *Node, states []*shapeState) *Tensor {
	if len(states) < 2 {
		return nil
	}
	var targets, datas, outs [][]int64
	for _, s := range states {
		t, ok := s.consts[n.Inputs[1]]
		if !ok || t.DType != Int64 {
			return nil
		}
		targets = append(targets, t.Int64)
		datas = append(datas, s.shapes[n.Inputs[0]])
		outs = append(outs, s.shapes[n.Outputs[0]])
	}
	if slices.Equal(targets[0], targets[1]) {
		return nil // constant already: folded with the other shape computations
	}
	allowZero := n.Int("allowzero", 0) != 0
	t0 := targets[0]
	out := make([]int64, len(t0))
	inferred := false
	for i := range t0 {
		same := true
		for _, t := range targets[1:] {
			if len(t) != len(t0) {
				return nil
			}
			same = same && t[i] == t0[i]
		}
		switch {
		case same && t0[i] == 0 && allowZero:
			return nil // a literal zero cannot survive dropping allowzero
		case same:
			out[i] = t0[i]
		default:
			tracks := true
			for k, t := range targets {
				tracks = tracks && i < len(datas[k]) && t[i] == datas[k][i]
			}
			switch {
			case tracks:
				out[i] = 0
			case !inferred:
				out[i], inferred = -1, true
			default:
				return nil
			}
		}
	}
	if slices.Contains(t0, -1) && inferred {
		return nil
	}
	for k := range states {
		got, err := reshapeTarget(datas[k], out, false)
		if err != nil || !slices.Equal(got, outs[k]) {
			return nil
		}
	}
	return NewInt64("", []int64{int64(len(out))}, out)
}

// removeDead drops nodes none of whose outputs is used, then the initializers that only
// removed nodes read (read holds the inputs of nodes already taken out; initializers listed as
// graph inputs stay: they are part of the model's interface) and the value infos of values
// that no longer exist.
func removeDead(g *Graph, read map[string]bool) {
	for {
		used := map[string]bool{}
		for _, n := range g.Nodes {
			for _, in := range n.Inputs {
				used[in] = true
			}
		}
		for _, o := range g.Outputs {
			used[o.Name] = true
		}
		before := len(g.Nodes)
		g.Nodes = slices.DeleteFunc(g.Nodes, func(n *Node) bool {
			if n.Domain != "" && n.Domain != "ai.onnx" || len(n.Outputs) == 0 {
				return false
			}
			for _, o := range n.Outputs {
				if o != "" && used[o] {
					return false
				}
			}
			for _, in := range n.Inputs {
				read[in] = true
			}
			return true
		})
		if len(g.Nodes) < before {
			continue
		}
		defined := map[string]bool{}
		for _, v := range g.Inputs {
			defined[v.Name] = true
		}
		g.Initializers = slices.DeleteFunc(g.Initializers, func(t *Tensor) bool {
			return read[t.Name] && !used[t.Name] && !defined[t.Name]
		})
		for _, t := range g.Initializers {
			defined[t.Name] = true
		}
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				defined[o] = true
			}
		}
		g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *ValueInfo) bool { return !defined[v.Name] })
		return
	}
}
