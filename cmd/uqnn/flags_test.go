package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Loose flags are usage errors (exit 2, one line naming the flag), never silently replaced by a
// default: --decay 0 used to become 0.9, --calib-n -1 and --threads -2 were accepted, --lr NaN
// exited 1, an unknown command exited 1 without usage.
func TestLooseFlagsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx") // never read: flags are checked first
	for _, c := range []struct {
		name, mention string
		args          []string
	}{
		{"decay 0", "--decay", []string{"attack", model, "--decay", "0", "-o", filepath.Join(dir, "a")}},
		{"rho-min 0", "--rho-min", []string{"attack", model, "--rho-min", "0", "-o", filepath.Join(dir, "b")}},
		{"attack calib-n", "--calib-n", []string{"attack", model, "--calib-n", "-1", "-o", filepath.Join(dir, "c")}},
		{"eval threads", "--threads", []string{"eval", model, "--threads", "-2"}},
		{"eval calib-n", "--calib-n", []string{"eval", model, "--calib-n", "-1"}},
		{"train lr NaN", "--lr", []string{"train", "--lr", "NaN", "-o", filepath.Join(dir, "t.onnx")}},
		{"train weight-decay Inf", "--weight-decay", []string{"train", "--weight-decay", "Inf", "-o", filepath.Join(dir, "t.onnx")}},
		{"train calib-n", "--calib-n", []string{"train", "--calib-n", "0", "-o", filepath.Join(dir, "t.onnx")}},
		{"preprocess Inf", "--preprocess", []string{"eval", model, "--preprocess", "scale=Inf,offset=0"}},
		{"eval split", "--split", []string{"eval", model, "--split", "val"}},
		{"eval n over the split", "--n", []string{"eval", model, "--split", "validation", "--n", "5001"}},
		{"uncertainty split", "--split", []string{"uncertainty", dir, "--split", "train"}},
		{"unknown command", "unknown command", []string{"bogus"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, c.args...), exitUsage, c.mention)
		})
	}
}

// Every verb that writes a folder checks it before working, the same way: a new folder's parent
// must exist (nothing is created along a mistyped path), an existing path must be a folder.
func TestOutputFoldersCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "out")
	model := filepath.Join(dir, "m.onnx")
	for _, args := range [][]string{
		{"attack", model, "-o", missing},
		{"sample", model, "-o", missing},
		{"detect", model, "--adversarial", dir, "-o", missing},
		{"uncertainty", dir, "-o", missing},
		{"study", "--quick", "-o", missing},
		{"train", "--epochs", "1", "-o", filepath.Join(missing, "t.onnx")},
		{"convert", model, "-o", filepath.Join(missing, "c.onnx")},
		{"compress", model, "-o", filepath.Join(missing, "c.onnx")},
	} {
		t.Run(args[0], func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, args...), exitUsage, "does not exist")
			if _, err := os.Stat(filepath.Join(dir, "no")); err == nil {
				t.Fatalf("uqnn %s created folders along the missing path", args[0])
			}
		})
	}
}
