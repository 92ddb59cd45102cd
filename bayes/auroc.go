package bayes

import (
	"fmt"
	"math"
	"sort"
)

// AUROC is the area under the ROC curve of score as a detector of positive: the probability
// that a random positive scores higher than a random negative, ties counting one half (the
// Mann–Whitney U statistic over n₊·n₋, from mid-ranks). For misclassification detection pass
// an uncertainty (entropy, MI, variation ratio) and Predictive.Wrong. Scores must be finite
// or +∞ (NaN is an error naming the example); both classes must be present.
func AUROC(score []float64, positive []bool) (float64, error) {
	if len(score) != len(positive) {
		return 0, fmt.Errorf("bayes: AUROC: %d scores for %d labels", len(score), len(positive))
	}
	var pos int
	for i, s := range score {
		if math.IsNaN(s) {
			return 0, fmt.Errorf("bayes: AUROC: score of example %d is NaN", i)
		}
		if positive[i] {
			pos++
		}
	}
	neg := len(score) - pos
	if pos == 0 || neg == 0 {
		return 0, fmt.Errorf("bayes: AUROC: %d positives and %d negatives; want both classes", pos, neg)
	}
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	// Sum of the positives' mid-ranks (1-based): a run of ties shares the mean of its ranks.
	var rankSum float64
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && score[idx[hi]] == score[idx[lo]] {
			hi++
		}
		mid := float64(lo+hi+1) / 2 // mean of ranks lo+1 … hi
		for _, i := range idx[lo:hi] {
			if positive[i] {
				rankSum += mid
			}
		}
		lo = hi
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg)), nil
}
