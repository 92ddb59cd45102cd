package kernels

import "math"

// Single-precision exp and log after Cephes (S. L. Moshier's expf and logf, as vectorised in
// sse_mathfun): a range reduction by powers of 2 and a degree-5 (exp) or degree-8 (log)
// polynomial, accurate to 2 ulp on the ranges below (TestMathf). The Go functions here and the
// AVX2 lanes in svd.c do the same float32 operations in the same order, so they agree bit for
// bit. Every product that an addition consumes is converted to float32 explicitly, which the
// Go spec says rounds it: the compiler may not fuse it into a multiply-add.

const (
	expLo  = -87.33654 // ≈ log of the smallest normal float32: below it exp32 is 0
	expHi  = 88.0      // above it exp32 is +Inf (2⁻¹²⁶ ≤ 2ⁿ ≤ 2¹²⁷ in between)
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375 // ln 2 = ln2Hi + ln2Lo; n·ln2Hi is exact for |n| < 2¹⁵
	ln2Lo  = -2.12194440e-4
	sqrtHf = 0.707106781186547524

	minNormal32 = 0x1p-126
)

// exp32 is e^x for x in [expLo, expHi], 0 below, +Inf above and NaN for NaN.
func exp32(x float32) float32 {
	if x != x {
		return x
	}
	xc := x
	if !(xc > expLo) {
		xc = expLo
	}
	if !(xc < expHi) {
		xc = expHi
	}
	y := expPoly32(xc)
	if x < expLo {
		return 0
	}
	if x > expHi {
		return float32(math.Inf(1))
	}
	return y
}

// expPoly32 is e^x for x in [expLo, expHi] (exp32 without its range checks).
func expPoly32(xc float32) float32 {
	fx := float32(math.Floor(float64(float32(xc*log2e) + 0.5)))
	r := xc - float32(fx*ln2Hi)
	r -= float32(fx * ln2Lo)
	z := float32(r * r)
	y := float32(1.9875691500e-4)
	y = float32(y*r) + 1.3981999507e-3
	y = float32(y*r) + 8.3334519073e-3
	y = float32(y*r) + 4.1665795894e-2
	y = float32(y*r) + 1.6666665459e-1
	y = float32(y*r) + 5.0000001201e-1
	y = float32(y*z) + r
	y += 1
	return y * math.Float32frombits(uint32(int32(fx)+127)<<23)
}

// logAlpha32 is ls − log a² for a positive finite a (subnormals included). log a is formed
// as e·ln2Hi + r with r small, and ls − 2e·ln2Hi (exact product) is taken before 2r is
// subtracted: log α is then within about one ulp of itself, where rounding log a first would
// lose ulp(log a²) to the cancellation with ls.
func logAlpha32(a, ls float32) float32 {
	small := a < minNormal32
	if small {
		a *= 1 << 25
	}
	b := math.Float32bits(a)
	e := float32(int32(b>>23) - 126)
	if small {
		e -= 25
	}
	e, r := logParts32(b, e) // log a = e·ln2Hi + r
	t := ls - float32((e+e)*ln2Hi)
	return t - (r + r)
}

// logParts32 is the core of Cephes' logf, shared by logAlpha32 and logUnit32: for the bits b of
// a positive normal float x = m·2^e (m in [0.5, 1), e given by the caller) it returns e′ and a
// small r with log x = e′·ln2Hi + r, so each caller takes the sum in the order its precision
// needs.
func logParts32(b uint32, e float32) (float32, float32) {
	m := math.Float32frombits(b&0x007fffff | 0x3f000000) // x = m·2^e, m in [0.5, 1)
	var tmp float32
	below := m < sqrtHf
	if below {
		tmp = m
	}
	m -= 1
	if below {
		e -= 1
	}
	m += tmp // m − 1, or 2m − 1 with e − 1 below √½
	z := float32(m * m)
	y := float32(7.0376836292e-2)
	y = float32(y*m) - 1.1514610310e-1
	y = float32(y*m) + 1.1676998740e-1
	y = float32(y*m) - 1.2420140846e-1
	y = float32(y*m) + 1.4249322787e-1
	y = float32(y*m) - 1.6668057665e-1
	y = float32(y*m) + 2.0000714765e-1
	y = float32(y*m) - 2.4999993993e-1
	y = float32(y*m) + 3.3333331174e-1
	y = float32(float32(y*m) * z)
	y += float32(e * ln2Lo)
	y -= float32(z * 0.5)
	return e, m + y
}
