package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/internal/ort"
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
