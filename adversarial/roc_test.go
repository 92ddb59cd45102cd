package adversarial

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/uqnn/uqnn/bayes"
)

// ratioTol is for figures that are ratios of small integers computed in float64.
const ratioTol = 1e-12

func TestROCHandComputed(t *testing.T) {
	tests := []struct {
		name        string
		pos, neg    []float64
		auroc, aupr float64
		points      []ROCPoint
	}{
		{"separated", []float64{3, 2}, []float64{1, 0}, 1, 1,
			[]ROCPoint{{0, 0}, {0, 0.5}, {0, 1}, {0.5, 1}, {1, 1}}},
		// Order 0.9(+) 0.8(−) 0.4(+) 0.1(−): 3 of 4 pairs right; AP = ½·1 + ½·⅔.
		{"interleaved", []float64{0.9, 0.4}, []float64{0.8, 0.1}, 0.75, 5.0 / 6,
			[]ROCPoint{{0, 0}, {0, 0.5}, {0.5, 0.5}, {0.5, 1}, {1, 1}}},
		// Ties: score 1 holds both positives and one negative, one threshold: a diagonal step to
		// (½, 1). Pairs: two ties (½ each) and two wins → 3/4; AP: recall 1 at precision ⅔.
		{"ties", []float64{1, 1}, []float64{1, 0}, 0.75, 2.0 / 3,
			[]ROCPoint{{0, 0}, {0.5, 1}, {1, 1}}},
		// Everything tied: the diagonal, AUROC ½, AP = the positive fraction.
		{"all tied", []float64{2, 2, 2}, []float64{2}, 0.5, 0.75,
			[]ROCPoint{{0, 0}, {1, 1}}},
		{"reversed", []float64{0}, []float64{1, 2}, 0, 1.0 / 3,
			[]ROCPoint{{0, 0}, {0.5, 0}, {1, 0}, {1, 1}}},
		{"infinities", []float64{math.Inf(1), 0}, []float64{math.Inf(-1), 0}, 0.875, 1*0.5 + 0.5*2.0/3,
			[]ROCPoint{{0, 0}, {0, 0.5}, {0.5, 1}, {1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ROC(tc.pos, tc.neg)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(c.AUROC-tc.auroc) > ratioTol || math.Abs(c.AUPR-tc.aupr) > ratioTol {
				t.Errorf("ROC(%v, %v): AUROC %v AUPR %v; want %v %v", tc.pos, tc.neg, c.AUROC, c.AUPR, tc.auroc, tc.aupr)
			}
			if !reflect.DeepEqual(c.Points, tc.points) {
				t.Errorf("ROC(%v, %v) points %v; want %v", tc.pos, tc.neg, c.Points, tc.points)
			}
		})
	}
}

// The AUROC agrees with bayes.AUROC (mid-ranks, an independent computation) on random integer
// scores, which tie often.
func TestROCMatchesMidRankAUROC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		np, nn := 1+rng.IntN(30), 1+rng.IntN(30)
		var score []float64
		var positive []bool
		var pos, neg []float64
		for i := range np + nn {
			s := float64(rng.IntN(6))
			if i < np {
				s += 1 // positives a little higher
				pos = append(pos, s)
			} else {
				neg = append(neg, s)
			}
			score = append(score, s)
			positive = append(positive, i < np)
		}
		want, err := bayes.AUROC(score, positive)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ROC(pos, neg)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(c.AUROC-want) > ratioTol {
			t.Fatalf("trial %d: AUROC %v; bayes.AUROC %v (pos %v neg %v)", trial, c.AUROC, want, pos, neg)
		}
	}
}

func TestThresholdAndTPR(t *testing.T) {
	clean := []float64{1, 5, 4, 0, 3, 2, 1, 4, 1, 0} // sorted: 5 4 4 3 2 1 1 1 0 0
	tests := []struct {
		fpr, threshold, flagged float64
	}{
		{0, 5, 0},       // nothing above the largest
		{0.1, 4, 0.1},   // k = 1: only the 5
		{0.2, 4, 0.1},   // k = 2 lands inside the tie at 4: the tie stays unflagged
		{0.3, 3, 0.3},   // 5, 4, 4
		{0.55, 1, 0.5},  // k = 5: the 1s tie; 5 4 4 3 2 flagged
		{0.95, 0, 0.8},  // everything but the zeros
		{0.05, 5, 0},    // k = ⌊0.5⌋ = 0
		{0.19, 4, 0.1},  // k = 1
		{0.999, 0, 0.8}, // k = 9, the last
	}
	for _, tc := range tests {
		th, err := Threshold(clean, tc.fpr)
		if err != nil {
			t.Fatal(err)
		}
		if th != tc.threshold || Flagged(clean, th) != tc.flagged {
			t.Errorf("Threshold(fpr %v) = %v flagging %v of clean; want %v flagging %v", tc.fpr, th, Flagged(clean, th), tc.threshold, tc.flagged)
		}
	}
	if got := Flagged([]float64{4.5, 4, 3.5, 10}, 4); got != 0.5 {
		t.Errorf("TPR above 4 of {4.5 4 3.5 10} = %v; want 0.5 (the tie at 4 is not flagged)", got)
	}
	for _, bad := range []float64{-0.1, 1, math.NaN()} {
		if _, err := Threshold(clean, bad); err == nil {
			t.Errorf("Threshold(fpr %v) gave no error", bad)
		}
	}
	if _, err := Threshold(nil, 0.05); err == nil {
		t.Error("Threshold of no scores gave no error")
	}
	if _, err := ROC([]float64{1, math.NaN()}, []float64{0}); err == nil {
		t.Error("ROC with a NaN score gave no error")
	}
}

func TestBootstrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gen := func(n int, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() + shift
		}
		return v
	}
	pos, neg, val := gen(200, 1.5), gen(300, 0), gen(500, 0)
	fprs := []float64{0.01, 0.05}
	run := func(seed uint64) Bootstrapped {
		b, err := Bootstrap(pos, neg, val, fprs, 200, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := run(7), run(7), run(8)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different bootstraps:\n%+v\n%+v", a, b)
	}
	if reflect.DeepEqual(a.AUROC, c.AUROC) {
		t.Errorf("seeds 7 and 8 gave the same AUROC interval %+v", a.AUROC)
	}
	// The point estimates are the plain figures, and each lies inside its interval.
	curve, _ := ROC(pos, neg)
	if a.AUROC.Value != curve.AUROC || a.AUPR.Value != curve.AUPR {
		t.Errorf("bootstrap values %v %v; ROC gives %v %v", a.AUROC.Value, a.AUPR.Value, curve.AUROC, curve.AUPR)
	}
	for i, f := range fprs {
		th, _ := Threshold(val, f)
		if a.Thresholds[i] != th || a.TPR[i].Value != Flagged(pos, th) {
			t.Errorf("fpr %v: threshold %v TPR %v; want %v %v", f, a.Thresholds[i], a.TPR[i].Value, th, Flagged(pos, th))
		}
	}
	for _, iv := range append([]Interval{a.AUROC, a.AUPR}, a.TPR...) {
		if !(iv.Lo <= iv.Value && iv.Value <= iv.Hi && iv.Lo < iv.Hi) {
			t.Errorf("interval %+v does not bracket its value", iv)
		}
	}
	// AUROC of two unit normals 1.5 apart is Φ(1.5/√2) ≈ 0.856; the 95 % interval of 200 vs 300
	// samples is about ±0.035, so it must hold the true value with a wide margin of error.
	if truth := 0.8556; a.AUROC.Lo > truth+0.02 || a.AUROC.Hi < truth-0.02 {
		t.Errorf("AUROC interval [%v, %v] far from the analytic %v", a.AUROC.Lo, a.AUROC.Hi, truth)
	}
	// Perfect separation has a degenerate interval at 1.
	p, err := Bootstrap([]float64{5, 6, 7}, []float64{0, 1}, []float64{0, 1, 2}, fprs, 50, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if p.AUROC != (Interval{1, 1, 1}) || p.AUPR != (Interval{1, 1, 1}) {
		t.Errorf("separated sets: AUROC %+v AUPR %+v; want exactly 1", p.AUROC, p.AUPR)
	}
}
