package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/study"
)

type studyOptions struct {
	config, model, out, stage, shard, sbatch string
	quick, json, merge, slurm, slurmDry      bool
	slurmShards, slurmCPUs                   int
	sbatchArgs, slurmEnv                     []string
}

func init() { registerVerb(newStudyCmd) }

func newStudyCmd(g *globals) *cobra.Command {
	o := studyOptions{}
	c := &cobra.Command{
		Use:   "study -o DIR [--config study.yaml] [--quick] [--model MODEL.onnx]",
		Short: "The whole experiment: train, compress, sample, attack, detect, sweep, and one report",
		Long: `Trains LeNet-5 (or takes --model), compresses it (magnitude, filter, sdr, svd, and the combined
svd+magnitude+quantization network), samples a pSGLD and a BAOAB ensemble of every network,
attacks every network with GenAttack, evaluates every (network, sampler) pair in three detection
settings (own, base and pooled adversarial images), sweeps the sparsity of magnitude, filter,
sdr and svd pruning (accuracy, attack success, median queries and the detection AUROC of a small
pSGLD ensemble per point), and writes DIR/report.html (self-contained), report.md,
results.{csv,json,md} and the effective config.yaml.

Every stage is cached under DIR/stages by a key of its config and inputs: a rerun skips what is
finished, an interrupted study continues where it stopped. A stage whose library is not in this
build fails naming what is missing; the report marks what it could not measure.

--quick is the small study of 'make run'. --stage GROUP --shard i/n runs one shard of a group
(train, compress, sample, attack, sweep, detect) and --merge writes the report: the pieces
--slurm submits as sbatch job arrays (scripts in DIR/slurm).`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStudy(cmd.Context(), g, o) },
	}
	f := c.Flags()
	f.StringVar(&o.config, "config", "", "YAML file setting any knob (unknown keys are errors); default: the full study, or --quick's")
	f.BoolVar(&o.quick, "quick", false, "the small study: fewer images, epochs, members and attacks (make run)")
	f.StringVar(&o.model, "model", "", "study this ONNX classifier instead of training LeNet-5")
	f.StringVarP(&o.out, "output", "o", "", "study folder (required)")
	f.BoolVar(&o.json, "json", false, "print results.json on stdout")
	f.StringVar(&o.stage, "stage", "", "run only this stage group: "+strings.Join(study.Groups, ", "))
	f.StringVar(&o.shard, "shard", "", "with --stage: run shard i of n (i/n, 0-based)")
	f.BoolVar(&o.merge, "merge", false, "write the report from the finished stages, running none")
	f.BoolVar(&o.slurm, "slurm", false, "write DIR/slurm/*.sbatch job arrays with dependencies and submit them with sbatch")
	f.BoolVar(&o.slurmDry, "slurm-dry-run", false, "with --slurm: write the scripts, submit nothing")
	f.IntVar(&o.slurmShards, "slurm-shards", 0, "largest job array per group (0: one task per stage)")
	f.IntVar(&o.slurmCPUs, "slurm-cpus", 2, "CPUs per Slurm task")
	f.StringVar(&o.sbatch, "sbatch", "sbatch", "the sbatch command")
	f.StringArrayVar(&o.sbatchArgs, "sbatch-arg", nil, "extra #SBATCH line, e.g. --partition=cpu (repeatable)")
	f.StringArrayVar(&o.slurmEnv, "slurm-env", nil, "VAR=value exported in every Slurm script (repeatable)")
	return c
}

// studyConfig resolves the configuration: the defaults (or --quick's), the YAML over them, --model.
func studyConfig(o studyOptions) (study.Config, error) {
	c := study.Default()
	if o.quick {
		c = study.Quick()
	}
	if o.config != "" {
		f, err := os.Open(o.config)
		if err != nil {
			return c, usagef("--config: %v", err)
		}
		defer f.Close()
		if c, err = study.ParseConfig(f, c); err != nil {
			return c, usagef("--config %s: %v", o.config, err)
		}
	}
	if o.model != "" {
		abs, err := filepath.Abs(o.model)
		if err != nil {
			return c, usagef("--model: %v", err)
		}
		if err := checkModelFile(abs); err != nil {
			return c, err
		}
		c.Model = abs
	}
	if err := c.Validate(); err != nil {
		return c, usagef("%v", err)
	}
	return c, nil
}

func runStudy(ctx context.Context, g *globals, o studyOptions) error {
	if o.out == "" {
		return usagef("study: -o DIR is required")
	}
	i, n, err := study.ParseShard(o.shard)
	if err != nil {
		return usagef("%v", err)
	}
	if o.shard != "" && o.stage == "" {
		return usagef("study: --shard needs --stage")
	}
	c, err := studyConfig(o)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.out)
	if err != nil {
		return usagef("-o: %v", err)
	}
	if err := checkOutputDir(dir); err != nil {
		return err
	}
	if err := study.Prepare(dir, c); err != nil {
		return err
	}
	env := &study.Env{Dir: dir, Config: c, ORTLib: g.ortLib, Tool: "uqnn study", Version: version}
	if !g.quiet {
		env.Logf = func(format string, a ...any) { fmt.Fprintf(g.stderr, format, a...) }
	}
	plan := study.Plan(c)
	if o.slurm {
		return submitSlurm(g, o, plan, dir)
	}
	var outs []study.Outcome
	var runErr error
	if !o.merge {
		outs, runErr = env.Run(ctx, plan, study.RunOptions{Group: o.stage, Shard: i, Shards: n})
		var se *study.StagesError
		if runErr != nil && !errors.As(runErr, &se) {
			return runErr
		}
	}
	if o.stage != "" {
		return runErr // a shard writes no report; --merge does
	}
	if err := env.Assemble(plan, outs); err != nil {
		return err
	}
	if err := printStudy(g, dir, o.json); err != nil {
		return err
	}
	return runErr
}

// submitSlurm writes the job scripts and submits them in dependency order.
func submitSlurm(g *globals, o studyOptions, plan []*study.Stage, dir string) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	jobs := study.SlurmJobs(plan, study.SlurmOptions{Binary: bin, Config: filepath.Join(dir, study.ConfigFile), Dir: dir,
		Shards: o.slurmShards, CPUs: o.slurmCPUs, Extra: o.sbatchArgs, Env: o.slurmEnv})
	ids, err := study.Submit(jobs, dir, o.sbatch, o.slurmDry, g.stdout)
	if err == nil && !o.slurmDry {
		fmt.Fprintf(g.stdout, "report (when job %s ends): %s\n", ids["merge"], filepath.Join(dir, study.ReportHTML))
	}
	return err
}
