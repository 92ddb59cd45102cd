// Standard normal draws on 8 AVX2 lanes (normal.go): per lane a xoshiro128+ generator, its top
// 23 and 24 bits as uniforms, and the Box–Muller transform with polynomial log, sin and cos; and the local
// reparameterization's forward pass with the draws made in registers. Every float operation
// is normal.go's, in its order and rounding (no fused multiply-add: contraction is off and no
// FMA intrinsic is used), so the results are bit-identical to the Go loops.
#include "normal.h"

#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx2")
#include <immintrin.h>
#include <string.h>

#include "mathf8.h"

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
	const __m256i bits = _mm256_castps_si256(p);
	__m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
	const __m256 r = logparts8(bits, &e);
	return _mm256_add_ps(r, _mm256_mul_ps(e, SET(LN2_HI)));
}

// normal16 is normal.go's normalGroup: the lanes' next two outputs as 8 Box–Muller pairs,
// radii to a, angles to b; the 16 draws are r·cos to a and r·sin to b.
AI void normal16(__m256i s[4], __m256 *a, __m256 *b) {
	const __m256 u1 = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(rng8(s), 9)), SET(0.5f)),
	                                SET(0x1p-23f));
	const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(rng8(s), 8)), SET(0x1p-24f));
	const __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(logu8(u1), SET(-2.0f)));
	// The angle 2πt, t in turns, is 2π·f plus q quarter turns, f in [−1/8, 1/8].
	const __m256 q = _mm256_round_ps(_mm256_mul_ps(t, SET(4.0f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	const __m256 x = _mm256_mul_ps(_mm256_sub_ps(t, _mm256_mul_ps(q, SET(0.25f))), SET(6.28318530717958648f));
	const __m256 x2 = _mm256_mul_ps(x, x);
	__m256 sp = SET(-1.9515295891E-4f);
	sp = _mm256_add_ps(_mm256_mul_ps(sp, x2), SET(8.3321608736E-3f));
	sp = _mm256_add_ps(_mm256_mul_ps(sp, x2), SET(-1.6666654611E-1f));
	const __m256 sn = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(sp, x2), x), x);
	__m256 cp = SET(2.443315711809948E-5f);
	cp = _mm256_add_ps(_mm256_mul_ps(cp, x2), SET(-1.388731625493765E-3f));
	cp = _mm256_add_ps(_mm256_mul_ps(cp, x2), SET(4.166664568298827E-2f));
	const __m256 cs = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(cp, x2), x2), _mm256_mul_ps(x2, SET(0.5f))),
	                                SET(1.0f));
	// Quarter turns: odd q swaps sin and cos; the signs flip for q = 2, 3 (sin) and 1, 2 (cos).
	const __m256i qi = _mm256_cvtps_epi32(q);
	const __m256 swap = _mm256_castsi256_ps(_mm256_slli_epi32(qi, 31));
	const __m256 negS = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(qi, 1), 31));
	const __m256 negC = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(_mm256_add_epi32(qi, _mm256_set1_epi32(1)), 1), 31));
	const __m256 S = _mm256_xor_ps(_mm256_blendv_ps(sn, cs, swap), negS);
	const __m256 C = _mm256_xor_ps(_mm256_blendv_ps(cs, sn, swap), negC);
	*a = _mm256_mul_ps(r, C);
	*b = _mm256_mul_ps(r, S);
}

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
	__m256 g[4];
	for (; i + 32 <= n; i += 32) {
		normal16(s, &g[0], &g[1]);
		normal16(s, &g[2], &g[3]);
		for (int k = 0; k < 4; k++) _mm256_storeu_ps(z + i + 8 * k, g[k]);
	}
	for (; i < n; i += 16) {
		float t[16];
		normal16(s, &g[0], &g[1]);
		_mm256_storeu_ps(t, g[0]);
		_mm256_storeu_ps(t + 8, g[1]);
		memcpy(z + i, t, (n - i < 16 ? n - i : 16) * sizeof(float));
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
	__m256 g[4];
	for (; i + 32 <= n; i += 32) {
		normal16(s, &g[0], &g[1]);
		normal16(s, &g[2], &g[3]);
		for (int k = 0; k < 4; k++) lrt8(g[k], mu + i + 8 * k, v + i + 8 * k, out + i + 8 * k, h + i + 8 * k, ve);
	}
	for (; i < n; i += 16) {
		float a[16] = {0}, b[16] = {0}, c[16], d[16];
		const long k = n - i < 16 ? n - i : 16;
		memcpy(a, mu + i, k * sizeof(float));
		memcpy(b, v + i, k * sizeof(float));
		normal16(s, &g[0], &g[1]);
		lrt8(g[0], a, b, c, d, ve);
		lrt8(g[1], a + 8, b + 8, c + 8, d + 8, ve);
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
