/* A drive down generated streets: the frames of `edgemoe scenes --sequence`
 * (docs/video.md).
 *
 * The drive is a series of shots; shot k is one world (em_world_build with
 * the val split and index EM_DRIVE_INDEX0 + k, so no shot is a scene of a
 * dataset made with `edgemoe scenes`).  In a shot the camera drives down
 * the street at a constant speed with a small smooth sway, yaw and pitch
 * bob; the shot ends 30 m before the street's closing row and the next
 * world begins.  Cars, cyclists and pedestrians move: the world's dynamic
 * primitives are grouped into objects (consecutive vehicle / human
 * primitives that touch), and each object gets a velocity:
 *   - anything in the camera's lane ahead drives away from it (faced +z),
 *   - other cars drive along their lane (one speed per lane and direction),
 *     oncoming cars towards the camera; cars by the kerbs stay parked,
 *     cars across the road wait,
 *   - cyclists ride along the kerb, pedestrians walk along the sidewalk or
 *     cross the road away from the camera's lane and stop at the kerb.
 * Static solids the moving camera would pass within 0.5 m of (a low tree
 * crown over the road) are taken out of the shot's world.
 * Every frame is a pure function of (seed, frame, fps, size): the same bytes
 * on any machine, and a longer sequence starts with the same frames. */
#ifndef EM_SCENES_SEQUENCE_H
#define EM_SCENES_SEQUENCE_H
#include <stdint.h>
#include "scenes/scene.h"

#define EM_DRIVE_INDEX0 (1ull << 40)
#define EM_DRIVE_MAX_MOVERS 256

typedef struct {
    int first, count;        /* primitive range in the world */
    float v[3];              /* velocity, m/s */
    float x_lo, x_hi;        /* allowed centre x (crossing pedestrians stop at the kerb) */
    float cx;                /* centre x at t = 0 */
} em_drive_mover;

typedef struct {
    uint64_t seed, shot;
    uint64_t first_frame, n_frames;  /* frames of the whole drive this shot covers */
    double fps;
    float speed;             /* camera, m/s */
    float sway_a, sway_f, sway_p;    /* lateral sway amplitude (m), frequency (Hz), phase */
    em_rig rig0;
    int n_movers;
    em_drive_mover movers[EM_DRIVE_MAX_MOVERS];
    em_world base;           /* the world with the movers turned to their heading, t = 0 */
    em_world now;            /* the world posed at the current frame */
} em_drive_shot;

/* Builds shot `shot` of the drive (seed) starting at first_frame. */
/* 1 if x lies within margin of the solid p (its shape grown by margin). */
int em_prim_near(const em_prim *p, const float x[3], float margin);
void em_drive_shot_build(em_drive_shot *s, uint64_t seed, uint64_t shot, uint64_t first_frame, double fps);
/* Poses s->now and the camera for frame (first_frame <= frame < first_frame + n_frames). */
void em_drive_pose(em_drive_shot *s, uint64_t frame, int w, int h, em_camera *cam);

/* Renders frame `frame` of the drive.  shot: caller-owned state reused
 * between calls (shot->n_frames == 0 the first time); scratch:
 * em_render_scratch_bytes(w, h), 16-aligned.  Outputs as em_world_render. */
void em_drive_render(em_drive_shot *shot, uint64_t seed, double fps, uint64_t frame, int w, int h, void *scratch,
                     uint8_t *rgb, int8_t *label, float *depth);
#endif
