package adversarial

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/report"
)

// Files a campaign writes in its folder.
const (
	RunFile     = "run.json"      // the parameters, written first; a resumed campaign checks them
	RecordsFile = "records.jsonl" // one JSON line per finished example
	ReportFile  = "report.json"
	ImagesFile  = "adversarial-images-idx3-ubyte"
	LabelsFile  = "labels-idx1-ubyte"      // true labels, same order as the images
	PredsFile   = "predictions-idx1-ubyte" // the model's classes for the adversarial images
	GridFile    = "grid.png"
)

// The MNIST schedule: the paper's MNIST mutation values (DefaultRho, DefaultAlpha) as the
// start, shrunk on plateaus in the form of the paper's §4.1.2, with the floors and the plateau
// length scaled to MNIST. Chosen by measurement on a LeNet-5 from uqnn train (targeted, 200
// images, seeds 1 and 2): the fixed setting reached 95.0–95.5 % success, this schedule
// 97.5–98.5 % with the same untargeted query counts.
const (
	MNISTPlateau  = 20
	MNISTRhoMin   = 0.02
	MNISTAlphaMin = 0.5
)

// Reference is the paper GenAttack implements, recorded in every campaign's parameters.
const Reference = `Alzantot, Sharma, Chakraborty, Zhang, Hsieh, Srivastava: "GenAttack: Practical Black-box Attacks with Gradient-Free Optimization", GECCO 2019, arXiv:1805.11090`

// selectChunk is how many test images are classified at a time while looking for the first N
// correctly classified ones.
const selectChunk = 1000

// ErrCampaignDir is matched (errors.Is) by the errors of a folder that cannot take a campaign:
// a file, a folder holding another campaign (without Resume), or one whose earlier campaign had
// other parameters. The error itself is a *DirError.
var ErrCampaignDir = errors.New("campaign folder conflict")

// DirError says why Dir cannot take the campaign.
type DirError struct {
	Dir    string
	File   string // the campaign file at issue (run.json or records.jsonl); "" when Dir is a file
	Reason string
}

func (e *DirError) Error() string { return fmt.Sprintf("%s: %s", e.Dir, e.Reason) }

// Is makes errors.Is(err, ErrCampaignDir) true.
func (e *DirError) Is(target error) bool { return target == ErrCampaignDir }

// InterruptedError is returned when the context ends a campaign early: Done of Total examples
// are kept in Records, and running the campaign again with Resume continues it. It unwraps to
// the context's error.
type InterruptedError struct {
	Done, Total int
	Records     string
	Err         error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("adversarial: campaign interrupted: %d of %d examples done and kept in %s: %v", e.Done, e.Total, e.Records, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// CampaignParams are the settings that determine a campaign's results (run.json, and
// report.json's "params"); a resumed campaign requires them unchanged. Model is compared by
// content (ModelSHA256), not by the path it was given as.
type CampaignParams struct {
	Model        string         `json:"model"`
	ModelSHA256  string         `json:"model_sha256"`
	Data         string         `json:"data"`
	Preprocess   pixel.Resolved `json:"preprocess"`
	N            int            `json:"n"`
	Budget       int64          `json:"budget_per_example"`
	Targeted     bool           `json:"targeted"`
	Seed         uint64         `json:"seed"`
	Epsilon      float64        `json:"epsilon"`
	EpsEffective float64        `json:"epsilon_effective"` // ε on the uint8 grid
	PixelGrid    string         `json:"pixel_grid"`
	GenAttack    Config         `json:"genattack"`
	Reference    string         `json:"reference"`
}

// Progress is what a campaign reports after each finished example.
type Progress struct {
	Done, Total int   // examples finished (earlier sessions included) of those selected
	Successes   int   // successful examples among Done
	Queries     int64 // images evaluated in this session so far
	Elapsed     time.Duration
}

// Campaign attacks the first N correctly classified images of a test set with GenAttack and
// keeps everything in Dir: run.json, records.jsonl (appended and synced per example, so an
// interruption keeps every finished one), and at the end the IDX images, labels and
// predictions, report.json and grid.png, each written atomically. The zero values of Workers
// and Config mean Run's and Config's defaults.
type Campaign struct {
	Model    Model         // the classifier, raw 0..255 pixels in (preprocessing is its business)
	Test     *fixtures.Set // the images to choose from, in order; geometry from Rows×Cols
	N        int           // examples wanted
	Budget   int64         // queries per example
	Config   Config
	Targeted bool   // aim at a random other class (stream ("target", test index) of Seed)
	Seed     uint64 // the attack's seed
	Workers  int
	Dir      string
	Resume   bool // continue the campaign in Dir (its run.json must match); start afresh if none
	Grid     int  // examples drawn in grid.png

	// Recorded as given in the report: where the model and data came from, and which tool ran.
	ModelPath, ModelSHA256, DataDir string
	Preprocess                      pixel.Resolved
	Tool, Version, ORTVersion       string

	// Progress, when not nil, is called after each finished example (never concurrently).
	Progress func(Progress)
	// Logf, when not nil, receives notes for the user: fewer correct images than N, a resume.
	Logf func(format string, a ...any)
}

// Params are the campaign's parameters as recorded in run.json.
func (c *Campaign) Params() CampaignParams {
	cfg := c.Config.WithDefaults()
	return CampaignParams{
		Model: c.ModelPath, ModelSHA256: c.ModelSHA256, Data: c.DataDir, Preprocess: c.Preprocess,
		N: c.N, Budget: c.Budget, Targeted: c.Targeted, Seed: c.Seed,
		Epsilon: cfg.Epsilon, EpsEffective: cfg.EffectiveEpsilon(), PixelGrid: "uint8 (k/255)",
		GenAttack: cfg, Reference: Reference,
	}
}

func (c *Campaign) logf(format string, a ...any) {
	if c.Logf != nil {
		c.Logf(format, a...)
	}
}

// CheckDir refuses a dir that is a file, or that holds another campaign when resume is not
// set; the errors match ErrCampaignDir. A missing dir is fine.
func CheckDir(dir string, resume bool) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return &DirError{Dir: dir, Reason: "is a file; want a folder"}
	}
	if resume {
		return nil
	}
	for _, f := range []string{RunFile, RecordsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return &DirError{Dir: dir, File: f, Reason: "holds " + f + " from an earlier attack"}
		}
	}
	return nil
}

// Run selects the examples, attacks those not yet recorded in Dir, and writes the outputs.
// When ctx ends first it returns an *InterruptedError and leaves records.jsonl to resume from.
func (c *Campaign) Run(ctx context.Context) (CampaignReport, error) {
	if err := c.validate(); err != nil {
		return CampaignReport{}, err
	}
	if err := CheckDir(c.Dir, c.Resume); err != nil {
		return CampaignReport{}, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return CampaignReport{}, fmt.Errorf("adversarial: campaign: %w", err)
	}
	params := c.Params()
	if err := startRun(c.Dir, params, c.Resume); err != nil {
		return CampaignReport{}, err
	}
	sel, indices, err := SelectCorrect(ctx, c.Model, c.Test, c.N)
	if err != nil {
		return CampaignReport{}, err
	}
	if len(indices) < c.N {
		c.logf("attack: only %d of the %d test images are classified correctly; attacking those\n", len(indices), c.Test.N)
	}
	tasks := Tasks(c.Test, indices, c.Targeted, c.Seed, c.Model.Classes())

	recPath := filepath.Join(c.Dir, RecordsFile)
	done, err := ReadRecords(recPath, c.Test.Dim(), true)
	if err != nil {
		return CampaignReport{}, err
	}
	wanted := make(map[int]bool, len(tasks))
	for _, t := range tasks {
		wanted[t.Index] = true
	}
	for idx := range done {
		if !wanted[idx] {
			return CampaignReport{}, fmt.Errorf("adversarial: %s: example %d is not among the %d selected for these parameters; the folder belongs to another run", recPath, idx, len(tasks))
		}
	}
	if err := c.verifyResumed(ctx, done, tasks); err != nil {
		return CampaignReport{}, err
	}
	var todo []Task
	for _, t := range tasks {
		if _, ok := done[t.Index]; !ok {
			todo = append(todo, t)
		}
	}
	if len(done) > 0 {
		c.logf("attack: resuming: %d of %d examples already done\n", len(done), len(tasks))
	}
	rec, err := os.OpenFile(recPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return CampaignReport{}, fmt.Errorf("adversarial: campaign: %w", err)
	}
	defer rec.Close()

	succ := 0
	for _, r := range done {
		if r.Success {
			succ++
		}
	}
	var queries atomic.Int64
	start := time.Now()
	runErr := Run(ctx, c.Model, todo, RunOptions{
		Config: c.Config, Budget: c.Budget, Seed: c.Seed, Workers: c.Workers, Queries: &queries,
	}, func(out Outcome) error {
		r := NewRecord(out)
		if err := appendRecord(rec, r); err != nil {
			return err
		}
		done[r.Index] = r
		if r.Success {
			succ++
		}
		if c.Progress != nil {
			c.Progress(Progress{Done: len(done), Total: len(tasks), Successes: succ, Queries: queries.Load(), Elapsed: time.Since(start)})
		}
		return nil
	})
	elapsed := time.Since(start)
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
			return CampaignReport{}, &InterruptedError{Done: len(done), Total: len(tasks), Records: recPath, Err: runErr}
		}
		return CampaignReport{}, runErr
	}
	recs := sortedRecords(done)
	rep := BuildReport(params, sel, recs, queries.Load(), elapsed)
	rep.Tool, rep.Version, rep.ORTVersion = c.Tool, c.Version, c.ORTVersion
	if err := c.writeOutputs(recs, rep); err != nil {
		return CampaignReport{}, err
	}
	return rep, nil
}

func (c *Campaign) validate() error {
	switch {
	case c.Model == nil:
		return errors.New("adversarial: campaign: nil model")
	case c.Test == nil:
		return errors.New("adversarial: campaign: nil test set")
	case c.Dir == "":
		return errors.New("adversarial: campaign: no output folder")
	case c.N <= 0:
		return fmt.Errorf("adversarial: campaign: N = %d; want at least 1 example", c.N)
	case c.Budget <= 0:
		return fmt.Errorf("adversarial: campaign: budget %d; want a positive number of queries per example", c.Budget)
	case c.Grid < 0:
		return fmt.Errorf("adversarial: campaign: grid of %d examples; want 0 or more", c.Grid)
	}
	if err := c.Test.Check("test"); err != nil {
		return fmt.Errorf("adversarial: campaign: %w", err)
	}
	return c.Config.WithDefaults().Validate()
}

// startRun writes run.json, or when resuming checks that the earlier run had the same parameters.
func startRun(dir string, p CampaignParams, resume bool) error {
	path := filepath.Join(dir, RunFile)
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if resume {
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			// Nothing to resume: start afresh.
		case err != nil:
			return fmt.Errorf("adversarial: resume: %w", err)
		default:
			var prev CampaignParams
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("adversarial: resume: %s: %w", path, err)
			}
			if diff := diffParams(prev, p); diff != "" {
				return &DirError{Dir: dir, File: RunFile, Reason: fmt.Sprintf("%s was written with other parameters (%s)", RunFile, diff)}
			}
			return nil
		}
	}
	return atomicfile.WriteFile(path, b)
}

// diffParams names the first parameter that differs between two runs, or "". The model is
// compared by content (model_sha256), not by the path it was given as.
func diffParams(a, b CampaignParams) string {
	a.Model, b.Model = "", ""
	var am, bm map[string]any
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	_ = json.Unmarshal(ab, &am)
	_ = json.Unmarshal(bb, &bm)
	keys := make([]string, 0, len(am))
	for k := range am {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x, _ := json.Marshal(am[k])
		y, _ := json.Marshal(bm[k])
		if string(x) != string(y) {
			return fmt.Sprintf("%s was %s, now %s", k, x, y)
		}
	}
	return ""
}

// SelectCorrect classifies test images in order until n are classified correctly and returns
// their indices. These evaluations pick the examples; they are not attack queries.
func SelectCorrect(ctx context.Context, m Model, test *fixtures.Set, n int) (Selection, []int, error) {
	s := Selection{Requested: n, Note: selectionNote}
	var idx []int
	k := m.Classes()
	for lo := 0; lo < test.N && len(idx) < n; lo += selectChunk {
		hi := min(lo+selectChunk, test.N)
		p, err := m.Probs(ctx, test.Float(lo, hi), hi-lo)
		if err != nil {
			return s, nil, err
		}
		if len(p) != (hi-lo)*k {
			return s, nil, fmt.Errorf("adversarial: campaign: model returned %d values for %d images of %d classes; want %d",
				len(p), hi-lo, k, (hi-lo)*k)
		}
		for i := lo; i < hi && len(idx) < n; i++ {
			s.Scanned = i + 1
			if prob.Argmax(p[(i-lo)*k:(i-lo+1)*k]) == int(test.Labels[i]) {
				idx = append(idx, i)
			}
		}
	}
	s.Selected = len(idx)
	if s.Scanned > 0 {
		s.CleanAccuracy = float64(s.Selected) / float64(s.Scanned)
	}
	return s, idx, nil
}

// Tasks builds the attack tasks of the chosen test images (pixels scaled to 0..1). A targeted
// example's target comes from the stream ("target", test index) of the seed, so it does not
// depend on which examples are resumed.
func Tasks(test *fixtures.Set, indices []int, targeted bool, attackSeed uint64, classes int) []Task {
	tasks := make([]Task, len(indices))
	for i, idx := range indices {
		img := make([]float32, test.Dim())
		for j, p := range test.Image(idx) {
			img[j] = float32(p) / 255
		}
		g := Goal{Label: int(test.Labels[idx]), Target: -1}
		if targeted {
			g.Target = RandomTarget(seed.Indexed(attackSeed, "target", idx), g.Label, classes)
		}
		tasks[i] = Task{Index: idx, Image: img, Goal: g}
	}
	return tasks
}

func sortedRecords(done map[int]Record) []Record {
	recs := make([]Record, 0, len(done))
	for _, r := range done {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Index < recs[j].Index })
	return recs
}

// writeOutputs writes the final files, each atomically, in example order.
func (c *Campaign) writeOutputs(recs []Record, rep CampaignReport) error {
	dir, rows, cols := c.Dir, c.Test.Rows, c.Test.Cols
	pix := make([]uint8, 0, len(recs)*rows*cols)
	labels := make([]uint8, len(recs))
	preds := make([]uint8, len(recs))
	var lines bytes.Buffer
	for i, r := range recs {
		pix = append(pix, r.Image...)
		labels[i], preds[i] = uint8(r.Label), uint8(r.Pred)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lines.Write(append(b, '\n'))
	}
	if err := fixtures.WriteIDXImages(filepath.Join(dir, ImagesFile), pix, len(recs), rows, cols); err != nil {
		return err
	}
	if err := fixtures.WriteIDXLabels(filepath.Join(dir, LabelsFile), labels); err != nil {
		return err
	}
	if err := fixtures.WriteIDXLabels(filepath.Join(dir, PredsFile), preds); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, RecordsFile), lines.Bytes()); err != nil {
		return err
	}
	ex := make([]report.GridExample, min(c.Grid, len(recs)))
	for i := range ex {
		r := recs[i]
		ex[i] = report.GridExample{Index: r.Index, Label: r.Label, Pred: r.Pred, Success: r.Success,
			Original: c.Test.Image(r.Index), Adversarial: r.Image}
	}
	grid, err := report.AttackGrid(ex, rows, cols)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, GridFile), grid); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ReportFile), append(b, '\n'))
}
