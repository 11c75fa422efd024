/* Separable resize with a triangle (bilinear) filter, antialiased.
 *
 * Output pixel i along an axis of scale s = in/out has its centre at
 * (i + 0.5) * s in input coordinates.  The triangle filter has radius 1 for
 * upscaling; when downscaling it is stretched by s (radius s, weights
 * tri(d / s)), so every input pixel contributes and the result is an area
 * average rather than an aliased sample.  Input pixel x sits at x + 0.5.
 * Weights of each output pixel are normalised to sum to 1 (this also handles
 * the borders, where taps outside the image are dropped).
 *
 * Horizontal pass first into a float intermediate, then vertical; the final
 * value is rounded to nearest and clamped to 0..255. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "image/image.h"

#define EM_RESIZE_MAX_SIDE 16384

typedef struct {
    int *lo;      /* [out] first input tap */
    int *n;       /* [out] number of taps */
    float *w;     /* [out][kmax] normalised weights */
    int kmax;
} taps;

static void taps_free(taps *t) {
    free(t->lo);
    free(t->n);
    free(t->w);
}

static double tri(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int taps_make(int in, int out, taps *t) {
    double scale = (double)in / out;
    double fs = scale > 1.0 ? scale : 1.0; /* filter stretch */
    double support = fs;                   /* triangle radius 1, stretched */
    t->kmax = (int)ceil(support) * 2 + 1;
    t->lo = malloc((size_t)out * sizeof *t->lo);
    t->n = malloc((size_t)out * sizeof *t->n);
    t->w = malloc((size_t)out * t->kmax * sizeof *t->w);
    if (!t->lo || !t->n || !t->w) return -1;
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5);
        int hi = (int)floor(center + support + 0.5); /* exclusive */
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        if (hi - lo > t->kmax) hi = lo + t->kmax; /* cannot happen; keeps writes in bounds */
        float *dst = t->w + (size_t)i * t->kmax;
        double sum = 0;
        for (int x = lo; x < hi; x++) sum += tri((x + 0.5 - center) / fs);
        if (sum <= 0) { /* cannot happen (the nearest pixel has weight > 0); be safe */
            int x = (int)center;
            lo = x < in ? x : in - 1;
            hi = lo + 1;
            dst[0] = 1.0f;
        } else {
            for (int x = lo; x < hi; x++) dst[x - lo] = (float)(tri((x + 0.5 - center) / fs) / sum);
        }
        t->lo[i] = lo;
        t->n[i] = hi - lo;
    }
    return 0;
}

static uint8_t to_u8(float v) {
    float r = floorf(v + 0.5f);
    if (!(r >= 0.0f)) return 0; /* also NaN */
    if (r > 255.0f) return 255;
    return (uint8_t)r;
}

int em_rgb8_resize(const em_rgb8 *src, int w, int h, em_rgb8 *dst, em_err *err) {
    if (!src || !dst || !src->rgb) return em_error(err, EM_EARG, "resize: NULL image");
    if (src->w <= 0 || src->h <= 0 || src->w > EM_RESIZE_MAX_SIDE || src->h > EM_RESIZE_MAX_SIDE)
        return em_error(err, EM_EARG, "resize: bad source size %dx%d", src->w, src->h);
    if (w <= 0 || h <= 0 || w > EM_RESIZE_MAX_SIDE || h > EM_RESIZE_MAX_SIDE)
        return em_error(err, EM_EARG, "resize: bad target size %dx%d", w, h);
    const int sw = src->w, sh = src->h;
    uint8_t *out = malloc((size_t)w * h * 3);
    if (!out) return em_error(err, EM_ENOMEM, "resize: out of memory for %dx%d", w, h);
    if (w == sw && h == sh) {
        memcpy(out, src->rgb, (size_t)w * h * 3);
        dst->w = w; dst->h = h; dst->rgb = out;
        return EM_OK;
    }

    taps tx = {0}, ty = {0};
    float *tmp = malloc((size_t)sh * w * 3 * sizeof *tmp);
    if (!tmp || taps_make(sw, w, &tx) != 0 || taps_make(sh, h, &ty) != 0) {
        free(tmp); free(out); taps_free(&tx); taps_free(&ty);
        return em_error(err, EM_ENOMEM, "resize: out of memory for %dx%d -> %dx%d", sw, sh, w, h);
    }
    /* Horizontal: tmp[y][x][c] for every source row. */
    for (int y = 0; y < sh; y++) {
        const uint8_t *srow = src->rgb + (size_t)y * sw * 3;
        float *trow = tmp + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const float *wt = tx.w + (size_t)x * tx.kmax;
            const uint8_t *s = srow + (size_t)tx.lo[x] * 3;
            float r = 0, g = 0, b = 0;
            for (int k = 0; k < tx.n[x]; k++, s += 3) {
                r += wt[k] * s[0];
                g += wt[k] * s[1];
                b += wt[k] * s[2];
            }
            trow[3 * x + 0] = r;
            trow[3 * x + 1] = g;
            trow[3 * x + 2] = b;
        }
    }
    /* Vertical: out[y][x][c]. */
    const size_t stride = (size_t)w * 3;
    for (int y = 0; y < h; y++) {
        const float *wt = ty.w + (size_t)y * ty.kmax;
        const float *base = tmp + (size_t)ty.lo[y] * stride;
        uint8_t *orow = out + (size_t)y * stride;
        for (size_t j = 0; j < stride; j++) {
            float acc = 0;
            const float *s = base + j;
            for (int k = 0; k < ty.n[y]; k++, s += stride) acc += wt[k] * *s;
            orow[j] = to_u8(acc);
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    dst->w = w; dst->h = h; dst->rgb = out;
    return EM_OK;
}
