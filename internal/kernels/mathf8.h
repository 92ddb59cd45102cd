// Cephes' logf core on 8 AVX2 lanes, shared by svd.c and normal.c (mathf.go's logParts32):
// every operation in logParts32's order and rounding; the including file turns contraction off.
#ifndef UQNN_MATHF8_H
#define UQNN_MATHF8_H
#include <immintrin.h>

#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define SQRTHF 0.707106781186547524f

// logparts8 is logParts32 on 8 lanes: for the bits of positive normal floats x = m·2^e, with e
// given in *e, it sets *e to e′ and returns r with log x = e′·LN2_HI + r.
static inline __attribute__((always_inline)) __m256 logparts8(__m256i bits, __m256 *e) {
	const __m256 one = _mm256_set1_ps(1.0f);
	__m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
	                                               _mm256_set1_epi32(0x3f000000)));
	const __m256 below = _mm256_cmp_ps(m, _mm256_set1_ps(SQRTHF), _CMP_LT_OQ);
	const __m256 tmp = _mm256_and_ps(below, m);
	m = _mm256_sub_ps(m, one);
	*e = _mm256_sub_ps(*e, _mm256_and_ps(below, one));
	m = _mm256_add_ps(m, tmp);
	const __m256 z = _mm256_mul_ps(m, m);
	__m256 y = _mm256_set1_ps(7.0376836292E-2f);
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(-1.1514610310E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(1.1676998740E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(-1.2420140846E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(1.4249322787E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(-1.6668057665E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(2.0000714765E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(-2.4999993993E-1f));
	y = _mm256_add_ps(_mm256_mul_ps(y, m), _mm256_set1_ps(3.3333331174E-1f));
	y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
	y = _mm256_add_ps(y, _mm256_mul_ps(*e, _mm256_set1_ps(LN2_LO)));
	y = _mm256_sub_ps(y, _mm256_mul_ps(z, _mm256_set1_ps(0.5f)));
	return _mm256_add_ps(m, y);
}

#endif
