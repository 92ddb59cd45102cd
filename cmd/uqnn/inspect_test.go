package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/internal/testmodels"
)

func TestInspectJSON(t *testing.T) {
	dir := testmodels.Dir(t)
	// Expected values worked out from the README and the layer shapes: conv1 32x1x3x3 + 32,
	// fc1 10x21632 + 10 = 216650 parameters; model file 6928 bytes + data file 866432 bytes.
	tests := []struct {
		file      string
		producer  string
		ir        int64
		nodes     int
		params    int64
		fileBytes int64
		input     string
		output    []any
	}{
		{"pytorch-op20-external/mnist.onnx", "pytorch", 10, 6, 216650, 6928 + 866432, "input", []any{"s77", 10.0}},
		{"cntk-zoo-mnist-op7.onnx", "CNTK", 3, 12, 8*1*5*5 + 8 + 16*8*5*5 + 16 + 256*10 + 10, 26454, "Input3", []any{1.0, 10.0}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var out bytes.Buffer
			err := runInspect(context.Background(), inspectOptions{Model: filepath.Join(dir, tc.file), JSON: true, Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				UQNNVersion   string `json:"uqnn_version"`
				Producer      string
				IRVersion     int64  `json:"ir_version"`
				FileBytes     int64  `json:"file_bytes"`
				TotalParams   int64  `json:"total_params"`
				TotalNonZeros int64  `json:"total_nonzeros"`
				ShapeError    string `json:"shape_error"`
				Nodes         []struct {
					Op           string
					OutputShapes [][]int64 `json:"output_shapes"`
				}
				Inputs []struct {
					Name  string
					Shape []any
				}
				Outputs []struct{ Shape []any }
			}
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("not one JSON document: %v\n%s", err, out.String())
			}
			if rep.UQNNVersion == "" || rep.Producer != tc.producer || rep.IRVersion != tc.ir || len(rep.Nodes) != tc.nodes ||
				rep.TotalParams != tc.params || rep.FileBytes != tc.fileBytes || rep.TotalNonZeros > rep.TotalParams {
				t.Errorf("got version %q producer %q IR %d nodes %d params %d (nz %d) bytes %d; want %q %d %d %d %d",
					rep.UQNNVersion, rep.Producer, rep.IRVersion, len(rep.Nodes), rep.TotalParams, rep.TotalNonZeros, rep.FileBytes,
					tc.producer, tc.ir, tc.nodes, tc.params, tc.fileBytes)
			}
			if rep.ShapeError != "" || len(rep.Nodes) == 0 {
				t.Fatalf("shape inference failed: %s", rep.ShapeError)
			}
			// The last node computes the logits: [batch, 10] with batch 1 (free) or the fixed 1.
			if last := rep.Nodes[len(rep.Nodes)-1].OutputShapes; len(last) != 1 || len(last[0]) != 2 || last[0][0] != 1 || last[0][1] != 10 {
				t.Errorf("last node output shapes %v; want [[1 10]]", last)
			}
			if len(rep.Inputs) != 1 || rep.Inputs[0].Name != tc.input {
				t.Errorf("inputs %+v; want one called %q", rep.Inputs, tc.input)
			}
			if len(rep.Outputs) != 1 || len(rep.Outputs[0].Shape) != len(tc.output) || rep.Outputs[0].Shape[0] != tc.output[0] || rep.Outputs[0].Shape[1] != tc.output[1] {
				t.Errorf("outputs %+v; want shape %v", rep.Outputs, tc.output)
			}
		})
	}
}

func TestInspectTable(t *testing.T) {
	dir := testmodels.Dir(t)
	var out bytes.Buffer
	if err := runInspect(context.Background(), inspectOptions{Model: filepath.Join(dir, "tf2onnx-mlp-op13.onnx"), Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"producer    tf2onnx", "ai.onnx 13, ai.onnx.ml 2", "input_layer", "MatMul", "PARAMETER (6)", "total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInspectBadModelExitCode(t *testing.T) {
	dir := testmodels.Dir(t)
	garbage := filepath.Join(t.TempDir(), "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "bad-missing-external-data", "mnist.onnx"), garbage} {
		err := runInspect(context.Background(), inspectOptions{Model: path, Stdout: &bytes.Buffer{}})
		if code := exitCode(err); code != exitBadModel {
			t.Errorf("%s: exit code %d (%v); want %d", path, code, err, exitBadModel)
		}
	}
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"inspect"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	if code := exitCode(root.Execute()); code != exitUsage {
		t.Errorf("inspect without a model: exit code %d; want %d", code, exitUsage)
	}
}
