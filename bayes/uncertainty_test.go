package bayes

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCombineByHand(t *testing.T) {
	// Three members, two classes, three examples:
	//   0: members certain and disagreeing ([1,0], [0,1], [1,0]): mean [2/3, 1/3], expected
	//      entropy 0 (0·log 0 = 0), MI = H[mean], votes 2:1.
	//   1: members identical ([0.25, 0.75] ×3): MI exactly 0, variation ratio 0.
	//   2: [0.5,0.5], [0.9,0.1], [0.1,0.9]: votes 0 (tie → first), 0, 1.
	members := [][]float32{
		{1, 0, 0.25, 0.75, 0.5, 0.5},
		{0, 1, 0.25, 0.75, 0.9, 0.1},
		{1, 0, 0.25, 0.75, 0.1, 0.9},
	}
	r, err := Combine(members, 2)
	if err != nil {
		t.Fatal(err)
	}
	h := func(p ...float64) float64 {
		var s float64
		for _, v := range p {
			if v > 0 {
				s -= v * math.Log(v)
			}
		}
		return s
	}
	f := func(v float32) float64 { return float64(v) }
	want := Predictive{
		N: 3, K: 2, Members: 3,
		Probs:           []float64{2.0 / 3, 1.0 / 3, 0.25, 0.75, 0.5, 0.5},
		Entropy:         []float64{h(2.0/3, 1.0/3), h(0.25, 0.75), math.Ln2},
		ExpectedEntropy: []float64{0, h(0.25, 0.75), (math.Ln2 + 2*h(f(0.9), f(0.1))) / 3},
		VariationRatio:  []float64{1.0 / 3, 0, 1.0 / 3},
		Vote:            []int{0, 1, 0},
	}
	want.MI = []float64{want.Entropy[0], 0, want.Entropy[2] - want.ExpectedEntropy[2]}
	near := func(name string, got, want []float64) {
		for i := range want {
			if math.Abs(got[i]-want[i]) > exactTol {
				t.Errorf("%s = %v; want %v", name, got, want)
				return
			}
		}
	}
	// float32 0.9 and 0.1 are not exact, so example 2's mean is 0.5 within float32 rounding.
	near("Probs", r.Probs[:4], want.Probs[:4])
	near("Entropy", r.Entropy[:2], want.Entropy[:2])
	near("ExpectedEntropy", r.ExpectedEntropy, want.ExpectedEntropy)
	near("MI", r.MI[:2], want.MI[:2])
	near("VariationRatio", r.VariationRatio, want.VariationRatio)
	if math.Abs(r.MI[2]-want.MI[2]) > 1e-7 || math.Abs(r.Entropy[2]-math.Ln2) > 1e-7 {
		t.Errorf("example 2: H %v MI %v; want %v %v", r.Entropy[2], r.MI[2], math.Ln2, want.MI[2])
	}
	if r.MI[1] != 0 {
		t.Errorf("identical members: MI = %v; want exactly 0", r.MI[1])
	}
	for i, v := range want.Vote {
		if r.Vote[i] != v {
			t.Errorf("Vote = %v; want %v", r.Vote, want.Vote)
		}
	}
}

func TestCombineTinyProbabilitiesStayReal(t *testing.T) {
	// A saturated softmax row: exact zeros and denormal-small values give finite entropies.
	members := [][]float32{{1, 0, 1e-38, 0}, {0, 1, 0, 0}}
	r, err := Combine(members, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]float64{r.Entropy, r.ExpectedEntropy, r.MI} {
		if math.IsNaN(v[0]) || math.IsInf(v[0], 0) || v[0] < 0 {
			t.Fatalf("got %+v; want finite non-negative entropies", r)
		}
	}
}

func TestCombineErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		members [][]float32
		want    string
	}{
		{"none", nil, "no ensemble members"},
		{"ragged", [][]float32{{1, 0, 0}}, "not rows of 2"},
		{"lengths", [][]float32{{1, 0}, {1, 0, 1, 0}}, "member 1 has 4"},
		{"nan", [][]float32{{1, 0, 1, 0, 1, 0}, {1, 0, 1, 0, float32(math.NaN()), 0}}, "member 1 gives probability NaN for example 2 class 0"},
		{"inf", [][]float32{{1, float32(math.Inf(1))}}, "example 0 class 1"},
		{"negative", [][]float32{{-0.5, 1.5}}, "example 0 class 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Combine(c.members, 2)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one containing %q", err, c.want)
			}
		})
	}
}

func TestEvaluateNaNNamesImage(t *testing.T) {
	probs := []float32{0.5, 0.5, float32(math.NaN()), 0.1}
	if _, err := Evaluate(probs, 2, []uint8{0, 1}, 10); err == nil || !strings.Contains(err.Error(), "model outputs NaN for image 1") {
		t.Fatalf("err = %v; want one naming image 1", err)
	}
}

func TestScoreBrierAndWrong(t *testing.T) {
	// Brier by hand, both labels 0: (0.9−1)² + 0.1² = 0.02 and (0.3−1)² + 0.7² = 0.98.
	probs := []float64{0.9, 0.1, 0.3, 0.7}
	s, err := Score(probs, 2, []uint8{0, 0}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.Brier-(0.02+0.98)/2) > exactTol || s.Accuracy != 0.5 {
		t.Fatalf("got %+v; want Brier 0.5, accuracy 0.5", s)
	}
	r := &Predictive{N: 2, K: 2, Probs: probs}
	w, err := r.Wrong([]uint8{0, 0})
	if err != nil || w[0] || !w[1] {
		t.Fatalf("Wrong = %v, %v; want [false true]", w, err)
	}
}

func TestAUROCByHand(t *testing.T) {
	for _, c := range []struct {
		name  string
		score []float64
		pos   []bool
		want  float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"reversed", []float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}, 0},
		{"all tied", []float64{3, 3, 3}, []bool{true, false, false}, 0.5},
		// Pairs (pos, neg): (0.8,0.5)=1, (0.8,0.2)=1, (0.5,0.5)=½, (0.5,0.2)=1 → 3.5/4.
		{"one tie", []float64{0.5, 0.8, 0.2, 0.5}, []bool{false, true, false, true}, 0.875},
		// Three-way tie across classes at 1: pos {1, 1, 2}, neg {0, 1}: pairs 1+½, 1+½, 1+1 → 5/6.
		{"tie run", []float64{1, 0, 1, 2, 1}, []bool{true, false, true, true, false}, 5.0 / 6},
		{"+Inf scores", []float64{math.Inf(1), 0, math.Inf(1)}, []bool{true, false, false}, 0.75},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := AUROC(c.score, c.pos)
			if err != nil || math.Abs(got-c.want) > exactTol {
				t.Fatalf("AUROC(%v, %v) = %v, %v; want %v", c.score, c.pos, got, err, c.want)
			}
		})
	}
}

func TestAUROCMatchesPairCount(t *testing.T) {
	// Independent reference: count every (positive, negative) pair, on scores rounded to 5
	// levels so that ties are common.
	rng := rand.New(rand.NewPCG(3, 4))
	n := 300
	score, pos := make([]float64, n), make([]bool, n)
	for i := range n {
		pos[i] = rng.Float64() < 0.3
		x := rng.NormFloat64()
		if pos[i] {
			x += 0.7
		}
		score[i] = math.Round(x * 2)
	}
	var wins, pairs float64
	for i := range n {
		for j := range n {
			if pos[i] && !pos[j] {
				pairs++
				switch {
				case score[i] > score[j]:
					wins++
				case score[i] == score[j]:
					wins += 0.5
				}
			}
		}
	}
	got, err := AUROC(score, pos)
	if err != nil || math.Abs(got-wins/pairs) > exactTol {
		t.Fatalf("AUROC = %v, %v; want %v from %v pairs", got, err, wins/pairs, pairs)
	}
}

func TestAUROCErrors(t *testing.T) {
	for name, c := range map[string]struct {
		s []float64
		p []bool
	}{
		"lengths":  {[]float64{1}, []bool{true, false}},
		"no neg":   {[]float64{1, 2}, []bool{true, true}},
		"nan":      {[]float64{1, math.NaN()}, []bool{true, false}},
		"no input": {nil, nil},
	} {
		if _, err := AUROC(c.s, c.p); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestReliabilityMatchesECE(t *testing.T) {
	// Independent of the binning code: the ECE rebuilt from the bins equals Score's.
	rng := rand.New(rand.NewPCG(5, 6))
	n, k := 500, 4
	probs := make([]float64, n*k)
	labels := make([]uint8, n)
	for i := range n {
		var s float64
		for c := range k {
			v := math.Exp(2 * rng.NormFloat64())
			probs[i*k+c] = v
			s += v
		}
		for c := range k {
			probs[i*k+c] /= s
		}
		labels[i] = uint8(rng.IntN(k))
	}
	probs[0], probs[1], probs[2], probs[3] = 0.5, 0.5, 0, 0 // a confidence exactly on an edge
	sc, err := Score(probs, k, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := Reliability(probs, k, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ece float64
	var count int
	for _, b := range bins {
		ece += float64(b.Count) * math.Abs(b.Accuracy-b.Confidence) / float64(n)
		count += b.Count
		if b.Count > 0 && (b.Confidence <= b.Lo || b.Confidence > b.Hi) {
			t.Errorf("bin (%g, %g] has mean confidence %g", b.Lo, b.Hi, b.Confidence)
		}
	}
	if count != n || math.Abs(ece-sc.ECE) > exactTol {
		t.Fatalf("bins hold %d examples with ECE %v; want %d, %v", count, ece, n, sc.ECE)
	}
}
