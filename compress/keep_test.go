package compress

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/train"
)

// Tests of the kept-fraction targets of sdr (--sdr-keep) and svd (--svd-keep).

// TestKeepLowestLogAlpha ranks five weights in two tensors by log α = log σ² − log θ² by hand.
func TestKeepLowestLogAlpha(t *testing.T) {
	// log σ² = 0 everywhere, so log α = −log θ²: the largest |θ| has the lowest log α.
	// Tensor 0: θ = (0.5, −2, 0) → log α (1.39, −1.39, +∞); tensor 1: θ = (1, −0.1) → (0, 4.61).
	// Ranked: −2, 1, 0.5, −0.1, 0.
	for _, tc := range []struct {
		keep float64
		want [][]float32
	}{
		{0.2, [][]float32{{0, -2, 0}, {0, 0}}},
		{0.4, [][]float32{{0, -2, 0}, {1, 0}}},
		{0.6, [][]float32{{0.5, -2, 0}, {1, 0}}},
		{0.5, [][]float32{{0.5, -2, 0}, {1, 0}}}, // round(2.5) = 3: half away from zero
		{1, [][]float32{{0.5, -2, 0}, {1, -0.1}}},
	} {
		theta := [][]float32{{0.5, -2, 0}, {1, -0.1}}
		ls := [][]float32{{0, 0, 0}, {0, 0}}
		keepLowestLogAlpha(theta, ls, tc.keep)
		want := tc.want
		for k := range theta {
			if !slices.Equal(theta[k], want[k]) {
				t.Errorf("keep %g: θ = %v; want %v", tc.keep, theta, want)
				break
			}
		}
	}
	// log σ² decides against magnitude: θ = (1, 0.1) with log σ² = (2, −10) gives
	// log α = (2, −5.39): the small weight is kept.
	theta := [][]float32{{1, 0.1}}
	keepLowestLogAlpha(theta, [][]float32{{2, -10}}, 0.5)
	if !slices.Equal(theta[0], []float32{0, 0.1}) {
		t.Errorf("θ = %v; want [0 0.1] (log α 2 and −5.39)", theta[0])
	}
	// Ties (the same log α) go to the earlier tensor and position.
	theta = [][]float32{{1, -1}, {1}}
	keepLowestLogAlpha(theta, [][]float32{{0, 0}, {0}}, 0.34)
	if !slices.Equal(theta[0], []float32{1, 0}) || theta[1][0] != 0 {
		t.Errorf("θ = %v; want [[1 0] [0]]: ties to the earlier position", theta)
	}
}

// TestSVDKeepTrainingZeroesNothing: with Keep the training hook's threshold is +∞, so a weight
// whose log α is far past the usual threshold (20 against 3) is neither zeroed during the step
// nor by the epoch-end prune.
func TestSVDKeepTrainingZeroesNothing(t *testing.T) {
	cfg := trainingConfig(SVDConfig{Keep: 0.1}.withDefaults())
	if !math.IsInf(cfg.Threshold, 1) {
		t.Fatalf("training threshold %g with Keep; want +Inf", cfg.Threshold)
	}
	if c := trainingConfig(SVDConfig{}.withDefaults()); c.Threshold != DefaultSVDThreshold {
		t.Fatalf("training threshold %g without Keep; want the default %g", c.Threshold, DefaultSVDThreshold)
	}
	theta := []float32{float32(math.Exp(-12)), 0.5}
	ls := []float32{-4, -10} // log α = 20 and −8.6
	g1, g2 := []float32{0.1, 0.1}, []float32{0, 0}
	klGradPrune(theta, ls, g1, g2, 1, cfg.Threshold)
	pruneLogAlpha(theta, ls, cfg.Threshold)
	if theta[0] == 0 || g1[0] == 0 {
		t.Errorf("θ = %v, ∂θ = %v: a weight with log α 20 was zeroed under Keep", theta, g1)
	}
}

// keepData is 256 random images with random labels: enough to run the training paths.
func keepData() train.Data {
	rng := rand.New(rand.NewPCG(4, 5))
	s := train.Set{Images: make([]uint8, 256*fixtures.Pixels), Labels: make([]uint8, 256), N: 256, Rows: 28, Cols: 28}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
	}
	return train.Data{Train: *s.Slice(0, 192), Val: *s.Slice(192, 256), Scale: 1.0 / 255}
}

// keptWithin checks the ledger against round(keep·params), allowing keptSlack fewer: a kept
// weight that training happened to move to exactly 0.
const keptSlack = 1

func keptWithin(t *testing.T, what string, nonZero, params int64, keep float64) {
	t.Helper()
	want := int64(math.Round(keep * float64(params)))
	if nonZero > want || nonZero < want-keptSlack {
		t.Errorf("%s: %d of %d weights kept; want round(%g·%d) = %d", what, nonZero, params, keep, params, want)
	}
}

// TestSDRKeep runs sdr with --sdr-keep 0.1 on LeNet-5 (one shrinkage and one fine-tuning epoch of
// random images): the kept count is the one asked for, no validation loss is needed, and the
// record holds keep with tolerance 0.
func TestSDRKeep(t *testing.T) {
	m := lenet5(3)
	meth, err := NewMethod("sdr")
	if err != nil {
		t.Fatal(err)
	}
	p := meth.(*SDRMethod)
	p.Keep, p.Epochs, p.TuneEpochs, p.Lambda = 0.1, 1, 1, 1e-2
	env := Env{Data: keepData(), Seed: 1, Tune: Tune{Batch: 32}} // no Run: the keep path evaluates nothing
	sha, err := ModelSHA256(m)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Chain(context.Background(), m, []Method{p}, env, sha)
	if err != nil {
		t.Fatal(err)
	}
	led, err := NewLedger(m, ch.Model)
	if err != nil {
		t.Fatal(err)
	}
	keptWithin(t, "sdr --sdr-keep 0.1", led.NonZero, led.Params, 0.1)
	b, _ := json.Marshal(ch.Records[0].Params)
	if s := string(b); !strings.Contains(s, `"keep":0.1`) || !strings.Contains(s, `"tolerance":0`) {
		t.Errorf("record params %s; want keep 0.1 and tolerance 0", s)
	}
	if len(ch.Notes) != 1 || !strings.Contains(ch.Notes[0], "--sdr-keep 0.1") {
		t.Errorf("notes %q; want the cut-off with --sdr-keep 0.1", ch.Notes)
	}
}

// TestSVDKeep runs svd with --svd-keep 0.05 for one epoch: the kept count is the one asked for,
// the kept weights are the lowest log α, and the record holds keep with threshold 0.
func TestSVDKeep(t *testing.T) {
	data := keepData()
	src := fixtures.Zoo(rand.New(rand.NewPCG(3, 3)))
	r, err := SVD(context.Background(), src, data, SVDConfig{Epochs: 1, Batch: 32, Keep: 0.05, Seed: 7, EvalTrain: -1})
	if err != nil {
		t.Fatal(err)
	}
	var kept, total int
	for _, l := range r.Layers {
		kept += l.Kept
		total += l.Params
	}
	keptWithin(t, "svd keep 0.05", int64(kept), int64(total), 0.05)
	if r.Params.Keep != 0.05 || r.Params.Threshold != 0 {
		t.Errorf("record keep %g threshold %g; want 0.05 and 0 (no threshold used)", r.Params.Keep, r.Params.Threshold)
	}
	led, err := NewLedger(src, r.Model)
	if err != nil {
		t.Fatal(err)
	}
	keptWithin(t, "svd keep 0.05 (ledger)", led.NonZero, led.Params, 0.05)
}

// TestKeepOptionErrors: a bad kept fraction names its flag, and each keep option declares the
// option it replaces.
func TestKeepOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		method, flag string
		v            float64
	}{
		{"sdr", "--sdr-keep", -0.1}, {"sdr", "--sdr-keep", 1.5}, {"sdr", "--sdr-keep", math.NaN()},
		{"svd", "--svd-keep", -0.1}, {"svd", "--svd-keep", 2}, {"svd", "--svd-keep", math.NaN()},
	} {
		m, _ := NewMethod(tc.method)
		for _, o := range m.Options() {
			if "--"+o.Name == tc.flag {
				*o.Value.(*float64) = tc.v
			}
		}
		err := m.(interface{ Check() error }).Check()
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s %s %g: error %v; want one naming %s", tc.method, tc.flag, tc.v, err, tc.flag)
		}
	}
	for method, want := range map[string][2]string{"sdr": {"sdr-keep", "tolerance"}, "svd": {"svd-keep", "svd-threshold"}} {
		m, _ := NewMethod(method)
		ex, ok := m.(Exclusive)
		if !ok || !slices.Contains(ex.Exclusive(), want) {
			t.Errorf("%s: exclusive options %v; want %v", method, ex, want)
		}
	}
	if _, err := SVD(context.Background(), tinyConv(), train.Data{}, SVDConfig{Keep: 1.5}); err == nil || !strings.Contains(err.Error(), "kept fraction") {
		t.Errorf("SVDConfig.Keep 1.5: %v; want a kept-fraction error", err)
	}
}
