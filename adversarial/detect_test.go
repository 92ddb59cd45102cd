package adversarial

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/prob"
)

// linearEnsemble is members linear models whose weights are base's plus noise of size spread,
// so they agree near base's decision and disagree where its margin is small.
func linearEnsemble(t *testing.T, base *linearModel, members int, spread float64) (*MemberEnsemble, []*linearModel) {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, 0))
	ms := make([]*linearModel, members)
	models := make([]Model, members)
	for m := range ms {
		lm := &linearModel{w: make([][]float64, len(base.w)), b: append([]float64(nil), base.b...)}
		for k := range base.w {
			lm.w[k] = make([]float64, len(base.w[k]))
			for j, w := range base.w[k] {
				lm.w[k][j] = w + spread*rng.NormFloat64()
			}
		}
		ms[m], models[m] = lm, lm
	}
	e, err := NewMemberEnsemble(models)
	if err != nil {
		t.Fatal(err)
	}
	return e, ms
}

// The detector-aware attack pays for every detector evaluation: with a guard each candidate
// costs exactly two queries, the classifier and every detector member see the same number of
// images, and the budget is used to its last even query.
func TestGuardCountsEveryDetectorQuery(t *testing.T) {
	for _, budget := range []int64{2, 5, 12, 13, 14, 23, 500, 501} {
		clf, x, label := attackFixture(t, 7, 10, 16)
		clf.b[label] = 50 // a margin ε = 1/255 cannot overcome: the attack runs to the budget
		ens, members := linearEnsemble(t, clf, 3, 0.5)
		g := &Guard{Detector: ens, Score: ScoreMI, Threshold: 0.01}
		o, err := NewOracle(clf, budget)
		if err != nil {
			t.Fatal(err)
		}
		r, err := GenAttack(context.Background(), o, x, Goal{Label: label, Target: -1}, Config{Epsilon: 1.0 / 255, Guard: g}, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		half := budget / 2
		for i, m := range members {
			if m.images.Load() != half {
				t.Errorf("budget %d: detector member %d saw %d images; classifier %d; want %d each", budget, i, m.images.Load(), clf.images.Load(), half)
			}
		}
		if r.Success || clf.images.Load() != half || r.Queries != 2*half || o.Used() != 2*half {
			t.Errorf("budget %d: success %v, %d queries (oracle %d), classifier saw %d; want failure, %d queries, %d classifier images",
				budget, r.Success, r.Queries, o.Used(), clf.images.Load(), 2*half, half)
		}
	}
	// A budget of one query cannot pay for a single candidate.
	clf, x, label := attackFixture(t, 7, 10, 16)
	ens, _ := linearEnsemble(t, clf, 3, 0.5)
	o, _ := NewOracle(clf, 1)
	_, err := GenAttack(context.Background(), o, x, Goal{Label: label, Target: -1}, Config{Guard: &Guard{Detector: ens, Score: ScoreMI}}, rand.New(rand.NewPCG(2, 2)))
	if !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("budget 1 with a guard: %v; want ErrBudgetExhausted", err)
	}
}

// A success must fool the classifier and stay at or under the detection threshold; the
// recorded score is the detector's own for the returned image; and an impossible threshold
// (below every score the detector gives) leaves no success however often the classifier is
// fooled.
func TestGuardSuccessStaysUnderThreshold(t *testing.T) {
	clf, x, label := attackFixture(t, 42, 10, 64)
	ens, _ := linearEnsemble(t, clf, 5, 0.3)
	goal := Goal{Label: label, Target: -1}
	p0, err := ens.Predict(context.Background(), scale255(x), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Threshold: the clean image's own MI, so an evading image must look at least as sure.
	g := &Guard{Detector: ens, Score: ScoreMI, Threshold: math.Max(p0.MI[0], 1e-3)}
	o, _ := NewOracle(clf, 20000)
	r, err := GenAttack(context.Background(), o, x, goal, Config{Guard: g}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Success {
		t.Fatalf("no evading success in %d queries (detection %v, threshold %v)", r.Queries, r.Detection, g.Threshold)
	}
	p, err := ens.Predict(context.Background(), scale255(r.Adversarial), 1)
	if err != nil {
		t.Fatal(err)
	}
	if clf.predict(r.Adversarial) == label || p.MI[0] != r.Detection || r.Detection > g.Threshold {
		t.Errorf("success with class %d (label %d), detector MI %v recorded %v, threshold %v", clf.predict(r.Adversarial), label, p.MI[0], r.Detection, g.Threshold)
	}
	if want := fitness(logs32(r.Probs), goal); math.Abs(r.Fitness-want) > 1e-4 {
		t.Errorf("fitness %v under the threshold; want the plain goal fitness %v (no penalty)", r.Fitness, want)
	}

	never := &Guard{Detector: ens, Score: ScoreEntropy, Threshold: 0} // every entropy is > 0
	o, _ = NewOracle(clf, 3000)
	r, err = GenAttack(context.Background(), o, x, goal, Config{Guard: never}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Success || r.Queries != 3000 {
		t.Errorf("threshold 0 on entropy: success %v after %d queries; want none, the whole budget", r.Success, r.Queries)
	}
	if want := fitness(logs32(r.Probs), goal) - math.Log(r.Detection/guardFloor); math.Abs(r.Fitness-want) > 1e-4 {
		t.Errorf("fitness %v; want goal fitness − log(score/1e-6) = %v", r.Fitness, want)
	}
}

func TestGuardValidate(t *testing.T) {
	clf, _, _ := attackFixture(t, 7, 10, 16)
	ens, _ := linearEnsemble(t, clf, 2, 0.1)
	for _, g := range []*Guard{
		{Score: ScoreMI},
		{Detector: ens, Score: "nope"},
		{Detector: ens, Score: ScoreMI, Threshold: math.NaN()},
		{Detector: ens, Score: ScoreMI, Weight: -1},
	} {
		if err := (Config{Guard: g}).WithDefaults().Validate(); err == nil {
			t.Errorf("guard %+v accepted", g)
		}
	}
}

// Detect against a direct computation: members' probabilities combined by bayes.Combine, the
// ROC of their MI, the votes.
func TestDetectMatchesDirectComputation(t *testing.T) {
	const d, classes = 16, 4
	base := newLinearModel(5, classes, d)
	ens, members := linearEnsemble(t, base, 4, 0.8)
	set := func(seed uint64, n int, noise bool) *fixtures.Set {
		rng := rand.New(rand.NewPCG(seed, 3))
		s := &fixtures.Set{N: n, Rows: 4, Cols: 4}
		for i := range n {
			for range d {
				v := rng.IntN(256)
				if noise {
					v = 255 * rng.IntN(2)
				}
				s.Images = append(s.Images, uint8(v))
			}
			s.Labels = append(s.Labels, uint8(i%classes))
		}
		return s
	}
	sets := DetectSets{Adversarial: set(1, 40, true), Clean: set(2, 60, false), Validation: set(3, 100, false)}
	cfg := DetectConfig{Bootstrap: 100, Seed: 3}
	got, err := Detect(context.Background(), ens, sets, cfg)
	if err != nil {
		t.Fatal(err)
	}
	direct := func(s *fixtures.Set) *bayes.Predictive {
		var probs [][]float32
		for _, m := range members {
			var p []float32
			for i := range s.N {
				p = append(p, m.probs(s.Float(i, i+1))...)
			}
			probs = append(probs, p)
		}
		pr, err := bayes.Combine(probs, classes)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	pa, pc, pv := direct(sets.Adversarial), direct(sets.Clean), direct(sets.Validation)
	curve, _ := ROC(pa.MI, pc.MI)
	ent, _ := ROC(pa.Entropy, pc.Entropy)
	if got.AUROCByScore[ScoreMI] != curve.AUROC || got.AUROCByScore[ScoreEntropy] != ent.AUROC || len(got.AUROCByScore) != 4 {
		t.Errorf("AUROC by score %v; want mi %v entropy %v and 4 scores", got.AUROCByScore, curve.AUROC, ent.AUROC)
	}
	if got.AUROC.Value != curve.AUROC || got.AUPR.Value != curve.AUPR || !reflect.DeepEqual(got.ROC, curve.Points) {
		t.Errorf("AUROC %v AUPR %v; direct %v %v", got.AUROC.Value, got.AUPR.Value, curve.AUROC, curve.AUPR)
	}
	for i, f := range DefaultFPRs {
		th, _ := Threshold(pv.MI, f)
		a := got.AtFPR[i]
		if a.Threshold != th || a.TPR.Value != Flagged(pa.MI, th) || a.CleanFPR != Flagged(pc.MI, th) || a.ValidationFPR > f {
			t.Errorf("at FPR %v: %+v; want threshold %v TPR %v clean FPR %v", f, a, th, Flagged(pa.MI, th), Flagged(pc.MI, th))
		}
	}
	var right int
	var sumA, sumC float64
	for i := range pa.N {
		if pa.Vote[i] == int(sets.Adversarial.Labels[i]) {
			right++
		}
		sumA += pa.MI[i]
	}
	for _, v := range pc.MI {
		sumC += v
	}
	if got.VoteAccuracy != float64(right)/float64(pa.N) {
		t.Errorf("vote accuracy %v; want %d/%d", got.VoteAccuracy, right, pa.N)
	}
	if want := (sumA / float64(pa.N)) / (sumC / float64(pc.N)); math.Abs(float64(got.MI.MeanRatio)-want) > 1e-12*want {
		t.Errorf("mean MI ratio %v; want %v", got.MI.MeanRatio, want)
	}
	again, _ := Detect(context.Background(), ens, sets, cfg)
	if !reflect.DeepEqual(got, again) {
		t.Error("same inputs and seed, different detections")
	}
	// maxprob is 1 − the top mean probability.
	cfg.Score = ScoreMaxProb
	mp, err := Detect(context.Background(), ens, sets, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 - pa.Probs[prob.Argmax(pa.Probs[:classes])]; math.Abs(mp.AdversarialScore[0]-want) > 1e-15 {
		t.Errorf("maxprob score %v; want %v", mp.AdversarialScore[0], want)
	}
}

func TestCampaignSets(t *testing.T) {
	test := &fixtures.Set{N: 4, Rows: 1, Cols: 2, Images: []uint8{1, 2, 3, 4, 5, 6, 7, 8}, Labels: []uint8{0, 1, 2, 3}}
	recs := []Record{
		{Index: 3, Label: 3, Target: -1, Pred: 1, Success: true, Image: []byte{9, 9}},
		{Index: 1, Label: 1, Target: -1, Pred: 1, Image: []byte{8, 8}},                // not fooled
		{Index: 2, Label: 2, Target: 0, Pred: 0, Success: false, Image: []byte{7, 7}}, // fooled, caught by a guard
	}
	adv, clean, err := CampaignSets(recs, test, 0)
	if err != nil {
		t.Fatal(err)
	}
	if adv.N != 2 || !reflect.DeepEqual(adv.Images, []uint8{9, 9, 7, 7}) || !reflect.DeepEqual(adv.Labels, []uint8{3, 2}) {
		t.Errorf("adversarial %+v; want the two fooling images", adv)
	}
	if clean.N != 3 || !reflect.DeepEqual(clean.Images, []uint8{3, 4, 5, 6, 7, 8}) || !reflect.DeepEqual(clean.Labels, []uint8{1, 2, 3}) {
		t.Errorf("clean %+v; want the originals of examples 1, 2, 3", clean)
	}
	_, clean, _ = CampaignSets(recs, test, 2)
	if clean.N != 2 || clean.Images[0] != 1 {
		t.Errorf("--clean 2 gave %+v; want the first two test images", clean)
	}
	if _, _, err := CampaignSets(recs, test, 5); err == nil {
		t.Error("5 clean images of a 4-image test set accepted")
	}
}
