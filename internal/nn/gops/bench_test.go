package gops

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// layer describes one stage of the benchmark nets.
type layer struct {
	kind    string // "conv", "pool", "fc"
	out, k  int    // conv filters and kernel; fc outputs
	pad     int
	relu    bool
	poolK   int
	flatten bool
}

var benchNets = map[string][]layer{
	// Caffe LeNet-5 with ReLU, as in shared/peers/torch_bench.py.
	"lenet5": {
		{kind: "conv", out: 20, k: 5, relu: true}, {kind: "pool", poolK: 2},
		{kind: "conv", out: 50, k: 5, relu: true}, {kind: "pool", poolK: 2},
		{kind: "fc", out: 500, relu: true}, {kind: "fc", out: 10},
	},
	// The ONNX model zoo MNIST net.
	"zoo": {
		{kind: "conv", out: 8, k: 5, pad: 2, relu: true}, {kind: "pool", poolK: 2},
		{kind: "conv", out: 16, k: 5, pad: 2, relu: true}, {kind: "pool", poolK: 3},
		{kind: "fc", out: 10},
	},
}

type trainNet struct {
	g      *gorgonia.ExprGraph
	cost   *gorgonia.Node
	params []*gorgonia.Node
	grads  []*gorgonia.Node
}

// buildTrainNet builds a classifier for [batch, 1, 28, 28] inputs with random data bound,
// He-style random weights and its gradient nodes.
func buildTrainNet(tb testing.TB, layers []layer, batch int, dt tensor.Dtype, r *rand.Rand) *trainNet {
	tb.Helper()
	g := gorgonia.NewGraph()
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	param := func(name string, scale float64, shape ...int) *gorgonia.Node {
		t := randTensor(r, dt, shape...)
		if dt == tensor.Float32 {
			for i, v := range t.Float32s() {
				t.Float32s()[i] = v * float32(scale)
			}
		} else {
			for i, v := range t.Float64s() {
				t.Float64s()[i] = v * scale
			}
		}
		return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(t))
	}
	h := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(batch, 1, 28, 28), gorgonia.WithName("x"),
		gorgonia.WithValue(randTensor(r, dt, batch, 1, 28, 28)))
	net := &trainNet{g: g}
	first := true
	for i, l := range layers {
		s := h.Shape()
		switch l.kind {
		case "conv":
			fan := s[1] * l.k * l.k
			w := param("w"+string(rune('0'+i)), 1.7/float64(fan), l.out, s[1], l.k, l.k)
			b := param("b"+string(rune('0'+i)), 0.01, l.out)
			net.params = append(net.params, w, b)
			h = must(Conv2D(h, w, b, ConvParams{Pads: [4]int{l.pad, l.pad, l.pad, l.pad}, NoInputGrad: first}))
			first = false
		case "pool":
			h = must(MaxPool2D(h, [2]int{l.poolK, l.poolK}, [4]int{}, [2]int{l.poolK, l.poolK}))
		case "fc":
			if len(s) == 4 {
				h = must(gorgonia.Reshape(h, tensor.Shape{s[0], s[1] * s[2] * s[3]}))
				s = h.Shape()
			}
			w := param("w"+string(rune('0'+i)), 1.7/float64(s[1]), l.out, s[1])
			b := param("b"+string(rune('0'+i)), 0.01, l.out)
			net.params = append(net.params, w, b)
			h = must(Dense(h, w, b, true))
		}
		if l.relu {
			h = must(ReLU(h))
		}
	}
	classes := h.Shape()[1]
	oh := tensor.New(tensor.Of(dt), tensor.WithShape(batch, classes))
	for i := 0; i < batch; i++ {
		var one any = 1.0
		if dt == tensor.Float32 {
			one = float32(1)
		}
		if err := oh.SetAt(one, i, r.IntN(classes)); err != nil {
			tb.Fatal(err)
		}
	}
	y := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(batch, classes), gorgonia.WithName("y"), gorgonia.WithValue(oh))
	net.cost = must(SoftmaxCrossEntropy(h, y))
	var err error
	if net.grads, err = gorgonia.Grad(net.cost, net.params...); err != nil {
		tb.Fatal(err)
	}
	return net
}

// sgd applies p -= lr·grad to every float32 parameter.
func (n *trainNet) sgd(lr float32) {
	for i, p := range n.params {
		w := p.Value().Data().([]float32)
		gr := n.grads[i].Value().Data().([]float32)
		for j, v := range gr {
			w[j] -= lr * v
		}
	}
}

// BenchmarkTrainStep times one float32 training step (forward, backward, SGD update) at
// batch 64 in a Gorgonia TapeMachine with the default kernels.Threads (2). Compare images/s with
// `/usr/bin/python3 shared/peers/torch_bench.py --threads 2` run back to back.
func BenchmarkTrainStep(b *testing.B) { benchTrainStep(b) }

// BenchmarkTrainStepOneThread is BenchmarkTrainStep with single-threaded kernels, to compare
// with `torch_bench.py --threads 1`.
func BenchmarkTrainStepOneThread(b *testing.B) {
	old := kernels.Threads()
	kernels.SetThreads(1)
	defer kernels.SetThreads(old)
	benchTrainStep(b)
}

func benchTrainStep(b *testing.B) {
	const batch = 64
	for _, name := range []string{"lenet5", "zoo"} {
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			net := buildTrainNet(b, benchNets[name], batch, tensor.Float32, r)
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
}

// cpuMillis is the process's user+system CPU time in milliseconds: on a shared machine it
// varies far less than wall time, so benchmarks report both.
func cpuMillis() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}
