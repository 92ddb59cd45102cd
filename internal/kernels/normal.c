// Standard normal draws on 8 AVX2 lanes (normal.go): per lane a xoshiro128+ generator, its top
// 24 bits as a uniform, and Giles' single-precision inverse error function; and the local
// reparameterization's forward pass with the draws made in registers. Every float operation
// is normal.go's, in its order and rounding (no fused multiply-add: contraction is off and no
// FMA intrinsic is used), so the results are bit-identical to the Go loops.
#include "normal.h"

#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx2")
#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
#define SET _mm256_set1_ps

// rng8 advances the 8 lanes' xoshiro128+ states s[0..3] (8 words each) and returns their
// outputs s0 + s3 of before the step.
AI __m256i rng8(__m256i s[4]) {
	const __m256i r = _mm256_add_epi32(s[0], s[3]);
	const __m256i t = _mm256_slli_epi32(s[1], 9);
	s[2] = _mm256_xor_si256(s[2], s[0]);
	s[3] = _mm256_xor_si256(s[3], s[1]);
	s[1] = _mm256_xor_si256(s[1], s[2]);
	s[0] = _mm256_xor_si256(s[0], s[3]);
	s[2] = _mm256_xor_si256(s[2], t);
	s[3] = _mm256_or_si256(_mm256_slli_epi32(s[3], 11), _mm256_srli_epi32(s[3], 21));
	return r;
}

// logu8 is normal.go's logUnit32: log p for p in [2⁻²⁴, 1] (normal, positive).
AI __m256 logu8(__m256 p) {
	const __m256 one = SET(1.0f);
	const __m256i bits = _mm256_castps_si256(p);
	__m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
	__m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
	                                               _mm256_set1_epi32(0x3f000000)));
	const __m256 below = _mm256_cmp_ps(m, SET(0.707106781186547524f), _CMP_LT_OQ);
	const __m256 tmp = _mm256_and_ps(below, m);
	m = _mm256_sub_ps(m, one);
	e = _mm256_sub_ps(e, _mm256_and_ps(below, one));
	m = _mm256_add_ps(m, tmp);
	const __m256 z = _mm256_mul_ps(m, m);
	__m256 y = SET(7.0376836292E-2f);
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(-1.1514610310E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(1.1676998740E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(-1.2420140846E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(1.4249322787E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(-1.6668057665E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(2.0000714765E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(-2.4999993993E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), SET(3.3333331174E-1f));
	y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
	y = _mm256_add_ps(y, _mm256_mul_ps(e, SET(-2.12194440e-4f)));
	y = _mm256_sub_ps(y, _mm256_mul_ps(z, SET(0.5f)));
	const __m256 r = _mm256_add_ps(m, y);
	return _mm256_add_ps(r, _mm256_mul_ps(e, SET(0.693359375f)));
}

#define STEP(p, c, w) _mm256_add_ps(SET(c), _mm256_mul_ps(p, w))

// normalN is normal.go's normal32 on N groups of 8 lanes: the lanes' next N outputs, group k
// in out[k]. The N groups' arithmetic is independent: written side by side, the processor
// overlaps their long dependency chains (log, then a degree-8 polynomial).
AI void normalN(__m256i s[4], __m256 *out, const int N) {
	__m256 x[N], w[N], p[N];
	const __m256 one = SET(1.0f);
	for (int k = 0; k < N; k++) {
		const __m256i u = _mm256_srli_epi32(rng8(s), 8);
		const __m256i j = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(u, u), _mm256_set1_epi32(1)),
		                                   _mm256_set1_epi32(1 << 24));
		x[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(j), SET(0x1p-24f));
	}
	for (int k = 0; k < N; k++) {
		const __m256 d = _mm256_andnot_ps(SET(-0.0f), x[k]);
		w[k] = _mm256_sub_ps(_mm256_setzero_ps(),
		                     logu8(_mm256_mul_ps(_mm256_sub_ps(one, d), _mm256_add_ps(one, d))));
	}
	int any = 0;
	for (int k = 0; k < N; k++) {
		const __m256 wc = _mm256_sub_ps(w[k], SET(2.5f));
		__m256 q = SET(2.81022636e-08f);
		q = STEP(q, 3.43273939e-07f, wc);
		q = STEP(q, -3.5233877e-06f, wc);
		q = STEP(q, -4.39150654e-06f, wc);
		q = STEP(q, 0.00021858087f, wc);
		q = STEP(q, -0.00125372503f, wc);
		q = STEP(q, -0.00417768164f, wc);
		q = STEP(q, 0.246640727f, wc);
		p[k] = STEP(q, 1.50140941f, wc);
		any |= _mm256_movemask_ps(_mm256_cmp_ps(w[k], SET(5.0f), _CMP_GE_OQ));
	}
	if (any) {
		for (int k = 0; k < N; k++) {
			const __m256 wt = _mm256_sub_ps(_mm256_sqrt_ps(w[k]), SET(3.0f));
			__m256 q = SET(-0.000200214257f);
			q = STEP(q, 0.000100950558f, wt);
			q = STEP(q, 0.00134934322f, wt);
			q = STEP(q, -0.00367342844f, wt);
			q = STEP(q, 0.00573950773f, wt);
			q = STEP(q, -0.0076224613f, wt);
			q = STEP(q, 0.00943887047f, wt);
			q = STEP(q, 1.00167406f, wt);
			q = STEP(q, 2.83297682f, wt);
			p[k] = _mm256_blendv_ps(p[k], q, _mm256_cmp_ps(w[k], SET(5.0f), _CMP_GE_OQ));
		}
	}
	for (int k = 0; k < N; k++) out[k] = _mm256_mul_ps(_mm256_mul_ps(p[k], x[k]), SET(1.41421356237309505f));
}

// Groups per step of the main loops.
#define NG 4

static void load(uint32_t *st, __m256i s[4]) {
	for (int k = 0; k < 4; k++) s[k] = _mm256_loadu_si256((const __m256i *)(st + 8 * k));
}

static void save(uint32_t *st, __m256i s[4]) {
	for (int k = 0; k < 4; k++) _mm256_storeu_si256((__m256i *)(st + 8 * k), s[k]);
}

void uqnn_normal_fill(uint32_t *st, float *z, long n) {
	__m256i s[4];
	load(st, s);
	long i = 0;
	__m256 g[NG];
	for (; i + 8 * NG <= n; i += 8 * NG) {
		normalN(s, g, NG);
		for (int k = 0; k < NG; k++) _mm256_storeu_ps(z + i + 8 * k, g[k]);
	}
	for (; i + 8 <= n; i += 8) {
		normalN(s, g, 1);
		_mm256_storeu_ps(z + i, g[0]);
	}
	if (i < n) {
		float t[8];
		normalN(s, g, 1);
		_mm256_storeu_ps(t, g[0]);
		memcpy(z + i, t, (n - i) * sizeof(float));
	}
	save(st, s);
}

// lrt8: out = mu + √(v + eps)·z and h = ½z / √(v + eps) for the draws z.
AI void lrt8(__m256 z, const float *mu, const float *v, float *out, float *h, __m256 eps) {
	const __m256 sd = _mm256_sqrt_ps(_mm256_add_ps(_mm256_loadu_ps(v), eps));
	_mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(mu), _mm256_mul_ps(sd, z)));
	_mm256_storeu_ps(h, _mm256_div_ps(_mm256_mul_ps(SET(0.5f), z), sd));
}

void uqnn_lrt_noise_fwd(uint32_t *st, const float *mu, const float *v, float *out, float *h, long n, float eps) {
	const __m256 ve = SET(eps);
	__m256i s[4];
	load(st, s);
	long i = 0;
	__m256 g[NG];
	for (; i + 8 * NG <= n; i += 8 * NG) {
		normalN(s, g, NG);
		for (int k = 0; k < NG; k++) lrt8(g[k], mu + i + 8 * k, v + i + 8 * k, out + i + 8 * k, h + i + 8 * k, ve);
	}
	for (; i + 8 <= n; i += 8) {
		normalN(s, g, 1);
		lrt8(g[0], mu + i, v + i, out + i, h + i, ve);
	}
	if (i < n) {
		float a[8] = {0}, b[8] = {0}, c[8], d[8];
		const long k = n - i;
		memcpy(a, mu + i, k * sizeof(float));
		memcpy(b, v + i, k * sizeof(float));
		normalN(s, g, 1);
		lrt8(g[0], a, b, c, d, ve);
		memcpy(out + i, c, k * sizeof(float));
		memcpy(h + i, d, k * sizeof(float));
	}
	save(st, s);
}

void uqnn_lrt_bwd_h(const float *h, const float *dy, float *dv, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dv + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(h + i)));
	for (; i < n; i++) dv[i] = dy[i] * h[i];
}
