package noise

import (
	"math"
	"runtime"
	"testing"

	"github.com/uqnn/uqnn/internal/kernels"
)

func TestZigguratNormalMoments(t *testing.T) {
	// 2,000,000 draws: the standard errors of the mean, variance, fourth moment and a tail
	// fraction are 7e-4, 1e-3, 5e-3 and 1.5e-5; each tolerance is about five of them.
	const n = 2_000_000
	r := New(42, 3)
	var s1, s2, s4 float64
	tail, far := 0, 0
	for range n {
		x := r.Normal()
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
		if math.Abs(x) > 2 {
			tail++
		}
		if math.Abs(x) > zigR {
			far++
		}
	}
	mean, v, m4 := s1/n, s2/n, s4/n
	pTail := float64(tail) / n
	pFar := float64(far) / n
	wantTail := math.Erfc(2 / math.Sqrt2)   // P(|x| > 2) = 0.0455
	wantFar := math.Erfc(zigR / math.Sqrt2) // P(|x| > r) = 5.8e-4: the ziggurat's tail branch
	switch {
	case math.Abs(mean) > 0.004:
		t.Errorf("mean %g; want 0 ± 0.004", mean)
	case math.Abs(v-1) > 0.005:
		t.Errorf("variance %g; want 1 ± 0.005", v)
	case math.Abs(m4-3) > 0.025:
		t.Errorf("fourth moment %g; want 3 ± 0.025", m4)
	case math.Abs(pTail-wantTail) > 8e-4:
		t.Errorf("P(|x| > 2) = %g; want %g", pTail, wantTail)
	case math.Abs(pFar-wantFar) > 1e-4:
		t.Errorf("P(|x| > %g) = %g; want %g", zigR, pFar, wantFar)
	}
}

func TestNoiseChunksIndependentOfCores(t *testing.T) {
	// The same seed gives the same draws per chunk whatever the order chunks run in.
	a, b := New(7, 0), New(7, 1)
	c := New(7, 0)
	if a.Normal() == b.Normal() {
		t.Errorf("chunks 0 and 1 start with the same draw")
	}
	a2 := New(7, 0)
	if a2.Normal() != c.Normal() {
		t.Errorf("the same (seed, chunk) gives different draws")
	}
}

// TestFillSpansIndependentOfThreads: FillSpans gives the same bytes on one goroutine and on
// several, span k equals kernels.NormalFill of SpanState(seed, k), and the first draws of Gen
// are pinned (seeded sampler runs and checkpoints depend on them).
func TestFillSpansIndependentOfThreads(t *testing.T) {
	sizes := []int{5, SpanSize + 3, 2*SpanSize + 1, 0, 100}
	fill := func(threads, procs int) [][]float32 {
		defer kernels.SetThreads(kernels.Threads())
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		kernels.SetThreads(threads)
		bufs := make([][]float32, len(sizes))
		for i, n := range sizes {
			bufs[i] = make([]float32, n)
		}
		FillSpans(11, bufs)
		return bufs
	}
	one, four := fill(1, 1), fill(4, 4)
	for b := range one {
		for i := range one[b] {
			if math.Float32bits(one[b][i]) != math.Float32bits(four[b][i]) {
				t.Fatalf("buffer %d value %d: %g on one goroutine, %g on four", b, i, one[b][i], four[b][i])
			}
		}
	}
	// Span 2 is buffer 1's second span (buffer 0 is span 0).
	st := SpanState(11, 2)
	want := make([]float32, 3)
	kernels.NormalFill(&st, want)
	for i, w := range want {
		if got := one[1][SpanSize+i]; got != w {
			t.Fatalf("buffer 1 value %d: %g; want span 2's draw %d, %g", SpanSize+i, got, i, w)
		}
	}
	// Pinned: the first draws of New(1, 0) (frozen: seeded sampler runs depend on them).
	g := New(1, 0)
	for i, w := range []float64{-0.05165065088861655, -1.0764676529238466, -0.6878425837724055} {
		if got := g.Normal(); got != w {
			t.Fatalf("New(1, 0) draw %d: %v; want %v", i, got, w)
		}
	}
}
