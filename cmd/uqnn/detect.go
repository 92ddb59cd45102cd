package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
)

func init() { registerVerb(newDetectCmd) }

// Files uqnn detect writes in -o DIR.
const (
	detectJSONFile = adversarial.DetectJSONFile
	detectROCFile  = adversarial.DetectROCFile
	detectMIFile   = adversarial.DetectMIFile
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
		return checkOutputs(adversarial.DetectionFiles(o.out)...)
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
		if err := adversarial.WriteDetection(o.out, out, d); err != nil {
			return err
		}
	}
	if o.json {
		return writeJSON(g.stdout, out)
	}
	return printDetect(g.stdout, out)
}
