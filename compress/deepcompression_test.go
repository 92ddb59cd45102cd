package compress

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// TestDeepCompressionLeNet5 is the measured run, off unless UQNN_DC_PRUNED names a
// pruned LeNet-5 (uqnn compress --method magnitude) and UQNN_DC_SOURCE the float32 model it came
// from: k-means (conv=8, fc=5) with one epoch of centroid fine-tuning, the Huffman archive, the
// compact form and int8 of the source, each scored in onnxruntime on the 10,000 test images;
// files go to UQNN_DC_OUT (default a temporary folder).
func TestDeepCompressionLeNet5(t *testing.T) {
	prunedPath, srcPath := os.Getenv("UQNN_DC_PRUNED"), os.Getenv("UQNN_DC_SOURCE")
	if prunedPath == "" || srcPath == "" {
		t.Skip("set UQNN_DC_PRUNED and UQNN_DC_SOURCE to measure")
	}
	out := os.Getenv("UQNN_DC_OUT")
	if out == "" {
		out = t.TempDir()
	}
	testenv.ORT(t)
	mn := testenv.MNIST(t)
	ctx := context.Background()
	src, err := onnxio.Load(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnxio.Load(prunedPath)
	if err != nil {
		t.Fatal(err)
	}
	pp, ok := pixel.FromModel(p)
	if !ok {
		pp = pixel.UnitRange
	}
	raw := mn.Test.Float(0, mn.Test.N)
	scores := func(name string, m *onnxio.Model) []float32 {
		path := filepath.Join(out, name+".onnx")
		if err := m.Save(path, onnxio.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		c, err := ort.Open(path, pp, ort.Options{Height: 28, Width: 28})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Scores(ctx, raw, mn.Test.N)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	acc := func(s []float32) float64 {
		right := 0
		for i := range mn.Test.N {
			row := s[10*i : 10*i+10]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == int(mn.Test.Labels[i]) {
				right++
			}
		}
		return float64(right) / float64(mn.Test.N)
	}
	srcScores := scores("source", src)
	accSrc, accP := acc(srcScores), acc(scores("pruned", p))
	q, cbs, err := Quantize(p, QuantizeConfig{Bits: DeepCompressionBits})
	if err != nil {
		t.Fatal(err)
	}
	accQ := acc(scores("kmeans", q))

	masks, err := NonZero(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewShared(&train.Adam{}, cbs)
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := mn.Split(0)
	if err != nil {
		t.Fatal(err)
	}
	fit, err := train.Fit(ctx, q, train.Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset}, st,
		train.FitConfig{Config: train.Config{Epochs: 1, LR: 1e-4, Seed: 1, EvalTrain: -1, Masks: masks}})
	if err != nil {
		t.Fatal(err)
	}
	fit.Close()
	f := fit.Model
	fScores := scores("kmeans-finetuned", f)
	accF := acc(fScores)
	tuned := st.Codebooks()
	for name, cb := range tuned {
		if got := cb.Values(); !slicesBitEqual(got, f.Initializer(name).Float32) {
			t.Fatalf("%s: fine-tuned weights are not the tuned codebook's values", name)
		}
	}
	a, led, err := Archive(f)
	if err != nil {
		t.Fatal(err)
	}
	led.SourceBytes = fileSize(t, srcPath)
	if err := os.WriteFile(filepath.Join(out, "lenet5.uqz"), a, 0o644); err != nil {
		t.Fatal(err)
	}
	back, _, err := Unarchive(a)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesBitEqual(scores("restored", back), fScores) {
		t.Fatal("restored model's onnxruntime outputs differ from the compressed model's")
	}
	c, err := Compact(f, tuned)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesBitEqual(scores("compact", c), fScores) {
		t.Fatal("compact model's outputs differ from the shared-value model's")
	}
	i8, err := Int8(src)
	if err != nil {
		t.Fatal(err)
	}
	i8Scores := scores("int8", i8)
	accI8 := acc(i8Scores)
	ai8, _, err := Archive(i8)
	if err != nil {
		t.Fatal(err)
	}
	i8back, _, err := Unarchive(ai8)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesBitEqual(scores("int8-restored", i8back), i8Scores) {
		t.Fatal("restored int8 model's outputs differ")
	}
	var tab bytes.Buffer
	led.WriteTable(&tab)
	t.Logf("accuracy: source %.2f%%, pruned %.2f%%, k-means %.2f%%, fine-tuned %.2f%% (drop %.2f points); int8 of source %.2f%% (drop %.2f points)\n%s",
		100*accSrc, 100*accP, 100*accQ, 100*accF, 100*(accSrc-accF), 100*accI8, 100*(accSrc-accI8), tab.String())
	t.Logf("source %d B, archive %d B (%.1f×); int8 archive %d B; outputs in %s",
		led.SourceBytes, len(a), float64(led.SourceBytes)/float64(len(a)), len(ai8), out)

	// Speed of int8 against float32 in onnxruntime, interleaved rounds of all test images.
	open := func(name string) *ort.Classifier {
		c, err := ort.Open(filepath.Join(out, name+".onnx"), pp, ort.Options{Height: 28, Width: 28})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cf, ci := open("source"), open("int8")
	defer cf.Close()
	defer ci.Close()
	var tf, ti time.Duration
	for range 3 {
		for _, x := range []struct {
			c *ort.Classifier
			d *time.Duration
		}{{cf, &tf}, {ci, &ti}} {
			s := time.Now()
			if _, err := x.c.Scores(ctx, raw, mn.Test.N); err != nil {
				t.Fatal(err)
			}
			*x.d += time.Since(s)
		}
	}
	t.Logf("onnxruntime, 3×10,000 images: float32 %v, int8 %v (int8 speed / float32 speed = %.2f)", tf, ti, float64(tf)/float64(ti))
}

func slicesBitEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// BenchmarkUnarchiveLeNet5 decodes the archive of a LeNet-5 pruned to Han et al.'s 8% and shared
// by k-means (conv 8 bits, fc 5 bits).
func BenchmarkUnarchiveLeNet5(b *testing.B) {
	p, _, err := Magnitude(lenet5(1), MagnitudeConfig{Keep: HanLeNet5Keep})
	if err != nil {
		b.Fatal(err)
	}
	q, _, err := Quantize(p, QuantizeConfig{Bits: DeepCompressionBits})
	if err != nil {
		b.Fatal(err)
	}
	a, _, err := Archive(q)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(a)))
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	n := 0
	for b.Loop() {
		if _, _, err := Unarchive(a); err != nil {
			b.Fatal(err)
		}
		n++
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	// Process CPU time per decode: wall time means little on a loaded machine.
	cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) / time.Duration(max(n, 1))
	b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/op")
}
