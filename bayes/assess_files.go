package bayes

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/report"
)

// MaxDiff is the largest |a[i] − b[i]|: how far a float32 output (ensemble.onnx's own, run in
// onnxruntime) is from its float64 reference.
func MaxDiff(a []float32, b []float64) float64 {
	var d float64
	for i, v := range a {
		d = max(d, math.Abs(float64(v)-b[i]))
	}
	return d
}

// AssessmentFiles are the files WriteAssessment writes in dir: uncertainty.csv, reliability.png
// and mi-histogram.png.
func AssessmentFiles(dir string) []string {
	return []string{filepath.Join(dir, "uncertainty.csv"), filepath.Join(dir, "reliability.png"), filepath.Join(dir, "mi-histogram.png")}
}

// WriteAssessment writes to files (AssessmentFiles' three) the per-example CSV (label,
// prediction, confidence, entropy, expected entropy, MI, variation ratio), the reliability
// diagram and the MI histogram (right vs misclassified), each atomically.
func WriteAssessment(files []string, a *Assessment, labels []uint8) error {
	var csv bytes.Buffer
	csv.WriteString("index,label,prediction,confidence,entropy,expected_entropy,mutual_information,variation_ratio\n")
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	k := a.K
	var right, wrong []float64
	for i := range a.Predictive.N {
		row := a.Probs[i*k : (i+1)*k]
		arg := 0
		for c, v := range row {
			if v > row[arg] {
				arg = c
			}
		}
		fmt.Fprintf(&csv, "%d,%d,%d,%s,%s,%s,%s,%s\n", i, labels[i], arg, f(row[arg]), f(a.Entropy[i]), f(a.ExpectedEntropy[i]), f(a.MI[i]), f(a.VariationRatio[i]))
		if a.Misclassified()[i] {
			wrong = append(wrong, a.MI[i])
		} else {
			right = append(right, a.MI[i])
		}
	}
	bins := make([]report.ReliabilityBin, len(a.Bins))
	for i, b := range a.Bins {
		bins[i] = report.ReliabilityBin(b)
	}
	rel, err := report.Reliability(bins, fmt.Sprintf("ensemble of %d, %d images", a.Members, a.Predictive.N))
	if err != nil {
		return err
	}
	var series []report.Series
	if len(right) > 0 {
		series = append(series, report.Series{Name: "classified right", Values: right})
	}
	if len(wrong) > 0 {
		series = append(series, report.Series{Name: "misclassified", Values: wrong})
	}
	hist, err := report.MIHistogram(series, "mutual information")
	if err != nil {
		return err
	}
	for i, b := range [][]byte{csv.Bytes(), rel, hist} {
		if err := atomicfile.WriteFile(files[i], b); err != nil {
			return err
		}
	}
	return nil
}
