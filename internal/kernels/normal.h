#include <stdint.h>
void uqnn_normal_fill(uint32_t *st, float *z, long n);
void uqnn_lrt_noise_fwd(uint32_t *st, const float *mu, const float *v, float *out, float *h, long n, float eps);
void uqnn_lrt_bwd_h(const float *h, const float *dy, float *dv, long n);
