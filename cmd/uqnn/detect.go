package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/report"
)

func init() { registerVerb(newDetectCmd) }

// Files uqnn detect writes in -o DIR.
const (
	detectJSONFile = "detect.json"
	detectROCFile  = "roc.png"
	detectMIFile   = "mi-histogram.png"
)

type detectOptions struct {
	ensemble, attack, score, out, preprocess, data string
	clean, bootstrap, calibN                       int
	seed                                           uint64
	json                                           bool
}

// detectOutput is detect's JSON document.
type detectOutput struct {
	Tool       string                 `json:"tool"`
	Version    string                 `json:"version"`
	ORTVersion string                 `json:"onnxruntime"`
	Ensemble   string                 `json:"ensemble"`
	Files      []string               `json:"ensemble_files"`
	Preprocess pixel.Resolved         `json:"preprocess"`
	Attack     string                 `json:"attack"`
	Attacked   string                 `json:"attacked_model"`
	Clean      string                 `json:"clean_images"`
	Detection  *adversarial.Detection `json:"detection"`
}

func newDetectCmd(g *globals) *cobra.Command {
	o := detectOptions{}
	c := &cobra.Command{
		Use:   "detect ENSEMBLE --adversarial ATTACK_DIR",
		Short: "Flag adversarial images by the disagreement of a Bayesian ensemble",
		Long: `Scores the images of an attack campaign (uqnn attack -o ATTACK_DIR) and clean test images with a
Bayesian ensemble and measures how well the score separates them. ENSEMBLE is a folder of
member-NNN.onnx files (from uqnn sample; votes available) or an ensemble.onnx (mean
probabilities, entropy and MI only: the ensemble's label is then the argmax of the mean).

Adversarial images: those of the campaign that fool the attacked model. Clean images: the
originals the attack started from, or with --clean N the first N test images. Thresholds for
the true-positive rate at 1 % and 5 % false positives are set on the 5,000 validation images
(the last training images), never on test images. Every figure has a 95 % bootstrap interval
(--bootstrap resamples, seeded by --seed).

Reports AUROC, AUPR, the TPRs, the ensemble's accuracy on the adversarial images, and mean MI
adversarial / mean MI clean with the median ratio. With -o DIR writes detect.json, roc.png and
mi-histogram.png.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ensemble = args[0]
			return runDetect(cmd.Context(), g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.attack, "adversarial", "", "attack campaign folder (uqnn attack -o DIR; required)")
	f.IntVar(&o.clean, "clean", 0, "clean test images to compare with: the first N (default: the attacked originals)")
	f.StringVar(&o.score, "score", string(adversarial.ScoreMI), "detection score: mi, entropy, varratio (needs members) or maxprob")
	f.StringVarP(&o.out, "output", "o", "", "folder for detect.json, roc.png and mi-histogram.png")
	f.BoolVar(&o.json, "json", false, "print the results as one JSON document on stdout")
	f.IntVar(&o.bootstrap, "bootstrap", adversarial.DefaultBootstrap, "bootstrap resamples for the 95 % intervals")
	f.Uint64Var(&o.seed, "seed", 1, "random seed of the bootstrap")
	f.StringVar(&o.preprocess, "preprocess", "auto", "the members' pixel preprocessing: auto, 0..1, 0..255, mnist, -1..1 or scale=S,offset=O")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto without metadata")
	return c
}

func (o detectOptions) validate() error {
	switch {
	case o.attack == "":
		return usagef("detect: --adversarial ATTACK_DIR is required")
	case o.clean < 0:
		return usagef("--clean %d: want 0 (the attacked originals) or a number of test images", o.clean)
	case o.bootstrap < 2:
		return usagef("--bootstrap %d: want at least 2 resamples", o.bootstrap)
	}
	if _, err := adversarial.ParseScore(o.score); err != nil {
		return usagef("--score: %v", err)
	}
	if _, _, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("%v", err)
	}
	if o.out != "" {
		if err := checkOutputDir(o.out); err != nil {
			return err
		}
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return usagef("-o %s: %v", o.out, err)
		}
		return checkOutputs(filepath.Join(o.out, detectJSONFile), filepath.Join(o.out, detectROCFile), filepath.Join(o.out, detectMIFile))
	}
	return nil
}

func runDetect(ctx context.Context, g *globals, o detectOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	rep, recs, err := adversarial.ReadCampaign(o.attack)
	if err != nil {
		return usagef("--adversarial %v", err)
	}
	m, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	adv, clean, err := adversarial.CampaignSets(recs, m.Test, o.clean)
	if err != nil {
		return usagef("--clean: %v", err)
	}
	if adv.N == 0 {
		return fmt.Errorf("detect: %s: none of the %d attacked images fools the attacked model; nothing to detect", o.attack, len(recs))
	}
	ens, err := openEnsemble(ctx, g, o.ensemble, o.preprocess, m, o.calibN)
	if err != nil {
		return err
	}
	defer ens.Close()
	d, err := adversarial.Detect(ctx, ens, adversarial.DetectSets{Adversarial: adv, Clean: clean, Validation: m.Validation()},
		adversarial.DetectConfig{Score: adversarial.Score(o.score), Bootstrap: o.bootstrap, Seed: o.seed})
	if err != nil {
		return err
	}
	cleanDesc := fmt.Sprintf("the %d attacked originals", clean.N)
	if o.clean > 0 {
		cleanDesc = fmt.Sprintf("the first %d test images", o.clean)
	}
	out := detectOutput{Tool: "uqnn detect", Version: version, ORTVersion: ort.Version, Ensemble: o.ensemble,
		Files: ens.Files, Preprocess: ens.Preprocess, Attack: o.attack, Attacked: rep.Params.Model, Clean: cleanDesc, Detection: d}
	if o.out != "" {
		if err := writeDetectFiles(o.out, out); err != nil {
			return err
		}
	}
	if o.json {
		return writeJSON(g.stdout, out)
	}
	return printDetect(g.stdout, out)
}

func writeDetectFiles(dir string, out detectOutput) error {
	d := out.Detection
	s := report.ROCSeries{Name: string(d.Score), AUROC: d.AUROC.Value}
	for _, p := range d.ROC {
		s.FPR, s.TPR = append(s.FPR, p.FPR), append(s.TPR, p.TPR)
	}
	for _, a := range d.AtFPR {
		s.Operating = append(s.Operating, report.OperatingPoint{Label: fmt.Sprintf("%g %% validation FPR", 100*a.FPR), FPR: a.CleanFPR, TPR: a.TPR.Value})
	}
	roc, err := report.DetectionROC([]report.ROCSeries{s}, fmt.Sprintf("%s detects %d adversarial vs %d clean", d.Score, d.Adversarial, d.Clean))
	if err != nil {
		return err
	}
	hist, err := report.MIHistogram([]report.Series{{Name: "clean", Values: d.CleanMI}, {Name: "adversarial", Values: d.AdversarialMI}},
		fmt.Sprintf("ensemble MI: mean ratio adversarial/clean %.3g", float64(d.MI.MeanRatio)))
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{detectROCFile: roc, detectMIFile: hist} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, detectJSONFile), append(b, '\n'))
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
