package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/train"
)

// Outputs are validated before any work: a missing folder or a folder as -o is a usage error
// that comes at once (the run would otherwise train for minutes first).
func TestTrainValidatesOutputsFirst(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ out, mention string }{
		"missing folder": {filepath.Join(dir, "nope", "m.onnx"), "does not exist"},
		"folder as -o":   {dir, "not a regular file"},
	} {
		t.Run(name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, "train", "--epochs", "1", "-o", c.out), exitUsage, c.mention)
		})
	}
}

// A resume whose result-changing flags differ from the checkpoint's is refused (exit 2) naming
// the flag; a fresh run never deletes an existing checkpoint.
func TestTrainResumeChecksEveryFlag(t *testing.T) {
	testenv.MNIST(t)
	dir := t.TempDir()
	o := smallTrain(dir)
	o.out = filepath.Join(dir, "i.onnx")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.hooks = []train.Hook{{AfterStep: func(_ context.Context, s *train.State) error {
		if s.Step == 3 {
			cancel()
		}
		return nil
	}}}
	if err := runTrain(ctx, &globals{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}, o); exitCode(err) != exitInterrupted {
		t.Fatalf("interrupted run: %v", err)
	}
	ckpt := train.PathsFor(o.out).Checkpoint
	o.hooks = nil
	for flag, change := range map[string]func(*trainOptions){
		"--lr":           func(o *trainOptions) { o.lr = 5e-3 },
		"--weight-decay": func(o *trainOptions) { o.wd = 1e-3 },
		"--optimizer":    func(o *trainOptions) { o.optimizer = "sgd" },
		"--epochs":       func(o *trainOptions) { o.epochs = 3 },
	} {
		oc := o
		oc.resume = true
		change(&oc)
		err := runTrain(context.Background(), &globals{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}, oc)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), flag) {
			t.Errorf("resume with another %s: %v (exit %d); want exit %d naming %s", flag, err, exitCode(err), exitUsage, flag)
		}
	}
	err := runTrain(context.Background(), &globals{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}, o)
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("fresh run over a checkpoint: %v; want exit 2 suggesting --resume", err)
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("checkpoint gone after a refused run: %v", err)
	}
}
