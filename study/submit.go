package study

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/uqnn/uqnn/internal/atomicfile"
)

// ParseShard reads a shard "i/n" (0 ≤ i < n); "" is no sharding (0, 0).
func ParseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n", s)
	}
	return i, n, nil
}

// Prepare makes the study folder dir (its parent must exist) and writes the effective
// configuration c to dir/config.yaml, which every stage, shard and Slurm task reads.
func Prepare(dir string, c Config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	y, err := c.YAML()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), y)
}

// Submit writes jobs' scripts to dir/slurm and, unless dry, submits them in order with the
// sbatch command (each with --dependency on the jobs it waits for: afterok, afterany for the
// merge), saying on w what it wrote or submitted. It returns the Slurm job ids by job name.
func Submit(jobs []Job, dir, sbatch string, dry bool, w io.Writer) (map[string]string, error) {
	sdir := filepath.Join(dir, "slurm")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, j := range jobs {
		path := filepath.Join(sdir, j.Script)
		if err := atomicfile.WriteFile(path, []byte(j.Body)); err != nil {
			return nil, err
		}
		if dry {
			fmt.Fprintf(w, "wrote %s\n", path)
			continue
		}
		args := []string{"--parsable"}
		if len(j.After) > 0 {
			var deps []string
			for _, a := range j.After {
				deps = append(deps, ids[a])
			}
			kind := "afterok"
			if j.Name == "merge" {
				kind = "afterany"
			}
			args = append(args, "--dependency="+kind+":"+strings.Join(deps, ":"))
		}
		cmd := exec.Command(sbatch, append(args, path)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("study: %s %s: %v: %s", sbatch, path, err, strings.TrimSpace(stderr.String()))
		}
		id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
		ids[j.Name] = id
		fmt.Fprintf(w, "submitted %s as job %s\n", j.Script, id)
	}
	return ids, nil
}
