package noise

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/uqnn/uqnn/internal/kernels"
)

// Gen is Wang Yi's wyrand (public domain), a Weyl sequence through a 128-bit multiply-fold
// with 64 bits per call (two 32-bit halves, each used for one normal draw). It passes BigCrush
// and PractRand; its period is 2⁶⁴. The zero value is a valid generator, but New is how one is
// seeded.
type Gen struct {
	s    uint64
	half uint32 // the second 32 bits of the last call
	has  bool
}

// New returns the generator of stream index of seed: its state is SplitMix64 of (seed, index),
// so neighbouring indices start far apart.
func New(seed uint64, index int) Gen {
	z := seed + uint64(index+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return Gen{s: z ^ (z >> 31)}
}

// Uint64 returns 64 random bits.
func (r *Gen) Uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

func (r *Gen) uint32() uint32 {
	if r.has {
		r.has = false
		return r.half
	}
	v := r.Uint64()
	r.half, r.has = uint32(v>>32), true
	return uint32(v)
}

// uniform is in (0, 1): never 0, so its log is finite.
func (r *Gen) uniform() float64 {
	return (float64(r.Uint64()>>11) + 0.5) / (1 << 53)
}

// Ziggurat tables for the standard normal, 128 layers (Marsaglia & Tsang 2000, rnor).
var zigK [128]uint32
var zigW, zigF [128]float64

const zigR = 3.442619855899

func init() {
	const m1 = 2147483648.0
	const vn = 9.91256303526217e-3
	dn, tn := zigR, zigR
	q := vn / math.Exp(-0.5*dn*dn)
	zigK[0] = uint32(dn / q * m1)
	zigK[1] = 0
	zigW[0] = q / m1
	zigW[127] = dn / m1
	zigF[0] = 1
	zigF[127] = math.Exp(-0.5 * dn * dn)
	for i := 126; i >= 1; i-- {
		dn = math.Sqrt(-2 * math.Log(vn/dn+math.Exp(-0.5*dn*dn)))
		zigK[i+1] = uint32(dn / tn * m1)
		tn = dn
		zigF[i] = math.Exp(-0.5 * dn * dn)
		zigW[i] = dn / m1
	}
}

// Fill sets each element of z to a standard normal draw, in order: the same values that as
// many calls of Normal would give, rounded to float32. The rectangle test is inlined here; the
// rest of a draw (1.2% of them) is Normal's.
func (r *Gen) Fill(z []float32) {
	for i := range z {
		hz := int32(r.uint32())
		iz := hz & 127
		if zigAbs(hz) < zigK[iz] {
			z[i] = float32(float64(hz) * zigW[iz])
			continue
		}
		z[i] = float32(r.rest(hz))
	}
}

// zigAbs is |hz| as an unsigned number (2³¹ for the most negative), without a branch: the
// sign of a draw is a coin toss that a branch would mispredict half the time.
func zigAbs(hz int32) uint32 {
	m := hz >> 31
	return uint32((hz ^ m) - m)
}

// Normal returns a standard normal draw.
func (r *Gen) Normal() float64 {
	hz := int32(r.uint32())
	if iz := hz & 127; zigAbs(hz) < zigK[iz] {
		return float64(hz) * zigW[iz] // the rectangle: 98.8% of draws
	}
	return r.rest(hz)
}

// rest finishes a draw whose first 32 bits hz fell outside its layer's rectangle.
func (r *Gen) rest(hz int32) float64 {
	for {
		iz := hz & 127
		x := float64(hz) * zigW[iz]
		if zigAbs(hz) < zigK[iz] {
			return x
		}
		if iz == 0 { // the tail beyond zigR
			for {
				x = -math.Log(r.uniform()) / zigR
				y := -math.Log(r.uniform())
				if y+y >= x*x {
					break
				}
			}
			if hz > 0 {
				return zigR + x
			}
			return -zigR - x
		}
		// The wedge between layers: accept under the density.
		if zigF[iz]+r.uniform()*(zigF[iz-1]-zigF[iz]) < math.Exp(-0.5*x*x) {
			return x
		}
		hz = int32(r.uint32())
	}
}

// SpanSize is the number of draws per span of FillSpans and Spans: large enough that a
// goroutine's start is noise, small enough that a layer's noise gives every core several spans.
const SpanSize = 1 << 15

// SpanState is the generator of span index of seed for the span-parallel draws (FillSpans,
// Spans): 8 lanes of kernels.NormalFill, seeded from New(seed, index)'s state.
func SpanState(seed uint64, index int) kernels.NormalState {
	return kernels.NewNormalState(New(seed, index).s)
}

// SpanCount is the number of spans of a buffer of n values.
func SpanCount(n int) int { return (n + SpanSize - 1) / SpanSize }

// FillSpans fills every buffer of bufs with standard normal draws. The buffers are cut into
// spans of SpanSize values, buffer by buffer in order and numbered from 0; span k is
// kernels.NormalFill of SpanState(seed, k). The spans run on up to kernels.Threads()
// goroutines (at most GOMAXPROCS), and the values do not depend on how many.
func FillSpans(seed uint64, bufs [][]float32) {
	base := 0
	for _, z := range bufs {
		Spans(seed, base, len(z), func(st *kernels.NormalState, lo, hi int) { kernels.NormalFill(st, z[lo:hi]) })
		base += SpanCount(len(z))
	}
}

// Spans runs fn on every span of a buffer of n values whose first span is number base of
// seed's spans, with that span's generator SpanState(seed, base+j) for span j = [lo, hi): on up
// to kernels.Threads() goroutines (at most GOMAXPROCS). fn must write only its span's
// elements; the result does not then depend on how many goroutines run.
func Spans(seed uint64, base, n int, fn func(st *kernels.NormalState, lo, hi int)) {
	spans := SpanCount(n)
	run := func(j int) {
		st := SpanState(seed, base+j)
		fn(&st, j*SpanSize, min((j+1)*SpanSize, n))
	}
	workers := min(kernels.Threads(), runtime.GOMAXPROCS(0), spans)
	if workers <= 1 {
		for j := range spans {
			run(j)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int(next.Add(1) - 1); j < spans; j = int(next.Add(1) - 1) {
				run(j)
			}
		}()
	}
	for j := int(next.Add(1) - 1); j < spans; j = int(next.Add(1) - 1) {
		run(j)
	}
	wg.Wait()
}
