package prob

import (
	"math"
	"testing"
)

func TestLogSumExpMatchesDirectSum(t *testing.T) {
	row := []float64{0.5, -1, 2, 0}
	var s float64
	for _, v := range row {
		s += math.Exp(v)
	}
	if got, want := LogSumExp(row), math.Log(s); math.Abs(got-want) > 1e-15 {
		t.Fatalf("LogSumExp = %v; want %v", got, want)
	}
	// Large logits: the direct sum overflows, the shifted one does not.
	if got := LogSumExp([]float32{1000, 1000}); math.Abs(got-(1000+math.Ln2)) > 1e-12 {
		t.Fatalf("LogSumExp(1000, 1000) = %v; want 1000 + ln 2", got)
	}
	if got, want := LogSumExpExcept(row, 2), math.Log(math.Exp(0.5)+math.Exp(-1)+1); math.Abs(got-want) > 1e-15 {
		t.Fatalf("LogSumExpExcept = %v; want %v", got, want)
	}
}

func TestSoftmaxAndLogSoftmax(t *testing.T) {
	v := []float32{1, 2, 3, 0, 0, 0}
	Softmax(v, 3)
	e := []float64{math.Exp(1), math.Exp(2), math.Exp(3)}
	z := e[0] + e[1] + e[2]
	for j := range 3 {
		if math.Abs(float64(v[j])-e[j]/z) > 1e-7 {
			t.Errorf("softmax[%d] = %v; want %v", j, v[j], e[j]/z)
		}
		if math.Abs(float64(v[3+j])-1.0/3) > 1e-7 {
			t.Errorf("uniform row [%d] = %v", j, v[3+j])
		}
	}
	lp := make([]float64, 3)
	LogSoftmax(lp, []float32{1, 2, 3})
	for j := range 3 {
		if math.Abs(lp[j]-math.Log(e[j]/z)) > 1e-12 {
			t.Errorf("logsoftmax[%d] = %v; want %v", j, lp[j], math.Log(e[j]/z))
		}
	}
}

func TestArgmaxFirstOnTies(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Fatalf("Argmax = %d; want 1 (first maximum)", got)
	}
	l, ok := CrossEntropy([]float32{0, 0}, 1)
	if math.Abs(l-math.Ln2) > 1e-15 || ok {
		t.Fatalf("CrossEntropy tie = %v, %v; want ln 2, false (class 0 wins the tie)", l, ok)
	}
	if l, _ := CrossEntropy([]float64{1}, 3); !math.IsInf(l, 1) {
		t.Fatalf("label outside the row: %v; want +Inf", l)
	}
}

func TestSoftmaxLargeLogits(t *testing.T) {
	// Row 1 by hand: e^0, e^1, e^2 over their sum. Row 2: logits of 1e4 magnitude must not
	// overflow (the max is subtracted first).
	v := []float32{0, 1, 2, 1e4, 1e4, -1e4}
	Softmax(v, 3)
	z := 1 + math.E + math.E*math.E
	want := []float64{1 / z, math.E / z, math.E * math.E / z, 0.5, 0.5, 0}
	for i, w := range want {
		if math.Abs(float64(v[i])-w) > 1e-7 { // float32 rounding of values ≤ 1
			t.Fatalf("Softmax[%d] = %v; want %v (all %v)", i, v[i], w, v)
		}
	}
}
