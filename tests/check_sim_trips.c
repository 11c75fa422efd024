/* Cross-check of the performance model against the accelerator twin: src/hw
 * compiled with -DHW_COUNT_TRIPS (mk/sim.mk) counts the iterations of every
 * modelled loop while it runs (HW_TRIP in hw_stats.h); the model's trip
 * counts for the same image and task, from the routing that run produced,
 * must be equal, loop by loop and op by op.  Built for several ATTN_P and
 * run by tests/sim_trips_test.sh.
 *
 *   check_sim_trips [MODEL_DIR|- [IMAGE|white]]   (defaults: synthetic model, sample image) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fixed.h"
#include "image/image.h"
#include "sim/sim.h"


static const char *const trip_names[HW_NTRIPS] = {
    "embed", "ln_acc", "ln_tok", "ln_out", "weight_load", "bias_load", "linear_in", "linear_step",
    "linear_out", "q_load", "kv_stream", "attn_step", "softmax", "recip", "gate_dot", "gate_softmax", "residual"};

static int load_image(const char *path, const em_config *c, float *img, em_err *err)
{
    if (path && !strcmp(path, "white")) {   /* uniform image: most tokens go to one expert */
        for (size_t i = 0; i < (size_t)c->img_c * c->img_h * c->img_w; i++) img[i] = 255.0f / 256.0f;
        return EM_OK;
    }
    if (path) return em_image_load(path, c, img, err);
    em_rgb8 s;   /* the sample scene at the model size, v/256 */
    int rc = em_image_sample(c->img_w, c->img_h, &s, err);
    if (rc) return rc;
    for (int ch = 0; ch < c->img_c; ch++)
        for (int i = 0; i < c->img_h * c->img_w; i++) img[(size_t)ch * c->img_h * c->img_w + i] = s.rgb[i * 3 + ch] / 256.0f;
    em_rgb8_free(&s);
    return EM_OK;
}

int main(int argc, char **argv)
{
#ifndef HW_COUNT_TRIPS
    /* the generic tests/check_*.c rule builds this without instrumentation */
    fprintf(stderr, "check_sim_trips: built without HW_COUNT_TRIPS; use the mk/sim.mk build\n");
    (void)argc; (void)argv; (void)load_image; (void)trip_names;
    return 2;
#endif
    em_model m;
    em_err err;
    em_config cfg;
    em_config_default(&cfg);
    const char *mdir = argc > 1 && strcmp(argv[1], "-") ? argv[1] : NULL;
    int rc = mdir ? em_model_load(&m, mdir, &err) : em_model_synthetic(&m, &cfg, 20231029u, &err);
    CHECK(rc == 0, "model %s loads%s%s", mdir ? mdir : "synthetic", rc ? ": " : "", rc ? err.msg : "");
    if (rc) TEST_MAIN_END();
    const em_config *c = &m.cfg;
    const size_t N = c->n_tok, D = c->dim, Lm = em_n_moe_layers(c), K = c->top_k, E = c->n_experts;
    float *img = malloc((size_t)c->img_c * c->img_h * c->img_w * sizeof(float));
    rc = load_image(argc > 2 ? argv[2] : NULL, c, img, &err);
    CHECK(rc == 0, "image loads%s%s", rc ? ": " : "", rc ? err.msg : "");
    if (rc) TEST_MAIN_END();

    em_session_opts opts = {0};
    opts.engine = EM_ENGINE_FIXED;
    void *eng = em_engine_fixed.create(&m, &opts, &err);
    CHECK(eng != NULL, "fixed engine (instrumented, ATTN_P = %d) starts", ATTN_P);
    if (!eng) TEST_MAIN_END();
    em_task_output out[EM_MAX_TASKS];
    memset(out, 0, sizeof out);
    for (int t = 0; t < c->n_tasks; t++) {
        out[t].features = malloc(N * D * sizeof(float));
        out[t].routing = malloc(Lm * N * K * sizeof(int32_t));
        out[t].gate_prob = malloc(Lm * N * K * sizeof(float));
        out[t].expert_tokens = malloc(Lm * E * sizeof(int32_t));
    }
    rc = em_engine_fixed.backbone(eng, img, (1u << c->n_tasks) - 1, out, &err);
    CHECK(rc == 0, "backbone runs for every task%s%s", rc ? ": " : "", rc ? err.msg : "");

    em_sim_params p;
    em_sim_params_default(&p);
    p.attn_p = ATTN_P;                      /* the twin's compile-time sizes */
    p.tile_in = p.tile_out = HW_TILE;
    p.axi_bits = 256;
    em_sim_result *r = malloc(sizeof *r);
    for (int t = 0; t < c->n_tasks && rc == 0; t++) {
        const hw_stats *st = em_fixed_stats(eng, t);
        CHECK(st != NULL, "task %d: hw stats", t);
        if (!st) continue;
        int used = 0, biggest = 0;
        for (size_t i = 0; i < Lm * E; i++) {
            used += out[t].expert_tokens[i] > 0;
            if (out[t].expert_tokens[i] > biggest) biggest = out[t].expert_tokens[i];
        }
        printf("  task %s: %d expert queues used over %zu MoE blocks, longest %d tokens\n", c->task_name[t], used, Lm, biggest);
        if (em_sim_run(&p, c, out[t].expert_tokens, r, &err)) { CHECK(0, "model runs: %s", err.msg); continue; }
        uint64_t model[HW_N_OPS][HW_NTRIPS];
        memset(model, 0, sizeof model);
        for (int op = 0; op < EM_SIM_NOPS; op++)
            for (int l = 0; l < HW_NTRIPS; l++) model[em_sim_op_hw(op)][l] += r->trips[op][l];
        int compared = 0;
        for (int op = 0; op < HW_N_OPS; op++)
            for (int l = 0; l < HW_NTRIPS; l++) {
                if (!model[op][l] && !st->trips[op][l]) continue;
                compared++;
                CHECK(model[op][l] == st->trips[op][l], "task %s, %s / %s: model %llu trips, hw %llu", c->task_name[t],
                      hw_op_names[op], trip_names[l], (unsigned long long)model[op][l], (unsigned long long)st->trips[op][l]);
            }
        /* the loops that must be instrumented and modelled */
        static const int need[][2] = {
            {HW_OP_EMBED, HW_TRIP_EMBED}, {HW_OP_LN, HW_TRIP_LN_ACC}, {HW_OP_QKV, HW_TRIP_LIN_STEP},
            {HW_OP_QK, HW_TRIP_KV}, {HW_OP_QK, HW_TRIP_SOFTMAX}, {HW_OP_AV, HW_TRIP_ATTN_STEP},
            {HW_OP_EXPERT1, HW_TRIP_LIN_STEP}, {HW_OP_EXPERT2, HW_TRIP_WLOAD}, {HW_OP_GATE, HW_TRIP_GATE_SM},
            {HW_OP_RESID, HW_TRIP_RESID}};
        int missing = 0;
        for (size_t i = 0; i < sizeof need / sizeof *need; i++)
            if (!st->trips[need[i][0]][need[i][1]]) {
                printf("  not counted by hw: %s / %s\n", hw_op_names[need[i][0]], trip_names[need[i][1]]);
                missing++;
            }
        CHECK(missing == 0, "task %s: every key loop is counted by the instrumented hw (%d compared)", c->task_name[t], compared);
    }
    free(r);
    for (int t = 0; t < c->n_tasks; t++) {
        free(out[t].features); free(out[t].routing); free(out[t].gate_prob); free(out[t].expert_tokens);
    }
    em_engine_fixed.destroy(eng);
    free(img);
    em_model_free(&m);
    TEST_MAIN_END();
}
