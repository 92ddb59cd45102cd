package onnxio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/uqnn/uqnn/internal/onnxpb"
)

// DataType is an ONNX tensor element type (TensorProto.DataType); the values are ONNX's.
type DataType int32

// Element types, numbered as in onnx.proto (IR version 10).
const (
	Undefined      DataType = 0
	Float          DataType = 1
	Uint8          DataType = 2
	Int8           DataType = 3
	Uint16         DataType = 4
	Int16          DataType = 5
	Int32          DataType = 6
	Int64          DataType = 7
	String         DataType = 8
	Bool           DataType = 9
	Float16        DataType = 10
	Double         DataType = 11
	Uint32         DataType = 12
	Uint64         DataType = 13
	Complex64      DataType = 14
	Complex128     DataType = 15
	BFloat16       DataType = 16
	Float8E4M3FN   DataType = 17
	Float8E4M3FNUZ DataType = 18
	Float8E5M2     DataType = 19
	Float8E5M2FNUZ DataType = 20
	Uint4          DataType = 21
	Int4           DataType = 22
)

var dtypeNames = map[DataType]string{
	Undefined: "undefined", Float: "float32", Uint8: "uint8", Int8: "int8", Uint16: "uint16",
	Int16: "int16", Int32: "int32", Int64: "int64", String: "string", Bool: "bool",
	Float16: "float16", Double: "float64", Uint32: "uint32", Uint64: "uint64",
	Complex64: "complex64", Complex128: "complex128", BFloat16: "bfloat16",
	Float8E4M3FN: "float8e4m3fn", Float8E4M3FNUZ: "float8e4m3fnuz", Float8E5M2: "float8e5m2",
	Float8E5M2FNUZ: "float8e5m2fnuz", Uint4: "uint4", Int4: "int4",
}

func (d DataType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// bitsPerElem is the storage size of one element in raw_data, in bits; 0 for STRING and
// unknown types (which have no fixed-size raw layout).
func (d DataType) bitsPerElem() int64 {
	switch d {
	case Uint4, Int4:
		return 4
	case Uint8, Int8, Bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ:
		return 8
	case Uint16, Int16, Float16, BFloat16:
		return 16
	case Float, Int32, Uint32:
		return 32
	case Int64, Double, Uint64, Complex64:
		return 64
	case Complex128:
		return 128
	}
	return 0
}

// rawSize is the raw_data length of n elements of d, or -1 for types without a raw layout.
func (d DataType) rawSize(n int64) int64 {
	b := d.bitsPerElem()
	if b == 0 {
		return -1
	}
	return (n*b + 7) / 8
}

// maxElements bounds the element count of one tensor (2^40) so that size arithmetic never
// overflows; real models are many orders of magnitude smaller.
const maxElements = int64(1) << 40

// Tensor is one ONNX tensor: an initializer or an attribute value.
//
// The data is decoded once: Float32 holds it for FLOAT tensors and Int64 for INT64 tensors
// (from raw_data, float_data/int64_data or external data alike). Every other fixed-size type
// keeps its bytes in Raw, in ONNX's little-endian raw_data layout. STRING tensors, and typed
// fields without a known raw layout, keep their data only in the underlying proto and are written
// back unchanged.
type Tensor struct {
	Name    string
	DType   DataType
	Dims    []int64
	Float32 []float32 // DType == Float
	Int64   []int64   // DType == Int64
	Raw     []byte    // other fixed-size types
	Doc     string

	pb       *onnxpb.TensorProto // everything else; data fields stripped unless keepData
	keepData bool                // data lives in pb (STRING and the like)
}

// NewFloat32 returns a FLOAT tensor; data is used, not copied.
func NewFloat32(name string, dims []int64, data []float32) *Tensor {
	return &Tensor{Name: name, DType: Float, Dims: slices.Clone(dims), Float32: data}
}

// NewInt64 returns an INT64 tensor; data is used, not copied.
func NewInt64(name string, dims []int64, data []int64) *Tensor {
	return &Tensor{Name: name, DType: Int64, Dims: slices.Clone(dims), Int64: data}
}

// NumElements is the product of Dims (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n, _ := numElements(t.Dims)
	return n
}

// numElements multiplies dims, refusing negative dims and products above maxElements.
func numElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("dims %v: negative dimension %d", dims, d)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > uint64(maxElements) {
			return 0, fmt.Errorf("dims %v: more than %d elements", dims, maxElements)
		}
		n = int64(lo)
	}
	return n, nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	if t == nil {
		return nil
	}
	c := *t
	c.Dims = slices.Clone(t.Dims)
	c.Float32 = slices.Clone(t.Float32)
	c.Int64 = slices.Clone(t.Int64)
	c.Raw = slices.Clone(t.Raw)
	if t.pb != nil {
		c.pb = proto.Clone(t.pb).(*onnxpb.TensorProto)
	}
	return &c
}

// check verifies that the decoded data matches Dims and DType.
func (t *Tensor) check() error {
	n, err := numElements(t.Dims)
	if err != nil {
		return err
	}
	switch {
	case t.keepData:
		return nil
	case t.DType == Float:
		if int64(len(t.Float32)) != n {
			return fmt.Errorf("dims %v need %d float32 values; have %d", t.Dims, n, len(t.Float32))
		}
	case t.DType == Int64:
		if int64(len(t.Int64)) != n {
			return fmt.Errorf("dims %v need %d int64 values; have %d", t.Dims, n, len(t.Int64))
		}
	default:
		want := t.DType.rawSize(n)
		if want < 0 {
			return fmt.Errorf("data type %v has no raw layout", t.DType)
		}
		if int64(len(t.Raw)) != want {
			return fmt.Errorf("dims %v of %v need %d bytes; have %d", t.Dims, t.DType, want, len(t.Raw))
		}
	}
	return nil
}

// tensorSource fetches external data; nil when the model has no folder to read from.
type externalReader func(t *onnxpb.TensorProto, want int64) ([]byte, error)

// decodeTensor turns a TensorProto into a Tensor, checking every declared size against the bytes
// present before allocating anything.
func decodeTensor(p *onnxpb.TensorProto, ext externalReader) (*Tensor, error) {
	t := &Tensor{Name: p.GetName(), DType: DataType(p.GetDataType()), Dims: slices.Clone(p.GetDims()), Doc: p.GetDocString()}
	if p.Segment != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported: %w", t.Name, ErrUnsupported)
	}
	n, err := numElements(t.Dims)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v: %w", t.Name, err, ErrInvalidModel)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("tensor %q (%v, dims %v): %s: %w", t.Name, t.DType, t.Dims, fmt.Sprintf(format, a...), ErrInvalidModel)
	}
	rawSize := t.DType.rawSize(n)
	typed := len(p.FloatData) + len(p.Int32Data) + len(p.StringData) + len(p.Int64Data) + len(p.DoubleData) + len(p.Uint64Data)
	external := p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
	var raw []byte
	hasRaw := false
	switch {
	case external:
		if rawSize < 0 {
			return nil, bad("external data for a type without a raw layout")
		}
		if len(p.RawData) > 0 || typed > 0 {
			return nil, bad("external data and inline data both present")
		}
		if ext == nil {
			return nil, bad("external data, but the model was decoded without a folder to read it from")
		}
		raw, err = ext(p, rawSize)
		if err != nil {
			return nil, err
		}
		hasRaw = true
	case p.RawData != nil:
		if typed > 0 {
			return nil, bad("both raw_data and typed data fields are set")
		}
		raw, hasRaw = p.RawData, true
	}
	if hasRaw {
		if rawSize < 0 {
			return nil, bad("raw_data for a type without a raw layout")
		}
		if int64(len(raw)) != rawSize {
			return nil, bad("need %d bytes of data; have %d", rawSize, len(raw))
		}
		switch t.DType {
		case Float:
			t.Float32 = make([]float32, n)
			for i := range t.Float32 {
				t.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case Int64:
			t.Int64 = make([]int64, n)
			for i := range t.Int64 {
				t.Int64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		default:
			t.Raw = slices.Clone(raw)
		}
		t.pb = stripData(p)
		return t, nil
	}
	// Typed fields. Each element count is checked before conversion.
	count := func(have int, per int64) error {
		if int64(have) != n*per {
			return bad("need %d values; have %d", n*per, have)
		}
		return nil
	}
	switch t.DType {
	case Float:
		if err := count(len(p.FloatData), 1); err != nil {
			return nil, err
		}
		t.Float32 = slices.Clone(p.FloatData)
	case Int64:
		if err := count(len(p.Int64Data), 1); err != nil {
			return nil, err
		}
		t.Int64 = slices.Clone(p.Int64Data)
	case Int32, Int16, Int8, Uint16, Uint8, Bool, Float16, BFloat16,
		Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ:
		if err := count(len(p.Int32Data), 1); err != nil {
			return nil, err
		}
		size := t.DType.bitsPerElem() / 8
		t.Raw = make([]byte, n*size)
		for i, v := range p.Int32Data {
			switch size {
			case 1:
				t.Raw[i] = byte(v)
			case 2:
				binary.LittleEndian.PutUint16(t.Raw[2*i:], uint16(v))
			case 4:
				binary.LittleEndian.PutUint32(t.Raw[4*i:], uint32(v))
			}
		}
	case Double:
		if err := count(len(p.DoubleData), 1); err != nil {
			return nil, err
		}
		t.Raw = make([]byte, 8*n)
		for i, v := range p.DoubleData {
			binary.LittleEndian.PutUint64(t.Raw[8*i:], math.Float64bits(v))
		}
	case Uint32, Uint64:
		if err := count(len(p.Uint64Data), 1); err != nil {
			return nil, err
		}
		size := t.DType.bitsPerElem() / 8
		t.Raw = make([]byte, size*n)
		for i, v := range p.Uint64Data {
			if size == 4 {
				binary.LittleEndian.PutUint32(t.Raw[4*i:], uint32(v))
			} else {
				binary.LittleEndian.PutUint64(t.Raw[8*i:], v)
			}
		}
	case String:
		if err := count(len(p.StringData), 1); err != nil {
			return nil, err
		}
		t.keepData = true
	case Complex64:
		if err := count(len(p.FloatData), 2); err != nil {
			return nil, err
		}
		t.keepData = true
	case Complex128:
		if err := count(len(p.DoubleData), 2); err != nil {
			return nil, err
		}
		t.keepData = true
	case Uint4, Int4:
		if err := count(len(p.Int32Data), 1); err != nil && int64(len(p.Int32Data)) != (n+1)/2 {
			return nil, err
		}
		t.keepData = true
	default:
		return nil, fmt.Errorf("tensor %q: data type %d: %w", t.Name, p.GetDataType(), ErrUnsupported)
	}
	if t.keepData {
		t.pb = proto.Clone(p).(*onnxpb.TensorProto)
	} else {
		t.pb = stripData(p)
	}
	return t, nil
}

// tensorModeled are the TensorProto fields the Tensor holds itself: dims, data_type, the data
// fields, name, doc_string, external_data and data_location.
var tensorModeled = map[protoreflect.FieldNumber]bool{1: true, 2: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 12: true, 13: true, 14: true}

// stripData returns a copy of p without the fields the Tensor models (its data above all), so
// that large data is never held twice; unknown fields (newer IR versions) are kept.
func stripData(p *onnxpb.TensorProto) *onnxpb.TensorProto {
	return copyExcept(p, tensorModeled).(*onnxpb.TensorProto)
}

// copyExcept deep-copies every set field of m except those in skip, plus its unknown fields.
func copyExcept(m proto.Message, skip map[protoreflect.FieldNumber]bool) proto.Message {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !skip[fd.Number()] {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(src.GetUnknown())
	return proto.Clone(dst.Interface())
}

// rawBytes is the tensor's data in ONNX's raw_data layout (nil for keepData tensors).
func (t *Tensor) rawBytes() []byte {
	switch {
	case t.keepData:
		return nil
	case t.DType == Float:
		b := make([]byte, 4*len(t.Float32))
		for i, v := range t.Float32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	case t.DType == Int64:
		b := make([]byte, 8*len(t.Int64))
		for i, v := range t.Int64 {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
		return b
	}
	if t.Raw == nil {
		return []byte{}
	}
	return t.Raw
}

// toProto builds the TensorProto with inline raw_data (or the kept typed data).
func (t *Tensor) toProto() (*onnxpb.TensorProto, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("onnxio: tensor %q: %w", t.Name, err)
	}
	p := &onnxpb.TensorProto{}
	if t.pb != nil {
		p = proto.Clone(t.pb).(*onnxpb.TensorProto)
	}
	p.Name = nil
	if t.Name != "" {
		p.Name = proto.String(t.Name)
	}
	p.DocString = nil
	if t.Doc != "" {
		p.DocString = proto.String(t.Doc)
	}
	p.DataType = proto.Int32(int32(t.DType))
	p.Dims = slices.Clone(t.Dims)
	if !t.keepData {
		p.RawData = t.rawBytes()
	}
	return p, nil
}
