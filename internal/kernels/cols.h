void uqnn_im2col_s1(const float *x, float *col, int C, int H, int W, int KH, int KW,
                    int padT, int padL, int OH, int OW);
void uqnn_col2im_s1(const float *col, float *dx, int C, int H, int W, int KH, int KW,
                    int padT, int padL, int OH, int OW);
