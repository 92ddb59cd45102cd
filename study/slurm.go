package study

import (
	"fmt"
	"path/filepath"
	"strings"
)

// SlurmOptions shape the sbatch scripts.
type SlurmOptions struct {
	Binary string // the uqnn binary as the compute nodes see it (absolute path)
	Config string // the study's config file as the nodes see it (DIR/config.yaml)
	Dir    string // the study folder on the shared file system (absolute)
	// Shards caps the tasks of one group's job array (0: one task per stage).
	Shards int
	// CPUs per task, and extra #SBATCH lines (partition, account, time).
	CPUs  int
	Extra []string
	// Env are lines exported before uqnn runs (e.g. UQNN_ORT_LIB=/shared/libonnxruntime.so.1).
	Env []string
}

// Job is one sbatch script: a group's job array (or the merge) and the groups it waits for.
type Job struct {
	Name   string   // the group, or "merge"
	Script string   // file name under DIR/slurm
	Body   string   // the script
	After  []string // names of the jobs it depends on (afterok)
	Tasks  int      // array size; 0 for a single job
}

// groupAfter is what each group waits for.
var groupAfter = map[string][]string{
	"train": nil, "compress": {"train"}, "combine": {"compress"},
	"sample": {"compress", "combine"}, "attack": {"compress", "combine"},
	"sweep": {"train"}, "detect": {"sample", "attack"},
}

// SlurmJobs writes nothing: it returns the scripts of a study as Slurm job arrays, one per group
// with stages (array task i runs `uqnn study --stage GROUP --shard i/n`), and the merge job that
// assembles the report after every group; dependencies are afterok on the groups each waits for
// (afterany for merge, so a report is written even when a stage failed).
func SlurmJobs(plan []*Stage, o SlurmOptions) []Job {
	var jobs []Job
	present := map[string]bool{}
	for _, g := range Groups {
		n := len(groupOf(plan, g))
		if n == 0 {
			continue
		}
		if o.Shards > 0 && n > o.Shards {
			n = o.Shards
		}
		present[g] = true
		var after []string
		for _, a := range groupAfter[g] {
			if present[a] {
				after = append(after, a)
			}
		}
		cmd := fmt.Sprintf("%s study --config %s -o %s --stage %s --shard \"$SLURM_ARRAY_TASK_ID/%d\"",
			shq(o.Binary), shq(o.Config), shq(o.Dir), g, n)
		jobs = append(jobs, Job{Name: g, Script: g + ".sbatch", After: after, Tasks: n,
			Body: script(o, "uqnn-"+g, fmt.Sprintf("#SBATCH --array=0-%d", n-1), cmd)})
	}
	var all []string
	for _, j := range jobs {
		all = append(all, j.Name)
	}
	cmd := fmt.Sprintf("%s study --config %s -o %s --merge", shq(o.Binary), shq(o.Config), shq(o.Dir))
	jobs = append(jobs, Job{Name: "merge", Script: "merge.sbatch", After: all, Body: script(o, "uqnn-merge", "", cmd)})
	return jobs
}

func script(o SlurmOptions, name, array, cmd string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	if array != "" {
		b.WriteString(array + "\n")
	}
	cpus := max(o.CPUs, 1)
	fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", cpus)
	out := "%x-%A_%a.out"
	if array == "" {
		out = "%x-%j.out"
	}
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(o.Dir, "slurm", out))
	for _, x := range o.Extra {
		fmt.Fprintf(&b, "#SBATCH %s\n", x)
	}
	b.WriteString("set -euo pipefail\n")
	for _, e := range o.Env {
		fmt.Fprintf(&b, "export %s\n", e)
	}
	fmt.Fprintf(&b, "export OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d\n", cpus, cpus)
	b.WriteString(cmd + "\n")
	return b.String()
}

// shq quotes a word for bash.
func shq(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
