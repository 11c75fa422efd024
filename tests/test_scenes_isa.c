/* The scene renderer is cloned per instruction set (plain x86-64, AVX2,
 * x86-64-v4 with AVX-512; picked at run time) and must give the same bytes
 * on every machine.  mk/scenes.mk compiles src/scenes/render.c once more per
 * set with its public names suffixed (_plain, _avx2, _v4); every copy this
 * CPU can run renders the same scenes as the library's own dispatch, and
 * image, labels, depth and primitive ids must be identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgemoe.h"
#include "scenes/scene.h"
#include "test_util.h"

typedef void (*render_fn)(const em_world *, const em_camera *, void *, uint64_t, uint8_t *, int8_t *, float *,
                          uint16_t *);
#define DECL(isa) void em_world_render_##isa(const em_world *, const em_camera *, void *, uint64_t, uint8_t *, \
                                             int8_t *, float *, uint16_t *);
DECL(plain)
DECL(avx2)
DECL(v4)

typedef struct { const char *name; render_fn fn; int runs; } variant;

enum { W = 256, H = 128, N_SCENES = 40 };

typedef struct { uint8_t rgb[W * H * 3]; int8_t label[W * H]; float depth[W * H]; uint16_t id[W * H]; } frame;

static void render(render_fn fn, const em_world *w, const em_camera *cam, void *scratch, uint64_t key, frame *f) {
    fn(w, cam, scratch, key, f->rgb, f->label, f->depth, f->id);
}

int main(void) {
    variant v[3];
    int nv = 0;
#ifdef SCN_HAVE_plain
    v[nv++] = (variant){"plain x86-64", em_world_render_plain, 1};
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#ifdef SCN_HAVE_avx2
    v[nv++] = (variant){"AVX2", em_world_render_avx2, __builtin_cpu_supports("avx2")};
#endif
#ifdef SCN_HAVE_v4
    v[nv++] = (variant){"x86-64-v4 (AVX-512)", em_world_render_v4,
                        __builtin_cpu_supports("x86-64-v4")};
#endif
#endif
    em_world *world = malloc(sizeof *world);
    void *scratch = aligned_alloc(64, (em_render_scratch_bytes(W, H) + 63) & ~(size_t)63);
    frame *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    for (int k = 0; k < nv; k++) {
        if (!v[k].runs) {
            printf("SKIP: the %s renderer: this CPU cannot run it\n", v[k].name);
            continue;
        }
        int same = 1;
        uint64_t first_bad = 0;
        for (uint64_t i = 0; i < N_SCENES && same; i++) {
            int split = i % 2 ? EM_SPLIT_VAL : EM_SPLIT_TRAIN;
            em_world_build(world, 1, split, i * 37);
            em_camera cam;
            em_camera_from_rig(&world->rig, W, H, &cam);
            render(em_world_render, world, &cam, scratch, i, ref);
            memset(got, 0xa5, sizeof *got);
            render(v[k].fn, world, &cam, scratch, i, got);
            same = !memcmp(ref, got, sizeof *ref);
            first_bad = i;
        }
        CHECK(same, "the %s renderer gives the library's bytes on %d scenes (image, labels, depth, ids)%s", v[k].name,
              N_SCENES, same ? "" : " -- first difference in scene");
        if (!same) printf("  scene %llu differs\n", (unsigned long long)first_bad);
    }
    CHECK(nv >= 1, "%d renderer copies compiled for this machine", nv);
    free(world); free(scratch); free(ref); free(got);
    TEST_MAIN_END();
}
