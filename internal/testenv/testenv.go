// Package testenv locates what tests need outside the repository (../shared/models, the
// onnxruntime library, MNIST) and skips with a clear message where it is absent, as in a user's
// own clone without ../shared.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
)

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
			t.Fatal("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SharedModels is ../shared/models beside the checkout; the test is skipped when it is absent.
func SharedModels(t testing.TB) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "..", "shared", "models")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Skipf("skipping: third-party models not found at %s (they ship beside the checkout in CI)", d)
	}
	return d
}

// Model describes one of the shared third-party models and its reference figures
// (../shared/models/README.md: first 2,000 test images, best preprocessing).
type Model struct {
	File       string
	Preprocess string
	Accuracy   float64
	Layout     ort.Layout
	Batch      int // fixed batch size, 0 when free
	Prob       bool
}

// GoodModels are the seven valid shared models.
var GoodModels = []Model{
	{"cntk-zoo-mnist-op7.onnx", "0..255", 0.989, ort.NCHW, 1, false},
	{"pytorch-cnn-op11.onnx", "-1..1", 0.988, ort.NCHW, 0, false},
	{"pytorch-lenet5-op9-batch10.onnx", "mnist", 0.991, ort.NCHW, 10, true},
	{"tf2onnx-mlp-op13.onnx", "0..255", 0.975, ort.Flat, 0, true},
	{"keras2onnx-nhwc-op10.onnx", "0..1", 0.903, ort.NHWC, 0, true},
	{"keras2onnx-nhwc-small-op10.onnx", "0..1", 0.832, ort.NHWC, 0, true},
	{"pytorch-op20-external/mnist.onnx", "-1..1", 0.974, ort.NCHW, 0, false},
}

// BadMissingExternal is the shared model whose external data file is missing.
const BadMissingExternal = "bad-missing-external-data/mnist.onnx"

var ortOnce sync.Once
var ortErr error

// ORT initialises onnxruntime from $UQNN_ORT_LIB or the cache; the test is skipped when the
// library is absent (`make test` installs it).
func ORT(t testing.TB) {
	t.Helper()
	lib, err := ort.Locate("")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ortOnce.Do(func() { ortErr = ort.Init(lib) })
	if ortErr != nil {
		t.Fatalf("onnxruntime: %v", ortErr)
	}
}

var mnistOnce sync.Once
var mnist *fixtures.MNIST
var mnistErr error

// MNIST loads the default MNIST once per test binary.
func MNIST(t testing.TB) *fixtures.MNIST {
	t.Helper()
	mnistOnce.Do(func() { mnist, mnistErr = fixtures.LoadMNIST("") })
	if mnistErr != nil {
		t.Fatalf("MNIST: %v", mnistErr)
	}
	return mnist
}
