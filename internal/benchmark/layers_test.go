package benchmark

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/onnxio"
)

// layer is one node of a reference network with the shapes of its batch, as the training
// step runs it: Conv, Relu, MaxPool, Flatten or Gemm (transB 1).
type layer struct {
	name, op string
	in       []int // input shape
	out      []int // output shape
	conv     kernels.ConvGeom
	pool     kernels.PoolGeom
	k, m     int  // Gemm: input and output features
	first    bool // its input is the data batch: no input gradient is needed
}

// pass is one timed piece of a training step.
type pass struct {
	name  string // forward, data (input gradient), filter (weight and bias gradients)
	flops float64
}

// passes lists what a training step computes for l and the floating-point operations of each
// (a multiply-add counts two; ReLU and pooling count one per element they read).
func (l layer) passes() []pass {
	switch l.op {
	case "Conv":
		g := l.conv
		f := 2 * float64(g.N*g.M*g.OH*g.OW) * float64(g.C*g.KH*g.KW)
		ps := []pass{{"forward", f}}
		if !l.first {
			ps = append(ps, pass{"data", f})
		}
		return append(ps, pass{"filter", f})
	case "Gemm":
		f := 2 * float64(l.in[0]*l.k*l.m)
		ps := []pass{{"forward", f}}
		if !l.first {
			ps = append(ps, pass{"data", f})
		}
		return append(ps, pass{"filter", f})
	case "Relu", "MaxPool":
		return []pass{{"forward", float64(size(l.in))}, {"backward", float64(size(l.out))}}
	}
	return nil
}

func size(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// layers walks arch's ONNX graph (as fixtures builds it) and returns its layers at batch n.
// It knows the five ops the reference networks use and fails on any other.
func layers(arch string, n int) ([]layer, error) {
	m, err := fixtures.Build(arch, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return nil, err
	}
	nodes, err := m.Graph.TopoOrder()
	if err != nil {
		return nil, err
	}
	shapes := map[string][]int{fixtures.InputName: {n, 1, fixtures.Rows, fixtures.Cols}}
	data := map[string]bool{fixtures.InputName: true} // values computed from the input alone
	dims := func(t *onnxio.Tensor) []int {
		d := make([]int, len(t.Dims))
		for i, v := range t.Dims {
			d[i] = int(v)
		}
		return d
	}
	var out []layer
	for _, nd := range nodes {
		in, ok := shapes[nd.Inputs[0]]
		if !ok {
			return nil, fmt.Errorf("%s: node %q: input %q has no known shape", arch, nd.Name, nd.Inputs[0])
		}
		l := layer{name: nd.Name, op: nd.Op, in: in, first: data[nd.Inputs[0]]}
		ints := func(name string, def []int64) []int {
			v := nd.Ints(name, def)
			r := make([]int, len(v))
			for i, x := range v {
				r[i] = int(x)
			}
			return r
		}
		switch nd.Op {
		case "Conv":
			w := dims(m.Initializer(nd.Inputs[1]))
			p, s := ints("pads", []int64{0, 0, 0, 0}), ints("strides", []int64{1, 1})
			g, err := kernels.NewConvGeom([4]int(in), [4]int(w), [4]int(p), [2]int(s), [2]int{1, 1})
			if err != nil {
				return nil, fmt.Errorf("%s: node %q: %v", arch, nd.Name, err)
			}
			l.conv, l.out = g, []int{g.N, g.M, g.OH, g.OW}
		case "MaxPool":
			k, s := ints("kernel_shape", nil), ints("strides", nil)
			g, err := kernels.NewPoolGeom([4]int(in), [2]int(k), [4]int{}, [2]int(s))
			if err != nil {
				return nil, fmt.Errorf("%s: node %q: %v", arch, nd.Name, err)
			}
			l.pool, l.out = g, []int{g.N, g.C, g.OH, g.OW}
		case "Relu":
			l.out = in
		case "Flatten":
			l.out = []int{in[0], size(in[1:])}
		case "Gemm":
			w := dims(m.Initializer(nd.Inputs[1]))
			if nd.Int("transB", 0) != 1 || len(w) != 2 || w[1] != in[1] {
				return nil, fmt.Errorf("%s: node %q: Gemm with weight %v on input %v; want transB 1 and [out, %d]", arch, nd.Name, w, in, in[1])
			}
			l.k, l.m, l.out = w[1], w[0], []int{in[0], w[0]}
		default:
			return nil, fmt.Errorf("%s: node %q: op %s is not one the layer benchmark knows", arch, nd.Name, nd.Op)
		}
		shapes[nd.Outputs[0]] = l.out
		data[nd.Outputs[0]] = l.first && nd.Op != "Conv" && nd.Op != "Gemm"
		out = append(out, l)
	}
	return out, nil
}

// stepFLOPs is the floating-point work of one training step's forward and backward passes.
func stepFLOPs(ls []layer) (forward, backward float64) {
	for _, l := range ls {
		for _, p := range l.passes() {
			if p.name == "forward" {
				forward += p.flops
			} else {
				backward += p.flops
			}
		}
	}
	return forward, backward
}

// timeMedian runs fn b.N times and reports the median seconds per call (med-s/op), and, when
// flops > 0, the achieved rate at that median (GFLOP/s) and the work (MFLOP). A median holds
// on a machine that other processes interrupt now and then; the mean (ns/op) does not.
func timeMedian(b *testing.B, flops float64, fn func()) float64 {
	fn() // warm caches and workspaces
	ts, cs := make([]float64, 0, b.N), make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, t := processCPU(), time.Now()
		fn()
		ts = append(ts, time.Since(t).Seconds())
		cs = append(cs, processCPU()-c)
	}
	b.StopTimer()
	med := median(ts)
	b.ReportMetric(med, "med-s/op")
	b.ReportMetric(median(cs), "cpu-s/op")
	if flops > 0 {
		b.ReportMetric(flops/1e6, "MFLOP")
		b.ReportMetric(flops/med/1e9, "GFLOP/s")
	}
	return med
}

// processCPU is the process's CPU time in seconds (CLOCK_PROCESS_CPUTIME_ID, nanosecond
// resolution): on a machine other processes keep busy it grows with the work done, while
// wall time also counts the waits for a core.
func processCPU() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 2 /* CLOCK_PROCESS_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Nano()) / 1e9
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkPeakSGEMM is the rate the linked BLAS reaches on a large square SGEMM through the
// same kernels.Gemm the layers call (split across kernels.Threads() goroutines): the ceiling
// the layer rates are compared with.
func BenchmarkPeakSGEMM(b *testing.B) {
	const n = 1024
	r := rand.New(rand.NewPCG(7, 8))
	a, c, bm := randSlice(r, n*n), make([]float32, n*n), randSlice(r, n*n)
	b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
		timeMedian(b, 2*n*n*n, func() { kernels.Gemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n) })
	})
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// BenchmarkLayers times every pass of every layer of the reference networks at the training
// batch, on the kernels the graph ops call, so that the report can say where a step's time
// goes and how far each GEMM-bound pass is from BenchmarkPeakSGEMM. Run one layer with e.g.
// -bench 'Layers/lenet5/conv2/'.
func BenchmarkLayers(b *testing.B) {
	for _, arch := range []string{"lenet5", "zoo", "mlp"} {
		ls, err := layers(arch, trainBatch)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range ls {
			for _, p := range l.passes() {
				fn := passFunc(l, p.name)
				b.Run(arch+"/"+l.name+"/"+p.name, func(b *testing.B) { timeMedian(b, p.flops, fn) })
			}
		}
	}
}

// passFunc returns a closure that runs pass of l once on random data of l's shapes.
func passFunc(l layer, pass string) func() {
	r := rand.New(rand.NewPCG(9, 10))
	x, y := randSlice(r, size(l.in)), randSlice(r, size(l.out))
	dx, dy := make([]float32, size(l.in)), randSlice(r, size(l.out))
	switch l.op {
	case "Conv":
		g := l.conv
		c := kernels.NewConv[float32](g)
		w, bias := randSlice(r, g.WSize()), randSlice(r, g.M)
		dw, db := make([]float32, g.WSize()), make([]float32, g.M)
		c.Forward(x, w, bias, y) // as in a step, the weight gradient follows a forward pass
		switch pass {
		case "forward":
			return func() { c.Forward(x, w, bias, y) }
		case "data":
			return func() { c.BackwardData(w, dy, dx) }
		default:
			return func() { c.BackwardFilterReuse(x, dy, dw, db) }
		}
	case "Gemm":
		n, k, m := l.in[0], l.k, l.m
		w, bias := randSlice(r, m*k), randSlice(r, m)
		dw, db := make([]float32, m*k), make([]float32, m)
		switch pass {
		case "forward":
			return func() {
				kernels.Gemm(false, true, n, m, k, 1, x, k, w, k, 0, y, m)
				kernels.AddRowVector(y, n, m, bias)
			}
		case "data":
			return func() { kernels.Gemm(false, false, n, k, m, 1, dy, m, w, k, 0, dx, k) }
		default:
			return func() {
				kernels.Gemm(true, false, m, k, n, 1, dy, m, x, k, 0, dw, k)
				kernels.ColumnSums(dy, n, m, db)
			}
		}
	case "Relu":
		if pass == "forward" {
			return func() { kernels.ReLUForward(x, y) }
		}
		kernels.ReLUForward(x, y)
		return func() { kernels.ReLUBackward(y, dy, dx) }
	case "MaxPool":
		am := make([]int32, size(l.out))
		kernels.MaxPoolForward(l.pool, x, y, am)
		if pass == "forward" {
			return func() { kernels.MaxPoolForward(l.pool, x, y, am) }
		}
		return func() { kernels.MaxPoolBackward(l.pool, dy, am, dx) }
	}
	return func() {}
}

// TestLayersMatchNets checks the layer walk against hand-counted shapes and the FLOPs of
// LeNet-5's step against a count done by hand from its definition in fixtures.LeNet5.
func TestLayersMatchNets(t *testing.T) {
	ls, err := layers("lenet5", 64)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, fmt.Sprintf("%s%v", l.op, l.out))
	}
	want := []string{"Conv[64 20 24 24]", "Relu[64 20 24 24]", "MaxPool[64 20 12 12]", "Conv[64 50 8 8]",
		"Relu[64 50 8 8]", "MaxPool[64 50 4 4]", "Flatten[64 800]", "Gemm[64 500]", "Relu[64 500]", "Gemm[64 10]"}
	if !slices.Equal(got, want) {
		t.Fatalf("lenet5 layers:\n got %v\nwant %v", got, want)
	}
	if !ls[0].first || ls[3].first || ls[7].first {
		t.Errorf("first flags conv1 %v conv2 %v fc1 %v; want true false false", ls[0].first, ls[3].first, ls[7].first)
	}
	// By hand: conv1 2·64·20·576·25, conv2 2·64·50·64·500, fc1 2·64·800·500, fc2 2·64·500·10.
	conv1, conv2, fc1, fc2 := 2.0*64*20*576*25, 2.0*64*50*64*500, 2.0*64*800*500, 2.0*64*500*10
	// ReLU reads its input forward and its output gradient backward; pooling reads its input
	// forward and its output gradient backward.
	fwdElems := 64.0*20*576 + 64*20*576 + 64*50*64 + 64*50*64 + 64*500
	bwdElems := 64.0*20*576 + 64*20*144 + 64*50*64 + 64*50*16 + 64*500
	fwd, bwd := stepFLOPs(ls)
	if want := conv1 + conv2 + fc1 + fc2 + fwdElems; fwd != want {
		t.Errorf("lenet5 forward FLOPs %g; want %g", fwd, want)
	}
	if want := conv1 + 2*conv2 + 2*fc1 + 2*fc2 + bwdElems; bwd != want {
		t.Errorf("lenet5 backward FLOPs %g; want %g", bwd, want)
	}
	mlp, err := layers("mlp", 64)
	if err != nil {
		t.Fatal(err)
	}
	if l := mlp[1]; l.op != "Gemm" || !l.first || l.k != 784 || l.m != 300 {
		t.Errorf("mlp fc1: %s first %v k %d m %d; want Gemm true 784 300", l.op, l.first, l.k, l.m)
	}
}
