package adversarial

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/seed"
)

// Ensemble is a Bayesian ensemble as a detector sees it: raw 0..255 pixels in, the ensemble's
// predictive out. Predict must be safe for concurrent use.
type Ensemble interface {
	// Predict returns the predictive of n images (n·d raw pixels). With members (Members() >
	// 0) every field is set; without, Vote is the argmax of the mean probabilities and
	// VariationRatio is NaN.
	Predict(ctx context.Context, raw []float32, n int) (*bayes.Predictive, error)
	Classes() int
	// Members is how many members' votes Predict sees; 0 when only the combined graph runs.
	Members() int
}

// MemberEnsemble combines member Models with bayes.Combine, running them in parallel.
type MemberEnsemble struct {
	members []Model
	classes int
}

// NewMemberEnsemble wraps the members, which must agree on the number of classes.
func NewMemberEnsemble(members []Model) (*MemberEnsemble, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("adversarial: ensemble without members; want at least one")
	}
	k := members[0].Classes()
	for i, m := range members {
		if m.Classes() != k {
			return nil, fmt.Errorf("adversarial: ensemble member %d has %d classes; member 0 has %d", i, m.Classes(), k)
		}
	}
	return &MemberEnsemble{members: members, classes: k}, nil
}

// Classes is the members' number of classes.
func (e *MemberEnsemble) Classes() int { return e.classes }

// Members is the number of members.
func (e *MemberEnsemble) Members() int { return len(e.members) }

// Predict runs every member on the images and combines their probabilities.
func (e *MemberEnsemble) Predict(ctx context.Context, raw []float32, n int) (*bayes.Predictive, error) {
	probs := make([][]float32, len(e.members))
	errs := make([]error, len(e.members))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, m := range e.members {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			probs[i], errs[i] = m.Probs(ctx, raw, n)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("adversarial: ensemble member %d: %w", i, err)
		}
	}
	return bayes.Combine(probs, e.classes)
}

// Score names a detection score; a larger value is more suspicious.
type Score string

// The detection scores.
const (
	ScoreMI       Score = "mi"       // mutual information between prediction and member (epistemic)
	ScoreEntropy  Score = "entropy"  // predictive entropy of the mean probabilities (total)
	ScoreVarRatio Score = "varratio" // 1 − modal votes / members (needs members)
	ScoreMaxProb  Score = "maxprob"  // 1 − the largest mean probability
)

// ParseScore checks a score name.
func ParseScore(s string) (Score, error) {
	switch Score(s) {
	case ScoreMI, ScoreEntropy, ScoreVarRatio, ScoreMaxProb:
		return Score(s), nil
	}
	return "", fmt.Errorf("adversarial: detection score %q; want mi, entropy, varratio or maxprob", s)
}

// Values are the score of every example of a predictive.
func (s Score) Values(p *bayes.Predictive, members int) ([]float64, error) {
	switch s {
	case ScoreMI:
		return p.MI, nil
	case ScoreEntropy:
		return p.Entropy, nil
	case ScoreVarRatio:
		if members == 0 {
			return nil, fmt.Errorf("adversarial: score varratio needs the members' votes; the ensemble has only its combined graph")
		}
		return p.VariationRatio, nil
	case ScoreMaxProb:
		v := make([]float64, p.N)
		for i := range v {
			top := 0.0
			for _, q := range p.Probs[i*p.K : (i+1)*p.K] {
				top = math.Max(top, q)
			}
			v[i] = 1 - top
		}
		return v, nil
	}
	_, err := ParseScore(string(s))
	return nil, err
}

// DetectConfig configures Detect. Zero values mean the defaults.
type DetectConfig struct {
	Score     Score     // default ScoreMI
	FPRs      []float64 // validation false-positive rates for the TPR; default 1 % and 5 %
	Bootstrap int       // resamples for the 95 % intervals; default 1000
	Seed      uint64    // the bootstrap's seed (stream "bootstrap")
}

// Defaults of DetectConfig.
const DefaultBootstrap = 1000

// DefaultFPRs are the validation false-positive rates Detect reports a TPR at.
var DefaultFPRs = []float64{0.01, 0.05}

// DetectSets are the images Detect scores. Adversarial and Clean are compared; Validation
// (clean images never trained on, never test images) only sets the thresholds.
type DetectSets struct {
	Adversarial, Clean, Validation *fixtures.Set
}

// AtFPR is the detector at the threshold that flags at most FPR of the validation images.
type AtFPR struct {
	FPR           float64  `json:"fpr"`
	Threshold     float64  `json:"threshold"`
	ValidationFPR float64  `json:"validation_fpr"` // achieved on validation (≤ FPR: ties stay unflagged)
	CleanFPR      float64  `json:"clean_fpr"`      // the same threshold on the clean test images
	TPR           Interval `json:"tpr"`            // adversarial images flagged
}

// Ratio is a float64 that is null in JSON when it is not finite (a ratio over 0).
type Ratio float64

// MarshalJSON writes null for ±Inf and NaN.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(r), 0) || math.IsNaN(float64(r)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(r))
}

// MIRatio is the study's statistic: how much larger the MI of adversarial images is than the
// MI of clean ones, as a ratio of means and of medians.
type MIRatio struct {
	MeanAdversarial   float64 `json:"mean_adversarial"`
	MeanClean         float64 `json:"mean_clean"`
	MeanRatio         Ratio   `json:"mean_ratio"`
	MedianAdversarial float64 `json:"median_adversarial"`
	MedianClean       float64 `json:"median_clean"`
	MedianRatio       Ratio   `json:"median_ratio"`
}

// Detection is what Detect measures.
type Detection struct {
	Score       Score    `json:"score"`
	Adversarial int      `json:"adversarial"`
	Clean       int      `json:"clean"`
	Validation  int      `json:"validation"`
	AUROC       Interval `json:"auroc"`
	AUPR        Interval `json:"aupr"` // average precision, adversarial as the positive class
	AtFPR       []AtFPR  `json:"at_fpr"`
	// VoteAccuracy is the fraction of adversarial images the ensemble still gives their true
	// label; Vote says how the ensemble's label was taken.
	VoteAccuracy      float64 `json:"vote_accuracy"`
	CleanVoteAccuracy float64 `json:"clean_vote_accuracy"`
	Vote              string  `json:"vote"`
	Members           int     `json:"members"`
	MI                MIRatio `json:"mi"`
	// AUROCByScore compares every score the ensemble offers on the same images (no intervals).
	AUROCByScore map[Score]float64 `json:"auroc_by_score"`
	Bootstrap    int               `json:"bootstrap"`
	Seed         uint64            `json:"seed"`

	// For the figures.
	ROC                          []ROCPoint `json:"-"`
	AdversarialMI, CleanMI       []float64  `json:"-"`
	AdversarialScore, CleanScore []float64  `json:"-"`
}

// Detect scores the adversarial, clean and validation images with the ensemble and measures
// how well cfg.Score tells adversarial from clean: AUROC and AUPR, the TPR at validation
// thresholds, each with a seeded bootstrap interval; the ensemble's accuracy on both sets; and
// the ratio of the adversarial to the clean MI.
func Detect(ctx context.Context, ens Ensemble, sets DetectSets, cfg DetectConfig) (*Detection, error) {
	if cfg.Score == "" {
		cfg.Score = ScoreMI
	}
	if _, err := ParseScore(string(cfg.Score)); err != nil {
		return nil, err
	}
	if cfg.FPRs == nil {
		cfg.FPRs = DefaultFPRs
	}
	if cfg.Bootstrap == 0 {
		cfg.Bootstrap = DefaultBootstrap
	}
	type scored struct {
		p     *bayes.Predictive
		score []float64
	}
	run := func(name string, s *fixtures.Set) (scored, error) {
		if s == nil || s.N == 0 {
			return scored{}, fmt.Errorf("adversarial: detect: no %s images", name)
		}
		if err := s.Check(name); err != nil {
			return scored{}, fmt.Errorf("adversarial: detect: %w", err)
		}
		p, err := ens.Predict(ctx, s.Float(0, s.N), s.N)
		if err != nil {
			return scored{}, fmt.Errorf("adversarial: detect: %s images: %w", name, err)
		}
		v, err := cfg.Score.Values(p, ens.Members())
		if err != nil {
			return scored{}, err
		}
		return scored{p, v}, nil
	}
	adv, err := run("adversarial", sets.Adversarial)
	if err != nil {
		return nil, err
	}
	clean, err := run("clean", sets.Clean)
	if err != nil {
		return nil, err
	}
	val, err := run("validation", sets.Validation)
	if err != nil {
		return nil, err
	}
	curve, err := ROC(adv.score, clean.score)
	if err != nil {
		return nil, err
	}
	b, err := Bootstrap(adv.score, clean.score, val.score, cfg.FPRs, cfg.Bootstrap, seed.Rand(cfg.Seed, "bootstrap"))
	if err != nil {
		return nil, err
	}
	d := &Detection{
		Score: cfg.Score, Adversarial: adv.p.N, Clean: clean.p.N, Validation: val.p.N,
		AUROC: b.AUROC, AUPR: b.AUPR, Members: ens.Members(), Bootstrap: cfg.Bootstrap, Seed: cfg.Seed,
		VoteAccuracy:      accuracy(adv.p.Vote, sets.Adversarial.Labels),
		CleanVoteAccuracy: accuracy(clean.p.Vote, sets.Clean.Labels),
		ROC:               curve.Points, AdversarialMI: adv.p.MI, CleanMI: clean.p.MI,
		AdversarialScore: adv.score, CleanScore: clean.score,
	}
	d.Vote = fmt.Sprintf("majority vote of %d members", ens.Members())
	if ens.Members() == 0 {
		d.Vote = "argmax of the mean probabilities (no members: ensemble graph only)"
	}
	for i, f := range cfg.FPRs {
		t := b.Thresholds[i]
		d.AtFPR = append(d.AtFPR, AtFPR{FPR: f, Threshold: t, ValidationFPR: Flagged(val.score, t),
			CleanFPR: Flagged(clean.score, t), TPR: b.TPR[i]})
	}
	d.MI = miRatio(adv.p.MI, clean.p.MI)
	d.AUROCByScore = map[Score]float64{}
	for _, s := range []Score{ScoreMI, ScoreEntropy, ScoreVarRatio, ScoreMaxProb} {
		a, errA := s.Values(adv.p, ens.Members())
		c, errC := s.Values(clean.p, ens.Members())
		if errA != nil || errC != nil {
			continue // varratio without members
		}
		if r, err := ROC(a, c); err == nil {
			d.AUROCByScore[s] = r.AUROC
		}
	}
	return d, nil
}

func accuracy(pred []int, labels []uint8) float64 {
	var k int
	for i, p := range pred {
		if p == int(labels[i]) {
			k++
		}
	}
	return float64(k) / float64(len(pred))
}

func miRatio(adv, clean []float64) MIRatio {
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	r := MIRatio{MeanAdversarial: mean(adv), MeanClean: mean(clean),
		MedianAdversarial: Summarize(adv).Median, MedianClean: Summarize(clean).Median}
	r.MeanRatio = Ratio(r.MeanAdversarial / r.MeanClean)
	r.MedianRatio = Ratio(r.MedianAdversarial / r.MedianClean)
	return r
}

// Fooled reports whether a record's image fools the attacked model: another class than the
// label (untargeted) or the target (targeted). For a plain attack it is Success; for a
// detector-aware one it includes the images the detector caught.
func (r Record) Fooled() bool {
	if r.Target >= 0 {
		return r.Pred == r.Target
	}
	return r.Pred != r.Label
}

// CampaignSets picks a campaign's images for Detect: adversarial, every recorded image that
// fools the attacked model, with its true label; clean, the test originals of every attacked
// example (the same digits, unperturbed), or when cleanN > 0 the first cleanN test images.
func CampaignSets(recs []Record, test *fixtures.Set, cleanN int) (adv, clean *fixtures.Set, err error) {
	if cleanN > test.N {
		return nil, nil, fmt.Errorf("adversarial: %d clean images asked; the test set has %d", cleanN, test.N)
	}
	d := test.Dim()
	adv = &fixtures.Set{Rows: test.Rows, Cols: test.Cols}
	clean = &fixtures.Set{Rows: test.Rows, Cols: test.Cols}
	idx := make([]int, 0, len(recs))
	for _, r := range recs {
		if len(r.Image) != d || r.Index < 0 || r.Index >= test.N {
			return nil, nil, fmt.Errorf("adversarial: record of example %d: %d pixels; want an index below %d and %d pixels", r.Index, len(r.Image), test.N, d)
		}
		idx = append(idx, r.Index)
		if r.Fooled() {
			adv.Images = append(adv.Images, r.Image...)
			adv.Labels = append(adv.Labels, uint8(r.Label))
			adv.N++
		}
	}
	if cleanN > 0 {
		return adv, test.Slice(0, cleanN), nil
	}
	sort.Ints(idx)
	for _, i := range idx {
		clean.Images = append(clean.Images, test.Image(i)...)
		clean.Labels = append(clean.Labels, test.Labels[i])
		clean.N++
	}
	return adv, clean, nil
}
