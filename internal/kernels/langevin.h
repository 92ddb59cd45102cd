void uqnn_psgld(float *val, const float *grad, float *v, const float *z, long n, float a, float b,
                float lam, float h, float noise, int first, int explore);
void uqnn_baoab(float *val, const float *grad, float *p, const float *z, long n, float nn,
                float hp, float h, float c, float sd, double *pp, double *tg);
