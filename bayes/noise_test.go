package bayes

import (
	"math"
	"testing"
)

func TestZigguratNormalMoments(t *testing.T) {
	// 2,000,000 draws: the standard errors of the mean, variance, fourth moment and a tail
	// fraction are 7e-4, 1e-3, 5e-3 and 1.5e-5; each tolerance is about five of them.
	const n = 2_000_000
	r := newWyrand(42, 3)
	var s1, s2, s4 float64
	tail, far := 0, 0
	for range n {
		x := r.normal()
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
		if math.Abs(x) > 2 {
			tail++
		}
		if math.Abs(x) > zigR {
			far++
		}
	}
	mean, v, m4 := s1/n, s2/n, s4/n
	pTail := float64(tail) / n
	pFar := float64(far) / n
	wantTail := math.Erfc(2 / math.Sqrt2)   // P(|x| > 2) = 0.0455
	wantFar := math.Erfc(zigR / math.Sqrt2) // P(|x| > r) = 5.8e-4: the ziggurat's tail branch
	switch {
	case math.Abs(mean) > 0.004:
		t.Errorf("mean %g; want 0 ± 0.004", mean)
	case math.Abs(v-1) > 0.005:
		t.Errorf("variance %g; want 1 ± 0.005", v)
	case math.Abs(m4-3) > 0.025:
		t.Errorf("fourth moment %g; want 3 ± 0.025", m4)
	case math.Abs(pTail-wantTail) > 8e-4:
		t.Errorf("P(|x| > 2) = %g; want %g", pTail, wantTail)
	case math.Abs(pFar-wantFar) > 1e-4:
		t.Errorf("P(|x| > %g) = %g; want %g", zigR, pFar, wantFar)
	}
}

func TestNoiseChunksIndependentOfCores(t *testing.T) {
	// The same seed gives the same draws per chunk whatever the order chunks run in.
	a, b := newWyrand(7, 0), newWyrand(7, 1)
	c := newWyrand(7, 0)
	if a.normal() == b.normal() {
		t.Errorf("chunks 0 and 1 start with the same draw")
	}
	a2 := newWyrand(7, 0)
	if a2.normal() != c.normal() {
		t.Errorf("the same (seed, chunk) gives different draws")
	}
}
