package bayes_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/onnxio"
)

// BenchmarkEnsembleVsSessions is the paired measurement behind "ensemble.onnx evaluates the 20
// members faster than 20 separate sessions": 20 LeNet-5 members on 1,000 test images, once as
// one ensemble.onnx session (mean probabilities, entropy and MI included) and once as 20
// member sessions (each one's probabilities only), one onnxruntime thread each, taking turns
// within each iteration. Sessions are opened before timing. It reports the median of each and
// their ratio (ensemble/sessions; below 1 means the ensemble graph is faster).
func BenchmarkEnsembleVsSessions(b *testing.B) {
	testenv.ORT(b)
	const members, images = 20, 200
	ms := perturbed(b, members, 13)
	dir := b.TempDir()
	var sessions []*ort.Classifier
	opt := ort.Options{Height: 28, Width: 28, Threads: 1, Chunk: images}
	for i, m := range ms {
		p := filepath.Join(dir, bayes.MemberFile(i))
		if err := m.Save(p, onnxio.SaveOptions{}); err != nil {
			b.Fatal(err)
		}
		c, err := ort.Open(p, pixel.UnitRange, opt)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		sessions = append(sessions, c)
	}
	e, err := bayes.EnsembleGraph(ms, true)
	if err != nil {
		b.Fatal(err)
	}
	ep := filepath.Join(dir, bayes.EnsembleFile)
	if err := e.Save(ep, onnxio.SaveOptions{}); err != nil {
		b.Fatal(err)
	}
	ens, err := ort.Open(ep, pixel.UnitRange, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer ens.Close()
	mn := testenv.MNIST(b)
	raw := mn.Test.Float(0, images)
	ctx := context.Background()
	runEnsemble := func() time.Duration {
		t0 := time.Now()
		if _, err := ens.Probs(ctx, raw, images); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	runSessions := func() time.Duration {
		t0 := time.Now()
		for _, c := range sessions {
			if _, err := c.Probs(ctx, raw, images); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	runEnsemble()
	runSessions()
	var te, ts []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			te = append(te, runEnsemble().Seconds())
			ts = append(ts, runSessions().Seconds())
		} else {
			ts = append(ts, runSessions().Seconds())
			te = append(te, runEnsemble().Seconds())
		}
	}
	b.StopTimer()
	me, mss := medianOf(te), medianOf(ts)
	b.ReportMetric(me, "ensemble-s")
	b.ReportMetric(mss, "sessions-s")
	b.ReportMetric(me/mss, "ratio")
	b.ReportMetric(float64(members*images)/me, "member-images/s")
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
