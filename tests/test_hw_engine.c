/* The fixed engine (accelerator twin) on the shared M3ViT weights:
 *  - refuses a model whose config differs from the accelerator's, naming it;
 *  - fidelity vs the reference engine on the shared image, both tasks:
 *    block-11 MSE <= 3e-2 and routing agreement >= 97% (the MSE limit is
 *    the largest of 102 measured (image, task) pairs, 2.49e-2, plus 20 %:
 *    docs/fixed.md#fidelity-over-many-images; docs/spec.md#5-reference-figures: the original lands near 2.0e-3 for
 *    task 0 with these stand-in experts);
 *  - a uniform (all-white) image, where one expert receives all 129 tokens
 *    (the original hangs there), runs and routes every token twice;
 *  - per MoE layer, each used expert's weights are read from DRAM exactly
 *    once and unused experts never;
 *  - the session API gives the same features with --engine hw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/compare.h"
#include "engine/fixed.h"
#include "hw/hw_config.h"

static em_model m;

static void test_config_mismatch(void) {
    em_model mm = m;
    em_err err = {{0}};
    em_session_opts o;
    memset(&o, 0, sizeof o);
    mm.cfg.dim = 256;
    void *e = em_engine_fixed.create(&mm, &o, &err);
    CHECK(e == NULL && strstr(err.msg, "dim = 256") && strstr(err.msg, "192"), "fixed engine refuses dim 256: \"%s\"", err.msg);
    mm = m;
    mm.cfg.n_experts = 8;
    e = em_engine_fixed.create(&mm, &o, &err);
    CHECK(e == NULL && strstr(err.msg, "n_experts"), "fixed engine refuses 8 experts: \"%s\"", err.msg);
}

static void test_fidelity(const float *img) {
    for (int task = 0; task < 2; task++) {
        em_compare_result r;
        em_err err = {{0}};
        int rc = em_compare(&m, img, task, NULL, &r, &err);
        CHECK(rc == EM_OK, "em_compare task %d (%s)", task, rc ? err.msg : "ok");
        if (rc) continue;
        printf("task %d (%s): stage, MSE, MAE, max abs, ref rms\n", task, m.cfg.task_name[task]);
        for (int s = 0; s < r.n_stages; s++)
            printf("  %-8s %.3e %.3e %.3e %.3f\n", r.stage[s], r.mse[s], r.mae[s], r.max_abs[s], r.ref_rms[s]);
        uint64_t w = 0;
        for (int op = 0; op < r.n_ops; op++) w += r.wraps[op];
        CHECK(r.n_stages == 13 && !strcmp(r.stage[12], "block11"), "task %d: 13 stages compared (embed, block0..11)", task);
        CHECK(r.mse[12] <= 3e-2, "task %d: block-11 MSE %.3e <= 3e-2, max over 102 images x tasks + 20 %% (MAE %.3g)",
              task, r.mse[12], r.mae[12]);
        CHECK(r.routing_agree >= 0.97, "task %d: routing agreement %.4f (%d / %d) >= 0.97", task, r.routing_agree,
              r.routing_match, r.routing_total);
        /* the wrap counters come per named op, the expert fc2 among them
         * (`edgemoe compare` prints them: tools/cmd_compare.c) */
        int e2 = -1;
        for (int op = 0; op < r.n_ops; op++) if (r.op_name[op] && !strcmp(r.op_name[op], "expert2")) e2 = op;
        CHECK(r.n_ops > 0 && e2 >= 0 && r.stores[e2] > 0 && r.routing_total > 0,
              "task %d: %d ops with wrap counters, expert2 among them (%llu stores), %d routing slots", task, r.n_ops,
              e2 >= 0 ? (unsigned long long)r.stores[e2] : 0ull, r.routing_total);
        if (task == 0) {
            printf("wrapped values per op (of stored):");
            for (int op = 0; op < r.n_ops; op++)
                printf(" %s %llu/%llu", r.op_name[op], (unsigned long long)r.wraps[op], (unsigned long long)r.stores[op]);
            printf("\nweights wrapped when quantised: %llu; backbone ref %.0f ms, fixed %.0f ms\n",
                   (unsigned long long)r.weight_quant_wraps, r.ref_ms, r.fixed_ms);
        }
        CHECK(w == 0 && r.weight_quant_wraps == 0, "task %d: no value wrapped in any op (%llu), no weight wrapped when quantised",
              task, (unsigned long long)w);
    }
}

static void test_uniform_and_reads(void) {
    const size_t npix = (size_t)HW_IMG_C * HW_IMG_H * HW_IMG_W;
    float *white = malloc(npix * sizeof(float));
    for (size_t i = 0; i < npix; i++) white[i] = 255.0f / 256.0f;
    em_session_opts o;
    memset(&o, 0, sizeof o);
    em_err err = {{0}};
    void *e = em_engine_fixed.create(&m, &o, &err);
    CHECK(e != NULL, "fixed engine created (%s)", e ? "ok" : err.msg);
    if (!e) { free(white); return; }
    static float feat[HW_N * HW_D], gp[HW_NMOE * HW_N * HW_TOPK];
    static int32_t route[HW_NMOE * HW_N * HW_TOPK], cnt[HW_NMOE * HW_E];
    em_task_output out[EM_MAX_TASKS];
    memset(out, 0, sizeof out);
    for (int task = 0; task < 2; task++) {
        out[task].features = feat; out[task].routing = route; out[task].gate_prob = gp; out[task].expert_tokens = cnt;
        int rc = em_engine_fixed.backbone(e, white, 1u << task, out, &err);
        CHECK(rc == EM_OK, "white image, task %d runs (%s)", task, rc ? err.msg : "ok");
        const hw_stats *st = em_fixed_stats(e, task);
        int maxq = 0, sums_ok = 1, reads_ok = 1, finite = 1, used = 0;
        for (int l = 0; l < HW_NMOE; l++) {
            int sum = 0;
            for (int x = 0; x < HW_E; x++) {
                int q = st->queue_len[l][x];
                sum += q;
                if (q > maxq) maxq = q;
                if (cnt[l * HW_E + x] != q) sums_ok = 0;
                uint64_t want = q ? 2ull * HW_EH * HW_D : 0;
                if (st->expert_weight_reads[l][x] != want) reads_ok = 0;
                used += q > 0;
            }
            if (sum != HW_N * HW_TOPK) sums_ok = 0;
        }
        for (int i = 0; i < HW_N * HW_D; i++) finite &= isfinite(feat[i]);
        CHECK(maxq == HW_N, "white image, task %d: one expert receives all %d tokens (longest queue %d)", task, HW_N, maxq);
        CHECK(sums_ok && finite, "white image, task %d: every token routed twice per layer, features finite", task);
        CHECK(reads_ok, "white image, task %d: each of the %d used (layer, expert) pairs read once, unused never", task, used);
    }
    em_engine_fixed.destroy(e);
    free(white);
}

static void test_session(const float *img) {
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = EM_ENGINE_HW;
    o.skip_head = 1;
    em_err err = {{0}};
    em_session *s = em_session_new(&m, &o, &err);
    CHECK(s != NULL, "session with --engine hw (%s)", s ? "ok" : err.msg);
    if (!s) return;
    int rc = em_session_run(s, img, 3u, &err);
    CHECK(rc == EM_OK, "session run, both tasks (%s)", rc ? err.msg : "ok");
    const em_task_output *o0 = em_session_output(s, 0), *o1 = em_session_output(s, 1);
    int diff = 0;
    for (int i = 0; i < HW_N * HW_D; i++) diff += o0->features[i] != o1->features[i];
    /* block 0 and the first attention are shared; the gates differ */
    CHECK(diff > 0, "session: the two tasks give different features (%d values differ)", diff);
    int sum = 0;
    for (int x = 0; x < HW_E; x++) sum += o0->expert_tokens[x];
    CHECK(sum == HW_N * HW_TOPK && o0->backbone_ms > 0, "session: expert_tokens sum to %d, backbone %.0f ms", sum, o0->backbone_ms);
    em_session_free(s);
}

int main(void) {
    em_err err = {{0}};
    if (em_model_load(&m, tu_shared_dir(), &err) != EM_OK) {
        CHECK(0, "load shared weights: %s", err.msg);
        TEST_MAIN_END();
    }
    char path[600];
    snprintf(path, sizeof path, "%s/image.float32.bin", tu_shared_dir());
    float *img = malloc((size_t)HW_IMG_C * HW_IMG_H * HW_IMG_W * sizeof(float));
    if (em_image_load(path, &m.cfg, img, &err) != EM_OK) { CHECK(0, "load shared image: %s", err.msg); TEST_MAIN_END(); }
    test_config_mismatch();
    test_fidelity(img);
    test_uniform_and_reads();
    test_session(img);
    free(img);
    em_model_free(&m);
    TEST_MAIN_END();
}
