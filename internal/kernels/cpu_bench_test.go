package kernels

import (
	"math/rand/v2"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"unsafe"
)

// cpuMillis is the process's user+system CPU time: under a shared machine it varies far less
// than wall time.
func cpuMillis() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// BenchmarkIm2col reports im2col's and col2im's CPU time for LeNet-5 and zoo convolutions.
func BenchmarkIm2col(b *testing.B) {
	for _, tc := range []struct {
		name string
		x, w [4]int
		pad  int
	}{{"lenet5_conv2", [4]int{64, 20, 12, 12}, [4]int{50, 20, 5, 5}, 0}, {"zoo_conv2", [4]int{64, 8, 14, 14}, [4]int{16, 8, 5, 5}, 2}, {"zoo_conv1", [4]int{64, 1, 28, 28}, [4]int{8, 1, 5, 5}, 2}} {
		g, err := NewConvGeom(tc.x, tc.w, [4]int{tc.pad, tc.pad, tc.pad, tc.pad}, [2]int{1, 1}, [2]int{1, 1})
		if err != nil {
			b.Fatal(err)
		}
		x := randSlice[float32](rand.New(rand.NewPCG(1, 2)), g.XSize())
		col := make([]float32, g.k()*g.N*g.p())
		dx := make([]float32, g.XSize())
		b.Run(tc.name, func(b *testing.B) {
			t0 := cpuMillis()
			for b.Loop() {
				im2col(g, x, col)
			}
			b.ReportMetric((cpuMillis()-t0)/float64(b.N), "cpu-ms/op")
		})
		b.Run(tc.name+"_col2im", func(b *testing.B) {
			t0 := cpuMillis()
			for b.Loop() {
				col2im(g, col, dx)
			}
			b.ReportMetric((cpuMillis()-t0)/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkPoolCPU reports max-pooling CPU time for the zoo net's two poolings.
func BenchmarkPoolCPU(b *testing.B) {
	for _, tc := range []struct {
		name string
		x    [4]int
		k    int
	}{{"zoo_pool1_2x2", [4]int{64, 8, 28, 28}, 2}, {"zoo_pool2_3x3", [4]int{64, 16, 14, 14}, 3}} {
		g, err := NewPoolGeom(tc.x, [2]int{tc.k, tc.k}, [4]int{}, [2]int{tc.k, tc.k})
		if err != nil {
			b.Fatal(err)
		}
		x := randSlice[float32](rand.New(rand.NewPCG(1, 2)), g.XSize())
		y, am := make([]float32, g.YSize()), make([]int32, g.YSize())
		b.Run(tc.name, func(b *testing.B) {
			t0 := cpuMillis()
			for b.Loop() {
				MaxPoolForward(g, x, y, am)
			}
			b.ReportMetric((cpuMillis()-t0)/float64(b.N), "cpu-ms/op")
		})
	}
}

// threadCPU is the calling thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID, nanosecond
// resolution): with the goroutine locked to its thread and one worker, it measures a kernel's
// own work even on a machine that other processes keep busy.
func threadCPU() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Nano()) / 1e9
}

// BenchmarkConvPathsPaired compares two paths of each pass of the reference nets'
// convolutions at batch 64 in one thread: im2col against the extended-width GEMM
// ("im2col/ext"), and the extended-width GEMM against the direct kernels ("ext/direct", where
// the processor has them). Every iteration runs the pass once on each path, back to back, and
// times each in thread CPU time; the metric is the median of the per-iteration ratios (q1 and
// q3 beside it). Pairing the two makes the ratio hold on a machine whose load moves single
// timings by tens of percent. Each pass follows a forward pass on the same path, as in a
// training step (the weight gradient reuses its patches).
func BenchmarkConvPathsPaired(b *testing.B) {
	for _, cmp := range []string{"im2col/ext", "ext/direct"} {
		if cmp == "ext/direct" && !directOK {
			continue
		}
		b.Run(cmp, func(b *testing.B) { benchConvPaths(b, cmp) })
	}
}

// benchConvPaths runs BenchmarkConvPathsPaired's comparison cmp: side 1 of each pair is the
// slower path's switch turned on.
func benchConvPaths(b *testing.B, cmp string) {
	set := func(v int) { noExt, noDirect = cmp == "im2col/ext" && v == 1, cmp == "im2col/ext" || v == 1 }
	defer func(w float64) { extMaxWaste = w }(extMaxWaste)
	extMaxWaste = 1e9 // let the extended path take every shape
	for _, tc := range []struct {
		name string
		x, w [4]int
		pad  int
	}{
		{"zoo1", [4]int{64, 1, 28, 28}, [4]int{8, 1, 5, 5}, 2},
		{"zoo2", [4]int{64, 8, 14, 14}, [4]int{16, 8, 5, 5}, 2},
		{"lenet1", [4]int{64, 1, 28, 28}, [4]int{20, 1, 5, 5}, 0},
		{"lenet2", [4]int{64, 20, 12, 12}, [4]int{50, 20, 5, 5}, 0},
	} {
		p := tc.pad
		g, err := NewConvGeom(tc.x, tc.w, [4]int{p, p, p, p}, [2]int{1, 1}, [2]int{1, 1})
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		x, w, bias := randSlice[float32](r, g.XSize()), randSlice[float32](r, g.WSize()), randSlice[float32](r, g.M)
		y, dx, dw, db := make([]float32, g.YSize()), make([]float32, g.XSize()), make([]float32, g.WSize()), make([]float32, g.M)
		c := NewConv[float32](g)
		for _, pass := range []string{"forward", "data", "filter"} {
			b.Run(tc.name+"/"+pass, func(b *testing.B) {
				defer SetThreads(Threads())
				SetThreads(1)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				defer func() { noExt, noDirect = false, false }()
				var ratios []float64
				for b.Loop() {
					var t [2]float64
					for v := range t {
						set(v)
						c.Forward(x, w, bias, y)
						t0 := threadCPU()
						switch pass {
						case "forward":
							c.Forward(x, w, bias, y)
						case "data":
							c.BackwardData(w, y, dx)
						default:
							c.BackwardFilterReuse(x, y, dw, db)
						}
						t[v] = threadCPU() - t0
					}
					ratios = append(ratios, t[1]/t[0])
				}
				sort.Float64s(ratios)
				n := len(ratios)
				b.ReportMetric(ratios[n/2], cmp)
				b.ReportMetric(ratios[n/4], "q1")
				b.ReportMetric(ratios[3*n/4], "q3")
			})
		}
	}
}
