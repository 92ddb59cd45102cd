package bayes

import (
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/prob"
)

// Predictive is an ensemble's prediction for n examples of k classes, from the probability
// rows of its members. All values are float64; slices are indexed by example (Probs row-major).
type Predictive struct {
	N, K, Members int
	// Probs is the mean of the members' probabilities, n×k: the Bayesian model average.
	Probs []float64
	// Entropy is the predictive entropy H[mean p], nats: total uncertainty.
	Entropy []float64
	// ExpectedEntropy is the mean over members of H[p]: the aleatoric part.
	ExpectedEntropy []float64
	// MI is the mutual information between the prediction and the member, H[mean p] − mean H[p]:
	// the epistemic part (members that disagree). Never negative: rounding can make the
	// difference −1e-16 or so when all members agree, and such values are clamped to 0.
	MI []float64
	// VariationRatio is 1 − (members voting for the modal class)/members.
	VariationRatio []float64
	// Vote is the modal class of the members' argmax votes (the smallest class on ties).
	Vote []int
}

// Combine computes the per-example uncertainty of an ensemble. members[m] holds member m's
// probabilities for the same n examples, n×k row-major (float32, as models emit them); every
// member must have the same length. A NaN, infinite or negative probability is an error naming
// the member, example and class; rows need not sum exactly to 1 (float32 softmax does not).
func Combine(members [][]float32, k int) (*Predictive, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("bayes: no ensemble members; want at least one")
	}
	if k <= 0 || len(members[0])%k != 0 {
		return nil, fmt.Errorf("bayes: member 0 has %d probabilities, not rows of %d classes", len(members[0]), k)
	}
	n := len(members[0]) / k
	for m, p := range members {
		if len(p) != n*k {
			return nil, fmt.Errorf("bayes: member %d has %d probabilities; member 0 has %d (%d examples × %d classes)", m, len(p), n*k, n, k)
		}
		for i, v := range p {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("bayes: member %d gives probability %v for example %d class %d; want a finite value ≥ 0", m, v, i/k, i%k)
			}
		}
	}
	M := float64(len(members))
	r := &Predictive{
		N: n, K: k, Members: len(members),
		Probs: make([]float64, n*k), Entropy: make([]float64, n), ExpectedEntropy: make([]float64, n),
		MI: make([]float64, n), VariationRatio: make([]float64, n), Vote: make([]int, n),
	}
	votes := make([]int, k)
	row := make([]float64, k)
	for i := range n {
		mean := r.Probs[i*k : (i+1)*k]
		clear(votes)
		var eh float64
		for _, p := range members {
			pr := p[i*k : (i+1)*k]
			arg := 0
			for c, v := range pr {
				row[c] = float64(v)
				mean[c] += float64(v) / M
				if v > pr[arg] {
					arg = c
				}
			}
			votes[arg]++
			eh += Entropy(row) / M
		}
		h := Entropy(mean)
		r.Entropy[i], r.ExpectedEntropy[i] = h, eh
		r.MI[i] = math.Max(0, h-eh)
		vote := 0
		for c, v := range votes {
			if v > votes[vote] {
				vote = c
			}
		}
		r.Vote[i] = vote
		r.VariationRatio[i] = 1 - float64(votes[vote])/M
	}
	return r, nil
}

// Entropy is −Σ p·log p in nats, with 0·log 0 = 0, so rows with exact zeros (a saturated
// softmax) give a real number. The row is taken as given (not renormalised).
func Entropy(p []float64) float64 {
	var h float64
	for _, v := range p {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return h
}

// Wrong reports, per example, whether the argmax of the mean probabilities (the ensemble's
// prediction) differs from the label: the positives of a misclassification-detection AUROC.
func (r *Predictive) Wrong(labels []uint8) ([]bool, error) {
	if len(labels) != r.N {
		return nil, fmt.Errorf("bayes: %d labels for %d examples", len(labels), r.N)
	}
	w := make([]bool, r.N)
	for i, y := range labels {
		if int(y) >= r.K {
			return nil, fmt.Errorf("bayes: label %d of example %d; want < %d classes", y, i, r.K)
		}
		w[i] = prob.Argmax(r.Probs[i*r.K:(i+1)*r.K]) != int(y)
	}
	return w, nil
}

// Score evaluates the mean probabilities against labels (accuracy, NLL, Brier, ECE).
func (r *Predictive) Score(labels []uint8, bins int) (Scores, error) {
	return Score(r.Probs, r.K, labels, bins)
}
