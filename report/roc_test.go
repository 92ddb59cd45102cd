package report

import (
	"bytes"
	"math"
	"testing"
)

func TestDetectionROC(t *testing.T) {
	s := []ROCSeries{
		{Name: "MI", FPR: []float64{0, 0, 0.1, 1}, TPR: []float64{0, 0.6, 0.9, 1}, AUROC: 0.95,
			Operating: []OperatingPoint{{"1 % validation FPR", 0.012, 0.6}, {"5 % validation FPR", 0.05, 0.8}}},
		{Name: "entropy", FPR: []float64{0, 0.5, 1}, TPR: []float64{0, 0.7, 1}, AUROC: math.NaN()},
	}
	a, err := DetectionROC(s, "test")
	decodes(t, "roc", a, err, 420, 400)
	b, _ := DetectionROC(s, "test")
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same curves differ")
	}
	for name, bad := range map[string][]ROCSeries{
		"none":          nil,
		"three":         {s[0], s[1], s[0]},
		"lengths":       {{Name: "x", FPR: []float64{0, 1}, TPR: []float64{0}}},
		"above one":     {{Name: "x", FPR: []float64{0, 1.5}, TPR: []float64{0, 1}}},
		"NaN":           {{Name: "x", FPR: []float64{0, math.NaN()}, TPR: []float64{0, 1}}},
		"bad operating": {{Name: "x", FPR: []float64{0, 1}, TPR: []float64{0, 1}, Operating: []OperatingPoint{{"o", -1, 0}}}},
	} {
		if _, err := DetectionROC(bad, "bad"); err == nil {
			t.Errorf("%s: drawn without an error", name)
		}
	}
}
