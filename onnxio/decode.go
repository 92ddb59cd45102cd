package onnxio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/uqnn/uqnn/internal/onnxpb"
)

// Supported versions. Older IR versions predate the opset model uqnn relies on; newer ones may
// change semantics that a decode-then-encode round trip would not respect.
const (
	MinIRVersion = 3
	MaxIRVersion = 10
	MinOpset     = 7
	MaxOpset     = 21
)

// Load reads an ONNX model file and the external data files it references, which must lie in
// the model's folder.
func Load(path string) (*Model, error) {
	// A model that cannot be read is a bad model (exit 3), whatever the reason.
	data, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	m, err := decode(data, filepath.Dir(path), path)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Decode decodes a serialized ONNX model. External data files are looked up in baseDir; with
// baseDir "" a model that references external data is refused.
func Decode(data []byte, baseDir string) (*Model, error) {
	return decode(data, baseDir, "")
}

// Fields of ModelProto, GraphProto, NodeProto, AttributeProto and ValueInfoProto that the IR
// models; all others are kept in the stored proto.
var (
	modelModeled = map[protoreflect.FieldNumber]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 14: true}
	graphModeled = map[protoreflect.FieldNumber]bool{1: true, 2: true, 5: true, 10: true, 11: true, 12: true, 13: true}
	nodeModeled  = map[protoreflect.FieldNumber]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true}
	attrModeled  = map[protoreflect.FieldNumber]bool{1: true, 2: true, 3: true, 4: true, 5: true, 7: true, 8: true, 9: true, 20: true}
	vinfoModeled = map[protoreflect.FieldNumber]bool{1: true, 3: true}
)

type decoder struct {
	name     string // file name for messages ("" when decoding bytes)
	baseDir  string
	extFiles []string
}

func (d *decoder) errorf(sentinel error, format string, a ...any) error {
	prefix := "onnxio: "
	if d.name != "" {
		prefix += d.name + ": "
	}
	return fmt.Errorf("%s%s: %w", prefix, fmt.Sprintf(format, a...), sentinel)
}

func decode(data []byte, baseDir, name string) (*Model, error) {
	d := &decoder{name: name, baseDir: baseDir}
	p := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, d.errorf(ErrInvalidModel, "not an ONNX model (%d bytes): %v", len(data), err)
	}
	if p.Graph == nil {
		return nil, d.errorf(ErrInvalidModel, "not an ONNX model (%d bytes): no graph", len(data))
	}
	if v := p.GetIrVersion(); v < MinIRVersion || v > MaxIRVersion {
		return nil, d.errorf(ErrUnsupported, "IR version %d; want %d to %d", v, MinIRVersion, MaxIRVersion)
	}
	m := &Model{
		IRVersion:       p.GetIrVersion(),
		Producer:        p.GetProducerName(),
		ProducerVersion: p.GetProducerVersion(),
		Domain:          p.GetDomain(),
		ModelVersion:    p.GetModelVersion(),
		Doc:             p.GetDocString(),
	}
	for _, o := range p.OpsetImport {
		m.Opsets = append(m.Opsets, Opset{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	v := m.Opset("")
	if v == 0 {
		return nil, d.errorf(ErrInvalidModel, "no opset import for the default ONNX domain")
	}
	if v < MinOpset || v > MaxOpset {
		return nil, d.errorf(ErrUnsupported, "default-domain opset %d; want %d to %d", v, MinOpset, MaxOpset)
	}
	for _, kv := range p.MetadataProps {
		m.Metadata = append(m.Metadata, Metadata{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	g, err := d.graph(p.Graph)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	m.extFiles = d.extFiles
	m.pb = copyExcept(p, modelModeled).(*onnxpb.ModelProto)
	if err := d.checkOrder(g); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *decoder) graph(p *onnxpb.GraphProto) (*Graph, error) {
	g := &Graph{Name: p.GetName(), Doc: p.GetDocString()}
	seen := make(map[string]bool, len(p.Initializer))
	for _, tp := range p.Initializer {
		t, err := decodeTensor(tp, d.external)
		if err != nil {
			return nil, d.wrap(err)
		}
		if seen[t.Name] {
			return nil, d.errorf(ErrInvalidModel, "initializer %q appears twice", t.Name)
		}
		seen[t.Name] = true
		g.Initializers = append(g.Initializers, t)
	}
	for i, np := range p.Node {
		n, err := d.node(np)
		if err != nil {
			return nil, err
		}
		if n.Op == "" {
			return nil, d.errorf(ErrInvalidModel, "node %d (%q) has no op_type", i, n.Name)
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.Inputs = valueInfos(p.Input)
	g.Outputs = valueInfos(p.Output)
	g.ValueInfo = valueInfos(p.ValueInfo)
	g.pb = copyExcept(p, graphModeled).(*onnxpb.GraphProto)
	return g, nil
}

// wrap prefixes the file name to an error from decodeTensor (which already names the tensor).
func (d *decoder) wrap(err error) error {
	if d.name == "" {
		return fmt.Errorf("onnxio: %w", err)
	}
	return fmt.Errorf("onnxio: %s: %w", d.name, err)
}

func (d *decoder) node(p *onnxpb.NodeProto) (*Node, error) {
	n := &Node{
		Name: p.GetName(), Op: p.GetOpType(), Domain: p.GetDomain(), Doc: p.GetDocString(),
		Inputs: p.Input, Outputs: p.Output,
	}
	for _, ap := range p.Attribute {
		a := &Attribute{Name: ap.GetName(), Type: AttrType(ap.GetType()), F: ap.GetF(), I: ap.GetI(), S: ap.S,
			Floats: ap.Floats, Ints: ap.Ints, Strings: ap.Strings}
		if a.Type == AttrUndefined {
			a.Type = inferAttrType(ap)
		}
		if ap.T != nil {
			t, err := decodeTensor(ap.T, d.external)
			if err != nil {
				return nil, d.wrap(fmt.Errorf("node %q (%s): attribute %q: %w", n.Name, n.Op, a.Name, err))
			}
			a.T = t
		}
		a.pb = copyExcept(ap, attrModeled).(*onnxpb.AttributeProto)
		n.Attrs = append(n.Attrs, a)
	}
	n.pb = copyExcept(p, nodeModeled).(*onnxpb.NodeProto)
	return n, nil
}

// inferAttrType recovers the type of attributes written before the type field was required.
func inferAttrType(a *onnxpb.AttributeProto) AttrType {
	switch {
	case a.F != nil:
		return AttrFloat
	case a.I != nil:
		return AttrInt
	case a.S != nil:
		return AttrString
	case a.T != nil:
		return AttrTensor
	case a.G != nil:
		return AttrGraph
	case len(a.Floats) > 0:
		return AttrFloats
	case len(a.Ints) > 0:
		return AttrInts
	case len(a.Strings) > 0:
		return AttrStrings
	case len(a.Tensors) > 0:
		return AttrTensors
	case len(a.Graphs) > 0:
		return AttrGraphs
	}
	return AttrUndefined
}

func valueInfos(ps []*onnxpb.ValueInfoProto) []*ValueInfo {
	var vs []*ValueInfo
	for _, p := range ps {
		v := &ValueInfo{Name: p.GetName(), Doc: p.GetDocString()}
		if tt := p.GetType().GetTensorType(); tt != nil {
			v.Tensor = true
			v.DType = DataType(tt.GetElemType())
			if sh := tt.GetShape(); sh != nil {
				v.ShapeKnown = true
				v.Shape = make([]Dim, 0, len(sh.Dim))
				for _, dp := range sh.Dim {
					dim := Dim{Value: -1, Param: dp.GetDimParam()}
					if dv, ok := dp.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
						dim.Value = dv.DimValue
					}
					v.Shape = append(v.Shape, dim)
				}
			}
		}
		v.origDType, v.origShape, v.origKnown = v.DType, append([]Dim(nil), v.Shape...), v.ShapeKnown
		v.pb = copyExcept(p, vinfoModeled).(*onnxpb.ValueInfoProto)
		vs = append(vs, v)
	}
	return vs
}

// checkOrder verifies that every node input and graph output is defined (a graph input, an
// initializer or a node output) and puts the nodes in topological order. Files need not list
// nodes in that order (keras2onnx does not), though ONNX requires it.
func (d *decoder) checkOrder(g *Graph) error {
	order, err := g.TopoOrder()
	if err != nil {
		return d.wrap(err)
	}
	g.Nodes = order
	return nil
}

// external reads the external data of p (want bytes), refusing locations outside the model's
// folder.
func (d *decoder) external(p *onnxpb.TensorProto, want int64) ([]byte, error) {
	name := p.GetName()
	var loc string
	off, length := int64(0), int64(-1)
	for _, kv := range p.ExternalData {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			off, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil || off < 0 || length < -1 {
			return nil, fmt.Errorf("tensor %q: external data %s %q is not a non-negative integer: %w", name, kv.GetKey(), kv.GetValue(), ErrInvalidModel)
		}
	}
	if loc == "" {
		return nil, fmt.Errorf("tensor %q: external data without a location: %w", name, ErrInvalidModel)
	}
	if !filepath.IsLocal(filepath.FromSlash(loc)) {
		return nil, fmt.Errorf("tensor %q: external data location %q is outside the model's folder: %w", name, loc, ErrInvalidModel)
	}
	base, err := filepath.Abs(d.baseDir)
	if err == nil {
		base, err = filepath.EvalSymlinks(base)
	}
	if err != nil {
		return nil, fmt.Errorf("tensor %q: model folder %q: %w: %w", name, d.baseDir, err, ErrInvalidModel)
	}
	path := filepath.Join(base, filepath.FromSlash(loc))
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tensor %q: external data file %q is missing: %w", name, path, ErrInvalidModel)
		}
		return nil, fmt.Errorf("tensor %q: external data file %q: %w: %w", name, path, err, ErrInvalidModel)
	}
	if rel, err := filepath.Rel(base, real); err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("tensor %q: external data file %q links to %q, outside the model's folder: %w", name, path, real, ErrInvalidModel)
	}
	// The declared length is checked first: it costs nothing and names the tensor's own error.
	if length >= 0 && length != want {
		return nil, fmt.Errorf("tensor %q (dims %v): external data length %d; want %d bytes: %w", name, p.GetDims(), length, want, ErrInvalidModel)
	}
	// real has no symlinks left, so it is opened without following one: a link swapped in since
	// EvalSymlinks is refused rather than followed out of the folder.
	f, st, err := openRegular(real, false)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: external data file %q %s: %w", name, path, describeOpenError(err, "want a regular file in the model's folder"), ErrInvalidModel)
	}
	defer f.Close()
	if off > st.Size() || st.Size()-off < want {
		return nil, fmt.Errorf("tensor %q: external data file %q has %d bytes; want %d at offset %d: %w", name, path, st.Size(), want, off, ErrInvalidModel)
	}
	if !slices.Contains(d.extFiles, real) {
		d.extFiles = append(d.extFiles, real)
	}
	buf := make([]byte, want)
	if _, err := f.ReadAt(buf, off); err != nil && !(err == io.EOF && want == 0) {
		if err == io.EOF {
			return nil, fmt.Errorf("tensor %q: external data file %q shrank while being read (was %d bytes): %w", name, path, st.Size(), ErrInvalidModel)
		}
		return nil, fmt.Errorf("tensor %q: external data file %q: %w: %w", name, path, unwrapPathError(err), ErrInvalidModel)
	}
	return buf, nil
}
