package bayes

import (
	"math"
	"math/bits"
)

// The samplers' Gaussian noise is the cost a sampling step adds to a training step: one normal
// draw per weight per step (431,080 for LeNet-5). math/rand/v2's NormFloat64 through the
// *rand.Rand interface costs about three times an Adam update per weight, so the samplers draw
// one seed per step from StepInfo.Rand (the checkpointed "noise" stream, so determinism and
// resume are unchanged) and generate the normals from it with a small inline generator
// (wyrand, 64 bits per call, two normals per call) and Marsaglia & Tsang's ziggurat (J. Stat.
// Softw. 5(8), 2000), exact up to float32 rounding. The weights are cut into fixed spans
// (train.Spans), each with its own generator seeded by (step seed, span index), so the spans run
// on all cores (train.EachSpan) and the result does not depend on which goroutine takes which
// span.

// wyrand is Wang Yi's 64-bit generator (public domain): a Weyl sequence through a 128-bit
// multiply-fold. It passes BigCrush and PractRand; its period is 2⁶⁴.
type wyrand struct {
	s    uint64
	half uint32 // the second 32 bits of the last call
	has  bool
}

func newWyrand(seed uint64, chunk int) wyrand {
	// SplitMix64 of (seed, chunk) so neighbouring chunks start far apart.
	z := seed + uint64(chunk+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return wyrand{s: z ^ (z >> 31)}
}

func (r *wyrand) uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

func (r *wyrand) uint32() uint32 {
	if r.has {
		r.has = false
		return r.half
	}
	v := r.uint64()
	r.half, r.has = uint32(v>>32), true
	return uint32(v)
}

// uniform is in (0, 1): never 0, so its log is finite.
func (r *wyrand) uniform() float64 {
	return (float64(r.uint64()>>11) + 0.5) / (1 << 53)
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

// fill sets each element of z to a standard normal draw, in order: the same values that as many
// calls of normal would give, rounded to float32. The rectangle test is inlined here; the rest
// of a draw (1.2% of them) is normal's.
func (r *wyrand) fill(z []float32) {
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

// normal returns a standard normal draw.
func (r *wyrand) normal() float64 {
	hz := int32(r.uint32())
	if iz := hz & 127; zigAbs(hz) < zigK[iz] {
		return float64(hz) * zigW[iz] // the rectangle: 98.8% of draws
	}
	return r.rest(hz)
}

// rest finishes a draw whose first 32 bits hz fell outside its layer's rectangle.
func (r *wyrand) rest(hz int32) float64 {
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
