/* Deterministic math for the scene generator: integer-hash RNG, value noise
 * and small polynomial sin/cos/exp.  No libm transcendental is used anywhere
 * in src/scenes (their results differ between libm versions); sqrtf and
 * floorf are exact IEEE operations.  src/scenes is compiled with
 * -ffp-contract=off so no compiler fuses a*b+c differently per machine. */
#ifndef EM_SCENES_SMATH_H
#define EM_SCENES_SMATH_H
#include <math.h>
#include <stdint.h>

/* ---- hashing and the per-scene RNG ---- */
static inline uint64_t sm_mix64(uint64_t x) {  /* splitmix64 finaliser */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}
static inline uint32_t sm_hash32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352du;
    x ^= x >> 15; x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}
static inline uint32_t sm_hash3(int32_t a, int32_t b, uint32_t salt) {
    return sm_hash32((uint32_t)a * 0x8da6b343u ^ sm_hash32((uint32_t)b * 0xd8163841u ^ salt));
}
static inline float sm_u01(uint32_t h) { return (float)(h >> 8) * (1.0f / 16777216.0f); } /* [0,1) */

typedef struct { uint64_t s; } sm_rng;
static inline uint32_t sm_next(sm_rng *r) {
    r->s += 0x9e3779b97f4a7c15ull;
    return (uint32_t)(sm_mix64(r->s) >> 32);
}
static inline float sm_rand(sm_rng *r) { return sm_u01(sm_next(r)); }
static inline float sm_unif(sm_rng *r, float lo, float hi) { return lo + (hi - lo) * sm_rand(r); }
static inline int sm_int(sm_rng *r, int lo, int hi) { /* lo..hi inclusive */
    return lo + (int)(((uint64_t)sm_next(r) * (uint64_t)(hi - lo + 1)) >> 32);
}
static inline int sm_chance(sm_rng *r, float p) { return sm_rand(r) < p; }
/* roughly normal (sum of 4 uniforms), mean 0, sd 1 */
static inline float sm_gauss(sm_rng *r) {
    return (sm_rand(r) + sm_rand(r) + sm_rand(r) + sm_rand(r) - 2.0f) * 1.7320508f;
}

/* ---- polynomial trigonometry and exp ---- */
#define SM_PI 3.14159265358979f
static inline float sm_sin(float x) {
    /* reduce to [-pi, pi], then to [-pi/2, pi/2] by symmetry; Taylor to x^11 */
    float k = floorf(x * (1.0f / (2.0f * SM_PI)) + 0.5f);
    x = x - k * (2.0f * SM_PI);
    if (x > 0.5f * SM_PI) x = SM_PI - x;
    else if (x < -0.5f * SM_PI) x = -SM_PI - x;
    float x2 = x * x;
    return x * (1.0f + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880 + x2 * (-1.0f / 39916800))))));
}
static inline float sm_cos(float x) { return sm_sin(x + 0.5f * SM_PI); }
static inline float sm_tan(float x) { return sm_sin(x) / sm_cos(x); }
static inline float sm_rad(float deg) { return deg * (SM_PI / 180.0f); }

/* exp(x) for x in [-80, 80]: 2^n * 2^f with a degree-6 polynomial for 2^f */
static inline float sm_exp(float x) {
    if (x < -80.0f) return 0.0f;
    if (x > 80.0f) x = 80.0f;
    float y = x * 1.44269504f;
    float n = floorf(y);
    float f = y - n;  /* [0, 1) */
    float p = 1.0f + f * (0.693147181f + f * (0.240226507f + f * (0.0555041087f + f * (0.00961812911f +
              f * (0.00133335581f + f * 0.000154035304f)))));
    union { float f; int32_t i; } u;
    u.i = ((int32_t)n + 127) << 23;
    return p * u.f;
}

static inline float sm_clamp(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }
static inline float sm_lerp(float a, float b, float t) { return a + (b - a) * t; }
static inline float sm_smooth(float t) { return t * t * (3.0f - 2.0f * t); }
/* x mod m into [0, m) */
static inline float sm_fmod(float x, float m) { return x - floorf(x / m) * m; }

/* 2D value noise in [0,1): hashed lattice values, smoothstep interpolation */
static inline float sm_noise2(float x, float y, uint32_t salt) {
    float fx = floorf(x), fy = floorf(y);
    int32_t ix = (int32_t)fx, iy = (int32_t)fy;
    float tx = sm_smooth(x - fx), ty = sm_smooth(y - fy);
    float a = sm_u01(sm_hash3(ix, iy, salt)), b = sm_u01(sm_hash3(ix + 1, iy, salt));
    float c = sm_u01(sm_hash3(ix, iy + 1, salt)), d = sm_u01(sm_hash3(ix + 1, iy + 1, salt));
    return sm_lerp(sm_lerp(a, b, tx), sm_lerp(c, d, tx), ty);
}
/* one hashed value per integer cell */
static inline float sm_cell(float x, float y, uint32_t salt) {
    return sm_u01(sm_hash3((int32_t)floorf(x), (int32_t)floorf(y), salt));
}
#endif
