package bayes

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/train"
)

// BenchmarkSamplingStep is the paired measurement behind "one sampling step costs at most
// 1.1× one training step": LeNet-5, batch 64, the loop's work per step (minibatch loss and
// gradient, the L2Prior term, the Stepper), with Adam (the training step of uqnn train) and a
// sampler taking turns within each iteration so both see the same machine load. It reports
// the median of each and their ratio (sampler/adam).
func BenchmarkSamplingStep(b *testing.B) {
	for _, name := range []string{SamplerPSGLD, SamplerBAOAB} {
		b.Run(name, func(b *testing.B) {
			const batch = 64
			m, err := fixtures.Build("lenet5", rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				b.Fatal(err)
			}
			nets := make([]train.Net, 2)
			for i := range nets {
				g, err := nn.Build(m, nn.Config{Batch: batch})
				if err != nil {
					b.Fatal(err)
				}
				defer g.Close()
				if nets[i], err = train.NN(g); err != nil {
					b.Fatal(err)
				}
			}
			cfg := SampleConfig{Sampler: name}
			cfg, _ = cfg.Resolved()
			steppers := []train.Stepper{&train.Adam{}, cfg.stepper()}
			lrs := []float64{1e-3, cfg.StepSize}
			for i, st := range steppers {
				if err := st.Init(nets[i].Params()); err != nil {
					b.Fatal(err)
				}
			}
			prior := train.L2Prior(DefaultWeightDecay)
			rng := rand.New(rand.NewPCG(3, 4))
			x := make([]float32, batch*fixtures.Pixels)
			y := make([]int, batch)
			for i := range x {
				x[i] = rng.Float32()
			}
			for i := range y {
				y[i] = rng.IntN(fixtures.Classes)
			}
			step := func(k, i int) time.Duration {
				t0 := time.Now()
				if _, err := nets[k].LossGrad(x, y); err != nil {
					b.Fatal(err)
				}
				s := &train.State{Params: nets[k].Params()}
				if err := prior.AfterGrad(context.Background(), s); err != nil {
					b.Fatal(err)
				}
				if err := steppers[k].Step(nets[k].Params(), train.StepInfo{Step: i, LR: lrs[k], N: 55000, Batch: batch, Rand: rng}); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			step(0, 0)
			step(1, 0)
			var tAdam, tSampler []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 { // alternate which goes first
					tAdam = append(tAdam, step(0, i).Seconds())
					tSampler = append(tSampler, step(1, i).Seconds())
				} else {
					tSampler = append(tSampler, step(1, i).Seconds())
					tAdam = append(tAdam, step(0, i).Seconds())
				}
			}
			b.StopTimer()
			ma, ms := median(tAdam), median(tSampler)
			b.ReportMetric(ma, "adam-s/step")
			b.ReportMetric(ms, name+"-s/step")
			b.ReportMetric(ms/ma, "ratio")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
