/* The evaluation machinery `edgemoe eval` and `edgemoe explore` share
 * (tools/cmd_eval.c): a dataset checked and read sample by sample, and per
 * engine (or format set) a session with its metrics, expert usage and
 * datapath counters accumulated over the set; and the --formats option. */
#ifndef EM_EVAL_RUN_H
#define EM_EVAL_RUN_H
#include "edgemoe.h"
#include "data/dataset.h"
#include "eval/metrics.h"

typedef struct {
    const em_model *m;
    em_dataset ds;
    int n;                   /* samples used (--limit) */
    unsigned mask;           /* tasks run: semseg and/or depth */
    int t_seg, t_dep, C;     /* task indices (-1: not run), semseg classes */
    size_t HW;
    float *img, *gt_depth;   /* the current sample */
    int8_t *label;
} em_eval_data;

/* Metrics of one engine over the set, and the per-image scratch. */
typedef struct {
    em_engine_kind kind;
    em_formats fmt;          /* fixed, hw: the format set */
    int has_fmt;
    em_session *s;
    em_seg_metrics seg, seg_img;       /* the set, and the last image */
    em_depth_metrics depth, depth_img;
    uint8_t *pred;           /* [HW] argmax of the semseg logits */
    double run_ms;           /* time inside em_session_run */
    int64_t *expert_tokens;  /* [n_tasks][n_moe][E] token slots routed to each expert */
    int has_stats;           /* fixed and hw: the datapath's store/wrap counters */
    em_engine_stats stats;   /* summed over the set (weight_quant_wraps: once) */
} em_eval_run;

/* Opens DIR/split, picks the tasks of `task` (semseg, depth, all) the
 * model has, and reads and validates every sample before anything runs.
 * On error: one line through em_cli_die, returns 1. */
int em_eval_open(em_eval_data *d, const em_model *m, const char *dir, const char *split, const char *task, int limit);
/* Sample k into d->img, d->label, d->gt_depth; 1 (em_cli_die) on error. */
int em_eval_load(em_eval_data *d, int k);
void em_eval_close(em_eval_data *d);
/* A session of kind (formats: fixed/hw only, NULL = original). */
int em_eval_run_open(em_eval_run *r, const em_eval_data *d, em_engine_kind kind, int threads, const em_formats *f);
/* Runs the loaded sample k and accumulates its metrics (also left in
 * seg_img / depth_img), expert usage and counters; 1 (em_cli_die) on error. */
int em_eval_step(em_eval_run *r, const em_eval_data *d, int k);
void em_eval_run_close(em_eval_run *r);
/* Stored values and wraps summed over the datapath's ops. */
void em_eval_datapath_totals(const em_engine_stats *st, uint64_t *wraps, uint64_t *stores);

/* --formats NAME|FILE.json for an engine: fills f (1 and one error line,
 * through em_cli_die, if it cannot be read or the engine computes in float). */
int em_cli_formats(const char *arg, em_engine_kind engine, em_formats *f);

int em_cmd_explore(int argc, char **argv);   /* tools/cmd_explore.c */
#endif
