/* em_compare: fixed engine vs reference engine on one image and task, block
 * by block (for `edgemoe compare`, which prints it: tools/cmd_compare.c). */
#ifndef EM_ENGINE_COMPARE_H
#define EM_ENGINE_COMPARE_H
#include <stdint.h>
#include "edgemoe.h"

#define EM_CMP_MAX_STAGES (EM_MAX_LAYERS + 1)
#define EM_CMP_MAX_OPS 32

typedef struct {
    int task;
    int n_stages;                               /* "embed", "block0" .. "block11" */
    char stage[EM_CMP_MAX_STAGES][16];
    double mse[EM_CMP_MAX_STAGES];              /* mean squared error, fixed vs ref */
    double mae[EM_CMP_MAX_STAGES];              /* mean absolute error */
    double max_abs[EM_CMP_MAX_STAGES];          /* max absolute error */
    double ref_rms[EM_CMP_MAX_STAGES];          /* rms of the reference values */
    int routing_total;                          /* (layer, token, slot) triples */
    int routing_match;                          /* same expert in the same slot */
    double routing_agree;                       /* routing_match / routing_total */
    int n_ops;                                  /* wrap counters of the fixed run */
    const char *op_name[EM_CMP_MAX_OPS];
    uint64_t wraps[EM_CMP_MAX_OPS];             /* values that wrapped on store */
    uint64_t stores[EM_CMP_MAX_OPS];            /* values stored */
    uint64_t weight_quant_wraps;                /* weights that wrapped when quantised */
    double ref_ms, fixed_ms;                    /* backbone times */
} em_compare_result;

/* Runs the reference and the fixed backbone (at formats f; NULL: the
 * original) on image ([c][h][w] in [0,1)) for task, and fills r.  Returns
 * EM_OK or an error code (err says why). */
int em_compare(const em_model *m, const float *image, int task, const em_formats *f, em_compare_result *r,
               em_err *err);
#endif
