// Package testmodels is the one list of the third-party ONNX models in ../shared/models that
// tests read, with their reference figures, and the one place that finds that folder. It
// imports nothing of the project, so every package's tests (onnxio's own included) can use it.
// Tests skip with a clear message where ../shared is absent, as in a user's own clone.
package testmodels

import (
	"os"
	"path/filepath"
	"testing"
)

// Model describes one shared model and its reference figures (accuracy on all 10,000 test
// images with the best preprocessing; see the README's note on ../shared/models/README.md).
type Model struct {
	File       string  // relative to Dir
	Preprocess string  // the --preprocess value the model wants
	Accuracy   float64 // reference test accuracy
	Layout     string  // the input layout onnxruntime sees: NCHW, NHWC, NHW or flat
	Batch      int     // fixed batch size, 0 when free
	Prob       bool    // the output is probabilities (else logits)
}

// Good are the seven valid shared models.
var Good = []Model{
	{"cntk-zoo-mnist-op7.onnx", "0..255", 0.989, "NCHW", 1, false},
	{"pytorch-cnn-op11.onnx", "-1..1", 0.988, "NCHW", 0, false},
	{"pytorch-lenet5-op9-batch10.onnx", "mnist", 0.991, "NCHW", 10, true},
	{"tf2onnx-mlp-op13.onnx", "0..255", 0.975, "flat", 0, true},
	{"keras2onnx-nhwc-op10.onnx", "0..1", 0.903, "NHWC", 0, true},
	{"keras2onnx-nhwc-small-op10.onnx", "0..1", 0.832, "NHWC", 0, true},
	{"pytorch-op20-external/mnist.onnx", "-1..1", 0.974, "NCHW", 0, false},
}

// BadMissingExternal is the shared model whose external data file is missing.
const BadMissingExternal = "bad-missing-external-data/mnist.onnx"

// Files lists the Good models' paths relative to Dir, in Good's order.
func Files() []string {
	f := make([]string, len(Good))
	for i, m := range Good {
		f[i] = m.File
	}
	return f
}

// Find returns the Good model with this file name.
func Find(t testing.TB, file string) Model {
	t.Helper()
	for _, m := range Good {
		if m.File == file {
			return m
		}
	}
	t.Fatalf("testmodels: %s is not among the shared models", file)
	return Model{}
}

// RepoRoot is the folder holding go.mod, found by walking up from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testmodels: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Dir is ../shared/models beside the checkout; the test is skipped when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "..", "shared", "models")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Skipf("skipping: third-party models not found at %s (they ship beside the checkout in CI)", d)
	}
	return d
}

// Path is Dir joined with file.
func Path(t testing.TB, file string) string {
	t.Helper()
	return filepath.Join(Dir(t), file)
}
