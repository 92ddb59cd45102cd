// The Langevin samplers' per-weight updates (bayes: pSGLD and BAOAB) in AVX2, 8 weights at a
// time. Every operation is the scalar Go loop's, in its order and rounding (IEEE single
// precision, no fused multiply-add: the pragma below turns contraction off and no FMA
// intrinsic is used), so the results are bit-identical to it; only BAOAB's two float64
// diagnostics sums are formed in a different order (four lanes, then added).
#include "langevin.h"

#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx2")
#include <immintrin.h>

void uqnn_psgld(float *val, const float *grad, float *v, const float *z, long n, float a, float b,
                float lam, float h, float noise, int first, int explore) {
	const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vl = _mm256_set1_ps(lam);
	const __m256 vh = _mm256_set1_ps(h), vnh = _mm256_set1_ps(-h), vn = _mm256_set1_ps(noise);
	const __m256 one = _mm256_set1_ps(1.0f);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 g = _mm256_loadu_ps(grad + i);
		__m256 vi = _mm256_mul_ps(g, g);
		if (!first) vi = _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(v + i)), _mm256_mul_ps(vb, vi));
		_mm256_storeu_ps(v + i, vi);
		const __m256 G = _mm256_div_ps(one, _mm256_add_ps(vl, _mm256_sqrt_ps(vi)));
		const __m256 x = _mm256_loadu_ps(val + i);
		if (explore) {
			_mm256_storeu_ps(val + i, _mm256_sub_ps(x, _mm256_mul_ps(_mm256_mul_ps(vh, G), g)));
			continue;
		}
		const __m256 drift = _mm256_mul_ps(_mm256_mul_ps(vnh, G), g);
		const __m256 kick = _mm256_mul_ps(_mm256_sqrt_ps(_mm256_mul_ps(vn, G)), _mm256_loadu_ps(z + i));
		_mm256_storeu_ps(val + i, _mm256_add_ps(x, _mm256_add_ps(drift, kick)));
	}
	for (; i < n; i++) {
		const float g = grad[i];
		float vi = g * g;
		if (!first) vi = a * v[i] + b * vi;
		v[i] = vi;
		const float G = 1.0f / (lam + __builtin_sqrtf(vi));
		if (explore) {
			val[i] -= h * G * g;
			continue;
		}
		val[i] += -h * G * g + __builtin_sqrtf(noise * G) * z[i];
	}
}

// uqnn_baoab is one BAOAB step after the first (the momentum exists): with F = −nn·g,
//   tg −= θ·F; p += hp·F (the previous step's closing B); pp += p²;
//   p += h·F (B); θ += h·p (A); p = c·p + sd·z (O; z is not read when sd is 0); θ += h·p (A).
// h and hp are the half steps. pp and tg are added to.
void uqnn_baoab(float *val, const float *grad, float *p, const float *z, long n, float nn,
                float hp, float h, float c, float sd, double *pp, double *tg) {
	const __m256 vnn = _mm256_set1_ps(-nn), vhp = _mm256_set1_ps(hp), vh = _mm256_set1_ps(h);
	const __m256 vc = _mm256_set1_ps(c), vsd = _mm256_set1_ps(sd);
	__m256d spp = _mm256_setzero_pd(), stg = _mm256_setzero_pd();
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 f = _mm256_mul_ps(vnn, _mm256_loadu_ps(grad + i));
		__m256 th = _mm256_loadu_ps(val + i);
		const __m256 tf = _mm256_mul_ps(th, f);
		stg = _mm256_add_pd(stg, _mm256_cvtps_pd(_mm256_castps256_ps128(tf)));
		stg = _mm256_add_pd(stg, _mm256_cvtps_pd(_mm256_extractf128_ps(tf, 1)));
		__m256 pi = _mm256_add_ps(_mm256_loadu_ps(p + i), _mm256_mul_ps(vhp, f));
		const __m256 p2 = _mm256_mul_ps(pi, pi);
		spp = _mm256_add_pd(spp, _mm256_cvtps_pd(_mm256_castps256_ps128(p2)));
		spp = _mm256_add_pd(spp, _mm256_cvtps_pd(_mm256_extractf128_ps(p2, 1)));
		pi = _mm256_add_ps(pi, _mm256_mul_ps(vh, f));
		th = _mm256_add_ps(th, _mm256_mul_ps(vh, pi));
		pi = _mm256_mul_ps(vc, pi);
		if (sd != 0) pi = _mm256_add_ps(pi, _mm256_mul_ps(vsd, _mm256_loadu_ps(z + i)));
		th = _mm256_add_ps(th, _mm256_mul_ps(vh, pi));
		_mm256_storeu_ps(p + i, pi);
		_mm256_storeu_ps(val + i, th);
	}
	double lpp[4], ltg[4];
	_mm256_storeu_pd(lpp, spp);
	_mm256_storeu_pd(ltg, stg);
	double spps = (lpp[0] + lpp[1]) + (lpp[2] + lpp[3]), stgs = (ltg[0] + ltg[1]) + (ltg[2] + ltg[3]);
	for (; i < n; i++) {
		const float f = -nn * grad[i];
		float th = val[i];
		stgs += (double)(th * f);
		float pi = p[i] + hp * f;
		spps += (double)(pi * pi);
		pi += h * f;
		th += h * pi;
		pi = c * pi;
		if (sd != 0) pi += sd * z[i];
		th += h * pi;
		p[i] = pi;
		val[i] = th;
	}
	*pp += spps;
	*tg -= stgs;
}
