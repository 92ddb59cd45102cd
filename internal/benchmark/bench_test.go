package benchmark

import (
	"math/rand/v2"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/train"
)

// The peer's settings: batch 64, random inputs in [0,1) and random labels, an adaptive
// per-parameter update (PyTorch uses RMSprop; Adam costs the same elementwise work plus one
// more moment).
const trainBatch = 64

func randomBatch(rng *rand.Rand, n int) ([]float32, []int) {
	x := make([]float32, n*fixtures.Pixels)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(fixtures.Classes)
	}
	return x, y
}

func buildNet(b *testing.B, arch string, batch int) *nn.Net {
	b.Helper()
	m, err := fixtures.Build(arch, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	net, err := nn.Build(m, nn.Config{Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	return net
}

// BenchmarkTrainStep is one minibatch step: forward, backward, Adam update.
func BenchmarkTrainStep(b *testing.B) {
	for _, arch := range []string{"lenet5", "zoo"} {
		b.Run(arch, func(b *testing.B) {
			net := buildNet(b, arch, trainBatch)
			defer net.Close()
			tn, err := train.NN(net)
			if err != nil {
				b.Fatal(err)
			}
			opt := &train.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
			if err := opt.Init(tn.Params()); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			x, y := randomBatch(rng, trainBatch)
			step := func(i int) {
				if _, err := tn.LossGrad(x, y); err != nil {
					b.Fatal(err)
				}
				if err := opt.Step(tn.Params(), train.StepInfo{Step: i, LR: 1e-3, Batch: trainBatch, N: 55000, Rand: rng}); err != nil {
					b.Fatal(err)
				}
			}
			step(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(i + 1)
			}
			b.ReportMetric(float64(b.N*trainBatch)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkInfer is the forward pass; its s/image metric compares with the peer's
// infer_batch1_s_per_image and infer_batch256_s_per_image.
func BenchmarkInfer(b *testing.B) {
	for _, arch := range []string{"lenet5", "zoo"} {
		for _, batch := range []int{1, 256} {
			b.Run(arch+"/batch="+map[int]string{1: "1", 256: "256"}[batch], func(b *testing.B) {
				net := buildNet(b, arch, batch)
				defer net.Close()
				x, _ := randomBatch(rand.New(rand.NewPCG(5, 6)), batch)
				if _, err := net.Forward(x); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := net.Forward(x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*batch), "s/image")
			})
		}
	}
}
