/* em_scene_render: the public entry point (include/edgemoe.h).  One
 * allocation per call (world + scratch), nothing shared between calls, so
 * any number of threads may render at once. */
#include <stdlib.h>
#include "util.h"
#include "scenes/scene.h"
#include "scenes/smath.h"

#define EM_SCENE_MAX_DIM 4096

int em_scene_render(uint64_t seed, int split, uint64_t index, int w, int h,
                    uint8_t *rgb, int8_t *label, float *depth, em_err *err) {
    if (split != EM_SPLIT_TRAIN && split != EM_SPLIT_VAL)
        return em_error(err, EM_EARG, "scene split %d is neither train (%d) nor val (%d)", split, EM_SPLIT_TRAIN, EM_SPLIT_VAL);
    if (w < 8 || h < 8 || w > EM_SCENE_MAX_DIM || h > EM_SCENE_MAX_DIM)
        return em_error(err, EM_ESHAPE, "scene size %dx%d out of range (8..%d per side)", w, h, EM_SCENE_MAX_DIM);
    size_t bytes = sizeof(em_world) + 64 + em_render_scratch_bytes(w, h);
    char *mem = malloc(bytes);
    if (!mem) return em_error(err, EM_ENOMEM, "scene %dx%d: out of memory (%zu bytes)", w, h, bytes);
    em_world *world = (em_world *)mem;
    void *scratch = mem + ((sizeof(em_world) + 63) & ~(size_t)63);
    em_world_build(world, seed, split, index);
    em_camera cam;
    em_camera_from_rig(&world->rig, w, h, &cam);
    uint64_t noise_key = sm_mix64(seed * 0x9e3779b97f4a7c15ull + 2 * index + (uint64_t)split + 0x1234567u);
    em_world_render(world, &cam, scratch, noise_key, rgb, label, depth, NULL);
    free(mem);
    return EM_OK;
}
