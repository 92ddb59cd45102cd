package onnxio

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestInferShapesOutputs checks the classifier output shape of every shared model: [batch, 10],
// where batch is the requested one or the model's fixed batch.
func TestInferShapesOutputs(t *testing.T) {
	dir := modelsDir(t)
	tests := []struct {
		file  string
		batch int
		want  []int64
	}{
		{"cntk-zoo-mnist-op7.onnx", 0, []int64{1, 10}},
		{"cntk-zoo-mnist-op7.onnx", 1, []int64{1, 10}},
		{"keras2onnx-nhwc-op10.onnx", 5, []int64{5, 10}},
		{"keras2onnx-nhwc-small-op10.onnx", 2, []int64{2, 10}},
		{"pytorch-cnn-op11.onnx", 64, []int64{64, 10}},
		{"pytorch-lenet5-op9-batch10.onnx", 10, []int64{10, 10}},
		{"tf2onnx-mlp-op13.onnx", 3, []int64{3, 10}},
		{"pytorch-op20-external/mnist.onnx", 9, []int64{9, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Load(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			shapes, err := InferShapes(m, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			out := m.Graph.Outputs[0].Name
			if got := shapes[out]; !slices.Equal(got, tc.want) {
				t.Errorf("output %q: shape %v; want %v", out, got, tc.want)
			}
			for _, n := range m.Graph.Nodes {
				for _, o := range n.Outputs {
					if _, ok := shapes[o]; !ok {
						t.Errorf("node %q (%s): no shape for output %q", n.Name, n.Op, o)
					}
				}
			}
		})
	}
}

func TestInferShapesErrors(t *testing.T) {
	dir := modelsDir(t)
	lenet, err := Load(filepath.Join(dir, "pytorch-lenet5-op9-batch10.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InferShapes(lenet, 3); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "fixed batch of 10; asked for 3") {
		t.Errorf("fixed batch 10 asked for 3: %v", err)
	}
	tests := []struct {
		name     string
		edit     func(m *Model)
		batch    int
		sentinel error
		want     string
	}{
		{"no batch", func(m *Model) {}, 0, nil, "want a batch size > 0"},
		{"free inner dim", func(m *Model) { m.Graph.Inputs[0].Shape[1] = Dim{Value: -1, Param: "F"} }, 1, ErrUnsupported, `dimension 1 ("F") is free`},
		{"unknown op", func(m *Model) { m.Graph.Nodes[2].Op = "Frobnicate" }, 1, ErrUnsupported, `node "relu" (Frobnicate, opset 13): no shape rule`},
		{"bad matmul", func(m *Model) { m.Graph.Initializer("W").Dims = []int64{3, 4} }, 1, ErrInvalidModel, `node "mm" (MatMul, opset 13): inputs "x" [1 4] and "W" [3 4] do not multiply`},
		{"bad reshape", func(m *Model) { m.Graph.Initializer("shape").Int64 = []int64{-1, 5} }, 2, ErrInvalidModel, `node "reshape" (Reshape, opset 13): input "r" [2 3]: target [-1 5] does not divide 6 elements`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(mustMarshal(t, tinyModel()), "")
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			_, err = InferShapes(m, tc.batch)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.sentinel != nil && !errors.Is(err, tc.sentinel)) {
				t.Errorf("got %v; want %v containing %q", err, tc.sentinel, tc.want)
			}
		})
	}
}

func TestReshapeTarget(t *testing.T) {
	tests := []struct {
		in, target []int64
		allowZero  bool
		want       []int64
		err        string
	}{
		{[]int64{2, 3, 4}, []int64{0, -1}, false, []int64{2, 12}, ""},
		{[]int64{2, 3, 4}, []int64{-1}, false, []int64{24}, ""},
		{[]int64{2, 3, 4}, []int64{4, 0, 2}, false, []int64{4, 3, 2}, ""},
		{[]int64{0, 3}, []int64{0, 3}, true, []int64{0, 3}, ""},
		{[]int64{2, 3}, []int64{-1, -1}, false, nil, "two -1"},
		{[]int64{2, 3}, []int64{4, 2}, false, nil, "holds 8 elements; the input has 6"},
		{[]int64{2, 3}, []int64{-2, 3}, false, nil, "negative entry"},
	}
	for _, tc := range tests {
		got, err := reshapeTarget(tc.in, tc.target, tc.allowZero)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("reshape %v to %v: err %v; want %q", tc.in, tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("reshape %v to %v: got %v, %v; want %v", tc.in, tc.target, got, err, tc.want)
		}
	}
}

// TestFoldReshapeTarget checks the rewrite of PyTorch's Concat(Shape(x)[0:1], [21632]) target
// (allowzero=1, opset 20 model) into a static [0, 21632] without allowzero.
func TestFoldReshapeTarget(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir(t), "pytorch-op20-external", "mnist.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := FoldConstants(m); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		ops = append(ops, n.Op)
		if n.Op == "Reshape" {
			target := m.Initializer(n.Inputs[1])
			if target == nil || !slices.Equal(target.Int64, []int64{0, 21632}) || n.Attr("allowzero") != nil {
				t.Errorf("Reshape target %+v, allowzero %v; want initializer [0 21632] and no allowzero", target, n.Attr("allowzero"))
			}
		}
	}
	if want := []string{"Conv", "Relu", "Reshape", "Gemm"}; !slices.Equal(ops, want) {
		t.Errorf("ops after folding %v; want %v", ops, want)
	}
	if m.Initializer("val_3") != nil {
		t.Error("initializer val_3, read only by the removed Concat, survived")
	}
	shapes, err := InferShapes(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapes["output"]; !slices.Equal(got, []int64{4, 10}) {
		t.Errorf("output shape after folding %v; want [4 10]", got)
	}
}
