package ort

import (
	"context"
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
)

// minProb floors probabilities in the NLL so a confident wrong answer costs a finite amount.
const minProb = 1e-12

// Calibrate scores every preset on n labelled images (raw 0..255 pixels) and returns the best:
// highest accuracy, then lowest NLL, then the earlier preset. The slice lists every candidate.
func Calibrate(ctx context.Context, c *Classifier, raw []float32, labels []uint8, n int) (pixel.Preprocess, []pixel.Calibration, error) {
	if n <= 0 || len(labels) < n {
		return pixel.Preprocess{}, nil, fmt.Errorf("ort: calibrate needs labelled images; got %d images, %d labels", n, len(labels))
	}
	var all []pixel.Calibration
	best := -1
	for _, pp := range pixel.Presets {
		p, err := c.WithPreprocess(pp).Probs(ctx, raw, n)
		if err != nil {
			return pixel.Preprocess{}, nil, err
		}
		k := c.Classes()
		var correct int
		var nll float64
		for i := range n {
			row := p[i*k : (i+1)*k]
			if prob.Argmax(row) == int(labels[i]) {
				correct++
			}
			nll -= math.Log(math.Max(float64(row[labels[i]]), minProb))
		}
		cal := pixel.Calibration{Preprocess: pp, Accuracy: float64(correct) / float64(n), NLL: nll / float64(n)}
		all = append(all, cal)
		if best < 0 || cal.Accuracy > all[best].Accuracy || (cal.Accuracy == all[best].Accuracy && cal.NLL < all[best].NLL) {
			best = len(all) - 1
		}
	}
	return all[best].Preprocess, all, nil
}
