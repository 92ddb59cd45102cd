package compress

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// Int8 quantizes the weights of m's layers linearly: per output channel, symmetric, int8 in
// [−127, 127] with scale max|w|/127 (1 for an all-zero channel) and zero point 0, rounding half
// to even — the weight form of onnxruntime's quantization tools (quantize_static, QDQ format,
// per_channel=True). Each weight W becomes an int8 initializer W_quantized with W_scale and
// W_zero_point and a DequantizeLinear node (axis: 0 for Conv and transposed Gemm weights, 1 for
// MatMul and plain Gemm ones) whose output is W, so the consumers are unchanged and onnxruntime
// runs the model. Per-axis DequantizeLinear needs opset 13; below it the same arithmetic is
// written as Cast(W_quantized → float) · W_scale (shaped to broadcast along the channel axis).
// A weight reached through a Reshape (CNTK) gets one scale for the whole tensor. Zeros stay
// exactly zero. m is unchanged.
func Int8(m *onnxio.Model) (*onnxio.Model, error) {
	ls, err := Layers(m)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("compress: int8: the model has no Conv, Gemm or MatMul weights: %w", onnxio.ErrUnsupported)
	}
	q := m.Clone()
	g := q.Graph
	opset := q.Opset("")
	var pre []*onnxio.Node
	for _, l := range ls {
		t := g.Initializer(l.Weight)
		axis, channels := int64(-1), int64(1)
		if g.Initializer(consumerInput(g, l)) != nil && len(t.Dims) >= 2 {
			axis = 0
			if (l.Op == "Gemm" && consumerNode(g, l).Int("transB", 0) == 0) || l.Op == "MatMul" {
				axis = 1
			}
			channels = t.Dims[axis]
		}
		inner := int64(1) // elements per channel step along the axis
		if axis >= 0 {
			inner = prod(t.Dims[axis+1:])
		}
		scale := make([]float32, channels)
		for i, v := range t.Float32 {
			c := int64(0)
			if axis >= 0 {
				c = (int64(i) / inner) % channels
			}
			scale[c] = max(scale[c], float32(math.Abs(float64(v))))
		}
		for c := range scale {
			if scale[c] == 0 {
				scale[c] = 1
			} else {
				scale[c] /= 127
			}
		}
		raw := make([]byte, len(t.Float32))
		for i, v := range t.Float32 {
			c := int64(0)
			if axis >= 0 {
				c = (int64(i) / inner) % channels
			}
			r := math.RoundToEven(float64(v / scale[c]))
			raw[i] = byte(int8(max(-127, min(127, r))))
		}
		qName := uniqueName(g, l.Weight+"_quantized")
		sName := uniqueName(g, l.Weight+"_scale")
		sDims := []int64{channels}
		if axis < 0 {
			sDims = nil
		}
		removeInitializer(g, l.Weight)
		g.Initializers = append(g.Initializers,
			&onnxio.Tensor{Name: qName, DType: onnxio.Int8, Dims: slices.Clone(t.Dims), Raw: raw})
		if opset >= 13 || axis < 0 && opset >= 10 {
			zName := uniqueName(g, l.Weight+"_zero_point")
			g.Initializers = append(g.Initializers,
				onnxio.NewFloat32(sName, sDims, scale),
				&onnxio.Tensor{Name: zName, DType: onnxio.Int8, Dims: slices.Clone(sDims), Raw: make([]byte, channels)})
			n := &onnxio.Node{Name: l.Weight + "_DequantizeLinear", Op: "DequantizeLinear", Inputs: []string{qName, sName, zName}, Outputs: []string{l.Weight}}
			if axis >= 0 {
				n.Attrs = append(n.Attrs, onnxio.IntAttr("axis", axis))
			}
			pre = append(pre, n)
			continue
		}
		// Cast + Mul: the scale shaped [C, 1, …] (axis 0) or [C] (axis 1 of a matrix).
		if axis == 0 {
			sDims = append(sDims, make([]int64, len(t.Dims)-1)...)
			for i := 1; i < len(sDims); i++ {
				sDims[i] = 1
			}
		}
		g.Initializers = append(g.Initializers, onnxio.NewFloat32(sName, sDims, scale))
		cName := uniqueName(g, l.Weight+"_int8_as_float")
		pre = append(pre,
			&onnxio.Node{Name: l.Weight + "_Cast", Op: "Cast", Inputs: []string{qName}, Outputs: []string{cName},
				Attrs: []*onnxio.Attribute{onnxio.IntAttr("to", int64(onnxio.Float))}},
			&onnxio.Node{Name: l.Weight + "_Dequantize", Op: "Mul", Inputs: []string{cName, sName}, Outputs: []string{l.Weight}})
	}
	g.Nodes = append(pre, g.Nodes...)
	return q, nil
}

// Compact rewrites each weight W of cbs into uint8 codebook indices (uint16 when the codebook
// with its zero entry has more than 256 values) and a float codebook whose entry 0 is the
// pruned zero, joined by Cast(indices → int32) and Gather(codebook, indices) whose output is W:
// the storage form of weight sharing that onnxruntime still loads and runs, computing the same
// weights as the shared-value model (Gather copies the codebook's values exactly). m must hold
// the values cbs describe (Quantize's model, or the one fine-tuning returned with the
// Shared stepper's Codebooks); m is unchanged.
func Compact(m *onnxio.Model, cbs Codebooks) (*onnxio.Model, error) {
	if len(cbs) == 0 {
		return nil, fmt.Errorf("compress: compact: no codebooks (quantize with k-means first)")
	}
	q := m.Clone()
	g := q.Graph
	var pre []*onnxio.Node
	for _, name := range slices.Sorted(maps.Keys(cbs)) {
		cb := cbs[name]
		t := g.Initializer(name)
		if t == nil || t.DType != onnxio.Float || len(t.Float32) != len(cb.Index) {
			return nil, fmt.Errorf("compress: compact: codebook for %q indexes %d weights; the model has no float initializer of that size", name, len(cb.Index))
		}
		for i, a := range cb.Index {
			want := float32(0)
			if a >= 0 {
				want = cb.Centroids[a]
			}
			if math.Float32bits(t.Float32[i]) != math.Float32bits(want) && !(want == 0 && t.Float32[i] == 0) {
				return nil, fmt.Errorf("compress: compact: weight %d of %q is %g; its codebook says %g (the model is not the one the codebooks describe)", i, name, t.Float32[i], want)
			}
		}
		book := append([]float32{0}, cb.Centroids...)
		dt, size := onnxio.Uint8, 1
		if len(book) > 256 {
			dt, size = onnxio.Uint16, 2
		}
		raw := make([]byte, size*len(cb.Index))
		for i, a := range cb.Index {
			v := a + 1
			if size == 1 {
				raw[i] = byte(v)
			} else {
				raw[2*i], raw[2*i+1] = byte(v), byte(v>>8)
			}
		}
		iName := uniqueName(g, name+"_index")
		bName := uniqueName(g, name+"_codebook")
		cName := uniqueName(g, name+"_index_int32")
		removeInitializer(g, name)
		g.Initializers = append(g.Initializers,
			&onnxio.Tensor{Name: iName, DType: dt, Dims: slices.Clone(t.Dims), Raw: raw},
			onnxio.NewFloat32(bName, []int64{int64(len(book))}, book))
		pre = append(pre,
			&onnxio.Node{Name: name + "_Cast", Op: "Cast", Inputs: []string{iName}, Outputs: []string{cName},
				Attrs: []*onnxio.Attribute{onnxio.IntAttr("to", int64(onnxio.Int32))}},
			&onnxio.Node{Name: name + "_Gather", Op: "Gather", Inputs: []string{bName, cName}, Outputs: []string{name},
				Attrs: []*onnxio.Attribute{onnxio.IntAttr("axis", 0)}})
	}
	g.Nodes = append(pre, g.Nodes...)
	return q, nil
}

// consumerNode is the node l belongs to; consumerInput the value name it reads as its weight.
func consumerNode(g *onnxio.Graph, l Layer) *onnxio.Node {
	for _, n := range g.Nodes {
		if wi := weightInput(n); wi >= 0 {
			if w, _ := resolveWeight(g, n.Inputs[wi]); w != nil && w.Name == l.Weight {
				return n
			}
		}
	}
	return nil
}

func consumerInput(g *onnxio.Graph, l Layer) string {
	if n := consumerNode(g, l); n != nil {
		return n.Inputs[weightInput(n)]
	}
	return ""
}

// removeInitializer drops the initializer called name, and its graph-input entry (IR < 4
// models list initializers as inputs): it becomes a node output.
func removeInitializer(g *onnxio.Graph, name string) {
	g.Initializers = slices.DeleteFunc(g.Initializers, func(t *onnxio.Tensor) bool { return t.Name == name })
	g.Inputs = slices.DeleteFunc(g.Inputs, func(v *onnxio.ValueInfo) bool { return v.Name == name })
}

// uniqueName returns base, or base_1, base_2 … whichever names no value of g yet.
func uniqueName(g *onnxio.Graph, base string) string {
	used := func(s string) bool {
		if g.Initializer(s) != nil {
			return true
		}
		for _, v := range g.Inputs {
			if v.Name == s {
				return true
			}
		}
		for _, n := range g.Nodes {
			if slices.Contains(n.Outputs, s) || slices.Contains(n.Inputs, s) {
				return true
			}
		}
		return false
	}
	name := base
	for i := 1; used(name); i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}
