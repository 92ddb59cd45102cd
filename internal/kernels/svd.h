void uqnn_svd_kl(float *theta, const float *ls, float *gt, float *gl, long n, float scale,
                 float thr, float clip, float k1k3, float k2, float k3);
void uqnn_svd_prune(float *theta, const float *ls, long n, float thr);
void uqnn_exp(const float *x, float *y, long n);
void uqnn_mul(const float *a, const float *b, float *y, long n);
void uqnn_square_bwd(const float *x, const float *dy, float *dx, long n);
