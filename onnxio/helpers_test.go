package onnxio

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// modelsDir is ../shared/models, or the test is skipped.
func modelsDir(t testing.TB) string { return testmodels.Dir(t) }

// sharedModels is every good third-party model, relative to modelsDir.
var sharedModels = testmodels.Files()

// tinyModel builds a small valid model: y = Relu(x·W + b) with W [4,3] and b [3] (float), and an
// INT64 shape initializer feeding a Reshape.
func tinyModel() *onnxpb.ModelProto {
	f32 := int32(Float)
	dim := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	param := func(s string) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: s}}
	}
	vi := func(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("uqnn-test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("tiny"),
			Node: []*onnxpb.NodeProto{
				{Name: proto.String("mm"), OpType: proto.String("MatMul"), Input: []string{"x", "W"}, Output: []string{"xw"}},
				{Name: proto.String("add"), OpType: proto.String("Add"), Input: []string{"xw", "b"}, Output: []string{"z"}},
				{Name: proto.String("relu"), OpType: proto.String("Relu"), Input: []string{"z"}, Output: []string{"r"}},
				{Name: proto.String("reshape"), OpType: proto.String("Reshape"), Input: []string{"r", "shape"}, Output: []string{"y"}},
			},
			Initializer: []*onnxpb.TensorProto{
				{Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{4, 3}, FloatData: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
				{Name: proto.String("b"), DataType: proto.Int32(f32), Dims: []int64{3}, RawData: []byte{0, 0, 128, 63, 0, 0, 0, 0, 0, 0, 0, 192}},
				{Name: proto.String("shape"), DataType: proto.Int32(int32(Int64)), Dims: []int64{2}, Int64Data: []int64{-1, 3}},
			},
			Input:  []*onnxpb.ValueInfoProto{vi("x", param("N"), dim(4))},
			Output: []*onnxpb.ValueInfoProto{vi("y", param("N"), dim(3))},
		},
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
