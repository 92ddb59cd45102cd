package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/internal/testmodels"
)

// No output may be a file the input reads — the model or its external data — whatever the
// aliasing: the same path, "..", a symlink, a hard link. The input survives untouched.
func TestConvertNeverOverwritesItsInputs(t *testing.T) {
	src := filepath.Join(testmodels.Dir(t), "pytorch-op20-external")
	dir := filepath.Join(t.TempDir(), "x")
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"mnist.onnx", "mnist.onnx.data"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	in := filepath.Join(dir, "mnist.onnx")
	data := filepath.Join(dir, "mnist.onnx.data")
	before, _ := os.ReadFile(data)
	os.Symlink(data, filepath.Join(dir, "link"))
	os.Link(data, filepath.Join(dir, "hard"))
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	for name, args := range map[string][]string{
		"model over data":    {"convert", in, "-o", data},
		"dotdot":             {"convert", in, "-o", filepath.Join(dir, "sub", "..", "mnist.onnx.data")},
		"symlink":            {"convert", in, "-o", filepath.Join(dir, "link")},
		"hard link":          {"convert", in, "-o", filepath.Join(dir, "hard")},
		"data over data":     {"convert", in, "--external-data", "-o", in},
		"external data file": {"convert", in, "--external-data", "-o", filepath.Join(dir, "mnist.onnx")},
	} {
		t.Run(name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, args...), exitUsage, "input")
			after, _ := os.ReadFile(data)
			if string(after) != string(before) {
				t.Fatal("the input's external data changed")
			}
		})
	}
	assertCleanFailure(t, uqnn(t, "convert", in, "-o", filepath.Join(dir, "nope", "m.onnx")), exitUsage, "does not exist")
}
