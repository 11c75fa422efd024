/* x86 kernels of the fast fixed-point twin, included by
 * fixed_fast_kern_avx2.c and fixed_fast_kern_avx512.c.  The including file
 * defines KX(name) (name mangling) and DPACC(acc, a, b) = acc + madd(a, b)
 * (vpmaddwd + vpaddd, or one vpdpwssd with AVX512-VNNI). */

static inline uint32_t KX(hsum32)(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* Per 16 inputs of one (row, output) pair: xh w summed by one vpmaddwd
 * (DPACC); P = xl w exact in 32-bit lanes by two vpmaddwd on the even and the
 * odd halves of xl (the other half masked to zero), each floored by an
 * arithmetic shift: three multiplies per 16 MACs.  Register tile R x O. */
static inline __attribute__((always_inline)) void KX(tile)(const int16_t *xh, const int16_t *xl, int ldx,
                                                       const int16_t *w, int ldw, int n, int f, uint32_t *out,
                                                       int ldo, int r, int o, const int R, const int O)
{
    const __m256i me = _mm256_set1_epi32(0xffff), mo = _mm256_set1_epi32((int)0xffff0000u);
    const __m128i fs = _mm_cvtsi32_si128(f);
    __m256i acc[2][2], facc[2][2];
    for (int a = 0; a < R; a++)
        for (int b = 0; b < O; b++) { acc[a][b] = _mm256_setzero_si256(); facc[a][b] = _mm256_setzero_si256(); }
    for (int i = 0; i < n; i += 16) {
        __m256i h[2], le[2], lo[2];
        for (int a = 0; a < R; a++) {
            const __m256i l = _mm256_loadu_si256((const __m256i *)(xl + (size_t)(r + a) * ldx + i));
            h[a] = _mm256_loadu_si256((const __m256i *)(xh + (size_t)(r + a) * ldx + i));
            le[a] = _mm256_and_si256(l, me);
            lo[a] = _mm256_and_si256(l, mo);
        }
        for (int b = 0; b < O; b++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(w + (size_t)(o + b) * ldw + i));
            for (int a = 0; a < R; a++) {
                acc[a][b] = DPACC(acc[a][b], h[a], wv);
                facc[a][b] = _mm256_add_epi32(facc[a][b],
                                              _mm256_add_epi32(_mm256_sra_epi32(_mm256_madd_epi16(le[a], wv), fs),
                                                               _mm256_sra_epi32(_mm256_madd_epi16(lo[a], wv), fs)));
            }
        }
    }
    const __m128i us = _mm_cvtsi32_si128(16 - f);
    for (int a = 0; a < R; a++)
        for (int b = 0; b < O; b++)
            out[(size_t)(r + a) * ldo + o + b] = KX(hsum32)(_mm256_add_epi32(facc[a][b], _mm256_sll_epi32(acc[a][b], us)));
}

static void KX(dot)(const int16_t *xh, const int16_t *xl, int ldx, const int16_t *w, int ldw, int n, int f,
                     uint32_t *out, int ldo, int r0, int r1, int o0, int o1)
{
    int r = r0;
    for (; r + 2 <= r1; r += 2) {
        int o = o0;
        for (; o + 2 <= o1; o += 2) KX(tile)(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 2, 2);
        for (; o < o1; o++) KX(tile)(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 2, 1);
    }
    for (; r < r1; r++) {
        int o = o0;
        for (; o + 2 <= o1; o += 2) KX(tile)(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 1, 2);
        for (; o < o1; o++) KX(tile)(xh, xl, ldx, w, ldw, n, f, out, ldo, r, o, 1, 1);
    }
}

/* 8 lanes of 32-bit floor(x y / 2^f) mod 2^32: even lanes by one
 * vpmuldq, odd lanes by another on the shifted operand, bits f..f+31 of the
 * 64-bit products merged by a blend (fr = f, fl = 32 - f). */
static inline __m256i KX(mulfloor)(__m256i x, __m256i y, __m128i fr, __m128i fl)
{
    const __m256i pe = _mm256_srl_epi64(_mm256_mul_epi32(x, y), fr);
    const __m256i po = _mm256_sll_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), y), fl);
    return _mm256_blend_epi32(pe, po, 0xaa);
}

static void KX(qk)(const int32_t *q, const int32_t *kt, int ldk, int nk, int f, int sh, int32_t *s)
{
    const __m128i fr = _mm_cvtsi32_si128(f), fl = _mm_cvtsi32_si128(32 - f);
    const __m128i wl = _mm_cvtsi32_si128(sh), wr = _mm_cvtsi32_si128(sh + 3);
    for (int k0 = 0; k0 < nk; k0 += 8) {
        __m256i acc = _mm256_setzero_si256();
        for (int b = 0; b < 64; b += 8) {
            __m256i blk = _mm256_setzero_si256();
            for (int i = b; i < b + 8; i++)
                blk = _mm256_add_epi32(blk, KX(mulfloor)(_mm256_loadu_si256((const __m256i *)(kt + (size_t)i * ldk + k0)),
                                                     _mm256_set1_epi32(q[i]), fr, fl));
            /* the block's store wraps to W bits, then * 0.125 */
            acc = _mm256_add_epi32(acc, _mm256_sra_epi32(_mm256_sll_epi32(blk, wl), wr));
        }
        _mm256_storeu_si256((__m256i *)(s + k0), acc);
    }
}

static void KX(av)(const int32_t *v, int ldv, const int32_t *a, int nk, int f, uint32_t *out)
{
    const __m128i fr = _mm_cvtsi32_si128(f), fl = _mm_cvtsi32_si128(32 - f);
    __m256i acc[8];
    for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_si256();
    for (int k = 0; k < nk; k++) {
        const __m256i av = _mm256_set1_epi32(a[k]);
        const int32_t *vr = v + (size_t)k * ldv;
        for (int j = 0; j < 8; j++)
            acc[j] = _mm256_add_epi32(acc[j], KX(mulfloor)(_mm256_loadu_si256((const __m256i *)(vr + 8 * j)), av, fr, fl));
    }
    for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(out + 8 * j), acc[j]);
}

