package gops

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// buildStockLeNet5 is LeNet-5 (same shapes as benchNets["lenet5"], fully-connected biases, no
// convolution biases) from gorgonia's own Conv2d, MaxPool2D, Rectify, Mul and LogSoftMax: the
// baseline these ops replace.
func buildStockLeNet5(tb testing.TB, batch int, r *rand.Rand) *trainNet {
	tb.Helper()
	g := gorgonia.NewGraph()
	dt := tensor.Float32
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	param := func(name string, shape ...int) *gorgonia.Node {
		t := randTensor(r, dt, shape...)
		for i, v := range t.Float32s() {
			t.Float32s()[i] = v * 0.05
		}
		return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(t))
	}
	x := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(batch, 1, 28, 28), gorgonia.WithName("x"), gorgonia.WithValue(randTensor(r, dt, batch, 1, 28, 28)))
	w1, w2 := param("w1", 20, 1, 5, 5), param("w2", 50, 20, 5, 5)
	f1, b1, f2, b2 := param("f1", 800, 500), param("b1", 500), param("f2", 500, 10), param("b2", 10)
	h := must(gorgonia.Conv2d(x, w1, tensor.Shape{5, 5}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
	h = must(gorgonia.MaxPool2D(must(gorgonia.Rectify(h)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	h = must(gorgonia.Conv2d(h, w2, tensor.Shape{5, 5}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
	h = must(gorgonia.MaxPool2D(must(gorgonia.Rectify(h)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	h = must(gorgonia.Reshape(h, tensor.Shape{batch, 800}))
	h = must(gorgonia.Rectify(must(gorgonia.BroadcastAdd(must(gorgonia.Mul(h, f1)), b1, nil, []byte{0}))))
	z := must(gorgonia.BroadcastAdd(must(gorgonia.Mul(h, f2)), b2, nil, []byte{0}))
	oh := tensor.New(tensor.Of(dt), tensor.WithShape(batch, 10))
	for i := 0; i < batch; i++ {
		if err := oh.SetAt(float32(1), i, r.IntN(10)); err != nil {
			tb.Fatal(err)
		}
	}
	y := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(batch, 10), gorgonia.WithName("y"), gorgonia.WithValue(oh))
	ls := must(gorgonia.LogSoftMax(z))
	cost := must(gorgonia.Neg(must(gorgonia.Mean(must(gorgonia.Sum(must(gorgonia.HadamardProd(ls, y)), 1))))))
	net := &trainNet{g: g, cost: cost, params: []*gorgonia.Node{w1, w2, f1, b1, f2, b2}}
	var err error
	if net.grads, err = gorgonia.Grad(cost, net.params...); err != nil {
		tb.Fatal(err)
	}
	return net
}

// BenchmarkTrainStepStock is BenchmarkTrainStep/lenet5 on gorgonia's stock ops, for a same-run
// ratio.
func BenchmarkTrainStepStock(b *testing.B) {
	const batch = 64
	b.Run("lenet5", func(b *testing.B) {
		net := buildStockLeNet5(b, batch, rand.New(rand.NewPCG(1, 2)))
		m := gorgonia.NewTapeMachine(net.g)
		defer m.Close()
		step := func() {
			m.Reset()
			if err := m.RunAll(); err != nil {
				b.Fatal(err)
			}
			net.sgd(1e-3)
		}
		step()
		b.ReportAllocs()
		cpu0 := cpuMillis()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			step()
		}
		b.StopTimer()
		sec := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(batch/sec, "images/s")
		b.ReportMetric(sec*1e3, "ms/step")
		b.ReportMetric((cpuMillis()-cpu0)/float64(b.N), "cpu-ms/step")
	})
}
