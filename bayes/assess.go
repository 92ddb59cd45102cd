package bayes

import "fmt"

// Assessment is what `uqnn uncertainty` reports about an ensemble on a labelled set: the
// per-example uncertainty (Predictive), the set-level scores of the mean probabilities, and how
// well MI and predictive entropy rank the misclassified examples above the rest. Float64
// throughout.
type Assessment struct {
	*Predictive
	Scores
	// AUROCMI and AUROCEntropy are the areas under the ROC curve of MI and of predictive entropy
	// as detectors of the ensemble's misclassifications (0 when every example is right or
	// every one wrong: no ROC curve exists).
	AUROCMI      float64 `json:"auroc_mi"`
	AUROCEntropy float64 `json:"auroc_entropy"`
	Wrong        int     `json:"misclassified"`
	Bins         []Bin   `json:"-"`
	wrong        []bool
}

// Assess combines the members' n×k probabilities (Combine) and scores the mean against labels.
func Assess(members [][]float32, k int, labels []uint8, bins int) (*Assessment, error) {
	p, err := Combine(members, k)
	if err != nil {
		return nil, err
	}
	if len(labels) != p.N {
		return nil, fmt.Errorf("bayes: %d labels for %d examples", len(labels), p.N)
	}
	sc, err := Score(p.Probs, k, labels, bins)
	if err != nil {
		return nil, err
	}
	a := &Assessment{Predictive: p, Scores: sc}
	if a.Bins, err = Reliability(p.Probs, k, labels, bins); err != nil {
		return nil, err
	}
	if a.wrong, err = p.Wrong(labels); err != nil {
		return nil, err
	}
	for _, w := range a.wrong {
		if w {
			a.Wrong++
		}
	}
	if a.Wrong > 0 && a.Wrong < p.N {
		if a.AUROCMI, err = AUROC(p.MI, a.wrong); err != nil {
			return nil, err
		}
		if a.AUROCEntropy, err = AUROC(p.Entropy, a.wrong); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Misclassified reports, per example, whether the ensemble's arg max differs from the label.
func (a *Assessment) Misclassified() []bool { return a.wrong }
