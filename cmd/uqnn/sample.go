package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
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
Prior: N(0, σ²) on every weight, given as --weight-decay = 1/(N·σ²) (train's weight decay; the
default 5e-4 is uqnn train's, σ ≈ 0.19 for N = 55,000).
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
			for _, n := range []string{"lambda", "alpha"} {
				if cmd.Flags().Changed(n) && o.cfg.Sampler != bayes.SamplerPSGLD {
					return usagef("sample: --%s is pSGLD's; --sampler %s has none", n, o.cfg.Sampler)
				}
			}
			fl := cmd.Flags()
			// Zero values of the library's config mean its defaults; a 0 given here means none.
			if o.burnin < 0 || o.cycles < 0 {
				return usagef("sample: --burnin %d, --cycles %d: want ≥ 0", o.burnin, o.cycles)
			}
			switch {
			case !fl.Changed("burnin"):
				o.burnin = 0
			case o.burnin == 0:
				o.burnin = -1
			}
			if o.cycles == 0 {
				o.cycles = -1
				if !fl.Changed("cycle-steps") {
					o.cfg.CycleSteps = 0 // a cyclical chain's default, unused
				}
				if !fl.Changed("explore-fraction") {
					o.exploreFraction = 0
				}
			}
			if fl.Changed("explore-fraction") && o.exploreFraction == 0 {
				o.exploreFraction = -1
			}
			return runSample(cmd.Context(), g, args[0], o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.cfg.Sampler, "sampler", bayes.SamplerPSGLD, "psgld or baoab")
	f.IntVar(&o.cfg.Members, "members", bayes.DefaultMembers, "members to draw in all (a multiple of --chains)")
	f.IntVar(&o.cycles, "cycles", bayes.DefaultCycles, "cyclical SG-MCMC's M cycles per chain; 0: a constant step size with --burnin")
	f.IntVar(&o.cfg.CycleSteps, "cycle-steps", bayes.DefaultCycleSteps, "steps per cycle")
	f.Float64Var(&o.exploreFraction, "explore-fraction", bayes.DefaultExploreFraction, "β: the share of each cycle stepped without noise (the exploration stage)")
	f.IntVar(&o.burnin, "burnin", bayes.DefaultBurnin, "steps of each chain before its first member (with --cycles 0)")
	f.IntVar(&o.cfg.Thin, "thin", 0, fmt.Sprintf("steps between members of a cycle (default %d; with --cycles 0: %d)", bayes.DefaultCycleThin, bayes.DefaultThin))
	f.Float64Var(&o.cfg.StepSize, "step-size", 0, fmt.Sprintf("h, each cycle's first and largest (default %g for psgld, %g for baoab; with --cycles 0: %g and %g)",
		bayes.DefaultPSGLDCycleStep, bayes.DefaultBAOABCycleStep, bayes.DefaultPSGLDStep, bayes.DefaultBAOABStep))
	f.Float64Var(&o.cfg.Temperature, "temperature", bayes.DefaultTemperature, "T: 1 is the Bayes posterior, < 1 cold")
	f.Float64Var(&o.cfg.Friction, "friction", 0, fmt.Sprintf("BAOAB's γ (default %g/h)", bayes.DefaultFrictionStep))
	f.Float64Var(&o.cfg.Lambda, "lambda", bayes.DefaultPSGLDLambda, "pSGLD's stabiliser λ in G = 1/(λ + √V)")
	f.Float64Var(&o.cfg.Alpha, "alpha", bayes.DefaultAlpha, "pSGLD's squared-gradient decay α")
	f.Float64Var(&o.cfg.WeightDecay, "weight-decay", bayes.DefaultWeightDecay, "prior as L2 decay = 1/(N·σ²); 0: no prior")
	f.IntVar(&o.cfg.Chains, "chains", 1, "independent chains from MODEL.onnx")
	f.IntVar(&o.cfg.Batch, "batch", train.DefaultBatch, "minibatch size")
	f.Uint64Var(&o.cfg.Seed, "seed", 1, "seed of the data order and the noise")
	f.BoolVar(&o.cfg.NoMask, "no-mask", false, "let MODEL.onnx's zero weights move")
	f.StringVarP(&o.out, "output", "o", "", "ensemble folder to write (new or empty)")
	f.BoolVar(&o.cfg.Resume, "resume", false, "continue an interrupted run in the -o folder")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.StringVar(&o.preprocess, "preprocess", "", `pixel preprocessing (default: the model's metadata, else auto)`)
	f.BoolVar(&o.json, "json", false, "print the manifest as one JSON document")
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
	pp, err := pixel.Resolve(ctx, o.preprocess, src, nil, func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
		c, _, err := openClassifier(g, path, mn.Test, ort.Options{})
		if err != nil {
			return pixel.Preprocess{}, nil, 0, err
		}
		defer c.Close()
		return calibrator(c, mn, calibDefault)(ctx)
	})
	if err != nil {
		return err
	}
	pp.Preprocess.Store(src)
	tr, val, err := mn.Split(o.trainN)
	if err != nil {
		return usagef("sample: %v", err)
	}
	if o.valN > 0 {
		val = val.Slice(0, min(o.valN, val.N))
	}
	job := bayes.SampleJob{Source: src, SourceFile: path, SourceSHA256: sum, Dir: o.out, Config: o.cfg,
		Data: train.Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset}}
	if cfg.Chains >= 2 {
		job.Test = *mn.Test.Slice(0, testCount(o.testN, mn.Test))
	}
	job.Hooks = append(job.Hooks, o.hooks...)
	if !g.quiet {
		job.Hooks = append(job.Hooks, sampleProgress(g, cfg))
	}
	man, err := bayes.Sample(ctx, job)
	if err != nil {
		return sampleError(g, err)
	}
	if o.json {
		return writeJSON(g.stdout, struct {
			Tool    string `json:"tool"`
			Version string `json:"version"`
			Dir     string `json:"dir"`
			*bayes.Manifest
		}{"uqnn sample", version, o.out, man})
	}
	fmt.Fprintf(g.stdout, "wrote %d members (%s, %d chain(s), h %g, T %g) and %s to %s\n",
		len(man.MemberList), man.Sampler, man.Chains, man.StepSize, man.Temperature, bayes.EnsembleFile, o.out)
	if v := man.Validation; v != nil {
		fmt.Fprintf(g.stdout, "validation (%d images): accuracy %.2f%%  NLL %.4f  Brier %.4f  ECE %.4f\n", v.N, 100*v.Accuracy, v.NLL, v.Brier, v.ECE)
	}
	if man.RHat != nil && man.ESS != nil {
		fmt.Fprintf(g.stdout, "test log-likelihood: R-hat %.3f  effective sample size %.1f of %d\n", *man.RHat, *man.ESS, man.Members)
	}
	return nil
}

func testCount(n int, s *fixtures.Set) int {
	if n <= 0 {
		return s.N
	}
	return min(n, s.N)
}

// sampleError turns setting and folder problems into usage errors and says how to resume.
func sampleError(g *globals, err error) error {
	var se *train.SettingError
	switch {
	case errors.As(err, &se):
		return usagef("sample --resume: the run was started with other settings: %s (use the same flags, or a new folder)", flagNames(se.Diffs))
	case errors.Is(err, bayes.ErrInterrupted):
		fmt.Fprintln(g.stderr, "uqnn: interrupted; the members drawn are kept. Continue with the same command plus --resume.")
	case errors.Is(err, bayes.ErrBadFolder):
		return usagef("sample: %v", err)
	}
	return err
}

// sampleProgress prints a line every train.ProgressEvery steps of each chain: the step, the
// mean minibatch loss since the last line and the throughput.
func sampleProgress(g *globals, cfg bayes.SampleConfig) train.Hook {
	total := cfg.Steps()
	var sum float64
	var n int
	var last time.Time
	return train.Hook{AfterStep: func(_ context.Context, s *train.State) error {
		sum += s.Loss
		n++
		if s.Step%train.ProgressEvery != 0 {
			return nil
		}
		rate := 0.0
		if !last.IsZero() {
			rate = float64(n*cfg.Batch) / time.Since(last).Seconds()
		}
		fmt.Fprintf(g.stderr, "step %d/%d loss %.4f images/s %.0f\n", s.Step, total, sum/float64(n), rate)
		sum, n, last = 0, 0, time.Now()
		return nil
	}}
}
