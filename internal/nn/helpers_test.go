package nn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/internal/ort"
)

// sharedModels returns ../shared/models next to the repository root, or skips.
func sharedModels(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	models := filepath.Join(dir, "..", "shared", "models")
	if _, err := os.Stat(models); err != nil {
		t.Skipf("shared models not found at %s: %v", models, err)
	}
	return models
}

// initORT loads onnxruntime from UQNN_ORT_LIB or the cache, or skips.
func initORT(t testing.TB) {
	t.Helper()
	lib := os.Getenv("UQNN_ORT_LIB")
	if lib == "" {
		lib = ort.CachePath()
	}
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("onnxruntime library not found (%s); run make ort or set UQNN_ORT_LIB", lib)
	}
	if err := ort.Init(lib); err != nil {
		t.Skipf("onnxruntime: %v", err)
	}
}

// goodModel is one shared model with the preprocessing its README gives.
type goodModel struct {
	file string
	pp   ort.Preprocess
}

func goodModels() []goodModel {
	p := func(name string) ort.Preprocess {
		for _, q := range ort.Presets {
			if q.Name == name {
				return q
			}
		}
		panic(name)
	}
	return []goodModel{
		{"cntk-zoo-mnist-op7.onnx", p("0..255")},
		{"pytorch-cnn-op11.onnx", p("-1..1")},
		{"pytorch-lenet5-op9-batch10.onnx", p("mnist")},
		{"tf2onnx-mlp-op13.onnx", p("0..255")},
		{"keras2onnx-nhwc-op10.onnx", p("0..1")},
		{"keras2onnx-nhwc-small-op10.onnx", p("0..1")},
		{"pytorch-op20-external/mnist.onnx", p("-1..1")},
	}
}
