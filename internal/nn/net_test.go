package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

// foldTol bounds the float64 forward difference after folding BatchNorm into the Conv: the
// folded weights are rounded to float32 once (relative 6e-8 of logits of size ~10).
const foldTol = 1e-5

func TestFoldBatchNorm(t *testing.T) {
	for _, withBias := range []bool{false, true} {
		b := newIR(9, 2, 2, 5, 5)
		in := []string{"x", b.w("W", -1, 1, 3, 2, 3, 3)}
		if withBias {
			in = append(in, b.w("CB", -1, 1, 3))
		}
		y := b.node("Conv", in, "conv")
		y = b.node("BatchNormalization", []string{y, b.w("scale", 0.5, 1.5, 3), b.w("bias", -1, 1, 3),
			b.w("mean", -0.5, 0.5, 3), b.w("var", 0.5, 2, 3)}, "bn")
		y = b.node("Relu", []string{y}, "relu")
		y = b.node("Flatten", []string{y}, "flat")
		y = b.node("Gemm", []string{y, b.w("G", -1, 1, 27, 4)}, "gemm")
		m := b.output(y)
		folded := m.Clone()
		n, err := FoldBatchNorm(folded)
		if err != nil || n != 1 {
			t.Fatalf("FoldBatchNorm: %d folded, %v; want 1, nil", n, err)
		}
		for _, node := range folded.Graph.Nodes {
			if node.Op == "BatchNormalization" {
				t.Fatal("BatchNormalization node still present")
			}
		}
		x := randInput(rand.New(rand.NewPCG(5, 5)), 2*2*5*5)
		want := forward64(t, m, x)
		got := forward64(t, folded, x)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > foldTol {
				t.Fatalf("bias %v: logit %d: folded %v, original %v; want |Δ| ≤ %g", withBias, i, got[i], want[i], foldTol)
			}
		}
	}
}

func forward64(t *testing.T, m *onnxio.Model, x []float32) []float32 {
	t.Helper()
	net, err := Build(m, Config{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	out, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWithBatchAndWriteBack checks that a Net built WithBatch shares the parameters (an
// in-place update is seen by both), gives the same logits per image, and that WriteBack
// stores the updated values in the model.
func TestWithBatchAndWriteBack(t *testing.T) {
	b := newIR(13, 4, 6)
	y := b.node("Gemm", []string{"x", b.w("G", -1, 1, 6, 3), b.w("C", -1, 1, 3)}, "gemm")
	m := b.output(y)
	net, err := Build(m, Config{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	small, err := net.WithBatch(1)
	if err != nil {
		t.Fatal(err)
	}
	net.Param("G").Value32()[0] += 0.5 // an optimizer step, in place
	x := randInput(rand.New(rand.NewPCG(9, 9)), 4*6)
	all, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		one, err := small.Forward(x[i*6 : i*6+6])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, all[i*3:i*3+3]) {
			t.Errorf("image %d: batch-1 logits %v; batch-4 logits %v", i, one, all[i*3:i*3+3])
		}
	}
	if err := net.WriteBack(m); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Initializer("G").Float32, net.Param("G").Value32(); !slices.Equal(got, want) {
		t.Errorf("after WriteBack initializer G = %v; want %v", got, want)
	}
}
