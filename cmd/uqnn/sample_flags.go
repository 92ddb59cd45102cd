package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/train"
)

// register adds uqnn sample's flags to f.
func (o *sampleOptions) register(f *pflag.FlagSet) {
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
}

// normalize checks the flags that depend on each other and maps them to the library's config,
// whose zero values mean its defaults (a 0 given on the command line means none).
func (o *sampleOptions) normalize(fl *pflag.FlagSet) error {
	for _, n := range []string{"lambda", "alpha"} {
		if fl.Changed(n) && o.cfg.Sampler != bayes.SamplerPSGLD {
			return usagef("sample: --%s is pSGLD's; --sampler %s has none", n, o.cfg.Sampler)
		}
	}
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
	return nil
}
