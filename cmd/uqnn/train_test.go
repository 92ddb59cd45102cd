package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

func TestTrainUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	tests := []struct {
		name     string
		args     []string
		mentions string
	}{
		{"no output", []string{"train"}, "-o"},
		{"unknown arch", []string{"train", "--arch", "resnet", "-o", out}, "--arch"},
		{"arch and init", []string{"train", "--arch", "zoo", "--init", out, "-o", out + "2"}, "--init"},
		{"bad optimizer", []string{"train", "--optimizer", "rmsprop", "-o", out}, "--optimizer"},
		{"zero epochs", []string{"train", "--epochs", "0", "-o", out}, "--epochs"},
		{"negative lr", []string{"train", "--lr", "-1", "-o", out}, "--lr"},
		{"bad schedule", []string{"train", "--schedule", "linear", "-o", out}, "--schedule"},
		{"bad preprocess", []string{"train", "--preprocess", "0..2", "-o", out}, "--preprocess"},
		{"resume without checkpoint", []string{"train", "--resume", "-o", out}, "--resume"},
		{"overwrite init", []string{"train", "--init", out, "-o", out}, "overwrite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, tc.args...), exitUsage, tc.mentions)
		})
	}
}

// smallTrain is a fast run: the zoo net on 256 training images, 2 epochs of batch 32.
func smallTrain(dir string) trainOptions {
	return trainOptions{
		arch: "zoo", out: filepath.Join(dir, "zoo.onnx"), optimizer: "adam", schedule: "cosine",
		epochs: 2, batch: 32, momentum: 0.9, seed: 3, curvesEvery: 2, calibN: calibDefault, json: true,
		trainN: 256, valN: 64, testN: 200,
	}
}

func runSmall(t *testing.T, o trainOptions) (trainReport, []byte, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	g := &globals{stdout: &stdout, stderr: &stderr}
	err := runTrain(context.Background(), g, o)
	if err != nil {
		return trainReport{}, nil, err
	}
	var rep trainReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	if !strings.Contains(stderr.String(), "epoch 2/2 done") {
		t.Errorf("stderr lacks the plain progress lines:\n%s", stderr.String())
	}
	b, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	return rep, b, nil
}

func TestTrainDeterministicAndResume(t *testing.T) {
	testenv.MNIST(t)
	dir := t.TempDir()
	o := smallTrain(dir)
	rep, want, err := runSmall(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Seed != 3 || rep.Version == "" || rep.Steps != 2*(256/32) || rep.Params != 5994 || rep.Test.Images != 200 {
		t.Errorf("report %+v; want seed 3, a version, 16 steps, 5994 parameters, 200 test images", rep)
	}
	for _, p := range []string{rep.CurvesCSV, rep.CurvesPNG} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("curves file %s missing or empty: %v", p, err)
		}
	}
	_, again, err := runSmall(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, again) {
		t.Error("two runs with the same seed wrote different ONNX files")
	}

	// Interrupt after step 5 of 16, then resume with the same flags.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	oi := o
	oi.out = filepath.Join(dir, "interrupted.onnx")
	oi.hooks = []train.Hook{{AfterStep: func(_ context.Context, s *train.State) error {
		if s.Step == 5 {
			cancel()
		}
		return nil
	}}}
	var stderr bytes.Buffer
	err = runTrain(ctx, &globals{stdout: new(bytes.Buffer), stderr: &stderr}, oi)
	if !errors.Is(err, context.Canceled) || exitCode(err) != exitInterrupted {
		t.Fatalf("interrupted run: err = %v (exit %d); want context.Canceled, exit %d", err, exitCode(err), exitInterrupted)
	}
	ckpt := train.PathsFor(oi.out).Checkpoint
	if _, err := os.Stat(ckpt); err != nil || !strings.Contains(stderr.String(), "--resume") {
		t.Fatalf("no checkpoint %s (%v) or no resume hint in stderr:\n%s", ckpt, err, stderr.String())
	}
	oi.hooks, oi.resume = nil, true
	rep2, resumed, err := runSmall(t, oi)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, resumed) {
		t.Error("interrupted + resumed run wrote a different ONNX file than the uninterrupted one")
	}
	if !rep2.Resumed || rep2.Test != rep.Test || rep2.Validation != rep.Validation {
		t.Errorf("resumed report %+v / %+v; want resumed and the same scores as %+v / %+v", rep2.Test, rep2.Validation, rep.Test, rep.Validation)
	}
	if _, err := os.Stat(ckpt); !os.IsNotExist(err) {
		t.Errorf("checkpoint %s left after a completed resume", ckpt)
	}

	// The exported file, run by onnxruntime, scores what the trained network scored.
	testenv.ORT(t)
	checkORTAccuracy(t, o.out, pixel.Presets[0], rep.Test)
}

// ortFlips is how many test images may change class between the Gorgonia network and
// onnxruntime: float32 sums in a different order can flip a near-tie.
const ortFlips = 2

func checkORTAccuracy(t *testing.T, path string, pp pixel.Preprocess, want train.Scores) {
	t.Helper()
	m := testenv.MNIST(t)
	c, err := ort.Open(path, pp, ort.Options{Height: 28, Width: 28, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := want.Images
	probs, err := c.Probs(context.Background(), m.Test.Float(0, n), n)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Classes()
	correct := 0
	for i := range n {
		row := probs[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(m.Test.Labels[i]) {
			correct++
		}
	}
	if d := correct - int(want.Accuracy*float64(n)+0.5); d > ortFlips || d < -ortFlips {
		t.Errorf("onnxruntime gets %d/%d right on %s; the trained network got %.4f", correct, n, path, want.Accuracy)
	}
}

func TestTrainInitKeepsInterface(t *testing.T) {
	// Fine-tune a third-party model briefly: the output keeps its input and output names, gains
	// the preprocessing chosen by calibration as metadata, and runs in onnxruntime.
	models := testmodels.Dir(t)
	testenv.ORT(t)
	src := filepath.Join(models, "pytorch-cnn-op11.onnx")
	dir := t.TempDir()
	o := smallTrain(dir)
	o.arch, o.init, o.out = "", src, filepath.Join(dir, "ft.onnx")
	o.epochs, o.trainN, o.testN, o.lr = 1, 128, 500, 1e-4
	var stdout, stderr bytes.Buffer
	if err := runTrain(context.Background(), &globals{stdout: &stdout, stderr: &stderr}, o); err != nil {
		t.Fatal(err)
	}
	var rep trainReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Preprocess.Name != "-1..1" || !rep.Preprocess.Auto {
		t.Errorf("preprocess %+v; want -1..1 found by calibration (../shared/models/README.md)", rep.Preprocess)
	}
	orig, err := onnxio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := onnxio.Load(o.out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Graph.Inputs[0].Name != orig.Graph.Inputs[0].Name || got.Graph.Outputs[0].Name != orig.Graph.Outputs[0].Name {
		t.Errorf("fine-tuned model is %s → %s; want the original %s → %s", got.Graph.Inputs[0].Name, got.Graph.Outputs[0].Name,
			orig.Graph.Inputs[0].Name, orig.Graph.Outputs[0].Name)
	}
	if v, _ := got.Meta(pixel.MetaKey); v != "-1..1" {
		t.Errorf("metadata %s = %q; want -1..1", pixel.MetaKey, v)
	}
	checkORTAccuracy(t, o.out, rep.Preprocess.Preprocess, rep.Test)
}

func TestTrainCtrlCWritesCheckpoint(t *testing.T) {
	// The real binary, the real signal: SIGINT after the first progress line stops with exit
	// code 130, a checkpoint beside the output and a hint to --resume.
	testenv.MNIST(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "zoo.onnx")
	cmd := exec.Command(uqnnBin, "train", "--arch", "zoo", "--epochs", "1", "-o", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "epoch 1/1 step ") {
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v; want code %d\nstderr:\n%s", err, exitInterrupted, log.String())
	}
	if _, err := train.ReadCheckpoint(train.PathsFor(out).Checkpoint); err != nil {
		t.Errorf("checkpoint: %v", err)
	}
	if !strings.Contains(log.String(), "--resume") {
		t.Errorf("stderr lacks the --resume hint:\n%s", log.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s written by an interrupted run", out)
	}
}

// acceptanceAcc is issue 4's bar: `uqnn train` with its defaults reaches 99.2% test accuracy on
// lenet5 within 10 epochs.
const acceptanceAcc = 0.992

func TestTrainDefaultsReachAccuracy(t *testing.T) {
	// Issue 4's bar, end to end: about 2.2 minutes of both cores, so skipped under -short,
	// where the shorter tests above cover the same code path on fewer images.
	if testing.Short() {
		t.Skip("skipping under -short: trains lenet5 with the defaults (10 epochs)")
	}
	testenv.MNIST(t)
	testenv.ORT(t)
	out := filepath.Join(t.TempDir(), "lenet5.onnx")
	rep := uqnnJSON[trainReport](t, "train", "-q", "-o", out, "--json")
	t.Logf("test accuracy %.4f, %.0f s, %.0f images/s", rep.Test.Accuracy, rep.Seconds, rep.ImagesPerSec)
	if rep.Epochs > 10 || rep.Test.Accuracy < acceptanceAcc {
		t.Errorf("%d epochs, test accuracy %.4f; want ≤ 10 epochs and ≥ %.3f", rep.Epochs, rep.Test.Accuracy, acceptanceAcc)
	}
	checkORTAccuracy(t, out, pixel.Presets[0], rep.Test)
	checkValidationSplit(t, out, rep.Validation)
}

// checkValidationSplit scores the trained model on --split validation with uqnn eval
// (onnxruntime) and uqnn uncertainty (a one-member folder, float64) and compares both with the
// validation scores train's own loop reported (Gorgonia): the same 5,000 images, so the same
// accuracy within an image and the same NLL within float32 rounding.
func checkValidationSplit(t *testing.T, model string, want train.Scores) {
	t.Helper()
	if want.Images != fixtures.ValidationSize {
		t.Fatalf("train reported %d validation images; want %d", want.Images, fixtures.ValidationSize)
	}
	ev := uqnnJSON[evalReport](t, "eval", model, "--split", "validation", "--json")
	ens := t.TempDir()
	if err := os.Symlink(model, filepath.Join(ens, "member-000.onnx")); err != nil {
		t.Fatal(err)
	}
	un := uqnnJSON[uncertaintyReport](t, "uncertainty", ens, "--split", "validation", "--json", "-q")
	t.Logf("validation: train %.4f / %.5f, eval %.4f / %.5f, uncertainty %.4f / %.5f (accuracy / NLL)",
		want.Accuracy, want.Loss, ev.Scores.Accuracy, ev.Scores.NLL, un.Scores.Accuracy, un.Scores.NLL)
	for _, got := range []struct {
		verb, split string
		s           bayes.Scores
	}{{"eval", ev.Split, ev.Scores}, {"uncertainty", un.Split, un.Scores}} {
		if got.split != "validation" || got.s.N != fixtures.ValidationSize ||
			math.Abs(got.s.Accuracy-want.Accuracy) > 1.5/fixtures.ValidationSize || math.Abs(got.s.NLL-want.Loss) > 1e-4 {
			t.Errorf("%s --split validation: %s, %d images, accuracy %.4f, NLL %.5f; want validation, %d, %.4f, %.5f (train's own)",
				got.verb, got.split, got.s.N, got.s.Accuracy, got.s.NLL, fixtures.ValidationSize, want.Accuracy, want.Loss)
		}
	}
}
