package report

import (
	"bytes"
	"image/png"
	"testing"
)

func TestLearningCurvesPNG(t *testing.T) {
	pts := []CurvePoint{
		{Epoch: 0.5, BatchLoss: 1.5},
		{Epoch: 1, BatchLoss: 0.8, Evaluated: true, TrainAcc: 0.8, ValLoss: 0.75, ValAcc: 0.79},
		{Epoch: 2, BatchLoss: 0.4, Evaluated: true, TrainAcc: 0.9, ValLoss: 0.4, ValAcc: 0.88},
	}
	b, err := LearningCurves(pts, "test")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("PlotPNG output does not decode as PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 200 {
		t.Errorf("plot is %v; want at least 500×200", r)
	}
	if _, err := LearningCurves(nil, "empty"); err == nil {
		t.Error("empty curves plotted")
	}
}

// The same points give the same bytes (no timestamps, fixed fonts).
func TestLearningCurvesDeterministic(t *testing.T) {
	pts := []CurvePoint{{Epoch: 1, BatchLoss: 0.8, Evaluated: true, TrainAcc: 0.97, ValLoss: 0.1, ValAcc: 0.98}}
	a, err := LearningCurves(pts, "one epoch")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LearningCurves(pts, "one epoch")
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of the same curves differ")
	}
}
