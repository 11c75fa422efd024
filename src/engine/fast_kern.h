/* Kernels of the fast float engine (docs/fast.md).
 *
 * One set of kernels is written once (fast_kern_impl.h) over a small vector
 * abstraction and compiled four times: portable scalar C (fast_kern_c.c),
 * GCC/clang generic vectors (fast_kern_gvec.c: SSE2, NEON, ...), AVX2+FMA
 * (fast_kern_avx2.c) and AVX-512 (fast_kern_avx512.c).  em_fast_kern_select()
 * picks the widest one the CPU supports at run time.
 *
 * Determinism: every output element is computed by one fixed sequence of
 * operations whatever the row/column range a call is given, so splitting work
 * across threads never changes a bit of the result. */
#ifndef EM_FAST_KERN_H
#define EM_FAST_KERN_H
#include <stddef.h>
#include <stdint.h>

/* GEMM epilogues: T = A.B + bias for the tile, then */
enum {
    EM_EPI_STORE = 0,  /* C = T */
    EM_EPI_GELU = 1,   /* C = gelu(T) (exact erf GELU) */
    EM_EPI_ADD = 2,    /* C += T  (residual) */
    EM_EPI_RELU = 3,   /* C = max(T, 0) */
    EM_EPI_SCALE_ADD = 4, /* C[crow[i]] += cscale[i] * T  (MoE expert output) */
    EM_EPI_RESCALE_ADD = 5, /* C[i] = cscale[i] * C[i] + T  (online softmax) */
};

/* C[M][N] (op)= A[M][K] . B[K][N] + bias, B packed by em_fast_pack_b.
 * A row r is A + (arow ? arow[r] : r) * lda (gathered rows without a copy). */
typedef struct {
    int M, N, K;
    const float *A; int lda; const int32_t *arow;
    const float *B;      /* packed: [ceil(N/nr)][K][nr], zero padded */
    size_t bstride;      /* floats between panels of B; 0: K * nr */
    const float *bias;   /* [ceil(N/nr)*nr] zero padded, or NULL */
    float *C; int ldc;
    const int32_t *crow; /* EM_EPI_SCALE_ADD: destination rows */
    const float *cscale; /* EM_EPI_SCALE_ADD: per-row scale */
    int epi;
    const float *pfnext; /* optional: a panel ([K][nr]) to prefetch while the
                            last panel of a call computes (the next one this
                            thread will need); NULL: the following panel of B */
} em_gemm;

typedef struct em_fast_kern {
    const char *name;  /* "c", "avx2", "avx512" */
    int vl;            /* floats per vector */
    int mr, nr;        /* GEMM register tile */
    /* rows [m0, m1) x column panels [p0, p1) */
    void (*gemm)(const em_gemm *g, int m0, int m1, int p0, int p1);
    /* y[r] = LN(x[r]) * w + b for rows [r0, r1) of x[.][d] (ld = d) */
    void (*layernorm)(const float *x, float *y, int d, const float *w, const float *b, float eps,
                      int r0, int r1);
    /* y[i] = gelu(x[i]), n any */
    void (*gelu)(const float *x, float *y, int n);
    /* y[i] = exp(x[i]), n any */
    void (*exp)(const float *x, float *y, int n);
    /* Attention, head h, from qkv [N][3D] (q | k | v): attn_pack packs this
     * head's keys [t0, t1) (times scale; t1 <= ldk, keys >= N as zeros) and
     * values into kp, vp (em_attn_pack_floats each, ldk = N rounded up to 64;
     * t0 a multiple of the kernel's nr); attention then computes queries
     * [q0, q1) (q1 - q0 <= em_att_qb(hd)) into out [N][D] columns h*hd.., keys
     * in blocks of 64 with the online softmax. */
    void (*attn_pack)(const float *qkv, int N, int D, int hd, int h, float scale, float *kp, float *vp,
                      int ldk, int t0, int t1);
    void (*attention)(const float *qkv, int N, int D, int hd, int h, const float *kp, const float *vp,
                      int ldk, float *out, int q0, int q1);
    /* Winograd F(4x4,3x3), pad 1, HWC layout.  Input transform of tiles
     * [t0, t1) of in[h][w][c] into V[36][ntiles][c] (ntiles = th*tw; the 36
     * planes ps floats apart, ps >= ntiles*c). */
    void (*wino_in)(const float *in, int h, int w, int c, float *V, size_t ps, int t0, int t1);
    /* Output transform of tiles [t0, t1): M[36][ntiles][c] (planes ps apart)
     * -> out[h][w][c], plus bias, ReLU if relu. */
    void (*wino_out)(const float *M, size_t ps, int h, int w, int c, const float *bias, int relu, float *out,
                     int t0, int t1);
    /* Bilinear x2 (align_corners = false), HWC: in[h][w][c] -> out[2h][2w][c],
     * output rows [y0, y1). */
    void (*upsample2x)(const float *in, int h, int w, int c, float *out, int y0, int y1);
} em_fast_kern;

const em_fast_kern *em_fast_kern_c(void);
const em_fast_kern *em_fast_kern_gvec(void);   /* NULL without GCC/clang vector extensions */
const em_fast_kern *em_fast_kern_avx2(void);   /* NULL if not built for x86-64 */
const em_fast_kern *em_fast_kern_avx512(void); /* NULL if not built for x86-64 */

/* Best kernel set for this CPU: avx512, avx2, gvec (generic 4-wide vectors),
 * c.  The environment variable EM_FAST_ISA (one of those names) caps the
 * choice (for tests and benchmarks). */
const em_fast_kern *em_fast_kern_select(void);
/* The set named name if this CPU and build support it, else NULL. */
const em_fast_kern *em_fast_kern_by_name(const char *name);

/* Query block 24 (four 6-row tiles; 3 heads x 6 blocks = 18 balanced chunks
 * for 129 tokens); key block 160 (a multiple of every kernel's NR; 129 keys
 * are one block: no online-softmax rescaling pass and no 1-key tail block). */
#define EM_ATT_QB 24
#define EM_ATT_KB 160
#define EM_ATT_OMAX (48 * 256) /* floats of the output block kept per call */
/* queries per attention call for head size hd (0 if hd > EM_ATT_OMAX) */
static inline int em_att_qb(int hd) { return EM_ATT_OMAX / hd < EM_ATT_QB ? EM_ATT_OMAX / hd : EM_ATT_QB; }
static inline size_t em_attn_pack_floats(int hd, int ldk) { return (size_t)(hd + 32) * ldk; }

/* Runs g on the pool, cut into (row block, panel group) chunks (fast.c). */
struct em_pool;
void em_fast_gemm_run(struct em_pool *pool, const em_fast_kern *k, const em_gemm *g);

/* Packing of a weight matrix W[N][K] (row n: output n, ld = ldw) into the
 * panel layout of kernel nr: dst[ceil(N/nr)][K][nr]. */
size_t em_fast_packed_floats(int N, int K, int nr);
void em_fast_pack_b(const float *W, int N, int K, int ldw, int nr, float *dst);

/* Winograd tiles of an h x w map */
static inline int em_wino_tiles(int h, int w) { return ((h + 3) / 4) * ((w + 3) / 4); }
/* plane stride for ntiles x c: one cache line more than needed, so the 36
 * planes do not all fall into the same cache sets */
static inline size_t em_wino_plane(int ntiles, int c) { return (size_t)ntiles * c + 16; }
/* Weight transform U = G g G^T of a 3x3 conv W[cout][cin][3][3] (with the
 * per-output-channel scale s, may be NULL) into u[36][cout][cin] (double
 * precision inside). */
void em_wino_weights(const float *W, const double *s, int cout, int cin, float *u);

#endif
