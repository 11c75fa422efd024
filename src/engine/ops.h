/* Reference float ops: plain C, double accumulation, written for clarity.
 * The numeric oracle for every faster engine. */
#ifndef EM_OPS_H
#define EM_OPS_H
#include <stddef.h>

/* y[n][out] = x[n][in] W^T + b;  W: [out][in], b: [out] or NULL */
void em_ref_linear(const float *x, int n, int in, const float *W, const float *b, int out, float *y);
/* per row of x[n][d]: (x - mean) / sqrt(var + eps) * w + b */
void em_ref_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y);
/* exact erf GELU */
float em_ref_gelu(float x);
/* in place softmax of x[n] */
void em_ref_softmax(float *x, int n);
/* indices of the k largest of p[n] in descending order, ties to the lower index */
void em_ref_topk(const float *p, int n, int k, int *idx);
/* multi-head self-attention on qkv[N][3D] (q | k | v) -> out[N][D];
 * scores: scratch of N floats */
void em_ref_attention(const float *qkv, int N, int n_heads, int head_dim, float *out, float *scores);
/* 3x3 conv, padding 1: in[cin][h][w] -> out[cout][h][w]; W: [cout][cin][3][3] */
void em_ref_conv3x3(const float *in, int cin, int h, int w, const float *W, const float *b, int cout, float *out);
/* 1x1 conv: in[cin][h*w] -> out[cout][h*w] */
void em_ref_conv1x1(const float *in, int cin, int hw, const float *W, const float *b, int cout, float *out);
/* eval BatchNorm then ReLU, in place on x[c][hw] */
void em_ref_bn_relu(float *x, int c, int hw, const float *w, const float *b, const float *mean,
                    const float *var, float eps);
/* PyTorch's bilinear align_corners=false rule for a factor of 2: output
 * row/column dst of an input of size in reads i0 and i1 = min(i0 + 1, in - 1)
 * with weights 1 - frac and frac.  Shared by every x2 upsampling (reference
 * head, fast head, fast kernels), so that they agree bit for bit. */
static inline void em_up2_coord(int dst, int in, int *i0, int *i1, float *frac) {
    float src = (dst + 0.5f) * 0.5f - 0.5f;
    if (src < 0) src = 0;
    int i = (int)src;
    if (i > in - 1) i = in - 1;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : in - 1;
    *frac = src - (float)i;
}
/* bilinear x2 upsample, align_corners=false: in[c][h][w] -> out[c][2h][2w] */
void em_ref_upsample2x(const float *in, int c, int h, int w, float *out);
#endif
