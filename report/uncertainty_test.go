package report

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

func decodes(t *testing.T, name string, b []byte, err error, minW, minH int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: output is not a PNG: %v", name, err)
	}
	if r := img.Bounds(); r.Dx() < minW || r.Dy() < minH {
		t.Errorf("%s: image is %v; want at least %d×%d", name, r, minW, minH)
	}
}

func TestReliability(t *testing.T) {
	bins := []ReliabilityBin{
		{Lo: 0, Hi: 0.5},
		{Lo: 0.5, Hi: 0.75, Count: 10, Confidence: 0.6, Accuracy: 0.5},
		{Lo: 0.75, Hi: 1, Count: 90, Confidence: 0.95, Accuracy: 0.97},
	}
	a, err := Reliability(bins, "test")
	decodes(t, "reliability", a, err, 400, 380)
	b, _ := Reliability(bins, "test")
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same bins differ")
	}
	if _, err := Reliability(bins[:1], "empty"); err == nil {
		t.Error("a diagram without examples was drawn")
	}
}

func TestMIHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clean, adv := make([]float64, 500), make([]float64, 300)
	for i := range clean {
		clean[i] = math.Exp(rng.NormFloat64()*2 - 8)
	}
	clean[0] = 0 // members that agree exactly
	for i := range adv {
		adv[i] = math.Exp(rng.NormFloat64() - 2)
	}
	s := []Series{{"clean", clean}, {"adversarial", adv}}
	a, err := MIHistogram(s, "MI")
	decodes(t, "MI histogram", a, err, 500, 320)
	b, _ := MIHistogram(s, "MI")
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same values differ")
	}
	for name, bad := range map[string][]Series{
		"none":     nil,
		"three":    {s[0], s[1], s[0]},
		"empty":    {{"x", nil}},
		"negative": {{"x", []float64{0.1, -1}}},
		"nan":      {{"x", []float64{math.NaN()}}},
	} {
		if _, err := MIHistogram(bad, "bad"); err == nil {
			t.Errorf("%s: drawn; want an error", name)
		}
	}
}

func TestSamplerTrace(t *testing.T) {
	var pts []TracePoint
	for i := range 200 {
		pts = append(pts, TracePoint{Step: i * 10, Loss: 2 * math.Exp(-float64(i)/50), Kinetic: 1 + 0.1*math.Sin(float64(i)), Configurational: 1 + 0.2*math.Cos(float64(i))})
	}
	a, err := SamplerTrace(pts, 1, "BAOAB")
	decodes(t, "BAOAB trace", a, err, 700, 280)
	b, _ := SamplerTrace(pts, 1, "BAOAB")
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same trace differ")
	}
	for i := range pts {
		pts[i].Kinetic, pts[i].Configurational = math.NaN(), math.NaN()
	}
	c, err := SamplerTrace(pts, 1, "pSGLD")
	decodes(t, "pSGLD trace", c, err, 400, 280)
	if _, err := SamplerTrace(nil, 1, "none"); err == nil {
		t.Error("an empty trace was drawn")
	}
	pts[3].Loss = math.Inf(1)
	if _, err := SamplerTrace(pts, 1, "inf"); err == nil {
		t.Error("an infinite loss was drawn")
	}
}
