/* The fast twin at a non-original format set against an independent slow
 * reference: src/hw compiled with that set as macros (HW_FM_W, HW_FM_I, ...;
 * built per set by mk/formats.mk, run by tests/hw_formats_test.sh).
 *   check_hw_formats [--all-kernels]
 * 1. The store and quantisation primitives of the compiled set at the edges
 *    of its range (+-2^(W-1), one past, negative floors), against the
 *    definition written out here (floor, then keep the low W bits).
 * 2. The shipped model on a generated val scene and a white image, both
 *    tasks: the fast twin given the same set (em_session_opts.formats) equals
 *    the macro-compiled src/hw bit for bit: features, routing, gate values,
 *    queue lengths and every per-op wrap and store counter, with the best
 *    kernel set of the CPU (--all-kernels: also every other set it has, on
 *    the val scene, task 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fixed.h"
#include "engine/fixed_fast.h"
#include "engine/fixed_fast_kern.h"
#include "hw/hw_quant.h"

/* v floored already; keep the low w bits as two's complement (definition) */
static int64_t wrap_def(int64_t v, int w)
{
    const int64_t m = (int64_t)1 << w;
    int64_t r = v % m;
    if (r < 0) r += m;
    return r >= m / 2 ? r - m : r;
}

static void test_primitives(void)
{
    const int64_t h = (int64_t)1 << (FM_W - 1);
    const int64_t vs[] = {0, -1, 1, h - 1, h, h + 1, -h, -h - 1, -h + 1, 2 * h - 1, 2 * h, -2 * h - 1,
                          3 * h + 5, -5 * h - 3, ((int64_t)1 << 40) + 12345, -((int64_t)1 << 40) - 7};
    int bad = 0, wr_bad = 0;
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        hw_stats st;
        memset(&st, 0, sizeof st);
        const fm_t got = hw_store(vs[i], &st, HW_OP_RESID);
        bad += got != wrap_def(vs[i], FM_W);
        wr_bad += st.wraps[HW_OP_RESID] != (uint64_t)(vs[i] < -h || vs[i] > h - 1);
    }
    CHECK(!bad && !wr_bad, "fm<%d,%d> store at the range edges: low %d bits kept, a wrap counted exactly outside "
          "[-2^%d, 2^%d - 1] (%d value, %d counter mismatches)", FM_W, FM_W - FM_F, FM_W, FM_W - 1, FM_W - 1, bad, wr_bad);
    /* real -> fm: floor (also of negatives below one lsb), then wrap */
    const double ulp = 1.0 / (double)((int64_t)1 << FM_F), top = (double)h * ulp;
    struct { double x; int64_t raw; int wrapped; } q[] = {
        {-0.25 * ulp, -1, 0}, {-ulp, -1, 0}, {-1.5 * ulp, -2, 0}, {0.75 * ulp, 0, 0},
        {top - ulp, h - 1, 0}, {top, -h, 1}, {-top, -h, 0}, {-top - 0.5 * ulp, h - 1, 1},
    };
    bad = 0;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        int wr = 0;
        int64_t r = fx_quant_w(q[i].x, FM_W, FM_F, 0, &wr);
        if (r != q[i].raw || wr != q[i].wrapped) {
            bad++;
            printf("  quant %.17g: got %lld (wrapped %d), want %lld (%d)\n", q[i].x, (long long)r, wr, (long long)q[i].raw,
                   q[i].wrapped);
        }
    }
    CHECK(!bad, "real -> fm<%d,%d>: floor toward minus infinity, wrap at +-%g (%d mismatches)", FM_W, FM_W - FM_F, top, bad);
    /* weights: the largest value and one past it */
    const double wt_top = (double)((int64_t)1 << (WT_W - 1)) / (double)((int64_t)1 << WT_F);
    int w1 = 0, w2 = 0;
    int64_t a = fx_quant_w(wt_top - 1.0 / (double)((int64_t)1 << WT_F), WT_W, WT_F, 0, &w1);
    int64_t b = fx_quant_w(wt_top, WT_W, WT_F, 0, &w2);
    CHECK(a == ((int64_t)1 << (WT_W - 1)) - 1 && !w1 && b == -((int64_t)1 << (WT_W - 1)) && w2,
          "real -> wt<%d,%d>: largest value kept, %g wraps to the most negative", WT_W, WT_W - WT_F, wt_top);
}

typedef struct {
    float feat[HW_N * HW_D], gp[HW_NMOE * HW_N * HW_TOPK];
    int32_t route[HW_NMOE * HW_N * HW_TOPK], cnt[HW_NMOE * HW_E];
    hw_stats st;
} run_out;

static int run_engine(const em_engine_ops *ops, void *e, const float *img, int task, run_out *r, em_err *err)
{
    em_task_output out[EM_MAX_TASKS];
    memset(out, 0, sizeof out);
    out[task].features = r->feat; out[task].routing = r->route; out[task].gate_prob = r->gp;
    out[task].expert_tokens = r->cnt;
    if (ops->backbone(e, img, 1u << task, out, err)) return -1;
    const hw_stats *st = ops == &em_engine_fixed ? em_fixed_stats(e, task) : em_fixed_fast_stats(e, task);
    if (!st) return -1;
    r->st = *st;
    return 0;
}

int main(int argc, char **argv)
{
    const int all_kernels = argc > 1 && !strcmp(argv[1], "--all-kernels");
    em_formats set;
    em_fixed_compiled_formats(&set);
    char desc[160];
    em_formats_describe(&set, desc, sizeof desc);
    printf("-- src/hw compiled for %s\n", desc);
    em_err err = {{0}};
    CHECK(em_formats_check(&set, &err) == EM_OK, "the compiled set is one the fixed engine takes%s%s", err.msg[0] ? ": " : "", err.msg);
    em_formats orig;
    em_formats_original(&orig);
    CHECK(!em_formats_equal(&set, &orig), "this build is not the original set (the check would prove nothing new)");
    test_primitives();

    em_model *m = em_model_open(NULL, &err);
    if (!m) { printf("SKIP: check_hw_formats: no shipped model (%s)\n", err.msg); TEST_MAIN_END(); }
    const size_t npix = (size_t)HW_IMG_C * HW_IMG_H * HW_IMG_W;
    float *img[2] = {malloc(npix * sizeof(float)), malloc(npix * sizeof(float))};
    uint8_t *rgb = malloc((size_t)HW_IMG_H * HW_IMG_W * 3);
    if (em_scene_render(1, EM_SPLIT_VAL, 3, HW_IMG_W, HW_IMG_H, rgb, NULL, NULL, &err) ||
        em_image_from_rgb8(rgb, HW_IMG_W, HW_IMG_H, &m->cfg, img[0], &err)) {
        CHECK(0, "val scene 3: %s", err.msg);
        TEST_MAIN_END();
    }
    for (size_t i = 0; i < npix; i++) img[1][i] = 255.0f / 256.0f;
    const char *names[2] = {"val scene 3", "white"};

    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.skip_head = 1;
    void *hw = em_engine_fixed.create(m, &o, &err);   /* formats: the compiled set */
    CHECK(hw != NULL, "macro-compiled src/hw engine created (%s)", hw ? "ok" : err.msg);
    if (!hw) TEST_MAIN_END();
    static run_out want[2][HW_TASKS], got;
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < HW_TASKS; t++)
            if (run_engine(&em_engine_fixed, hw, img[i], t, &want[i][t], &err)) CHECK(0, "src/hw run: %s", err.msg);
    const uint64_t hw_qw = em_fixed_quant_wraps(hw);
    em_engine_fixed.destroy(hw);

    static const char *isas[] = {"c", "gvec", "avx2", "avx512"};
    const char *best_isa = em_fxk_select()->name;   /* before EM_FAST_ISA caps it below */
    o.formats = &set;
    o.threads = 2;
    for (int k = all_kernels ? 0 : 3; k < 4; k++) {
        setenv("EM_FAST_ISA", isas[k], 1);
        void *e = em_engine_fixed_fast.create(m, &o, &err);
        if (!e) { CHECK(0, "fast twin at %s: %s", desc, err.msg); continue; }
        if (strcmp(em_fixed_fast_isa(e), isas[k]) && all_kernels) {
            printf("SKIP: %s kernels not available here\n", isas[k]);   /* the best set runs below */
            em_engine_fixed_fast.destroy(e);
            continue;
        }
        CHECK(em_fixed_fast_quant_wraps(e) == hw_qw, "%s: weights wrapped on quantisation: twin %llu, src/hw %llu", em_fixed_fast_isa(e),
              (unsigned long long)em_fixed_fast_quant_wraps(e), (unsigned long long)hw_qw);
        const int best = !strcmp(em_fixed_fast_isa(e), best_isa);
        for (int i = 0; i < (best ? 2 : 1); i++)
            for (int t = 0; t < (best ? HW_TASKS : 1); t++) {
                const run_out *w = &want[i][t];
                if (run_engine(&em_engine_fixed_fast, e, img[i], t, &got, &err)) { CHECK(0, "twin run: %s", err.msg); continue; }
                int ops_ok = 1, q_ok = 1;
                uint64_t wraps = 0, stores = 0;
                for (int op = 0; op < HW_N_OPS; op++) {
                    ops_ok &= got.st.wraps[op] == w->st.wraps[op] && got.st.stores[op] == w->st.stores[op];
                    if (got.st.wraps[op] != w->st.wraps[op])
                        printf("  op %s: wraps twin %llu, src/hw %llu\n", hw_op_names[op],
                               (unsigned long long)got.st.wraps[op], (unsigned long long)w->st.wraps[op]);
                    wraps += w->st.wraps[op];
                    stores += w->st.stores[op];
                }
                for (int l = 0; l < HW_NMOE; l++)
                    for (int x = 0; x < HW_E; x++) q_ok &= got.st.queue_len[l][x] == w->st.queue_len[l][x];
                CHECK(!memcmp(got.feat, w->feat, sizeof got.feat) && !memcmp(got.route, w->route, sizeof got.route) &&
                          !memcmp(got.gp, w->gp, sizeof got.gp) && ops_ok && q_ok,
                      "%s, %s, task %d, %s kernels: features, routing, gate values, queues and per-op wrap/store counts "
                      "equal the macro-compiled src/hw's (%llu of %llu stores wrapped)",
                      desc, names[i], t, em_fixed_fast_isa(e), (unsigned long long)wraps, (unsigned long long)stores);
            }
        em_engine_fixed_fast.destroy(e);
    }
    unsetenv("EM_FAST_ISA");
    free(img[0]); free(img[1]); free(rgb);
    em_model_close(m);
    TEST_MAIN_END();
}
