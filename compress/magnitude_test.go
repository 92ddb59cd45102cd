package compress

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

func TestLayersLeNet5(t *testing.T) {
	ls, err := Layers(lenet5(1))
	if err != nil {
		t.Fatal(err)
	}
	// Hand-computed: conv1 24×24 outputs, conv2 8×8 outputs (28−5+1, then pool, 12−5+1).
	want := []Layer{
		{Name: "conv1", Op: "Conv", Weight: "conv1.weight", Shape: []int64{20, 1, 5, 5}, Params: 500, FanIn: 25, Units: 20, Positions: 576, MACs: 500 * 576},
		{Name: "conv2", Op: "Conv", Weight: "conv2.weight", Shape: []int64{50, 20, 5, 5}, Params: 25000, FanIn: 500, Units: 50, Positions: 64, MACs: 25000 * 64},
		{Name: "fc1", Op: "Gemm", Weight: "fc1.weight", Shape: []int64{500, 800}, Params: 400000, FanIn: 800, Units: 500, Positions: 1, MACs: 400000},
		{Name: "fc2", Op: "Gemm", Weight: "fc2.weight", Shape: []int64{10, 500}, Params: 5000, FanIn: 500, Units: 10, Positions: 1, MACs: 5000},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %d layers %+v; want %d", len(ls), ls, len(want))
	}
	for i := range want {
		g, w := ls[i], want[i]
		if g.Name != w.Name || g.Op != w.Op || g.Weight != w.Weight || !slices.Equal(g.Shape, w.Shape) || g.Params != w.Params ||
			g.FanIn != w.FanIn || g.Units != w.Units || g.Positions != w.Positions || g.MACs != w.MACs {
			t.Errorf("layer %d: got %+v; want %+v", i, g, w)
		}
	}
}

func TestLayersCNTK(t *testing.T) {
	ls, err := Layers(loadShared(t, "cntk-zoo-mnist-op7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 {
		t.Fatalf("got %d layers; want 3 (two Conv, one MatMul through a Reshape)", len(ls))
	}
	// SAME padding keeps 28×28; the MatMul weight is stored [16,4,4,10] and used as [256,10].
	if l := ls[0]; l.Weight != "Parameter5" || l.Positions != 784 || l.FanIn != 25 || l.Units != 8 {
		t.Errorf("conv1: %+v", l)
	}
	if l := ls[2]; l.Op != "MatMul" || l.Weight != "Parameter193" || !slices.Equal(l.Shape, []int64{16, 4, 4, 10}) || l.FanIn != 256 || l.Units != 10 {
		t.Errorf("fc: %+v", l)
	}
}

func encode(t *testing.T, m *onnxio.Model) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// maxPrunedMinKept checks that every pruned weight is no larger in magnitude than every kept one.
func checkSeparated(t *testing.T, name string, w []float32, keep []bool) {
	t.Helper()
	minKept, maxPruned := math.Inf(1), 0.0
	for i, v := range w {
		a := math.Abs(float64(v))
		if keep[i] {
			minKept = math.Min(minKept, a)
		} else {
			maxPruned = math.Max(maxPruned, a)
		}
	}
	if maxPruned > minKept {
		t.Errorf("%s: a pruned weight (|w| = %g) is larger than a kept one (%g)", name, maxPruned, minKept)
	}
}

func TestMagnitudeKeep(t *testing.T) {
	m := lenet5(2)
	before := encode(t, m)
	got, ms, err := Magnitude(m, MagnitudeConfig{Keep: HanLeNet5Keep})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, encode(t, m)) {
		t.Fatal("Magnitude changed its input model")
	}
	want := map[string]int{"conv1.weight": 330, "conv2.weight": 3000, "fc1.weight": 32000, "fc2.weight": 950}
	for name, k := range want {
		kept, _ := ms.Kept(name)
		if kept != k {
			t.Errorf("%s: kept %d; want %d", name, kept, k)
		}
		w := got.Initializer(name).Float32
		for i, keep := range ms[name] {
			if !keep && w[i] != 0 {
				t.Fatalf("%s[%d] is pruned but %g", name, i, w[i])
			}
			if keep && w[i] != m.Initializer(name).Float32[i] {
				t.Fatalf("%s[%d] is kept but changed", name, i)
			}
		}
		checkSeparated(t, name, m.Initializer(name).Float32, ms[name])
	}
	led, err := NewLedger(m, got)
	if err != nil {
		t.Fatal(err)
	}
	// 36,280 of 430,500 weights: Han et al.'s 8% (they round to whole percents).
	if led.NonZero != 36280 || led.Params != 430500 {
		t.Errorf("ledger non-zero %d of %d; want 36280 of 430500", led.NonZero, led.Params)
	}
	if l := led.Layers[0]; l.MACsAfter != 330*576 || l.MACs != 500*576 {
		t.Errorf("conv1 MACs %d → %d; want %d → %d", l.MACs, l.MACsAfter, 500*576, 330*576)
	}
	if led.OtherParams != 580 || led.OtherAfter != 580 {
		t.Errorf("other parameters %d → %d; want 580 biases", led.OtherParams, led.OtherAfter)
	}
	led.AccuracyBefore, led.AccuracyAfter = 0.99, 0.985
	tab := led.String()
	for _, s := range []string{"conv1", "66.0%", "8.4%", "36280", "accuracy 99.00% → 98.50%"} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
	js, _ := json.Marshal(led)
	if !strings.Contains(string(js), `"nonzero":36280`) {
		t.Errorf("JSON %s lacks the non-zero total", js)
	}
}

func TestMagnitudeQuality(t *testing.T) {
	// c.w = (1, −1, 2): mean 2/3, σ = sqrt(42/27) ≈ 1.2472. Quality 1 keeps |w| > 1.2472: only 2;
	// quality 0.7 (0.873) keeps all three.
	for _, tc := range []struct {
		q    float64
		want []bool
	}{{1, []bool{false, false, true}}, {0.7, []bool{true, true, true}}, {1.7, []bool{false, false, false}}} {
		_, ms, err := Magnitude(tinyConv(), MagnitudeConfig{Quality: tc.q, Layers: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ms["c.w"], tc.want) {
			t.Errorf("quality %g: mask %v; want %v", tc.q, ms["c.w"], tc.want)
		}
		if _, ok := ms["fc.w"]; ok {
			t.Errorf("quality %g: fc.w was pruned though Layers names only c", tc.q)
		}
	}
}

func TestMagnitudeKeepAllAndPrior(t *testing.T) {
	m := lenet5(3)
	_, ms, err := Magnitude(m, MagnitudeConfig{KeepAll: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	var all []float32
	var keep []bool
	for _, name := range ms.Names() {
		k, _ := ms.Kept(name)
		kept += k
		all = append(all, m.Initializer(name).Float32...)
		keep = append(keep, ms[name]...)
	}
	if kept != 43050 {
		t.Errorf("kept %d; want round(0.1·430500) = 43050", kept)
	}
	checkSeparated(t, "all layers", all, keep) // one global threshold
	// With a prior mask, what it pruned stays pruned even at a looser target.
	prior := Masks{"conv1.weight": make([]bool, 500)}
	for i := range 250 {
		prior["conv1.weight"][2*i] = true
	}
	_, ms2, err := Magnitude(m, MagnitudeConfig{Keep: map[string]float64{"conv1": 0.9}, Prior: prior})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range ms2["conv1.weight"] {
		if k && !prior["conv1.weight"][i] {
			t.Fatalf("conv1[%d] was pruned by the prior mask but is kept", i)
		}
	}
}

func TestMagnitudeErrors(t *testing.T) {
	m := lenet5(1)
	for _, cfg := range []MagnitudeConfig{
		{},
		{Quality: 1, KeepAll: 0.5},
		{Keep: map[string]float64{"nope": 0.5}},
		{Keep: map[string]float64{"conv1": 0}},
		{Keep: map[string]float64{"conv1": 0.5, "conv1.weight": 0.4}},
		{KeepAll: 1.5},
		{Quality: -1},
		{Quality: 1, Layers: []string{"relu1"}},
	} {
		if _, _, err := Magnitude(m, cfg); err == nil {
			t.Errorf("config %+v: no error", cfg)
		}
	}
}

func TestParseKeepAndStages(t *testing.T) {
	k, err := ParseKeep("conv1=0.66, conv2=0.12,fc1=0.08,fc2=0.19")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range HanLeNet5Keep {
		if k[name] != v {
			t.Errorf("%s: %g; want %g", name, k[name], v)
		}
	}
	for _, bad := range []string{"", "conv1", "conv1=x", "conv1=0", "conv1=1.5", "=0.5", "a=0.5,a=0.6"} {
		if _, err := ParseKeep(bad); err == nil {
			t.Errorf("ParseKeep(%q): no error", bad)
		}
	}
	st, err := Stages(map[string]float64{"fc1": 0.08}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{math.Cbrt(0.08), math.Cbrt(0.08) * math.Cbrt(0.08), 0.08}
	for i := range want {
		if math.Abs(st[i]["fc1"]-want[i]) > 1e-12 {
			t.Errorf("stage %d: %g; want %g", i, st[i]["fc1"], want[i])
		}
	}
	if st[2]["fc1"] != 0.08 {
		t.Errorf("last stage %g; want exactly 0.08", st[2]["fc1"])
	}
	if _, err := Stages(HanLeNet5Keep, 0); err == nil {
		t.Error("0 stages: no error")
	}
}

func TestMasksApplyAndNonZero(t *testing.T) {
	m := tinyConv()
	ms := Masks{"c.w": {true, false, true}}
	got, err := Apply(m, ms)
	if err != nil {
		t.Fatal(err)
	}
	if w := got.Initializer("c.w").Float32; !slices.Equal(w, []float32{1, 0, 2}) {
		t.Errorf("applied: %v; want [1 0 2]", w)
	}
	if w := m.Initializer("c.w").Float32; !slices.Equal(w, []float32{1, -1, 2}) {
		t.Errorf("input changed: %v", w)
	}
	nz, err := NonZero(got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nz["c.w"], ms["c.w"]) {
		t.Errorf("NonZero %v; want %v", nz["c.w"], ms["c.w"])
	}
	for _, bad := range []Masks{{"nope": {true}}, {"c.w": {true}}} {
		if _, err := Apply(m, bad); err == nil {
			t.Errorf("Apply(%v): no error", bad)
		}
	}
	x, err := Intersect(Masks{"a": {true, true}}, Masks{"a": {false, true}, "b": {true}})
	if err != nil || !slices.Equal(x["a"], []bool{false, true}) || !slices.Equal(x["b"], []bool{true}) {
		t.Errorf("Intersect: %v %v", x, err)
	}
}

func TestAnnotateChain(t *testing.T) {
	src := lenet5(1)
	h, err := ModelSHA256(src)
	if err != nil {
		t.Fatal(err)
	}
	m := src.Clone()
	if err := Annotate(m, Record{Method: "magnitude", Params: MagnitudeConfig{Keep: HanLeNet5Keep}, SourceSHA256: h, Kept: 0.084}); err != nil {
		t.Fatal(err)
	}
	if err := Annotate(m, Record{Method: "filter", Params: map[string]any{"criterion": "apoz"}, SourceSHA256: SHA256([]byte("x"))}); err != nil {
		t.Fatal(err)
	}
	back, err := onnxio.Decode(encode(t, m), "")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Records(back)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Method != "magnitude" || recs[1].Method != "filter" || recs[0].SourceSHA256 != h || recs[0].Kept != 0.084 {
		t.Fatalf("records %+v", recs)
	}
	if p := recs[0].Params.(map[string]any)["keep"].(map[string]any)["conv2"]; p != 0.12 {
		t.Errorf("recorded conv2 keep %v; want 0.12", p)
	}
	if err := Annotate(m, Record{Method: "x", SourceSHA256: "abc"}); err == nil {
		t.Error("short hash: no error")
	}
	bad := src.Clone()
	bad.SetMeta(MetaKey, "{not json")
	if err := Annotate(bad, Record{Method: "x", SourceSHA256: h}); !errors.Is(err, onnxio.ErrInvalidModel) {
		t.Errorf("corrupt record: %v; want ErrInvalidModel", err)
	}
	if v, _ := bad.Meta(MetaKey); v != "{not json" {
		t.Errorf("a failed Annotate changed the metadata to %q", v)
	}
}
