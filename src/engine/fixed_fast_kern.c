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

const em_fxk *em_fxk_c(void) {
    static const em_fxk k = {"c", dot_c};
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

const em_fxk *em_fxk_gvec(void) {
    static const em_fxk k = {"gvec", dot_gvec};
    return &k;
}
#else
const em_fxk *em_fxk_gvec(void) { return 0; }
#endif

const em_fxk *em_fxk_by_name(const char *name) {
    if (!strcmp(name, "c")) return em_fxk_c();
    if (!strcmp(name, "gvec")) return em_fxk_gvec();
    if (!strcmp(name, "avx2") || !strcmp(name, "avx512")) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2")) return 0;
#endif
        return em_fxk_avx2();
    }
    return 0;
}

const em_fxk *em_fxk_select(void) {
    static const char *order[] = {"avx512", "avx2", "gvec", "c"};
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
