package adversarial

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// DefaultGuardWeight is the default Guard.Weight: one unit of fitness (a factor e in the odds of
// the goal) per factor e of the detection score above its threshold.
const DefaultGuardWeight = 1.0

// guardFloor keeps the log of a score finite: scores at or below it count as it (an MI of 0,
// all members agreeing, is well under any useful threshold).
const guardFloor = 1e-6

// Guard makes GenAttack detector-aware: every candidate is also scored by a detector (an
// Ensemble and a Score) and
//
//	fitness = goal fitness − Weight · max(0, log(max(s, 1e-6) / max(Threshold, 1e-6)))
//
// so a candidate pays for each factor e its score s lies above the detection threshold, and
// success needs the goal met with s ≤ Threshold (not flagged: the detector flags s >
// Threshold). Set Threshold with [Threshold] on clean validation scores at the false-positive
// rate FPR to attack the detector at that operating point.
//
// Budget: the detector's evaluations are queries like the classifier's. Every candidate costs
// 2 queries from the same Oracle budget, one for the classifier and one for the detector, even
// when both are the same ensemble; the attack sizes each generation so both fit, so a budget of
// B evaluates at most ⌊B/2⌋ candidates and Result.Queries counts both.
type Guard struct {
	Detector  Ensemble `json:"-"`
	Name      string   `json:"detector"` // where the detector came from, for the record
	SHA256    string   `json:"detector_sha256,omitempty"`
	Score     Score    `json:"score"`
	FPR       float64  `json:"fpr"` // the validation false-positive rate Threshold was set at
	Threshold float64  `json:"threshold"`
	Weight    float64  `json:"weight"` // default DefaultGuardWeight
}

// cost is the number of queries one candidate takes: 1, or 2 with a guard.
func (g *Guard) cost() int64 {
	if g == nil {
		return 1
	}
	return 2
}

func (g *Guard) validate() error {
	if g == nil {
		return nil
	}
	if g.Detector == nil {
		return errors.New("adversarial: GenAttack: guard without a detector")
	}
	if _, err := ParseScore(string(g.Score)); err != nil {
		return err
	}
	if g.Score == ScoreVarRatio && g.Detector.Members() == 0 {
		return errors.New("adversarial: GenAttack: guard score varratio needs the detector's members")
	}
	if !(g.Threshold >= 0) || math.IsInf(g.Threshold, 0) {
		return fmt.Errorf("adversarial: GenAttack: guard threshold %v; want a finite score ≥ 0", g.Threshold)
	}
	if !(g.Weight >= 0) || math.IsInf(g.Weight, 0) {
		return fmt.Errorf("adversarial: GenAttack: guard weight %v; want a finite value ≥ 0", g.Weight)
	}
	return nil
}

func (g *Guard) withDefaults() *Guard {
	if g == nil || g.Weight != 0 {
		return g
	}
	c := *g
	c.Weight = DefaultGuardWeight
	return &c
}

// scores queries the detector on n candidates (0..1 pixels), counting n images against o's
// budget. Without a guard it costs nothing and returns zeros.
func (g *Guard) scores(ctx context.Context, o *Oracle, images []float32, n int) ([]float64, error) {
	if g == nil {
		return make([]float64, n), nil
	}
	raw, err := o.begin(ctx, images, n)
	if err != nil {
		return nil, err
	}
	return g.rawScores(ctx, raw, n)
}

// rawScores is the detector's score of n images of raw 0..255 pixels, outside any budget.
func (g *Guard) rawScores(ctx context.Context, raw []float32, n int) ([]float64, error) {
	p, err := g.Detector.Predict(ctx, raw, n)
	if err != nil {
		return nil, fmt.Errorf("adversarial: detector: %w", err)
	}
	v, err := g.Score.Values(p, g.Detector.Members())
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("adversarial: detector returned %d scores for %d images", len(v), n)
	}
	return v, nil
}

// penalty is what a detection score s costs in fitness.
func (g *Guard) penalty(s float64) float64 {
	if g == nil {
		return 0
	}
	return g.Weight * math.Max(0, math.Log(math.Max(s, guardFloor)/math.Max(g.Threshold, guardFloor)))
}

// evades reports whether a score stays unflagged.
func (g *Guard) evades(s float64) bool { return g == nil || s <= g.Threshold }
