/* Sessions on threads: a model is read-only after loading, so four sessions
 * on four threads sharing one model must give outputs bit-identical to one
 * session run alone, image after image (fast and fixed engines, one worker
 * thread each).  Built and run under ThreadSanitizer by `make tsan-test`. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgemoe.h"
#include "test_util.h"

#define N_THREADS 4
#ifndef N_IMAGES
#define N_IMAGES 3   /* make tsan-test: 2 */
#endif

typedef struct {
    const em_model *m;
    em_engine_kind engine;
    const float *images;     /* [N_IMAGES][c][h][w] */
    size_t image_floats;
    float *features;         /* [N_IMAGES][tasks][N][D] */
    int32_t *routing;        /* [N_IMAGES][tasks][n_moe][N][K] */
    float *logits;           /* [N_IMAGES][tasks][C][H][W], C of task 0 for every task slot */
    int rc;
    em_err err;
} job;

static size_t nfeat(const em_config *c) { return (size_t)c->n_tok * c->dim; }
static size_t nrout(const em_config *c) { return (size_t)em_n_moe_layers(c) * c->n_tok * c->top_k; }
static size_t nlog(const em_config *c) {
    int cmax = 0;
    for (int t = 0; t < c->n_tasks; t++) if (c->task_channels[t] > cmax) cmax = c->task_channels[t];
    return (size_t)cmax * c->img_h * c->img_w;
}

static void *run_job(void *p) {
    job *j = p;
    const em_config *c = &j->m->cfg;
    em_session_opts o = {0};
    o.engine = j->engine;
    o.threads = 1;
    em_session *s = em_session_new(j->m, &o, &j->err);
    if (!s) { j->rc = -1; return NULL; }
    unsigned all = (1u << c->n_tasks) - 1;
    for (int i = 0; i < N_IMAGES && !j->rc; i++) {
        j->rc = em_session_run(s, j->images + (size_t)i * j->image_floats, all, &j->err);
        for (int t = 0; t < c->n_tasks && !j->rc; t++) {
            const em_task_output *out = em_session_output(s, t);
            size_t slot = (size_t)i * c->n_tasks + t;
            memcpy(j->features + slot * nfeat(c), out->features, nfeat(c) * sizeof(float));
            memcpy(j->routing + slot * nrout(c), out->routing, nrout(c) * sizeof(int32_t));
            memcpy(j->logits + slot * nlog(c), out->logits,
                   (size_t)c->task_channels[t] * c->img_h * c->img_w * sizeof(float));
        }
    }
    em_session_free(s);
    return NULL;
}

static int job_init(job *j, const em_model *m, em_engine_kind k, const float *images, size_t image_floats) {
    const em_config *c = &m->cfg;
    memset(j, 0, sizeof *j);
    j->m = m; j->engine = k; j->images = images; j->image_floats = image_floats;
    size_t slots = (size_t)N_IMAGES * c->n_tasks;
    j->features = calloc(slots * nfeat(c), sizeof(float));
    j->routing = calloc(slots * nrout(c), sizeof(int32_t));
    j->logits = calloc(slots * nlog(c), sizeof(float));
    return j->features && j->routing && j->logits ? 0 : -1;
}

static void job_free(job *j) { free(j->features); free(j->routing); free(j->logits); }

static void test_engine(const em_model *m, em_engine_kind k, const float *images, size_t image_floats) {
    const em_config *c = &m->cfg;
    const char *name = em_engine_name(k);
    job alone, par[N_THREADS];
    int ok = !job_init(&alone, m, k, images, image_floats);
    for (int i = 0; i < N_THREADS; i++) ok &= !job_init(&par[i], m, k, images, image_floats);
    if (!ok) { CHECK(0, "%s: out of memory", name); goto out; }
    run_job(&alone);
    if (alone.rc) { CHECK(0, "%s: single session: %s", name, alone.err.msg); goto out; }
    pthread_t th[N_THREADS];
    int started = 0;
    for (int i = 0; i < N_THREADS; i++) started += pthread_create(&th[i], NULL, run_job, &par[i]) == 0;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    CHECK(started == N_THREADS, "%s: %d threads started", name, started);
    size_t slots = (size_t)N_IMAGES * c->n_tasks;
    for (int i = 0; i < N_THREADS; i++) {
        if (par[i].rc) { CHECK(0, "%s: thread %d: %s", name, i, par[i].err.msg); continue; }
        int same = !memcmp(par[i].features, alone.features, slots * nfeat(c) * sizeof(float)) &&
                   !memcmp(par[i].routing, alone.routing, slots * nrout(c) * sizeof(int32_t)) &&
                   !memcmp(par[i].logits, alone.logits, slots * nlog(c) * sizeof(float));
        CHECK(same, "%s: session %d of %d on its own thread, %d images x %d tasks: features, routing and logits "
              "bit-identical to one session alone", name, i, N_THREADS, N_IMAGES, c->n_tasks);
    }
    /* the images differ, so the comparison is not of constant outputs */
    CHECK(memcmp(alone.features, alone.features + (size_t)c->n_tasks * nfeat(c), nfeat(c) * sizeof(float)) != 0,
          "%s: different images give different features", name);
out:
    job_free(&alone);
    for (int i = 0; i < N_THREADS; i++) job_free(&par[i]);
}

/* em_session_stats: the fixed twin's counters equal the golden model's;
 * engines without counters and tasks not run are refused */
static void test_stats(const em_model *m, const float *image) {
    em_err err = {{0}};
    em_session_opts o = {0};
    o.threads = 1; o.skip_head = 1;
    o.engine = EM_ENGINE_FIXED;
    em_session *fx = em_session_new(m, &o, &err);
    o.engine = EM_ENGINE_HW;
    em_session *hw = em_session_new(m, &o, &err);
    o.engine = EM_ENGINE_FAST;
    em_session *fa = em_session_new(m, &o, &err);
    em_engine_stats a, b;
    if (!fx || !hw || !fa) { CHECK(0, "stats sessions: %s", err.msg); goto out; }
    CHECK(em_session_stats(fx, 0, &a, &err) == EM_EARG, "stats before a run: refused (%s)", err.msg);
    if (em_session_run(fx, image, 1, &err) || em_session_run(hw, image, 1, &err) || em_session_run(fa, image, 1, &err)) {
        CHECK(0, "stats runs: %s", err.msg); goto out;
    }
    int ra = em_session_stats(fx, 0, &a, &err), rb = em_session_stats(hw, 0, &b, &err);
    uint64_t stores = 0;
    int same = ra == EM_OK && rb == EM_OK && a.n_ops == b.n_ops && a.n_ops > 0 && a.weight_quant_wraps == b.weight_quant_wraps;
    for (int op = 0; same && op < a.n_ops; op++) {
        same = a.wraps[op] == b.wraps[op] && a.stores[op] == b.stores[op] && !strcmp(a.op_name[op], b.op_name[op]);
        stores += a.stores[op];
    }
    CHECK(same && stores > 0, "fixed session's counters (%d ops, %llu values stored) equal the hw session's", a.n_ops,
          (unsigned long long)stores);
    CHECK(em_session_stats(fx, 1, &a, &err) == EM_EARG, "stats of a task not run: refused (%s)", err.msg);
    CHECK(em_session_stats(fa, 0, &a, &err) == EM_EARG && strstr(err.msg, "fast"), "fast session has no counters: %s", err.msg);
out:
    em_session_free(fx); em_session_free(hw); em_session_free(fa);
}

int main(void) {
    em_err err = {{0}};
    /* the synthetic model at the accelerator's sizes (the fixed engine needs them) */
    em_model *m = em_model_open("synthetic", &err);
    if (!m) { CHECK(0, "synthetic model: %s", err.msg); TEST_MAIN_END(); }
    const em_config *c = &m->cfg;
    size_t image_floats = (size_t)c->img_c * c->img_h * c->img_w;
    float *images = malloc(N_IMAGES * image_floats * sizeof(float));
    if (!images) { CHECK(0, "out of memory"); TEST_MAIN_END(); }
    unsigned seed = 12345;
    for (size_t i = 0; i < N_IMAGES * image_floats; i++) {
        seed = seed * 1664525u + 1013904223u;
        images[i] = (seed >> 8) * (1.0f / 16777216.0f);
    }
    test_engine(m, EM_ENGINE_FAST, images, image_floats);
    test_engine(m, EM_ENGINE_FIXED, images, image_floats);
    test_stats(m, images);
    free(images);
    em_model_close(m);
    TEST_MAIN_END();
}
