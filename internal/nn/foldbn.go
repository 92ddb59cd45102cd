package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// FoldBatchNorm folds every inference-form BatchNormalization that directly follows a Conv
// into that Conv's weights and bias, in place, and returns how many it folded:
//
//	s = scale / sqrt(var + ε),  W' = W·s (per output channel),  B' = (B − mean)·s + bias.
//
// A pair is left alone when the Conv output has other readers, the BatchNorm is in training
// mode, or a weight is not a float initializer used only there. Initializers the folded nodes
// no longer read are removed.
func FoldBatchNorm(m *onnxio.Model) (int, error) {
	g := m.Graph
	folded := 0
	for i := 0; i < len(g.Nodes); i++ {
		bn := g.Nodes[i]
		if bn.Op != "BatchNormalization" || bn.Int("training_mode", 0) != 0 || len(bn.Inputs) != 5 {
			continue
		}
		if len(bn.Outputs) > 1 && slices.ContainsFunc(bn.Outputs[1:], func(s string) bool { return s != "" }) {
			continue
		}
		conv := g.Producer(bn.Inputs[0])
		if conv == nil || conv.Op != "Conv" || conv.Int("group", 1) != 1 || len(g.Consumers(bn.Inputs[0])) != 1 ||
			slices.ContainsFunc(g.Outputs, func(v *onnxio.ValueInfo) bool { return v.Name == bn.Inputs[0] }) {
			continue
		}
		w := exclusiveFloat(g, conv.Inputs[1])
		if w == nil || len(w.Dims) != 4 {
			continue
		}
		c := int(w.Dims[0])
		var stats [4][]float32
		ok := true
		for j := range 4 {
			t := g.Initializer(bn.Inputs[1+j])
			if t == nil || t.DType != onnxio.Float || len(t.Float32) != c {
				ok = false
				break
			}
			stats[j] = t.Float32
		}
		var bias *onnxio.Tensor
		if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
			if bias = exclusiveFloat(g, conv.Inputs[2]); bias == nil || len(bias.Float32) != c {
				ok = false
			}
		}
		if !ok {
			continue
		}
		scale, beta, mean, variance := stats[0], stats[1], stats[2], stats[3]
		eps := float64(bn.Float("epsilon", 1e-5))
		per := len(w.Float32) / c
		newW := slices.Clone(w.Float32)
		newB := make([]float32, c)
		for k := range c {
			s := float64(scale[k]) / math.Sqrt(float64(variance[k])+eps)
			for j := k * per; j < (k+1)*per; j++ {
				newW[j] = float32(float64(newW[j]) * s)
			}
			b0 := 0.0
			if bias != nil {
				b0 = float64(bias.Float32[k])
			}
			newB[k] = float32((b0-float64(mean[k]))*s + float64(beta[k]))
		}
		if err := m.SetFloat32(w.Name, newW); err != nil {
			return folded, fmt.Errorf("nn: fold %q into %q: %w", bn.Name, conv.Name, err)
		}
		if bias != nil {
			if err := m.SetFloat32(bias.Name, newB); err != nil {
				return folded, fmt.Errorf("nn: fold %q into %q: %w", bn.Name, conv.Name, err)
			}
		} else {
			name := uniqueName(g, conv.Name+"_folded_bias")
			g.Initializers = append(g.Initializers, onnxio.NewFloat32(name, []int64{int64(c)}, newB))
			conv.Inputs = append(conv.Inputs[:2], name)
		}
		conv.Outputs[0] = bn.Outputs[0]
		g.Nodes = slices.Delete(g.Nodes, i, i+1)
		i--
		for _, name := range bn.Inputs[1:] {
			if len(g.Consumers(name)) == 0 {
				g.Initializers = slices.DeleteFunc(g.Initializers, func(t *onnxio.Tensor) bool { return t.Name == name })
				g.Inputs = slices.DeleteFunc(g.Inputs, func(v *onnxio.ValueInfo) bool { return v.Name == name })
			}
		}
		folded++
	}
	return folded, nil
}

// exclusiveFloat returns the float initializer name when exactly one node reads it.
func exclusiveFloat(g *onnxio.Graph, name string) *onnxio.Tensor {
	t := g.Initializer(name)
	if t == nil || t.DType != onnxio.Float || len(g.Consumers(name)) != 1 {
		return nil
	}
	return t
}

func uniqueName(g *onnxio.Graph, base string) string {
	name := base
	for i := 1; g.Initializer(name) != nil || g.Producer(name) != nil; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}
