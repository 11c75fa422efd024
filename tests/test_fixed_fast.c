/* The fast fixed-point twin (src/engine/fixed_fast.c, `--engine fixed`)
 * against the golden model src/hw (`--engine hw`), bit for bit: features,
 * routing, gate values, expert token counts and every per-op wrap and store
 * counter, both tasks, for every kernel set this CPU has (EM_FAST_ISA = c,
 * gvec, avx2, avx512) at 1, 2 and 3 threads, on
 *  - the shared image with the shared weights (skipped if absent),
 *  - the synthetic model on generated images (noise, a gradient),
 *  - a white image (one expert receives every token of a layer),
 *  - the expert unit alone for every queue length 0..129,
 *  - a model altered so that values wrap in most ops (the twin's scalar
 *    fallbacks and wrap counters; the check asserts that wraps happened). */
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fixed.h"
#include "engine/fixed_fast.h"
#include "hw/hw_config.h"
#include "hw/hw_units.h"

#define NPIX ((size_t)HW_IMG_C * HW_IMG_H * HW_IMG_W)

typedef struct {
    float feat[HW_N * HW_D], gp[HW_NMOE * HW_N * HW_TOPK];
    int32_t route[HW_NMOE * HW_N * HW_TOPK], cnt[HW_NMOE * HW_E];
    hw_stats st;
} result;

#define MAXIMG 3
static result gold[MAXIMG][HW_TASKS], fast;

/* One backbone run of task on an engine already created. */
static int run(const em_engine_ops *ops, void *e, const float *img, int task, result *r) {
    em_err err = {{0}};
    em_task_output out[EM_MAX_TASKS];
    memset(out, 0, sizeof out);
    out[task].features = r->feat; out[task].routing = r->route; out[task].gate_prob = r->gp;
    out[task].expert_tokens = r->cnt;
    int rc = ops->backbone(e, img, 1u << task, out, &err);
    if (rc) { printf("backbone: %s\n", err.msg); return rc; }
    r->st = *(ops == &em_engine_fixed ? em_fixed_stats(e, task) : em_fixed_fast_stats(e, task));
    return 0;
}

static void *create(const em_engine_ops *ops, const em_model *m, int threads) {
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.skip_head = 1;
    em_err err = {{0}};
    void *e = ops->create(m, &o, &err);
    if (!e) printf("create: %s\n", err.msg);
    return e;
}

/* The images of one model: src/hw once per image and task, then one twin
 * per kernel set and thread count, each running every image and task. */
static void check_model(const char *model, const em_model *m, const float *const *imgs, const char *const *names, int n,
                        uint64_t *wraps_seen) {
    static const char *isas[] = {"c", "gvec", "avx2", "avx512"};
    void *h = create(&em_engine_fixed, m, 1);
    if (!h) { CHECK(0, "%s: src/hw engine created", model); return; }
    *wraps_seen = 0;
    for (int i = 0; i < n; i++)
        for (int task = 0; task < HW_TASKS; task++) {
            if (run(&em_engine_fixed, h, imgs[i], task, &gold[i][task])) CHECK(0, "%s, %s: src/hw runs", model, names[i]);
            for (int op = 0; op < HW_N_OPS; op++) *wraps_seen += gold[i][task].st.wraps[op];
        }
    em_engine_fixed.destroy(h);
    for (int k = 0; k < 4; k++) {
        if (setenv("EM_FAST_ISA", isas[k], 1)) continue;
        for (int th = 1; th <= 3; th++) {
            void *e = create(&em_engine_fixed_fast, m, th);
            if (!e) { CHECK(0, "%s, %s, %d threads: the twin is created", model, isas[k], th); continue; }
            if (strcmp(em_fixed_fast_isa(e), isas[k])) {   /* the CPU lacks this set: the twin fell back */
                printf("SKIP: %s kernels not available here (got %s)\n", isas[k], em_fixed_fast_isa(e));
                em_engine_fixed_fast.destroy(e);
                break;
            }
            for (int i = 0; i < n; i++)
                for (int task = 0; task < HW_TASKS; task++) {
                    const result *g = &gold[i][task];
                    memset(&fast, 0xa5, sizeof fast);
                    if (run(&em_engine_fixed_fast, e, imgs[i], task, &fast)) {
                        CHECK(0, "%s, %s, task %d, %s, %d threads: the twin runs", model, names[i], task, isas[k], th);
                        continue;
                    }
                    int ops_ok = 1, q_ok = 1;
                    uint64_t w = 0;
                    for (int op = 0; op < HW_N_OPS; op++) {
                        ops_ok &= fast.st.wraps[op] == g->st.wraps[op] && fast.st.stores[op] == g->st.stores[op];
                        w += g->st.wraps[op];
                    }
                    for (int l = 0; l < HW_NMOE; l++)
                        for (int x = 0; x < HW_E; x++)
                            q_ok &= fast.st.queue_len[l][x] == g->st.queue_len[l][x] &&
                                    fast.st.expert_weight_reads[l][x] == g->st.expert_weight_reads[l][x];
                    CHECK(!memcmp(fast.feat, g->feat, sizeof g->feat) && !memcmp(fast.route, g->route, sizeof g->route) &&
                          !memcmp(fast.gp, g->gp, sizeof g->gp) && !memcmp(fast.cnt, g->cnt, sizeof g->cnt) && ops_ok && q_ok,
                          "%s, %s, task %d, %s, %d thread%s: features, routing, gate values, queues and per-op wrap/store "
                          "counts equal src/hw's (%llu wraps)", model, names[i], task, isas[k], th, th > 1 ? "s" : "",
                          (unsigned long long)w);
                }
            em_engine_fixed_fast.destroy(e);
        }
    }
    unsetenv("EM_FAST_ISA");
}

static uint64_t rs = 0x243F6A8885A308D3ull;
static float urand(void);

/* The expert unit for every queue length 0..129 (the original hangs at
 * 129), the twin against hw_experts: outputs and counters bit for bit, for
 * every kernel set at 2 threads.  Two experts per length (len and 129 - len
 * tokens, sharing some), so tokens also sum two expert outputs. */
static void test_queue_sweep(const em_model *m) {
    static hw_weights w;
    static hw_act act;
    static fm_t moe[HW_N][HW_D];
    static hw_stats sh, sf;
    static const char *isas[] = {"c", "gvec", "avx2", "avx512"};
    uint64_t q = 0;
    { em_formats of; em_formats_original(&of); em_fixed_quantise(m, &w, &of, &q); }
    for (int t = 0; t < HW_N; t++)
        for (int d = 0; d < HW_D; d++) act.h[t][d] = (fm_t)((urand() * 2 - 1) * (1 << 23));
    for (int i = 0; i < 4; i++) {
        setenv("EM_FAST_ISA", isas[i], 1);
        em_session_opts o;
        memset(&o, 0, sizeof o);
        o.threads = 2;
        o.skip_head = 1;
        em_err err = {{0}};
        void *e = em_engine_fixed_fast.create(m, &o, &err);
        if (!e) { CHECK(0, "twin for the queue sweep: %s", err.msg); continue; }
        if (strcmp(em_fixed_fast_isa(e), isas[i])) {
            printf("SKIP: queue sweep, %s kernels not available here\n", isas[i]);
            em_engine_fixed_fast.destroy(e);
            continue;
        }
        int bad = 0, maxlen = 0;
        for (int len = 0; len <= HW_N; len++) {
            const int e1 = len % HW_E, e2 = (len + 5) % HW_E, len2 = HW_N - len;
            memset(act.queue_len, 0, sizeof act.queue_len);
            for (int j = 0; j < len; j++) {
                act.queue_tok[e1][j] = (int)((long)j * HW_N / (len ? len : 1));
                act.queue_g[e1][j] = (fm_t)(urand() * (1 << 22));
            }
            act.queue_len[e1] = len;
            if (e2 != e1) {
                for (int j = 0; j < len2; j++) {
                    act.queue_tok[e2][j] = j;
                    act.queue_g[e2][j] = (fm_t)(urand() * (1 << 22));
                }
                act.queue_len[e2] = len2;
            }
            memset(&sh, 0, sizeof sh);
            memset(&sf, 0, sizeof sf);
            hw_experts(&w, len % HW_NMOE, &act, &sh);
            em_fixed_fast_experts(e, len % HW_NMOE, act.h, act.queue_tok, act.queue_g, act.queue_len, moe, &sf);
            int ok = !memcmp(moe, act.moe, sizeof moe);
            for (int op = 0; op < HW_N_OPS; op++) ok &= sh.wraps[op] == sf.wraps[op] && sh.stores[op] == sf.stores[op];
            for (int x = 0; x < HW_E; x++)
                ok &= sh.queue_len[len % HW_NMOE][x] == sf.queue_len[len % HW_NMOE][x] &&
                      sh.expert_weight_reads[len % HW_NMOE][x] == sf.expert_weight_reads[len % HW_NMOE][x];
            bad += !ok;
            if (ok && len > maxlen) maxlen = len;
        }
        CHECK(bad == 0 && maxlen == HW_N, "queue lengths 0..%d, %s kernels, 2 threads: expert outputs and counters equal hw_experts' "
              "(%d lengths differ)", HW_N, isas[i], bad);
        em_engine_fixed_fast.destroy(e);
    }
    unsetenv("EM_FAST_ISA");
}

static float urand(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (float)(rs >> 40) / 16777216.0f; }

int main(void) {
    em_err err = {{0}};
    static float noise[NPIX], grad[NPIX], white[NPIX];
    static em_model sm, bm;
    em_config cfg;
    em_config_default(&cfg);
    for (size_t i = 0; i < NPIX; i++) white[i] = 255.0f / 256.0f;
    if (em_model_synthetic(&sm, &cfg, EM_SYNTHETIC_SEED, &err)) { CHECK(0, "synthetic model: %s", err.msg); TEST_MAIN_END(); }
    /* generated images: pixels k/256 */
    for (size_t i = 0; i < NPIX; i++) noise[i] = (float)(int)(urand() * 256) / 256.0f;
    for (int c = 0; c < HW_IMG_C; c++)
        for (int y = 0; y < HW_IMG_H; y++)
            for (int x = 0; x < HW_IMG_W; x++)
                grad[((size_t)c * HW_IMG_H + y) * HW_IMG_W + x] = (float)((x + 2 * y + 40 * c) % 256) / 256.0f;
    test_queue_sweep(&sm);
    uint64_t wraps = 0;
    const float *imgs[MAXIMG] = {noise, grad, white};
    const char *names[MAXIMG] = {"noise", "gradient", "white"};
    check_model("synthetic", &sm, imgs, names, 3, &wraps);
    em_model_free(&sm);
    /* values that wrap: LN1 biases of 15 and qkv weights of 1.9 in every
     * block make q, k, v sums near 5500, beyond fm's 512 */
    if (em_model_synthetic(&bm, &cfg, EM_SYNTHETIC_SEED + 1, &err) == EM_OK) {
        const size_t D = (size_t)cfg.dim, L = (size_t)cfg.depth;
        for (size_t i = 0; i < L * D; i++) bm.w.ln1_b[i] = 15.0f;
        for (size_t i = 0; i < L * 3 * D * D; i++) bm.w.qkv_w[i] = (i % 7) ? 1.9f : -1.9f;
        check_model("wrapping model", &bm, imgs, names, 1, &wraps);
        CHECK(wraps > 1000, "wrapping model: values wrapped (%llu wraps in src/hw)", (unsigned long long)wraps);
        em_model_free(&bm);
    } else CHECK(0, "synthetic model: %s", err.msg);
    static em_model m;
    static float shared[NPIX];
    char path[600];
    snprintf(path, sizeof path, "%s/image.float32.bin", tu_shared_dir());
    if (em_model_load(&m, tu_shared_dir(), &err) != EM_OK) {
        printf("SKIP: shared weights not found (%s)\n", tu_shared_dir());
    } else if (em_image_load(path, &m.cfg, shared, &err) != EM_OK) {
        CHECK(0, "shared image: %s", err.msg);
        em_model_free(&m);
    } else {
        const float *simgs[2] = {shared, white};
        const char *snames[2] = {"shared image", "white"};
        check_model("shared weights", &m, simgs, snames, 2, &wraps);
        em_model_free(&m);
    }
    TEST_MAIN_END();
}
