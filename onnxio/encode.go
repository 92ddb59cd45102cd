package onnxio

import (
	"fmt"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"path/filepath"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
)

// DefaultExternalThreshold is the size in bytes from which Save with ExternalData moves an
// initializer to the data file when SaveOptions.Threshold is 0 (onnx's Python default).
const DefaultExternalThreshold = 1024

// externalAlign aligns each tensor in an external data file, so that readers that map the file
// get naturally aligned data.
const externalAlign = 64

// SaveOptions control Save. The zero value writes one self-contained file.
type SaveOptions struct {
	// ExternalData writes initializers of at least Threshold bytes to "<file>.data" beside
	// the model (the file name plus ".data"), referenced by a relative location.
	ExternalData bool
	// Threshold in bytes; 0 means DefaultExternalThreshold.
	Threshold int64
}

// Encode serializes the model with every tensor inline. The output is deterministic.
func (m *Model) Encode() ([]byte, error) {
	p, err := m.toProto(nil)
	if err != nil {
		return nil, err
	}
	return marshal(p)
}

func marshal(p *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("onnxio: encode: %w", err)
	}
	return b, nil
}

// Save writes the model to path atomically (a temporary file renamed into place), with large
// initializers in "<path>.data" when opt.ExternalData is set.
func (m *Model) Save(path string, opt SaveOptions) error {
	var ext *externalWriter
	if opt.ExternalData {
		ext = &externalWriter{location: filepath.Base(path) + ".data", threshold: opt.Threshold}
		if ext.threshold <= 0 {
			ext.threshold = DefaultExternalThreshold
		}
	}
	p, err := m.toProto(ext)
	if err != nil {
		return err
	}
	b, err := marshal(p)
	if err != nil {
		return err
	}
	if ext != nil && len(ext.data) > 0 {
		if err := atomicfile.WriteFile(filepath.Join(filepath.Dir(path), ext.location), ext.data); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(path, b)
}

// externalWriter collects the data of large initializers for one external data file.
type externalWriter struct {
	location  string
	threshold int64
	data      []byte
}

func (w *externalWriter) place(p *onnxpb.TensorProto) {
	if p.RawData == nil || int64(len(p.RawData)) < w.threshold {
		return
	}
	for len(w.data)%externalAlign != 0 {
		w.data = append(w.data, 0)
	}
	off := len(w.data)
	w.data = append(w.data, p.RawData...)
	p.ExternalData = []*onnxpb.StringStringEntryProto{
		{Key: proto.String("location"), Value: proto.String(w.location)},
		{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(off))},
		{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(p.RawData)))},
	}
	p.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	p.RawData = nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return proto.String(s)
}

func (m *Model) toProto(ext *externalWriter) (*onnxpb.ModelProto, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("onnxio: encode: model has no graph")
	}
	p := &onnxpb.ModelProto{}
	if m.pb != nil {
		p = proto.Clone(m.pb).(*onnxpb.ModelProto)
	}
	p.IrVersion = proto.Int64(m.IRVersion)
	p.ProducerName = optString(m.Producer)
	p.ProducerVersion = optString(m.ProducerVersion)
	p.Domain = optString(m.Domain)
	p.ModelVersion = nil
	if m.ModelVersion != 0 {
		p.ModelVersion = proto.Int64(m.ModelVersion)
	}
	p.DocString = optString(m.Doc)
	p.OpsetImport = nil
	for _, o := range m.Opsets {
		p.OpsetImport = append(p.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(o.Domain), Version: proto.Int64(o.Version)})
	}
	p.MetadataProps = nil
	for _, kv := range m.Metadata {
		p.MetadataProps = append(p.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(kv.Key), Value: proto.String(kv.Value)})
	}
	g, err := m.Graph.toProto(ext)
	if err != nil {
		return nil, err
	}
	p.Graph = g
	return p, nil
}

func (g *Graph) toProto(ext *externalWriter) (*onnxpb.GraphProto, error) {
	p := &onnxpb.GraphProto{}
	if g.pb != nil {
		p = proto.Clone(g.pb).(*onnxpb.GraphProto)
	}
	p.Name = optString(g.Name)
	p.DocString = optString(g.Doc)
	order, err := g.TopoOrder()
	if err != nil {
		return nil, fmt.Errorf("onnxio: encode: %w", err)
	}
	for _, n := range order {
		np, err := n.toProto()
		if err != nil {
			return nil, err
		}
		p.Node = append(p.Node, np)
	}
	for _, t := range g.Initializers {
		tp, err := t.toProto()
		if err != nil {
			return nil, err
		}
		if ext != nil {
			ext.place(tp)
		}
		p.Initializer = append(p.Initializer, tp)
	}
	p.Input = valueInfoProtos(g.Inputs)
	p.Output = valueInfoProtos(g.Outputs)
	p.ValueInfo = valueInfoProtos(g.ValueInfo)
	return p, nil
}

func (n *Node) toProto() (*onnxpb.NodeProto, error) {
	p := &onnxpb.NodeProto{}
	if n.pb != nil {
		p = proto.Clone(n.pb).(*onnxpb.NodeProto)
	}
	p.Name = optString(n.Name)
	p.OpType = proto.String(n.Op)
	p.Domain = optString(n.Domain)
	p.DocString = optString(n.Doc)
	p.Input = slices.Clone(n.Inputs)
	p.Output = slices.Clone(n.Outputs)
	for _, a := range n.Attrs {
		ap, err := a.toProto()
		if err != nil {
			return nil, fmt.Errorf("onnxio: node %q (%s): %w", n.Name, n.Op, err)
		}
		p.Attribute = append(p.Attribute, ap)
	}
	return p, nil
}

func (a *Attribute) toProto() (*onnxpb.AttributeProto, error) {
	p := &onnxpb.AttributeProto{}
	if a.pb != nil {
		p = proto.Clone(a.pb).(*onnxpb.AttributeProto)
	}
	p.Name = proto.String(a.Name)
	if a.Type != AttrUndefined {
		p.Type = onnxpb.AttributeProto_AttributeType(a.Type).Enum()
	}
	switch a.Type {
	case AttrFloat:
		p.F = proto.Float32(a.F)
	case AttrInt:
		p.I = proto.Int64(a.I)
	case AttrString:
		p.S = slices.Clone(a.S)
		if p.S == nil {
			p.S = []byte{}
		}
	case AttrTensor:
		if a.T == nil {
			return nil, fmt.Errorf("attribute %q: TENSOR attribute without a tensor", a.Name)
		}
		t, err := a.T.toProto()
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		p.T = t
	case AttrFloats:
		p.Floats = slices.Clone(a.Floats)
	case AttrInts:
		p.Ints = slices.Clone(a.Ints)
	case AttrStrings:
		p.Strings = slices.Clone(a.Strings)
	}
	return p, nil
}

func valueInfoProtos(vs []*ValueInfo) []*onnxpb.ValueInfoProto {
	var ps []*onnxpb.ValueInfoProto
	for _, v := range vs {
		ps = append(ps, v.toProto())
	}
	return ps
}

func (v *ValueInfo) toProto() *onnxpb.ValueInfoProto {
	p := &onnxpb.ValueInfoProto{}
	if v.pb != nil {
		p = proto.Clone(v.pb).(*onnxpb.ValueInfoProto)
	}
	p.Name = proto.String(v.Name)
	p.DocString = optString(v.Doc)
	if !v.Tensor && v.DType == Undefined {
		return p
	}
	if v.pb != nil && v.DType == v.origDType && v.ShapeKnown == v.origKnown && slices.Equal(v.Shape, v.origShape) {
		return p // unchanged: keep denotations and the like
	}
	if p.Type == nil {
		p.Type = &onnxpb.TypeProto{}
	}
	tt := p.Type.GetTensorType()
	if tt == nil {
		tt = &onnxpb.TypeProto_Tensor{}
		p.Type.Value = &onnxpb.TypeProto_TensorType{TensorType: tt}
	}
	tt.ElemType = proto.Int32(int32(v.DType))
	tt.Shape = nil
	if v.ShapeKnown || len(v.Shape) > 0 {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
		for _, d := range v.Shape {
			dp := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Value >= 0:
				dp.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			case d.Param != "":
				dp.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dp)
		}
	}
	return p
}
