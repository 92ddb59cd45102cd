package main

import (
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
		{"unknown command", "unknown command", []string{"bogus"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, c.args...), exitUsage, c.mention)
		})
	}
}
