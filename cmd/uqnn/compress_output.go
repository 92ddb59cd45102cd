package main

import (
	"context"
	"fmt"
	"time"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

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
	if err := compress.CheckLayers(o.model, src); err != nil {
		return err
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
	data, err := train.MNISTData(mn, o.trainN, o.valN, pp.Preprocess)
	if err != nil {
		return usagef("compress: %v", err)
	}
	env := compress.Env{
		Data: data, Run: ort.RunModel, Seed: o.seed,
		Tune: compress.Tune{Optimizer: o.optimizer, LR: o.lr, WeightDecay: o.wd, Batch: o.batch},
	}
	if !g.quiet {
		env.Log = g.stderr
		if isTerminal(g.stderr) {
			env.Hooks = append(env.Hooks, train.Progress(g.stderr, true, 0))
		}
	}
	if !o.noMask {
		if env.Prior, err = compress.PriorOf(src); err != nil {
			return err
		}
		if env.Prior != nil && !g.quiet {
			fmt.Fprintf(g.stderr, "compress: %s was compressed before: its zero weights stay zero (--no-mask lets them regrow)\n", o.model)
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

// writePrunePNG draws kept % and weight histograms per layer.
func writePrunePNG(path, title string, src, out *onnxio.Model, led *compress.Ledger) error {
	png, err := compress.PruneFigure(title, src, out, led)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, png)
}
