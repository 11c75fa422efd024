/* Portable kernels of the fast fixed-point twin: scalar C and GCC/clang
 * generic vectors, and the run-time selection (see fixed_fast_kern.h). */
#include <stdlib.h>
#include <string.h>
#include "engine/fixed_fast_kern.h"

static void dot_c(const int16_t *xh, const int16_t *xl, int ldx, const int16_t *w, int ldw, int n, int f,
                  uint32_t *out, int ldo, int r0, int r1, int o0, int o1)
{
    for (int r = r0; r < r1; r++) {
        const int16_t *h = xh + (size_t)r * ldx, *l = xl + (size_t)r * ldx;
        for (int o = o0; o < o1; o++) {
            const int16_t *wr = w + (size_t)o * ldw;
            uint32_t ah = 0, al = 0;
            for (int i = 0; i < n; i++) {
                ah += (uint32_t)((int32_t)h[i] * wr[i]);
                al += (uint32_t)(((int32_t)l[i] * wr[i]) >> f);   /* |xl w| < 2^30: exact */
            }
            out[(size_t)r * ldo + o] = (ah << (16 - f)) + al;
        }
    }
}

static void qk_c(const int32_t *q, const int32_t *kt, int ldk, int nk, int f, int sh, int32_t *s)
{
    for (int k = 0; k < nk; k++) {
        uint32_t acc = 0;
        for (int b = 0; b < 64; b += 8) {
            uint32_t blk = 0;
            for (int i = b; i < b + 8; i++)
                blk += (uint32_t)(uint64_t)(((int64_t)q[i] * kt[(size_t)i * ldk + k]) >> f);
            acc += (uint32_t)((int32_t)(blk << sh) >> (sh + 3));   /* wrap to W, * 0.125 */
        }
        s[k] = (int32_t)acc;
    }
}

static void av_c(const int32_t *v, int ldv, const int32_t *a, int nk, int f, uint32_t *out)
{
    for (int d = 0; d < 64; d++) out[d] = 0;
    for (int k = 0; k < nk; k++)
        for (int d = 0; d < 64; d++)
            out[d] += (uint32_t)(uint64_t)(((int64_t)v[(size_t)k * ldv + d] * a[k]) >> f);
}

const em_fxk *em_fxk_c(void) {
    static const em_fxk k = {"c", dot_c, qk_c, av_c};
    return &k;
}

#if defined(__GNUC__) || defined(__clang__)
/* 4 lanes of 32 bits: one 128-bit register on SSE2/NEON */
typedef int32_t vi4 __attribute__((vector_size(16)));
typedef uint32_t vu4 __attribute__((vector_size(16)));
typedef int16_t vh4 __attribute__((vector_size(8)));

static inline vi4 widen(const int16_t *p) { vh4 v; memcpy(&v, p, sizeof v); return __builtin_convertvector(v, vi4); }

static void dot_gvec(const int16_t *xh, const int16_t *xl, int ldx, const int16_t *w, int ldw, int n, int f,
                     uint32_t *out, int ldo, int r0, int r1, int o0, int o1)
{
    for (int r = r0; r < r1; r++) {
        const int16_t *h = xh + (size_t)r * ldx, *l = xl + (size_t)r * ldx;
        for (int o = o0; o < o1; o++) {
            const int16_t *wr = w + (size_t)o * ldw;
            vu4 ah = {0}, al = {0};
            for (int i = 0; i < n; i += 4) {
                vi4 ww = widen(wr + i);
                ah += (vu4)(widen(h + i) * ww);            /* |xh w| <= 2^30 */
                al += (vu4)((widen(l + i) * ww) >> f);     /* exact, floored */
            }
            const uint32_t sh = ah[0] + ah[1] + ah[2] + ah[3], sl = al[0] + al[1] + al[2] + al[3];
            out[(size_t)r * ldo + o] = (sh << (16 - f)) + sl;
        }
    }
}

/* attention in 2 lanes of 64 bits: products exact, bits 22..53 kept */
typedef int64_t vl2 __attribute__((vector_size(16)));

static void qk_gvec(const int32_t *q, const int32_t *kt, int ldk, int nk, int f, int sh, int32_t *s)
{
    for (int k = 0; k < nk; k += 2) {
        uint32_t acc0 = 0, acc1 = 0;
        for (int b = 0; b < 64; b += 8) {
            vl2 blk = {0, 0};
            for (int i = b; i < b + 8; i++) {
                const int32_t *kr = kt + (size_t)i * ldk + k;
                vl2 kv = {kr[0], kr[1]}, qv = {q[i], q[i]};
                blk += (kv * qv) >> f;             /* exact: |q k| < 2^62 */
            }
            acc0 += (uint32_t)((int32_t)((uint32_t)blk[0] << sh) >> (sh + 3));
            acc1 += (uint32_t)((int32_t)((uint32_t)blk[1] << sh) >> (sh + 3));
        }
        s[k] = (int32_t)acc0;
        if (k + 1 < nk) s[k + 1] = (int32_t)acc1;
    }
}

static void av_gvec(const int32_t *v, int ldv, const int32_t *a, int nk, int f, uint32_t *out)
{
    vl2 acc[32];
    for (int j = 0; j < 32; j++) acc[j] = (vl2){0, 0};
    for (int k = 0; k < nk; k++) {
        const int32_t *vr = v + (size_t)k * ldv;
        const vl2 av = {a[k], a[k]};
        for (int j = 0; j < 32; j++) {
            vl2 vv = {vr[2 * j], vr[2 * j + 1]};
            acc[j] += (vv * av) >> f;              /* exact: |v a| < 2^62 */
        }
    }
    for (int j = 0; j < 32; j++) { out[2 * j] = (uint32_t)acc[j][0]; out[2 * j + 1] = (uint32_t)acc[j][1]; }
}

const em_fxk *em_fxk_gvec(void) {
    static const em_fxk k = {"gvec", dot_gvec, qk_gvec, av_gvec};
    return &k;
}
#else
const em_fxk *em_fxk_gvec(void) { return 0; }
#endif

const em_fxk *em_fxk_by_name(const char *name) {
    if (!strcmp(name, "c")) return em_fxk_c();
    if (!strcmp(name, "gvec")) return em_fxk_gvec();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2") ? em_fxk_avx2() : 0;
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") ? em_fxk_avx512() : 0;
#endif
    return 0;
}

const em_fxk *em_fxk_select(void) {
#if defined(__x86_64__) || defined(__i386__)
    /* SSE2 has no 32-bit lane multiply nor sign-extending load: generic
     * vectors lose to the compiler's own vectorisation of the C loops there
     * (bench_fixed, 1 thread: 602 vs 192 ms per image), so gvec is only
     * taken when asked for (EM_FAST_ISA=gvec) */
    static const char *order[] = {"avx512", "avx2", "c", "gvec"};
#else
    static const char *order[] = {"avx512", "avx2", "gvec", "c"};
#endif
    const char *cap = getenv("EM_FAST_ISA");
    int start = 0;
    if (cap)
        for (int i = 0; i < 4; i++)
            if (!strcmp(cap, order[i])) start = i;
    for (int i = start; i < 4; i++) {
        const em_fxk *k = em_fxk_by_name(order[i]);
        if (k) return k;
    }
    return em_fxk_c();
}
