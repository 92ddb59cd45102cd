package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
)

type evalOptions struct {
	model      string
	n          int
	batch      int
	preprocess string
	engine     string
	data       string
	split      string
	nAll       bool // --n not given: every image of the split
	calibN     int
	threads    int
	json       bool
}

func init() { registerVerb(newEvalCmd) }

func newEvalCmd(g *globals) *cobra.Command {
	o := evalOptions{}
	c := &cobra.Command{
		Use:   "eval MODEL.onnx",
		Short: "Accuracy, NLL, ECE and speed of an ONNX classifier on the MNIST test set",
		Long: `Evaluates an ONNX image classifier on the first N MNIST test images (--split validation: the
5,000 validation images instead): accuracy, mean negative log-likelihood (nats), expected
calibration error (15 equal-width bins) and images/s.
Free or fixed batch, NCHW, NHWC or flat input, logits or probabilities out all work as they are.

--preprocess maps a raw pixel x in 0..255 to the model input: 0..1 (x/255), 0..255, mnist
((x/255-0.1307)/0.3081), -1..1, scale=S,offset=O (x·S+O), or auto: the model's uqnn.preprocess
metadata, else the preset most accurate on --calib-n validation images (never the test set;
with --split validation they are among the images scored).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.model = args[0]
			o.nAll = !cmd.Flags().Changed("n")
			return runEval(cmd.Context(), g, o)
		},
	}
	f := c.Flags()
	f.IntVar(&o.n, "n", fixtures.TestSize, "number of images (from the first; default: all of the split)")
	f.StringVar(&o.split, "split", "test", splitHelp)
	f.IntVar(&o.batch, "batch", 0, "images per run for free-batch models (default 256; fixed-batch models use their own)")
	f.StringVar(&o.preprocess, "preprocess", "auto", "pixel preprocessing: auto, 0..1, 0..255, mnist, -1..1 or scale=S,offset=O")
	f.StringVar(&o.engine, "engine", "ort", "inference engine: ort (onnxruntime) or gorgonia")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto")
	f.IntVar(&o.threads, "threads", 0, "onnxruntime intra-op threads (0: all cores)")
	f.BoolVar(&o.json, "json", false, "print one JSON document")
	return c
}

func runEval(ctx context.Context, g *globals, o evalOptions) error {
	size, err := checkSplit(o.split)
	if err != nil {
		return err
	}
	if o.nAll {
		o.n = size
	}
	if o.n <= 0 || o.n > size {
		return usagef("--n %d: want 1..%d (the MNIST %s images)", o.n, size, o.split)
	}
	if o.batch < 0 {
		return usagef("--batch %d: want a positive batch size, or 0 for the default", o.batch)
	}
	if o.engine != "ort" && o.engine != "gorgonia" {
		return usagef("--engine %q: want ort or gorgonia", o.engine)
	}
	if o.threads < 0 || o.calibN < 1 {
		return usagef("--threads %d, --calib-n %d: want threads ≥ 0 (0: all cores) and at least 1 calibration image", o.threads, o.calibN)
	}
	if _, _, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("%v", err)
	}
	m, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	c, model, err := openClassifier(g, o.model, m.Test, ort.Options{Threads: o.threads, Chunk: o.batch})
	if err != nil {
		return err
	}
	defer c.Close()
	if o.batch > 0 && c.Batch() > 0 && o.batch != c.Batch() {
		return usagef("--batch %d: %s has a fixed batch of %d; leave --batch out", o.batch, o.model, c.Batch())
	}
	pp, err := resolvePreprocess(ctx, o.preprocess, c, model, m, o.calibN)
	if err != nil {
		return err
	}
	set := splitSet(m, o.split)
	raw := set.Float(0, o.n)
	start := time.Now()
	var probs []float32
	switch o.engine {
	case "ort":
		probs, err = c.WithPreprocess(pp.Preprocess).Probs(ctx, raw, o.n)
	case "gorgonia":
		// The Gorgonia graph is built for any batch size, also for fixed-batch models.
		if probs, err = nn.Probs(ctx, model, pp.Preprocess, raw, o.n, set.Dim(), o.batch); err != nil {
			err = fmt.Errorf("%s: %w", o.model, err)
		}
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	sc, err := bayes.Evaluate(probs, c.Classes(), set.Labels[:o.n], bayes.DefaultECEBins)
	if err != nil {
		return err
	}
	rep := evalReport{
		Tool: "uqnn eval", Version: version, ORTVersion: ort.Version,
		Model: o.model, Engine: o.engine,
		Input: c.InputName(), InputShape: c.InputShape(), Layout: c.Layout().String(), FixedBatch: c.Batch(),
		Output: c.OutputName(), OutputKind: map[bool]string{true: "probabilities", false: "logits"}[c.OutputIsProb()],
		Preprocess: pp, Data: m.Dir, Split: o.split, Scores: sc,
		Seconds: elapsed.Seconds(), ImagesPerSec: rate(o.n, elapsed),
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	return printEval(g, rep)
}
