/* The street-scene generator (src/scenes, docs/scenes.md): determinism,
 * exactness of labels and depth, and the statistics a model must not be
 * able to shortcut. */
#include <pthread.h>
#include <stdint.h>
#include "edgemoe.h"
#include "scenes/scene.h"
#include "test_util.h"

#define W 256
#define H 128
#define NPIX (W * H)

typedef struct { uint8_t rgb[3 * NPIX]; int8_t label[NPIX]; float depth[NPIX]; } frame;

static int render(uint64_t seed, int split, uint64_t index, frame *f) {
    em_err err;
    int rc = em_scene_render(seed, split, index, W, H, f->rgb, f->label, f->depth, &err);
    if (rc) printf("  render: %s\n", err.msg);
    return rc;
}
static int same(const frame *a, const frame *b) {
    return !memcmp(a->rgb, b->rgb, sizeof a->rgb) && !memcmp(a->label, b->label, sizeof a->label) &&
           !memcmp(a->depth, b->depth, sizeof a->depth);
}

/* ---- determinism ---- */
typedef struct { uint64_t first, n; frame *out; int rc; } job;
static void *run_job(void *arg) {
    job *j = arg;
    for (uint64_t k = 0; k < j->n; k++) j->rc |= render(5, EM_SPLIT_TRAIN, j->first + k, &j->out[k]);
    return NULL;
}

static void test_determinism(void) {
    enum { N = 8 };
    frame *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(sizeof *c);
    int rc = 0, eq = 1;
    for (int k = 0; k < N; k++) rc |= render(5, EM_SPLIT_TRAIN, (uint64_t)k, &a[k]);
    for (int k = 0; k < N; k++) { rc |= render(5, EM_SPLIT_TRAIN, (uint64_t)k, c); eq &= same(&a[k], c); }
    CHECK(rc == 0 && eq, "same (seed, split, index) twice: identical rgb, label and depth bytes (%d scenes)", N);
    /* two threads at once, interleaved indices, give the serial bytes */
    job j0 = {0, N / 2, b, 0}, j1 = {N / 2, N / 2, b + N / 2, 0};
    pthread_t t0, t1;
    pthread_create(&t0, NULL, run_job, &j0);
    pthread_create(&t1, NULL, run_job, &j1);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    eq = 1;
    for (int k = 0; k < N; k++) eq &= same(&a[k], &b[k]);
    CHECK(j0.rc == 0 && j1.rc == 0 && eq, "2 threads rendering concurrently: the same bytes as serially");
    /* split and seed change the scene; neighbouring indices differ */
    int diff_split = 0, diff_seed = 0, diff_index = 0;
    for (int k = 0; k < N; k++) {
        render(5, EM_SPLIT_VAL, (uint64_t)k, c);
        diff_split += memcmp(a[k].rgb, c->rgb, sizeof c->rgb) != 0 && memcmp(a[k].label, c->label, sizeof c->label) != 0;
        render(6, EM_SPLIT_TRAIN, (uint64_t)k, c);
        diff_seed += memcmp(a[k].rgb, c->rgb, sizeof c->rgb) != 0 && memcmp(a[k].label, c->label, sizeof c->label) != 0;
        if (k) diff_index += memcmp(a[k].label, a[k - 1].label, sizeof c->label) != 0;
    }
    CHECK(diff_split == N, "val scene k differs from train scene k in image and labels (%d of %d)", diff_split, N);
    CHECK(diff_seed == N, "seed 6 scene k differs from seed 5 scene k (%d of %d)", diff_seed, N);
    CHECK(diff_index == N - 1, "consecutive indices give different scenes (%d of %d)", diff_index, N - 1);
    /* the worlds themselves: no train world equals a val world among the first 200 of each */
    em_world *wa = malloc(sizeof *wa), *wb = malloc(sizeof *wb);
    int shared = 0;
    float cam_a[200][3];
    for (int k = 0; k < 200; k++) {
        em_world_build(wa, 5, EM_SPLIT_TRAIN, (uint64_t)k);
        cam_a[k][0] = wa->rig.height; cam_a[k][1] = wa->rig.pitch; cam_a[k][2] = wa->rig.hfov;
    }
    for (int k = 0; k < 200; k++) {
        em_world_build(wb, 5, EM_SPLIT_VAL, (uint64_t)k);
        for (int q = 0; q < 200; q++)
            shared += cam_a[q][0] == wb->rig.height && cam_a[q][1] == wb->rig.pitch && cam_a[q][2] == wb->rig.hfov;
    }
    CHECK(shared == 0, "no val camera rig (height, pitch, fov) equals a train rig among 200 x 200 scenes (%d equal)", shared);
    /* bad arguments are refused */
    em_err err;
    CHECK(em_scene_render(1, 2, 0, W, H, a[0].rgb, NULL, NULL, &err) == EM_EARG, "split 2 refused: %s", err.msg);
    CHECK(em_scene_render(1, 0, 0, 4, H, a[0].rgb, NULL, NULL, &err) == EM_ESHAPE, "width 4 refused: %s", err.msg);
    free(a); free(b); free(c); free(wa); free(wb);
}

/* ---- exactness ---- */
/* pixel (i, j)'s ray, computed here in double from the camera */
static void ray_of(const em_camera *c, int i, int j, double d[3]) {
    double a = (i + 0.5 - c->cx) / c->fx, b = (j + 0.5 - c->cy) / c->fy;
    for (int k = 0; k < 3; k++) d[k] = (double)c->fwd[k] + a * c->right[k] - b * c->up[k];
}

/* nearest hit over the terrain and every solid, brute force */
static float nearest(const em_world *w, const em_camera *cam, const double d[3]) {
    float df[3] = {(float)d[0], (float)d[1], (float)d[2]}, best = 1e30f, t;
    em_terrain_intersect(&w->ter, cam->pos, df, &best);
    for (int p = 0; p < w->n_prims; p++)
        if (em_prim_intersect(&w->prims[p], cam->pos, df, 0.05f, &t) && t < best) best = t;
    return best;
}

static void test_exactness(void) {
    enum { SCENES = 40 };
    em_world *w = malloc(sizeof *w);
    void *scratch = malloc(em_render_scratch_bytes(W, H));
    frame *f = malloc(sizeof *f);
    uint16_t *id = malloc(NPIX * sizeof *id);
    long checked = 0, on_prim = 0, off_surface = 0, wrong_class = 0, brute_bad = 0, road = 0, road_bad = 0, top = 0,
         top_bad = 0, kerb = 0, kerb_bad = 0, sky = 0, sky_bad = 0, silhouette = 0, ign = 0, ign_bad = 0, bad_depth = 0, road_not_flat = 0;
    double worst_brute = 0, worst_plane = 0, max_depth = 0;
    for (int s = 0; s < SCENES; s++) {
        em_world_build(w, 11, EM_SPLIT_TRAIN, (uint64_t)s);
        em_camera cam;
        em_camera_from_rig(&w->rig, W, H, &cam);
        em_world_render(w, &cam, scratch, 1, f->rgb, f->label, f->depth, id);
        /* the public call gives the same labels and depth */
        frame *g = malloc(sizeof *g);
        render(11, EM_SPLIT_TRAIN, (uint64_t)s, g);
        if (memcmp(g->label, f->label, NPIX) || memcmp(g->depth, f->depth, sizeof g->depth)) brute_bad += 1000000;
        free(g);
        const double o[3] = {cam.pos[0], cam.pos[1], cam.pos[2]};
        for (int j = 0; j < H; j++)
            for (int i = 0; i < W; i++) {
                int q = j * W + i;
                float z = f->depth[q];
                int lab = f->label[q];
                if (id[q] == EM_ID_SKY) { sky++; sky_bad += !(z == 0.0f && lab == EM_CLASS_SKY); continue; }
                if (id[q] == EM_ID_BONNET) {
                    ign++;
                    ign_bad += !(z == 0.0f && lab == EM_CLASS_IGNORE && j >= H / 2 && em_bonnet_at(w, &cam, i, j));
                    continue;
                }
                if (lab == EM_CLASS_IGNORE || lab == EM_CLASS_SKY || !(z > 0.0f && z <= 250.0f)) { bad_depth++; continue; }
                if (z > max_depth) max_depth = z;
                double d[3];
                ray_of(&cam, i, j, d);
                float x[3] = {(float)(o[0] + z * d[0]), (float)(o[1] + z * d[1]), (float)(o[2] + z * d[2])};
                if (id[q] >= EM_ID_TERRAIN) {
                    /* analytic planes, from the camera alone */
                    int surf = id[q] - EM_ID_TERRAIN;
                    const em_terrain *T = &w->ter;
                    double want = surf == EM_SURF_ROAD ? -o[1] / d[1] : surf == EM_SURF_TOP ? (T->kerb_h - o[1]) / d[1]
                                : ((x[0] < 0.5f * (T->road_l + T->road_r) ? T->road_l : T->road_r) - o[0]) / d[0];
                    double rel = fabs(z - want) / want;
                    if (rel > worst_plane) worst_plane = rel;
                    if (surf == EM_SURF_ROAD) { road++; road_bad += rel > 1e-5; road_not_flat += lab != EM_CLASS_FLAT; }
                    else if (surf == EM_SURF_TOP) { top++; top_bad += rel > 1e-5; }
                    else { kerb++; kerb_bad += rel > 1e-5; }
                }
                if ((i + j + s) % 3) continue;  /* the rest on every third pixel */
                checked++;
                /* the point lies on a solid (or the terrain) of the labelled class */
                int found = 0;
                double tol = 1e-3 * z;
                if (em_terrain_surface_dist(&w->ter, x) <= tol && em_terrain_class(&w->ter, x) == lab) found = 1;
                for (int p = 0; p < w->n_prims && !found; p++)
                    if (w->prims[p].cls == lab && em_prim_surface_dist(&w->prims[p], x) <= tol) found = 1;
                if (!found) {
                    int any = em_terrain_surface_dist(&w->ter, x) <= tol;
                    for (int p = 0; p < w->n_prims && !any; p++) any = em_prim_surface_dist(&w->prims[p], x) <= tol;
                    if (any) wrong_class++; else off_surface++;
                    if (wrong_class + off_surface <= 3)
                        printf("  scene %d pixel (%d,%d): label %d depth %g id %d: no surface of that class there\n", s, i, j, lab, z, id[q]);
                }
                on_prim += id[q] < EM_ID_TERRAIN;
                /* brute force over every solid: nothing nearer than the stored hit.  On a
                 * silhouette the float rays of renderer and test (rounded differently)
                 * may fall on either side: then a ray within 0.02 pixel must agree. */
                float best = nearest(w, &cam, d);
                double rel = fabs(best - z) / z;
                if (rel > 1e-4) {
                    int near_ok = 0;
                    for (int k = 0; k < 4 && !near_ok; k++) {
                        double e[3], di = k == 0 ? 0.02 : k == 1 ? -0.02 : 0, dj = k == 2 ? 0.02 : k == 3 ? -0.02 : 0;
                        for (int m = 0; m < 3; m++) e[m] = d[m] + di / cam.fx * cam.right[m] - dj / cam.fy * cam.up[m];
                        near_ok = fabs(nearest(w, &cam, e) - z) <= 1e-4 * z;
                    }
                    if (near_ok) silhouette++;
                    else {
                        brute_bad++;
                        if (rel > worst_brute) worst_brute = rel;
                        if (brute_bad <= 3) printf("  scene %d pixel (%d,%d): depth %g but the nearest solid is at %g\n", s, i, j, z, best);
                    }
                }
            }
    }
    CHECK(bad_depth == 0, "every non-sky, non-ignore pixel has 0 < depth <= 250 m and a real class (%ld bad); max depth %.1f m",
          bad_depth, max_depth);
    CHECK(off_surface == 0 && wrong_class == 0,
          "%ld sampled pixels (%ld on solids): ray * depth lies on a surface of the labelled class within 1e-3 relative "
          "(%ld off every surface, %ld on a surface of another class)", checked, on_prim, off_surface, wrong_class);
    CHECK(brute_bad == 0, "brute force over all solids and the terrain: the nearest hit is the depth within 1e-4 "
          "(%ld silhouette pixels agree within 0.02 px; %ld disagree, worst rel %.2g)", silhouette, brute_bad, worst_brute);
    CHECK(road > 0 && road_bad == 0 && top > 0 && top_bad == 0 && kerb > 0 && kerb_bad == 0,
          "terrain planes: road %ld, sidewalk level %ld, kerb faces %ld pixels match the analytic intersection within 1e-5 (worst %.2g)",
          road, top, kerb, worst_plane);
    CHECK(road_not_flat == 0, "road pixels are labelled flat (%ld not)", road_not_flat);
    CHECK(sky > 0 && sky_bad == 0, "%ld sky pixels: depth 0 and class sky (%ld not)", sky, sky_bad);
    CHECK(ign > 0 && ign_bad == 0, "%ld ignore pixels, all on the ego bonnet in the lower half: depth 0, label -1 (%ld not)", ign, ign_bad);
    free(w); free(scratch); free(f); free(id);
}

/* ---- cast shadows ---- */
/* entry and exit of the ray x + t L through primitive p, in double, written
 * independently of the renderer; 0 when the line misses it */
static int span_of(const em_prim *p, const double x[3], const double L[3], double *tn, double *tf) {
    double lo = -1e300, hi = 1e300;
    if (p->kind == EM_PRIM_BOX) {
        double X = x[0] - p->c[0], Y = x[1] - p->c[1], Z = x[2] - p->c[2];
        double o[3] = {p->cs * X - p->sn * Z, Y, p->sn * X + p->cs * Z}, d[3] = {p->cs * L[0] - p->sn * L[2], L[1], p->sn * L[0] + p->cs * L[2]};
        for (int k = 0; k < 3; k++) {
            if (fabs(d[k]) < 1e-12) { if (fabs(o[k]) > p->h[k]) return 0; continue; }
            double t1 = (-p->h[k] - o[k]) / d[k], t2 = (p->h[k] - o[k]) / d[k];
            if (t1 > t2) { double t = t1; t1 = t2; t2 = t; }
            lo = t1 > lo ? t1 : lo; hi = t2 < hi ? t2 : hi;
        }
    } else if (p->kind == EM_PRIM_CYL) {
        double ex = x[0] - p->c[0], ez = x[2] - p->c[2], a = L[0] * L[0] + L[2] * L[2], b = ex * L[0] + ez * L[2];
        double disc = b * b - a * (ex * ex + ez * ez - (double)p->h[0] * p->h[0]);
        if (a < 1e-12 || disc < 0) return 0;
        lo = (-b - sqrt(disc)) / a; hi = (-b + sqrt(disc)) / a;
        double t1 = (p->c[1] - p->h[1] - x[1]) / L[1], t2 = (p->c[1] + p->h[1] - x[1]) / L[1];
        lo = t1 > lo ? t1 : lo; hi = t2 < hi ? t2 : hi;
    } else {
        double e[3], q[3], a = 0, b = 0, c = -1;
        for (int k = 0; k < 3; k++) { e[k] = (x[k] - p->c[k]) / p->h[k]; q[k] = L[k] / p->h[k]; a += q[k] * q[k]; b += e[k] * q[k]; c += e[k] * e[k]; }
        double disc = b * b - a * c;
        if (disc < 0) return 0;
        lo = (-b - sqrt(disc)) / a; hi = (-b + sqrt(disc)) / a;
    }
    *tn = lo; *tf = hi;
    return lo <= hi;
}

/* Every pixel whose way to the sun is cleanly blocked by another solid gets
 * no sunlight, and ground pixels near the camera with a clear way get some,
 * wherever they are (also beyond the renderer's shadow grid).  Sunlight is
 * seen by rendering the scene again with the sun's light off: the same
 * noise, so a pixel without direct sun keeps its bytes. */
static void test_shadows(void) {
    em_world *w = malloc(sizeof *w), *dark = malloc(sizeof *dark);
    void *scratch = malloc(em_render_scratch_bytes(W, H));
    uint8_t *lit = malloc(3 * NPIX), *unlit = malloc(3 * NPIX);
    float *depth = malloc(NPIX * sizeof *depth);
    uint16_t *id = malloc(NPIX * sizeof *id);
    long scenes = 0, blocked = 0, blocked_bad = 0, clear = 0, clear_bad = 0, far = 0;
    for (int s = 0; scenes < 40 && s < 400; s++) {
        em_world_build(w, 5, EM_SPLIT_VAL, (uint64_t)s);
        if (!w->light.shadows) continue;
        scenes++;
        *dark = *w;
        for (int k = 0; k < 3; k++) dark->light.sun_col[k] = 0.0f;
        em_camera cam;
        em_camera_from_rig(&w->rig, W, H, &cam);
        em_world_render(w, &cam, scratch, 3, lit, NULL, depth, id);
        em_world_render(dark, &cam, scratch, 3, unlit, NULL, NULL, NULL);
        const double L[3] = {w->light.sun[0], w->light.sun[1], w->light.sun[2]};
        for (int q = s % 2; q < NPIX; q += 2) {
            if (id[q] == EM_ID_SKY || id[q] == EM_ID_BONNET) continue;
            double d[3], x[3];
            ray_of(&cam, q % W, q / W, d);
            for (int k = 0; k < 3; k++) x[k] = cam.pos[k] + depth[q] * d[k];
            int self = id[q] < EM_ID_TERRAIN ? id[q] : -1, hit = 0, near = 0;
            for (int p = 0; p < w->n_prims && !hit; p++) {
                double tn, tf;
                if (p == self || !span_of(&w->prims[p], x, L, &tn, &tf)) continue;
                if (tn > 0.1 && tf - tn > 0.05) hit = 1;          /* cleanly through another solid */
                else if (tf > -0.05 && tf - tn > -0.05) near = 1;  /* grazing, or starting inside */
            }
            int sunlit = memcmp(lit + 3 * q, unlit + 3 * q, 3) != 0;
            if (hit) {
                blocked++;
                const double gx = x[0] - x[1] * L[0] / L[1], gz = x[2] - x[1] * L[2] / L[1];
                far += gx < -100.0 || gx > 100.0 || gz < -60.0 || gz > 260.0;  /* src/scenes/render.c's SG_* */
                if (sunlit && ++blocked_bad <= 3) printf("  scene %d pixel (%d,%d): blocked from the sun but sunlit\n", s, q % W, q / W);
            } else if (!near && id[q] == EM_ID_TERRAIN + EM_SURF_ROAD && depth[q] < 40.0f) {
                clear++;
                if (!sunlit && ++clear_bad <= 3) printf("  scene %d pixel (%d,%d): clear way to the sun but no sunlight\n", s, q % W, q / W);
            }
        }
    }
    CHECK(scenes == 40 && blocked > 0 && blocked_bad == 0,
          "%ld scenes with sun: %ld sampled pixels cleanly blocked from the sun by another solid (%ld beyond the shadow grid) "
          "get no sunlight (%ld do)", scenes, blocked, far, blocked_bad);
    CHECK(clear > 0 && clear_bad == 0, "%ld road pixels within 40 m with a clear way to the sun are sunlit (%ld not)", clear, clear_bad);
    free(w); free(dark); free(scratch); free(lit); free(unlit); free(depth); free(id);
}

/* ---- statistics ---- */
static void test_statistics(void) {
    enum { SCENES = 300 };
    static const char *names[EM_N_CLASSES] = {"flat", "construction", "object", "nature", "sky", "human", "vehicle"};
    frame *f = malloc(sizeof *f);
    double pix[EM_N_CLASSES] = {0}, sum[EM_N_CLASSES][3] = {{0}}, rows[EM_N_CLASSES][H] = {{0}};
    int scenes_with[EM_N_CLASSES] = {0};
    long ignore = 0, total = 0;
    for (int s = 0; s < SCENES; s++) {
        render(3, EM_SPLIT_TRAIN, (uint64_t)s, f);
        int has[EM_N_CLASSES] = {0};
        for (int q = 0; q < NPIX; q++) {
            int c = f->label[q];
            total++;
            if (c < 0) { ignore++; continue; }
            pix[c]++; has[c] = 1;
            rows[c][q / W]++;
            for (int k = 0; k < 3; k++) sum[c][k] += f->rgb[3 * q + k];
        }
        for (int c = 0; c < EM_N_CLASSES; c++) scenes_with[c] += has[c];
    }
    int all = 1;
    printf("  class pixel share over %d scenes (scenes containing it):", SCENES);
    for (int c = 0; c < EM_N_CLASSES; c++) {
        printf(" %s %.1f%% (%d)", names[c], 100.0 * pix[c] / total, scenes_with[c]);
        all &= pix[c] > 0;
    }
    printf(", ignore %.2f%%\n", 100.0 * ignore / total);
    CHECK(all, "every class appears");
    CHECK(scenes_with[EM_CLASS_HUMAN] < SCENES && scenes_with[EM_CLASS_VEHICLE] < SCENES && scenes_with[EM_CLASS_HUMAN] > SCENES / 2 &&
              scenes_with[EM_CLASS_VEHICLE] > SCENES / 2,
          "some scenes lack humans (%d of %d have none), some lack vehicles (%d have none)", SCENES - scenes_with[EM_CLASS_HUMAN],
          SCENES, SCENES - scenes_with[EM_CLASS_VEHICLE]);
    CHECK(scenes_with[EM_CLASS_SKY] < SCENES, "some scenes have no sky (%d)", SCENES - scenes_with[EM_CLASS_SKY]);
    /* rows: the band holding the central 90% of each class's pixels */
    int narrow = 0;
    printf("  rows holding the central 90%% of each class (of %d):", H);
    for (int c = 0; c < EM_N_CLASSES; c++) {
        double acc = 0;
        int lo = -1, hi = -1;
        for (int r = 0; r < H; r++) {
            acc += rows[c][r];
            if (lo < 0 && acc >= 0.05 * pix[c]) lo = r;
            if (hi < 0 && acc >= 0.95 * pix[c]) hi = r;
        }
        int top_half = 0, bottom_half = 0;
        for (int r = 0; r < H / 2; r++) top_half += rows[c][r] > 0;
        for (int r = H / 2; r < H; r++) bottom_half += rows[c][r] > 0;
        printf(" %s %d-%d", names[c], lo, hi);
        narrow += hi - lo < H / 3 || !top_half || !bottom_half;
    }
    printf("\n");
    CHECK(narrow == 0, "every class spreads over a third of the rows or more and occurs in both halves of the frame");
    /* nearest-mean colour classifier: colour alone must not give the class */
    double mean[EM_N_CLASSES][3];
    for (int c = 0; c < EM_N_CLASSES; c++)
        for (int k = 0; k < 3; k++) mean[c][k] = sum[c][k] / (pix[c] > 0 ? pix[c] : 1);
    long right = 0, counted = 0;
    double inter[EM_N_CLASSES] = {0}, uni[EM_N_CLASSES] = {0};
    for (int s = 0; s < SCENES; s++) {
        render(3, EM_SPLIT_TRAIN, (uint64_t)s, f);
        for (int q = 0; q < NPIX; q++) {
            int c = f->label[q];
            if (c < 0) continue;
            int best = 0;
            double bd = 1e30;
            for (int m = 0; m < EM_N_CLASSES; m++) {
                double e = 0;
                for (int k = 0; k < 3; k++) { double v = f->rgb[3 * q + k] - mean[m][k]; e += v * v; }
                if (e < bd) { bd = e; best = m; }
            }
            right += best == c; counted++;
            if (best == c) inter[c]++;
            uni[c]++; if (best != c) uni[best]++;
        }
    }
    double acc = (double)right / counted, majority = 0, miou = 0;
    for (int c = 0; c < EM_N_CLASSES; c++) { if (pix[c] / counted > majority) majority = pix[c] / counted; miou += inter[c] / (uni[c] > 0 ? uni[c] : 1); }
    miou /= EM_N_CLASSES;
    CHECK(acc < 0.5 && miou < 0.25, "nearest-mean-colour classifier fitted on the scenes: pixel accuracy %.3f (always-majority-class %.3f), "
          "mIoU %.3f: colour alone does not give the class", acc, majority, miou);
    free(f);
}

int main(void) {
    test_determinism();
    test_exactness();
    test_shadows();
    test_statistics();
    TEST_MAIN_END();
}
