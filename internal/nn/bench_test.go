package nn

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

// BenchmarkNet times Forward and LossGrad on shared models at a training batch size.
func BenchmarkNet(b *testing.B) {
	dir := sharedModels(b)
	const batch = 64
	for _, file := range []string{"cntk-zoo-mnist-op7.onnx", "pytorch-cnn-op11.onnx", "keras2onnx-nhwc-op10.onnx"} {
		m, err := onnxio.Load(filepath.Join(dir, file))
		if err != nil {
			b.Fatal(err)
		}
		net, err := Build(m, Config{Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := randInput(rng, batch*784)
		labels := make([]int, batch)
		for i := range labels {
			labels[i] = rng.IntN(net.Classes())
		}
		b.Run(file+"/forward", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := net.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(file+"/lossgrad", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := net.LossGrad(x, labels); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
		})
		net.Close()
	}
}
