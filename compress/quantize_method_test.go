package compress

import (
	"context"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/train"
)

// The quantize method ends a chain: magnitude's zeros stay zero and outside the codebooks, and
// every layer holds at most 2^bits − 1 distinct non-zero values.
func TestQuantizeMethodInChain(t *testing.T) {
	mn := testenv.MNIST(t)
	m := fixtures.Zoo(seed.Rand(2, "init"))
	env := Env{Data: train.Data{Train: *mn.Train.Slice(0, 256), Val: *mn.Validation().Slice(0, 64), Scale: 1.0 / 255},
		Seed: 1, Tune: Tune{Batch: 32}}
	mag, _ := NewMethod("magnitude")
	q, _ := NewMethod("quantize")
	q.(*QuantizeMethod).KMeansBits = "4"
	for _, op := range mag.Options() {
		if op.Name == "keep-all" {
			*op.Value.(*float64) = 0.4
		}
	}
	mag.(FineTuner).SetFineTuneEpochs(1)
	res, err := Chain(context.Background(), m, []Method{mag, q}, env, SHA256([]byte("zoo")))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Layers(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		w := res.Model.Initializer(l.Weight).Float32
		distinct := map[float32]bool{}
		zeros := 0
		for _, v := range w {
			if v != 0 {
				distinct[v] = true
			} else {
				zeros++
			}
		}
		if len(distinct) > 15 {
			t.Errorf("%s: %d distinct non-zero values; 4 bits with zeros allow 15", l.Weight, len(distinct))
		}
		if zeros == 0 {
			t.Errorf("%s: no zeros left after magnitude pruning to 40%%", l.Weight)
		}
	}
	if recs, _ := Records(res.Model); len(recs) != 2 || recs[1].Method != "quantize" {
		t.Fatalf("records %+v; want magnitude then quantize", recs)
	}
}
