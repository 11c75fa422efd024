/* A session: one engine, its buffers and the per-task outputs, planned once
 * and reused for every image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"
#include "engine/fixed.h"
#include "engine/fixed_fast.h"

struct em_session {
    const em_model *m;
    em_session_opts opts;
    const em_engine_ops *ops;
    void *eng;
    em_task_output out[EM_MAX_TASKS];
    float *head_scratch;
    void *block;  /* one allocation for every output buffer */
    int check_finite;  /* outputs checked after every run (off in the diagnostic re-run) */
};

const char *em_engine_name(em_engine_kind k) {
    switch (k) {
    case EM_ENGINE_REF: return "ref";
    case EM_ENGINE_FAST: return "fast";
    case EM_ENGINE_FIXED: return "fixed";
    case EM_ENGINE_HW: return "hw";
    }
    return "?";
}

int em_engine_parse(const char *name, em_engine_kind *k) {
    for (int i = 0; i <= EM_ENGINE_HW; i++)
        if (strcmp(name, em_engine_name((em_engine_kind)i)) == 0) { *k = (em_engine_kind)i; return EM_OK; }
    return EM_EARG;
}

static const em_engine_ops *engine_ops(em_engine_kind k) {
    switch (k) {
    case EM_ENGINE_REF: return &em_engine_ref;
    case EM_ENGINE_FAST: return &em_engine_fast;
    case EM_ENGINE_FIXED: return &em_engine_fixed_fast;
    case EM_ENGINE_HW: return &em_engine_fixed;
    }
    return NULL;
}


/* Working memory of a session, an upper estimate: the outputs of every task,
 * the head's largest maps, and a few token x width buffers per engine. */
static uint64_t session_bytes(const em_config *c) {
    uint64_t N = (uint64_t)c->n_tok, HW = (uint64_t)c->img_h * c->img_w, wide = (uint64_t)c->dim;
    if ((uint64_t)c->mlp_hidden > wide) wide = (uint64_t)c->mlp_hidden;
    if ((uint64_t)c->expert_hidden * c->top_k > wide) wide = (uint64_t)c->expert_hidden * c->top_k;
    uint64_t floats = (uint64_t)em_head_scratch_floats(c) + 16 * N * wide;
    for (int t = 0; t < c->n_tasks; t++) floats += N * c->dim + (uint64_t)c->task_channels[t] * HW;
    return 4 * floats;
}

em_session *em_session_new(const em_model *m, const em_session_opts *o, em_err *err) {
    const em_config *c = &m->cfg;
    uint64_t need = session_bytes(c);
    if (need > EM_LIMIT_SESSION_BYTES) {
        em_error(err, EM_ESHAPE, "a session of this model needs about %.1f GB of working memory (image %d x %d, "
                 "head width %d), more than the limit of %.0f GB (EM_LIMIT_SESSION_BYTES)", need / 1e9, c->img_w,
                 c->img_h, c->head_ch, EM_LIMIT_SESSION_BYTES / 1e9);
        return NULL;
    }
    const em_engine_ops *ops = engine_ops(o->engine);
    if (!ops) { em_error(err, EM_EARG, "engine %s is not available in this build", em_engine_name(o->engine)); return NULL; }
    if (o->formats && o->engine != EM_ENGINE_FIXED && o->engine != EM_ENGINE_HW) {
        em_error(err, EM_EARG, "engine %s computes in float: number formats apply to the fixed and hw engines only",
                 em_engine_name(o->engine));
        return NULL;
    }
    em_session *s = calloc(1, sizeof *s);
    if (!s) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    s->m = m; s->opts = *o; s->ops = ops; s->check_finite = 1;
    size_t N = c->n_tok, D = c->dim, Lm = em_n_moe_layers(c), K = c->top_k, E = c->n_experts;
    size_t HW = (size_t)c->img_h * c->img_w, per_task = N * D + Lm * N * K * 2 + Lm * E;
    size_t total = 0;
    for (int t = 0; t < c->n_tasks; t++) total += per_task + (size_t)c->task_channels[t] * HW;
    s->block = calloc(total, sizeof(float));
    int ref_head = !o->skip_head && !ops->head;  /* the shared float head needs scratch */
    s->head_scratch = ref_head ? malloc(em_head_scratch_floats(c) * sizeof(float)) : NULL;
    if (!s->block || (ref_head && !s->head_scratch)) {
        em_session_free(s); em_error(err, EM_ENOMEM, "out of memory"); return NULL;
    }
    float *p = s->block;  /* int32 and float are both 4 bytes */
    for (int t = 0; t < c->n_tasks; t++) {
        em_task_output *out = &s->out[t];
        out->features = p; p += N * D;
        out->routing = (int32_t *)p; p += Lm * N * K;
        out->gate_prob = p; p += Lm * N * K;
        out->expert_tokens = (int32_t *)p; p += Lm * E;
        out->logits = p; p += (size_t)c->task_channels[t] * HW;
    }
    s->eng = ops->create(m, &s->opts, err);
    if (!s->eng) { em_session_free(s); return NULL; }
    return s;
}

void em_session_free(em_session *s) {
    if (!s) return;
    if (s->eng) s->ops->destroy(s->eng);
    free(s->block);
    free(s->head_scratch);
    free(s);
}

static int all_finite(const float *p, size_t n) {
    float acc = 0;
    for (size_t i = 0; i < n; i++) acc += p[i] * 0.0f;  /* NaN iff some p[i] is NaN or infinite */
    return acc == 0;
}

typedef struct { int task; char stage[64]; } first_bad;

static void find_first_bad(void *user, int task, const char *stage, const float *data, int ndim, const int *shape) {
    first_bad *fb = user;
    if (task != fb->task || fb->stage[0]) return;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (!all_finite(data, n)) snprintf(fb->stage, sizeof fb->stage, "%s", stage);
}

/* An output of task t is not finite (weights of extreme size): names the
 * first stage where it happens, found by running the float reference with
 * its trace (this costs a reference run, on the error path only). */
static int nonfinite_error(const em_session *s, const float *image, int t, const char *what, em_err *err) {
    first_bad fb = {t, ""};
    em_session_opts o = {.engine = EM_ENGINE_REF, .threads = s->opts.threads, .trace = find_first_bad, .trace_user = &fb};
    em_session *r = em_session_new(s->m, &o, NULL);
    if (r) {
        r->check_finite = 0;
        em_session_run(r, image, 1u << t, NULL);
        em_session_free(r);
    }
    const char *task = s->m->cfg.task_name[t];
    if (fb.stage[0])
        return em_error(err, EM_EVALUE, "task %s: the %s are not finite (the float reference first overflows at "
                        "stage '%s'): the model's weights are too large for float32", task, what, fb.stage);
    return em_error(err, EM_EVALUE, "task %s: the %s are not finite (the %s engine overflowed; the float "
                    "reference did not)", task, what, em_engine_name(s->opts.engine));
}

int em_session_run(em_session *s, const float *image, unsigned mask, em_err *err) {
    const em_config *c = &s->m->cfg;
    if (mask == 0 || mask >> c->n_tasks)
        return em_error(err, EM_EARG, "task mask 0x%x does not select tasks of this model (%d tasks)", mask, c->n_tasks);
    size_t n = (size_t)c->img_c * c->img_h * c->img_w;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(image[i])) return em_error(err, EM_EVALUE, "image has a non-finite value at index %zu", i);
    int rc = s->ops->backbone(s->eng, image, mask, s->out, err);
    if (rc) return rc;
    int charged = 0;
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        em_task_output *out = &s->out[t];
        out->head_ms = 0;
        if (!s->opts.skip_head) {
            double h0 = em_now_ms();
            if (s->ops->head) {
                rc = s->ops->head(s->eng, t, out, err);
                if (rc) return rc;
            } else {
                em_head_ref(s->m, t, out->features, out->logits, s->head_scratch, s->opts.trace, s->opts.trace_user);
            }
            out->head_ms = em_now_ms() - h0;
        }
        /* the shared prefix is charged to the first task only, so that the
         * per-task totals add up to the wall time of the run */
        if (charged++) out->backbone_ms -= out->shared_ms;
        out->total_ms = out->backbone_ms + out->head_ms;
        if (!s->check_finite) continue;
        if (!all_finite(out->features, (size_t)c->n_tok * c->dim)) return nonfinite_error(s, image, t, "features", err);
        if (!s->opts.skip_head && !all_finite(out->logits, (size_t)c->task_channels[t] * c->img_h * c->img_w))
            return nonfinite_error(s, image, t, "head's outputs", err);
    }
    return EM_OK;
}

const em_task_output *em_session_output(const em_session *s, int task) {
    return (task >= 0 && task < s->m->cfg.n_tasks) ? &s->out[task] : NULL;
}

int em_session_stats(const em_session *s, int task, em_engine_stats *out, em_err *err) {
    const hw_stats *st = NULL;
    uint64_t qw = 0;
    if (s->opts.engine == EM_ENGINE_FIXED) { st = em_fixed_fast_stats(s->eng, task); qw = em_fixed_fast_quant_wraps(s->eng); }
    else if (s->opts.engine == EM_ENGINE_HW) { st = em_fixed_stats(s->eng, task); qw = em_fixed_quant_wraps(s->eng); }
    else return em_error(err, EM_EARG, "the %s engine keeps no datapath counters (fixed and hw do)", em_engine_name(s->opts.engine));
    if (!st) return em_error(err, EM_EARG, "task %d has not run on this session", task);
    memset(out, 0, sizeof *out);
    out->n_ops = HW_N_OPS < EM_STATS_MAX_OPS ? HW_N_OPS : EM_STATS_MAX_OPS;
    for (int op = 0; op < out->n_ops; op++) {
        out->op_name[op] = hw_op_names[op];
        out->wraps[op] = st->wraps[op];
        out->stores[op] = st->stores[op];
    }
    out->weight_quant_wraps = qw;
    return EM_OK;
}
