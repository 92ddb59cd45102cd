package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/onnxio"
)

func init() { registerVerb(newAttackCmd) }

// attackOptions are the inputs of runAttack.
type attackOptions struct {
	model, preprocess, out, data                   string
	n, calibN, workers, gridN, population, plateau int
	budget                                         int64
	eps, temperature, rho, alpha, rhoMin, alphaMin float64
	decay                                          float64
	targeted, json, resume                         bool
	seed                                           uint64
	detector                                       detectorFlags // attack_detector.go
}

func newAttackCmd(g *globals) *cobra.Command {
	o := attackOptions{}
	c := &cobra.Command{
		Use:   "attack MODEL.onnx -o DIR",
		Short: "Black-box GenAttack on the first N correctly classified MNIST test images",
		Long: `Attacks an ONNX image classifier as a black box with GenAttack (Alzantot et al., GECCO 2019):
the attacker sees only class probabilities and pays one query per image, with a hard budget per
example. The first N correctly classified test images are attacked, untargeted or --targeted
(a random other class drawn from --seed); each attack stops at its first success.

Defaults are the paper's MNIST setting (ε 0.3, N 6, τ 0.1, ρ 0.05, α 1.0) with ρ and α shrunk
by --decay after each --plateau generations without improvement, down to --rho-min and
--alpha-min (--plateau 0 keeps them fixed). Candidates lie on the uint8 pixel grid, so the
saved images are exactly those whose class was observed.

Writes to DIR: the adversarial images, true labels and predictions as IDX files, records.jsonl
(one line per example), report.json (parameters, success rate, query and norm statistics) and
grid.png. Ctrl-C keeps every finished example; rerun with --resume to continue.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.model = args[0]
			return runAttack(cmd.Context(), g, o)
		},
	}
	f := c.Flags()
	f.IntVar(&o.n, "n", 1000, "number of correctly classified test images to attack (from the first)")
	f.Int64Var(&o.budget, "budget", 10000, "queries (images evaluated) allowed per example")
	f.Float64Var(&o.eps, "eps", adversarial.DefaultEpsilon, "L∞ bound ε in the 0..1 pixel range, in (0, 1]")
	f.BoolVar(&o.targeted, "targeted", false, "aim at a random other class instead of any other class")
	f.StringVar(&o.preprocess, "preprocess", "auto", "pixel preprocessing: auto, 0..1, 0..255, mnist, -1..1 or scale=S,offset=O")
	f.Uint64Var(&o.seed, "seed", 1, "random seed (population, targets)")
	f.StringVarP(&o.out, "output", "o", "", "output folder (required)")
	f.BoolVar(&o.json, "json", false, "print the report as one JSON document on stdout")
	f.BoolVar(&o.resume, "resume", false, "continue an interrupted attack in DIR with the same parameters")
	f.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module's data)")
	f.IntVar(&o.calibN, "calib-n", calibDefault, "validation images for --preprocess auto")
	f.IntVar(&o.workers, "workers", runtime.NumCPU(), "attacks run in parallel (one onnxruntime thread each)")
	f.IntVar(&o.gridN, "grid", 10, "examples shown in grid.png")
	f.IntVar(&o.population, "population", adversarial.DefaultPopulation, "GenAttack population size N (elite included)")
	f.Float64Var(&o.temperature, "temperature", adversarial.DefaultTemperature, "selection softmax temperature τ")
	f.Float64Var(&o.rho, "rho", adversarial.DefaultRho, "mutation probability ρ per pixel (the start of the schedule)")
	f.Float64Var(&o.alpha, "alpha", adversarial.DefaultAlpha, "mutation range α as a fraction of ε (the start of the schedule)")
	f.IntVar(&o.plateau, "plateau", adversarial.MNISTPlateau, "generations without improvement of the elite after which ρ and α shrink by --decay (0: keep them fixed)")
	f.Float64Var(&o.decay, "decay", adversarial.DefaultDecay, "factor on ρ and α after each plateau")
	f.Float64Var(&o.rhoMin, "rho-min", adversarial.MNISTRhoMin, "the smallest ρ the schedule reaches")
	f.Float64Var(&o.alphaMin, "alpha-min", adversarial.MNISTAlphaMin, "the smallest α the schedule reaches")
	o.detector.add(f)
	return c
}

func (o attackOptions) config() adversarial.Config {
	return adversarial.Config{
		Epsilon: o.eps, Population: o.population, Temperature: o.temperature,
		Rho: o.rho, Alpha: o.alpha, Adaptive: o.plateau > 0,
		RhoInit: o.rho, AlphaInit: o.alpha, RhoMin: min(o.rhoMin, o.rho), AlphaMin: min(o.alphaMin, o.alpha),
		Decay: o.decay, Plateau: max(o.plateau, 1),
	}.WithDefaults()
}

// validate checks the flags before anything is read or written.
func (o attackOptions) validate() error {
	switch {
	case o.out == "":
		return usagef("attack: -o DIR is required")
	case o.plateau < 0:
		return usagef("--plateau %d: want generations ≥ 1, or 0 to keep ρ and α fixed", o.plateau)
	case o.n <= 0 || o.n > fixtures.TestSize:
		return usagef("--n %d: want 1..%d (the MNIST test set)", o.n, fixtures.TestSize)
	case o.budget <= 0:
		return usagef("--budget %d: want a positive number of queries per example", o.budget)
	case !(o.eps > 0 && o.eps <= 1):
		return usagef("--eps %v: want a value in (0, 1] (a fraction of the 0..1 pixel range)", o.eps)
	case o.eps < 1.0/255:
		return usagef("--eps %v: below one pixel level (1/255 ≈ 0.0039); want at least that", o.eps)
	case o.workers < 1:
		return usagef("--workers %d: want at least 1", o.workers)
	case o.gridN < 0:
		return usagef("--grid %d: want 0 or more examples", o.gridN)
	case o.population < 2:
		return usagef("--population %d: want at least 2 (the elite and one child)", o.population)
	case !(o.temperature > 0):
		return usagef("--temperature %v: want a value > 0", o.temperature)
	case !(o.rho > 0 && o.rho <= 1):
		return usagef("--rho %v: want a value in (0, 1]", o.rho)
	case !(o.alpha > 0 && o.alpha <= 1):
		return usagef("--alpha %v: want a value in (0, 1]", o.alpha)
	case !(o.decay > 0 && o.decay < 1):
		return usagef("--decay %v: want a factor in (0, 1)", o.decay)
	case !(o.rhoMin > 0 && o.rhoMin <= 1), !(o.alphaMin > 0 && o.alphaMin <= 1):
		return usagef("--rho-min %v, --alpha-min %v: want values in (0, 1]", o.rhoMin, o.alphaMin)
	case o.calibN < 1:
		return usagef("--calib-n %d: want at least 1 validation image", o.calibN)
	}
	if _, _, err := pixel.Parse(o.preprocess); err != nil {
		return usagef("%v", err)
	}
	if err := o.config().Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := o.detector.validate(); err != nil {
		return err
	}
	if err := checkOutputDir(o.out); err != nil {
		return err
	}
	return dirUsage(adversarial.CheckDir(o.out, o.resume), o.resume)
}

// dirUsage turns a campaign folder conflict into a usage error that says what to do.
func dirUsage(err error, resume bool) error {
	var de *adversarial.DirError
	switch {
	case !errors.As(err, &de):
		return err
	case de.File == "":
		return usagef("-o %v", err)
	case resume:
		return usagef("-o %v; rerun with the same flags or choose another folder", err)
	}
	return usagef("-o %v; pass --resume to continue it, or choose another folder", err)
}

func runAttack(ctx context.Context, g *globals, o attackOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	m, err := loadMNIST(o.data)
	if err != nil {
		return err
	}
	c, model, err := openClassifier(g, o.model, m.Test, ort.Options{Threads: 1})
	if err != nil {
		return err
	}
	defer c.Close()
	pp, err := resolvePreprocess(ctx, o.preprocess, c, model, m, o.calibN)
	if err != nil {
		return err
	}
	sum, err := onnxio.FileSHA256(o.model)
	if err != nil {
		return err
	}
	cfg := o.config()
	guard, closeGuard, err := o.detector.guard(ctx, g, m, o.calibN)
	if err != nil {
		return err
	}
	defer closeGuard()
	cfg.Guard = guard
	prog := newAttackProgress(g.stderr, g.quiet)
	camp := adversarial.Campaign{
		Model: c.WithPreprocess(pp.Preprocess), Test: m.Test, N: o.n, Budget: o.budget, Config: cfg,
		Targeted: o.targeted, Seed: o.seed, Workers: o.workers, Dir: o.out, Resume: o.resume, Grid: o.gridN,
		ModelPath: o.model, ModelSHA256: sum, DataDir: m.Dir, Preprocess: pp,
		Tool: "uqnn attack", Version: version, ORTVersion: ort.Version,
		Progress: prog.add, Logf: prog.logf,
	}
	rep, err := camp.Run(ctx)
	prog.finish()
	var ie *adversarial.InterruptedError
	if errors.As(err, &ie) {
		fmt.Fprintf(g.stderr, "attack: interrupted: %d of %d examples done and kept in %s; rerun with --resume to continue\n",
			ie.Done, ie.Total, ie.Records)
	}
	if err != nil {
		return dirUsage(err, o.resume)
	}
	if o.json {
		return writeJSON(g.stdout, rep)
	}
	if err := printAttack(g.stdout, rep); err != nil {
		return err
	}
	return printGuard(g.stdout, guard)
}
