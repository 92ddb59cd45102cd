package bayes

import (
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/prob"
)

// ProbFloor is the smallest probability the log-likelihood uses: a prediction of exactly zero
// for the true class costs −log(1e-12) ≈ 27.6 nats instead of infinity.
const ProbFloor = 1e-12

// Scores summarises a classifier's predictive probabilities against labels.
type Scores struct {
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	NLL      float64 `json:"nll"`   // mean negative log-likelihood, nats
	Brier    float64 `json:"brier"` // mean Σ_c (p_c − [c = y])², in [0, 2]
	ECE      float64 `json:"ece"`   // expected calibration error, equal-width confidence bins
	Bins     int     `json:"ece_bins"`
}

// DefaultECEBins is the bin count of the ECE (Guo et al. 2017 use 15).
const DefaultECEBins = 15

// Evaluate computes accuracy, NLL, Brier score and ECE with the given number of bins (0 means
// DefaultECEBins) from n×k probabilities. A NaN, infinite or negative probability is an error
// naming the image.
func Evaluate(probs []float32, k int, labels []uint8, bins int) (Scores, error) {
	return score(probs, k, labels, bins)
}

// Score is Evaluate for float64 probabilities (an ensemble's mean).
func Score(probs []float64, k int, labels []uint8, bins int) (Scores, error) {
	return score(probs, k, labels, bins)
}

func score[T float32 | float64](probs []T, k int, labels []uint8, bins int) (Scores, error) {
	if k <= 0 || len(probs)%k != 0 {
		return Scores{}, fmt.Errorf("bayes: %d probabilities are not rows of %d classes", len(probs), k)
	}
	n := len(probs) / k
	if len(labels) != n {
		return Scores{}, fmt.Errorf("bayes: %d labels for %d rows", len(labels), n)
	}
	if bins <= 0 {
		bins = DefaultECEBins
	}
	s := Scores{N: n, Bins: bins}
	if n == 0 {
		return s, nil
	}
	conf := make([]float64, bins)
	acc := make([]float64, bins)
	cnt := make([]int, bins)
	var correct int
	for i := range n {
		row := probs[i*k : (i+1)*k]
		y := int(labels[i])
		if y >= k {
			return Scores{}, fmt.Errorf("bayes: label %d of row %d; want < %d classes", y, i, k)
		}
		for c, v := range row {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return Scores{}, fmt.Errorf("bayes: model outputs %v for image %d (class %d); want finite probabilities ≥ 0", v, i, c)
			}
			d := float64(v)
			if c == y {
				d--
			}
			s.Brier += d * d
		}
		arg := prob.Argmax(row)
		hit := 0.0
		if arg == y {
			correct++
			hit = 1
		}
		s.NLL -= math.Log(math.Max(float64(row[y]), ProbFloor))
		c := float64(row[arg])
		b := confidenceBin(c, bins)
		conf[b] += c
		acc[b] += hit
		cnt[b]++
	}
	s.Accuracy = float64(correct) / float64(n)
	s.NLL /= float64(n)
	s.Brier /= float64(n)
	for b := range bins {
		if cnt[b] > 0 {
			s.ECE += math.Abs(acc[b]-conf[b]) / float64(n)
		}
	}
	return s, nil
}

// confidenceBin is the ECE bin of confidence c among bins equal-width bins: bin j is
// (j/B, (j+1)/B], right-closed, so a confidence exactly on an edge belongs to the lower bin;
// confidence 0 goes to the first.
func confidenceBin(c float64, bins int) int {
	b := min(int(c*float64(bins)), bins-1)
	if c*float64(bins) == float64(b) && b > 0 {
		b--
	}
	return max(b, 0)
}
