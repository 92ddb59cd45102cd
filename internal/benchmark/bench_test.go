package benchmark

import (
	"math/rand/v2"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/kernels"
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

// archs are the reference networks; the PyTorch peer has lenet5 and zoo.
var archs = []string{"lenet5", "zoo", "mlp"}

// TestBLASInfo logs the BLAS the kernels run, as the library reports it in this process (run
// with -v; make bench prints it beside the figures).
func TestBLASInfo(t *testing.T) {
	info := kernels.BLAS()
	if info.Core == "" || info.Config == "" {
		t.Fatalf("BLAS reports core %q config %q; want both non-empty", info.Core, info.Config)
	}
	t.Logf("blas: %s; core %s; threads %d", info.Config, info.Core, kernels.Threads())
}

// BenchmarkTrainStep is one minibatch step: forward, backward, Adam update. med-s/op is the
// median step, the figure make bench compares; GFLOP/s is the forward and backward passes'
// work (see layers) at that median.
func BenchmarkTrainStep(b *testing.B) {
	for _, arch := range archs {
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
			ls, err := layers(arch, trainBatch)
			if err != nil {
				b.Fatal(err)
			}
			fwd, bwd := stepFLOPs(ls)
			i := 0
			b.ReportAllocs()
			timeMedian(b, fwd+bwd, func() { step(i); i++ })
		})
	}
}

// BenchmarkUpdate is the Adam update alone on each network's parameters, the part of a step
// that is not forward or backward.
func BenchmarkUpdate(b *testing.B) {
	for _, arch := range archs {
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
			i := 0
			timeMedian(b, 0, func() {
				if err := opt.Step(tn.Params(), train.StepInfo{Step: i, LR: 1e-3, Batch: trainBatch, N: 55000, Rand: rng}); err != nil {
					b.Fatal(err)
				}
				i++
			})
		})
	}
}

// BenchmarkInfer is the forward pass; its med-s/image metric compares with the peer's
// infer_batch1_s_per_image and infer_batch256_s_per_image.
func BenchmarkInfer(b *testing.B) {
	for _, arch := range archs {
		for _, batch := range []int{1, 256} {
			b.Run(arch+"/batch="+map[int]string{1: "1", 256: "256"}[batch], func(b *testing.B) {
				net := buildNet(b, arch, batch)
				defer net.Close()
				x, _ := randomBatch(rand.New(rand.NewPCG(5, 6)), batch)
				b.ReportAllocs()
				med := timeMedian(b, 0, func() {
					if _, err := net.Forward(x); err != nil {
						b.Fatal(err)
					}
				})
				b.ReportMetric(med/float64(batch), "med-s/image")
			})
		}
	}
}
