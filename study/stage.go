package study

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/uqnn/uqnn/internal/atomicfile"
)

// ErrNotAvailable is matched (errors.Is) by the error of a stage whose library is not in this
// build; the error itself is a *NotAvailableError naming what is missing.
var ErrNotAvailable = errors.New("not available yet")

// NotAvailableError is a stage that cannot run in this build.
type NotAvailableError struct {
	Stage   string
	Missing []string
}

func (e *NotAvailableError) Error() string {
	return fmt.Sprintf("study: stage %s: %v: this build lacks %s", e.Stage, ErrNotAvailable, strings.Join(e.Missing, "; "))
}

// Is makes errors.Is(err, ErrNotAvailable) true.
func (e *NotAvailableError) Is(target error) bool { return target == ErrNotAvailable }

// Groups are the stage groups in the order they run; a group's stages depend only on stages of
// earlier groups.
// "combine" holds the combined network when it continues from the svd network, so a Slurm array
// runs it after the compress array.
var Groups = []string{"train", "compress", "combine", "sample", "attack", "sweep", "detect"}

// Stage is one cached unit of work.
type Stage struct {
	Name  string   // group/instance, e.g. "attack/sdr"
	Group string   // one of Groups
	Deps  []string // stages whose outputs it reads
	// Optional are stages it reads when they are finished (their digests join the key then, so
	// the stage is redone once they finish).
	Optional []string
	// Version changes when the stage's code changes what it writes, so old results are redone.
	Version int
	// Slice is the part of the Config the stage reads; it goes into the key.
	Slice any
	run   func(ctx context.Context, e *Env, w *Work) error
}

// Work is what a running stage sees: its work folder and its inputs' folders by stage name.
type Work struct {
	Dir     string
	Resumed bool // the work folder holds an interrupted earlier attempt with the same key
	Inputs  map[string]string
	Seed    uint64 // the stage's own seed, from Config.Seed and its name
}

// Input is the folder of dependency name.
func (w *Work) Input(name string) string { return w.Inputs[name] }

// Path is a file in the work folder.
func (w *Work) Path(name string) string { return filepath.Join(w.Dir, name) }

// Done is a finished stage's record, DoneFile in its folder.
type Done struct {
	Stage   string            `json:"stage"`
	Key     string            `json:"key"`
	Digest  string            `json:"digest"` // SHA-256 over Files
	Files   map[string]string `json:"files"`  // relative path → SHA-256
	Seconds float64           `json:"seconds"`
}

// DoneFile marks a finished stage folder.
const DoneFile = "done.json"

const workKeyFile = ".key"

// StageDir is the folder of a finished stage.
func StageDir(dir, name string) string {
	return filepath.Join(dir, "stages", strings.ReplaceAll(name, "/", "-"))
}

func workDir(dir, name string) string { return StageDir(dir, name) + ".work" }

// ReadDone reads a finished stage's record; a missing or damaged one is an error.
func ReadDone(dir, name string) (*Done, error) {
	b, err := os.ReadFile(filepath.Join(StageDir(dir, name), DoneFile))
	if err != nil {
		return nil, err
	}
	var d Done
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("study: %s: %w", filepath.Join(StageDir(dir, name), DoneFile), err)
	}
	return &d, nil
}

// key is the SHA-256 of the stage's name, version, config slice and input digests.
func (s *Stage) key(digests map[string]string) (string, error) {
	in := make([]string, 0, len(s.Deps))
	for _, d := range s.Deps {
		in = append(in, d+"="+digests[d])
	}
	for _, d := range s.Optional {
		if g, ok := digests[d]; ok {
			in = append(in, "optional "+d+"="+g)
		}
	}
	b, err := json.Marshal(struct {
		Name    string
		Version int
		Config  any
		Inputs  []string
	}{s.Name, s.Version, s.Slice, in})
	if err != nil {
		return "", fmt.Errorf("study: stage %s: key: %w", s.Name, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// Status of a stage after a run.
const (
	StatusDone        = "done"   // ran and finished now
	StatusCached      = "cached" // finished earlier with the same key
	StatusFailed      = "failed" // its code returned an error
	StatusUnavailable = "unavailable"
	StatusSkipped     = "skipped" // an input is not finished
	StatusOther       = "other shard"
)

// Outcome is what happened to one stage.
type Outcome struct {
	Stage   string  `json:"stage"`
	Status  string  `json:"status"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
}

// RunOptions restrict a run to part of the plan.
type RunOptions struct {
	// Group runs only that group's stages ("" runs all); their inputs must be finished.
	Group string
	// Shard i of Shards runs the group's j-th stage when j mod Shards = i (Shards 0: all).
	Shard, Shards int
}

// Run executes the plan's stages in order, skipping finished ones, and returns what happened to
// each. It stops at the first cancellation (ctx), returning ctx's error; a stage that fails
// otherwise is recorded, its dependents skipped, and the others run. The returned error is
// non-nil when any selected stage did not finish (a *StagesError) or ctx ended.
func (e *Env) Run(ctx context.Context, plan []*Stage, opt RunOptions) ([]Outcome, error) {
	if opt.Group != "" && !slices.Contains(Groups, opt.Group) {
		return nil, fmt.Errorf("study: stage group %q; want one of %s", opt.Group, strings.Join(Groups, ", "))
	}
	if opt.Shards < 0 || (opt.Shards > 0 && (opt.Shard < 0 || opt.Shard >= opt.Shards)) {
		return nil, fmt.Errorf("study: shard %d/%d; want 0 ≤ i < n", opt.Shard, opt.Shards)
	}
	digests := map[string]string{}
	var outs []Outcome
	var bad []Outcome
	idx := 0
	for _, s := range plan {
		mine := opt.Group == "" || s.Group == opt.Group
		if opt.Group != "" && s.Group == opt.Group {
			if opt.Shards > 0 && idx%opt.Shards != opt.Shard {
				mine = false
			}
			idx++
		}
		o, err := e.runStage(ctx, s, digests, mine)
		if err != nil {
			return outs, err
		}
		if !mine {
			continue
		}
		if e.Logf != nil && o.Status != StatusCached {
			e.Logf("study: %-28s %s (%.1f s)%s\n", s.Name, o.Status, o.Seconds, errSuffix(o.Error))
		}
		outs = append(outs, o)
		if o.Status != StatusDone && o.Status != StatusCached {
			bad = append(bad, o)
		}
	}
	if len(bad) > 0 {
		return outs, &StagesError{Stages: bad}
	}
	return outs, nil
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// StagesError lists the stages that did not finish.
type StagesError struct{ Stages []Outcome }

func (e *StagesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "study: %d stage(s) did not finish:", len(e.Stages))
	for _, o := range e.Stages {
		fmt.Fprintf(&b, "\n  %s: %s", o.Stage, o.Status)
		if o.Error != "" {
			fmt.Fprintf(&b, ": %s", o.Error)
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotAvailable) true when every stage that did not finish was
// unavailable or skipped because of one.
func (e *StagesError) Is(target error) bool {
	if target != ErrNotAvailable {
		return false
	}
	for _, o := range e.Stages {
		if o.Status != StatusUnavailable && o.Status != StatusSkipped {
			return false
		}
	}
	return true
}

// runStage runs s when mine (and it is not finished with its key); otherwise it only records
// its digest when it is finished. A ctx cancellation is returned as an error; everything else
// becomes the outcome.
func (e *Env) runStage(ctx context.Context, s *Stage, digests map[string]string, mine bool) (Outcome, error) {
	o := Outcome{Stage: s.Name}
	for _, d := range s.Deps {
		if _, ok := digests[d]; !ok {
			o.Status, o.Error = StatusSkipped, "needs "+d+", which is not finished"
			return o, nil
		}
	}
	key, err := s.key(digests)
	if err != nil {
		return o, err
	}
	if d, err := ReadDone(e.Dir, s.Name); err == nil && d.Key == key {
		digests[s.Name] = d.Digest
		o.Status, o.Seconds = StatusCached, d.Seconds
		return o, nil
	}
	if !mine {
		o.Status = StatusOther
		return o, nil
	}
	if err := ctx.Err(); err != nil {
		return o, err
	}
	if e.Logf != nil {
		e.Logf("study: %-28s started %s\n", s.Name, time.Now().Format("15:04:05"))
	}
	start := time.Now()
	d, err := e.execute(ctx, s, key, digests)
	o.Seconds = time.Since(start).Seconds()
	switch {
	case err == nil:
		digests[s.Name] = d.Digest
		o.Status = StatusDone
	case ctx.Err() != nil:
		return o, fmt.Errorf("study: stage %s interrupted (its work folder is kept; rerun the same command to continue): %w", s.Name, ctx.Err())
	case errors.Is(err, ErrNotAvailable):
		o.Status, o.Error = StatusUnavailable, err.Error()
	default:
		o.Status, o.Error = StatusFailed, err.Error()
	}
	return o, nil
}

// execute runs s in its work folder and publishes the folder as the finished stage.
func (e *Env) execute(ctx context.Context, s *Stage, key string, digests map[string]string) (*Done, error) {
	final, work := StageDir(e.Dir, s.Name), workDir(e.Dir, s.Name)
	resumed := false
	if b, err := os.ReadFile(filepath.Join(work, workKeyFile)); err == nil && string(b) == key {
		resumed = true
	} else if err := os.RemoveAll(work); err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(work, workKeyFile), []byte(key)); err != nil {
		return nil, err
	}
	w := &Work{Dir: work, Resumed: resumed, Inputs: map[string]string{}, Seed: stageSeed(e.Config.Seed, s.Name)}
	for _, d := range s.Deps {
		w.Inputs[d] = StageDir(e.Dir, d)
	}
	for _, d := range s.Optional {
		if _, ok := digests[d]; ok {
			w.Inputs[d] = StageDir(e.Dir, d)
		}
	}
	start := time.Now()
	if err := s.run(ctx, e, w); err != nil {
		if errors.Is(err, ErrNotAvailable) {
			os.RemoveAll(work) // nothing was started: leave no folder behind
		}
		return nil, err
	}
	if err := os.Remove(filepath.Join(work, workKeyFile)); err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	files, err := hashFiles(work)
	if err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	d := &Done{Stage: s.Name, Key: key, Files: files, Seconds: time.Since(start).Seconds()}
	d.Digest = digestOf(files)
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(work, DoneFile), append(b, '\n')); err != nil {
		return nil, err
	}
	// The old result (another key) goes first; a crash between the two leaves the work folder,
	// whose key file is gone, so the stage is simply run again.
	if err := os.RemoveAll(final); err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	if err := os.Rename(work, final); err != nil {
		return nil, fmt.Errorf("study: stage %s: %w", s.Name, err)
	}
	syncDir(filepath.Dir(final))
	return d, nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// stageSeed derives a stage's seed from the study's and the stage's name (FNV-1a).
func stageSeed(seed uint64, name string) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range []byte(name) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return seed ^ h
}

// hashFiles returns the SHA-256 of every regular file under dir, by slash-separated path.
func hashFiles(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return files, err
}

func digestOf(files map[string]string) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", files[n], n)
	}
	return hex.EncodeToString(h.Sum(nil))
}
