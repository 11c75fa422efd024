/* Kernels of the fast engine, written once over a vector abstraction and
 * compiled per instruction set.  Not a normal header: the including file
 * (fast_kern_c.c, fast_kern_avx2.c, fast_kern_avx512.c) defines first
 *   KN(name)      name mangling (name##_avx2 ...)
 *   VL, MR, NV    floats per vector, GEMM tile rows, vectors per tile row
 *   vf            vector type
 *   VLOAD(p) VSTORE(p, v) VSET1(x) VZERO() VFMA(a, b, c) = a*b + c
 *   VADD VSUB VMUL VDIV VMAX VMIN VABS(x)
 *   VSELLT(x, y, a, b)  lane-wise x < y ? a : b
 *   VROUND(x)     round to nearest integer (as float)
 *   VEXP2I(n)     2^n for integer-valued n in [-126, 127]
 *   VRECIP(x)     1/x to ~1 ulp (x in [1, 4] here)
 * Every output element's arithmetic is independent of the row/column range
 * a call covers (see fast_kern.h). */
#include <math.h>
#include <string.h>
#include "engine/fast_kern.h"
#include "engine/ops.h"

#define NR (NV * VL)

/* ---- elementwise math ---- */

/* exp(x), relative error ~1e-7 for x in [-87.3, 88]; 0 below -87.3; inputs
 * above 88 are clamped (never happens here: arguments are <= 0). */
static inline vf KN(vexp)(vf x) {
    vf lo = VSET1(-87.33654f);
    vf xc = VMIN(VMAX(x, lo), VSET1(88.0f));
    vf n = VROUND(VMUL(xc, VSET1(1.44269504088896341f)));
    vf r = VFMA(n, VSET1(-0.693359375f), xc);
    r = VFMA(n, VSET1(2.12194440e-4f), r);
    /* Taylor series to degree 7 (truncation error < 6e-9 on |r| <= 0.35),
     * evaluated in Estrin form: a short dependency chain */
    vf r2 = VMUL(r, r), r4 = VMUL(r2, r2);
    vf p01 = VADD(r, VSET1(1.0f));
    vf p23 = VFMA(r, VSET1(1.0f / 6.0f), VSET1(0.5f));
    vf p45 = VFMA(r, VSET1(1.0f / 120.0f), VSET1(1.0f / 24.0f));
    vf p67 = VFMA(r, VSET1(1.0f / 5040.0f), VSET1(1.0f / 720.0f));
    vf p = VFMA(VFMA(p67, r2, p45), r4, VFMA(p23, r2, p01));
    vf y = VMUL(p, VEXP2I(n));
    return VSELLT(x, lo, VZERO(), y);
}

/* Exact-erf GELU, x * Phi(x) = x * (1 - erfc(x / sqrt 2) / 2), with erfc from
 * the Chebyshev-fitted form erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2)
 * (Numerical Recipes' erfcc: fractional error < 1.2e-7 for all z >= 0). */
static inline vf KN(vgelu)(vf x) {
    vf z = VMUL(VABS(x), VSET1(0.70710678118654752f));
    vf t = VRECIP(VFMA(z, VSET1(0.5f), VSET1(1.0f)));
    /* P(t) of degree 9 in Estrin form */
    vf t2 = VMUL(t, t), t4 = VMUL(t2, t2), t8 = VMUL(t4, t4);
    vf c01 = VFMA(t, VSET1(1.00002368f), VSET1(-1.26551223f));
    vf c23 = VFMA(t, VSET1(0.09678418f), VSET1(0.37409196f));
    vf c45 = VFMA(t, VSET1(0.27886807f), VSET1(-0.18628806f));
    vf c67 = VFMA(t, VSET1(1.48851587f), VSET1(-1.13520398f));
    vf c89 = VFMA(t, VSET1(0.17087277f), VSET1(-0.82215223f));
    vf p = VFMA(c89, t8, VFMA(VFMA(c67, t2, c45), t4, VFMA(c23, t2, c01)));
    vf e = VMUL(t, KN(vexp)(VSUB(p, VMUL(z, z))));  /* erfc(z) */
    vf he = VMUL(e, VSET1(0.5f));
    /* x >= 0: x (1 - e/2);  x < 0: x e/2 (erfc(-z) = 2 - erfc(z)) */
    vf f = VSELLT(x, VZERO(), he, VSUB(VSET1(1.0f), he));
    return VMUL(x, f);
}

static void KN(gelu)(const float *x, float *y, int n) {
    int i = 0;
    for (; i + VL <= n; i += VL) VSTORE(y + i, KN(vgelu)(VLOAD(x + i)));
    if (i < n) {
        float tmp[VL] = {0};
        for (int j = 0; i + j < n; j++) tmp[j] = x[i + j];
        VSTORE(tmp, KN(vgelu)(VLOAD(tmp)));
        for (int j = 0; i + j < n; j++) y[i + j] = tmp[j];
    }
}

static void KN(exp)(const float *x, float *y, int n) {
    int i = 0;
    for (; i + VL <= n; i += VL) VSTORE(y + i, KN(vexp)(VLOAD(x + i)));
    if (i < n) {
        float tmp[VL] = {0};
        for (int j = 0; i + j < n; j++) tmp[j] = x[i + j];
        VSTORE(tmp, KN(vexp)(VLOAD(tmp)));
        for (int j = 0; i + j < n; j++) y[i + j] = tmp[j];
    }
}

static inline float KN(hsum)(vf v) {
    float t[VL];
    VSTORE(t, v);
    float s = 0;
    for (int i = 0; i < VL; i++) s += t[i];
    return s;
}

/* partial vectors: the first n (<= VL) lanes */
static inline vf KN(loadn)(const float *p, int n) {
    if (n == VL) return VLOAD(p);
    float t[VL];
    for (int i = 0; i < VL; i++) t[i] = i < n ? p[i] : 0.0f;
    return VLOAD(t);
}
static inline void KN(storen)(float *p, vf v, int n) {
    if (n == VL) { VSTORE(p, v); return; }
    float t[VL];
    VSTORE(t, v);
    for (int i = 0; i < n; i++) p[i] = t[i];
}

/* ---- GEMM ---- */

/* T[i][.] = sum_k a_i[k] B[k][.] for the first mr rows of the tile.  One
 * body, specialised per row count (mr is a constant after inlining), so a
 * short tile costs only its rows; each element is the same FMA chain for
 * every mr. */
#if defined(__GNUC__) || defined(__clang__)
#define EM_AINLINE static inline __attribute__((always_inline))
#else
#define EM_AINLINE static inline
#endif
#if defined(__GNUC__) || defined(__clang__)
#define EM_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define EM_PREFETCH(p) ((void)(p))
#endif
EM_AINLINE void KN(ukern_rows)(const int mr, int K, const float *const *ap_in, const float *B, float *T,
                               const float *pf) {
    const float *ap[MR];
    for (int i = 0; i < mr; i++) ap[i] = ap_in[i];
    vf acc[MR][NV];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = VZERO();
    for (int k = 0; k < K; k++) {
        /* pf: the next panel ([K][NR]), fetched while this one computes
         * (weights stream from memory: a hint only, no effect on results) */
        if (pf)
            for (int o = 0; o < NR; o += 16) EM_PREFETCH(pf + (size_t)k * NR + o);
        vf b[NV];
        for (int j = 0; j < NV; j++) b[j] = VLOAD(B + (size_t)k * NR + j * VL);
        for (int i = 0; i < mr; i++) {
            vf a = VSET1(ap[i][k]);
            for (int j = 0; j < NV; j++) acc[i][j] = VFMA(a, b[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < NV; j++) VSTORE(T + i * NR + j * VL, acc[i][j]);
}

static void KN(ukern)(int mr, int K, const float *const *ap, const float *B, float *T, const float *pf) {
    switch (mr) {
#if MR >= 12
    case 12: KN(ukern_rows)(12, K, ap, B, T, pf); break;
    case 11: KN(ukern_rows)(11, K, ap, B, T, pf); break;
    case 10: KN(ukern_rows)(10, K, ap, B, T, pf); break;
    case 9: KN(ukern_rows)(9, K, ap, B, T, pf); break;
#endif
#if MR >= 8
    case 8: KN(ukern_rows)(8, K, ap, B, T, pf); break;
    case 7: KN(ukern_rows)(7, K, ap, B, T, pf); break;
#endif
#if MR >= 6
    case 6: KN(ukern_rows)(6, K, ap, B, T, pf); break;
    case 5: KN(ukern_rows)(5, K, ap, B, T, pf); break;
#endif
    case 4: KN(ukern_rows)(4, K, ap, B, T, pf); break;
    case 3: KN(ukern_rows)(3, K, ap, B, T, pf); break;
    case 2: KN(ukern_rows)(2, K, ap, B, T, pf); break;
    default: KN(ukern_rows)(1, K, ap, B, T, pf); break;
    }
}

static void KN(epilogue)(const em_gemm *g, const float *T, int r, int mr, int col0, int ncols) {
    vf bv[NV];
    for (int j = 0; j < NV; j++) bv[j] = g->bias ? VLOAD(g->bias + col0 + j * VL) : VZERO();
    for (int i = 0; i < mr; i++) {
        int row = r + i;
        float *dst = g->C + (size_t)(g->epi == EM_EPI_SCALE_ADD ? g->crow[row] : row) * g->ldc + col0;
        float buf[NR];
        vf sc = g->epi == EM_EPI_SCALE_ADD || g->epi == EM_EPI_RESCALE_ADD ? VSET1(g->cscale[row]) : VZERO();
        int full = ncols == NR;
        if (!full && (g->epi == EM_EPI_ADD || g->epi == EM_EPI_SCALE_ADD || g->epi == EM_EPI_RESCALE_ADD)) {
            memset(buf, 0, sizeof buf);
            for (int c = 0; c < ncols; c++) buf[c] = dst[c];
        }
        float *o = full ? dst : buf;
        for (int j = 0; j < NV; j++) {
            vf v = VADD(VLOAD(T + i * NR + j * VL), bv[j]);
            switch (g->epi) {
            case EM_EPI_GELU: v = KN(vgelu)(v); break;
            case EM_EPI_RELU: v = VMAX(v, VZERO()); break;
            case EM_EPI_ADD: v = VADD(VLOAD(o + j * VL), v); break;
            case EM_EPI_SCALE_ADD: v = VFMA(v, sc, VLOAD(o + j * VL)); break;
            case EM_EPI_RESCALE_ADD: v = VFMA(VLOAD(o + j * VL), sc, v); break;
            default: break;
            }
            VSTORE(o + j * VL, v);
        }
        if (!full)
            for (int c = 0; c < ncols; c++) dst[c] = buf[c];
    }
}

static void KN(gemm)(const em_gemm *g, int m0, int m1, int p0, int p1) {
    float T[MR * NR];
    const float *ap[MR];
    for (int p = p0; p < p1; p++) {
        const float *Bp = g->B + (size_t)p * (g->bstride ? g->bstride : (size_t)g->K * NR);
        int col0 = p * NR, ncols = g->N - col0 < NR ? g->N - col0 : NR;
        /* during the first row tile, prefetch the next panel of B */
        const float *pfp = p + 1 == p1 && g->pfnext ? g->pfnext
                           : (p + 1) * NR < g->N ? Bp + (g->bstride ? g->bstride : (size_t)g->K * NR) : NULL;
        for (int r = m0; r < m1; r += MR) {
            int mr = m1 - r < MR ? m1 - r : MR;
            for (int i = 0; i < mr; i++) {
                int row = r + i;
                ap[i] = g->A + (size_t)(g->arow ? g->arow[row] : row) * g->lda;
            }
            KN(ukern)(mr, g->K, ap, Bp, T, r == m0 ? pfp : NULL);
            KN(epilogue)(g, T, r, mr, col0, ncols);
        }
    }
}

/* ---- LayerNorm ---- */

static void KN(layernorm)(const float *x, float *y, int d, const float *w, const float *b, float eps,
                          int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        vf s = VZERO();
        int i = 0;
        for (; i + VL <= d; i += VL) s = VADD(s, VLOAD(xr + i));
        float sum = KN(hsum)(s);
        for (; i < d; i++) sum += xr[i];
        float mean = sum / (float)d;
        vf mv = VSET1(mean), q = VZERO();
        for (i = 0; i + VL <= d; i += VL) {
            vf c = VSUB(VLOAD(xr + i), mv);
            q = VFMA(c, c, q);
        }
        float var = KN(hsum)(q);
        for (; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (float)d;
        float rs = 1.0f / sqrtf(var + eps);
        vf rv = VSET1(rs);
        for (i = 0; i + VL <= d; i += VL)
            VSTORE(yr + i, VFMA(VMUL(VSUB(VLOAD(xr + i), mv), rv), VLOAD(w + i), VLOAD(b + i)));
        for (; i < d; i++) yr[i] = (xr[i] - mean) * rs * w[i] + b[i];
    }
}

/* ---- attention on the GEMM kernel: S = Q K^T per block of 64 keys, the
 * online softmax per row (running max m, sum l; O rescaled by
 * exp(m_old - m_new)), O += P V with the rescaling epilogue ---- */

/* kp: keys of head h as B panels, [ldk / NR][hd][NR] (K = hd, N = keys);
 * vp: values as B panels, [ceil(hd / NR)][ldk][NR] (K = keys, N = dims) */
static void KN(attn_pack)(const float *qkv, int N, int D, int hd, int h, float scale, float *kp, float *vp,
                          int ldk, int t0, int t1) {
    int ld = 3 * D;
    for (int t = t0; t < t1; t++) {
        float *dst = kp + (size_t)(t / NR) * hd * NR + t % NR;
        if (t < N) {
            const float *kr = qkv + (size_t)t * ld + D + h * hd;
            for (int d = 0; d < hd; d++) dst[(size_t)d * NR] = kr[d] * scale;
        } else {
            for (int d = 0; d < hd; d++) dst[(size_t)d * NR] = 0.0f;
        }
    }
    int npv = (hd + NR - 1) / NR;
    for (int p = 0; p < npv; p++)
        for (int t = t0; t < t1; t++) {
            float *dst = vp + ((size_t)p * ldk + t) * NR;
            for (int j = 0; j < NR; j++)
                dst[j] = t < N && p * NR + j < hd ? qkv[(size_t)t * ld + 2 * D + h * hd + p * NR + j] : 0.0f;
        }
}

static void KN(attention)(const float *qkv, int N, int D, int hd, int h, const float *kp, const float *vp,
                          int ldk, float *out, int q0, int q1) {
    float S[EM_ATT_QB * EM_ATT_KB], O[EM_ATT_OMAX], m[EM_ATT_QB], l[EM_ATT_QB], alpha[EM_ATT_QB];
    int nq = q1 - q0;
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(O, 0, sizeof(float) * nq * hd);
    for (int kb = 0; kb < N; kb += EM_ATT_KB) {
        int nk = N - kb < EM_ATT_KB ? N - kb : EM_ATT_KB;
        em_gemm gs = {nq, nk, hd, qkv + (size_t)q0 * 3 * D + h * hd, 3 * D, NULL,
                      kp + (size_t)(kb / NR) * hd * NR, 0, NULL, S, EM_ATT_KB, NULL, NULL, EM_EPI_STORE, NULL};
        KN(gemm)(&gs, 0, nq, 0, (nk + NR - 1) / NR);
        for (int i = 0; i < nq; i++) {
            float *s = S + i * EM_ATT_KB, mb = s[0];
            int j0 = 0;
            if (nk >= VL) { /* max is exact: any order gives the same value */
                vf vm = VLOAD(s);
                for (j0 = VL; j0 + VL <= nk; j0 += VL) vm = VMAX(vm, VLOAD(s + j0));
                float t[VL];
                VSTORE(t, vm);
                for (int u = 0; u < VL; u++) mb = t[u] > mb ? t[u] : mb;
            }
            for (int j = j0; j < nk; j++) mb = s[j] > mb ? s[j] : mb;
            float mn = mb > m[i] ? mb : m[i];
            alpha[i] = m[i] == -INFINITY ? 0.0f : expf(m[i] - mn);
            vf mv = VSET1(mn), acc = VZERO();
            int j = 0;
            for (; j + VL <= nk; j += VL) {
                vf e = KN(vexp)(VSUB(VLOAD(s + j), mv));
                VSTORE(s + j, e);
                acc = VADD(acc, e);
            }
            float ls = KN(hsum)(acc);
            for (; j < nk; j++) { s[j] = expf(s[j] - mn); ls += s[j]; }
            l[i] = l[i] * alpha[i] + ls;
            m[i] = mn;
        }
        em_gemm gv = {nq, hd, nk, S, EM_ATT_KB, NULL, vp + (size_t)kb * NR, (size_t)ldk * NR, NULL, O, hd,
                      NULL, alpha, EM_EPI_RESCALE_ADD, NULL};
        KN(gemm)(&gv, 0, nq, 0, (hd + NR - 1) / NR);
    }
    for (int i = 0; i < nq; i++) {
        float rs = 1.0f / l[i];
        vf rl = VSET1(rs);
        float *orow = out + (size_t)(q0 + i) * D + h * hd;
        int d = 0;
        for (; d + VL <= hd; d += VL) VSTORE(orow + d, VMUL(VLOAD(O + i * hd + d), rl));
        for (; d < hd; d++) orow[d] = O[i * hd + d] * rs;
    }
}

/* ---- Winograd F(4x4, 3x3) ----
 * V = B^T d B,  Y = A^T M A  with the points 0, +-1, +-2 (Lavin & Gray). */

#define WBT(z0, z1, z2, z3, z4, z5, r)                                                            \
    do {                                                                                          \
        vf f4 = VSET1(4.0f), f2 = VSET1(2.0f);                                                    \
        r[0] = VFMA(VSET1(-5.0f), z2, VFMA(f4, z0, z4));                                          \
        r[1] = VSUB(VADD(z3, z4), VMUL(f4, VADD(z1, z2)));                                        \
        r[2] = VFMA(f4, VSUB(z1, z2), VSUB(z4, z3));                                              \
        r[3] = VFMA(f2, VSUB(z3, z1), VSUB(z4, z2));                                              \
        r[4] = VFMA(f2, VSUB(z1, z3), VSUB(z4, z2));                                              \
        r[5] = VFMA(VSET1(-5.0f), z3, VFMA(f4, z1, z5));                                          \
    } while (0)

static void KN(wino_in)(const float *in, int h, int w, int c, float *V, size_t ps, int t0, int t1) {
    int tw = (w + 3) / 4;
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tw) * 4 - 1, x0 = (t % tw) * 4 - 1;
        int rok[6], cok[6];
        for (int i = 0; i < 6; i++) {
            rok[i] = y0 + i >= 0 && y0 + i < h;
            cok[i] = x0 + i >= 0 && x0 + i < w;
        }
        for (int cv = 0; cv < c; cv += VL) {
            int nc = c - cv < VL ? c - cv : VL;
            vf d[6][6], u[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    d[i][j] = rok[i] && cok[j] ? KN(loadn)(in + ((size_t)(y0 + i) * w + (x0 + j)) * c + cv, nc)
                                               : VZERO();
            for (int j = 0; j < 6; j++) { /* columns: u = B^T d */
                vf r[6];
                WBT(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], r);
                for (int i = 0; i < 6; i++) u[i][j] = r[i];
            }
            for (int i = 0; i < 6; i++) { /* rows: V = u B */
                vf r[6];
                WBT(u[i][0], u[i][1], u[i][2], u[i][3], u[i][4], u[i][5], r);
                for (int j = 0; j < 6; j++) KN(storen)(V + (size_t)(i * 6 + j) * ps + (size_t)t * c + cv, r[j], nc);
            }
        }
    }
}

#define WAT(m0, m1, m2, m3, m4, m5, o)                                                            \
    do {                                                                                          \
        vf s12 = VADD(m1, m2), d12 = VSUB(m1, m2), s34 = VADD(m3, m4), d34 = VSUB(m3, m4);        \
        o[0] = VADD(VADD(m0, s12), s34);                                                          \
        o[1] = VFMA(VSET1(2.0f), d34, d12);                                                       \
        o[2] = VFMA(VSET1(4.0f), s34, s12);                                                       \
        o[3] = VADD(VFMA(VSET1(8.0f), d34, d12), m5);                                             \
    } while (0)

static void KN(wino_out)(const float *M, size_t ps, int h, int w, int c, const float *bias, int relu, float *out,
                         int t0, int t1) {
    int tw = (w + 3) / 4;
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tw) * 4, x0 = (t % tw) * 4;
        int ny = h - y0 < 4 ? h - y0 : 4, nx = w - x0 < 4 ? w - x0 : 4;
        for (int cv = 0; cv < c; cv += VL) {
            int nc = c - cv < VL ? c - cv : VL;
            vf m[6][6], u[4][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) m[i][j] = KN(loadn)(M + (size_t)(i * 6 + j) * ps + (size_t)t * c + cv, nc);
            for (int j = 0; j < 6; j++) {
                vf o[4];
                WAT(m[0][j], m[1][j], m[2][j], m[3][j], m[4][j], m[5][j], o);
                for (int i = 0; i < 4; i++) u[i][j] = o[i];
            }
            vf bv = bias ? KN(loadn)(bias + cv, nc) : VZERO();
            for (int i = 0; i < ny; i++) {
                vf o[4];
                WAT(u[i][0], u[i][1], u[i][2], u[i][3], u[i][4], u[i][5], o);
                for (int j = 0; j < nx; j++) {
                    vf v = VADD(o[j], bv);
                    if (relu) v = VMAX(v, VZERO());
                    KN(storen)(out + ((size_t)(y0 + i) * w + (x0 + j)) * c + cv, v, nc);
                }
            }
        }
    }
}

/* ---- bilinear x2, align_corners = false (PyTorch): src = (dst + 0.5) / 2 - 0.5,
 * clamped at 0; i0 = floor(src), i1 = min(i0 + 1, n - 1), weight src - i0 ---- */
static void KN(upsample2x)(const float *in, int h, int w, int c, float *out, int oy0, int oy1) {
    int W2 = 2 * w;
    for (int oy = oy0; oy < oy1; oy++) {
        int y0, y1, x0, x1;
        float ly, lx;
        em_up2_coord(oy, h, &y0, &y1, &ly);
        vf wy0 = VSET1(1.0f - ly), wy1 = VSET1(ly);
        for (int ox = 0; ox < W2; ox++) {
            em_up2_coord(ox, w, &x0, &x1, &lx);
            vf wx0 = VSET1(1.0f - lx), wx1 = VSET1(lx);
            const float *a = in + ((size_t)y0 * w + x0) * c, *b = in + ((size_t)y0 * w + x1) * c;
            const float *e = in + ((size_t)y1 * w + x0) * c, *f = in + ((size_t)y1 * w + x1) * c;
            float *o = out + ((size_t)oy * W2 + ox) * c;
            for (int cv = 0; cv < c; cv += VL) {
                int nc = c - cv < VL ? c - cv : VL;
                vf top = VFMA(KN(loadn)(b + cv, nc), wx1, VMUL(KN(loadn)(a + cv, nc), wx0));
                vf bot = VFMA(KN(loadn)(f + cv, nc), wx1, VMUL(KN(loadn)(e + cv, nc), wx0));
                KN(storen)(o + cv, VFMA(bot, wy1, VMUL(top, wy0)), nc);
            }
        }
    }
}

#define EM_KERN_TABLE(nm)                                                                         \
    {nm, VL, MR, NR, KN(gemm), KN(layernorm), KN(gelu), KN(exp), KN(attn_pack), KN(attention), KN(wino_in),     \
     KN(wino_out), KN(upsample2x)}
