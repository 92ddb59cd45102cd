int uqnn_direct_ok(void);
void uqnn_direct_fwd(const float *pad, const int *offs, int K, const float *w, int M,
                     float *out, long nv, long ldo);
void uqnn_direct_filter(const float *pad, const int *offs, int K, const float *dy, long ldd,
                        int M, long nv, float *acc);
void uqnn_direct_pad(const float *x, float *pad, int C, int H, int W, int padT, int padL, int hp,
                     int wp);
void uqnn_direct_unspread(const float *out, long ldo, int M, int OH, int OW, int wp,
                          const float *bias, float *y);
void uqnn_direct_spread(const float *dy, int M, int OH, int OW, int wp, float *ext, long ldo);
