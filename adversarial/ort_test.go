package adversarial_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// openShared opens one shared model with its reference preprocessing, one onnxruntime thread
// per session (the attack runs one example per core).
func openShared(t testing.TB, sm testmodels.Model) *ort.Classifier {
	t.Helper()
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	pp, _, err := pixel.Parse(sm.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ort.Open(filepath.Join(dir, sm.File), pp, ort.Options{Height: 28, Width: 28, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// correctTasks returns the first count test images c classifies correctly, as 0..1 images.
func correctTasks(t testing.TB, c *ort.Classifier, m *fixtures.MNIST, count int, targeted bool, attackSeed uint64) []adversarial.Task {
	t.Helper()
	const scan = 200
	probs, err := c.Probs(context.Background(), m.Test.Float(0, scan), scan)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Classes()
	var tasks []adversarial.Task
	for i := 0; i < scan && len(tasks) < count; i++ {
		row := probs[i*k : (i+1)*k]
		pred := 0
		for j, v := range row {
			if v > row[pred] {
				pred = j
			}
		}
		label := int(m.Test.Labels[i])
		if pred != label {
			continue
		}
		img := make([]float32, fixtures.Pixels)
		for j, p := range m.Test.Image(i) {
			img[j] = float32(p) / 255
		}
		g := adversarial.Goal{Label: label, Target: -1}
		if targeted {
			g.Target = adversarial.RandomTarget(seed.Indexed(attackSeed, "target", i), label, k)
		}
		tasks = append(tasks, adversarial.Task{Index: i, Image: img, Goal: g})
	}
	return tasks
}

// verify re-classifies each adversarial image as the uint8 image it would be saved as, through
// the classifier directly, and checks it against the attack's own observation.
func verify(t *testing.T, c *ort.Classifier, outs []adversarial.Outcome) (succ int) {
	t.Helper()
	for _, o := range outs {
		raw := make([]float32, len(o.Adversarial))
		for i, v := range o.Adversarial {
			b := uint8(v*255 + 0.5)
			if float32(b)/255 != v {
				t.Fatalf("example %d pixel %d = %v is not a uint8 level", o.Index, i, v)
			}
			raw[i] = float32(b)
		}
		p, err := c.Probs(context.Background(), raw, 1)
		if err != nil {
			t.Fatal(err)
		}
		pred := 0
		for j, v := range p {
			if v > p[pred] {
				pred = j
			}
		}
		if pred != o.Pred {
			t.Fatalf("example %d: saved image classified %d; the attack observed %d", o.Index, pred, o.Pred)
		}
		if o.Linf > 76.0/255+1e-6 {
			t.Fatalf("example %d: L∞ %v beyond ε", o.Index, o.Linf)
		}
		if o.Success {
			succ++
		}
	}
	return succ
}

func run(t *testing.T, c *ort.Classifier, tasks []adversarial.Task, budget int64) []adversarial.Outcome {
	t.Helper()
	var outs []adversarial.Outcome
	err := adversarial.Run(context.Background(), c, tasks, adversarial.RunOptions{Budget: budget, Seed: 1, Workers: 2},
		func(o adversarial.Outcome) error { outs = append(outs, o); return nil })
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Index < outs[j].Index })
	return outs
}

func TestGenAttackPyTorchCNN(t *testing.T) {
	sm := testmodels.Good[1]
	if sm.File != "pytorch-cnn-op11.onnx" {
		t.Fatalf("testmodels.Good[1] is %s", sm.File)
	}
	c := openShared(t, sm)
	m := testenv.MNIST(t)
	for _, tc := range []struct {
		name     string
		targeted bool
		count    int
		minSucc  int
	}{
		// Issue 5's bars are 99% untargeted and 95% targeted at a budget of 10,000; on 20 and 10
		// images that allows no failure and one failure respectively.
		{"untargeted", false, 20, 20},
		{"targeted", true, 10, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.targeted {
				t.Skip("targeted run skipped in -short; the untargeted run covers the same path")
			}
			tasks := correctTasks(t, c, m, tc.count, tc.targeted, 1)
			outs := run(t, c, tasks, 10000)
			if len(outs) != tc.count {
				t.Fatalf("%d outcomes for %d tasks", len(outs), tc.count)
			}
			succ := verify(t, c, outs)
			var q []int64
			for _, o := range outs {
				q = append(q, o.Queries)
			}
			t.Logf("%s: %d/%d successes, queries %v", tc.name, succ, len(outs), q)
			if succ < tc.minSucc {
				t.Fatalf("%d of %d attacks succeeded; want at least %d", succ, len(outs), tc.minSucc)
			}
		})
	}
}

func TestGenAttackEverySharedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short; TestGenAttackPyTorchCNN covers the attack path")
	}
	m := testenv.MNIST(t)
	for _, sm := range testmodels.Good {
		t.Run(sm.File, func(t *testing.T) {
			c := openShared(t, sm)
			tasks := correctTasks(t, c, m, 4, false, 1)
			outs := run(t, c, tasks, 3000)
			succ := verify(t, c, outs)
			t.Logf("%s: %d/%d successes", sm.File, succ, len(outs))
			if succ == 0 {
				t.Fatalf("no untargeted attack succeeded on %s", sm.File)
			}
		})
	}
}
