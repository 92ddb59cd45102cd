package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
	"github.com/uqnn/uqnn/report"
)

// compressReport is what `uqnn compress --json` prints.
type compressReport struct {
	Tool          string                  `json:"tool"`
	Version       string                  `json:"version"`
	Seed          uint64                  `json:"seed"`
	Model         string                  `json:"model"`
	SourceSHA256  string                  `json:"source_sha256"`
	Output        string                  `json:"output"`
	PNG           string                  `json:"png"`
	Methods       []string                `json:"methods"`
	Records       []compress.Record       `json:"records"`
	Preprocess    pixel.Resolved          `json:"preprocess"`
	Data          string                  `json:"data"`
	TestImages    int                     `json:"test_images"`
	Ledger        *compress.Ledger        `json:"ledger"`
	ConvMACs      int64                   `json:"conv_macs"`
	ConvMACsAfter int64                   `json:"conv_macs_after"`
	Notes         []string                `json:"notes,omitempty"`
	Seconds       float64                 `json:"seconds"`
	Quantize      string                  `json:"quantize,omitempty"`
	Archive       string                  `json:"archive,omitempty"`
	ArchiveLedger *compress.ArchiveLedger `json:"archive_ledger,omitempty"`
}

// pngPath is OUT.prune.png (the .onnx extension dropped).
func (o *compressOptions) pngPath() string {
	if o.png != "" {
		return o.png
	}
	return strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".prune.png"
}

func runCompress(ctx context.Context, g *globals, o *compressOptions) error {
	start := time.Now()
	switch {
	case o.out == "":
		return usagef("compress: -o OUT.onnx is required")
	case o.batch < 1:
		return usagef("compress: --batch %d: want at least 1", o.batch)
	}
	if _, _, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("compress: %v", err)
	}
	methods, err := o.chain()
	if err != nil {
		return err
	}
	if err := (&train.Job{Optimizer: o.optimizer, LR: o.lr, WeightDecay: o.wd, Momentum: 0.9,
		Fit: train.FitConfig{Config: train.Config{Epochs: 1, Batch: o.batch}}}).Validate(); err != nil {
		return usagef("compress: %v", err)
	}
	qcfg, err := o.quant.check()
	if err != nil {
		return err
	}
	outs := []string{o.out, o.pngPath()}
	if o.quant.archive != "" {
		outs = append(outs, o.quant.archive)
	}
	if err := refuseAliases([]string{o.model}, outs); err != nil {
		return err
	}
	if err := checkOutputs(outs...); err != nil {
		return err
	}
	if err := checkModelFile(o.model); err != nil {
		return err
	}
	sha, err := onnxio.FileSHA256(o.model)
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	mn, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	c, src, err := openClassifier(g, o.model, mn.Test, ort.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	if ls, err := compress.Layers(src); err != nil {
		return fmt.Errorf("%s: %w", o.model, err)
	} else if len(ls) == 0 {
		return fmt.Errorf("%s: %w: no Conv, Gemm or MatMul weight held in an initializer; nothing to compress", o.model, onnxio.ErrUnsupported)
	}
	pp, err := resolvePreprocess(ctx, o.preprocess, c, src, mn, o.calibN)
	if err != nil {
		return err
	}
	test := mn.Test
	if o.testN > 0 {
		test = test.Slice(0, min(o.testN, test.N))
	}
	before, err := testAccuracy(ctx, c.WithPreprocess(pp.Preprocess), test)
	if err != nil {
		return err
	}
	tr, val, err := mn.Split(o.trainN)
	if err != nil {
		return usagef("compress: %v", err)
	}
	if o.valN > 0 {
		val = val.Slice(0, min(o.valN, val.N))
	}
	env := compress.Env{
		Data: train.Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset},
		Run:  ort.RunModel, Seed: o.seed,
		Tune: compress.Tune{Optimizer: o.optimizer, LR: o.lr, WeightDecay: o.wd, Batch: o.batch},
	}
	if !g.quiet {
		env.Log = g.stderr
		if isTerminal(g.stderr) {
			env.Hooks = append(env.Hooks, train.Progress(g.stderr, true, 0))
		}
	}
	res, err := compress.Chain(ctx, src, methods, env, sha)
	if err != nil {
		return err
	}
	final, err := o.quant.apply(ctx, qcfg, res.Model, &env)
	if err != nil {
		return err
	}
	pp.Preprocess.Store(final)
	if err := final.Save(o.out, onnxio.SaveOptions{}); err != nil {
		return err
	}
	arch, err := o.quant.writeArchive(final)
	if err != nil {
		return err
	}
	// The accuracy reported is the written file's in onnxruntime, as `uqnn eval` measures it.
	oc, _, err := openClassifier(g, o.out, mn.Test, ort.Options{})
	if err != nil {
		return fmt.Errorf("compress: the written model %s does not open: %w", o.out, err)
	}
	after, err := testAccuracy(ctx, oc.WithPreprocess(pp.Preprocess), test)
	oc.Close()
	if err != nil {
		return err
	}
	led, err := compress.NewLedger(src, res.Model)
	if err != nil {
		return err
	}
	led.Method = o.methods
	led.AccuracyBefore, led.AccuracyAfter = before, after
	if err := writePrunePNG(o.pngPath(), o.methods, src, res.Model, led); err != nil {
		return err
	}
	rep := compressReport{Tool: "uqnn compress", Version: version, Seed: o.seed, Model: o.model, SourceSHA256: sha,
		Output: o.out, PNG: o.pngPath(), Records: res.Records, Preprocess: pp, Data: mn.Dir, TestImages: test.N,
		Ledger: led, Notes: res.Notes, Seconds: time.Since(start).Seconds(), Quantize: o.quant.spec, Archive: o.quant.archive, ArchiveLedger: arch}
	for _, m := range methods {
		rep.Methods = append(rep.Methods, m.Name())
	}
	rep.ConvMACs, rep.ConvMACsAfter = led.ConvMACs()
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	return printCompress(g, rep)
}

// testAccuracy scores c on s in onnxruntime.
func testAccuracy(ctx context.Context, c *ort.Classifier, s *fixtures.Set) (float64, error) {
	probs, err := c.Probs(ctx, s.Float(0, s.N), s.N)
	if err != nil {
		return 0, err
	}
	sc, err := bayes.Evaluate(probs, c.Classes(), s.Labels[:s.N], bayes.DefaultECEBins)
	return sc.Accuracy, err
}

// writePrunePNG draws kept % and weight histograms per layer.
func writePrunePNG(path, title string, src, out *onnxio.Model, led *compress.Ledger) error {
	var ls []report.PruneLayer
	for _, l := range led.Layers {
		pl := report.PruneLayer{Name: l.Name, Before: src.Initializer(l.Weight).Float32}
		if t := out.Initializer(l.Weight); t != nil {
			pl.After = t.Float32
		}
		ls = append(ls, pl)
	}
	png, err := report.Pruning(title, ls)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, png)
}

func printCompress(g *globals, r compressReport) error {
	fmt.Fprintf(g.stdout, "%s → %s (%s; preprocess %s)\n", r.Model, r.Output, strings.Join(r.Methods, " → "), r.Preprocess.Describe())
	if err := r.Ledger.WriteTable(g.stdout); err != nil {
		return err
	}
	if r.ConvMACs > 0 {
		fmt.Fprintf(g.stdout, "conv FLOPs (multiply-adds) %d → %d (%.1f%%)\n", r.ConvMACs, r.ConvMACsAfter, 100*float64(r.ConvMACsAfter)/float64(r.ConvMACs))
	}
	fmt.Fprintf(g.stdout, "accuracy: MNIST test set, %d images, onnxruntime, the written file\n", r.TestImages)
	for _, n := range r.Notes {
		fmt.Fprintln(g.stdout, n)
	}
	if r.ArchiveLedger != nil {
		fmt.Fprintf(g.stdout, "archive %s (Deep Compression's columns; P pruning, Q quantization, H Huffman coding):\n", r.Archive)
		if err := r.ArchiveLedger.WriteTable(g.stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.stdout, "figure %s; %.0f s\n", r.PNG, r.Seconds)
	return nil
}
