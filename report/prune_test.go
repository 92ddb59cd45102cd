package report

import (
	"bytes"
	"flag"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

var writePNG = flag.String("write-png", "", "write the pruning figure of TestPruning to this file, for review")

// pruned returns n normal weights and a copy with |w| below the keep-quantile cut.
func pruned(rng *rand.Rand, n int, std, cut float64) (before, after []float32) {
	before = make([]float32, n)
	after = make([]float32, n)
	for i := range before {
		before[i] = float32(rng.NormFloat64() * std)
		if math.Abs(float64(before[i])) > cut*std {
			after[i] = before[i]
		}
	}
	return before, after
}

func TestPruning(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []PruneLayer
	for _, l := range []struct {
		name string
		n    int
		cut  float64
	}{{"conv1", 500, 0.44}, {"conv2", 25000, 1.55}, {"fc1", 40000, 1.75}, {"fc2", 5000, 1.3}} {
		b, a := pruned(rng, l.n, 0.1, l.cut)
		layers = append(layers, PruneLayer{Name: l.name, Before: b, After: a})
	}
	img, err := Pruning("lenet5 magnitude", layers)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Pruning("lenet5 magnitude", layers)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, again) {
		t.Error("same input gave different bytes")
	}
	dec, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	// 760×570 points: the bar chart on top of two rows of four small multiples.
	if b := dec.Bounds(); b.Dx() <= b.Dy() {
		t.Errorf("image %v; want wider than tall for four layers", b)
	}
	if *writePNG != "" {
		if err := os.WriteFile(*writePNG, img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Pruning("x", nil); err == nil {
		t.Error("no layers: no error")
	}
	if _, err := Pruning("x", []PruneLayer{{Name: "a"}}); err == nil {
		t.Error("empty layer: no error")
	}
}

func TestBin(t *testing.T) {
	bins := bin([]float32{-1, -0.99, 0, 0.5, 1, 2}, -1, 1)
	total := 0.0
	for _, b := range bins {
		total += b.Weight
	}
	// −1 and −0.99 fall in bin 0 (width 0.05); 1 and the out-of-range 2 in the last bin.
	if bins[0].Weight != 2 || bins[pruneBins-1].Weight != 2 || bins[20].Weight != 1 || total != 6 {
		t.Errorf("bins: first %g last %g middle %g total %g; want 2 2 1 6", bins[0].Weight, bins[pruneBins-1].Weight, bins[20].Weight, total)
	}
}
