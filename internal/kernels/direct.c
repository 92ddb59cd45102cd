// Direct convolution on the extended-width layout (see convext.go) for float32, in AVX2 and
// FMA. With the image padded into [C, Hp, Wp] planes, extended output column j reads the
// padded planes at j + offs[t] for tap t = (c, kh, kw), offs[t] = c·Hp·Wp + kh·Wp + kw, so
// both the forward pass and the weight gradient are sums over taps of contiguous 8-wide loads:
// no patch matrix is built, and the products stay in registers (4 output channels × 3 vectors
// of 8 columns per block; 7 loads feed 12 FMAs). Sums run over the taps (forward) and the
// columns (weight gradient) in a fixed order, so results do not depend on timing.
#include "direct.h"

int uqnn_direct_ok(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#pragma GCC target("avx2,fma")
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))

// fwd_tile: out[a·ldo + j0 + 8v + i] = Σ_t w[a·K + t] · pad[offs[t] + j0 + 8v + i] for a < MB,
// v < NV.
AI void fwd_tile(const float *pad, const int *offs, int K, const float *w, float *out, long ldo,
                 long j0, const int MB, const int NV) {
	__m256 acc[4][3];
	for (int a = 0; a < MB; a++)
		for (int v = 0; v < NV; v++) acc[a][v] = _mm256_setzero_ps();
	const float *p = pad + j0;
	for (int t = 0; t < K; t++) {
		const float *xp = p + offs[t];
		__m256 xv[3];
		for (int v = 0; v < NV; v++) xv[v] = _mm256_loadu_ps(xp + 8 * v);
		for (int a = 0; a < MB; a++) {
			const __m256 wv = _mm256_broadcast_ss(w + (long)a * K + t);
			for (int v = 0; v < NV; v++) acc[a][v] = _mm256_fmadd_ps(wv, xv[v], acc[a][v]);
		}
	}
	for (int a = 0; a < MB; a++)
		for (int v = 0; v < NV; v++) _mm256_storeu_ps(out + a * ldo + j0 + 8 * v, acc[a][v]);
}

AI void fwd_rows(const float *pad, const int *offs, int K, const float *w, float *out, long ldo,
                 long nv, const int MB) {
	long v = 0;
	for (; v + 3 <= nv; v += 3) fwd_tile(pad, offs, K, w, out, ldo, 8 * v, MB, 3);
	if (nv - v == 2) fwd_tile(pad, offs, K, w, out, ldo, 8 * v, MB, 2);
	if (nv - v == 1) fwd_tile(pad, offs, K, w, out, ldo, 8 * v, MB, 1);
}

// uqnn_direct_pad copies image x ([C, H, W]) into the interior of pad's [C, Hp, Wp] planes,
// whose borders are zero already.
void uqnn_direct_pad(const float *x, float *pad, int C, int H, int W, int padT, int padL, int hp,
                     int wp) {
	for (int c = 0; c < C; c++)
		for (int h = 0; h < H; h++) {
			const float *src = x + ((long)c * H + h) * W;
			float *dst = pad + ((long)c * hp + h + padT) * wp + padL;
			for (int i = 0; i < W; i++) dst[i] = src[i];
		}
}

// uqnn_direct_unspread writes y[m, oh, ow] = out[m·ldo + oh·wp + ow] + bias[m] (bias may be
// NULL).
void uqnn_direct_unspread(const float *out, long ldo, int M, int OH, int OW, int wp,
                          const float *bias, float *y) {
	for (int m = 0; m < M; m++) {
		const float b = bias ? bias[m] : 0.0f;
		for (int oh = 0; oh < OH; oh++) {
			const float *src = out + m * ldo + (long)oh * wp;
			float *dst = y + ((long)m * OH + oh) * OW;
			for (int i = 0; i < OW; i++) dst[i] = src[i] + b;
		}
	}
}

// uqnn_direct_spread writes dy ([M, OH, OW]) into ext's valid columns ext[m·ldo + oh·wp + ow];
// the others stay as they are (zero).
void uqnn_direct_spread(const float *dy, int M, int OH, int OW, int wp, float *ext, long ldo) {
	for (int m = 0; m < M; m++)
		for (int oh = 0; oh < OH; oh++) {
			const float *src = dy + ((long)m * OH + oh) * OW;
			float *dst = ext + m * ldo + (long)oh * wp;
			for (int i = 0; i < OW; i++) dst[i] = src[i];
		}
}

// uqnn_direct_fwd writes out[m·ldo + j] = Σ_t w[m·K + t] · pad[offs[t] + j] for m < M and
// j < 8·nv. pad must be readable up to max(offs) + 8·nv.
void uqnn_direct_fwd(const float *pad, const int *offs, int K, const float *w, int M,
                     float *out, long nv, long ldo) {
	int m = 0;
	for (; m + 4 <= M; m += 4) fwd_rows(pad, offs, K, w + (long)m * K, out + m * ldo, ldo, nv, 4);
	switch (M - m) {
	case 3: fwd_rows(pad, offs, K, w + (long)m * K, out + m * ldo, ldo, nv, 3); break;
	case 2: fwd_rows(pad, offs, K, w + (long)m * K, out + m * ldo, ldo, nv, 2); break;
	case 1: fwd_rows(pad, offs, K, w + (long)m * K, out + m * ldo, ldo, nv, 1); break;
	}
}

// filter_tile adds to acc[((a·K) + t0 + b)·8 + i] the lane-wise sums over the nv vectors of
// dy[a·ldd + j] · pad[offs[t0 + b] + j] for a < MB, b < TB.
AI void filter_tile(const float *pad, const int *offs, int K, const float *dy, long ldd, long nv,
                    float *acc, int t0, const int MB, const int TB) {
	__m256 s[4][3];
	for (int a = 0; a < MB; a++)
		for (int b = 0; b < TB; b++) s[a][b] = _mm256_setzero_ps();
	const float *xp[3];
	for (int b = 0; b < TB; b++) xp[b] = pad + offs[t0 + b];
	for (long j = 0; j < 8 * nv; j += 8) {
		__m256 xv[3];
		for (int b = 0; b < TB; b++) xv[b] = _mm256_loadu_ps(xp[b] + j);
		for (int a = 0; a < MB; a++) {
			const __m256 d = _mm256_loadu_ps(dy + a * ldd + j);
			for (int b = 0; b < TB; b++) s[a][b] = _mm256_fmadd_ps(d, xv[b], s[a][b]);
		}
	}
	for (int a = 0; a < MB; a++)
		for (int b = 0; b < TB; b++) {
			float *q = acc + ((long)a * K + t0 + b) * 8;
			_mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), s[a][b]));
		}
}

AI void filter_rows(const float *pad, const int *offs, int K, const float *dy, long ldd, long nv,
                    float *acc, const int MB) {
	int t = 0;
	for (; t + 3 <= K; t += 3) filter_tile(pad, offs, K, dy, ldd, nv, acc, t, MB, 3);
	if (K - t == 2) filter_tile(pad, offs, K, dy, ldd, nv, acc, t, MB, 2);
	if (K - t == 1) filter_tile(pad, offs, K, dy, ldd, nv, acc, t, MB, 1);
}

// uqnn_direct_filter adds to acc[(m·K + t)·8 + i] the lane-wise partial sums over j < 8·nv of
// dy[m·ldd + j] · pad[offs[t] + j]; the weight gradient is acc's 8 lanes summed.
void uqnn_direct_filter(const float *pad, const int *offs, int K, const float *dy, long ldd,
                        int M, long nv, float *acc) {
	int m = 0;
	for (; m + 4 <= M; m += 4) filter_rows(pad, offs, K, dy + m * ldd, ldd, nv, acc + (long)m * K * 8, 4);
	switch (M - m) {
	case 3: filter_rows(pad, offs, K, dy + m * ldd, ldd, nv, acc + (long)m * K * 8, 3); break;
	case 2: filter_rows(pad, offs, K, dy + m * ldd, ldd, nv, acc + (long)m * K * 8, 2); break;
	case 1: filter_rows(pad, offs, K, dy + m * ldd, ldd, nv, acc + (long)m * K * 8, 1); break;
	}
}
