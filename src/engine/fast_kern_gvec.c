/* Generic-vector instantiation of the fast kernels: GCC/clang vector
 * extensions, 4 floats wide, so any target with 128-bit SIMD (SSE2, NEON on
 * arm64, ...) gets vector code without intrinsics.  Chosen after the x86 sets
 * and before the scalar C set; a compiler without the extensions gets a stub. */
#include <string.h>
#include "engine/fast_kern.h"
#if defined(__GNUC__) || defined(__clang__)
#include <stdint.h>

typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
#define KN(x) x##_gvec
#define VL 4
#define MR 6
#define NV 2
static inline vf ld_g(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void st_g(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf set1_g(float x) { vf v = {x, x, x, x}; return v; }
static inline vf sel_g(vi m, vf a, vf b) { /* m ? a : b, lane-wise (m = 0 or -1) */
    vi r = (m & (vi)a) | (~m & (vi)b);
    return (vf)r;
}
static inline vf max_g(vf a, vf b) { return sel_g(a > b, a, b); }
static inline vf min_g(vf a, vf b) { return sel_g(a < b, a, b); }
static inline vi seti_g(int32_t x) { vi v = {x, x, x, x}; return v; }
static inline vf abs_g(vf x) { return (vf)((vi)x & seti_g(0x7fffffff)); }
/* round to nearest (even) for |x| < 2^22 with the 1.5 * 2^23 shift (no
 * reassociation under -std=c11) */
static inline vf round_g(vf x) {
    vf m = set1_g(12582912.0f);
    return (x + m) - m;
}
/* 2^n for integer-valued n: the integer n sits in the low mantissa bits of
 * n + 1.5 * 2^23 */
static inline vf exp2i_g(vf n) {
    vf m = set1_g(12582912.0f);
    vi i = (vi)(n + m) - (vi)m;
    return (vf)((i + seti_g(127)) << seti_g(23));
}
#define VLOAD(p) ld_g(p)
#define VSTORE(p, v) st_g((p), (v))
#define VSET1(x) set1_g(x)
#define VZERO() set1_g(0.0f)
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX(a, b) max_g((a), (b))
#define VMIN(a, b) min_g((a), (b))
#define VABS(x) abs_g(x)
#define VSELLT(x, y, a, b) sel_g((x) < (y), (a), (b))
#define VROUND(x) round_g(x)
#define VEXP2I(n) exp2i_g(n)
#define VRECIP(x) (set1_g(1.0f) / (x))
#include "engine/fast_kern_impl.h"

const em_fast_kern *em_fast_kern_gvec(void) {
    static const em_fast_kern k = EM_KERN_TABLE("gvec");
    return &k;
}
#else
const em_fast_kern *em_fast_kern_gvec(void) { return 0; }
#endif
