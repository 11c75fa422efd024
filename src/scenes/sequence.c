/* The drive of `edgemoe scenes --sequence` (sequence.h): one world per shot,
 * a moving camera and moving objects, rendered with em_world_render.
 *
 * Objects are moved by editing their primitives' centres, yaw and world
 * AABBs (the fields em_world_render reads); the builder's own helpers are
 * private to world.c, so the AABB rule is restated here (prim_aabb). */
#include <math.h>
#include <string.h>
#include "scenes/sequence.h"
#include "scenes/smath.h"

#define PI_F 3.14159265358979f
#define TOUCH 0.2f          /* primitives closer than this belong to one object */
#define LANE_HALF 1.3f      /* the camera's lane: its x +- this, for the camera's path */
#define END_MARGIN 30.0f    /* a shot ends this far before the street's closing row */

static uint64_t mix64(uint64_t x) { return sm_mix64(x + 0x9e3779b97f4a7c15ull); }
/* uniform in [lo, hi) from a hash */
static float unif(uint64_t *st, float lo, float hi) {
    *st = mix64(*st);
    return lo + (hi - lo) * (float)(*st >> 40) * (1.0f / 16777216.0f);
}

static void prim_aabb(em_prim *p) {
    if (p->kind == EM_PRIM_BOX) {
        float ex = fabsf(p->cs) * p->h[0] + fabsf(p->sn) * p->h[2];
        float ez = fabsf(p->sn) * p->h[0] + fabsf(p->cs) * p->h[2];
        p->bmin[0] = p->c[0] - ex; p->bmax[0] = p->c[0] + ex;
        p->bmin[1] = p->c[1] - p->h[1]; p->bmax[1] = p->c[1] + p->h[1];
        p->bmin[2] = p->c[2] - ez; p->bmax[2] = p->c[2] + ez;
    } else {
        for (int k = 0; k < 3; k++) { p->bmin[k] = p->c[k] - p->h[k]; p->bmax[k] = p->c[k] + p->h[k]; }
        if (p->kind == EM_PRIM_CYL) { p->bmin[2] = p->c[2] - p->h[0]; p->bmax[2] = p->c[2] + p->h[0]; }
    }
}

/* Turns primitives [first, first+count) by the yaw (cos, sin) = (cd, sd) about (gx, gz). */
static void turn(em_world *w, int first, int count, float gx, float gz, float cd, float sd) {
    for (int i = first; i < first + count; i++) {
        em_prim *p = &w->prims[i];
        float ox = p->c[0] - gx, oz = p->c[2] - gz;
        p->c[0] = gx + cd * ox + sd * oz;
        p->c[2] = gz - sd * ox + cd * oz;
        if (p->kind == EM_PRIM_BOX) {
            float cs = p->cs * cd - p->sn * sd, sn = p->sn * cd + p->cs * sd;
            p->cs = cs; p->sn = sn;
        }
        prim_aabb(p);
    }
}

static int dynamic(const em_prim *p) { return p->cls == EM_CLASS_VEHICLE || p->cls == EM_CLASS_HUMAN; }

/* The camera's rig at t seconds into the shot. */
static em_rig rig_at(const em_drive_shot *s, float t) {
    em_rig r = s->rig0;
    const float ph = 2 * PI_F * s->sway_f * t + s->sway_p;
    r.z = s->rig0.z + s->speed * t;
    r.x = s->rig0.x + s->sway_a * sm_sin(ph);
    r.yaw = s->rig0.yaw + 0.01f * sm_cos(ph);                 /* the sway's heading, about 0.6 degrees */
    r.pitch = s->rig0.pitch + 0.003f * sm_sin(2 * PI_F * 1.3f * t); /* road bumps */
    return r;
}

int em_prim_near(const em_prim *p, const float x[3], float margin) {
    float dx = x[0] - p->c[0], dy = x[1] - p->c[1], dz = x[2] - p->c[2];
    if (p->kind == EM_PRIM_BOX) {
        float lx = p->cs * dx - p->sn * dz, lz = p->sn * dx + p->cs * dz;
        return fabsf(lx) < p->h[0] + margin && fabsf(dy) < p->h[1] + margin && fabsf(lz) < p->h[2] + margin;
    }
    if (p->kind == EM_PRIM_CYL) return dx * dx + dz * dz < (p->h[0] + margin) * (p->h[0] + margin) && fabsf(dy) < p->h[1] + margin;
    float a = dx / (p->h[0] + margin), b = dy / (p->h[1] + margin), c = dz / (p->h[2] + margin);
    return a * a + b * b + c * c < 1.0f;
}

/* The world was built around a camera standing at its rig; the drive moves
 * it, so static solids it would pass through (a low tree crown over the
 * road) are taken out of the world.  Objects are handled by their motion. */
static void clear_path(em_drive_shot *s) {
    em_world *w = &s->base;
    int n = 0;
    for (int i = 0; i < w->n_prims; i++) {
        const em_prim *p = &w->prims[i];
        int hit = 0;
        if (!dynamic(p))
            for (uint64_t f = 0; f <= s->n_frames && !hit; f++) {
                em_rig r = rig_at(s, (float)((double)f / s->fps));
                float x[3] = {r.x, r.height, r.z};
                hit = em_prim_near(p, x, 0.5f);
            }
        if (!hit) w->prims[n++] = *p;
    }
    w->n_prims = n;
}

static int touches(const float lo[3], const float hi[3], const em_prim *p) {
    for (int k = 0; k < 3; k++)
        if (p->bmin[k] > hi[k] + TOUCH || p->bmax[k] < lo[k] - TOUCH) return 0;
    return 1;
}

void em_drive_shot_build(em_drive_shot *s, uint64_t seed, uint64_t shot, uint64_t first_frame, double fps) {
    em_world *w = &s->base;
    em_world_build(w, seed, EM_SPLIT_VAL, EM_DRIVE_INDEX0 + shot);
    uint64_t st = mix64(seed * 0x2545f4914f6cdd1dull + shot);
    s->seed = seed; s->shot = shot; s->first_frame = first_frame; s->fps = fps;
    s->rig0 = w->rig;
    s->rig0.yaw *= 0.25f;    /* look down the street */
    s->rig0.roll *= 0.5f;
    s->speed = unif(&st, 6.0f, 11.0f);
    s->sway_a = unif(&st, 0.05f, 0.2f);
    s->sway_f = unif(&st, 0.15f, 0.35f);
    s->sway_p = unif(&st, 0.0f, 2 * PI_F);
    float dist = w->street_end - END_MARGIN;
    if (dist < 2 * s->speed) dist = 2 * s->speed;  /* at least 2 s */
    s->n_frames = (uint64_t)(dist / s->speed * fps);
    if (s->n_frames < 1) s->n_frames = 1;

    clear_path(s);

    const em_terrain *T = &w->ter;
    const float ego_x = s->rig0.x, road_c = 0.5f * (T->road_l + T->road_r);
    float lane_speed[2][16];  /* [direction][lane]: one speed per lane and direction */
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 16; l++) lane_speed[d][l] = d ? unif(&st, 7.0f, 12.0f) : s->speed * unif(&st, 0.6f, 1.3f);
    const float ego_lead = s->speed * unif(&st, 1.1f, 1.3f);

    s->n_movers = 0;
    for (int i = 0; i < w->n_prims && s->n_movers < EM_DRIVE_MAX_MOVERS;) {
        if (!dynamic(&w->prims[i])) { i++; continue; }
        /* an object: the run of touching dynamic primitives from i */
        float lo[3], hi[3];
        memcpy(lo, w->prims[i].bmin, sizeof lo);
        memcpy(hi, w->prims[i].bmax, sizeof hi);
        int j = i + 1, vehicle = w->prims[i].cls == EM_CLASS_VEHICLE, human = !vehicle;
        while (j < w->n_prims && dynamic(&w->prims[j]) && touches(lo, hi, &w->prims[j])) {
            for (int k = 0; k < 3; k++) {
                if (w->prims[j].bmin[k] < lo[k]) lo[k] = w->prims[j].bmin[k];
                if (w->prims[j].bmax[k] > hi[k]) hi[k] = w->prims[j].bmax[k];
            }
            if (w->prims[j].cls == EM_CLASS_VEHICLE) vehicle = 1; else human = 1;
            j++;
        }
        float gx = 0.5f * (lo[0] + hi[0]), gz = 0.5f * (lo[2] + hi[2]);
        float cy = 1, sy = 0;  /* heading (cos, sin) of the first yawed box; (1, 0): +z */
        for (int k = i; k < j; k++)
            if (w->prims[k].kind == EM_PRIM_BOX && (w->prims[k].cs != 1.0f || w->prims[k].sn != 0.0f)) {
                float n = sqrtf(w->prims[k].cs * w->prims[k].cs + w->prims[k].sn * w->prims[k].sn);
                cy = w->prims[k].cs / n; sy = w->prims[k].sn / n;
                break;
            }
        em_drive_mover *m = &s->movers[s->n_movers];
        memset(m, 0, sizeof *m);
        m->first = i; m->count = j - i;
        m->x_lo = -1e9f; m->x_hi = 1e9f;
        const int in_path = hi[0] > ego_x - LANE_HALF && lo[0] < ego_x + LANE_HALF && hi[2] > s->rig0.z - 1.0f;
        const int on_road = lo[1] < 0.5f * T->kerb_h;
        float ch = cy, sh = sy, v = 0;  /* new heading (cos, sin) and speed */
        if (vehicle && human) {                      /* a cyclist: along the kerb, its side's direction */
            ch = gx > road_c ? 1.0f : -1.0f; sh = 0;
            v = unif(&st, 3.5f, 5.5f);
            if (in_path) { ch = 1; v = ego_lead; }
        } else if (vehicle) {
            float dk = fminf(fabsf(gx - T->road_l), fabsf(gx - T->road_r));
            if (in_path) { ch = 1; sh = 0; v = ego_lead; }
            else if (dk < 1.5f || fabsf(cy) < 0.7f) v = 0;  /* parked, or across the road: waits */
            else {
                int lane = (int)((gx - T->road_l) / (T->lane_w > 0.5f ? T->lane_w : 3.0f));
                lane = lane < 0 ? 0 : lane > 15 ? 15 : lane;
                ch = cy > 0 ? 1.0f : -1.0f; sh = 0;
                v = lane_speed[cy > 0 ? 0 : 1][lane];
            }
        } else if (on_road) {                        /* crossing: away from the camera's lane, stops at the kerb */
            ch = 0; sh = gx > ego_x ? 1.0f : -1.0f;
            v = unif(&st, 1.0f, 1.6f);
            m->x_lo = T->road_l + 0.4f; m->x_hi = T->road_r - 0.4f;
            if (in_path) v = 3.0f;                   /* hurries out of the way */
        } else {                                     /* on the sidewalk: along it, the way it faced */
            ch = cy >= 0 ? 1.0f : -1.0f; sh = 0;
            v = unif(&st, 0.8f, 1.6f);
        }
        if (v > 0 && (ch != cy || sh != sy)) turn(w, i, j - i, gx, gz, ch * cy + sh * sy, sh * cy - ch * sy);
        m->v[0] = v * sh;
        m->v[2] = v * ch;
        m->cx = gx;
        if (v > 0) s->n_movers++;
        i = j;
    }
}

void em_drive_pose(em_drive_shot *s, uint64_t frame, int w, int h, em_camera *cam) {
    const float t = (float)((double)(frame - s->first_frame) / s->fps);
    em_world *W = &s->now;
    memcpy(W, &s->base, sizeof *W);
    for (int k = 0; k < s->n_movers; k++) {
        const em_drive_mover *m = &s->movers[k];
        float dx = m->v[0] * t, dz = m->v[2] * t;
        float x = m->cx + dx;
        if (x < m->x_lo) dx = m->x_lo - m->cx;
        if (x > m->x_hi) dx = m->x_hi - m->cx;
        if ((m->v[0] > 0 && dx < 0) || (m->v[0] < 0 && dx > 0)) dx = 0;  /* started past its kerb */
        for (int i = m->first; i < m->first + m->count; i++) {
            em_prim *p = &W->prims[i];
            p->c[0] += dx; p->bmin[0] += dx; p->bmax[0] += dx;
            p->c[2] += dz; p->bmin[2] += dz; p->bmax[2] += dz;
        }
    }
    em_rig r = rig_at(s, t);
    W->rig = r;
    em_camera_from_rig(&r, w, h, cam);
}

void em_drive_render(em_drive_shot *shot, uint64_t seed, double fps, uint64_t frame, int w, int h, void *scratch,
                     uint8_t *rgb, int8_t *label, float *depth) {
    if (shot->n_frames == 0 || shot->seed != seed || shot->fps != fps || frame < shot->first_frame)
        em_drive_shot_build(shot, seed, 0, 0, fps);
    while (frame >= shot->first_frame + shot->n_frames)
        em_drive_shot_build(shot, seed, shot->shot + 1, shot->first_frame + shot->n_frames, fps);
    em_camera cam;
    em_drive_pose(shot, frame, w, h, &cam);
    em_world_render(&shot->now, &cam, scratch, mix64(seed ^ mix64(frame + 0x51ed)), rgb, label, depth, NULL);
}
