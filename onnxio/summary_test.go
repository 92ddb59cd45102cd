package onnxio

import (
	"fmt"
	"testing"
)

// TestSummarizeTiny checks the summary of the hand-built tiny model against counts read off
// its definition: W (4×3, no zero), b = [1 0 −2], the int64 Reshape target [−1 3].
func TestSummarizeTiny(t *testing.T) {
	m, err := Decode(mustMarshal(t, tinyModel()), "")
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(m)
	if s.Producer != "uqnn-test" || s.IRVersion != 8 || len(s.Opsets) != 1 || s.Opsets[0] != (SummaryOpset{"ai.onnx", 13}) {
		t.Errorf("header %q IR %d opsets %v; want uqnn-test, 8, [ai.onnx 13]", s.Producer, s.IRVersion, s.Opsets)
	}
	if s.TotalParams != 15 || s.TotalNonZeros != 14 || len(s.Params) != 2 || s.Params[1].NonZeros != 2 {
		t.Errorf("params %+v, total %d non-zero %d; want W 12/12 and b 2/3: 15 and 14", s.Params, s.TotalParams, s.TotalNonZeros)
	}
	if len(s.Constants) != 1 || s.Constants[0].Name != "shape" || s.Constants[0].NonZeros != 2 || s.Constants[0].DType != "int64" {
		t.Errorf("constants %+v; want the int64 shape with 2 non-zeros", s.Constants)
	}
	if len(s.Inputs) != 1 || fmt.Sprint(s.Inputs[0].Shape) != "[N 4]" || fmt.Sprint(s.Outputs[0].Shape) != "[N 3]" {
		t.Errorf("inputs %+v outputs %+v; want x [N 4], y [N 3]", s.Inputs, s.Outputs)
	}
	if s.ShapeBatch != 1 || s.ShapeError != "" || len(s.Nodes) != 4 {
		t.Fatalf("shape batch %d, error %q, %d nodes; want 1, none, 4", s.ShapeBatch, s.ShapeError, len(s.Nodes))
	}
	for _, n := range s.Nodes {
		if len(n.OutputShapes) != 1 || fmt.Sprint(n.OutputShapes[0]) != "[1 3]" {
			t.Errorf("node %s (%s): output shapes %v; want [[1 3]] at batch 1", n.Name, n.Op, n.OutputShapes)
		}
	}
}
