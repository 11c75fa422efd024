/* Street worlds: everything a scene holds, drawn from one per-scene RNG
 * (docs/scenes.md lists the ranges).  No allocation; the world has a fixed
 * capacity of EM_MAX_PRIMS primitives and stops adding objects when full. */
#include <stddef.h>
#include <string.h>
#include "scenes/scene.h"
#include "scenes/smath.h"

/* ---- colour palettes (linear albedo) ----
 * Deliberately overlapping between classes: grey cars and grey buildings,
 * green vans and green hedges, blue signs and blue glass, ... */
static const float FACADE_COLS[][3] = {
    {0.55f, 0.52f, 0.47f}, {0.42f, 0.40f, 0.38f}, {0.30f, 0.30f, 0.31f}, {0.62f, 0.60f, 0.56f},
    {0.45f, 0.25f, 0.17f}, {0.35f, 0.18f, 0.12f}, {0.60f, 0.50f, 0.35f}, {0.70f, 0.66f, 0.58f},
    {0.20f, 0.24f, 0.28f}, {0.25f, 0.32f, 0.40f}, {0.50f, 0.45f, 0.30f}, {0.35f, 0.40f, 0.30f},
    {0.65f, 0.55f, 0.50f}, {0.18f, 0.18f, 0.18f}, {0.48f, 0.50f, 0.52f}, {0.55f, 0.40f, 0.30f},
    {0.30f, 0.38f, 0.28f}, {0.60f, 0.62f, 0.66f}, {0.12f, 0.14f, 0.18f}, {0.72f, 0.70f, 0.66f},
};
static const float CAR_COLS[][3] = {
    {0.70f, 0.70f, 0.70f}, {0.45f, 0.45f, 0.46f}, {0.20f, 0.20f, 0.21f}, {0.03f, 0.03f, 0.035f},
    {0.05f, 0.08f, 0.22f}, {0.50f, 0.04f, 0.04f}, {0.08f, 0.25f, 0.10f}, {0.75f, 0.60f, 0.10f},
    {0.45f, 0.40f, 0.32f}, {0.25f, 0.15f, 0.08f}, {0.70f, 0.30f, 0.05f}, {0.30f, 0.35f, 0.40f},
    {0.12f, 0.12f, 0.13f}, {0.60f, 0.62f, 0.65f}, {0.15f, 0.30f, 0.45f}, {0.35f, 0.42f, 0.25f},
};
static const float CLOTH_COLS[][3] = {
    {0.03f, 0.03f, 0.03f}, {0.08f, 0.08f, 0.10f}, {0.05f, 0.07f, 0.18f}, {0.25f, 0.25f, 0.26f},
    {0.50f, 0.50f, 0.50f}, {0.70f, 0.68f, 0.65f}, {0.45f, 0.05f, 0.05f}, {0.10f, 0.22f, 0.10f},
    {0.35f, 0.28f, 0.18f}, {0.15f, 0.20f, 0.35f}, {0.60f, 0.45f, 0.25f}, {0.55f, 0.20f, 0.35f},
    {0.75f, 0.65f, 0.15f}, {0.20f, 0.35f, 0.45f}, {0.30f, 0.30f, 0.20f}, {0.12f, 0.10f, 0.08f},
};
static const float SKIN_COLS[][3] = {
    {0.60f, 0.42f, 0.33f}, {0.45f, 0.30f, 0.22f}, {0.30f, 0.18f, 0.12f}, {0.15f, 0.09f, 0.06f}, {0.68f, 0.50f, 0.40f},
};
static const float HAIR_COLS[][3] = {
    {0.02f, 0.015f, 0.01f}, {0.12f, 0.07f, 0.03f}, {0.35f, 0.25f, 0.12f}, {0.45f, 0.45f, 0.45f}, {0.25f, 0.10f, 0.04f},
};
static const float LEAF_COLS[][3] = {
    {0.06f, 0.14f, 0.04f}, {0.10f, 0.20f, 0.05f}, {0.05f, 0.10f, 0.05f}, {0.14f, 0.22f, 0.08f},
    {0.30f, 0.25f, 0.06f}, {0.35f, 0.15f, 0.05f}, {0.08f, 0.16f, 0.10f}, {0.18f, 0.18f, 0.10f},
};
static const float METAL_COLS[][3] = {
    {0.35f, 0.36f, 0.37f}, {0.05f, 0.05f, 0.05f}, {0.06f, 0.15f, 0.08f}, {0.55f, 0.56f, 0.57f}, {0.20f, 0.20f, 0.22f},
};
static const float SIGN_COLS[][3] = {
    {0.05f, 0.15f, 0.55f}, {0.60f, 0.04f, 0.04f}, {0.80f, 0.80f, 0.78f}, {0.80f, 0.62f, 0.05f}, {0.05f, 0.35f, 0.12f},
};
#define NCOLS(a) ((int)(sizeof a / sizeof a[0]))

static void pick(sm_rng *r, const float (*tab)[3], int n, float jitter, float out[3]) {
    const float *c = tab[sm_int(r, 0, n - 1)];
    float g = 1.0f + jitter * (2.0f * sm_rand(r) - 1.0f);
    for (int k = 0; k < 3; k++) out[k] = sm_clamp(c[k] * g * (1.0f + 0.5f * jitter * (2.0f * sm_rand(r) - 1.0f)), 0.0f, 0.9f);
}
static void set3(float o[3], float a, float b, float c) { o[0] = a; o[1] = b; o[2] = c; }

/* ---- adding primitives ---- */
static void prim_bounds(em_prim *p) {
    for (int k = 0; k < 3; k++) p->ih[k] = 1.0f / p->h[k];
    if (p->kind == EM_PRIM_BOX) {
        float ex = fabsf(p->cs) * p->h[0] + fabsf(p->sn) * p->h[2];
        float ez = fabsf(p->sn) * p->h[0] + fabsf(p->cs) * p->h[2];
        set3(p->bmin, p->c[0] - ex, p->c[1] - p->h[1], p->c[2] - ez);
        set3(p->bmax, p->c[0] + ex, p->c[1] + p->h[1], p->c[2] + ez);
    } else {
        for (int k = 0; k < 3; k++) { p->bmin[k] = p->c[k] - p->h[k]; p->bmax[k] = p->c[k] + p->h[k]; }
        if (p->kind == EM_PRIM_CYL) { p->bmin[2] = p->c[2] - p->h[0]; p->bmax[2] = p->c[2] + p->h[0]; }
    }
}

typedef struct {
    em_world *w;
    sm_rng *r;
    float cam[3];
    /* footprints (x-z AABBs) of placed movable objects, to avoid overlaps */
    int n_foot;
    float foot[256][4];
} builder;

static em_prim *add(builder *b, int kind, int cls, int mat, float cx, float cy, float cz, float hx, float hy, float hz,
                    float yaw_cs, float yaw_sn) {
    em_world *w = b->w;
    if (w->n_prims >= EM_MAX_PRIMS) return NULL;
    em_prim *p = &w->prims[w->n_prims];
    memset(p, 0, sizeof *p);
    p->kind = (uint8_t)kind; p->cls = (int8_t)cls; p->mat = (uint8_t)mat;
    set3(p->c, cx, cy, cz); set3(p->h, hx, hy, hz);
    p->cs = yaw_cs; p->sn = yaw_sn;
    p->salt = sm_next(b->r);
    prim_bounds(p);
    /* never put the camera inside (or within 0.4 m of) a solid */
    for (int k = 0; k < 3; k++)
        if (b->cam[k] < p->bmin[k] - 0.4f || b->cam[k] > p->bmax[k] + 0.4f) { w->n_prims++; return p; }
    return NULL;
}
static em_prim *add_box(builder *b, int cls, int mat, float x0, float x1, float y0, float y1, float z0, float z1) {
    return add(b, EM_PRIM_BOX, cls, mat, 0.5f * (x0 + x1), 0.5f * (y0 + y1), 0.5f * (z0 + z1), 0.5f * (x1 - x0),
               0.5f * (y1 - y0), 0.5f * (z1 - z0), 1.0f, 0.0f);
}

/* box in an object's frame: local centre (lx, ly, lz) relative to the object's
 * origin (ox, oz) on the ground, yawed with the object */
static em_prim *add_part(builder *b, int cls, int mat, float ox, float oy, float oz, float cs, float sn, float lx, float ly,
                         float lz, float hx, float hy, float hz) {
    float wx = ox + cs * lx + sn * lz, wz = oz - sn * lx + cs * lz;
    return add(b, EM_PRIM_BOX, cls, mat, wx, oy + ly, wz, hx, hy, hz, cs, sn);
}

static int foot_free(builder *b, float x0, float x1, float z0, float z1) {
    if (b->cam[0] > x0 - 0.8f && b->cam[0] < x1 + 0.8f && b->cam[2] > z0 - 2.0f && b->cam[2] < z1 + 1.0f) return 0;
    for (int i = 0; i < b->n_foot; i++) {
        const float *f = b->foot[i];
        if (x0 < f[1] && x1 > f[0] && z0 < f[3] && z1 > f[2]) return 0;
    }
    return 1;
}
static void foot_add(builder *b, float x0, float x1, float z0, float z1) {
    if (b->n_foot < 256) { float *f = b->foot[b->n_foot++]; f[0] = x0; f[1] = x1; f[2] = z0; f[3] = z1; }
}

/* ---- objects ---- */
static void facade_params(builder *b, em_prim *p, float style) {
    sm_rng *r = b->r;
    if (!p) return;
    pick(r, FACADE_COLS, NCOLS(FACADE_COLS), 0.15f, p->col);
    set3(p->col2, sm_unif(r, 0.02f, 0.08f), sm_unif(r, 0.03f, 0.09f), sm_unif(r, 0.04f, 0.12f));
    p->p[0] = sm_unif(r, 2.8f, 3.8f);                 /* floor height */
    p->p[1] = sm_unif(r, 1.8f, 4.2f);                 /* window spacing */
    p->p[2] = sm_unif(r, 0.30f, 0.75f) + 0.1f * style; /* window width fraction */
    p->p[3] = sm_unif(r, 0.35f, 0.70f);               /* window height fraction */
    if (p->p[2] > 0.9f) p->p[2] = 0.9f;
}

static void building(builder *b, int side, float xf, float depth, float z0, float z1, float height, float style) {
    float sg = side ? 1.0f : -1.0f;
    float xa = sg * xf, xb = sg * (xf + depth);
    em_prim *p = add_box(b, EM_CLASS_CONSTRUCTION, EM_MAT_FACADE, xa < xb ? xa : xb, xa < xb ? xb : xa, 0.0f, height, z0, z1);
    facade_params(b, p, style);
    /* a roof structure or a setback top storey on some */
    if (p && height > 8.0f && sm_chance(b->r, 0.3f)) {
        float ins = sm_unif(b->r, 1.0f, 3.0f), hh = sm_unif(b->r, 2.5f, 4.0f);
        float xi0 = (xa < xb ? xa : xb) + ins, xi1 = (xa < xb ? xb : xa) - ins;
        if (xi1 - xi0 > 2.0f && z1 - z0 - 2 * ins > 2.0f) {
            em_prim *q = add_box(b, EM_CLASS_CONSTRUCTION, EM_MAT_FACADE, xi0, xi1, height, height + hh, z0 + ins, z1 - ins);
            if (q) { memcpy(q->col, p->col, sizeof q->col); memcpy(q->col2, p->col2, sizeof q->col2); memcpy(q->p, p->p, sizeof q->p); }
        }
    }
}

static void tree(builder *b, float x, float z, float ground, float scale, const float leaf[3]) {
    sm_rng *r = b->r;
    float trunk_h = sm_unif(r, 1.8f, 3.5f) * scale, tr = sm_unif(r, 0.10f, 0.25f) * scale;
    em_prim *t = add(b, EM_PRIM_CYL, EM_CLASS_NATURE, EM_MAT_BARK, x, ground + 0.5f * (trunk_h + 1.0f), z, tr,
                     0.5f * (trunk_h + 1.0f), tr, 1, 0);
    if (t) set3(t->col, sm_unif(r, 0.08f, 0.18f), sm_unif(r, 0.06f, 0.12f), sm_unif(r, 0.04f, 0.08f));
    float rx = sm_unif(r, 1.4f, 3.5f) * scale, ry = sm_unif(r, 1.4f, 3.8f) * scale;
    float cy = ground + trunk_h + 0.6f * ry;
    int n = sm_int(r, 1, 3);
    for (int k = 0; k < n; k++) {
        float f = k ? sm_unif(r, 0.5f, 0.8f) : 1.0f;
        float dx = k ? sm_unif(r, -0.6f, 0.6f) * rx : 0, dz = k ? sm_unif(r, -0.6f, 0.6f) * rx : 0;
        float dy = k ? sm_unif(r, -0.2f, 0.5f) * ry : 0;
        em_prim *c = add(b, EM_PRIM_ELLIPSOID, EM_CLASS_NATURE, EM_MAT_LEAVES, x + dx, cy + dy, z + dz, rx * f,
                         ry * f, rx * f * sm_unif(r, 0.85f, 1.15f), 1, 0);
        if (c) {
            for (int q = 0; q < 3; q++) c->col[q] = leaf[q] * sm_unif(r, 0.8f, 1.2f);
            set3(c->col2, c->col[0] * 0.4f, c->col[1] * 0.45f, c->col[2] * 0.4f);
        }
    }
}

static void pole(builder *b, float x, float z, float ground, float height, float radius, const float col[3]) {
    em_prim *p = add(b, EM_PRIM_CYL, EM_CLASS_OBJECT, EM_MAT_METAL, x, ground + 0.5f * height, z, radius, 0.5f * height, radius, 1, 0);
    if (p) memcpy(p->col, col, 3 * sizeof(float));
}

static void street_lamp(builder *b, int side, float x, float z, float ground) {
    sm_rng *r = b->r;
    float col[3];
    pick(r, METAL_COLS, NCOLS(METAL_COLS), 0.1f, col);
    float h = sm_unif(r, 5.0f, 9.0f), rad = sm_unif(r, 0.07f, 0.14f);
    pole(b, x, z, ground, h, rad, col);
    float arm = sm_unif(r, 0.8f, 2.5f), dir = side ? -1.0f : 1.0f;
    em_prim *a = add_box(b, EM_CLASS_OBJECT, EM_MAT_METAL, dir > 0 ? x : x - arm, dir > 0 ? x + arm : x, ground + h - 0.12f,
                         ground + h, z - 0.05f, z + 0.05f);
    if (a) memcpy(a->col, col, sizeof a->col);
    float lx = x + dir * arm;
    em_prim *l = add_box(b, EM_CLASS_OBJECT, EM_MAT_METAL, lx - 0.35f, lx + 0.35f, ground + h - 0.3f, ground + h - 0.05f, z - 0.18f, z + 0.18f);
    if (l) memcpy(l->col, col, sizeof l->col);
}

static void sign(builder *b, float x, float z, float ground) {
    sm_rng *r = b->r;
    float col[3];
    pick(r, METAL_COLS, NCOLS(METAL_COLS), 0.1f, col);
    float h = sm_unif(r, 2.0f, 3.0f);
    pole(b, x, z, ground, h, 0.04f, col);
    float hw = sm_unif(r, 0.25f, 0.5f), hh = sm_chance(r, 0.3f) ? sm_unif(r, 0.35f, 0.7f) : hw;
    float yaw = sm_chance(r, 0.75f) ? sm_unif(r, -0.3f, 0.3f) : sm_unif(r, 1.2f, 1.9f);
    em_prim *s = add(b, EM_PRIM_BOX, EM_CLASS_OBJECT, EM_MAT_SIGN, x, ground + h + hh - 0.1f, z - 0.06f, hw, hh, 0.02f,
                     sm_cos(yaw), sm_sin(yaw));
    if (s) {
        pick(r, SIGN_COLS, NCOLS(SIGN_COLS), 0.1f, s->col);
        pick(r, SIGN_COLS, NCOLS(SIGN_COLS), 0.1f, s->col2);
        s->p[0] = (float)sm_int(r, 0, 2); /* symbol */
    }
}

static void traffic_light(builder *b, int side, float x, float z, float ground) {
    sm_rng *r = b->r;
    float col[3];
    pick(r, METAL_COLS, NCOLS(METAL_COLS), 0.1f, col);
    float h = sm_unif(r, 2.8f, 4.2f);
    pole(b, x, z, ground, h, sm_unif(r, 0.06f, 0.1f), col);
    int overhang = sm_chance(r, 0.35f);
    float hx = x;
    if (overhang) {
        float arm = sm_unif(r, 2.5f, 5.0f), dir = side ? -1.0f : 1.0f;
        em_prim *a = add_box(b, EM_CLASS_OBJECT, EM_MAT_METAL, dir > 0 ? x : x - arm, dir > 0 ? x + arm : x,
                             ground + h + 1.2f, ground + h + 1.35f, z - 0.06f, z + 0.06f);
        if (a) memcpy(a->col, col, sizeof a->col);
        pole(b, x, z, ground + h, 1.4f, 0.08f, col);
        hx = x + dir * arm;
    }
    float by = overhang ? ground + h + 0.2f : ground + h;
    em_prim *l = add_box(b, EM_CLASS_OBJECT, EM_MAT_TLIGHT, hx - 0.16f, hx + 0.16f, by, by + 0.95f, z - 0.3f, z - 0.08f);
    if (l) {
        set3(l->col, 0.03f, 0.03f, 0.03f);
        if (sm_chance(r, 0.3f)) set3(l->col, 0.35f, 0.30f, 0.05f);
        l->p[0] = (float)sm_int(r, 0, 2);
    }
}

/* one pedestrian (or a rider's body when `ride` > 0: legs bent, seated) */
static void person(builder *b, float x, float z, float ground, float yaw, float height, float ride) {
    sm_rng *r = b->r;
    float cs = sm_cos(yaw), sn = sm_sin(yaw);
    float top[3], bot[3], skin[3], hair[3];
    pick(r, CLOTH_COLS, NCOLS(CLOTH_COLS), 0.2f, top);
    pick(r, CLOTH_COLS, NCOLS(CLOTH_COLS), 0.2f, bot);
    pick(r, SKIN_COLS, NCOLS(SKIN_COLS), 0.1f, skin);
    pick(r, HAIR_COLS, NCOLS(HAIR_COLS), 0.1f, hair);
    float H = height, stride = ride > 0 ? 0.0f : sm_unif(r, 0.0f, 0.16f) * H / 1.7f;
    float leg_h = 0.47f * H, hip = ride > 0 ? ride : leg_h;
    em_prim *p;
    for (int s = -1; s <= 1; s += 2) {
        float lz = (float)s * stride;
        if (ride > 0) /* thigh forward, shin down to the pedal */
            p = add_part(b, EM_CLASS_HUMAN, EM_MAT_CLOTH, x, ground, z, cs, sn, 0.1f * (float)s, 0.5f * hip, 0.12f, 0.065f, 0.5f * hip, 0.08f);
        else
            p = add_part(b, EM_CLASS_HUMAN, EM_MAT_CLOTH, x, ground, z, cs, sn, 0.09f * (float)s * H / 1.7f, 0.5f * leg_h, lz,
                         0.065f * H / 1.7f, 0.5f * leg_h, 0.08f * H / 1.7f);
        if (p) memcpy(p->col, bot, sizeof p->col);
    }
    float t0 = hip, t1 = hip + 0.35f * H;
    float sw = sm_unif(r, 0.17f, 0.23f) * H / 1.7f;
    p = add_part(b, EM_CLASS_HUMAN, EM_MAT_CLOTH, x, ground, z, cs, sn, 0, 0.5f * (t0 + t1), 0, sw, 0.5f * (t1 - t0), 0.12f * H / 1.7f);
    if (p) { memcpy(p->col, top, sizeof p->col); p->p[0] = 1; }
    int bare_arms = sm_chance(r, 0.3f);
    for (int s = -1; s <= 1; s += 2) {
        float swing = ride > 0 ? 0.25f : -(float)s * stride * 0.8f;
        p = add_part(b, EM_CLASS_HUMAN, EM_MAT_CLOTH, x, ground, z, cs, sn, (float)s * (sw + 0.045f * H / 1.7f),
                     t1 - 0.17f * H, swing, 0.04f * H / 1.7f, 0.165f * H, 0.05f * H / 1.7f);
        if (p) memcpy(p->col, bare_arms ? skin : top, sizeof p->col);
    }
    float hr = 0.062f * H;
    p = add(b, EM_PRIM_ELLIPSOID, EM_CLASS_HUMAN, EM_MAT_SKIN, x, ground + t1 + 0.03f * H + hr * 1.15f, z, hr * 0.85f, hr * 1.15f, hr, 1, 0);
    if (p) { memcpy(p->col, skin, sizeof p->col); memcpy(p->col2, hair, sizeof p->col2); p->p[0] = sm_cos(yaw); p->p[1] = sm_sin(yaw); }
    /* a bag or backpack sometimes */
    if (ride == 0 && sm_chance(r, 0.25f)) {
        p = add_part(b, EM_CLASS_HUMAN, EM_MAT_CLOTH, x, ground, z, cs, sn, 0, 0.5f * (t0 + t1) + 0.05f, -0.16f * H / 1.7f,
                     0.14f, 0.18f, 0.07f);
        if (p) pick(r, CLOTH_COLS, NCOLS(CLOTH_COLS), 0.2f, p->col);
    }
}

static void wheel(builder *b, float ox, float oz, float cs, float sn, float lx, float lz, float rad, float wid) {
    em_prim *p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_TYRE, ox, 0, oz, cs, sn, lx, rad, lz, 0.5f * wid, rad, rad * 0.95f);
    if (p) { set3(p->col, 0.025f, 0.025f, 0.027f); p->p[0] = rad; }
}

/* vehicle kind: 0 car, 1 van, 2 bus, 3 truck.  Returns its length. */
static float vehicle_len(sm_rng *r, int kind) {
    return kind == 0 ? sm_unif(r, 3.7f, 4.9f) : kind == 1 ? sm_unif(r, 4.8f, 5.8f) : kind == 2 ? sm_unif(r, 10.0f, 13.0f) : sm_unif(r, 7.0f, 10.0f);
}
static void vehicle(builder *b, int kind, float x, float z, float yaw, float L) {
    sm_rng *r = b->r;
    float cs = sm_cos(yaw), sn = sm_sin(yaw);
    float col[3];
    pick(r, CAR_COLS, NCOLS(CAR_COLS), 0.15f, col);
    em_prim *p;
    if (kind == 0) {
        float W = sm_unif(r, 1.65f, 1.95f), H = sm_unif(r, 1.35f, 1.65f), clear = sm_unif(r, 0.22f, 0.32f);
        float belt = clear + sm_unif(r, 0.55f, 0.7f);
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_PAINT, x, 0, z, cs, sn, 0, 0.5f * (clear + belt), 0, 0.5f * W, 0.5f * (belt - clear), 0.5f * L);
        if (p) { memcpy(p->col, col, sizeof p->col); p->p[0] = L; }
        float cl = L * sm_unif(r, 0.45f, 0.6f), off = -L * sm_unif(r, 0.0f, 0.1f);
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_CABIN, x, 0, z, cs, sn, 0, 0.5f * (belt + H), off, 0.45f * W, 0.5f * (H - belt), 0.5f * cl);
        if (p) { memcpy(p->col, col, sizeof p->col); set3(p->col2, 0.03f, 0.035f, 0.04f); }
        float wr = sm_unif(r, 0.29f, 0.34f);
        for (int s = -1; s <= 1; s += 2)
            for (int f = -1; f <= 1; f += 2) wheel(b, x, z, cs, sn, (float)s * (0.5f * W - 0.1f), (float)f * (0.5f * L - 0.75f), wr, 0.22f);
    } else if (kind == 1) {
        float W = sm_unif(r, 1.9f, 2.1f), H = sm_unif(r, 1.9f, 2.5f), clear = 0.3f, nose = sm_unif(r, 0.6f, 1.0f);
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_PAINT, x, 0, z, cs, sn, 0, 0.5f * (clear + H), -0.5f * nose, 0.5f * W, 0.5f * (H - clear), 0.5f * (L - nose));
        if (p) { memcpy(p->col, col, sizeof p->col); p->p[0] = L; p->p[1] = 1; }
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_PAINT, x, 0, z, cs, sn, 0, 0.5f * (clear + 1.05f), 0.5f * L - 0.5f * nose, 0.48f * W, 0.5f * (1.05f - clear), 0.5f * nose);
        if (p) { memcpy(p->col, col, sizeof p->col); p->p[0] = L; }
        for (int s = -1; s <= 1; s += 2)
            for (int f = -1; f <= 1; f += 2) wheel(b, x, z, cs, sn, (float)s * (0.5f * W - 0.1f), (float)f * (0.5f * L - 0.9f), 0.34f, 0.24f);
    } else if (kind == 2) {
        float W = 2.55f, H = sm_unif(r, 2.9f, 3.4f);
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_BUSBODY, x, 0, z, cs, sn, 0, 0.5f * (0.35f + H), 0, 0.5f * W, 0.5f * (H - 0.35f), 0.5f * L);
        if (p) { memcpy(p->col, col, sizeof p->col); pick(r, CAR_COLS, NCOLS(CAR_COLS), 0.1f, p->col2); }
        for (int s = -1; s <= 1; s += 2)
            for (int f = -1; f <= 1; f += 2) wheel(b, x, z, cs, sn, (float)s * (0.5f * W - 0.12f), (float)f * (0.5f * L - 2.2f), 0.48f, 0.3f);
    } else {
        float W = 2.45f, cabL = 2.2f, H = sm_unif(r, 3.0f, 3.8f);
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_PAINT, x, 0, z, cs, sn, 0, 0.5f * (0.5f + 2.9f), 0.5f * L - 0.5f * cabL, 0.5f * W, 0.5f * (2.9f - 0.5f), 0.5f * cabL);
        if (p) { memcpy(p->col, col, sizeof p->col); p->p[0] = L; p->p[1] = 1; }
        p = add_part(b, EM_CLASS_VEHICLE, EM_MAT_PLAIN, x, 0, z, cs, sn, 0, 0.5f * (0.7f + H), -0.5f * cabL - 0.15f, 0.5f * W, 0.5f * (H - 0.7f), 0.5f * (L - cabL - 0.3f));
        if (p) pick(r, CAR_COLS, NCOLS(CAR_COLS), 0.15f, p->col);
        for (int s = -1; s <= 1; s += 2)
            for (int f = -1; f <= 1; f += 2) wheel(b, x, z, cs, sn, (float)s * (0.5f * W - 0.12f), (float)f * (0.5f * L - 1.3f), 0.5f, 0.3f);
    }
}

static void bicycle_rider(builder *b, float x, float z, int backwards) {
    sm_rng *r = b->r;
    float col[3];
    pick(r, CAR_COLS, NCOLS(CAR_COLS), 0.1f, col);
    for (int f = -1; f <= 1; f += 2) {
        em_prim *p = add(b, EM_PRIM_ELLIPSOID, EM_CLASS_VEHICLE, EM_MAT_TYRE, x, 0.34f, z + 0.52f * (float)f, 0.025f, 0.34f, 0.34f, 1, 0);
        if (p) set3(p->col, 0.03f, 0.03f, 0.03f);
    }
    em_prim *p = add_box(b, EM_CLASS_VEHICLE, EM_MAT_PLAIN, x - 0.025f, x + 0.025f, 0.45f, 0.9f, z - 0.4f, z + 0.4f);
    if (p) memcpy(p->col, col, sizeof p->col);
    person(b, x, z, 0.0f, backwards ? SM_PI : 0.0f, sm_unif(r, 1.6f, 1.9f), 0.95f);
}

/* ---- lighting and sky ---- */
static void lighting(builder *b) {
    sm_rng *r = b->r;
    em_light *L = &b->w->light;
    float u = sm_rand(r);
    int kind = u < 0.45f ? 0 : u < 0.68f ? 1 : u < 0.88f ? 2 : 3; /* clear, hazy, overcast, dusk */
    float elev = kind == 3 ? sm_unif(r, 0.04f, 0.2f) : sm_unif(r, 0.2f, 1.2f);
    float az = sm_unif(r, 0.0f, 2.0f * SM_PI);
    float ce = sm_cos(elev);
    set3(L->sun, ce * sm_sin(az), sm_sin(elev), ce * sm_cos(az));
    float warm = sm_clamp(1.0f - elev / 0.6f, 0.0f, 1.0f);
    float sun_i = sm_unif(r, 2.4f, 3.4f);
    set3(L->sun_col, sun_i, sun_i * (0.95f - 0.3f * warm), sun_i * (0.88f - 0.55f * warm));
    if (kind == 0) {
        set3(L->sky_zen, sm_unif(r, 0.10f, 0.25f), sm_unif(r, 0.22f, 0.40f), sm_unif(r, 0.55f, 0.85f));
        set3(L->sky_hor, sm_unif(r, 0.55f, 0.75f), sm_unif(r, 0.65f, 0.80f), sm_unif(r, 0.78f, 0.92f));
        L->cloud_cover = sm_unif(r, 0.0f, 0.5f);
        L->haze_density = 3.0f / sm_unif(r, 500.0f, 2500.0f);
    } else if (kind == 1) {
        set3(L->sky_zen, sm_unif(r, 0.35f, 0.5f), sm_unif(r, 0.45f, 0.55f), sm_unif(r, 0.6f, 0.75f));
        set3(L->sky_hor, sm_unif(r, 0.7f, 0.85f), sm_unif(r, 0.72f, 0.85f), sm_unif(r, 0.75f, 0.88f));
        L->cloud_cover = sm_unif(r, 0.3f, 0.8f);
        L->haze_density = 3.0f / sm_unif(r, 200.0f, 700.0f);
        for (int k = 0; k < 3; k++) L->sun_col[k] *= 0.7f;
    } else if (kind == 2) {
        float g = sm_unif(r, 0.45f, 0.8f), tint = sm_unif(r, -0.04f, 0.04f);
        set3(L->sky_zen, g * 0.85f - tint, g * 0.87f, g * 0.9f + tint);
        set3(L->sky_hor, g, g, g * 1.02f);
        L->cloud_cover = 1.0f;
        L->haze_density = 3.0f / sm_unif(r, 150.0f, 900.0f);
        set3(L->sun_col, 0, 0, 0);
    } else {
        set3(L->sky_zen, sm_unif(r, 0.06f, 0.15f), sm_unif(r, 0.08f, 0.16f), sm_unif(r, 0.2f, 0.4f));
        set3(L->sky_hor, sm_unif(r, 0.7f, 1.0f), sm_unif(r, 0.35f, 0.6f), sm_unif(r, 0.2f, 0.4f));
        L->cloud_cover = sm_unif(r, 0.0f, 0.6f);
        L->haze_density = 3.0f / sm_unif(r, 300.0f, 1500.0f);
        for (int k = 0; k < 3; k++) L->sun_col[k] *= 0.6f;
        L->lit_windows = sm_unif(r, 0.1f, 0.5f);
    }
    L->shadows = kind != 2;
    /* ambient: the sky's light, brighter when overcast */
    float amb = kind == 2 ? sm_unif(r, 1.3f, 1.8f) : kind == 3 ? sm_unif(r, 0.35f, 0.6f) : sm_unif(r, 0.55f, 0.85f);
    for (int k = 0; k < 3; k++) L->amb_col[k] = amb * (0.5f * L->sky_zen[k] + 0.5f * L->sky_hor[k]) / 0.6f;
    memcpy(L->haze_col, L->sky_hor, sizeof L->haze_col);
    for (int k = 0; k < 3; k++) L->cloud_col[k] = kind == 3 ? L->sky_hor[k] * 0.8f + 0.1f : sm_unif(r, 0.75f, 0.9f);
    L->exposure = kind == 3 ? sm_unif(r, 0.8f, 1.3f) : sm_unif(r, 0.75f, 1.15f);
    L->noise_sd = sm_unif(r, 0.5f, 4.0f);
}

/* ---- the whole street ---- */
void em_world_build(em_world *w, uint64_t seed, int split, uint64_t index) {
    sm_rng rng;
    /* a bijection of (index, split) for each seed: train and val scenes use
     * different RNG states, never the same stream */
    rng.s = sm_mix64(sm_mix64(seed ^ 0x5ce7e5u) + 2 * index + (uint64_t)(split & 1));
    sm_rng *r = &rng;
    memset(w, 0, offsetof(em_world, prims));  /* every field but the primitive array */
    w->salt = sm_next(r);
    builder bld = {.w = w, .r = r};
    builder *b = &bld;
    lighting(b);

    /* road and sidewalks */
    em_terrain *T = &w->ter;
    memset(T, 0, sizeof *T);
    T->salt = sm_next(r);
    int lanes = sm_int(r, 1, 4);
    float lane_w = sm_unif(r, 2.8f, 3.7f), park_w[2];
    for (int s = 0; s < 2; s++) park_w[s] = sm_chance(r, 0.55f) ? sm_unif(r, 2.0f, 2.6f) : 0.0f;
    float road_w = lanes * lane_w + park_w[0] + park_w[1];
    float shift = sm_unif(r, -1.0f, 1.0f);
    T->road_l = -0.5f * road_w + shift; T->road_r = 0.5f * road_w + shift;
    T->kerb_h = sm_unif(r, 0.08f, 0.2f);
    T->n_lanes = lanes;
    T->lane_w = road_w / (float)lanes;
    T->lane_line_w = sm_unif(r, 0.1f, 0.18f);
    T->dash_len = sm_unif(r, 2.0f, 6.0f);
    T->dash_gap = T->dash_len * sm_unif(r, 1.0f, 3.0f);
    T->centre_solid = sm_chance(r, 0.4f);
    T->centre_yellow = sm_chance(r, 0.25f);
    T->edge_lines = sm_chance(r, 0.5f);
    float g = sm_unif(r, 0.05f, 0.22f);
    set3(T->asphalt, g, g * sm_unif(r, 0.97f, 1.03f), g * sm_unif(r, 0.98f, 1.08f));
    pick(r, FACADE_COLS, 4, 0.2f, T->walk);
    g = sm_unif(r, 0.25f, 0.5f);
    set3(T->walk2, g, g * 0.98f, g * 0.95f);
    if (sm_chance(r, 0.3f)) pick(r, FACADE_COLS + 4, 4, 0.2f, T->walk); /* red / beige paving */
    set3(T->kerb, 0.45f, 0.45f, 0.44f);
    pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, T->grass);
    for (int k = 0; k < 3; k++) T->grass[k] = T->grass[k] * 1.3f + 0.02f;
    float paint = sm_unif(r, 0.45f, 0.8f);
    set3(T->paint, paint, paint, paint * 0.98f);
    set3(T->yellow, paint, paint * 0.75f, 0.08f);
    T->walk_tile = sm_unif(r, 0.3f, 1.2f);
    float street_end = sm_unif(r, 50.0f, 210.0f);
    w->street_end = street_end;
    if (sm_chance(r, 0.5f)) { T->zebra_z0 = sm_unif(r, 6.0f, 0.6f * street_end); T->zebra_z1 = T->zebra_z0 + sm_unif(r, 3.0f, 5.0f); }
    for (int s = 0; s < 2; s++) {
        T->walk_w[s] = sm_unif(r, 1.5f, 5.0f);
        T->verge_w[s] = sm_chance(r, 0.35f) ? sm_unif(r, 0.8f, 2.5f) : 0.0f;
    }

    /* camera rig: in a driving lane */
    em_rig *R = &w->rig;
    int lane = sm_int(r, 0, lanes - 1);
    R->x = T->road_l + park_w[0] + (lane + 0.5f) * lane_w + sm_unif(r, -0.4f, 0.4f);
    R->z = 0.0f;
    R->height = sm_unif(r, 1.2f, 2.2f);
    R->pitch = sm_rad(sm_clamp(-3.0f + 4.0f * sm_gauss(r), -12.0f, 6.0f));
    R->roll = sm_rad(sm_clamp(2.0f * sm_gauss(r), -5.0f, 5.0f));
    R->yaw = sm_rad(sm_unif(r, -8.0f, 8.0f));
    R->hfov = sm_rad(sm_unif(r, 50.0f, 100.0f));
    R->cx_off = sm_unif(r, -0.03f, 0.03f);
    R->cy_off = sm_unif(r, -0.03f, 0.03f);
    set3(b->cam, R->x, R->height, R->z);
    w->bonnet = sm_chance(r, 0.3f);
    w->bonnet_h = sm_unif(r, 0.05f, 0.2f);
    w->bonnet_curve = sm_unif(r, 0.0f, 0.6f);
    pick(r, CAR_COLS, NCOLS(CAR_COLS), 0.1f, w->bonnet_col);

    /* buildings, yards, hedges, fences, backdrop */
    float style = sm_unif(r, 0.0f, 1.0f);  /* 0 suburban .. 1 city centre */
    float hmin = 3.5f + 8.0f * style, hmax = 9.0f + 32.0f * style;
    float zb0 = -40.0f;
    float xback[2];
    for (int s = 0; s < 2; s++) {
        float sg = s ? 1.0f : -1.0f;
        float kerb_x = s ? T->road_r : -T->road_l;  /* distance of the kerb from x = 0, signed outward */
        float walk_out = kerb_x + T->verge_w[s] + T->walk_w[s];
        float max_set = sm_chance(r, 0.5f) ? 0.0f : sm_unif(r, 1.0f, 9.0f);
        float gap_p = sm_unif(r, 0.0f, 0.5f);
        xback[s] = walk_out + max_set + 22.0f;
        int hedge_side = sm_chance(r, 0.5f), fence_side = sm_chance(r, 0.4f);
        float grass_p = sm_unif(r, 0.0f, 1.0f);
        float z = zb0;
        int ny = 0;
        int empty_side = sm_chance(r, 0.08f);  /* a park or an empty lot: no buildings on this side */
        while (z < street_end + 5.0f && ny < EM_MAX_YARDS) {
            float width = sm_unif(r, 6.0f, 30.0f);
            float gap = sm_chance(r, gap_p) ? sm_unif(r, 1.0f, 10.0f) : 0.0f;
            float setback = max_set > 0 ? sm_unif(r, 0.3f, 1.0f) * max_set : 0.0f;
            int grass = sm_chance(r, grass_p) || empty_side;
            T->yard_z0[s][ny] = z;
            T->yard_grass[s][ny] = (uint8_t)grass;
            ny++;
            float z1 = z + width;
            if (!empty_side) {
                float height = sm_unif(r, hmin, hmax);
                if (sm_chance(r, 0.15f)) height = sm_unif(r, 3.0f, 7.0f);
                building(b, s, walk_out + setback, sm_unif(r, 8.0f, 20.0f), z, z1, height, style);
            }
            if (setback > 1.2f || empty_side) {
                float fx = walk_out + sm_unif(r, 0.2f, 0.6f);
                float fz0 = z, fz1 = z1 + gap;
                if (hedge_side && sm_chance(r, 0.7f)) {
                    float hh = sm_unif(r, 0.6f, 1.8f), hw = sm_unif(r, 0.3f, 0.6f);
                    em_prim *p = add_box(b, EM_CLASS_NATURE, EM_MAT_LEAVES, sg > 0 ? fx : -fx - 2 * hw, sg > 0 ? fx + 2 * hw : -fx,
                                         0.0f, T->kerb_h + hh, fz0, fz1);
                    if (p) { pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, p->col); for (int k = 0; k < 3; k++) p->col2[k] = p->col[k] * 0.45f; }
                } else if (fence_side && sm_chance(r, 0.7f)) {
                    float fh = sm_unif(r, 0.8f, 2.0f), th = sm_chance(r, 0.5f) ? 0.03f : sm_unif(r, 0.15f, 0.3f);
                    em_prim *p = add_box(b, EM_CLASS_CONSTRUCTION, th < 0.1f ? EM_MAT_FENCE : EM_MAT_ROOFWALL,
                                         sg > 0 ? fx : -fx - th, sg > 0 ? fx + th : -fx, 0.0f, T->kerb_h + fh, fz0, fz1);
                    if (p) {
                        pick(r, th < 0.1f ? METAL_COLS : FACADE_COLS, th < 0.1f ? NCOLS(METAL_COLS) : NCOLS(FACADE_COLS), 0.2f, p->col);
                        if (sm_chance(r, 0.4f)) set3(p->col, sm_unif(r, 0.2f, 0.4f), sm_unif(r, 0.12f, 0.25f), sm_unif(r, 0.05f, 0.12f));
                        p->p[0] = sm_unif(r, 0.1f, 0.25f);
                    }
                }
                if (grass && setback > 3.0f && sm_chance(r, 0.5f)) {
                    float leaf[3];
                    pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, leaf);
                    float tx = walk_out + sm_unif(r, 1.5f, setback - 1.0f);
                    tree(b, sg * tx, sm_unif(r, z + 2, z1 - 2 > z + 2 ? z1 - 2 : z + 2), T->kerb_h, sm_unif(r, 0.6f, 1.2f), leaf);
                }
            }
            z = z1 + gap;
        }
        T->n_yards[s] = ny;
        /* the row behind: continuous, so every ray that leaves the street hits something */
        for (float bz = -60.0f; bz < street_end + 15.0f;) {
            float len = sm_unif(r, 12.0f, 40.0f), h = sm_unif(r, 5.0f, hmax + 10.0f);
            float x0 = sg * xback[s], x1 = sg * (xback[s] + 8.0f);
            if (sm_chance(r, 0.15f)) {
                em_prim *p = add_box(b, EM_CLASS_NATURE, EM_MAT_LEAVES, x0 < x1 ? x0 : x1, x0 < x1 ? x1 : x0, 0.0f, sm_unif(r, 6.0f, 14.0f), bz, bz + len + 0.5f);
                if (p) { pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, p->col); for (int k = 0; k < 3; k++) p->col2[k] = p->col[k] * 0.45f; }
            } else {
                em_prim *p = add_box(b, EM_CLASS_CONSTRUCTION, EM_MAT_FACADE, x0 < x1 ? x0 : x1, x0 < x1 ? x1 : x0, 0.0f, h, bz, bz + len + 0.5f);
                facade_params(b, p, style);
            }
            bz += len;
        }
    }
    /* the far end: a row across the street */
    {
        float x = -xback[0] - 8.0f;
        int trees = sm_chance(r, 0.25f);
        while (x < xback[1] + 8.0f) {
            float wdt = sm_unif(r, 8.0f, 25.0f);
            if (trees) {
                em_prim *p = add_box(b, EM_CLASS_NATURE, EM_MAT_LEAVES, x, x + wdt + 0.5f, 0.0f, sm_unif(r, 4.0f, 9.0f), street_end, street_end + 12.0f);
                if (p) { pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, p->col); for (int k = 0; k < 3; k++) p->col2[k] = p->col[k] * 0.45f; }
                float leaf[3];
                pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, leaf);
                tree(b, x + 0.5f * wdt, street_end - 2.0f, 0.0f, sm_unif(r, 1.0f, 1.8f), leaf);
            } else {
                em_prim *p = add_box(b, EM_CLASS_CONSTRUCTION, EM_MAT_FACADE, x, x + wdt + 0.5f, 0.0f, sm_unif(r, 5.0f, hmax + 5.0f), street_end, street_end + 12.0f);
                facade_params(b, p, style);
            }
            x += wdt;
        }
    }

    /* street furniture along the kerbs */
    for (int s = 0; s < 2; s++) {
        float sg = s ? 1.0f : -1.0f;
        float kerb_x = s ? T->road_r : -T->road_l;
        float x = sg * (kerb_x + sm_unif(r, 0.35f, 0.7f));
        if (sm_chance(r, 0.75f)) {
            float spacing = sm_unif(r, 15.0f, 40.0f);
            for (float z = sm_unif(r, -5.0f, spacing); z < street_end - 5.0f; z += spacing * sm_unif(r, 0.9f, 1.1f))
                street_lamp(b, s, x, z, T->kerb_h);
        }
        int n_signs = sm_int(r, 0, 4);
        for (int k = 0; k < n_signs; k++) sign(b, x + sg * sm_unif(r, 0.0f, 0.4f), sm_unif(r, 3.0f, 0.8f * street_end), T->kerb_h);
        if (sm_chance(r, 0.35f)) {
            float z = T->zebra_z1 > T->zebra_z0 ? T->zebra_z0 - 1.0f : sm_unif(r, 8.0f, 0.6f * street_end);
            traffic_light(b, s, x, z, T->kerb_h);
        }
        /* bollards or low posts sometimes */
        if (sm_chance(r, 0.2f)) {
            float col[3];
            pick(r, METAL_COLS, NCOLS(METAL_COLS), 0.1f, col);
            float z0 = sm_unif(r, 3.0f, 40.0f);
            for (int k = 0; k < 8; k++) pole(b, x, z0 + 1.5f * k, T->kerb_h, 0.9f, 0.08f, col);
        }
        /* street trees on the verge or in tree pits */
        float tree_p = T->verge_w[s] > 0 ? 0.8f : 0.35f;
        if (sm_chance(r, tree_p)) {
            float leaf[3];
            pick(r, LEAF_COLS, NCOLS(LEAF_COLS), 0.2f, leaf);
            float spacing = sm_unif(r, 7.0f, 20.0f);
            float tx = sg * (kerb_x + (T->verge_w[s] > 0 ? 0.5f * T->verge_w[s] : sm_unif(r, 0.8f, 1.4f)));
            for (float z = sm_unif(r, -5.0f, spacing); z < street_end - 5.0f; z += spacing * sm_unif(r, 0.8f, 1.2f))
                if (sm_chance(r, 0.85f)) tree(b, tx, z, T->kerb_h, sm_unif(r, 0.7f, 1.2f), leaf);
        }
    }

    /* vehicles: parked along the kerbs, driving in the lanes */
    int no_vehicles = sm_chance(r, 0.15f);
    if (!no_vehicles) {
        for (int s = 0; s < 2; s++) {
            if (park_w[s] <= 0) continue;
            float density = sm_unif(r, 0.2f, 0.9f);
            float x = s ? T->road_r - 0.5f * park_w[s] : T->road_l + 0.5f * park_w[s];
            for (float z = sm_unif(r, -8.0f, 4.0f); z < street_end - 8.0f;) {
                int kind = sm_rand(r) < 0.85f ? 0 : 1;
                float L = vehicle_len(r, kind);
                if (sm_chance(r, density)) {
                    float yaw = (sm_chance(r, 0.8f) ? 0.0f : SM_PI) + sm_rad(sm_unif(r, -3.0f, 3.0f));
                    float xx = x + sm_unif(r, -0.15f, 0.15f);
                    if (foot_free(b, xx - 1.1f, xx + 1.1f, z, z + L)) {
                        vehicle(b, kind, xx, z + 0.5f * L, yaw, L);
                        foot_add(b, xx - 1.1f, xx + 1.1f, z, z + L);
                    }
                }
                z += L + sm_unif(r, 0.6f, 3.0f);
            }
        }
        int n_moving = sm_int(r, 0, 8);
        for (int k = 0; k < n_moving; k++) {
            float u = sm_rand(r);
            int kind = u < 0.72f ? 0 : u < 0.85f ? 1 : u < 0.93f ? 2 : 3;
            float L = vehicle_len(r, kind);
            int ln = sm_int(r, 0, lanes - 1);
            float x = T->road_l + park_w[0] + (ln + 0.5f) * lane_w + sm_unif(r, -0.3f, 0.3f);
            float z = sm_unif(r, 3.0f, 0.8f * street_end);
            int oncoming = lanes > 1 && ln < lanes / 2;
            float yaw = (oncoming ? SM_PI : 0.0f) + sm_rad(sm_unif(r, -4.0f, 4.0f));
            if (sm_chance(r, 0.06f)) { yaw = sm_chance(r, 0.5f) ? 0.5f * SM_PI : -0.5f * SM_PI; } /* turning across */
            float hw = fabsf(sm_sin(yaw)) * 0.5f * L + 1.2f, hl = fabsf(sm_cos(yaw)) * 0.5f * L + 1.2f;
            if (foot_free(b, x - hw, x + hw, z - hl, z + hl)) {
                vehicle(b, kind, x, z, yaw, L);
                foot_add(b, x - hw, x + hw, z - hl, z + hl);
            }
        }
        if (sm_chance(r, 0.2f)) {  /* a cyclist near the kerb */
            int s = sm_int(r, 0, 1);
            float x = s ? T->road_r - park_w[1] - 0.8f : T->road_l + park_w[0] + 0.8f;
            float z = sm_unif(r, 4.0f, 40.0f);
            if (foot_free(b, x - 0.5f, x + 0.5f, z - 1.0f, z + 1.0f)) {
                bicycle_rider(b, x, z, !s);
                foot_add(b, x - 0.5f, x + 0.5f, z - 1.0f, z + 1.0f);
            }
        }
    }

    /* people: on the sidewalks, some crossing */
    int n_people = sm_chance(r, 0.2f) ? 0 : sm_int(r, 1, sm_chance(r, 0.35f) ? 40 : 12);
    for (int k = 0; k < n_people; k++) {
        int s = sm_int(r, 0, 1);
        float sg = s ? 1.0f : -1.0f;
        float kerb_x = s ? T->road_r : -T->road_l;
        float x, z, ground = T->kerb_h;
        float u = sm_rand(r);
        if (u < 0.8f) {
            x = sg * (kerb_x + T->verge_w[s] + sm_unif(r, 0.4f, T->walk_w[s] - 0.3f > 0.5f ? T->walk_w[s] - 0.3f : 0.5f));
            z = sm_unif(r, 1.5f, 0.5f * street_end);
        } else {
            x = sm_unif(r, T->road_l + 0.5f, T->road_r - 0.5f);
            z = T->zebra_z1 > T->zebra_z0 && sm_chance(r, 0.6f) ? sm_unif(r, T->zebra_z0 + 0.5f, T->zebra_z1 - 0.5f) : sm_unif(r, 4.0f, 50.0f);
            ground = 0.0f;
        }
        float H = sm_chance(r, 0.1f) ? sm_unif(r, 1.0f, 1.45f) : sm_unif(r, 1.5f, 1.95f);
        if (foot_free(b, x - 0.35f, x + 0.35f, z - 0.35f, z + 0.35f)) {
            person(b, x, z, ground, sm_unif(r, 0.0f, 2.0f * SM_PI), H, 0.0f);
            foot_add(b, x - 0.35f, x + 0.35f, z - 0.35f, z + 0.35f);
        }
    }
}

void em_camera_from_rig(const em_rig *rig, int w, int h, em_camera *cam) {
    float cr = sm_cos(rig->roll), sr = sm_sin(rig->roll);
    float cp = sm_cos(rig->pitch), sp = sm_sin(rig->pitch);
    float cy = sm_cos(rig->yaw), sy = sm_sin(rig->yaw);
    /* roll about the optical axis, then pitch about x, then yaw about y */
    float r0[3] = {cr, sr, 0}, u0[3] = {-sr, cr, 0}, f0[3] = {0, 0, 1};
    float *out[3] = {cam->right, cam->up, cam->fwd};
    const float *in[3] = {r0, u0, f0};
    for (int k = 0; k < 3; k++) {
        const float *v = in[k];
        float y = v[1] * cp + v[2] * sp, z = -v[1] * sp + v[2] * cp;  /* pitch up: fwd gains +y */
        float x = v[0];
        out[k][0] = x * cy + z * sy;
        out[k][1] = y;
        out[k][2] = -x * sy + z * cy;
    }
    cam->pos[0] = rig->x; cam->pos[1] = rig->height; cam->pos[2] = rig->z;
    cam->w = w; cam->h = h;
    cam->fx = cam->fy = 0.5f * (float)w / sm_tan(0.5f * rig->hfov);
    cam->cx = 0.5f * (float)w * (1.0f + rig->cx_off);
    cam->cy = 0.5f * (float)h * (1.0f + rig->cy_off);
}
