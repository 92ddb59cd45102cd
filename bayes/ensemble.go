package bayes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/uqnn/uqnn/onnxio"
)

// Names of the ensemble graph's outputs.
const (
	EnsembleProbs   = "probs"              // [N, k] mean of the members' probabilities
	EnsembleEntropy = "entropy"            // [N] predictive entropy H[mean p], nats
	EnsembleMI      = "mutual_information" // [N] H[mean p] − mean H[p], clamped at 0
)

// MetaEnsembleMembers is the metadata key recording how many members an ensemble graph runs.
const MetaEnsembleMembers = "uqnn.ensemble.members"

// LogFloor is the smallest probability the ensemble graph takes the log of: p·log(max(p,
// 1e-30)) is exactly 0 for p = 0 (so 0·log 0 = 0 as in Entropy) and differs from p·log p by at
// most 1e-30·69 ≈ 7e-29 nats for the float32 values below it, far under float32 resolution.
const LogFloor = 1e-30

// MemberPrefix is the prefix EnsembleGraph gives member m's node, value and initializer names.
func MemberPrefix(m int) string { return fmt.Sprintf("m%03d/", m) }

// EnsembleGraph builds one ONNX model that runs every member on their common input and outputs
// the ensemble's mean probabilities (EnsembleProbs), predictive entropy (EnsembleEntropy) and
// mutual information (EnsembleMI), computed as Combine does. logits says the members' outputs
// are logits (a Softmax over axis 1 is applied to each); otherwise they are probabilities.
//
// Each member must have one data input (same name, type and shape as member 0's, which becomes
// the ensemble's input) and one [N, k] float output with the same k. Member m's names are
// prefixed with MemberPrefix(m). The default-domain opset must be the same for all members and
// is kept, so member nodes mean what they meant; the head uses only standard ops in the form
// that opset defines (axes as attribute or input). Members are not modified. Metadata is member
// 0's plus MetaEnsembleMembers. Errors wrap onnxio.ErrInvalidModel or onnxio.ErrUnsupported.
func EnsembleGraph(members []*onnxio.Model, logits bool) (*onnxio.Model, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("bayes: ensemble: no members: %w", onnxio.ErrInvalidModel)
	}
	opsets, ir, err := mergeOpsets(members)
	if err != nil {
		return nil, err
	}
	opset := int64(0)
	for _, o := range opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			opset = o.Version
		}
	}
	if opset < 7 {
		return nil, fmt.Errorf("bayes: ensemble: default-domain opset %d; want ≥ 7: %w", opset, onnxio.ErrUnsupported)
	}
	in0, out0, err := memberIO(members[0], 0)
	if err != nil {
		return nil, err
	}
	// Member values are all prefixed m000/…; the head's own values are the three outputs and
	// ensemble/…, so only the input's name could collide.
	if in0.Name == EnsembleProbs || in0.Name == EnsembleEntropy || in0.Name == EnsembleMI || strings.HasPrefix(in0.Name, "ensemble/") {
		return nil, fmt.Errorf("bayes: ensemble: members' input is called %q, a name the ensemble graph uses itself: %w", in0.Name, onnxio.ErrUnsupported)
	}
	k := int64(-1)
	if out0.ShapeKnown && len(out0.Shape) == 2 {
		k = out0.Shape[1].Value
	}
	g := &onnxio.Graph{Name: "ensemble", Inputs: []*onnxio.ValueInfo{in0.Clone()}}
	g.Inputs[0].Doc = ""
	h := head{g: g, opset: opset}
	var probs []string
	for m, mod := range members {
		in, out, err := memberIO(mod, m)
		if err != nil {
			return nil, err
		}
		if err := sameInput(in0, in, m); err != nil {
			return nil, err
		}
		if out.ShapeKnown && len(out.Shape) == 2 && out.Shape[1].Value >= 0 {
			if k >= 0 && out.Shape[1].Value != k {
				return nil, fmt.Errorf("bayes: ensemble: member %d output %q has %d classes; member 0 has %d: %w", m, out.Name, out.Shape[1].Value, k, onnxio.ErrInvalidModel)
			}
			k = out.Shape[1].Value
		}
		o, err := h.addMember(mod, m, in.Name, out.Name)
		if err != nil {
			return nil, err
		}
		if logits {
			o = h.node("Softmax", []string{o}, fmt.Sprintf("ensemble/m%03d_probs", m), onnxio.IntAttr("axis", 1))
		}
		probs = append(probs, h.unsqueeze(o, 0, fmt.Sprintf("ensemble/m%03d_stacked", m)))
	}
	// P [M, N, k] → mean probabilities, predictive entropy, expected entropy, MI.
	P := h.node("Concat", probs, "ensemble/member_probs", onnxio.IntAttr("axis", 0))
	mean := h.reduce("ReduceMean", P, 0, EnsembleProbs)
	ent := h.entropy(mean, 1, EnsembleEntropy)
	memberEnt := h.entropy(P, 2, "ensemble/member_entropy") // [M, N]
	expEnt := h.reduce("ReduceMean", memberEnt, 0, "ensemble/expected_entropy")
	diff := h.node("Sub", []string{ent, expEnt}, "ensemble/mi_unclamped")
	h.clip(diff, 0, EnsembleMI)

	batch := in0.Shape[0]
	if !in0.ShapeKnown || len(in0.Shape) == 0 {
		batch = onnxio.Dim{Value: -1, Param: "N"}
	}
	kd := onnxio.Dim{Value: k}
	if k < 0 {
		kd = onnxio.Dim{Value: -1, Param: "classes"}
	}
	g.Outputs = []*onnxio.ValueInfo{
		{Name: EnsembleProbs, Tensor: true, DType: onnxio.Float, ShapeKnown: true, Shape: []onnxio.Dim{batch, kd}},
		{Name: EnsembleEntropy, Tensor: true, DType: onnxio.Float, ShapeKnown: true, Shape: []onnxio.Dim{batch}},
		{Name: EnsembleMI, Tensor: true, DType: onnxio.Float, ShapeKnown: true, Shape: []onnxio.Dim{batch}},
	}
	res := &onnxio.Model{
		IRVersion: ir,
		Producer:  "uqnn",
		Doc:       fmt.Sprintf("uqnn ensemble of %d members: mean probabilities, predictive entropy, mutual information", len(members)),
		Opsets:    opsets,
		Metadata:  slices.Clone(members[0].Metadata),
		Graph:     g,
	}
	res.SetMeta(MetaEnsembleMembers, fmt.Sprint(len(members)))
	return res, nil
}

// mergeOpsets unions the members' opset imports (one version per domain) and returns the
// largest IR version, at least 4 so initializers need not be listed as inputs.
func mergeOpsets(members []*onnxio.Model) ([]onnxio.Opset, int64, error) {
	var out []onnxio.Opset
	ir := int64(4)
	for m, mod := range members {
		if mod == nil || mod.Graph == nil {
			return nil, 0, fmt.Errorf("bayes: ensemble: member %d is empty: %w", m, onnxio.ErrInvalidModel)
		}
		ir = max(ir, mod.IRVersion)
	next:
		for _, o := range mod.Opsets {
			d := o.Domain
			if d == "ai.onnx" {
				d = ""
			}
			for _, p := range out {
				if p.Domain == d {
					if p.Version != o.Version {
						return nil, 0, fmt.Errorf("bayes: ensemble: member %d imports opset %d of domain %q, member 0 opset %d; want one version: %w", m, o.Version, d, p.Version, onnxio.ErrUnsupported)
					}
					continue next
				}
			}
			if m > 0 {
				return nil, 0, fmt.Errorf("bayes: ensemble: member %d imports domain %q which member 0 does not; want the same opsets: %w", m, d, onnxio.ErrUnsupported)
			}
			out = append(out, onnxio.Opset{Domain: d, Version: o.Version})
		}
		if len(mod.Opsets) != len(out) {
			return nil, 0, fmt.Errorf("bayes: ensemble: member %d imports %d opsets, member 0 %d; want the same: %w", m, len(mod.Opsets), len(out), onnxio.ErrUnsupported)
		}
	}
	return out, ir, nil
}

func memberIO(mod *onnxio.Model, m int) (in, out *onnxio.ValueInfo, err error) {
	ins := mod.Graph.DataInputs()
	if len(ins) != 1 {
		return nil, nil, fmt.Errorf("bayes: ensemble: member %d has %d data inputs; want one: %w", m, len(ins), onnxio.ErrUnsupported)
	}
	if len(mod.Graph.Outputs) != 1 {
		return nil, nil, fmt.Errorf("bayes: ensemble: member %d has %d outputs; want one [N, classes] output: %w", m, len(mod.Graph.Outputs), onnxio.ErrUnsupported)
	}
	in, out = ins[0], mod.Graph.Outputs[0]
	if in.Name == out.Name {
		return nil, nil, fmt.Errorf("bayes: ensemble: member %d output %q is its input: %w", m, out.Name, onnxio.ErrUnsupported)
	}
	if !out.Tensor || out.DType != onnxio.Float {
		return nil, nil, fmt.Errorf("bayes: ensemble: member %d output %q is %v; want a float32 tensor: %w", m, out.Name, out.DType, onnxio.ErrUnsupported)
	}
	if out.ShapeKnown && len(out.Shape) != 2 {
		return nil, nil, fmt.Errorf("bayes: ensemble: member %d output %q has rank %d; want [N, classes]: %w", m, out.Name, len(out.Shape), onnxio.ErrUnsupported)
	}
	return in, out, nil
}

func sameInput(a, b *onnxio.ValueInfo, m int) error {
	same := a.Name == b.Name && a.Tensor == b.Tensor && a.DType == b.DType && a.ShapeKnown == b.ShapeKnown && len(a.Shape) == len(b.Shape)
	for i := 0; same && i < len(a.Shape); i++ {
		same = a.Shape[i].Value == b.Shape[i].Value
	}
	if !same {
		return fmt.Errorf("bayes: ensemble: member %d input %q %v %v differs from member 0's %q %v %v; want one common input: %w",
			m, b.Name, b.DType, b.Dims(), a.Name, a.DType, a.Dims(), onnxio.ErrUnsupported)
	}
	return nil
}

// head appends nodes and initializers to the ensemble graph in the forms the opset defines.
type head struct {
	g     *onnxio.Graph
	opset int64
}

// addMember copies member m's initializers, nodes and value infos under its prefix, with its
// data input renamed to the ensemble's, and returns its output's new name.
func (h *head) addMember(mod *onnxio.Model, m int, input, output string) (string, error) {
	p := MemberPrefix(m)
	rename := func(s string) string {
		switch s {
		case "":
			return ""
		case input:
			return input
		}
		return p + s
	}
	for _, t := range mod.Graph.Initializers {
		c := t.Clone()
		c.Name = rename(t.Name)
		h.g.Initializers = append(h.g.Initializers, c)
	}
	for i, n := range mod.Graph.Nodes {
		for _, a := range n.Attrs {
			if a.Type == onnxio.AttrGraph || a.Type == onnxio.AttrGraphs {
				return "", fmt.Errorf("bayes: ensemble: member %d node %q (%s) has a subgraph attribute %q, which cannot be renamed: %w", m, n.Name, n.Op, a.Name, onnxio.ErrUnsupported)
			}
		}
		c := n.Clone()
		c.Name = p + n.Name
		if n.Name == "" {
			c.Name = fmt.Sprintf("%snode%d", p, i)
		}
		for j, s := range c.Inputs {
			c.Inputs[j] = rename(s)
		}
		for j, s := range c.Outputs {
			c.Outputs[j] = rename(s)
		}
		h.g.Nodes = append(h.g.Nodes, c)
	}
	for _, v := range mod.Graph.ValueInfo {
		c := v.Clone()
		c.Name = rename(v.Name)
		h.g.ValueInfo = append(h.g.ValueInfo, c)
	}
	return rename(output), nil
}

// node appends op(inputs) → out, named after its output.
func (h *head) node(op string, inputs []string, out string, attrs ...*onnxio.Attribute) string {
	h.g.Nodes = append(h.g.Nodes, &onnxio.Node{Name: out, Op: op, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (h *head) axesConst(name string, axis int64) string {
	h.g.Initializers = append(h.g.Initializers, onnxio.NewInt64(name, []int64{1}, []int64{axis}))
	return name
}

// unsqueeze inserts a unit axis: attribute before opset 13, input from 13.
func (h *head) unsqueeze(x string, axis int64, out string) string {
	if h.opset < 13 {
		return h.node("Unsqueeze", []string{x}, out, onnxio.IntsAttr("axes", []int64{axis}))
	}
	return h.node("Unsqueeze", []string{x, h.axesConst(out+"_axes", axis)}, out)
}

// reduce applies ReduceMean or ReduceSum over one axis without keeping it: the axes are an
// attribute before opset 13 (ReduceSum) or 18 (ReduceMean), an input from then on.
func (h *head) reduce(op, x string, axis int64, out string) string {
	inputFrom := map[string]int64{"ReduceSum": 13, "ReduceMean": 18}[op]
	keep := onnxio.IntAttr("keepdims", 0)
	if h.opset < inputFrom {
		return h.node(op, []string{x}, out, onnxio.IntsAttr("axes", []int64{axis}), keep)
	}
	return h.node(op, []string{x, h.axesConst(out+"_axes", axis)}, out, keep)
}

// clip bounds x below by lo: Clip's min is an attribute before opset 11, an input from then on.
func (h *head) clip(x string, lo float32, out string) string {
	if h.opset < 11 {
		return h.node("Clip", []string{x}, out, onnxio.FloatAttr("min", lo))
	}
	name := out + "_min"
	h.g.Initializers = append(h.g.Initializers, onnxio.NewFloat32(name, nil, []float32{lo}))
	return h.node("Clip", []string{x, name}, out)
}

// entropy is −Σ p·log(max(p, LogFloor)) over axis.
func (h *head) entropy(p string, axis int64, out string) string {
	floor := h.clip(p, LogFloor, out+"/p_floor")
	logp := h.node("Log", []string{floor}, out+"/log_p")
	plogp := h.node("Mul", []string{p, logp}, out+"/p_log_p")
	sum := h.reduce("ReduceSum", plogp, axis, out+"/sum")
	return h.node("Neg", []string{sum}, out)
}
