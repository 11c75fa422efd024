/* em_compare: runs a reference and a fixed session on one image and task,
 * through the public API only (stages by the trace callback, wrap counters by
 * em_session_stats), and measures stage by stage (patch embed, each block)
 * how far the fixed-point datapath is from the float model; plus routing
 * agreement and the accelerator's wrap counters per op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "engine/compare.h"

typedef struct {
    int task;
    int n_stages;
    char stage[EM_CMP_MAX_STAGES][16];
    float *data[EM_CMP_MAX_STAGES];
    size_t n;
    int oom;
} stage_log;

static void collect(void *user, int task, const char *stage, const float *data, int ndim, const int *shape)
{
    stage_log *lg = user;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (n != lg->n || lg->n_stages >= EM_CMP_MAX_STAGES) return;
    if (strcmp(stage, "embed") != 0 && strncmp(stage, "block", 5) != 0) return;
    float *p = malloc(n * sizeof(float));
    if (!p) { lg->oom = 1; return; }
    memcpy(p, data, n * sizeof(float));
    strncpy(lg->stage[lg->n_stages], stage, sizeof lg->stage[0] - 1);
    lg->data[lg->n_stages++] = p;
    (void)task;
}

static void log_free(stage_log *lg)
{
    for (int i = 0; i < lg->n_stages; i++) free(lg->data[i]);
}

/* One session of kind k on m, backbone only, one thread, its stages logged
 * into lg; runs image for task. */
static em_session *run_session(const em_model *m, em_engine_kind k, const em_formats *f, const float *image, int task,
                               stage_log *lg, em_err *err)
{
    em_session_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.engine = k;
    opts.threads = 1;
    opts.skip_head = 1;
    opts.trace = collect;
    opts.trace_user = lg;
    opts.formats = f;
    em_session *s = em_session_new(m, &opts, err);
    if (!s) return NULL;
    int rc = em_session_run(s, image, 1u << task, err);
    if (!rc && lg->oom) rc = em_error(err, EM_ENOMEM, "out of memory");
    if (rc) { em_session_free(s); return NULL; }
    return s;
}

int em_compare(const em_model *m, const float *image, int task, const em_formats *f, em_compare_result *r,
               em_err *err)
{
    const em_config *c = &m->cfg;
    if (task < 0 || task >= c->n_tasks) return em_error(err, EM_EARG, "task %d out of range", task);
    memset(r, 0, sizeof *r);
    r->task = task;
    stage_log lr, lf;
    memset(&lr, 0, sizeof lr); memset(&lf, 0, sizeof lf);
    lr.n = lf.n = (size_t)c->n_tok * c->dim;
    lr.task = lf.task = task;
    int rc = EM_OK;
    em_session *sref = NULL, *sfix = run_session(m, EM_ENGINE_FIXED, f, image, task, &lf, err);
    if (sfix) sref = run_session(m, EM_ENGINE_REF, NULL, image, task, &lr, err);
    if (!sfix || !sref) rc = EM_EARG;
    em_engine_stats st;
    if (!rc) rc = em_session_stats(sfix, task, &st, err);
    if (!rc) {
        /* stages present in both logs, in the fixed engine's order */
        for (int i = 0; i < lf.n_stages; i++) {
            int j;
            for (j = 0; j < lr.n_stages; j++) if (!strcmp(lr.stage[j], lf.stage[i])) break;
            if (j == lr.n_stages) continue;
            int s = r->n_stages++;
            strcpy(r->stage[s], lf.stage[i]);
            double se = 0, ae = 0, mx = 0, rr = 0;
            for (size_t k = 0; k < lf.n; k++) {
                double d = (double)lf.data[i][k] - lr.data[j][k];
                se += d * d; ae += fabs(d); rr += (double)lr.data[j][k] * lr.data[j][k];
                if (fabs(d) > mx) mx = fabs(d);
            }
            r->mse[s] = se / lf.n; r->mae[s] = ae / lf.n; r->max_abs[s] = mx; r->ref_rms[s] = sqrt(rr / lf.n);
        }
        const em_task_output *oref = em_session_output(sref, task), *ofix = em_session_output(sfix, task);
        size_t nr = (size_t)em_n_moe_layers(c) * c->n_tok * c->top_k;
        for (size_t k = 0; k < nr; k++)
            r->routing_match += oref->routing[k] == ofix->routing[k];
        r->routing_total = (int)nr;
        r->routing_agree = nr ? (double)r->routing_match / nr : 1.0;
        r->n_ops = st.n_ops < EM_CMP_MAX_OPS ? st.n_ops : EM_CMP_MAX_OPS;
        for (int op = 0; op < r->n_ops; op++) {
            r->op_name[op] = st.op_name[op];
            r->wraps[op] = st.wraps[op];
            r->stores[op] = st.stores[op];
        }
        r->weight_quant_wraps = st.weight_quant_wraps;
        r->ref_ms = oref->backbone_ms;
        r->fixed_ms = ofix->backbone_ms;
    }
    em_session_free(sref);
    em_session_free(sfix);
    log_free(&lr); log_free(&lf);
    return rc;
}
