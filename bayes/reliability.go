package bayes

import "github.com/uqnn/uqnn/internal/prob"

// Bin is one confidence bin of a reliability diagram, with the ECE's binning.
type Bin struct {
	Lo, Hi     float64 // confidence range (Lo, Hi]
	Count      int     // examples whose confidence falls in it
	Confidence float64 // their mean confidence (0 when empty)
	Accuracy   float64 // the fraction of them classified right (0 when empty)
}

// Reliability returns the bins (0 means DefaultECEBins) of n×k probabilities against labels,
// the data of a reliability diagram; the ECE is Σ Count·|Accuracy − Confidence|/n over them.
// Inputs are checked as Score checks them.
func Reliability(probs []float64, k int, labels []uint8, bins int) ([]Bin, error) {
	if _, err := Score(probs, k, labels, bins); err != nil {
		return nil, err
	}
	if bins <= 0 {
		bins = DefaultECEBins
	}
	out := make([]Bin, bins)
	for j := range out {
		out[j].Lo, out[j].Hi = float64(j)/float64(bins), float64(j+1)/float64(bins)
	}
	for i := range len(labels) {
		row := probs[i*k : (i+1)*k]
		arg := prob.Argmax(row)
		b := &out[confidenceBin(row[arg], bins)]
		b.Count++
		b.Confidence += row[arg]
		if arg == int(labels[i]) {
			b.Accuracy++
		}
	}
	for j := range out {
		if c := out[j].Count; c > 0 {
			out[j].Confidence /= float64(c)
			out[j].Accuracy /= float64(c)
		}
	}
	return out, nil
}
