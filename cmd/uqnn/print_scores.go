package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/pixel"
)

// Text output of the verbs that score models and ensembles (eval, detect, uncertainty).

// printUncertainty prints an ensemble's uncertainty scores.
func printUncertainty(w io.Writer, rep uncertaintyReport) {
	s := rep.Scores
	fmt.Fprintf(w, "%s: %d members (%s), %d %s images\n", rep.Ensemble, rep.Members, rep.Source, s.N, rep.Split)
	fmt.Fprintf(w, "accuracy %.2f%%  NLL %.4f  Brier %.4f  ECE %.4f (%d bins)\n", 100*s.Accuracy, s.NLL, s.Brier, s.ECE, s.Bins)
	fmt.Fprintf(w, "misclassified %d: AUROC of MI %.4f, of predictive entropy %.4f\n", rep.Wrong, rep.AUROCMI, rep.AUROCEntropy)
	if rep.GraphMIDiff != nil {
		fmt.Fprintf(w, "ensemble.onnx's own outputs differ by at most %.2g (mean probabilities), %.2g (MI)\n", *rep.GraphMeanDiff, *rep.GraphMIDiff)
	}
	fmt.Fprintf(w, "wrote %s, %s, %s\n", rep.Files[0], rep.Files[1], rep.Files[2])
}

func printDetect(w io.Writer, out detectOutput) error {
	d := out.Detection
	iv := func(i adversarial.Interval) string { return fmt.Sprintf("%.4f [%.4f, %.4f]", i.Value, i.Lo, i.Hi) }
	fmt.Fprintf(w, "ensemble %s (%s), attack %s on %s\n", out.Ensemble, d.Vote, out.Attack, out.Attacked)
	fmt.Fprintf(w, "images: %d adversarial (fooling the attacked model), %d clean (%s), %d validation\n", d.Adversarial, d.Clean, out.Clean, d.Validation)
	fmt.Fprintf(w, "score %s, 95 %% bootstrap intervals (%d resamples, seed %d)\n", d.Score, d.Bootstrap, d.Seed)
	fmt.Fprintf(w, "  AUROC          %s\n", iv(d.AUROC))
	fmt.Fprintf(w, "  AUPR           %s\n", iv(d.AUPR))
	for _, a := range d.AtFPR {
		fmt.Fprintf(w, "  TPR @ %4.1f%% FPR %s  (threshold %.4g; FPR validation %.4f, clean test %.4f)\n", 100*a.FPR, iv(a.TPR), a.Threshold, a.ValidationFPR, a.CleanFPR)
	}
	fmt.Fprintf(w, "AUROC by score:")
	for _, s := range []adversarial.Score{adversarial.ScoreMI, adversarial.ScoreEntropy, adversarial.ScoreVarRatio, adversarial.ScoreMaxProb} {
		if a, ok := d.AUROCByScore[s]; ok {
			fmt.Fprintf(w, " %s %.4f", s, a)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ensemble accuracy: adversarial %.2f%%, clean %.2f%%\n", 100*d.VoteAccuracy, 100*d.CleanVoteAccuracy)
	fmt.Fprintf(w, "MI adversarial/clean: mean %.6g / %.6g = %.4g; median %.6g / %.6g = %.4g\n",
		d.MI.MeanAdversarial, d.MI.MeanClean, float64(d.MI.MeanRatio), d.MI.MedianAdversarial, d.MI.MedianClean, float64(d.MI.MedianRatio))
	return nil
}

// uncertaintyReport is what --json prints.
type uncertaintyReport struct {
	Tool         string       `json:"tool"`
	Version      string       `json:"version"`
	Ensemble     string       `json:"ensemble"`
	Members      int          `json:"members"`
	Source       string       `json:"source"` // "member files" or "ensemble.onnx"
	Preprocess   string       `json:"preprocess"`
	Split        string       `json:"split"` // test or validation
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

// evalReport is what `uqnn eval --json` prints.
type evalReport struct {
	Tool         string         `json:"tool"`
	Version      string         `json:"version"`
	ORTVersion   string         `json:"onnxruntime"`
	Model        string         `json:"model"`
	Engine       string         `json:"engine"`
	Input        string         `json:"input"`
	InputShape   []int64        `json:"input_shape"`
	Layout       string         `json:"layout"`
	FixedBatch   int            `json:"fixed_batch"`
	Output       string         `json:"output"`
	OutputKind   string         `json:"output_kind"`
	Preprocess   pixel.Resolved `json:"preprocess"`
	Data         string         `json:"data"`
	Split        string         `json:"split"` // test or validation
	Scores       bayes.Scores   `json:"scores"`
	Seconds      float64        `json:"seconds"`
	ImagesPerSec float64        `json:"images_per_sec"`
}

func printEval(g *globals, r evalReport) error {
	w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	batch := "free batch"
	if r.FixedBatch > 0 {
		batch = fmt.Sprintf("fixed batch %d", r.FixedBatch)
	}
	engine := "onnxruntime " + r.ORTVersion
	if r.Engine == "gorgonia" {
		engine = "gorgonia"
	}
	fmt.Fprintf(w, "model\t%s\n", r.Model)
	fmt.Fprintf(w, "engine\t%s\n", engine)
	fmt.Fprintf(w, "input\t%s %v %s, %s\n", r.Input, r.InputShape, r.Layout, batch)
	kind := r.OutputKind
	if kind == "logits" {
		kind += " (softmax applied)"
	}
	fmt.Fprintf(w, "output\t%s, %s\n", r.Output, kind)
	switch r.Preprocess.Source {
	case pixel.FromMetadata:
		fmt.Fprintf(w, "preprocess\t%s, from the model's %s metadata\n", r.Preprocess.Describe(), pixel.MetaKey)
	case pixel.FromCalibration:
		fmt.Fprintf(w, "preprocess\t%s, chosen by calibration on %d validation images\n", r.Preprocess.Describe(), r.Preprocess.CalibImages)
		for _, c := range r.Preprocess.Candidates {
			fmt.Fprintf(w, "\t  %-7s accuracy %.4f  nll %.4f\n", c.Preprocess.Name, c.Accuracy, c.NLL)
		}
	default:
		fmt.Fprintf(w, "preprocess\t%s\n", r.Preprocess.Describe())
	}
	fmt.Fprintf(w, "images\t%d MNIST %s images (%s)\n", r.Scores.N, r.Split, r.Data)
	fmt.Fprintf(w, "accuracy\t%.4f\n", r.Scores.Accuracy)
	fmt.Fprintf(w, "nll\t%.4f nats\n", r.Scores.NLL)
	fmt.Fprintf(w, "ece\t%.4f (%d bins)\n", r.Scores.ECE, r.Scores.Bins)
	fmt.Fprintf(w, "speed\t%.0f images/s\n", r.ImagesPerSec)
	return w.Flush()
}
