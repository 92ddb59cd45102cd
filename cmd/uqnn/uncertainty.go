package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
)

type uncertaintyOptions struct {
	out, data, preprocess string
	split                 string
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
members inside an ensemble.onnx) on the 10,000 test images (--split validation: the 5,000
validation images) and reports, in float64:
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
	f.StringVar(&o.split, "split", "test", splitHelp)
	f.BoolVar(&o.json, "json", false, "print one JSON document (per-example values included)")
	return c
}

func runUncertainty(ctx context.Context, g *globals, path string, o uncertaintyOptions) error {
	if _, err := checkSplit(o.split); err != nil {
		return err
	}
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
	files := bayes.AssessmentFiles(out)
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
	set := splitSet(mn, o.split)
	test := set.Slice(0, testCount(o.testN, set))
	ens, err := bayes.LoadEnsemble(ctx, path, o.preprocess != "", pp, test.Float(0, test.N), test.N, test.Rows, test.Cols)
	if err != nil {
		return err
	}
	a, err := bayes.Assess(ens.Probs, ens.Classes, test.Labels, 0)
	if err != nil {
		return err
	}
	if err := bayes.WriteAssessment(files, a, test.Labels); err != nil {
		return err
	}
	rep := uncertaintyReport{Tool: "uqnn uncertainty", Version: version, Ensemble: path, Members: len(ens.Probs), Source: ens.From,
		Preprocess: ens.Preprocess.String(), Split: o.split, Scores: a.Scores, AUROCMI: a.AUROCMI, AUROCEntropy: a.AUROCEntropy, Wrong: a.Wrong,
		Files: files, MI: a.MI, Entropy: a.Entropy, Variation: a.VariationRatio}
	if ens.Mean != nil {
		dm, dmi := bayes.MaxDiff(ens.Mean, a.Probs), bayes.MaxDiff(ens.MI, a.MI)
		rep.GraphMeanDiff, rep.GraphMIDiff = &dm, &dmi
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	printUncertainty(g.stdout, rep)
	return nil
}
