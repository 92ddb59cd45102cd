package ort_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	ortgo "github.com/yalue/onnxruntime_go"
)

// BenchmarkEvalVsBareORT measures Classifier.Probs (preprocessing, batching, softmax, copies)
// against a bare onnxruntime loop over the same session settings and batch, interleaved in one
// run, and reports uqnn's throughput as a ratio of the bare loop's (issue 2: ≥ 0.9).
func BenchmarkEvalVsBareORT(b *testing.B) {
	dir := testmodels.Dir(b)
	testenv.ORT(b)
	m := testenv.MNIST(b)
	for _, bc := range []struct {
		file  string
		batch int
	}{
		{"pytorch-cnn-op11.onnx", 256},
		{"pytorch-cnn-op11.onnx", 1},
		{"pytorch-lenet5-op9-batch10.onnx", 10},
	} {
		b.Run(filepath.Base(bc.file)+"/batch="+itoa(bc.batch), func(b *testing.B) {
			path := filepath.Join(dir, bc.file)
			const threads = 2
			c, err := ort.Open(path, pixel.Presets[3], ort.Options{Height: 28, Width: 28, Threads: threads, Chunk: bc.batch})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			raw := m.Test.Float(0, bc.batch)
			// The bare loop: one session with the same options, one preprocessed input tensor reused.
			so, _ := ortgo.NewSessionOptions()
			so.SetIntraOpNumThreads(threads)
			so.SetInterOpNumThreads(1)
			sess, err := ortgo.NewDynamicAdvancedSession(path, []string{c.InputName()}, []string{c.OutputName()}, so)
			so.Destroy()
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Destroy()
			in := make([]float32, len(raw))
			for i, x := range raw {
				in[i] = x/127.5 - 1
			}
			shape := append(ortgo.Shape(nil), c.InputShape()...)
			shape[0] = int64(bc.batch)
			t, err := ortgo.NewTensor(shape, in)
			if err != nil {
				b.Fatal(err)
			}
			defer t.Destroy()
			bare := func() {
				outs := []ortgo.Value{nil}
				if err := sess.Run([]ortgo.Value{t}, outs); err != nil {
					b.Fatal(err)
				}
				outs[0].Destroy()
			}
			ours := func() {
				if _, err := c.Probs(context.Background(), raw, bc.batch); err != nil {
					b.Fatal(err)
				}
			}
			bare()
			ours()
			b.ReportAllocs()
			b.ResetTimer()
			var tBare, tOurs time.Duration
			for i := 0; i < b.N; i++ {
				s := time.Now()
				bare()
				tBare += time.Since(s)
				s = time.Now()
				ours()
				tOurs += time.Since(s)
			}
			imgs := float64(b.N * bc.batch)
			b.ReportMetric(imgs/tOurs.Seconds(), "uqnn-images/s")
			b.ReportMetric(imgs/tBare.Seconds(), "bare-images/s")
			b.ReportMetric(tBare.Seconds()/tOurs.Seconds(), "ratio")
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
