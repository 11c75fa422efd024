/* AVX2 kernel of the fast fixed-point twin (compiled with -mavx2, see
 * mk/fixed_fast.mk; only called after CPU detection).  Per 16 inputs of one
 * (row, output) pair: P = xl w as vpmulhw (hi) and vpmullw (lo); xh w + hi
 * summed in 32-bit lanes by two vpmaddwd; lo >> f summed in 16-bit lanes,
 * widened before they could overflow (see fixed_fast_kern.h for the
 * identity).  Register tile: 2 rows x 2 outputs. */
#include "engine/fixed_fast_kern.h"
#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

static inline uint32_t hsum32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

static inline __attribute__((always_inline)) void tile(const int16_t *xh, const int16_t *xl, int ldx,
                                                       const int16_t *w, int ldw, int n, int f, uint32_t *out,
                                                       int ldo, int r, int o, const int R, const int O)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i fs = _mm_cvtsi32_si128(f);
    const int lim = (1 << (16 - f)) - 1;           /* largest lo >> f */
    const int kmax = lim ? 32767 / lim : n;        /* 16-bit steps before widening */
    __m256i acc[2][2], lacc[2][2], lsum[2][2];
    for (int a = 0; a < R; a++)
        for (int b = 0; b < O; b++) {
            acc[a][b] = _mm256_setzero_si256(); lacc[a][b] = _mm256_setzero_si256(); lsum[a][b] = _mm256_setzero_si256();
        }
    int k = 0;
    for (int i = 0; i < n; i += 16) {
        __m256i h[2], l[2];
        for (int a = 0; a < R; a++) {
            h[a] = _mm256_loadu_si256((const __m256i *)(xh + (size_t)(r + a) * ldx + i));
            l[a] = _mm256_loadu_si256((const __m256i *)(xl + (size_t)(r + a) * ldx + i));
        }
        for (int b = 0; b < O; b++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(w + (size_t)(o + b) * ldw + i));
            for (int a = 0; a < R; a++) {
                const __m256i hi = _mm256_mulhi_epi16(l[a], wv), lo = _mm256_mullo_epi16(l[a], wv);
                acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_add_epi32(_mm256_madd_epi16(h[a], wv),
                                                                          _mm256_madd_epi16(hi, ones)));
                lacc[a][b] = _mm256_add_epi16(lacc[a][b], _mm256_srl_epi16(lo, fs));
            }
        }
        if (++k == kmax) {
            for (int a = 0; a < R; a++)
                for (int b = 0; b < O; b++) {
                    lsum[a][b] = _mm256_add_epi32(lsum[a][b], _mm256_madd_epi16(lacc[a][b], ones));
                    lacc[a][b] = _mm256_setzero_si256();
                }
            k = 0;
        }
    }
    const __m128i us = _mm_cvtsi32_si128(16 - f);
    for (int a = 0; a < R; a++)
        for (int b = 0; b < O; b++) {
            __m256i t = _mm256_add_epi32(lsum[a][b], _mm256_madd_epi16(lacc[a][b], ones));
            t = _mm256_add_epi32(t, _mm256_sll_epi32(acc[a][b], us));
            out[(size_t)(r + a) * ldo + o + b] = hsum32(t);
        }
}

static void dot_avx2(const int16_t *xh, const int16_t *xl, int ldx, const int16_t *w, int ldw, int n, int f,
                     uint32_t *out, int ldo, int r0, int r1, int o0, int o1)
{
    int r = r0;
    for (; r + 2 <= r1; r += 2) {
        int o = o0;
        for (; o + 2 <= o1; o += 2) tile(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 2, 2);
        for (; o < o1; o++) tile(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 2, 1);
    }
    for (; r < r1; r++) {
        int o = o0;
        for (; o + 2 <= o1; o += 2) tile(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 1, 2);
        for (; o < o1; o++) tile(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 1, 1);
    }
}

const em_fxk *em_fxk_avx2(void) {
    static const em_fxk k = {"avx2", dot_avx2};
    return &k;
}
#else
const em_fxk *em_fxk_avx2(void) { return 0; }
#endif
