/* Reference float ops (see ops.h). */
#include <math.h>
#include <string.h>
#include "engine/ops.h"

void em_ref_linear(const float *x, int n, int in, const float *W, const float *b, int out, float *y) {
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            const float *xr = x + (size_t)t * in, *wr = W + (size_t)o * in;
            for (int i = 0; i < in; i++) acc += (double)xr[i] * wr[i];
            y[(size_t)t * out + o] = (float)acc;
        }
}

void em_ref_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        double mean = 0, var = 0;
        for (int i = 0; i < d; i++) mean += xr[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= d;
        double r = 1.0 / sqrt(var + eps);
        for (int i = 0; i < d; i++) y[(size_t)t * d + i] = (float)((xr[i] - mean) * r * w[i] + b[i]);
    }
}

float em_ref_gelu(float x) { return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440))); }

void em_ref_softmax(float *x, int n) {
    double m = x[0], s = 0;
    for (int i = 1; i < n; i++) if (x[i] > m) m = x[i];
    for (int i = 0; i < n; i++) s += exp(x[i] - m);
    for (int i = 0; i < n; i++) x[i] = (float)(exp(x[i] - m) / s);
}

void em_ref_topk(const float *p, int n, int k, int *idx) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int u = 0; u < j; u++) taken |= idx[u] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;  /* strict: ties keep the lower index */
        }
        idx[j] = best;
    }
}

void em_ref_attention(const float *qkv, int N, int n_heads, int head_dim, float *out, float *scores) {
    int D = n_heads * head_dim;
    double scale = 1.0 / sqrt((double)head_dim);
    for (int h = 0; h < n_heads; h++)
        for (int q = 0; q < N; q++) {
            const float *qv = qkv + (size_t)q * 3 * D + h * head_dim;
            for (int k = 0; k < N; k++) {
                const float *kv = qkv + (size_t)k * 3 * D + D + h * head_dim;
                double s = 0;
                for (int d = 0; d < head_dim; d++) s += (double)qv[d] * kv[d];
                scores[k] = (float)(s * scale);
            }
            em_ref_softmax(scores, N);
            for (int d = 0; d < head_dim; d++) {
                double acc = 0;
                for (int k = 0; k < N; k++) acc += (double)scores[k] * qkv[(size_t)k * 3 * D + 2 * D + h * head_dim + d];
                out[(size_t)q * D + h * head_dim + d] = (float)acc;
            }
        }
}

/* Direct convolution as row-wise multiply-adds: the inner loop has no
 * reduction, so it vectorises without reassociating sums. */
void em_ref_conv3x3(const float *in, int cin, int h, int w, const float *W, const float *b, int cout, float *out) {
    for (int co = 0; co < cout; co++) {
        float *o = out + (size_t)co * h * w;
        for (int i = 0; i < h * w; i++) o[i] = b ? b[co] : 0.0f;
        for (int ci = 0; ci < cin; ci++) {
            const float *src = in + (size_t)ci * h * w;
            const float *k = W + ((size_t)co * cin + ci) * 9;
            for (int y = 0; y < h; y++)
                for (int ky = 0; ky < 3; ky++) {
                    int sy = y + ky - 1;
                    if (sy < 0 || sy >= h) continue;
                    const float *srow = src + (size_t)sy * w;
                    float *orow = o + (size_t)y * w;
                    float k0 = k[ky * 3], k1 = k[ky * 3 + 1], k2 = k[ky * 3 + 2];
                    orow[0] += k1 * srow[0] + (w > 1 ? k2 * srow[1] : 0.0f);
                    for (int x = 1; x < w - 1; x++) orow[x] += k0 * srow[x - 1] + k1 * srow[x] + k2 * srow[x + 1];
                    if (w > 1) orow[w - 1] += k0 * srow[w - 2] + k1 * srow[w - 1];
                }
        }
    }
}

void em_ref_conv1x1(const float *in, int cin, int hw, const float *W, const float *b, int cout, float *out) {
    for (int co = 0; co < cout; co++) {
        float *o = out + (size_t)co * hw;
        for (int i = 0; i < hw; i++) o[i] = b ? b[co] : 0.0f;
        for (int ci = 0; ci < cin; ci++) {
            float k = W[(size_t)co * cin + ci];
            const float *src = in + (size_t)ci * hw;
            for (int i = 0; i < hw; i++) o[i] += k * src[i];
        }
    }
}

void em_ref_bn_relu(float *x, int c, int hw, const float *w, const float *b, const float *mean,
                    const float *var, float eps) {
    for (int ch = 0; ch < c; ch++) {
        double s = w[ch] / sqrt((double)var[ch] + eps);
        for (int i = 0; i < hw; i++) {
            double v = (x[(size_t)ch * hw + i] - mean[ch]) * s + b[ch];
            x[(size_t)ch * hw + i] = v > 0 ? (float)v : 0.0f;
        }
    }
}

void em_ref_upsample2x(const float *in, int c, int h, int w, float *out) {
    int H = 2 * h, W = 2 * w;
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + (size_t)ch * h * w;
        float *dst = out + (size_t)ch * H * W;
        for (int y = 0; y < H; y++) {
            int y0, y1; float fy;
            em_up2_coord(y, h, &y0, &y1, &fy);
            for (int x = 0; x < W; x++) {
                int x0, x1; float fx;
                em_up2_coord(x, w, &x0, &x1, &fx);
                float top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
                float bot = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
                dst[y * W + x] = top * (1 - fy) + bot * fy;
            }
        }
    }
}
