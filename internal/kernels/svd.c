// Sparse variational dropout's per-element kernels (svd.go) in AVX2, 8 values at a time: the
// KL gradient and pruning step, the pruning alone, exp, and the products x·y and 2x·dy (the
// local reparameterization's kernels are in normal.c).
// Every operation is the Go loop's (svd.go, mathf.go), in its order and rounding (IEEE single
// precision, no fused multiply-add: the pragma below turns contraction off and no FMA
// intrinsic is used), so the results are bit-identical to it. A tail of fewer than 8 values
// goes through the same vector code on a zero-padded copy.
#include "svd.h"

#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx2")
#include <immintrin.h>
#include <string.h>

#include "mathf8.h"

#define AI static inline __attribute__((always_inline))
#define SET _mm256_set1_ps

// Cephes' expf constants (mathf.go has the same; the logf ones are in mathf8.h).
#define EXP_LO -87.33654f
#define EXP_HI 88.0f
#define LOG2E 1.44269504088896341f

// exp8p is mathf.go's expPoly32 on 8 lanes: e^x for x in [EXP_LO, EXP_HI].
AI __m256 exp8p(__m256 x) {
	const __m256 fx = _mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(x, SET(LOG2E)), SET(0.5f)));
	__m256 r = _mm256_sub_ps(x, _mm256_mul_ps(fx, SET(LN2_HI)));
	r = _mm256_sub_ps(r, _mm256_mul_ps(fx, SET(LN2_LO)));
	const __m256 z = _mm256_mul_ps(r, r);
	__m256 y = SET(1.9875691500E-4f);
	y = _mm256_add_ps(_mm256_mul_ps(y, r), SET(1.3981999507E-3f));
	y = _mm256_add_ps(_mm256_mul_ps(y, r), SET(8.3334519073E-3f));
	y = _mm256_add_ps(_mm256_mul_ps(y, r), SET(4.1665795894E-2f));
	y = _mm256_add_ps(_mm256_mul_ps(y, r), SET(1.6666665459E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, r), SET(5.0000001201E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, z), r);
	y = _mm256_add_ps(y, SET(1.0f));
	const __m256i n = _mm256_cvttps_epi32(fx);
	const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
	return _mm256_mul_ps(y, p2);
}

// exp8 is mathf.go's exp32 on 8 lanes.
AI __m256 exp8(__m256 x) {
	const __m256 lo = SET(EXP_LO), hi = SET(EXP_HI);
	__m256 y = exp8p(_mm256_min_ps(_mm256_max_ps(x, lo), hi));
	y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
	y = _mm256_blendv_ps(y, SET(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
	return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// loga8 is mathf.go's logAlpha32 on 8 lanes: ls − log a², for a = |θ| > 0 finite.
AI __m256 loga8(__m256 a, __m256 ls) {
	const __m256 small = _mm256_cmp_ps(a, SET(1.17549435e-38f), _CMP_LT_OQ);
	a = _mm256_blendv_ps(a, _mm256_mul_ps(a, SET(33554432.0f)), small);
	const __m256i bits = _mm256_castps_si256(a);
	__m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
	e = _mm256_sub_ps(e, _mm256_and_ps(small, SET(25.0f)));
	const __m256 r = logparts8(bits, &e);
	const __m256 t = _mm256_sub_ps(ls, _mm256_mul_ps(_mm256_add_ps(e, e), SET(LN2_HI)));
	return _mm256_sub_ps(t, _mm256_add_ps(r, r));
}

// klN is svd.go's klStep on N groups of 8 values at theta + 8k. The groups' arithmetic is
// independent and written side by side, so the processor overlaps their long dependency
// chains (log, two exps, two divisions). A group whose lanes are all outside the clip range
// or dropped gets its KL lanes blended away, which leaves its values as they were.
AI void klN(float *theta, const float *ls, float *gt, float *gl, __m256 scale, __m256 thr,
            __m256 clip, __m256 k1k3, __m256 k2, __m256 k3, const int N) {
	const __m256 zero = _mm256_setzero_ps(), one = SET(1.0f);
	const __m256 sign = SET(-0.0f);
	__m256 th[N], isz[N], la[N], prune[N], kl[N], g[N];
	int nz = 0, any = 0;
	for (int k = 0; k < N; k++) {
		th[k] = _mm256_loadu_ps(theta + 8 * k);
		isz[k] = _mm256_cmp_ps(th[k], zero, _CMP_EQ_OQ);
		nz |= _mm256_movemask_ps(isz[k]) != 0xff;
	}
	if (!nz) {
		for (int k = 0; k < N; k++) _mm256_storeu_ps(gt + 8 * k, zero);
		return;
	}
	for (int k = 0; k < N; k++) {
		la[k] = loga8(_mm256_andnot_ps(sign, th[k]), _mm256_loadu_ps(ls + 8 * k));
		prune[k] = _mm256_andnot_ps(isz[k], _mm256_cmp_ps(la[k], thr, _CMP_GT_OQ));
		const __m256 drop = _mm256_or_ps(isz[k], prune[k]);
		const __m256 in = _mm256_and_ps(_mm256_cmp_ps(la[k], _mm256_xor_ps(clip, sign), _CMP_GT_OQ),
		                                _mm256_cmp_ps(la[k], clip, _CMP_LT_OQ));
		kl[k] = _mm256_andnot_ps(drop, in);
		g[k] = _mm256_andnot_ps(drop, _mm256_loadu_ps(gt + 8 * k));
		any |= _mm256_movemask_ps(kl[k]);
	}
	if (any) {
		for (int k = 0; k < N; k++) {
			// Only the lanes inside the clip range are kept: their arguments are within ±14.
			const __m256 e1 = exp8p(_mm256_xor_ps(_mm256_add_ps(k2, _mm256_mul_ps(k3, la[k])), sign));
			const __m256 e2 = exp8p(la[k]);
			const __m256 p1 = _mm256_add_ps(one, e1), p2 = _mm256_add_ps(one, e2);
			const __m256 pp = _mm256_mul_ps(p1, p1);
			const __m256 num = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(k1k3, e1), p2), _mm256_mul_ps(SET(0.5f), pp));
			const __m256 q = _mm256_mul_ps(scale, _mm256_div_ps(num, _mm256_mul_ps(pp, p2)));
			const __m256 l = _mm256_loadu_ps(gl + 8 * k);
			_mm256_storeu_ps(gl + 8 * k, _mm256_blendv_ps(l, _mm256_sub_ps(l, q), kl[k]));
			g[k] = _mm256_blendv_ps(g[k], _mm256_add_ps(g[k], _mm256_div_ps(_mm256_add_ps(q, q), th[k])), kl[k]);
		}
	}
	for (int k = 0; k < N; k++) {
		_mm256_storeu_ps(gt + 8 * k, g[k]);
		_mm256_storeu_ps(theta + 8 * k, _mm256_andnot_ps(prune[k], th[k]));
	}
}

// Groups per step of the KL loop.
#define KLG 2

void uqnn_svd_kl(float *theta, const float *ls, float *gt, float *gl, long n, float scale,
                 float thr, float clip, float k1k3, float k2, float k3) {
	const __m256 vs = SET(scale), vt = SET(thr), vc = SET(clip), va = SET(k1k3), vb = SET(k2), vk = SET(k3);
	long i = 0;
	for (; i + 8 * KLG <= n; i += 8 * KLG) klN(theta + i, ls + i, gt + i, gl + i, vs, vt, vc, va, vb, vk, KLG);
	for (; i + 8 <= n; i += 8) klN(theta + i, ls + i, gt + i, gl + i, vs, vt, vc, va, vb, vk, 1);
	if (i == n) return;
	float t[8] = {0}, l[8] = {0}, a[8] = {0}, b[8] = {0};
	const long k = n - i;
	memcpy(t, theta + i, k * sizeof(float));
	memcpy(l, ls + i, k * sizeof(float));
	memcpy(a, gt + i, k * sizeof(float));
	memcpy(b, gl + i, k * sizeof(float));
	klN(t, l, a, b, vs, vt, vc, va, vb, vk, 1);
	memcpy(theta + i, t, k * sizeof(float));
	memcpy(gt + i, a, k * sizeof(float));
	memcpy(gl + i, b, k * sizeof(float));
}

// prune8 is svd.go's SVDPrune on 8 values.
AI void prune8(float *theta, const float *ls, __m256 thr) {
	const __m256 th = _mm256_loadu_ps(theta);
	const __m256 isz = _mm256_cmp_ps(th, _mm256_setzero_ps(), _CMP_EQ_OQ);
	if (_mm256_movemask_ps(isz) == 0xff) return;
	const __m256 la = loga8(_mm256_andnot_ps(SET(-0.0f), th), _mm256_loadu_ps(ls));
	const __m256 prune = _mm256_andnot_ps(isz, _mm256_cmp_ps(la, thr, _CMP_GT_OQ));
	_mm256_storeu_ps(theta, _mm256_andnot_ps(prune, th));
}

void uqnn_svd_prune(float *theta, const float *ls, long n, float thr) {
	const __m256 vt = SET(thr);
	long i = 0;
	for (; i + 8 <= n; i += 8) prune8(theta + i, ls + i, vt);
	if (i == n) return;
	float t[8] = {0}, l[8] = {0};
	const long k = n - i;
	memcpy(t, theta + i, k * sizeof(float));
	memcpy(l, ls + i, k * sizeof(float));
	prune8(t, l, vt);
	memcpy(theta + i, t, k * sizeof(float));
}

void uqnn_exp(const float *x, float *y, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
	if (i == n) return;
	float t[8] = {0};
	memcpy(t, x + i, (n - i) * sizeof(float));
	_mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
	memcpy(y + i, t, (n - i) * sizeof(float));
}

// y = a·b (b = a: the square), and dx = (x + x)·dy: the variational graph's σ² gradient, x² and
// its gradient.
void uqnn_mul(const float *a, const float *b, float *y, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
	for (; i < n; i++) y[i] = a[i] * b[i];
}

void uqnn_square_bwd(const float *x, const float *dy, float *dx, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 v = _mm256_loadu_ps(x + i);
		_mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_add_ps(v, v), _mm256_loadu_ps(dy + i)));
	}
	for (; i < n; i++) dx[i] = (x[i] + x[i]) * dy[i];
}
