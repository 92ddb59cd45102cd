package nn

import (
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// shapeOps evaluate at build time the integer sub-graphs exporters emit to compute Reshape
// targets (Shape → Gather/Unsqueeze/Concat → Reshape). Every shape is static once the batch
// size is fixed, so these become constants; a data-dependent use is an unsupported-op error.
var shapeOps = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true, "Cast": true}

func (b *builder) shapeOp(n *onnxio.Node) error {
	ints := func(i int) ([]int64, []int64, error) {
		if i >= len(n.Inputs) {
			return nil, nil, b.errorf(n, onnxio.ErrInvalidModel, "input %d is missing", i)
		}
		t, ok := b.consts[n.Inputs[i]]
		if !ok || (t.DType != onnxio.Int64 && !(n.Op == "Cast" && t.DType == onnxio.Float)) {
			return nil, nil, b.errorf(n, onnxio.ErrUnsupported, "input %q is not a constant integer tensor; only shape computations are supported", n.Inputs[i])
		}
		if t.DType == onnxio.Float {
			v := make([]int64, len(t.Float32))
			for j, f := range t.Float32 {
				v[j] = int64(f)
			}
			return v, t.Dims, nil
		}
		return t.Int64, t.Dims, nil
	}
	var (
		out  []int64
		dims []int64
	)
	switch n.Op {
	case "Shape":
		x, err := b.value(n, 0)
		if err != nil {
			return err
		}
		s := x.Shape()
		r := int64(len(s))
		start, end := n.Int("start", 0), n.Int("end", r)
		if start < 0 {
			start += r
		}
		if end < 0 {
			end += r
		}
		start, end = min(max(start, 0), r), min(max(end, 0), r)
		for _, d := range s[start:max(start, end)] {
			out = append(out, int64(d))
		}
		dims = []int64{int64(len(out))}
	case "Cast":
		if to := n.Int("to", 0); to != int64(onnxio.Int64) && to != int64(onnxio.Int32) {
			return b.errorf(n, onnxio.ErrUnsupported, "cast to %v in a shape computation", onnxio.DataType(to))
		}
		v, d, err := ints(0)
		if err != nil {
			return err
		}
		out, dims = v, d
	case "Gather":
		data, dd, err := ints(0)
		if err != nil {
			return err
		}
		idx, id, err := ints(1)
		if err != nil {
			return err
		}
		if len(dd) != 1 || n.Int("axis", 0) != 0 {
			return b.errorf(n, onnxio.ErrUnsupported, "gather from data of dims %v on axis %d; want 1-D on axis 0", dd, n.Int("axis", 0))
		}
		for _, i := range idx {
			if i < 0 {
				i += int64(len(data))
			}
			if i < 0 || i >= int64(len(data)) {
				return b.errorf(n, onnxio.ErrInvalidModel, "index %d out of range for %d values", i, len(data))
			}
			out = append(out, data[i])
		}
		dims = id
	case "Unsqueeze", "Squeeze":
		v, _, err := ints(0)
		if err != nil {
			return err
		}
		out = v
		if n.Op == "Unsqueeze" {
			dims = []int64{int64(len(v))}
		} else if len(v) == 1 {
			dims = nil
		} else {
			dims = []int64{int64(len(v))}
		}
	case "Concat":
		for i := range n.Inputs {
			v, _, err := ints(i)
			if err != nil {
				return err
			}
			out = append(out, v...)
		}
		dims = []int64{int64(len(out))}
	}
	b.consts[n.Outputs[0]] = onnxio.NewInt64(n.Outputs[0], dims, slices.Clone(out))
	return nil
}
