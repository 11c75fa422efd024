/* The drive of `edgemoe scenes --sequence` (src/scenes/sequence.c): the
 * camera moves forward smoothly and never enters a solid, objects move as
 * wholes at their velocity, shots chain, frames are deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "scenes/sequence.h"

int main(void) {
    em_drive_shot *s = calloc(1, sizeof *s), *s2 = calloc(1, sizeof *s2);
    const double fps = 25;
    int hits = 0, frames = 0, movers = 0, moved_ok = 1, smooth = 1, chained = 1, dyn_in_path = 0;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        em_drive_shot_build(s, seed, 0, 0, fps);
        movers += s->n_movers;
        float last_z = 0, last_x = s->rig0.x;
        for (uint64_t f = 0; f < s->n_frames; f += 3) {
            em_camera cam;
            em_drive_pose(s, f, 256, 128, &cam);
            frames++;
            for (int i = 0; i < s->now.n_prims; i++)
                if (em_prim_near(&s->now.prims[i], cam.pos, 0.3f)) {
                    if (hits < 5) printf("  seed %llu frame %llu: camera inside prim %d (class %d)\n", (unsigned long long)seed,
                                         (unsigned long long)f, i, s->now.prims[i].cls);
                    hits++;
                }
            /* 3 frames at 25 fps: z advances speed * 0.12 s, x sways by centimetres */
            if (f > 0 && (fabsf(cam.pos[2] - last_z - s->speed * 3 / 25.0f) > 1e-3f || fabsf(cam.pos[0] - last_x) > 0.05f)) smooth = 0;
            last_z = cam.pos[2]; last_x = cam.pos[0];
        }
        /* every mover's primitives move by v t, as one */
        em_camera cam;
        em_drive_pose(s, 10, 256, 128, &cam);
        const float t = 10 / 25.0f;
        for (int k = 0; k < s->n_movers; k++) {
            const em_drive_mover *m = &s->movers[k];
            if (m->x_hi < 1e8f) continue;  /* crossing pedestrians stop at the kerb */
            for (int i = m->first; i < m->first + m->count; i++) {
                const em_prim *a = &s->base.prims[i], *b = &s->now.prims[i];
                if (fabsf(b->c[0] - a->c[0] - m->v[0] * t) > 1e-4f || fabsf(b->c[2] - a->c[2] - m->v[2] * t) > 1e-4f ||
                    b->c[1] != a->c[1] || fabsf((b->bmax[2] - b->bmin[2]) - (a->bmax[2] - a->bmin[2])) > 1e-4f)
                    moved_ok = 0;
            }
            if (m->v[2] > s->speed) dyn_in_path++;
        }
        /* the next shot starts where this one ends */
        em_drive_shot_build(s2, seed, 1, s->n_frames, fps);
        if (s2->first_frame != s->n_frames || s2->n_frames < 1) chained = 0;
    }
    CHECK(hits == 0, "the camera never comes within 0.3 m of a solid (24 drives, %d frames, %d hits)", frames, hits);
    CHECK(smooth, "the camera advances speed x dt every frame and sways by centimetres");
    CHECK(movers > 24, "objects move (%d movers in 24 first shots)", movers);
    CHECK(moved_ok, "each mover's primitives move together by v t, keeping their shape");
    CHECK(dyn_in_path > 0, "some objects drive away ahead of the camera, faster than it (%d)", dyn_in_path);
    CHECK(chained, "shot k+1 starts at the frame after shot k");

    /* frames: deterministic, a later frame differs, and frame i does not depend on what was rendered before */
    const int W = 64, H = 32;
    size_t sb = em_render_scratch_bytes(W, H);
    void *scratch = aligned_alloc(64, (sb + 63) & ~(size_t)63);
    uint8_t *a = malloc(3 * W * H), *b = malloc(3 * W * H), *c = malloc(3 * W * H);
    memset(s, 0, sizeof *s);
    memset(s2, 0, sizeof *s2);
    em_drive_render(s, 5, fps, 0, W, H, scratch, a, NULL, NULL);
    em_drive_render(s, 5, fps, 40, W, H, scratch, b, NULL, NULL);
    em_drive_render(s2, 5, fps, 40, W, H, scratch, c, NULL, NULL);
    CHECK(memcmp(a, b, 3 * W * H) != 0, "frame 40 differs from frame 0");
    CHECK(memcmp(b, c, 3 * W * H) == 0, "frame 40 rendered directly equals frame 40 rendered after frame 0");
    em_drive_render(s, 5, fps, 0, W, H, scratch, c, NULL, NULL);
    CHECK(memcmp(a, c, 3 * W * H) == 0, "going back to frame 0 gives the same bytes");
    em_drive_render(s2, 5, fps, 5000, W, H, scratch, c, NULL, NULL);
    uint64_t far = s2->shot;
    CHECK(far > 1 && s2->first_frame <= 5000 && 5000 < s2->first_frame + s2->n_frames, "frame 5000 lies in shot %llu (shots chain)", (unsigned long long)far);
    free(a); free(b); free(c); free(scratch); free(s); free(s2);
    TEST_MAIN_END();
}
