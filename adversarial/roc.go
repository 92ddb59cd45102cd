package adversarial

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Detection scores follow one convention: a larger score is more suspicious, an image is
// flagged when its score is strictly above the threshold, and adversarial images are the
// positive class.

// ROCPoint is one corner of an ROC curve.
type ROCPoint struct {
	FPR float64 `json:"fpr"`
	TPR float64 `json:"tpr"`
}

// Curve is the ROC of a detector on positives (adversarial) against negatives (clean), with its
// areas. A group of tied scores is one threshold: it moves the curve in one diagonal step, so
// the area under the polygon counts a tied pair one half (the Mann–Whitney U statistic), and the
// average precision takes the group's precision once for all the recall it adds.
type Curve struct {
	Points []ROCPoint // from (0, 0) to (1, 1), one point per distinct score
	AUROC  float64    // area under the ROC polygon: P(pos > neg) + ½·P(pos = neg)
	AUPR   float64    // average precision Σ (R_k − R_{k−1})·P_k over the distinct thresholds
}

// ROC computes the curve and its areas. Both sets must be non-empty and free of NaN (+∞ and
// −∞ are allowed: they sort last and first).
func ROC(pos, neg []float64) (Curve, error) {
	if err := checkScores("adversarial", pos); err != nil {
		return Curve{}, err
	}
	if err := checkScores("clean", neg); err != nil {
		return Curve{}, err
	}
	p := sortedDesc(pos)
	n := sortedDesc(neg)
	return roc(p, n), nil
}

// roc walks both sorted (descending) sets one distinct score at a time.
func roc(p, n []float64) Curve {
	np, nn := float64(len(p)), float64(len(n))
	c := Curve{Points: []ROCPoint{{0, 0}}}
	i, j := 0, 0
	var auc, ap float64
	for i < len(p) || j < len(n) {
		s := math.Inf(-1)
		if i < len(p) {
			s = p[i]
		}
		if j < len(n) && (i >= len(p) || n[j] > s) {
			s = n[j]
		}
		i0, j0 := i, j
		for i < len(p) && p[i] == s {
			i++
		}
		for j < len(n) && n[j] == s {
			j++
		}
		// Trapezoid under the step from (j0, i0) to (j, i) in counts.
		auc += float64(j-j0) * float64(i+i0) / 2
		if i > i0 {
			ap += float64(i-i0) / np * float64(i) / float64(i+j)
		}
		c.Points = append(c.Points, ROCPoint{FPR: float64(j) / nn, TPR: float64(i) / np})
	}
	c.AUROC = auc / (np * nn)
	c.AUPR = ap
	return c
}

// Threshold is the detection threshold that flags at most a fraction fpr of the clean scores
// (flag when score > threshold): the (k+1)-th largest clean score with k = ⌊fpr·n⌋. Ties at the
// threshold stay unflagged, so the clean false-positive rate is at most fpr and can be less.
// fpr must be in [0, 1); the scores non-empty and free of NaN.
func Threshold(clean []float64, fpr float64) (float64, error) {
	if !(fpr >= 0 && fpr < 1) {
		return 0, fmt.Errorf("adversarial: false-positive rate %v; want a value in [0, 1)", fpr)
	}
	if err := checkScores("validation", clean); err != nil {
		return 0, err
	}
	return threshold(sortedDesc(clean), fpr), nil
}

func threshold(desc []float64, fpr float64) float64 {
	k := int(math.Floor(fpr*float64(len(desc)) + 1e-9))
	return desc[min(k, len(desc)-1)]
}

// Flagged is the fraction of scores strictly above t.
func Flagged(scores []float64, t float64) float64 {
	if len(scores) == 0 {
		return math.NaN()
	}
	var k int
	for _, s := range scores {
		if s > t {
			k++
		}
	}
	return float64(k) / float64(len(scores))
}

// Interval is a figure with its bootstrap percentile interval.
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"` // 2.5th percentile of the bootstrap replicates
	Hi    float64 `json:"hi"` // 97.5th percentile
}

// Bootstrapped are the detection figures of one detector with their 95 % intervals.
type Bootstrapped struct {
	AUROC, AUPR Interval
	// TPR[i] is the true-positive rate at the threshold that flags at most FPRs[i] of the
	// validation scores.
	TPR []Interval
	// Thresholds[i] is that threshold on the full validation set.
	Thresholds []float64
}

// Bootstrap computes AUROC and AUPR of pos against neg, and the TPR on pos at each validation
// false-positive rate in fprs (thresholds from val), each with a 95 % percentile interval from
// b stratified resamples: every replicate redraws pos, neg and val, each with replacement and
// at its own size, so the interval of a TPR includes the uncertainty of its threshold. rng
// drives the resampling alone: the same seed gives the same intervals.
func Bootstrap(pos, neg, val []float64, fprs []float64, b int, rng *rand.Rand) (Bootstrapped, error) {
	if b < 2 {
		return Bootstrapped{}, fmt.Errorf("adversarial: bootstrap of %d resamples; want at least 2", b)
	}
	for _, set := range []struct {
		name string
		v    []float64
	}{{"adversarial", pos}, {"clean", neg}, {"validation", val}} {
		if err := checkScores(set.name, set.v); err != nil {
			return Bootstrapped{}, err
		}
	}
	for _, f := range fprs {
		if !(f >= 0 && f < 1) {
			return Bootstrapped{}, fmt.Errorf("adversarial: false-positive rate %v; want a value in [0, 1)", f)
		}
	}
	figures := func(p, n, v []float64) (auroc, aupr float64, tpr []float64, th []float64) {
		c := roc(sortedDesc(p), sortedDesc(n))
		vd := sortedDesc(v)
		for _, f := range fprs {
			t := threshold(vd, f)
			th = append(th, t)
			tpr = append(tpr, Flagged(p, t))
		}
		return c.AUROC, c.AUPR, tpr, th
	}
	var out Bootstrapped
	a, ap, tpr, th := figures(pos, neg, val)
	out.Thresholds = th
	reps := make([][]float64, 2+len(fprs))
	rp, rn, rv := make([]float64, len(pos)), make([]float64, len(neg)), make([]float64, len(val))
	draw := func(dst, src []float64) {
		for i := range dst {
			dst[i] = src[rng.IntN(len(src))]
		}
	}
	for range b {
		draw(rp, pos)
		draw(rn, neg)
		draw(rv, val)
		ra, rap, rt, _ := figures(rp, rn, rv)
		reps[0] = append(reps[0], ra)
		reps[1] = append(reps[1], rap)
		for i, x := range rt {
			reps[2+i] = append(reps[2+i], x)
		}
	}
	out.AUROC = percentiles(a, reps[0])
	out.AUPR = percentiles(ap, reps[1])
	for i := range fprs {
		out.TPR = append(out.TPR, percentiles(tpr[i], reps[2+i]))
	}
	return out, nil
}

// percentiles is value with the 2.5th and 97.5th percentiles of reps (type 7 quantiles).
func percentiles(value float64, reps []float64) Interval {
	sorted := append([]float64(nil), reps...)
	sort.Float64s(sorted)
	q := func(p float64) float64 {
		h := p * float64(len(sorted)-1)
		lo := int(math.Floor(h))
		if lo+1 >= len(sorted) {
			return sorted[len(sorted)-1]
		}
		return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
	}
	return Interval{Value: value, Lo: q(0.025), Hi: q(0.975)}
}

func sortedDesc(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	return s
}

func checkScores(name string, v []float64) error {
	if len(v) == 0 {
		return fmt.Errorf("adversarial: no %s scores; want at least one", name)
	}
	for i, s := range v {
		if math.IsNaN(s) {
			return fmt.Errorf("adversarial: %s score %d is NaN; want a number", name, i)
		}
	}
	return nil
}
