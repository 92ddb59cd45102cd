package study

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePlan is a three-stage chain a → b → c whose stages count their runs and write their
// config slice; b can be made to block until cancelled.
type fakePlan struct {
	runs    map[string]int
	resumed map[string]bool
	block   string // stage that waits for ctx after writing a partial file
	slice   map[string]string
	missing string // stage that is not available
}

func (f *fakePlan) plan() []*Stage {
	mk := func(name, group string, deps ...string) *Stage {
		return &Stage{Name: name, Group: group, Deps: deps, Slice: f.slice[name], run: func(ctx context.Context, e *Env, w *Work) error {
			f.runs[name]++
			f.resumed[name] = w.Resumed
			if name == f.missing {
				return &NotAvailableError{Stage: name, Missing: []string{"test library"}}
			}
			if err := os.WriteFile(w.Path("partial"), []byte("x"), 0o644); err != nil {
				return err
			}
			if name == f.block && !w.Resumed {
				<-ctx.Done()
				return ctx.Err()
			}
			return os.WriteFile(w.Path("out.txt"), []byte(f.slice[name]), 0o644)
		}}
	}
	return []*Stage{mk("train", "train"), mk("compress/x", "compress", "train"), mk("attack/x", "attack", "compress/x")}
}

func newFake() *fakePlan {
	return &fakePlan{runs: map[string]int{}, resumed: map[string]bool{}, slice: map[string]string{"train": "1", "compress/x": "2", "attack/x": "3"}}
}

func TestRunCachesAndRedoesChangedStages(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	e := &Env{Dir: dir}
	if _, err := e.Run(context.Background(), f.plan(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), f.plan(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"train", "compress/x", "attack/x"} {
		if f.runs[s] != 1 {
			t.Errorf("%s ran %d times in two runs; want 1 (cached the second time)", s, f.runs[s])
		}
	}
	// Changing compress's slice redoes it and attack (its input digest changes), not train.
	f.slice["compress/x"] = "2b"
	outs, err := e.Run(context.Background(), f.plan(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"train": StatusCached, "compress/x": StatusDone, "attack/x": StatusDone}
	for _, o := range outs {
		if o.Status != want[o.Stage] {
			t.Errorf("after a config change: %s is %s; want %s", o.Stage, o.Status, want[o.Stage])
		}
	}
	b, err := os.ReadFile(filepath.Join(StageDir(dir, "compress/x"), "out.txt"))
	if err != nil || string(b) != "2b" {
		t.Errorf("compress/x output %q, %v; want the new config's 2b", b, err)
	}
}

func TestInterruptedStageResumesAndKeepsFinished(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	f.block = "compress/x"
	e := &Env{Dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(workDir(dir, "compress/x"), "partial")); err == nil {
				cancel()
				return
			}
		}
	}()
	if _, err := e.Run(ctx, f.plan(), RunOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v; want context.Canceled", err)
	}
	if _, err := ReadDone(dir, "train"); err != nil {
		t.Fatalf("the finished stage was lost: %v", err)
	}
	if _, err := os.Stat(StageDir(dir, "compress/x")); !os.IsNotExist(err) {
		t.Fatalf("an interrupted stage's folder is visible as finished (err %v)", err)
	}
	if _, err := e.Run(context.Background(), f.plan(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.runs["train"] != 1 || !f.resumed["compress/x"] || f.runs["attack/x"] != 1 {
		t.Errorf("runs %v, resumed %v; want train once, compress/x resumed in its work folder", f.runs, f.resumed)
	}
	if _, err := os.Stat(workDir(dir, "compress/x")); !os.IsNotExist(err) {
		t.Errorf("work folder left after the stage finished (err %v)", err)
	}
}

func TestUnavailableStageSkipsDependents(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	f.missing = "compress/x"
	e := &Env{Dir: dir}
	outs, err := e.Run(context.Background(), f.plan(), RunOptions{})
	var se *StagesError
	if !errors.As(err, &se) || !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("err %v; want a StagesError matching ErrNotAvailable", err)
	}
	got := map[string]string{}
	for _, o := range outs {
		got[o.Stage] = o.Status
	}
	if got["compress/x"] != StatusUnavailable || got["attack/x"] != StatusSkipped || got["train"] != StatusDone {
		t.Errorf("statuses %v; want train done, compress/x unavailable, attack/x skipped", got)
	}
	if !strings.Contains(err.Error(), "test library") {
		t.Errorf("error %q does not name what is missing", err)
	}
	if _, err := os.Stat(workDir(dir, "compress/x")); !os.IsNotExist(err) {
		t.Errorf("an unavailable stage left its work folder")
	}
}

func TestShardsSplitAGroup(t *testing.T) {
	dir := t.TempDir()
	var ran []string
	mk := func(name string) *Stage {
		return &Stage{Name: name, Group: "attack", run: func(ctx context.Context, e *Env, w *Work) error {
			ran = append(ran, name)
			return nil
		}}
	}
	plan := []*Stage{mk("attack/a"), mk("attack/b"), mk("attack/c")}
	e := &Env{Dir: dir}
	if _, err := e.Run(context.Background(), plan, RunOptions{Group: "attack", Shard: 1, Shards: 2}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, ",") != "attack/b" {
		t.Fatalf("shard 1/2 ran %v; want [attack/b]", ran)
	}
	if _, err := e.Run(context.Background(), plan, RunOptions{Group: "attack", Shard: 0, Shards: 2}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, ",") != "attack/b,attack/a,attack/c" {
		t.Fatalf("shards ran %v; want b, then a and c", ran)
	}
	if _, err := e.Run(context.Background(), plan, RunOptions{Group: "nope"}); err == nil {
		t.Error("unknown group accepted")
	}
}

func TestParseConfigStrict(t *testing.T) {
	c, err := ParseConfig(strings.NewReader("seed: 7\nattack: {n: 12}\n"), Quick())
	if err != nil {
		t.Fatal(err)
	}
	if c.Seed != 7 || c.Attack.N != 12 || c.Attack.Budget != Quick().Attack.Budget {
		t.Errorf("got seed %d, attack %+v; want seed 7, n 12 and the rest of Quick", c.Seed, c.Attack)
	}
	for _, bad := range []string{"attack: {nn: 3}\n", "bogus: 1\n", "attack: {n: 0}\n", "compress: {methods: [magnitude, zip]}\n", "seed: 1\n---\nseed: 2\n"} {
		if _, err := ParseConfig(strings.NewReader(bad), Quick()); err == nil {
			t.Errorf("config %q accepted; want an error", bad)
		}
	}
	y, err := Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(strings.NewReader(string(y)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	y2, _ := back.YAML()
	if string(y) != string(y2) {
		t.Errorf("config.yaml does not reproduce the config:\n%s\nvs\n%s", y, y2)
	}
}

func TestSlurmJobsDependencies(t *testing.T) {
	jobs := SlurmJobs(Plan(Quick()), SlurmOptions{Binary: "/opt/uqnn", Config: "/s/config.yaml", Dir: "/s", Shards: 4})
	byName := map[string]Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	if j := byName["detect"]; strings.Join(j.After, ",") != "sample,attack" || j.Tasks != 4 {
		t.Errorf("detect job: after %v, %d tasks; want after sample,attack and 4 tasks", j.After, j.Tasks)
	}
	if j := byName["train"]; j.Tasks != 1 || len(j.After) != 0 || !strings.Contains(j.Body, `--stage train --shard "$SLURM_ARRAY_TASK_ID/1"`) {
		t.Errorf("train job: %+v", j)
	}
	if j := byName["combine"]; strings.Join(j.After, ",") != "compress" || j.Tasks != 1 {
		t.Errorf("combine job: after %v, %d tasks; want after compress and 1 task", j.After, j.Tasks)
	}
	if j := byName["sample"]; strings.Join(j.After, ",") != "compress,combine" {
		t.Errorf("sample job after %v; want compress,combine", j.After)
	}
	if j := byName["merge"]; len(j.After) != 7 || !strings.Contains(j.Body, "--merge") {
		t.Errorf("merge job after %v; want all seven groups", j.After)
	}
}

// The combined network continues from the svd network when the study makes one, and starts from
// the base network when it does not.
func TestPlanCombinedFromSVD(t *testing.T) {
	find := func(p []*Stage, name string) *Stage {
		for _, s := range p {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no stage %s", name)
		return nil
	}
	c := Quick()
	s := find(Plan(c), NetworkStage(Combined))
	if s.Group != "combine" || strings.Join(s.Deps, ",") != "train,compress/svd" {
		t.Errorf("combined with svd: group %s, deps %v; want combine, train,compress/svd", s.Group, s.Deps)
	}
	c.Compress.Methods = []string{Magnitude, Combined}
	s = find(Plan(c), NetworkStage(Combined))
	if s.Group != "compress" || strings.Join(s.Deps, ",") != "train" {
		t.Errorf("combined without svd: group %s, deps %v; want compress, train", s.Group, s.Deps)
	}
}
