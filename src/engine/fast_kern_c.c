/* Portable C instantiation of the fast kernels (any C11 compiler), plus the
 * ISA selection and the weight packing shared by all instantiations. */
#include <stdlib.h>
#include <string.h>
#include "engine/fast_kern.h"

typedef float vf;
#define KN(x) x##_c
#define VL 1
#define MR 4
#define NV 16
#define VLOAD(p) (*(const float *)(p))
#define VSTORE(p, v) (*(p) = (v))
#define VSET1(x) ((float)(x))
#define VZERO() 0.0f
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VABS(x) fabsf(x)
#define VSELLT(x, y, a, b) ((x) < (y) ? (a) : (b))
#define VROUND(x) nearbyintf(x)
static inline float exp2i_c(float n) {
    uint32_t u = (uint32_t)((int32_t)n + 127) << 23;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
#define VEXP2I(n) exp2i_c(n)
#define VRECIP(x) (1.0f / (x))
#include "engine/fast_kern_impl.h"

const em_fast_kern *em_fast_kern_c(void) {
    static const em_fast_kern k = EM_KERN_TABLE("c");
    return &k;
}

static int cpu_has(const char *isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (strcmp(isa, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    (void)isa;
    return strcmp(isa, "c") == 0;
}

const em_fast_kern *em_fast_kern_by_name(const char *name) {
    if (strcmp(name, "c") == 0) return em_fast_kern_c();
    if (strcmp(name, "gvec") == 0) return em_fast_kern_gvec();
    if (!cpu_has(name)) return NULL;
    if (strcmp(name, "avx2") == 0) return em_fast_kern_avx2();
    if (strcmp(name, "avx512") == 0) return em_fast_kern_avx512();
    return NULL;
}

const em_fast_kern *em_fast_kern_select(void) {
    static const char *order[] = {"avx512", "avx2", "gvec", "c"};
    const char *cap = getenv("EM_FAST_ISA");
    int start = 0;
    if (cap)
        for (int i = 0; i < 4; i++)
            if (strcmp(cap, order[i]) == 0) start = i;
    for (int i = start; i < 4; i++) {
        const em_fast_kern *k = em_fast_kern_by_name(order[i]);
        if (k) return k;
    }
    return em_fast_kern_c();
}

size_t em_fast_packed_floats(int N, int K, int nr) {
    return (size_t)((N + nr - 1) / nr) * K * nr;
}

void em_fast_pack_b(const float *W, int N, int K, int ldw, int nr, float *dst) {
    int np = (N + nr - 1) / nr;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < nr; j++) {
                int n = p * nr + j;
                dst[((size_t)p * K + k) * nr + j] = n < N ? W[(size_t)n * ldw + k] : 0.0f;
            }
}

void em_wino_weights(const float *W, const double *s, int cout, int cin, float *u) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *g = W + ((size_t)co * cin + ci) * 9;
            double sc = s ? s[co] : 1.0, t[6][3];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * g[0 * 3 + j] + G[i][1] * g[1 * 3 + j] + G[i][2] * g[2 * 3 + j];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    u[((size_t)(i * 6 + j) * cout + co) * cin + ci] = (float)(v * sc);
                }
        }
}
