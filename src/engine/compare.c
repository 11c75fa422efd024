/* em_compare: runs the reference and the fixed engines on one image and task
 * and measures, stage by stage (patch embed, each block), how far the
 * fixed-point datapath is from the float model; plus routing agreement and
 * the accelerator's wrap counters per op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"
#include "engine/compare.h"
#include "engine/fixed.h"

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

typedef struct {
    em_task_output out[EM_MAX_TASKS];
    void *block;
} outputs;

static int outputs_alloc(outputs *o, const em_config *c, int task)
{
    size_t N = c->n_tok, D = c->dim, Lm = em_n_moe_layers(c), K = c->top_k, E = c->n_experts;
    memset(o, 0, sizeof *o);
    o->block = calloc(N * D + 2 * Lm * N * K + Lm * E, 4);
    if (!o->block) return -1;
    float *p = o->block;
    o->out[task].features = p; p += N * D;
    o->out[task].routing = (int32_t *)p; p += Lm * N * K;
    o->out[task].gate_prob = p; p += Lm * N * K;
    o->out[task].expert_tokens = (int32_t *)p;
    return 0;
}

static int run_engine(const em_engine_ops *ops, const em_model *m, const float *image, int task,
                      stage_log *lg, outputs *o, void **eng_out, double *ms, em_err *err)
{
    em_session_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.threads = 1;
    opts.skip_head = 1;
    opts.trace = collect;
    opts.trace_user = lg;
    void *eng = ops->create(m, &opts, err);
    if (!eng) return EM_EARG;
    double t0 = em_now_ms();
    int rc = ops->backbone(eng, image, 1u << task, o->out, err);
    *ms = em_now_ms() - t0;
    if (rc) { ops->destroy(eng); return rc; }
    if (lg->oom) { ops->destroy(eng); return em_error(err, EM_ENOMEM, "out of memory"); }
    *eng_out = eng;
    return EM_OK;
}

int em_compare(const em_model *m, const float *image, int task, em_compare_result *r, em_err *err)
{
    const em_config *c = &m->cfg;
    if (task < 0 || task >= c->n_tasks) return em_error(err, EM_EARG, "task %d out of range", task);
    memset(r, 0, sizeof *r);
    r->task = task;
    stage_log lr, lf;
    memset(&lr, 0, sizeof lr); memset(&lf, 0, sizeof lf);
    lr.n = lf.n = (size_t)c->n_tok * c->dim;
    lr.task = lf.task = task;
    outputs orf, ofx;
    void *eref = NULL, *efix = NULL;
    int rc = EM_OK;
    if (outputs_alloc(&orf, c, task) || outputs_alloc(&ofx, c, task)) {
        free(orf.block);
        return em_error(err, EM_ENOMEM, "out of memory");
    }
    rc = run_engine(&em_engine_fixed, m, image, task, &lf, &ofx, &efix, &r->fixed_ms, err);
    if (!rc) rc = run_engine(&em_engine_ref, m, image, task, &lr, &orf, &eref, &r->ref_ms, err);
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
        size_t nr = (size_t)em_n_moe_layers(c) * c->n_tok * c->top_k;
        for (size_t k = 0; k < nr; k++)
            r->routing_match += orf.out[task].routing[k] == ofx.out[task].routing[k];
        r->routing_total = (int)nr;
        r->routing_agree = nr ? (double)r->routing_match / nr : 1.0;
        const hw_stats *st = em_fixed_stats(efix, task);
        r->n_ops = HW_N_OPS;
        for (int op = 0; op < HW_N_OPS; op++) {
            r->op_name[op] = hw_op_names[op];
            r->wraps[op] = st ? st->wraps[op] : 0;
            r->stores[op] = st ? st->stores[op] : 0;
        }
        r->weight_quant_wraps = em_fixed_quant_wraps(efix);
    }
    if (eref) em_engine_ref.destroy(eref);
    if (efix) em_engine_fixed.destroy(efix);
    log_free(&lr); log_free(&lf);
    free(orf.block); free(ofx.block);
    return rc;
}

void em_compare_fprint(FILE *f, const em_compare_result *r, int json)
{
    if (json) {
        fprintf(f, "{\"task\":%d,\"stages\":[", r->task);
        for (int s = 0; s < r->n_stages; s++)
            fprintf(f, "%s{\"stage\":\"%s\",\"mse\":%.6g,\"mae\":%.6g,\"max_abs\":%.6g,\"ref_rms\":%.6g}",
                    s ? "," : "", r->stage[s], r->mse[s], r->mae[s], r->max_abs[s], r->ref_rms[s]);
        fprintf(f, "],\"routing\":{\"agree\":%.6g,\"match\":%d,\"total\":%d},\"wraps\":{",
                r->routing_agree, r->routing_match, r->routing_total);
        for (int o = 0; o < r->n_ops; o++)
            fprintf(f, "%s\"%s\":{\"wraps\":%llu,\"stores\":%llu}", o ? "," : "", r->op_name[o],
                    (unsigned long long)r->wraps[o], (unsigned long long)r->stores[o]);
        fprintf(f, "},\"weight_quant_wraps\":%llu,\"ref_ms\":%.1f,\"fixed_ms\":%.1f}\n",
                (unsigned long long)r->weight_quant_wraps, r->ref_ms, r->fixed_ms);
        return;
    }
    fprintf(f, "task %d: fixed vs reference\n%-8s %10s %10s %10s %8s\n", r->task, "stage", "mse", "mae", "max_abs", "ref_rms");
    for (int s = 0; s < r->n_stages; s++)
        fprintf(f, "%-8s %10.3e %10.3e %10.3e %8.3f\n", r->stage[s], r->mse[s], r->mae[s], r->max_abs[s], r->ref_rms[s]);
    fprintf(f, "routing agreement: %.2f%% (%d / %d layer, token, slot)\n", 100.0 * r->routing_agree,
            r->routing_match, r->routing_total);
    fprintf(f, "wrapped values per op (of stored):\n");
    for (int o = 0; o < r->n_ops; o++)
        fprintf(f, "  %-10s %10llu / %llu\n", r->op_name[o], (unsigned long long)r->wraps[o], (unsigned long long)r->stores[o]);
    fprintf(f, "weights wrapped when quantised: %llu\nbackbone: ref %.0f ms, fixed %.0f ms\n",
            (unsigned long long)r->weight_quant_wraps, r->ref_ms, r->fixed_ms);
}
