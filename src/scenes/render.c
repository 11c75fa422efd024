/* Rendering a world through a camera (docs/scenes.md).
 *
 * 1. terrain and sky, analytic per pixel; 2. every primitive: its bounding
 * box projected to a screen rectangle, and in it each pixel's centre ray
 * intersected exactly, the nearest hit kept (a z-buffer of ray t); 3. shade
 * each pixel from its stored hit: procedural texture, sun (with cast shadows
 * found by exact shadow rays against the primitives listed in a ground grid
 * along the sun direction) and sky light, haze, then sensor noise.  The ray
 * direction has d . fwd = 1, so the depth label is the hit's t itself. */
#include <string.h>
#include <stdlib.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif
#include "scenes/scene.h"
#include "scenes/smath.h"

/* The renderer is also compiled for AVX2 and x86-64-v4 (AVX-512), picked at
 * run time where the CPU has them: wider vectors, one-instruction floorf
 * (SSE4.1 roundss), the same IEEE operations on each value (no FMA:
 * -ffp-contract=off), so the same bytes on every machine. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && \
    !defined(EM_SCENES_NO_CLONES)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

#define NEAR 0.05f
#define FOG_N 256
#define FOG_MAX 512.0f
#define BIG 1e30f

/* Value noise from a per-render table of 64 x 64 hashed values (built from
 * the world's salt): 4 loads instead of 4 hashes; a material's salt shifts
 * its lattice.  Period 64 lattice cells. */
#define NT 64
static inline float tcell(const float *nt, float x, float y, uint32_t salt) {
    int ix = ((int)floorf(x) + (int)(salt & 63)) & (NT - 1), iy = ((int)floorf(y) + (int)((salt >> 6) & 63)) & (NT - 1);
    return nt[iy * NT + ix];
}
static inline float tnoise(const float *nt, float x, float y, uint32_t salt) {
    float fx = floorf(x), fy = floorf(y);
    int ix = ((int)fx + (int)(salt & 63)) & (NT - 1), iy = ((int)fy + (int)((salt >> 6) & 63)) & (NT - 1);
    int jx = (ix + 1) & (NT - 1), jy = (iy + 1) & (NT - 1);
    float tx = sm_smooth(x - fx), ty = sm_smooth(y - fy);
    const float *r0 = nt + iy * NT, *r1 = nt + jy * NT;
    return sm_lerp(sm_lerp(r0[ix], r0[jx], tx), sm_lerp(r1[ix], r1[jx], tx), ty);
}
typedef struct { const em_world *w; const float *nt; } rctx;

/* ---- exact ray / primitive intersection ---- */

/* the ray in a box's local frame */
static inline void to_local(const em_prim *p, const float v[3], float out[3], int point) {
    float x = v[0] - (point ? p->c[0] : 0), y = v[1] - (point ? p->c[1] : 0), z = v[2] - (point ? p->c[2] : 0);
    out[0] = p->cs * x - p->sn * z;
    out[1] = y;
    out[2] = p->sn * x + p->cs * z;
}

/* entry and exit t of the line o + t d (tn > tf: misses) */
static void prim_span(const em_prim *p, const float o[3], const float d[3], float *tn, float *tf) {
    float lo = -BIG, hi = BIG;
    if (p->kind == EM_PRIM_BOX) {
        float ol[3], dl[3];
        to_local(p, o, ol, 1);
        to_local(p, d, dl, 0);
        for (int k = 0; k < 3; k++) {
            if (dl[k] == 0.0f) {
                if (ol[k] < -p->h[k] || ol[k] > p->h[k]) { *tn = 1; *tf = 0; return; }
                continue;
            }
            float inv = 1.0f / dl[k];
            float t1 = (-p->h[k] - ol[k]) * inv, t2 = (p->h[k] - ol[k]) * inv;
            if (t1 > t2) { float s = t1; t1 = t2; t2 = s; }
            if (t1 > lo) lo = t1;
            if (t2 < hi) hi = t2;
        }
    } else if (p->kind == EM_PRIM_CYL) {
        /* robust form: closest approach to the axis, then the half chord */
        float ex = o[0] - p->c[0], ez = o[2] - p->c[2];
        float a = d[0] * d[0] + d[2] * d[2];
        if (a > 0.0f) {
            float tc = -(ex * d[0] + ez * d[2]) / a;
            float px = ex + tc * d[0], pz = ez + tc * d[2];
            float disc = p->h[0] * p->h[0] - (px * px + pz * pz);
            if (disc < 0.0f) { *tn = 1; *tf = 0; return; }
            float sq = sqrtf(disc / a);
            lo = tc - sq; hi = tc + sq;
        } else if (ex * ex + ez * ez > p->h[0] * p->h[0]) { *tn = 1; *tf = 0; return; }
        if (d[1] != 0.0f) {
            float inv = 1.0f / d[1];
            float t1 = (p->c[1] - p->h[1] - o[1]) * inv, t2 = (p->c[1] + p->h[1] - o[1]) * inv;
            if (t1 > t2) { float s = t1; t1 = t2; t2 = s; }
            if (t1 > lo) lo = t1;
            if (t2 < hi) hi = t2;
        } else if (fabsf(o[1] - p->c[1]) > p->h[1]) { *tn = 1; *tf = 0; return; }
    } else {
        float e[3], q[3];
        for (int k = 0; k < 3; k++) { float ih = 1.0f / p->h[k]; e[k] = (o[k] - p->c[k]) * ih; q[k] = d[k] * ih; }
        float a = q[0] * q[0] + q[1] * q[1] + q[2] * q[2];
        float tc = -(e[0] * q[0] + e[1] * q[1] + e[2] * q[2]) / a;
        float px = e[0] + tc * q[0], py = e[1] + tc * q[1], pz = e[2] + tc * q[2];
        float disc = 1.0f - (px * px + py * py + pz * pz);
        if (disc < 0.0f) { *tn = 1; *tf = 0; return; }
        float sq = sqrtf(disc / a);
        lo = tc - sq; hi = tc + sq;
    }
    *tn = lo; *tf = hi;
}

int em_prim_intersect(const em_prim *p, const float o[3], const float d[3], float tmin, float *t) {
    float tn, tf;
    prim_span(p, o, d, &tn, &tf);
    if (tn > tf || tn <= tmin) return 0;
    *t = tn;
    return 1;
}

float em_prim_surface_dist(const em_prim *p, const float x[3]) {
    if (p->kind == EM_PRIM_BOX) {
        float l[3];
        to_local(p, x, l, 1);
        float m = -BIG;
        for (int k = 0; k < 3; k++) { float q = fabsf(l[k]) - p->h[k]; if (q > m) m = q; }
        return fabsf(m);
    }
    if (p->kind == EM_PRIM_CYL) {
        float ex = x[0] - p->c[0], ez = x[2] - p->c[2];
        float a = sqrtf(ex * ex + ez * ez) - p->h[0], b = fabsf(x[1] - p->c[1]) - p->h[1];
        return fabsf(a > b ? a : b);
    }
    float s = 0, m = p->h[0];
    for (int k = 0; k < 3; k++) { float e = (x[k] - p->c[k]) / p->h[k]; s += e * e; if (p->h[k] < m) m = p->h[k]; }
    return fabsf(sqrtf(s) - 1.0f) * m;
}

/* ---- terrain ---- */
int em_terrain_intersect(const em_terrain *T, const float o[3], const float d[3], float *tt) {
    if (!(d[1] < 0.0f)) return -1;
    float t_top = (T->kerb_h - o[1]) / d[1];
    float x_top = o[0] + t_top * d[0];
    if (x_top < T->road_l || x_top > T->road_r) { *tt = t_top; return EM_SURF_TOP; }
    float t_road = -o[1] / d[1];
    float x_road = o[0] + t_road * d[0];
    if (x_road >= T->road_l && x_road <= T->road_r) { *tt = t_road; return EM_SURF_ROAD; }
    float xk = x_road < T->road_l ? T->road_l : T->road_r;
    *tt = (xk - o[0]) / d[0];
    return EM_SURF_KERB;
}

/* distance outward from the kerb on the raised side, and the side */
static inline float beyond_kerb(const em_terrain *T, float x, int *side) {
    float c = 0.5f * (T->road_l + T->road_r);
    *side = x > c;
    return *side ? x - T->road_r : T->road_l - x;
}
static inline int yard_grass(const em_terrain *T, int s, float z) {
    /* the last yard starting at or before z (binary search) */
    int lo = 0, hi = T->n_yards[s];  /* answer in [lo - 1, hi) */
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (T->yard_z0[s][mid] <= z) lo = mid + 1; else hi = mid;
    }
    return lo > 0 ? T->yard_grass[s][lo - 1] : 0;
}
/* 1 where the raised terrain is grass (class nature) */
static inline int top_is_grass(const em_terrain *T, const float x[3]) {
    int s;
    float dx = beyond_kerb(T, x[0], &s);
    if (dx < T->verge_w[s]) return 1;
    if (dx < T->verge_w[s] + T->walk_w[s]) return 0;
    return yard_grass(T, s, x[2]);
}

static inline int terrain_class(const em_terrain *T, const float x[3]) {
    if (x[1] >= T->kerb_h - 1e-3f && x[0] < T->road_l - 1e-4f) return top_is_grass(T, x) ? EM_CLASS_NATURE : EM_CLASS_FLAT;
    if (x[1] >= T->kerb_h - 1e-3f && x[0] > T->road_r + 1e-4f) return top_is_grass(T, x) ? EM_CLASS_NATURE : EM_CLASS_FLAT;
    return EM_CLASS_FLAT;
}
int em_terrain_class(const em_terrain *T, const float x[3]) { return terrain_class(T, x); }

float em_terrain_surface_dist(const em_terrain *T, const float x[3]) {
    float d = BIG;
    if (x[0] >= T->road_l && x[0] <= T->road_r) d = fabsf(x[1]);                 /* road */
    else d = fabsf(x[1] - T->kerb_h);                                            /* raised side */
    if (x[1] >= 0.0f && x[1] <= T->kerb_h) {                                     /* kerb faces */
        float k = fabsf(x[0] - T->road_l) < fabsf(x[0] - T->road_r) ? fabsf(x[0] - T->road_l) : fabsf(x[0] - T->road_r);
        d = k < d ? k : d;
    }
    return d;
}

/* ---- the ego bonnet: a curved band at the bottom of the frame ---- */
int em_bonnet_at(const em_world *w, const em_camera *cam, int i, int j) {
    if (!w->bonnet) return 0;
    float u = ((float)i + 0.5f) / (float)cam->w * 2.0f - 1.0f;
    float top = (float)cam->h * (1.0f - w->bonnet_h * (1.0f - w->bonnet_curve * u * u));
    return (float)j + 0.5f >= top;
}

/* ---- scratch ---- */
/* per-primitive constants of one render: the camera and the sun direction in
 * the primitive's frame (boxes), or the quadratic's fixed terms */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
/* 1 when any lane of a comparison's mask is set (one movmskps on x86) */
static inline int any4(v4i m) {
#if defined(__SSE__)
    return _mm_movemask_ps((__m128)m) != 0;
#else
    return (m[0] | m[1] | m[2] | m[3]) != 0;
#endif
}
typedef struct {
    v4f sc, sh, sinv4, srot;  /* box shadow test: centre, half extents, sinv, (cs, sn); lane 3 neutral */
    float o[3];               /* camera origin: box local / cyl o - c / ellipsoid (o - c) / h */
    float f[3], r[3], u[3];   /* camera basis: box local, ellipsoid scaled by 1/h */
    float sl[3], sinv[3];     /* sun direction in the box frame and its inverse */
    float sa;                 /* cyl / ellipsoid: sun quadratic's a */
    float sq[3];              /* ellipsoid: sun direction / h */
    v4f g;                    /* x0, -x1, z0, -z1 of the bounding box's projection along the sun onto y = 0, padded
                               * by SG_PAD (x1, z1 negated: one vector comparison tests the four edges) */
} prim_fast;

typedef struct {
    float *t;          /* [h][w] nearest hit t */
    uint16_t *id;      /* [h][w] prim index or EM_ID_* */
    float *ca, *rb;    /* [w], [h] ray coefficients */
    float *lin;        /* [w][3] one row's linear colour before tone mapping */
    float *nt;         /* [NT][NT] noise table */
    float *noise;      /* [NOISE_TAB + 3 w] sensor noise */
    prim_fast *pf;     /* [EM_MAX_PRIMS] */
    int32_t *cell;     /* [SG_CELLS + 1] shadow grid: start of each cell's list */
    uint16_t *item;    /* [SG_ITEMS] prim ids */
} scratch;

#define SG_NX 100
#define SG_NZ 160
#define SG_CELLS (SG_NX * SG_NZ)
#define SG_ITEMS 65536
#define SG_X0 (-100.0f)
#define SG_Z0 (-60.0f)
#define SG_CELL 2.0f
#define NOISE_TAB 4096

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }
size_t em_render_scratch_bytes(int w, int h) {
    size_t n = (size_t)w * h;
    return al64(n * 4) + al64(n * 2) + al64((size_t)w * 4) + al64((size_t)h * 4) + al64((size_t)w * 12) + al64(NT * NT * 4) +
           al64(EM_MAX_PRIMS * sizeof(prim_fast)) + al64((SG_CELLS + 1) * 4) + al64(SG_ITEMS * 2) +
           al64((NOISE_TAB + 3 * (size_t)w) * 4) + 64;
}
static scratch carve(void *mem, int w, int h) {
    scratch s;
    char *p = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    size_t n = (size_t)w * h;
    s.t = (float *)p; p += al64(n * 4);
    s.id = (uint16_t *)p; p += al64(n * 2);
    s.ca = (float *)p; p += al64((size_t)w * 4);
    s.rb = (float *)p; p += al64((size_t)h * 4);
    s.lin = (float *)p; p += al64((size_t)w * 12);
    s.nt = (float *)p; p += al64(NT * NT * 4);
    s.pf = (prim_fast *)p; p += al64(EM_MAX_PRIMS * sizeof(prim_fast));
    s.cell = (int32_t *)p; p += al64((SG_CELLS + 1) * 4);
    s.item = (uint16_t *)p; p += al64(SG_ITEMS * 2);
    s.noise = (float *)p;
    return s;
}

/* ---- screen rectangle of a primitive's bounding box (near-plane clipped) ---- */
static int screen_rect(const em_camera *cam, const float bmin[3], const float bmax[3], int r[4], float *zmin) {
    float cz[8], sx[8], sy[8];
    for (int k = 0; k < 8; k++) {
        float P[3] = {k & 1 ? bmax[0] : bmin[0], k & 2 ? bmax[1] : bmin[1], k & 4 ? bmax[2] : bmin[2]};
        float v[3] = {P[0] - cam->pos[0], P[1] - cam->pos[1], P[2] - cam->pos[2]};
        cz[k] = v[0] * cam->fwd[0] + v[1] * cam->fwd[1] + v[2] * cam->fwd[2];
        sx[k] = v[0] * cam->right[0] + v[1] * cam->right[1] + v[2] * cam->right[2];
        sy[k] = v[0] * cam->up[0] + v[1] * cam->up[1] + v[2] * cam->up[2];
    }
    float x0 = BIG, x1 = -BIG, y0 = BIG, y1 = -BIG;
    int any = 0;
#define ADDPT(X, Y, Z) do { float px = cam->cx + cam->fx * (X) / (Z), py = cam->cy - cam->fy * (Y) / (Z); \
        x0 = px < x0 ? px : x0; x1 = px > x1 ? px : x1; y0 = py < y0 ? py : y0; y1 = py > y1 ? py : y1; any = 1; } while (0)
    float zm = BIG;
    for (int k = 0; k < 8; k++)
        if (cz[k] >= NEAR) { ADDPT(sx[k], sy[k], cz[k]); zm = cz[k] < zm ? cz[k] : zm; } else zm = NEAR;
    *zmin = zm;  /* no point of the box is nearer (depth along the optical axis) */
    /* edges crossing the near plane */
    for (int a = 0; a < 8; a++)
        for (int bit = 1; bit < 8; bit <<= 1) {
            int b = a | bit;
            if (b == a) continue;
            if ((cz[a] >= NEAR) == (cz[b] >= NEAR)) continue;
            float f = (NEAR - cz[a]) / (cz[b] - cz[a]);
            ADDPT(sx[a] + f * (sx[b] - sx[a]), sy[a] + f * (sy[b] - sy[a]), NEAR);
        }
#undef ADDPT
    if (!any) return 0;
    /* pixel i's centre is at i + 0.5; one pixel of margin for rounding */
    float fx0 = x0 - 1.5f, fx1 = x1 + 0.5f, fy0 = y0 - 1.5f, fy1 = y1 + 0.5f;
    if (fx1 < 0 || fy1 < 0 || fx0 > (float)cam->w || fy0 > (float)cam->h) return 0;
    r[0] = fx0 < 0 ? 0 : (int)fx0;
    r[1] = fx1 >= (float)(cam->w - 1) ? cam->w - 1 : (int)fx1;
    r[2] = fy0 < 0 ? 0 : (int)fy0;
    r[3] = fy1 >= (float)(cam->h - 1) ? cam->h - 1 : (int)fy1;
    return r[0] <= r[1] && r[2] <= r[3];
}

static void prim_setup(const em_prim *p, const em_camera *cam, const float *sun, prim_fast *f) {
    memset(f, 0, sizeof *f);
    if (p->kind == EM_PRIM_BOX) {
        to_local(p, cam->pos, f->o, 1);
        to_local(p, cam->fwd, f->f, 0);
        to_local(p, cam->right, f->r, 0);
        to_local(p, cam->up, f->u, 0);
        to_local(p, sun, f->sl, 0);
        for (int k = 0; k < 3; k++) {
            float v = f->sl[k];
            if (fabsf(v) < 1e-7f) v = v < 0 ? -1e-7f : 1e-7f;  /* no 0 * inf below */
            f->sinv[k] = 1.0f / v;
        }
        f->sc = (v4f){p->c[0], p->c[1], p->c[2], 0.0f};
        f->sh = (v4f){p->h[0], p->h[1], p->h[2], 1.0f};
        f->sinv4 = (v4f){f->sinv[0], f->sinv[1], f->sinv[2], 1e30f};  /* lane 3: -1e30 .. 1e30 */
        f->srot = (v4f){p->cs, p->sn, 0.0f, 0.0f};
    } else if (p->kind == EM_PRIM_CYL) {
        for (int k = 0; k < 3; k++) { f->o[k] = cam->pos[k] - p->c[k]; f->f[k] = cam->fwd[k]; f->r[k] = cam->right[k]; f->u[k] = cam->up[k]; }
        f->sa = sun[0] * sun[0] + sun[2] * sun[2];
    } else {
        for (int k = 0; k < 3; k++) {
            float ih = 1.0f / p->h[k];
            f->o[k] = (cam->pos[k] - p->c[k]) * ih;
            f->f[k] = cam->fwd[k] * ih; f->r[k] = cam->right[k] * ih; f->u[k] = cam->up[k] * ih;
            f->sq[k] = sun[k] * ih;
        }
        f->sa = f->sq[0] * f->sq[0] + f->sq[1] * f->sq[1] + f->sq[2] * f->sq[2];
    }
}

/* ---- rasterising one primitive into the z-buffer: branch-free inner loops
 * (the compiler vectorises them; IEEE results are the same either way) ---- */
static void raster_prim(const em_camera *cam, const em_prim *p, const prim_fast *F, uint16_t pid, scratch *S, const int r[4],
                        float zmin) {
    const int W = cam->w;
    for (int j = r[2]; j <= r[3]; j++) {
        float b = S->rb[j];
        float bx = F->f[0] - b * F->u[0], by = F->f[1] - b * F->u[1], bz = F->f[2] - b * F->u[2];
        float *trow = S->t + (size_t)j * W;
        uint16_t *irow = S->id + (size_t)j * W;
        /* occlusion: the row segment is already nearer than any point of the box
         * (primitives go front to back, so this skips most hidden rows) */
        int open = 0;
        for (int i = r[0]; i <= r[1] && !open; i++) open = trow[i] > zmin;
        if (!open) continue;
        const float *ca = S->ca;
        if (p->kind == EM_PRIM_BOX) {
            const float hx = p->h[0], hy = p->h[1], hz = p->h[2];
            const float ox = F->o[0], oy = F->o[1], oz = F->o[2], rx = F->r[0], ry = F->r[1], rz = F->r[2];
            for (int i = r[0]; i <= r[1]; i++) {
                float a = ca[i];
                float dx = bx + a * rx, dy = by + a * ry, dz = bz + a * rz;
                float ix = 1.0f / dx, iy = 1.0f / dy, iz = 1.0f / dz;
                float x1 = (-hx - ox) * ix, x2 = (hx - ox) * ix;
                float y1 = (-hy - oy) * iy, y2 = (hy - oy) * iy;
                float z1 = (-hz - oz) * iz, z2 = (hz - oz) * iz;
                float xn = x1 < x2 ? x1 : x2, xf = x1 < x2 ? x2 : x1;
                float yn = y1 < y2 ? y1 : y2, yf = y1 < y2 ? y2 : y1;
                float zn = z1 < z2 ? z1 : z2, zf = z1 < z2 ? z2 : z1;
                float tn = xn > yn ? xn : yn; tn = tn > zn ? tn : zn;
                float tf = xf < yf ? xf : yf; tf = tf < zf ? tf : zf;
                int hit = (tn <= tf) & (tn > NEAR) & (tn < trow[i]);
                trow[i] = hit ? tn : trow[i];
                irow[i] = hit ? pid : irow[i];
            }
        } else if (p->kind == EM_PRIM_CYL) {
            const float ox = F->o[0], oz = F->o[2], rr = p->h[0] * p->h[0], rx = F->r[0], ry = F->r[1], rz = F->r[2];
            const float ylo = p->c[1] - p->h[1] - cam->pos[1], yhi = p->c[1] + p->h[1] - cam->pos[1];
            for (int i = r[0]; i <= r[1]; i++) {
                float a = ca[i];
                float dx = bx + a * rx, dy = by + a * ry, dz = bz + a * rz;
                float qa = dx * dx + dz * dz;
                float tc = -(ox * dx + oz * dz) / qa;
                float px = ox + tc * dx, pz = oz + tc * dz;
                float disc = rr - (px * px + pz * pz);
                float sq = sqrtf((disc > 0.0f ? disc : 0.0f) / qa);
                float lo = tc - sq, hi = tc + sq;
                float iy = 1.0f / dy;
                float t1 = ylo * iy, t2 = yhi * iy;
                float yn = t1 < t2 ? t1 : t2, yf = t1 < t2 ? t2 : t1;
                float tn = lo > yn ? lo : yn, tf = hi < yf ? hi : yf;
                int hit = (disc >= 0.0f) & (tn <= tf) & (tn > NEAR) & (tn < trow[i]);
                trow[i] = hit ? tn : trow[i];
                irow[i] = hit ? pid : irow[i];
            }
        } else {
            const float ox = F->o[0], oy = F->o[1], oz = F->o[2], rx = F->r[0], ry = F->r[1], rz = F->r[2];
            for (int i = r[0]; i <= r[1]; i++) {
                float a = ca[i];
                float dx = bx + a * rx, dy = by + a * ry, dz = bz + a * rz;
                float qa = dx * dx + dy * dy + dz * dz;
                float tc = -(ox * dx + oy * dy + oz * dz) / qa;
                float px = ox + tc * dx, py = oy + tc * dy, pz = oz + tc * dz;
                float disc = 1.0f - (px * px + py * py + pz * pz);
                float sq = sqrtf((disc > 0.0f ? disc : 0.0f) / qa);
                float tn = tc - sq;
                int hit = (disc >= 0.0f) & (tn > NEAR) & (tn < trow[i]);
                trow[i] = hit ? tn : trow[i];
                irow[i] = hit ? pid : irow[i];
            }
        }
    }
}

/* the grid cell of ground coordinate g along one axis, clamped into the grid:
 * points beyond it share the edge cells, where primitives reaching past the
 * edge are listed too */
#define SG_PAD 0.01f
static inline int sg_index(float g, float g0, float inv_cs, int n) { return (int)sm_clamp(floorf((g - g0) * inv_cs), 0.0f, (float)(n - 1)); }

/* ---- shadow grid: every primitive listed in the ground cells that its
 * projection along the sun direction covers ---- */
static void shadow_grid(const em_world *w, scratch *S, float *cell_size) {
    const float *L = w->light.sun;
    float kx = L[0] / L[1], kz = L[2] / L[1];
    for (int q = 0; q < w->n_prims; q++) {
        const em_prim *p = &w->prims[q];
        float gx0 = BIG, gx1 = -BIG, gz0 = BIG, gz1 = -BIG;
        for (int k = 0; k < 8; k++) {
            float x = k & 1 ? p->bmax[0] : p->bmin[0], y = k & 2 ? p->bmax[1] : p->bmin[1], z = k & 4 ? p->bmax[2] : p->bmin[2];
            float gx = x - y * kx, gz = z - y * kz;
            gx0 = gx < gx0 ? gx : gx0; gx1 = gx > gx1 ? gx : gx1;
            gz0 = gz < gz0 ? gz : gz0; gz1 = gz > gz1 ? gz : gz1;
        }
        /* padded far beyond rounding, so that every true blocker passes the
         * footprint test; listed in cells by the query's own formula
         * (monotonic, and clamped into the grid as queries are) */
        S->pf[q].g = (v4f){gx0 - SG_PAD, -(gx1 + SG_PAD), gz0 - SG_PAD, -(gz1 + SG_PAD)};
    }
    for (float cs = SG_CELL;; cs *= 2.0f) {
        const int nx = (int)(SG_NX * SG_CELL / cs), nz = (int)(SG_NZ * SG_CELL / cs);
        const float inv = 1.0f / cs;
        int32_t *cell = S->cell;
        memset(cell, 0, (size_t)(nx * nz + 1) * sizeof *cell);
        /* count per cell, prefix sums (cell[c]: end of c's list), then fill
         * each list backwards, which leaves cell[c] at its start */
        long total = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int q = 0; q < w->n_prims; q++) {
                const v4f g = S->pf[q].g;
                int ix0 = sg_index(g[0], SG_X0, inv, nx), ix1 = sg_index(-g[1], SG_X0, inv, nx);
                int iz0 = sg_index(g[2], SG_Z0, inv, nz), iz1 = sg_index(-g[3], SG_Z0, inv, nz);
                for (int iz = iz0; iz <= iz1; iz++) {
                    int32_t *row = cell + iz * nx;
                    if (pass == 0) { for (int ix = ix0; ix <= ix1; ix++) row[ix]++; total += ix1 - ix0 + 1; }
                    else for (int ix = ix0; ix <= ix1; ix++) S->item[--row[ix]] = (uint16_t)q;
                }
            }
            if (pass == 0) {
                if (total > SG_ITEMS) break;
                for (int c = 1; c <= nx * nz; c++) cell[c] += cell[c - 1];
            }
        }
        if (total <= SG_ITEMS) { *cell_size = cs; return; }
    }
}

/* 1 when the ray from x towards the sun meets primitive p (exactly) */
static inline int blocks(const em_prim *p, const prim_fast *F, const float x[3], const float *L) {
    if (x[1] > p->bmax[1]) return 0;  /* the sun ray only climbs */
    if (p->kind == EM_PRIM_BOX) {
        /* the slabs of the three axes in one vector (lane 3: -1e30 .. 1e30);
         * each t is computed as to_local and the scalar slab test would, and
         * the answer only compares them, so it does not depend on the order
         * of the min / max */
        const v4f X = (v4f){x[0], x[1], x[2], 0.0f} - F->sc;  /* x - c */
        const float cs = F->srot[0], sn = F->srot[1];
        const v4f P = X * (v4f){cs, 1.0f, cs, 0.0f};         /* cs*x, y, cs*z */
        const v4f Q = (v4f){X[2], 0.0f, X[0], 0.0f} * (v4f){sn, 0.0f, -sn, 0.0f};
        const v4f ol = P - Q;                                  /* cs*x - sn*z, y, sn*x + cs*z */
        const v4f t1 = (-F->sh - ol) * F->sinv4, t2 = (F->sh - ol) * F->sinv4;
        const v4i lt = t1 < t2;                                /* -1 where t1 < t2 */
        const v4f n = (v4f)(((v4i)t1 & lt) | ((v4i)t2 & ~lt)), f = (v4f)(((v4i)t2 & lt) | ((v4i)t1 & ~lt));
        float n01 = n[0] > n[1] ? n[0] : n[1], n23 = n[2] > n[3] ? n[2] : n[3];
        float f01 = f[0] < f[1] ? f[0] : f[1], f23 = f[2] < f[3] ? f[2] : f[3];
        float tn = n01 > n23 ? n01 : n23, tf = f01 < f23 ? f01 : f23;
        return tn <= tf && tf > 0.02f;
    }
    if (p->kind == EM_PRIM_CYL) {
        float ex = x[0] - p->c[0], ez = x[2] - p->c[2];
        if (F->sa <= 0.0f) return 0;
        float tc = -(ex * L[0] + ez * L[2]) / F->sa;
        float px = ex + tc * L[0], pz = ez + tc * L[2];
        float disc = p->h[0] * p->h[0] - (px * px + pz * pz);
        if (disc < 0.0f) return 0;
        float sq = sqrtf(disc / F->sa);
        float lo = tc - sq, hi = tc + sq;
        float t1 = (p->c[1] - p->h[1] - x[1]) / L[1], t2 = (p->c[1] + p->h[1] - x[1]) / L[1];
        float tn = lo > t1 ? lo : t1, tf = hi < t2 ? hi : t2;
        return tn <= tf && tf > 0.02f;
    }
    float e[3];
    for (int k = 0; k < 3; k++) e[k] = (x[k] - p->c[k]) / p->h[k];
    float tc = -(e[0] * F->sq[0] + e[1] * F->sq[1] + e[2] * F->sq[2]) / F->sa;
    float px = e[0] + tc * F->sq[0], py = e[1] + tc * F->sq[1], pz = e[2] + tc * F->sq[2];
    float disc = 1.0f - (px * px + py * py + pz * pz);
    if (disc < 0.0f) return 0;
    float hi = tc + sqrtf(disc / F->sa);
    return hi > 0.02f;
}

/* 1 when the segment from x towards the sun is blocked by a primitive other than `self` */
typedef struct { float kx, kz, inv_cs; int nx, nz; } shadow_map;
static int in_shadow(const em_world *w, const scratch *S, const shadow_map *M, const float x[3], int self, int *last) {
    const float *L = w->light.sun;
    /* the last blocker first (most shadowed pixels are shadowed by the same
     * primitive as the previous pixel); every true blocker is in the cell's
     * list, so the answer is exact and does not depend on the order */
    if (*last >= 0 && *last != self && blocks(&w->prims[*last], &S->pf[*last], x, L)) return 1;
    float gx = x[0] - x[1] * M->kx, gz = x[2] - x[1] * M->kz;
    int c = sg_index(gz, SG_Z0, M->inv_cs, M->nz) * M->nx + sg_index(gx, SG_X0, M->inv_cs, M->nx);
    const v4f pt = {gx, -gx, gz, -gz};
    for (int k = S->cell[c]; k < S->cell[c + 1]; k++) {
        int q = S->item[k];
        if (any4(pt < S->pf[q].g) || q == self || q == *last) continue;  /* beyond one of the footprint's edges */
        if (blocks(&w->prims[q], &S->pf[q], x, L)) { *last = q; return 1; }
    }
    *last = -1;  /* lit: the next pixel most likely is too, and goes straight to its cell */
    return 0;
}

/* ---- materials ---- */
/* albedo and emission as vectors, lane 3 unused: written whole, never
 * lane by lane through memory (a vector load of three scalar stores stalls
 * on store forwarding) */
typedef struct { v4f alb, emit; } surf;
static inline v4f vec3(float a, float b, float c) { return (v4f){a, b, c, 0.0f}; }
static inline v4f load3(const float c[3]) { return vec3(c[0], c[1], c[2]); }
static inline v4f scale3(const float c[3], float k) { return load3(c) * k; }

static void glass(surf *s, const rctx *R, const float tint[3], float refl, float up_face) {
    const em_light *L = &R->w->light;
    s->alb = load3(tint);
    s->emit = refl * (scale3(L->sky_hor, 1.0f - up_face) + scale3(L->sky_zen, up_face));
}

static void mat_facade(surf *s, const rctx *R, const em_prim *p, const float l[3], int axis, int sgn, float dist) {
    const em_world *w = R->w;
    if (axis == 1) { s->alb = scale3(p->col, sgn > 0 ? 0.55f : 0.4f); return; }  /* roof */
    float u = (axis == 0 ? l[2] : l[0]) + p->h[axis == 0 ? 2 : 0] + (float)(p->salt & 255) * 0.01f;
    float v = l[1] + p->h[1];
    float fh = p->p[0], ws = p->p[1];
    int shop = (p->salt >> 8) & 1;
    float base = 0.92f + 0.16f * tnoise(R->nt, u * 0.25f, v * 0.25f, p->salt);
    s->alb = scale3(p->col, base);
    const float us = u * (1.0f / ws), vs = v * (1.0f / fh);  /* in window cells */
    float uf = us - floorf(us);
    if (v < fh * 1.15f) {
        /* ground floor: shop windows or doors */
        int bay = (int)floorf(us);
        if (shop && fabsf(uf - 0.5f) < 0.44f && v > 0.35f && v < fh * 0.95f) { glass(s, R, p->col2, 0.3f, 0.0f); return; }
        if (!shop && ((uint32_t)bay * 2654435761u ^ p->salt) % 5u == 0 && fabsf(uf - 0.5f) < 0.22f && v < 2.3f) {
            s->alb = load3(p->col) * (v4f){0.35f, 0.3f, 0.28f, 0.0f};
            return;
        }
        if (v < 0.5f) s->alb = scale3(p->col, 0.7f);  /* plinth */
        return;
    }
    float vf = vs - floorf(vs);
    if (vf < 0.06f) { s->alb = scale3(p->col, 0.8f); return; }  /* floor band */
    float wx = fabsf(uf - 0.5f), wy = fabsf(vf - 0.55f);
    float hw = 0.5f * p->p[2], hh = 0.5f * p->p[3];
    if (wx < hw && wy < hh) {
        if (wx > hw - 0.04f || wy > hh - 0.05f) { s->alb = scale3(p->col, 1.15f); return; }  /* frame */
        float cell = tcell(R->nt, us, vs, p->salt);
        if (w->light.lit_windows > 0 && cell < w->light.lit_windows) {
            s->alb = vec3(0.05f, 0.05f, 0.05f);
            s->emit = vec3(0.9f, 0.7f * (0.8f + 0.2f * cell), 0.35f);
            return;
        }
        glass(s, R, p->col2, 0.15f + 0.35f * cell, 0.0f);
        return;
    }
    (void)dist;
}

static void mat_terrain(surf *s, const rctx *R, int surf_kind, int grass, const float x[3], float dist) {
    const em_terrain *T = &R->w->ter;
    if (surf_kind == EM_SURF_KERB) { s->alb = scale3(T->kerb, 0.9f + 0.2f * tcell(R->nt, x[2] * 1.0f, 0, T->salt)); return; }
    float grain = dist < 25.0f ? (tcell(R->nt, x[0] * 9.0f, x[2] * 9.0f, T->salt) - 0.5f) * 0.25f * (1.0f - dist / 25.0f) : 0.0f;
    if (surf_kind == EM_SURF_ROAD) {
        float n = tnoise(R->nt, x[0] * 0.35f, x[2] * 0.35f, T->salt ^ 0x51u);
        s->alb = scale3(T->asphalt, 0.8f + 0.4f * n + grain);
        /* markings, in world coordinates */
        float lane_w = T->lane_w;
        float lw = 0.5f * T->lane_line_w;
        const float *paint = NULL;
        float period = T->dash_len + T->dash_gap;
        for (int k = 1; k < T->n_lanes; k++) {
            float lx = T->road_l + lane_w * (float)k;
            if (fabsf(x[0] - lx) < lw) {
                int centre = T->n_lanes > 1 && k == T->n_lanes / 2;
                int solid = centre && T->centre_solid;
                if (solid || sm_fmod(x[2] + lx * 3.0f, period) < T->dash_len) paint = centre && T->centre_yellow ? T->yellow : T->paint;
            }
        }
        if (T->edge_lines && (fabsf(x[0] - T->road_l - 0.35f) < lw || fabsf(x[0] - T->road_r + 0.35f) < lw)) paint = T->paint;
        if (T->zebra_z1 > T->zebra_z0 && x[2] > T->zebra_z0 && x[2] < T->zebra_z1 && x[0] - floorf(x[0]) < 0.5f &&
            x[0] > T->road_l + 0.4f && x[0] < T->road_r - 0.4f)
            paint = T->paint;
        if (paint) s->alb = scale3(paint, 0.75f + 0.35f * n);
        return;
    }
    int side;
    float dx = beyond_kerb(T, x[0], &side);
    if (grass) {
        float n = tnoise(R->nt, x[0] * 0.8f, x[2] * 0.8f, T->salt ^ 0x77u);
        s->alb = scale3(T->grass, 0.7f + 0.6f * n + grain);
        return;
    }
    if (dx < T->verge_w[side] + T->walk_w[side]) {
        float tl = T->walk_tile;
        const float xs = x[0] * (1.0f / tl), zs = x[2] * (1.0f / tl);
        float fx = xs - floorf(xs), fz = zs - floorf(zs);
        float slab = tcell(R->nt, xs, zs, T->salt);
        float k = (fx < 0.04f || fz < 0.04f) && dist < 30.0f ? 0.7f : 0.9f + 0.2f * slab;
        s->alb = scale3(T->walk, k + grain);
        return;
    }
    float n = tnoise(R->nt, x[0] * 0.5f, x[2] * 0.5f, T->salt ^ 0x99u);
    s->alb = scale3(T->walk2, 0.8f + 0.4f * n + grain);
}

/* shading of a primitive's hit point: albedo/emission and normal */
static void shade_prim(surf *s, const rctx *R, const em_prim *p, const float x[3], float n[3], float dist) {
    float l[3];
    int axis = 0, sgn = 1;
    if (p->kind == EM_PRIM_BOX) {
        to_local(p, x, l, 1);
        float best = -1;
        for (int k = 0; k < 3; k++) { float q = fabsf(l[k]) * p->ih[k]; if (q > best) { best = q; axis = k; } }
        sgn = (axis == 0 ? l[0] : axis == 1 ? l[1] : l[2]) > 0 ? 1 : -1;  /* l stays in registers */
        /* the local face normal to world: x = cs*lx + sn*lz, z = -sn*lx + cs*lz */
        const float fs = (float)sgn;
        n[0] = axis == 0 ? p->cs * fs : axis == 2 ? p->sn * fs : 0.0f;
        n[1] = axis == 1 ? fs : 0.0f;
        n[2] = axis == 0 ? -p->sn * fs : axis == 2 ? p->cs * fs : 0.0f;
    } else if (p->kind == EM_PRIM_CYL) {
        for (int k = 0; k < 3; k++) l[k] = x[k] - p->c[k];
        float rr = sqrtf(l[0] * l[0] + l[2] * l[2]);
        if (fabsf(l[1]) / p->h[1] > rr / p->h[0]) { n[0] = 0; n[1] = l[1] > 0 ? 1.0f : -1.0f; n[2] = 0; }
        else { float inv = rr > 0 ? 1.0f / rr : 0.0f; n[0] = l[0] * inv; n[1] = 0; n[2] = l[2] * inv; }
    } else {
        for (int k = 0; k < 3; k++) { l[k] = x[k] - p->c[k]; n[k] = l[k] / (p->h[k] * p->h[k]); }
        float m = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        for (int k = 0; k < 3; k++) n[k] /= m;
    }
    s->alb = s->emit = (v4f){0.0f, 0.0f, 0.0f, 0.0f};
    switch (p->mat) {
    case EM_MAT_FACADE: mat_facade(s, R, p, l, axis, sgn, dist); break;
    case EM_MAT_ROOFWALL: s->alb = scale3(p->col, 0.85f + 0.3f * tnoise(R->nt, x[0] + x[2], x[1] * 2.0f, p->salt)); break;
    case EM_MAT_FENCE: {
        float u = axis == 0 ? l[2] : l[0];
        float bar = sm_fmod(u, p->p[0]) / p->p[0];
        float v = l[1] + p->h[1];
        int rail = fabsf(v - 2.0f * p->h[1] + 0.08f) < 0.05f || fabsf(v - 0.35f) < 0.04f;
        s->alb = scale3(p->col, rail || bar < 0.5f ? 1.0f : 0.45f);
        break;
    }
    case EM_MAT_METAL: s->alb = scale3(p->col, 0.9f + 0.2f * tnoise(R->nt, x[1] * 3.0f, 0.0f, p->salt)); break;
    case EM_MAT_SIGN:
        if (axis == 2 && sgn < 0) {
            float bx = fabsf(l[0]) * p->ih[0], by = fabsf(l[1]) * p->ih[1];
            int border = bx > 0.85f || by > 0.85f;
            int sym = p->p[0] == 0 ? (bx < 0.55f && by < 0.15f) : p->p[0] == 1 ? (bx * bx + by * by < 0.25f) : (bx < 0.15f && by < 0.55f);
            s->alb = load3(border || sym ? p->col2 : p->col);
        } else s->alb = vec3(0.3f, 0.3f, 0.31f);
        break;
    case EM_MAT_TLIGHT: {
        s->alb = load3(p->col);
        if (axis == 2 && sgn < 0) {
            float v = l[1] / p->h[1];  /* -1 .. 1 */
            int k = v > 0.33f ? 0 : v > -0.33f ? 1 : 2;
            float cy = k == 0 ? 0.66f : k == 1 ? 0.0f : -0.66f;
            float dy = (v - cy) * p->h[1], dx = l[0];
            if (dx * dx + dy * dy < 0.1f * 0.1f) {
                if (k == (int)p->p[0]) {
                    static const float lamp[3][3] = {{1.6f, 0.15f, 0.08f}, {1.6f, 0.9f, 0.1f}, {0.2f, 1.5f, 0.6f}};
                    s->emit = load3(lamp[k]);
                }
                s->alb = vec3(0.02f, 0.02f, 0.02f);
            }
        }
        break;
    }
    case EM_MAT_BARK: s->alb = scale3(p->col, 0.75f + 0.5f * tnoise(R->nt, sm_fmod(x[0] * 7.0f + x[2] * 7.0f, 64.0f), x[1] * 1.5f, p->salt)); break;
    case EM_MAT_LEAVES: {
        float a = tnoise(R->nt, x[0] * 2.3f + x[2] * 0.7f, x[1] * 2.3f + x[2] * 1.9f, p->salt);
        float b = dist < 40.0f ? tcell(R->nt, x[0] * 6.0f + x[1] * 3.0f, x[2] * 6.0f - x[1] * 3.0f, p->salt ^ 0x5u) : 0.5f;
        float k = 0.6f * a + 0.4f * b;
        const v4f c2 = load3(p->col2);
        s->alb = c2 + (scale3(p->col, 1.3f) - c2) * k;  /* sm_lerp per lane */
        break;
    }
    case EM_MAT_CLOTH: s->alb = scale3(p->col, 0.9f + 0.2f * tnoise(R->nt, x[1] * 6.0f, x[0] + x[2], p->salt)); break;
    case EM_MAT_SKIN: {
        /* hair on the top and back of the head (p[0], p[1]: facing direction) */
        float front = (l[0] * p->p[1] + l[2] * p->p[0]) / p->h[2];
        int hair = l[1] > 0.25f * p->h[1] || front < -0.3f;
        s->alb = load3(hair ? p->col2 : p->col);
        break;
    }
    case EM_MAT_PAINT: {
        s->alb = load3(p->col);
        float v = (l[1] + p->h[1]) * 0.5f * p->ih[1];
        if (axis == 2) {
            /* front (+z local) and back: lights near the corners, bumper below */
            float ux = fabsf(l[0]) * p->ih[0];
            if (v < 0.25f) s->alb = scale3(p->col, 0.4f);
            else if (ux > 0.7f && (p->p[1] > 0 ? v > 0.22f && v < 0.36f : v > 0.45f && v < 0.65f)) {
                if (sgn > 0) { s->alb = vec3(0.7f, 0.7f, 0.65f); }
                else { s->alb = vec3(0.45f, 0.02f, 0.02f); s->emit = vec3(0.15f, 0.0f, 0.0f); }
            } else if (p->p[1] > 0 && v > 0.6f && sgn > 0) glass(s, R, p->col2, 0.35f, 0.2f);  /* van windscreen */
        } else if (axis == 0) {
            if (v < 0.12f) s->alb = scale3(p->col, 0.35f);
            else if (p->p[1] > 0 && v > 0.62f && v < 0.9f && l[2] > 0.2f * p->h[2]) glass(s, R, p->col2, 0.3f, 0.0f);
        }
        break;
    }
    case EM_MAT_CABIN: {
        float v = (l[1] + p->h[1]) * 0.5f * p->ih[1];
        if (axis == 1) { s->alb = load3(p->col); break; }
        if (v > 0.08f && v < 0.88f) {
            if (axis == 2 || fabsf(fabsf(l[2]) / p->h[2] - 0.05f) > 0.12f) { glass(s, R, p->col2, 0.35f, 0.3f); break; }
        }
        s->alb = load3(p->col);
        break;
    }
    case EM_MAT_TYRE: {
        s->alb = load3(p->col);
        if (axis == 0 && p->kind == EM_PRIM_BOX) {
            float dy = l[1], dz = l[2];
            float rim = 0.6f * p->p[0];
            if (dy * dy + dz * dz < rim * rim) s->alb = vec3(0.3f, 0.3f, 0.31f);
        }
        break;
    }
    case EM_MAT_BUSBODY: {
        float v = (l[1] + p->h[1]) * 0.5f * p->ih[1];
        s->alb = load3(p->col);
        if (axis == 1) break;
        if (axis == 0) {
            if (v > 0.45f && v < 0.88f && sm_fmod(l[2] + 50.0f, 1.3f) > 0.12f) glass(s, R, p->col2, 0.25f, 0.0f);
            else if (v > 0.25f && v < 0.35f) s->alb = load3(p->col2);
            else if (v < 0.08f) s->alb = scale3(p->col, 0.3f);
        } else if (v > (sgn > 0 ? 0.35f : 0.5f) && v < 0.92f && fabsf(l[0]) < 0.9f * p->h[0]) glass(s, R, p->col2, 0.35f, 0.2f);
        break;
    }
    default: s->alb = load3(p->col); break;
    }
}

/* ---- sky ---- */
static v4f sky_colour(const rctx *R, const float d[3]) {
    const em_world *w = R->w;
    const em_light *L = &w->light;
    float m = sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    float s = d[1] / m;
    float e = sm_clamp(s, 0.0f, 1.0f);
    float g = 1.0f - (1.0f - e) * (1.0f - e);
    g = g * g;
    const v4f hor = load3(L->sky_hor);
    v4f out = hor + (load3(L->sky_zen) - hor) * g;  /* sm_lerp per lane */
    float cosang = (d[0] * L->sun[0] + d[1] * L->sun[1] + d[2] * L->sun[2]) / m;
    if (L->shadows && cosang > 0.0f) {
        float c2 = cosang * cosang, c4 = c2 * c2, c8 = c4 * c4, c16 = c8 * c8;
        float glow = 0.25f * c8 + 0.8f * c16 * c16 * c16;
        out += glow * load3(L->sun_col) * 0.35f;
        if (cosang > 0.9996f) out = vec3(4.0f, 4.0f, 4.0f);
    }
    if (L->cloud_cover > 0 && s > 0.005f) {
        float u = d[0] / d[1] * 2.0f, v = d[2] / d[1] * 2.0f;
        u = sm_clamp(u, -4000.0f, 4000.0f); v = sm_clamp(v, -4000.0f, 4000.0f);
        float n = 0.65f * tnoise(R->nt, u * 0.6f, v * 0.6f, w->salt) + 0.35f * tnoise(R->nt, u * 1.9f + 7.0f, v * 1.9f, w->salt ^ 0x3u);
        float c = sm_clamp((n - (1.0f - L->cloud_cover)) * 3.0f, 0.0f, 1.0f);
        c *= sm_clamp(s * 8.0f, 0.0f, 1.0f);
        if (L->cloud_cover >= 1.0f) c = 0.5f + 0.5f * c;  /* overcast: a textured grey deck */
        float shade = 0.75f + 0.35f * n;
        out += (load3(L->cloud_col) * shade - out) * c;
    }
    return out;
}

/* ---- pass 1, terrain and sky: em_terrain_intersect, written branch-free
 * so that it vectorises (same IEEE operations, same results) ---- */
static void terrain_pass(const em_terrain *T, const em_camera *cam, scratch *S) {
    const int W = cam->w, H = cam->h;
    const float kh = T->kerb_h, rl = T->road_l, rr = T->road_r;
    const float o0 = cam->pos[0], o1 = cam->pos[1], rt0 = cam->right[0], rt1 = cam->right[1];
    const float *restrict ca = S->ca;
    for (int j = 0; j < H; j++) {
        const float b = S->rb[j];
        const float by = cam->fwd[1] - b * cam->up[1], bx = cam->fwd[0] - b * cam->up[0];
        float *restrict trow = S->t + (size_t)j * W;
        uint16_t *restrict irow = S->id + (size_t)j * W;
        for (int i = 0; i < W; i++) {
            float a = ca[i];
            float dx = bx + a * rt0, dy = by + a * rt1;
            float t_top = (kh - o1) / dy, x_top = o0 + t_top * dx;
            float t_road = -o1 / dy, x_road = o0 + t_road * dx;
            float xk = x_road < rl ? rl : rr;
            float t_kerb = (xk - o0) / dx;
            int top = (x_top < rl) | (x_top > rr);
            int road = (x_road >= rl) & (x_road <= rr);
            float t = top ? t_top : road ? t_road : t_kerb;
            int id = top ? EM_ID_TERRAIN + EM_SURF_TOP : road ? EM_ID_TERRAIN + EM_SURF_ROAD : EM_ID_TERRAIN + EM_SURF_KERB;
            int hit = (dy < 0.0f) & (t > NEAR);
            trow[i] = hit ? t : BIG;
            irow[i] = (uint16_t)(hit ? id : EM_ID_SKY);
        }
    }
}

/* ---- pass 4, each row as soon as it is shaded (the row's linear colour
 * stays in L1): exposure, soft shoulder, gamma 2 (sqrt), sensor noise, 8
 * bits.  The noise (uniform, sd noise_sd levels) comes from a per-render
 * table of NOISE_TAB hashed values read from a hashed offset per row, so the
 * row loop is plain arithmetic that vectorises. ---- */
static void noise_table(const em_light *L, uint32_t key, int W, float *restrict noise) {
    const float amp = L->noise_sd * 3.4641016f;
    for (int k = 0; k < NOISE_TAB + 3 * W; k++) noise[k] = (sm_u01(sm_hash32((uint32_t)k * 0x9e3779b9u ^ key)) - 0.5f) * amp + 0.5f;
}
static void tone_row(float ex, uint32_t key, int W, int j, const float *restrict lin, const float *restrict noise,
                     uint8_t *restrict out) {
    const float *nz = noise + (sm_hash32((uint32_t)j ^ key) & (NOISE_TAB - 1));
    for (int m = 0; m < 3 * W; m++) {
        float v = lin[m] * ex;
        v = v > 0.0f ? v : 0.0f;
        float g = sqrtf(v / (1.0f + 0.15f * v)) * 255.0f + nz[m];
        g = g > 0.0f ? g : 0.0f;
        g = g < 255.0f ? g : 255.0f;
        out[m] = (uint8_t)(int)g;
    }
}

SIMD_CLONES __attribute__((flatten))
static void render(const em_world *w, const em_camera *cam, void *mem, uint64_t noise_key,
                   uint8_t *rgb, int8_t *label, float *depth, uint16_t *id_out) {
    const int W = cam->w, H = cam->h;
    scratch S = carve(mem, W, H);
    const float *o = cam->pos;
    const em_light *L = &w->light;
    for (int i = 0; i < W; i++) S.ca[i] = ((float)i + 0.5f - cam->cx) / cam->fx;
    for (int j = 0; j < H; j++) S.rb[j] = ((float)j + 0.5f - cam->cy) / cam->fy;

    /* 1. terrain and sky */
    terrain_pass(&w->ter, cam, &S);
    /* 2. primitives, front to back by their nearest depth (ties by index) */
    {
        int n = w->n_prims;
        uint16_t order[EM_MAX_PRIMS];
        float zmin[EM_MAX_PRIMS];
        int rect[EM_MAX_PRIMS][4];
        int m = 0;
        for (int q = 0; q < n; q++) {
            prim_setup(&w->prims[q], cam, L->sun, &S.pf[q]);
            if (!screen_rect(cam, w->prims[q].bmin, w->prims[q].bmax, rect[q], &zmin[q])) continue;
            /* insertion into the sorted order */
            int k = m++;
            while (k > 0 && zmin[order[k - 1]] > zmin[q]) { order[k] = order[k - 1]; k--; }
            order[k] = (uint16_t)q;
        }
        for (int k = 0; k < m; k++) {
            int q = order[k];
            raster_prim(cam, &w->prims[q], &S.pf[q], (uint16_t)q, &S, rect[q], zmin[q]);
        }
    }
    /* 3. labels, depth, and shading into linear colour */
    float cell_size = SG_CELL;
    int shadows = L->shadows && rgb;
    if (shadows) shadow_grid(w, &S, &cell_size);
    shadow_map M = {L->sun[0] / L->sun[1], L->sun[2] / L->sun[1], 1.0f / cell_size,
                    (int)(SG_NX * SG_CELL / cell_size), (int)(SG_NZ * SG_CELL / cell_size)};
    /* first bonnet row of each column (H: none), consistent with em_bonnet_at */
    int btop[W];
    for (int i = 0; i < W; i++) {
        int j = H;
        if (w->bonnet) {
            float u = ((float)i + 0.5f) / (float)W * 2.0f - 1.0f;
            j = (int)sm_clamp(ceilf((float)H * (1.0f - w->bonnet_h * (1.0f - w->bonnet_curve * u * u)) - 0.5f), 0.0f, (float)H);
            while (j > 0 && em_bonnet_at(w, cam, i, j - 1)) j--;
            while (j < H && !em_bonnet_at(w, cam, i, j)) j++;
        }
        btop[i] = j;
    }
    const uint32_t noise_key32 = (uint32_t)(noise_key ^ (noise_key >> 32));
    if (rgb) {
        noise_table(L, noise_key32, W, S.noise);
        uint32_t salt = w->salt;
        for (int k = 0; k < NT * NT; k++) S.nt[k] = sm_u01(sm_hash32((uint32_t)k * 0x9e3779b9u ^ salt));
    }
    /* haze 1 - exp(-dist * density) from a table over 0..FOG_MAX m, linear in between */
    float fog_tab[FOG_N + 2];
    for (int k = 0; k <= FOG_N + 1; k++) fog_tab[k] = 1.0f - sm_exp(-(float)k * (FOG_MAX / FOG_N) * L->haze_density);
    rctx R = {w, S.nt};
    int last_blocker = -1;
    /* loop invariants in locals: the stores to label (a char type) and to
     * the colour buffer would otherwise make the compiler reload them */
    const float fw0 = cam->fwd[0], fw1 = cam->fwd[1], fw2 = cam->fwd[2];
    const float up0 = cam->up[0], up1 = cam->up[1], up2 = cam->up[2];
    const float rt0 = cam->right[0], rt1 = cam->right[1], rt2 = cam->right[2];
    const float o0 = o[0], o1 = o[1], o2 = o[2];
    const float sun0 = L->sun[0], sun1 = L->sun[1], sun2 = L->sun[2];
    const v4f amb4 = load3(L->amb_col), sunc4 = load3(L->sun_col), haze4 = load3(L->haze_col);
    const float kerb_mid = 0.5f * (w->ter.road_l + w->ter.road_r);
    const em_prim *prims = w->prims;
    const float *ca = S.ca;
    const uint16_t *ids = S.id;
    const float *ts = S.t;
    float *lin = S.lin;
    for (int j = 0; j < H; j++) {
        const float rbj = S.rb[j];
        const float b0 = fw0 - rbj * up0, b1 = fw1 - rbj * up1, b2 = fw2 - rbj * up2;
        for (int i = 0; i < W; i++) {
            size_t q = (size_t)j * W + i;
            uint16_t id = ids[q];
            if (j >= btop[i]) id = EM_ID_BONNET;
            if (id_out) id_out[q] = id;
            float d[3], x[3], t = ts[q];
            const float a = ca[i];
            d[0] = b0 + a * rt0; d[1] = b1 + a * rt1; d[2] = b2 + a * rt2;
            x[0] = o0 + t * d[0]; x[1] = o1 + t * d[1]; x[2] = o2 + t * d[2];
            int cls = id == EM_ID_SKY ? EM_CLASS_SKY : id == EM_ID_BONNET ? EM_CLASS_IGNORE
                    : id == EM_ID_TERRAIN + EM_SURF_TOP ? terrain_class(&w->ter, x)  /* road, kerb: flat */
                    : id >= EM_ID_TERRAIN ? EM_CLASS_FLAT : prims[id].cls;
            if (label) label[q] = (int8_t)cls;
            if (depth) depth[q] = id == EM_ID_SKY || id == EM_ID_BONNET ? 0.0f : t;
            if (!rgb) continue;
            v4f cv;  /* linear colour, stored once */
            if (id == EM_ID_SKY) cv = sky_colour(&R, d);
            else if (id == EM_ID_BONNET) {
                /* paint reflecting the sky: brighter towards the top edge */
                float v = (float)j / (float)H;
                cv = load3(w->bonnet_col) * (0.5f + amb4 * 0.4f) + scale3(L->sky_hor, 0.25f) * (1.0f - v);
            } else {
                float dist = t * sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                surf s;
                float n[3];
                int self = -1;
                if (id >= EM_ID_TERRAIN) {
                    s.alb = s.emit = (v4f){0.0f, 0.0f, 0.0f, 0.0f};
                    mat_terrain(&s, &R, id - EM_ID_TERRAIN, cls == EM_CLASS_NATURE, x, dist);
                    if (id - EM_ID_TERRAIN == EM_SURF_KERB) { n[0] = x[0] < kerb_mid ? 1.0f : -1.0f; n[1] = 0; n[2] = 0; }
                    else { n[0] = 0; n[1] = 1; n[2] = 0; }
                } else {
                    shade_prim(&s, &R, &prims[id], x, n, dist);
                    self = id;
                }
                float ndl = n[0] * sun0 + n[1] * sun1 + n[2] * sun2;
                float sun = ndl > 0 && shadows && !in_shadow(w, &S, &M, x, self, &last_blocker) ? ndl : 0.0f;
                float amb = 0.6f + 0.4f * n[1];
                float fp = sm_clamp(dist, 0.0f, FOG_MAX) * (FOG_N / FOG_MAX);
                int fi = (int)fp;
                float fog = sm_lerp(fog_tab[fi], fog_tab[fi + 1], fp - (float)fi);
                /* the three channels in one vector, each as sm_lerp(v, haze, fog) */
                const v4f v = s.alb * (amb4 * amb + sunc4 * sun) + s.emit;
                cv = v + (haze4 - v) * fog;
            }
            float *c = lin + 3 * i;
            c[0] = cv[0]; c[1] = cv[1]; c[2] = cv[2];
        }
        if (rgb) tone_row(L->exposure, noise_key32, W, j, lin, S.noise, rgb + (size_t)j * 3 * W);
    }
}

void em_world_render(const em_world *w, const em_camera *cam, void *mem, uint64_t noise_key,
                     uint8_t *rgb, int8_t *label, float *depth, uint16_t *id_out) {
    render(w, cam, mem, noise_key, rgb, label, depth, id_out);
}
