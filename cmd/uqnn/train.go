package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
	"github.com/uqnn/uqnn/report"
)

// Defaults of `uqnn train` (measured on LeNet-5, seeds 1, 2, 3: test accuracy 99.39%, 99.31%,
// 99.34%): Adam with a cosine decay over 10 epochs of batch 64, Caffe's LeNet weight decay 5e-4.
const (
	trainDefaultArch   = "lenet5"
	trainDefaultEpochs = 10
	trainDefaultBatch  = 64
	trainDefaultWD     = 5e-4
	trainDefaultCurves = 100
	streamInit         = "init" // the seed stream that initialises --arch weights
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
	f.StringVar(&o.arch, "arch", trainDefaultArch, "network to train from scratch: "+strings.Join(fixtures.ArchNames(), ", "))
	f.StringVar(&o.init, "init", "", "fine-tune this ONNX model instead of --arch")
	f.StringVarP(&o.out, "output", "o", "", "trained model to write (.onnx)")
	f.IntVar(&o.epochs, "epochs", trainDefaultEpochs, "passes over the training split")
	f.IntVar(&o.batch, "batch", trainDefaultBatch, "minibatch size")
	f.StringVar(&o.optimizer, "optimizer", "adam", "adam or sgd (momentum 0.9)")
	f.Float64Var(&o.lr, "lr", 0, fmt.Sprintf("base learning rate (default %g for adam, %g for sgd; a tenth of that with --init)", train.DefaultAdamLR, train.DefaultSGDLR))
	f.Float64Var(&o.momentum, "momentum", 0.9, "SGD momentum")
	f.Float64Var(&o.wd, "weight-decay", trainDefaultWD, "L2 weight decay added to the gradient")
	f.StringVar(&o.schedule, "schedule", "cosine", "learning-rate schedule: cosine (to 1% of --lr at the end) or constant")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the weight initialisation and the data order")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.StringVar(&o.preprocess, "preprocess", "", `pixel preprocessing: 0..1, 0..255, mnist, -1..1, scale=S,offset=O or auto
(default: the model's "uqnn.preprocess" metadata; 0..1 for --arch; auto for other --init models)`)
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto")
	f.BoolVar(&o.resume, "resume", false, "continue from OUT.ckpt written by an interrupted run")
	f.IntVar(&o.curvesEvery, "curves-every", trainDefaultCurves, "record the training loss every K steps (0: at epoch ends only)")
	f.BoolVar(&o.json, "json", false, "print one JSON document")
	return c
}

// trainScores are loss (mean cross-entropy, nats) and accuracy on one split.
type trainScores struct {
	Images   int     `json:"images"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

// trainReport is what `uqnn train --json` prints.
type trainReport struct {
	Tool         string         `json:"tool"`
	Version      string         `json:"version"`
	Seed         uint64         `json:"seed"`
	Arch         string         `json:"arch,omitempty"`
	Init         string         `json:"init,omitempty"`
	Output       string         `json:"output"`
	CurvesCSV    string         `json:"curves_csv"`
	CurvesPNG    string         `json:"curves_png"`
	Params       int            `json:"params"`
	Optimizer    string         `json:"optimizer"`
	LR           float64        `json:"lr"`
	Schedule     string         `json:"schedule"`
	Batch        int            `json:"batch"`
	Epochs       int            `json:"epochs"`
	Steps        int            `json:"steps"`
	Resumed      bool           `json:"resumed"`
	Preprocess   pixel.Resolved `json:"preprocess"`
	Data         string         `json:"data"`
	Train        trainScores    `json:"train"` // the first 5,000 training images, at the end
	Validation   trainScores    `json:"validation"`
	Test         trainScores    `json:"test"`
	Seconds      float64        `json:"seconds"`
	ImagesPerSec float64        `json:"images_per_sec"`
}

// trainPaths are the files one run writes, all beside OUT.
type trainPaths struct{ out, csv, png, ckpt string }

func pathsFor(out string) trainPaths {
	base := strings.TrimSuffix(out, filepath.Ext(out))
	if filepath.Ext(out) != ".onnx" {
		base = out
	}
	return trainPaths{out: out, csv: base + ".curves.csv", png: base + ".curves.png", ckpt: base + ".ckpt"}
}

func (o *trainOptions) check() error {
	switch {
	case o.out == "":
		return usagef("train: -o OUT.onnx is required")
	case o.init != "" && o.archSet:
		return usagef("train: give --arch or --init, not both")
	case o.init != "" && sameTrainFile(o.init, o.out):
		return usagef("train: -o %s would overwrite the --init model; choose another output", o.out)
	case o.epochs < 1:
		return usagef("train: --epochs %d: want at least 1", o.epochs)
	case o.batch < 1:
		return usagef("train: --batch %d: want at least 1", o.batch)
	case o.lr < 0:
		return usagef("train: --lr %g: want a positive rate", o.lr)
	case o.wd < 0:
		return usagef("train: --weight-decay %g: want ≥ 0", o.wd)
	case o.momentum < 0 || o.momentum >= 1:
		return usagef("train: --momentum %g: want 0 ≤ momentum < 1", o.momentum)
	case o.curvesEvery < 0:
		return usagef("train: --curves-every %d: want ≥ 0", o.curvesEvery)
	case o.schedule != "cosine" && o.schedule != "constant":
		return usagef("train: --schedule %q: want cosine or constant", o.schedule)
	}
	if _, ok := fixtures.Archs[o.arch]; !ok && o.init == "" {
		return usagef("train: --arch %q: want one of %s", o.arch, strings.Join(fixtures.ArchNames(), ", "))
	}
	switch o.optimizer {
	case "adam", "sgd":
	default:
		return usagef("train: --optimizer %q: want adam or sgd", o.optimizer)
	}
	if pp, auto, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("train: %v", err)
	} else if auto && o.preprocess != "" && o.init == "" {
		_ = pp
		return usagef("train: --preprocess auto needs a trained model (--init); an untrained --arch has no preference")
	}
	return nil
}

func sameTrainFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	pa, _ := filepath.Abs(a)
	pb, _ := filepath.Abs(b)
	return pa == pb
}

// trainModel loads --init or builds --arch.
func trainModel(o *trainOptions) (*onnxio.Model, error) {
	if o.init == "" {
		return fixtures.Build(o.arch, seed.Rand(o.seed, streamInit))
	}
	if err := checkModelFile(o.init); err != nil {
		return nil, err
	}
	return onnxio.Load(o.init)
}

// trainPreprocess resolves the pixel mapping: --preprocess, else the model's metadata, else
// 0..1 for built networks and calibration (onnxruntime) for --init models.
func trainPreprocess(ctx context.Context, g *globals, o *trainOptions, m *onnxio.Model, mn *fixtures.MNIST) (pixel.Resolved, error) {
	var def *pixel.Preprocess
	var cal pixel.Calibrator
	if o.init == "" {
		def = &pixel.UnitRange
	} else {
		cal = func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
			c, _, err := openClassifier(g, o.init, mn.Test, ort.Options{})
			if err != nil {
				return pixel.Preprocess{}, nil, 0, err
			}
			defer c.Close()
			return calibrator(c, mn, o.calibN)(ctx)
		}
	}
	return pixel.Resolve(ctx, o.preprocess, m, def, cal)
}

func runTrain(ctx context.Context, g *globals, o trainOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	paths := pathsFor(o.out)
	if err := checkOutputs(paths.out, paths.csv, paths.png); err != nil {
		return err
	}
	if err := checkCheckpoint(paths.ckpt, o.resume, "-o "+o.out); err != nil {
		return err
	}
	mn, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	m, err := trainModel(&o)
	if err != nil {
		return err
	}
	pp, err := trainPreprocess(ctx, g, &o, m, mn)
	if err != nil {
		return err
	}
	tr, val, err := mn.Split(o.trainN)
	if err != nil {
		return usagef("train: %v", err)
	}
	if o.valN > 0 {
		val = val.Slice(0, o.valN)
	}
	if tr.N < o.batch {
		return usagef("train: --batch %d is larger than the %d training images", o.batch, tr.N)
	}
	testN := o.testN
	if testN <= 0 || testN > mn.Test.N {
		testN = mn.Test.N
	}
	job := train.Job{
		Model: m, Data: train.Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset}, Test: *mn.Test.Slice(0, testN),
		Optimizer: o.optimizer, LR: o.lr, FineTune: o.init != "", Momentum: o.momentum, WeightDecay: o.wd, Schedule: o.schedule,
		Fit: train.FitConfig{Config: train.Config{Epochs: o.epochs, Batch: o.batch, Seed: o.seed,
			CurvesEvery: o.curvesEvery, Checkpoint: paths.ckpt}, Resume: o.resume},
		Hooks: o.hooks,
	}
	if !g.quiet {
		job.Hooks = append(job.Hooks, train.Progress(g.stderr, isTerminal(g.stderr), o.epochs))
	}
	res, err := job.Run(ctx)
	if err != nil {
		return trainError(g, err, paths.ckpt)
	}
	defer res.Close()
	pp.Preprocess.Store(res.Model)
	if err := res.Model.Save(paths.out, onnxio.SaveOptions{}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := writeCurves(paths, res.Result.Curves, modelName(&o)); err != nil {
		return err
	}
	// The checkpoint belonged to this (resumed) run; the complete run supersedes it.
	if err := os.Remove(paths.ckpt); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("train: removing the finished run's checkpoint: %w", err)
	}
	last := res.Result.Curves[len(res.Result.Curves)-1]
	rep := trainReport{
		Tool: "uqnn train", Version: version, Seed: o.seed, Output: paths.out,
		CurvesCSV: paths.csv, CurvesPNG: paths.png, Params: res.Params,
		Optimizer: o.optimizer, LR: res.LR, Schedule: o.schedule, Batch: o.batch,
		Epochs: res.Result.Epochs, Steps: res.Result.Steps, Resumed: o.resume, Preprocess: pp, Data: mn.Dir,
		Train:        trainScores{Images: min(train.DefaultEvalTrain, tr.N), Loss: last.TrainLoss, Accuracy: last.TrainAcc},
		Validation:   trainScores{Images: val.N, Loss: last.ValLoss, Accuracy: last.ValAcc},
		Test:         trainScores{Images: testN, Loss: res.TestLoss, Accuracy: res.TestAcc},
		Seconds:      res.Result.Seconds,
		ImagesPerSec: res.Result.ImagesPerSecond(),
	}
	if o.init != "" {
		rep.Init = o.init
	} else {
		rep.Arch = o.arch
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	fmt.Fprintf(g.stdout, "wrote %s (%s, %d parameters, %d epochs, %d steps, %.0f images/s)\n",
		paths.out, modelName(&o), rep.Params, rep.Epochs, rep.Steps, rep.ImagesPerSec)
	for _, s := range []struct {
		name string
		sc   trainScores
	}{{"train", rep.Train}, {"validation", rep.Validation}, {"test", rep.Test}} {
		fmt.Fprintf(g.stdout, "%-10s (%5d images)  loss %.4f  accuracy %.2f%%\n", s.name, s.sc.Images, s.sc.Loss, 100*s.sc.Accuracy)
	}
	fmt.Fprintf(g.stdout, "curves     %s, %s\n", paths.csv, paths.png)
	return nil
}

// trainError explains an interrupted run (checkpoint and how to resume) and turns a resume with
// other settings into a usage error naming the flag.
func trainError(g *globals, err error, ckpt string) error {
	var se *train.SettingError
	switch {
	case errors.As(err, &se):
		return usagef("train: --resume: %s was written with other settings: %s (use the same flags, or delete it to start afresh)",
			ckpt, flagNames(se.Diffs))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if _, serr := os.Stat(ckpt); serr == nil {
			fmt.Fprintf(g.stderr, "uqnn train: interrupted; checkpoint %s. Continue with the same command plus --resume.\n", ckpt)
		}
	}
	return err
}

// flagNames spells the loop's own settings (seed, batch, epochs) as the flags that set them.
func flagNames(diffs []string) string {
	out := make([]string, len(diffs))
	for i, d := range diffs {
		out[i] = d
		for _, n := range []string{"seed", "batch", "epochs"} {
			if strings.HasPrefix(d, n+" ") {
				out[i] = "--" + d
			}
		}
	}
	return strings.Join(out, "; ")
}

func modelName(o *trainOptions) string {
	if o.init != "" {
		return o.init
	}
	return o.arch
}

func writeCurves(p trainPaths, pts []train.Point, title string) error {
	var buf bytes.Buffer
	if err := train.WriteCSV(&buf, pts); err != nil {
		return err
	}
	png, err := report.LearningCurves(pts, filepath.Base(title))
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p.csv, buf.Bytes()); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := atomicfile.WriteFile(p.png, png); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
