package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
)

type trainOptions struct {
	arch, init, out, optimizer, schedule, preprocess, data string
	epochs, batch, curvesEvery, calibN                     int
	lr, momentum, wd                                       float64
	seed                                                   uint64
	resume, json, archSet                                  bool
	trainN, valN, testN                                    int // tests use fewer images (0: all)
	hooks                                                  []train.Hook
}

func init() { registerVerb(newTrainCmd) }

func newTrainCmd(g *globals) *cobra.Command {
	o := trainOptions{}
	c := &cobra.Command{
		Use:   "train -o OUT.onnx",
		Short: "Train a reference network on MNIST, or fine-tune an ONNX classifier",
		Long: `Trains lenet5 (Caffe LeNet-5 with ReLU, 431,080 parameters), zoo (the ONNX model zoo MNIST net)
or mlp (LeNet-300-100) from a seeded He initialisation, or fine-tunes any supported ONNX model
given with --init, keeping its input/output names and its preprocessing.

Data: MNIST's first 55,000 training images; the last 5,000 are the validation split, never
trained on. At the end the test set (10,000 images) is evaluated through the trained network.

Writes OUT.onnx, OUT.curves.csv and OUT.curves.png (learning curves: training loss every
--curves-every steps, training and validation loss and accuracy at each epoch end); OUT's .onnx
extension is dropped for the side files. Ctrl-C writes OUT.ckpt; the same command with --resume
continues from it (with the same flags) to the same result as an uninterrupted run. Same seed,
same output, bit for bit.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.archSet = cmd.Flags().Changed("arch")
			return runTrain(cmd.Context(), g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.arch, "arch", train.DefaultArch, "network to train from scratch: "+strings.Join(fixtures.ArchNames(), ", "))
	f.StringVar(&o.init, "init", "", "fine-tune this ONNX model instead of --arch")
	f.StringVarP(&o.out, "output", "o", "", "trained model to write (.onnx)")
	f.IntVar(&o.epochs, "epochs", train.DefaultEpochs, "passes over the training split")
	f.IntVar(&o.batch, "batch", train.DefaultBatch, "minibatch size")
	f.StringVar(&o.optimizer, "optimizer", "adam", "adam or sgd (momentum 0.9)")
	f.Float64Var(&o.lr, "lr", 0, fmt.Sprintf("base learning rate (default %g for adam, %g for sgd; a tenth of that with --init)", train.DefaultAdamLR, train.DefaultSGDLR))
	f.Float64Var(&o.momentum, "momentum", 0.9, "SGD momentum")
	f.Float64Var(&o.wd, "weight-decay", train.DefaultWeightDecay, "L2 weight decay added to the gradient")
	f.StringVar(&o.schedule, "schedule", "cosine", "learning-rate schedule: cosine (to 1% of --lr at the end) or constant")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the weight initialisation and the data order")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.StringVar(&o.preprocess, "preprocess", "", `pixel preprocessing: 0..1, 0..255, mnist, -1..1, scale=S,offset=O or auto
(default: the model's "uqnn.preprocess" metadata; 0..1 for --arch; auto for other --init models)`)
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto")
	f.BoolVar(&o.resume, "resume", false, "continue from OUT.ckpt written by an interrupted run")
	f.IntVar(&o.curvesEvery, "curves-every", train.DefaultCurvesEvery, "record the training loss every K steps (0: at epoch ends only)")
	f.BoolVar(&o.json, "json", false, "print one JSON document")
	return c
}

func (o *trainOptions) check() error {
	_, auto, perr := pixel.Parse(o.preprocess)
	_, known := fixtures.Archs[o.arch]
	switch {
	case o.out == "":
		return usagef("train: -o OUT.onnx is required")
	case o.init != "" && o.archSet:
		return usagef("train: give --arch or --init, not both")
	case o.calibN < 1:
		return usagef("train: --calib-n %d: want at least 1 validation image", o.calibN)
	case !known && o.init == "":
		return usagef("train: --arch %q: want one of %s", o.arch, strings.Join(fixtures.ArchNames(), ", "))
	case perr != nil:
		return usagef("train: %v", perr)
	case auto && o.preprocess != "" && o.init == "":
		return usagef("train: --preprocess auto needs a trained model (--init); an untrained --arch has no preference")
	}
	return nil
}

func runTrain(ctx context.Context, g *globals, o trainOptions) error {
	job := train.Job{
		Optimizer: o.optimizer, LR: o.lr, FineTune: o.init != "", Momentum: o.momentum, WeightDecay: o.wd, Schedule: o.schedule,
		Fit: train.FitConfig{Config: train.Config{Epochs: o.epochs, Batch: o.batch, Seed: o.seed,
			CurvesEvery: o.curvesEvery, Checkpoint: train.PathsFor(o.out).Checkpoint}, Resume: o.resume},
		Hooks: o.hooks,
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := job.Validate(); err != nil {
		return usagef("train: %v", err)
	}
	paths := train.PathsFor(o.out)
	if err := checkOutputs(paths.Model, paths.CSV, paths.PNG); err != nil {
		return err
	}
	if err := checkCheckpoint(paths.Checkpoint, o.resume, "-o "+o.out); err != nil {
		return err
	}
	if err := refuseAliases(nonEmpty(o.init), paths.All()); err != nil {
		return err
	}
	mn, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	if o.init != "" {
		if err := checkModelFile(o.init); err != nil {
			return err
		}
	}
	var pp pixel.Resolved
	if job.Model, pp, err = train.Start(ctx, o.arch, o.init, o.seed, o.preprocess, calibrateFile(g, o.init, mn, o.calibN)); err != nil {
		return err
	}
	if err := refuseAliases(job.Model.ExternalFiles(), paths.All()); err != nil {
		return err
	}
	if job.Data, err = train.MNISTData(mn, o.trainN, o.valN, pp.Preprocess); err != nil {
		return usagef("train: %v", err)
	}
	if job.Data.Train.N < o.batch {
		return usagef("train: --batch %d is larger than the %d training images", o.batch, job.Data.Train.N)
	}
	job.Test = *mn.Test.Slice(0, testCount(o.testN, mn.Test))
	if !g.quiet {
		job.Hooks = append(job.Hooks, train.Progress(g.stderr, isTerminal(g.stderr), o.epochs))
	}
	res, err := job.Run(ctx)
	if err != nil {
		return resumeError(g, err, paths.Checkpoint)
	}
	defer res.Close()
	if err := res.Save(paths, pp.Preprocess, filepath.Base(modelName(&o))); err != nil {
		return err
	}
	rep := trainReport{Tool: "uqnn train", Version: version, Seed: o.seed, Init: o.init, Output: paths.Model,
		CurvesCSV: paths.CSV, CurvesPNG: paths.PNG, Preprocess: pp, Data: mn.Dir, Summary: res.Summary(&job)}
	if o.init == "" {
		rep.Arch = o.arch
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	printTrain(g.stdout, rep, modelName(&o))
	return nil
}
