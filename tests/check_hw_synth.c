/* The synthesis view of src/hw (compiled with -D__SYNTHESIS__, as an HLS
 * tool sees it; built by mk/hw.mk, run by tests/hw_synth_test.sh): the
 * datapath gives the same features and routing, bit for bit, as the
 * simulation build (files written by `edgemoe run --engine hw`), and every
 * statistic compiled to nothing (the hw_stats of the run stay all zero).
 *   check_hw_synth MODEL|- IMAGE TASK FEATURES.bin ROUTING.bin */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fixed.h"
#include "hw/hw_config.h"

#ifdef __SYNTHESIS__
static int read_file(const char *path, void *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(buf, 1, n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    return got == n && !extra ? 0 : -1;
}
#endif

int main(int argc, char **argv) {
#ifndef __SYNTHESIS__
    (void)argc; (void)argv;
    fprintf(stderr, "check_hw_synth: this is the simulation build; the check is the synthesis build of mk/hw.mk\n");
    return 2;
#else
    if (argc != 6) { fprintf(stderr, "usage: check_hw_synth MODEL|- IMAGE TASK FEATURES ROUTING\n"); return 2; }
    static em_model m;
    em_err err = {{0}};
    em_config cfg;
    em_config_default(&cfg);
    int rc = strcmp(argv[1], "-") ? em_model_load(&m, argv[1], &err) : em_model_synthetic(&m, &cfg, 20231029u, &err);
    if (rc) { CHECK(0, "load model: %s", err.msg); TEST_MAIN_END(); }
    float *img = malloc((size_t)HW_IMG_C * HW_IMG_H * HW_IMG_W * sizeof(float));
    if (em_image_load(argv[2], &m.cfg, img, &err)) { CHECK(0, "load image: %s", err.msg); TEST_MAIN_END(); }
    const int task = atoi(argv[3]);
    static float feat[HW_N * HW_D], gp[HW_NMOE * HW_N * HW_TOPK], want_feat[HW_N * HW_D];
    static int32_t route[HW_NMOE * HW_N * HW_TOPK], cnt[HW_NMOE * HW_E], want_route[HW_NMOE * HW_N * HW_TOPK];
    em_task_output out[EM_MAX_TASKS];
    memset(out, 0, sizeof out);
    out[task].features = feat; out[task].routing = route; out[task].gate_prob = gp; out[task].expert_tokens = cnt;
    em_session_opts o;
    memset(&o, 0, sizeof o);
    void *e = em_engine_fixed.create(&m, &o, &err);
    CHECK(e != NULL, "synthesis view: engine created (%s)", e ? "ok" : err.msg);
    if (!e) TEST_MAIN_END();
    rc = em_engine_fixed.backbone(e, img, 1u << task, out, &err);
    CHECK(rc == EM_OK, "synthesis view: task %d runs (%s)", task, rc ? err.msg : "ok");
    const hw_stats *st = em_fixed_stats(e, task);
    static const hw_stats zero;
    CHECK(st && memcmp(st, &zero, sizeof zero) == 0, "synthesis view: every statistic compiled to nothing (hw_stats all zero)");
    CHECK(read_file(argv[4], want_feat, sizeof want_feat) == 0 && memcmp(feat, want_feat, sizeof feat) == 0,
          "synthesis view: features bit-identical to the simulation build (%s)", argv[4]);
    CHECK(read_file(argv[5], want_route, sizeof want_route) == 0 && memcmp(route, want_route, sizeof route) == 0,
          "synthesis view: routing identical to the simulation build");
    em_engine_fixed.destroy(e);
    free(img);
    em_model_free(&m);
    TEST_MAIN_END();
#endif
}
