/* edgemoe compare [--model M] --image I [--task T] [--json]: the fixed
 * engine against the reference, block by block (em_compare,
 * src/engine/compare.h), printed as a table or as one JSON object:
 * {"task":T,"stages":[{"stage","mse","mae","max_abs","ref_rms"}...],
 *  "routing":{"agree","match","total"},"wraps":{op:{"wraps","stores"}...},
 *  "weight_quant_wraps","ref_ms","fixed_ms"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgemoe.h"
#include "engine/compare.h"
#include "eval_run.h"
#include "cli.h"

static void print_compare(FILE *f, const em_compare_result *r, int json) {
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

/* edgemoe compare: fixed engine against the reference, block by block. */
int em_cmd_compare(int argc, char **argv) {
    const char *model = NULL, *image = NULL, *task = "semseg", *formats = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 < argc && !strcmp(o, "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(o, "--image")) image = argv[++i];
        else if (i + 1 < argc && !strcmp(o, "--task")) task = argv[++i];
        else if (i + 1 < argc && !strcmp(o, "--formats")) formats = argv[++i];
        else if (!strcmp(o, "--json")) json = 1;
        else return em_cli_die("compare: unknown option or missing value '%s'", o);
    }
    if (!image) return em_cli_die("compare: no --image given");
    em_formats fmt;   /* the fixed engine's format set (docs/formats.md) */
    if (formats && em_cli_formats(formats, EM_ENGINE_FIXED, &fmt)) return 1;
    em_model *m = em_cli_load_model(model);
    if (!m) return 1;
    unsigned mask = 0;
    if (em_cli_task_mask(&m->cfg, task, &mask) || (mask & (mask - 1))) {
        if (mask & (mask - 1)) em_cli_die("compare: one task, not '%s'", task);
        em_model_close(m);
        return 1;
    }
    int t = __builtin_ctz(mask), rc = 1;
    em_err err;
    float *img = malloc((size_t)m->cfg.img_c * m->cfg.img_h * m->cfg.img_w * sizeof(float));
    em_compare_result *r = calloc(1, sizeof *r);
    if (!img || !r) em_cli_die("out of memory");
    else if (em_image_load(image, &m->cfg, img, &err) || em_compare(m, img, t, formats ? &fmt : NULL, r, &err)) em_cli_die("%s", err.msg);
    else { print_compare(stdout, r, json); rc = 0; }
    free(img); free(r);
    em_model_close(m);
    return rc;
}
