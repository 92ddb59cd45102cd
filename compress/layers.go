package compress

import (
	"fmt"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// Layer is one prunable weight tensor of a model: the W operand of a Conv, or the weight operand
// (B) of a Gemm or MatMul, held in a float initializer. Biases, BatchNorm parameters and
// statistics, and elementwise operands are not layers.
type Layer struct {
	// Name is the node's name, or the weight's initializer name when the node has none.
	Name string `json:"name"`
	// Op is Conv, Gemm or MatMul.
	Op string `json:"op"`
	// Weight is the initializer holding the weights. For exporters that reshape a stored
	// weight before use (CNTK's MatMul operand is Reshape(Parameter, shape)), it is the stored
	// initializer, and Shape is its stored shape.
	Weight string  `json:"weight"`
	Shape  []int64 `json:"shape"`
	// Params is the number of weights (the product of Shape).
	Params int64 `json:"params"`
	// FanIn is the number of inputs each output unit sums: C/group·kh·kw for a Conv, the
	// input width for Gemm and MatMul.
	FanIn int64 `json:"fan_in"`
	// Units is the number of filters (Conv) or output columns (Gemm, MatMul).
	Units int64 `json:"units"`
	// Positions is the number of output positions per image each weight is used at: H·W of
	// the Conv's output; 1 for Gemm and MatMul.
	Positions int64 `json:"positions"`
	// MACs is the number of multiply-adds per image with every weight present:
	// Params·Positions (for a Conv, fan-in × filters × output positions).
	MACs int64 `json:"macs"`
}

// Layers returns the prunable layers of m in graph order. Shapes come from onnxio.InferShapes
// (at batch 1 for a free batch dimension). A weight operand that is not an initializer (nor a
// Reshape of one) is not a layer; an initializer used as the weight of two nodes is an error
// wrapping onnxio.ErrUnsupported, since pruning it for one would prune it for both.
func Layers(m *onnxio.Model) ([]Layer, error) {
	shapes, err := inferShapes(m)
	if err != nil {
		return nil, err
	}
	var ls []Layer
	seen := map[string]string{}
	for _, n := range m.Graph.Nodes {
		wi := weightInput(n)
		if wi < 0 {
			continue
		}
		w, _ := resolveWeight(m.Graph, n.Inputs[wi])
		if w == nil {
			continue
		}
		if other, ok := seen[w.Name]; ok {
			return nil, fmt.Errorf("compress: initializer %q is the weight of nodes %q and %q; want one node per weight: %w", w.Name, other, n.Name, onnxio.ErrUnsupported)
		}
		seen[w.Name] = n.Name
		l := Layer{Name: n.Name, Op: n.Op, Weight: w.Name, Shape: slices.Clone(w.Dims), Params: w.NumElements(), Positions: 1}
		if l.Name == "" {
			l.Name = w.Name
		}
		used := shapes[n.Inputs[wi]] // the weight as the node sees it
		switch n.Op {
		case "Conv":
			if len(used) < 3 {
				return nil, fmt.Errorf("compress: node %q (Conv): weight %q has shape %v; want [filters, channels/group, kernel...]: %w", n.Name, w.Name, used, onnxio.ErrInvalidModel)
			}
			l.Units = used[0]
			l.FanIn = prod(used[1:])
			out := shapes[n.Outputs[0]]
			if len(out) < 3 {
				return nil, fmt.Errorf("compress: node %q (Conv): output %q has shape %v; want [N, filters, spatial...]: %w", n.Name, n.Outputs[0], out, onnxio.ErrInvalidModel)
			}
			l.Positions = prod(out[2:])
		case "Gemm":
			if len(used) != 2 {
				return nil, fmt.Errorf("compress: node %q (Gemm): weight %q has shape %v; want rank 2: %w", n.Name, w.Name, used, onnxio.ErrInvalidModel)
			}
			if n.Int("transB", 0) != 0 {
				l.Units, l.FanIn = used[0], used[1]
			} else {
				l.FanIn, l.Units = used[0], used[1]
			}
		case "MatMul":
			if len(used) != 2 {
				return nil, fmt.Errorf("compress: node %q (MatMul): weight %q has shape %v; want rank 2: %w", n.Name, w.Name, used, onnxio.ErrUnsupported)
			}
			l.FanIn, l.Units = used[0], used[1]
		}
		l.MACs = l.Params * l.Positions
		ls = append(ls, l)
	}
	return ls, nil
}

// weightInput is the index of n's weight operand, or -1 when n has none.
func weightInput(n *onnxio.Node) int {
	switch n.Op {
	case "Conv", "Gemm", "MatMul":
		if len(n.Inputs) >= 2 && n.Inputs[1] != "" {
			return 1
		}
	}
	return -1
}

// resolveWeight returns the float initializer behind value name: the initializer itself, or the
// data input of a Reshape of an initializer (with the Reshape node). nil when name is computed
// from data.
func resolveWeight(g *onnxio.Graph, name string) (*onnxio.Tensor, *onnxio.Node) {
	if t := g.Initializer(name); t != nil {
		if t.DType != onnxio.Float {
			return nil, nil
		}
		return t, nil
	}
	p := g.Producer(name)
	if p == nil || p.Op != "Reshape" || len(p.Inputs) < 2 {
		return nil, nil
	}
	t := g.Initializer(p.Inputs[0])
	if t == nil || t.DType != onnxio.Float {
		return nil, nil
	}
	return t, p
}

// inferShapes returns every value's shape at batch 1 (or the model's fixed batch).
func inferShapes(m *onnxio.Model) (map[string][]int64, error) {
	batch := 0
	if onnxio.FreeBatch(m) {
		batch = 1
	}
	s, err := onnxio.InferShapes(m, batch)
	if err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	return s, nil
}

func prod(d []int64) int64 {
	p := int64(1)
	for _, v := range d {
		p *= v
	}
	return p
}

// CheckLayers reports a model with nothing to compress (no prunable layer) or whose layers
// cannot be found (Layers' error), naming the file.
func CheckLayers(path string, m *onnxio.Model) error {
	ls, err := Layers(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(ls) == 0 {
		return fmt.Errorf("%s: %w: no Conv, Gemm or MatMul weight held in an initializer; nothing to compress", path, onnxio.ErrUnsupported)
	}
	return nil
}
