package bayes

import (
	"math"
	"testing"
)

// exactTol: these metrics are sums of a handful of terms computed by hand.
const exactTol = 1e-9

func TestEvaluateByHand(t *testing.T) {
	// Three examples, two classes.
	probs := []float32{
		0.9, 0.1, // label 0: right, confidence 0.9
		0.3, 0.7, // label 0: wrong, confidence 0.7
		0.2, 0.8, // label 1: right, confidence 0.8
	}
	labels := []uint8{0, 0, 1}
	s, err := Evaluate(probs, 2, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantNLL := -(math.Log(float64(float32(0.9))) + math.Log(float64(float32(0.3))) + math.Log(float64(float32(0.8)))) / 3
	// Bins of width 0.1: 0.7 → (0.6,0.7] acc 0; 0.8 → (0.7,0.8] acc 1; 0.9 → (0.8,0.9] acc 1.
	wantECE := (math.Abs(0-float64(float32(0.7))) + math.Abs(1-float64(float32(0.8))) + math.Abs(1-float64(float32(0.9)))) / 3
	if s.N != 3 || math.Abs(s.Accuracy-2.0/3) > exactTol || math.Abs(s.NLL-wantNLL) > exactTol || math.Abs(s.ECE-wantECE) > exactTol {
		t.Fatalf("got %+v; want acc 2/3, nll %v, ece %v", s, wantNLL, wantECE)
	}
}

func TestEvaluatePerfectCalibration(t *testing.T) {
	// In one bin, confidence 0.75 with 3 of 4 right: ECE 0.
	probs := []float32{0.75, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0.25}
	s, err := Evaluate(probs, 2, []uint8{0, 0, 0, 1}, 15)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.ECE) > exactTol || s.Accuracy != 0.75 {
		t.Fatalf("got %+v; want ECE 0, accuracy 0.75", s)
	}
}

func TestEvaluateErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		probs  []float32
		k      int
		labels []uint8
	}{
		{"ragged", []float32{1, 0, 0}, 2, []uint8{0}},
		{"label-count", []float32{1, 0}, 2, []uint8{0, 1}},
		{"label-range", []float32{1, 0}, 2, []uint8{5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Evaluate(c.probs, c.k, c.labels, 15); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
