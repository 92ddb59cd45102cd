package onnxio

// Summary describes a model for people: where it came from, its inputs and outputs, every node
// with its inferred output shapes, and its initializers with element and non-zero counts. Its
// JSON form is what `uqnn inspect --json` prints after the file fields.
type Summary struct {
	ExternalFiles   []string       `json:"external_files,omitempty"`
	Producer        string         `json:"producer"`
	ProducerVersion string         `json:"producer_version"`
	IRVersion       int64          `json:"ir_version"`
	Opsets          []SummaryOpset `json:"opsets"`
	Inputs          []SummaryValue `json:"inputs"`
	Outputs         []SummaryValue `json:"outputs"`
	ShapeBatch      int            `json:"shape_batch"`           // batch of the inferred shapes: 1, or 0 for the model's fixed batch
	ShapeError      string         `json:"shape_error,omitempty"` // why shapes could not be inferred
	Nodes           []SummaryNode  `json:"nodes"`
	Params          []SummaryParam `json:"params"`    // float initializers
	Constants       []SummaryParam `json:"constants"` // other initializers (shapes, indices)
	TotalParams     int64          `json:"total_params"`
	TotalNonZeros   int64          `json:"total_nonzeros"`
}

// SummaryOpset is one imported operator set; the default domain is written "ai.onnx".
type SummaryOpset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// SummaryValue is a graph input or output.
type SummaryValue struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"` // int64s, or the symbolic name of a free dimension ("?" if unnamed)
}

// SummaryNode is one node.
type SummaryNode struct {
	Name    string   `json:"name"`
	Op      string   `json:"op"`
	Domain  string   `json:"domain,omitempty"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
	// OutputShapes are the inferred static shapes of Outputs at ShapeBatch (nil if unknown).
	OutputShapes [][]int64 `json:"output_shapes"`
}

// SummaryParam is one initializer. NonZeros is -1 for types other than float and int64.
type SummaryParam struct {
	Name     string  `json:"name"`
	DType    string  `json:"dtype"`
	Shape    []int64 `json:"shape"`
	Count    int64   `json:"count"`
	NonZeros int64   `json:"nonzeros"`
}

// Summarize describes m. Shapes are inferred at batch 1 for a free-batch model and at the
// model's own batch otherwise; a model whose shapes cannot be inferred still gets a summary,
// with the reason in ShapeError.
func Summarize(m *Model) Summary {
	s := Summary{ExternalFiles: m.ExternalFiles(), Producer: m.Producer, ProducerVersion: m.ProducerVersion, IRVersion: m.IRVersion}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		s.Opsets = append(s.Opsets, SummaryOpset{Domain: d, Version: o.Version})
	}
	for _, v := range m.Graph.DataInputs() {
		s.Inputs = append(s.Inputs, summaryValue(v))
	}
	for _, v := range m.Graph.Outputs {
		s.Outputs = append(s.Outputs, summaryValue(v))
	}
	s.ShapeBatch = 1
	if !FreeBatch(m) {
		s.ShapeBatch = 0 // the model's own
	}
	shapes, err := InferShapes(m, s.ShapeBatch)
	if err != nil {
		s.ShapeError = err.Error()
	}
	for _, n := range m.Graph.Nodes {
		sn := SummaryNode{Name: n.Name, Op: n.Op, Domain: n.Domain, Inputs: n.Inputs, Outputs: n.Outputs}
		for _, o := range n.Outputs {
			sn.OutputShapes = append(sn.OutputShapes, shapes[o])
		}
		s.Nodes = append(s.Nodes, sn)
	}
	for _, t := range m.Graph.Initializers {
		p := SummaryParam{Name: t.Name, DType: t.DType.String(), Shape: t.Dims, Count: t.NumElements()}
		if p.Shape == nil {
			p.Shape = []int64{}
		}
		switch t.DType {
		case Float:
			p.NonZeros = nonZeros(t.Float32)
			s.Params = append(s.Params, p)
			s.TotalParams += p.Count
			s.TotalNonZeros += p.NonZeros
		case Int64:
			p.NonZeros = nonZeros(t.Int64)
			s.Constants = append(s.Constants, p)
		default:
			p.NonZeros = -1 // not counted for other types
			s.Constants = append(s.Constants, p)
		}
	}
	return s
}

func nonZeros[T float32 | int64](v []T) int64 {
	var n int64
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return n
}

func summaryValue(v *ValueInfo) SummaryValue {
	sv := SummaryValue{Name: v.Name, DType: v.DType.String(), Shape: []any{}}
	if !v.Tensor {
		sv.DType = "non-tensor"
	}
	for _, d := range v.Shape {
		switch {
		case d.Value >= 0:
			sv.Shape = append(sv.Shape, d.Value)
		case d.Param != "":
			sv.Shape = append(sv.Shape, d.Param)
		default:
			sv.Shape = append(sv.Shape, "?")
		}
	}
	return sv
}
