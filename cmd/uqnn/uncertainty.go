package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/report"
)

type uncertaintyOptions struct {
	out, data, preprocess string
	json                  bool
	testN                 int // tests use fewer images (0: all)
}

func init() { registerVerb(newUncertaintyCmd) }

func newUncertaintyCmd(g *globals) *cobra.Command {
	o := uncertaintyOptions{}
	c := &cobra.Command{
		Use:   "uncertainty ENSEMBLE_DIR|ensemble.onnx",
		Short: "Score an ensemble's predictive uncertainty on the MNIST test set",
		Long: `Runs every member of an ensemble (the member-NNN.onnx files of a uqnn sample folder, or the
members inside an ensemble.onnx) on the 10,000 test images and reports, in float64:
per example the mutual information (MI), the predictive entropy and the variation ratio
(uncertainty.csv); over the set the accuracy, NLL, Brier score and ECE of the mean
probabilities, and the AUROC of MI and of entropy as detectors of misclassification.
Draws reliability.png (reliability diagram) and mi-histogram.png (MI of the right and of the
misclassified examples, log scale) into -o (default: the ensemble's folder).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUncertainty(cmd.Context(), g, args[0], o)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.out, "output", "o", "", "folder for uncertainty.csv and the pictures (default: the ensemble's folder)")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.StringVar(&o.preprocess, "preprocess", "", "pixel preprocessing (default: the members' metadata)")
	f.BoolVar(&o.json, "json", false, "print one JSON document (per-example values included)")
	return c
}

// uncertaintyReport is what --json prints.
type uncertaintyReport struct {
	Tool         string       `json:"tool"`
	Version      string       `json:"version"`
	Ensemble     string       `json:"ensemble"`
	Members      int          `json:"members"`
	Source       string       `json:"source"` // "member files" or "ensemble.onnx"
	Preprocess   string       `json:"preprocess"`
	Scores       bayes.Scores `json:"scores"`
	AUROCMI      float64      `json:"auroc_mi"`
	AUROCEntropy float64      `json:"auroc_entropy"`
	Wrong        int          `json:"misclassified"`
	// GraphMeanDiff and GraphMIDiff are the largest differences between ensemble.onnx's own
	// outputs (float32, onnxruntime) and the float64 values above (ensemble.onnx input only).
	GraphMeanDiff *float64  `json:"graph_mean_max_diff,omitempty"`
	GraphMIDiff   *float64  `json:"graph_mi_max_diff,omitempty"`
	Files         []string  `json:"files"`
	MI            []float64 `json:"mi"`
	Entropy       []float64 `json:"entropy"`
	Variation     []float64 `json:"variation_ratio"`
}

func runUncertainty(ctx context.Context, g *globals, path string, o uncertaintyOptions) error {
	st, err := os.Stat(path)
	if err != nil {
		return usagef("uncertainty: %v", err)
	}
	out := o.out
	if out == "" {
		out = path
		if !st.IsDir() {
			out = filepath.Dir(path)
		}
	}
	files := []string{filepath.Join(out, "uncertainty.csv"), filepath.Join(out, "reliability.png"), filepath.Join(out, "mi-histogram.png")}
	if err := checkOutputs(files...); err != nil {
		return err
	}
	pp, _, err := pixel.Parse(o.preprocess)
	if err != nil {
		return usagef("uncertainty: %v", err)
	}
	if err := ort.Setup(g.ortLib); err != nil {
		return err
	}
	mn, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	test := mn.Test.Slice(0, testCount(o.testN, mn.Test))
	ens, err := bayes.LoadEnsemble(ctx, path, o.preprocess != "", pp, test.Float(0, test.N), test.N, test.Rows, test.Cols)
	if err != nil {
		return err
	}
	a, err := bayes.Assess(ens.Probs, ens.Classes, test.Labels, 0)
	if err != nil {
		return err
	}
	if err := writeUncertaintyFiles(files, a, test.Labels); err != nil {
		return err
	}
	rep := uncertaintyReport{Tool: "uqnn uncertainty", Version: version, Ensemble: path, Members: len(ens.Probs), Source: ens.From,
		Preprocess: ens.Preprocess.String(), Scores: a.Scores, AUROCMI: a.AUROCMI, AUROCEntropy: a.AUROCEntropy, Wrong: a.Wrong,
		Files: files, MI: a.MI, Entropy: a.Entropy, Variation: a.VariationRatio}
	if ens.Mean != nil {
		dm, dmi := maxDiff(ens.Mean, a.Probs), maxDiff(ens.MI, a.MI)
		rep.GraphMeanDiff, rep.GraphMIDiff = &dm, &dmi
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	s := a.Scores
	fmt.Fprintf(g.stdout, "%s: %d members (%s), %d test images\n", path, rep.Members, ens.From, s.N)
	fmt.Fprintf(g.stdout, "accuracy %.2f%%  NLL %.4f  Brier %.4f  ECE %.4f (%d bins)\n", 100*s.Accuracy, s.NLL, s.Brier, s.ECE, s.Bins)
	fmt.Fprintf(g.stdout, "misclassified %d: AUROC of MI %.4f, of predictive entropy %.4f\n", a.Wrong, a.AUROCMI, a.AUROCEntropy)
	if rep.GraphMIDiff != nil {
		fmt.Fprintf(g.stdout, "ensemble.onnx's own outputs differ by at most %.2g (mean probabilities), %.2g (MI)\n", *rep.GraphMeanDiff, *rep.GraphMIDiff)
	}
	fmt.Fprintf(g.stdout, "wrote %s, %s, %s\n", files[0], files[1], files[2])
	return nil
}

func maxDiff(a []float32, b []float64) float64 {
	var d float64
	for i, v := range a {
		d = max(d, math.Abs(float64(v)-b[i]))
	}
	return d
}

// writeUncertaintyFiles writes the per-example CSV, the reliability diagram and the MI
// histogram (right vs misclassified), each atomically.
func writeUncertaintyFiles(files []string, a *bayes.Assessment, labels []uint8) error {
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
