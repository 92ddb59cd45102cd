package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/train"
)

type compressOptions struct {
	model, out, png, methods, preprocess, data, optimizer string
	finetune, batch, calibN                               int
	lr, wd                                                float64
	seed                                                  uint64
	json, noMask                                          bool
	trainN, valN, testN                                   int // tests use fewer images (0: all)
	registry                                              map[string]compress.Method
	owner                                                 map[string]string // flag → method
	changed                                               func(string) bool
	quant                                                 quantizeOptions
}

func init() { registerVerb(newCompressCmd) }

const compressLong = `Compresses an ONNX classifier with one method or a chain (--method svd,magnitude runs them in
order, each keeping what the earlier ones pruned), prints the per-layer ledger (parameters,
non-zeros, kept %, multiply-adds, conv FLOPs, test accuracy before and after in onnxruntime on
the MNIST test set) and writes OUT.onnx, a plain ONNX model, and OUT.prune.png (kept % per layer,
weight histograms before and after). OUT's metadata holds the pixel convention (uqnn.preprocess)
and one record per method (uqnn.compression: method, hyperparameters, source SHA-256).

Retraining uses MNIST's first 55,000 training images with --optimizer at --lr (default 3× the
fine-tuning rate: Adam 3e-4, SGD 3e-3), --weight-decay and --batch; thresholds are chosen on the
last 5,000 (the validation split); the test set is only scored. Defaults were chosen on the
validation split. A source that uqnn compressed before (its metadata holds compression records)
keeps its zero weights at zero through every method, as a chain does; --no-mask lets them
regrow.

Methods:
  magnitude  Han et al. 2015. --stages times: prune the smallest |w| (per-layer |w| ≤ --quality·σ,
             a per-layer --keep, or one threshold for --keep-all of all weights; default 8%
             overall), then retrain --finetune-epochs (default 4) with the mask fixed. Stage i
             of n keeps target^(i/n).
  filter     Activation-based structural pruning: score each Conv's filters on --filter-images
             training images by --criterion, remove --remove of them from the graph (the model
             gets smaller and faster), fine-tune --finetune-epochs (default 4).
  sdr        Tartaglione et al. 2018. Train --sdr-epochs with, after every optimizer step, each
             layer weight w ← w − λ·w·max(0, 1 − S), λ = --sdr-lambda,
             S = |∂L/∂w| / max over the weight's tensor of |∂L/∂w| (--sdr-raw: S = |∂L/∂w|),
             biases untouched; then cut every |w| ≤ T for the largest T that keeps the validation
             loss within --tolerance nats (bisection over the magnitudes, --val-n images), or with
             --sdr-keep F the one that keeps the fraction F of all layers' weights; then
             fine-tune --finetune-epochs (default 8) with that mask fixed.
  svd        Molchanov et al. 2017, sparse variational dropout. Train --svd-epochs with a learned
             log σ² per weight and the KL term to the log-uniform prior; weights whose
             log α = log σ² − log θ² passes --svd-threshold are zeroed, or with --svd-keep F none
             is zeroed during training and at the end the fraction F of all layers' weights with
             the lowest log α is kept. No fine-tuning.
Registered: `

func newCompressCmd(g *globals) *cobra.Command { return compressCmd(g, &compressOptions{}) }

// compressCmd builds the verb around o (tests preset the image counts).
func compressCmd(g *globals, o *compressOptions) *cobra.Command {
	o.registry, o.owner = map[string]compress.Method{}, map[string]string{}
	c := &cobra.Command{
		Use:   "compress MODEL.onnx --method M[,M2…] -o OUT.onnx",
		Short: "Prune an ONNX classifier (magnitude, filter, sdr, …) and account for it layer by layer",
		Long:  compressLong + strings.Join(compress.MethodNames(), ", ") + ".",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.model, o.changed = args[0], cmd.Flags().Changed
			return runCompress(cmd.Context(), g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.methods, "method", "magnitude", "methods, applied in order: "+strings.Join(compress.MethodNames(), ", "))
	f.StringVarP(&o.out, "output", "o", "", "compressed model to write (.onnx)")
	f.StringVar(&o.png, "png", "", "pruning figure (default OUT.prune.png)")
	f.IntVar(&o.finetune, "finetune-epochs", -1, "retraining epochs after each pruning step (default: the method's own)")
	f.StringVar(&o.optimizer, "optimizer", "adam", "retraining optimizer: adam or sgd (momentum 0.9)")
	f.Float64Var(&o.lr, "lr", 0, fmt.Sprintf("retraining learning rate (default %g× the fine-tuning rate: adam %g, sgd %g)", float64(compress.RetrainLRScale), compress.RetrainLRScale*train.DefaultAdamLR/train.FineTuneDiv, compress.RetrainLRScale*train.DefaultSGDLR/train.FineTuneDiv))
	f.Float64Var(&o.wd, "weight-decay", train.DefaultWeightDecay, "L2 weight decay while retraining")
	f.IntVar(&o.batch, "batch", train.DefaultBatch, "retraining minibatch size")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the data order")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.StringVar(&o.preprocess, "preprocess", "auto", "pixel preprocessing: auto (metadata, else calibration), 0..1, 0..255, mnist, -1..1 or scale=S,offset=O")
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto")
	f.BoolVar(&o.json, "json", false, "print one JSON document")
	f.BoolVar(&o.noMask, "no-mask", false, "let the zero weights of an already compressed source regrow while retraining")
	o.quant.bind(f)
	for _, name := range compress.MethodNames() {
		m, _ := compress.NewMethod(name)
		o.registry[name] = m
		for _, op := range m.Options() {
			o.owner[op.Name] = name
			bindOption(f, op)
		}
	}
	return c
}

// bindOption makes a method's hyperparameter a flag (its current value is the default).
func bindOption(f *pflag.FlagSet, op compress.Option) {
	switch v := op.Value.(type) {
	case *float64:
		f.Float64Var(v, op.Name, *v, op.Usage)
	case *int:
		f.IntVar(v, op.Name, *v, op.Usage)
	case *string:
		f.StringVar(v, op.Name, *v, op.Usage)
	case *bool:
		f.BoolVar(v, op.Name, *v, op.Usage)
	default:
		panic(fmt.Sprintf("compress option %s: unsupported type %T", op.Name, op.Value))
	}
}

// chain resolves --method into methods with their flags, refusing a method flag whose method
// is not in the chain (it would silently do nothing).
func (o *compressOptions) chain() ([]compress.Method, error) {
	var ms []compress.Method
	used := map[string]bool{}
	for _, name := range strings.Split(o.methods, ",") {
		m, ok := o.registry[strings.TrimSpace(name)]
		if !ok {
			return nil, usagef("compress: --method %q: want a comma-separated list of %s", name, strings.Join(compress.MethodNames(), ", "))
		}
		if o.finetune >= 0 {
			if ft, ok := m.(compress.FineTuner); ok {
				ft.SetFineTuneEpochs(o.finetune)
			}
		}
		if ex, ok := m.(compress.Exclusive); ok && o.changed != nil {
			for _, pair := range ex.Exclusive() {
				if o.changed(pair[0]) && o.changed(pair[1]) {
					return nil, usagef("compress: %s: give one of --%s and --%s", m.Name(), pair[0], pair[1])
				}
			}
		}
		if ck, ok := m.(interface{ Check() error }); ok {
			if err := ck.Check(); err != nil {
				return nil, usagef("compress: %s: %v", m.Name(), err)
			}
		}
		used[m.Name()] = true
		ms = append(ms, m)
	}
	for flag, owner := range o.owner {
		if o.changed != nil && o.changed(flag) && !used[owner] {
			return nil, usagef("compress: --%s is a %s option; --method is %s", flag, owner, o.methods)
		}
	}
	return ms, nil
}

// pngPath is OUT.prune.png (the .onnx extension dropped).
func (o *compressOptions) pngPath() string {
	if o.png != "" {
		return o.png
	}
	return strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".prune.png"
}
