/* What the fast float engine (src/engine/fast.c) shares with its decoder
 * head (src/heads/head_fast.c): weights packed into one planned block, the
 * chunking of GEMMs and row jobs on the thread pool, and the optional
 * per-phase profile.  Internal, like fast_kern.h. */
#ifndef EM_FAST_PLAN_H
#define EM_FAST_PLAN_H
#include <stddef.h>
#include <string.h>
#include "engine/fast_kern.h"
#include "engine/fast_threads.h"

/* Chunk sizes.  They never depend on the thread count (results do not
 * either). */
#define EM_GEMM_MB_TILES 8   /* row tiles per GEMM chunk */
#define EM_GEMM_PG 2         /* column panels per GEMM chunk */
#define EM_ROWS_PER_CHUNK 16 /* rows per LayerNorm (and gate) chunk */

/* A weight matrix packed by em_fast_pack_b and its bias padded with zeros to
 * whole panels (NULL: no bias). */
typedef struct {
    const float *w, *b;
} em_packed;

/* n floats from *p, which moves on by n rounded up to 16 (64-byte
 * alignment of every piece of a block). */
static inline float *em_fast_carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

/* Floats em_fast_pack_linear takes from a block for W[N][K] (and a bias). */
size_t em_fast_linear_floats(int N, int K, int nr);
/* Packs W[N][K] (ld K) and b[N] (may be NULL) for kernel tile nr into pieces
 * carved from *wp. */
void em_fast_pack_linear(float **wp, int nr, em_packed *dst, const float *W, const float *b, int N, int K);

/* A block of floats for data streamed on every image (packed weights,
 * activations): 2 MB aligned, transparent huge pages asked for on Linux.
 * Freed with free(). */
float *em_fast_big_alloc(size_t floats);

/* The em_gemm C[M][N] (epi)= A[M][K] . B + bias of a packed B. */
static inline em_gemm em_fast_mkgemm(int M, int N, int K, const float *A, int lda, const em_packed *B, float *C,
                                     int ldc, int epi) {
    em_gemm g;
    memset(&g, 0, sizeof g);
    g.M = M; g.N = N; g.K = K;
    g.A = A; g.lda = lda;
    g.B = B->w; g.bias = B->b;
    g.C = C; g.ldc = ldc;
    g.epi = epi;
    return g;
}

/* y[r] = LN(x[r]) * w + b for rows [0, rows) of x[.][d], on the pool in
 * chunks of EM_ROWS_PER_CHUNK rows. */
void em_fast_layernorm_run(em_pool *pool, const em_fast_kern *k, const float *x, int rows, int d, const float *w,
                           const float *b, float eps, float *y);

/* Optional per-phase profile (build with -DEM_FAST_PROFILE; each file keeps
 * its own table, double prof_ms[] and prof_t0, printed to stderr when its
 * object is freed).  This thread's CPU time: meaningful with --threads 1 on
 * a busy machine; -DEM_FAST_PROFILE_WALL: wall time (for several threads).
 * Compiled out by default. */
#ifdef EM_FAST_PROFILE
#include <time.h>
static inline double em_fast_prof_now(void) {
    struct timespec ts;
#ifdef EM_FAST_PROFILE_WALL
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
#endif
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define PROF_START() (prof_t0 = em_fast_prof_now())
#define PROF_END(k) (prof_ms[k] += em_fast_prof_now() - prof_t0)
#else
#define PROF_START() ((void)0)
#define PROF_END(k) ((void)0)
#endif

#endif
