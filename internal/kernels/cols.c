// im2col and col2im for one image of a stride-1, undilated convolution in float32, compiled
// by cgo with the C compiler's vectoriser: Go does not vectorise, and these loops move short
// rows (a convolution's output width, often 8-14) where per-element Go code costs several
// cycles. Element order is the Go loops' (rows r ascending, then output rows), so every sum is
// formed in the same order and results are bit-identical to the Go versions.
#include "cols.h"

void uqnn_im2col_s1(const float *x, float *col, int C, int H, int W, int KH, int KW,
                    int padT, int padL, int OH, int OW) {
	const long P = (long)OH * OW;
	for (int r = 0; r < C * KH * KW; r++) {
		const int ch = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
		const int ih0 = kh - padT, iw0 = kw - padL;
		int ohLo = -ih0 > 0 ? -ih0 : 0, ohHi = H - ih0 < OH ? H - ih0 : OH;
		if (ohLo > OH) ohLo = OH;
		if (ohHi < ohLo) ohHi = ohLo;
		int lo = -iw0 > 0 ? -iw0 : 0, hi = W - iw0 < OW ? W - iw0 : OW;
		if (lo > OW) lo = OW;
		if (hi < lo) hi = lo;
		const float *plane = x + (long)ch * H * W;
		float *dst = col + r * P;
		for (long i = 0; i < (long)ohLo * OW; i++) dst[i] = 0;
		for (long i = (long)ohHi * OW; i < P; i++) dst[i] = 0;
		for (int oh = ohLo; oh < ohHi; oh++) {
			float *row = dst + (long)oh * OW;
			const float *src = plane + (long)(ih0 + oh) * W + iw0;
			for (int i = 0; i < lo; i++) row[i] = 0;
			for (int i = lo; i < hi; i++) row[i] = src[i];
			for (int i = hi; i < OW; i++) row[i] = 0;
		}
	}
}

void uqnn_col2im_s1(const float *col, float *dx, int C, int H, int W, int KH, int KW,
                    int padT, int padL, int OH, int OW) {
	const long P = (long)OH * OW;
	for (long i = 0; i < (long)C * H * W; i++) dx[i] = 0;
	for (int r = 0; r < C * KH * KW; r++) {
		const int ch = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
		const int ih0 = kh - padT, iw0 = kw - padL;
		int ohLo = -ih0 > 0 ? -ih0 : 0, ohHi = H - ih0 < OH ? H - ih0 : OH;
		if (ohLo > OH) ohLo = OH;
		if (ohHi < ohLo) ohHi = ohLo;
		int lo = -iw0 > 0 ? -iw0 : 0, hi = W - iw0 < OW ? W - iw0 : OW;
		if (lo > OW) lo = OW;
		if (hi < lo) hi = lo;
		float *plane = dx + (long)ch * H * W;
		const float *src = col + r * P;
		for (int oh = ohLo; oh < ohHi; oh++) {
			float *d = plane + (long)(ih0 + oh) * W + iw0;
			const float *s = src + (long)oh * OW;
			for (int i = lo; i < hi; i++) d[i] += s[i];
		}
	}
}
