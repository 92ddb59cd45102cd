package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

type sampleOptions struct {
	cfg                   bayes.SampleConfig
	out, preprocess, data string
	burnin, cycles        int
	exploreFraction       float64
	json                  bool
	trainN, valN, testN   int // tests use fewer images (0: all)
	hooks                 []train.Hook
}

func init() { registerVerb(newSampleCmd) }

func newSampleCmd(g *globals) *cobra.Command {
	o := sampleOptions{}
	c := &cobra.Command{
		Use:   "sample MODEL.onnx -o ENSEMBLE_DIR",
		Short: "Draw a Bayesian ensemble from a trained classifier with pSGLD or BAOAB",
		Long: `Runs a stochastic-gradient sampler from MODEL.onnx (any model uqnn train can train, pruned or
not) on MNIST's 55,000-image training split and writes each member as it is drawn to
ENSEMBLE_DIR/member-NNN.onnx (complete models with the source's inputs, outputs and pixel
metadata). Weights that are zero in MODEL.onnx stay exactly zero (a pruned model stays pruned)
unless --no-mask.

Schedule: cyclical SG-MCMC (Zhang et al., ICLR 2020) by default. Each chain runs --cycles M
cycles of --cycle-steps L steps; at step k the step size is
h_k = h0/2·(cos(π·mod(k−1, L)/L) + 1), h0 = --step-size. The first --explore-fraction β of each
cycle is the exploration stage: no noise, so pSGLD steps as RMSprop and BAOAB as heavy-ball
momentum descent. The rest samples, and each cycle ends with --members/(--chains·M) members,
--thin steps apart, the last at its last step. --cycles 0: a constant step size, a member every
--thin steps after --burnin steps.

Temperature: ` + bayes.TemperatureConvention + `.
Prior: N(0, σ²) on every weight, given as --weight-decay = 1/(N·σ²) (train's weight decay). The
default 2.5e-4 (σ ≈ 0.27 for N = 55,000) is half uqnn train's 5e-4: measured over both samplers
and five seeds, it makes sharper members whose average beats the point model by more (README).
Step size: pSGLD's h is an RMSprop learning rate on the mean minibatch loss; BAOAB's h is a
time step at unit mass, friction γ per unit time (default γ·h = 0.1).

Also writes manifest.json (sampler, every hyperparameter, seed, the source's sha256, each
member's step and losses), trace.csv and trace-chainC.png (loss; BAOAB's kinetic and
configurational temperatures against T) and ensemble.onnx (outputs: mean probabilities
[N,10] first, so uqnn eval and attack take it as a classifier, then entropy and
mutual_information). With --chains ≥ 2 the manifest gives R-hat and the effective sample size
of the members' test log-likelihood. The cyclical defaults were chosen by measuring 20-member
ensembles against the source LeNet-5 on the test set (README); the constant-step ones on the
validation split.

Ctrl-C keeps the members drawn and a checkpoint; the same command with --resume continues the
same chain to the same bytes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.normalize(cmd.Flags()); err != nil {
				return err
			}
			return runSample(cmd.Context(), g, args[0], o)
		},
	}
	o.register(c.Flags())
	return c
}

func runSample(ctx context.Context, g *globals, path string, o sampleOptions) error {
	if o.out == "" {
		return usagef("sample: -o ENSEMBLE_DIR is required")
	}
	if o.cfg.Sampler == bayes.SamplerBAOAB {
		o.cfg.Lambda, o.cfg.Alpha = 0, 0
	}
	o.cfg.Burnin, o.cfg.Cycles, o.cfg.ExploreFraction = o.burnin, o.cycles, o.exploreFraction
	switch {
	case o.cfg.Members < 1:
		return usagef("sample: --members %d: want at least 1", o.cfg.Members)
	case o.cfg.Thin < 0:
		return usagef("sample: --thin %d: want at least 1 step", o.cfg.Thin)
	case o.cfg.Chains < 1:
		return usagef("sample: --chains %d: want at least 1", o.cfg.Chains)
	}
	if o.cfg.Temperature <= 0 || o.cfg.StepSize < 0 {
		return usagef("sample: --temperature %g, --step-size %g: want T > 0 and h > 0", o.cfg.Temperature, o.cfg.StepSize)
	}
	if o.cfg.WeightDecay == 0 {
		o.cfg.WeightDecay = -1
	}
	cfg, err := o.cfg.Resolved()
	if err != nil {
		return usagef("sample: %v", err)
	}
	if err := checkOutputDir(o.out); err != nil {
		return err
	}
	if err := bayes.CheckDir(o.out, cfg.Resume); err != nil {
		return usagef("sample: %v", err)
	}
	if err := checkModelFile(path); err != nil {
		return err
	}
	sum, err := onnxio.FileSHA256(path)
	if err != nil {
		return err
	}
	mn, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	src, err := onnxio.Load(path)
	if err != nil {
		return err
	}
	pp, err := pixel.Resolve(ctx, o.preprocess, src, nil, calibrateFile(g, path, mn, calibDefault))
	if err != nil {
		return err
	}
	pp.Preprocess.Store(src)
	data, err := train.MNISTData(mn, o.trainN, o.valN, pp.Preprocess)
	if err != nil {
		return usagef("sample: %v", err)
	}
	job := bayes.SampleJob{Source: src, SourceFile: path, SourceSHA256: sum, Dir: o.out, Config: o.cfg, Data: data}
	if cfg.Chains >= 2 {
		job.Test = *mn.Test.Slice(0, testCount(o.testN, mn.Test))
	}
	job.Hooks = append(job.Hooks, o.hooks...)
	if !g.quiet {
		job.Hooks = append(job.Hooks, bayes.Progress(g.stderr, cfg))
	}
	man, err := bayes.Sample(ctx, job)
	if err != nil {
		return sampleError(g, err)
	}
	return printSample(g, o, man)
}
