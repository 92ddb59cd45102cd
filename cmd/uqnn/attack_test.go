package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
)

const attackModel = "pytorch-cnn-op11.onnx"

// The campaign's types and file names, as the tests below knew them before they moved to
// package adversarial.
type (
	attackReport = adversarial.CampaignReport
	attackRecord = adversarial.Record
)

const (
	attackRecordsFile = adversarial.RecordsFile
	attackReportFile  = adversarial.ReportFile
	attackImagesFile  = adversarial.ImagesFile
	attackLabelsFile  = adversarial.LabelsFile
	attackPredsFile   = adversarial.PredsFile
	attackGridFile    = adversarial.GridFile
)

func TestAttackBadInput(t *testing.T) {
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	model := filepath.Join(dir, attackModel)
	tmp := t.TempDir()
	notClassifier := filepath.Join(tmp, "identity.onnx")
	writeIdentityModel(t, notClassifier, 1, 1, 28, 28)
	tests := []struct {
		name     string
		args     []string
		code     int
		mentions []string
	}{
		{"budget zero", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--budget", "0"}, exitUsage, []string{"--budget"}},
		{"budget negative", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--budget", "-3"}, exitUsage, []string{"--budget"}},
		{"eps zero", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--eps", "0"}, exitUsage, []string{"--eps"}},
		{"eps above one", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--eps", "1.5"}, exitUsage, []string{"--eps"}},
		{"n beyond test set", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--n", "10001"}, exitUsage, []string{"--n"}},
		{"no output folder", []string{"attack", model}, exitUsage, []string{"-o"}},
		{"bad preprocess", []string{"attack", model, "-o", filepath.Join(tmp, "a"), "--preprocess", "nope"}, exitUsage, []string{"preprocess"}},
		{"not a classifier", []string{"attack", notClassifier, "-o", filepath.Join(tmp, "b"), "--n", "2", "--preprocess", "0..1"}, exitBadModel, []string{"identity.onnx"}},
		{"missing model", []string{"attack", filepath.Join(tmp, "none.onnx"), "-o", filepath.Join(tmp, "c")}, exitBadModel, []string{"none.onnx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := uqnn(t, tc.args...)
			assertCleanFailure(t, r, tc.code, tc.mentions...)
		})
	}
	// Bad input writes nothing: the folders named above are not even created.
	for _, d := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(tmp, d)); err == nil {
			t.Errorf("a refused attack created %s", d)
		}
	}
}

// attackRun runs `uqnn attack` on the shared CNN and decodes its --json report.
func attackRun(t *testing.T, out string, extra ...string) attackReport {
	t.Helper()
	args := append([]string{"attack", filepath.Join(testmodels.Dir(t), attackModel), "-o", out,
		"--preprocess", "-1..1", "--json", "-q"}, extra...)
	return uqnnJSON[attackReport](t, args...)
}

func TestAttackEndToEnd(t *testing.T) {
	testenv.ORT(t)
	out := t.TempDir()
	const n = 8
	rep := attackRun(t, out, "--n", "8", "--budget", "3000", "--targeted", "--seed", "5")
	if rep.Attacked != n || rep.Params.Seed != 5 || !rep.Params.Targeted || rep.Params.GenAttack.Population != 6 ||
		rep.Params.GenAttack.Rho != 0.05 || rep.Params.GenAttack.Alpha != 1 || rep.Params.GenAttack.Temperature != 0.1 || rep.Version == "" {
		t.Fatalf("report params %+v attacked %d; want %d examples, seed 5, targeted, the paper's defaults, a version", rep.Params, rep.Attacked, n)
	}
	if rep.Successes == 0 || rep.Queries.Median <= 0 || rep.Queries.Max > 3000 || len(rep.Histogram) == 0 {
		t.Fatalf("report %+v: want successes within the budget and a histogram", rep)
	}

	// The saved uint8 images, re-classified by a fresh session, give the recorded classes.
	pix, cnt, rows, cols, err := fixtures.ReadIDXImages(filepath.Join(out, attackImagesFile))
	if err != nil || cnt != n || rows != 28 || cols != 28 {
		t.Fatalf("images: %v, %d of %dx%d", err, cnt, rows, cols)
	}
	labels, err := fixtures.ReadIDXLabels(filepath.Join(out, attackLabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	preds, err := fixtures.ReadIDXLabels(filepath.Join(out, attackPredsFile))
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecordLines(t, filepath.Join(out, attackRecordsFile))
	c, err := ort.Open(filepath.Join(testmodels.Dir(t), attackModel), pixel.Preprocess{Scale: 1 / 127.5, Offset: -1}, ort.Options{Height: 28, Width: 28})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := make([]float32, len(pix))
	for i, p := range pix {
		raw[i] = float32(p)
	}
	probs, err := c.Probs(context.Background(), raw, n)
	if err != nil {
		t.Fatal(err)
	}
	m := testenv.MNIST(t)
	succ := 0
	for i, r := range recs {
		row := probs[i*10 : i*10+10]
		pred := 0
		for j, v := range row {
			if v > row[pred] {
				pred = j
			}
		}
		if pred != r.Pred || int(preds[i]) != r.Pred || int(labels[i]) != r.Label || int(m.Test.Labels[r.Index]) != r.Label {
			t.Errorf("example %d: re-classified %d, predictions file %d, record pred %d, label %d/%d/%d",
				r.Index, pred, preds[i], r.Pred, labels[i], r.Label, m.Test.Labels[r.Index])
		}
		if !bytes.Equal(r.Image, pix[i*784:(i+1)*784]) {
			t.Errorf("example %d: record image differs from the IDX image", r.Index)
		}
		if r.Success != (pred == r.Target) || r.Target == r.Label || r.Target < 0 {
			t.Errorf("example %d: success %v, pred %d, target %d, label %d", r.Index, r.Success, pred, r.Target, r.Label)
		}
		var linf int
		for j, p := range m.Test.Image(r.Index) {
			linf = max(linf, abs(int(p)-int(r.Image[j])))
		}
		if linf > 76 {
			t.Errorf("example %d: L∞ %d/255 beyond ε = 76/255", r.Index, linf)
		}
		if r.Success {
			succ++
		}
	}
	if succ != rep.Successes {
		t.Errorf("%d successes in the records, %d in the report", succ, rep.Successes)
	}
	if _, err := os.Stat(filepath.Join(out, attackGridFile)); err != nil {
		t.Error(err)
	}

	// A second run into the same folder without --resume is refused; with other parameters too.
	r := uqnn(t, "attack", filepath.Join(testmodels.Dir(t), attackModel), "-o", out, "--n", "8", "--budget", "3000", "--preprocess", "-1..1")
	assertCleanFailure(t, r, exitUsage, "--resume")
	r = uqnn(t, "attack", filepath.Join(testmodels.Dir(t), attackModel), "-o", out, "--n", "8", "--budget", "2000", "--preprocess", "-1..1", "--targeted", "--seed", "5", "--resume")
	assertCleanFailure(t, r, exitUsage, "budget_per_example")
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func readRecordLines(t *testing.T, path string) []attackRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []attackRecord
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r attackRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestAttackInterruptResume interrupts an attack with SIGINT once some examples are recorded,
// resumes it, and checks that the result is identical to an uninterrupted run.
func TestAttackInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: runs three attacks")
	}
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	args := []string{"--n", "16", "--budget", "4000", "--targeted", "--seed", "3", "--workers", "2"}
	whole := t.TempDir()
	want := attackRun(t, whole, args...)

	cut := t.TempDir()
	cmd := exec.Command(uqnnBin, append([]string{"attack", filepath.Join(dir, attackModel), "-o", cut, "--preprocess", "-1..1"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(cut, attackRecordsFile))
		if bytes.Count(b, []byte("\n")) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted attack: %v (stderr %s); want exit %d", err, stderr.String(), exitInterrupted)
	}
	if !strings.Contains(stderr.String(), "--resume") {
		t.Errorf("the interruption message does not say how to resume:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(cut, attackReportFile)); err == nil {
		t.Error("an interrupted attack wrote report.json")
	}
	kept := readRecordLines(t, filepath.Join(cut, attackRecordsFile))
	if len(kept) == 0 || len(kept) >= 16 {
		t.Fatalf("%d examples kept after the interruption; want some but not all", len(kept))
	}

	got := attackRun(t, cut, append(args, "--resume")...)
	if got.Attacked != want.Attacked || got.Successes != want.Successes || got.Queries != want.Queries || got.Linf != want.Linf {
		t.Fatalf("resumed run: %d/%d, queries %+v; uninterrupted: %d/%d, queries %+v",
			got.Successes, got.Attacked, got.Queries, want.Successes, want.Attacked, want.Queries)
	}
	for _, f := range []string{attackRecordsFile, attackImagesFile, attackPredsFile} {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(cut, f))
		if !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s differs between the resumed and the uninterrupted run", f)
		}
	}
}

// TestAttackEverySharedModel runs the command unchanged (--preprocess auto) on every good shared
// model: fixed and free batch, NCHW, NHWC and flat inputs, logits and probabilities.
func TestAttackEverySharedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: TestAttackEndToEnd covers the command on one model")
	}
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	for _, sm := range testmodels.Good {
		t.Run(sm.File, func(t *testing.T) {
			out := t.TempDir()
			rep := uqnnJSON[attackReport](t, "attack", filepath.Join(dir, sm.File), "-o", out, "--n", "3", "--budget", "600", "--json", "-q")
			if rep.Attacked != 3 || !rep.Params.Preprocess.Auto || rep.QueriesAll.Max > 600 {
				t.Fatalf("attacked %d, auto preprocess %v, max queries %v; want 3, true, ≤ 600",
					rep.Attacked, rep.Params.Preprocess.Auto, rep.QueriesAll.Max)
			}
			t.Logf("%s: preprocess %s, %d/3 successes, median queries %v", sm.File, rep.Params.Preprocess.Name, rep.Successes, rep.Queries.Median)
		})
	}
}
