/* edgemoe explore: how narrow can the datapath be?  For each format set,
 * the fixed engine's task accuracy over a dataset beside the float engine's,
 * its wrap counters per op, and the accelerator's cost at those widths from
 * the performance model (src/sim: DSPs, BRAM18K, latency, DRAM bytes).
 *
 *   edgemoe explore [--model M] --data DIR [--split val] [--formats A B ... | --presets]
 *                   [--task semseg|depth|all] [--limit N] [--threads N] [--json] [--svg FILE]
 *
 * One pass over the data: per sample, the float engine (`fast`) and then one
 * fixed-engine session per set, with eval's machinery (eval_run.h).  The SVG
 * plots accuracy against DSPs with the Pareto front (docs/formats.md); it is
 * staged and put in place only when the command succeeds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "edgemoe.h"
#include "util.h"
#include "cli.h"
#include "eval_run.h"
#include "outputs.h"
#include "sim/sim.h"

#define MAX_SETS 32

/* A set's modelled hardware cost (sim). */
typedef struct {
    em_sim_res res;
    double latency_ms[2], dram_mb[2];   /* per evaluated task: semseg, depth */
} hw_cost;

static void usage_explore(FILE *f) {
    fputs("usage: edgemoe explore [--model M] --data DIR [--split val] [--formats PRESET|FILE.json ... | --presets]\n"
          "                       [--task semseg|depth|all] [--limit N] [--threads N] [--json] [--svg FILE]\n"
          "Accuracy of the fixed engine at each format set beside the float engine, wraps per op, and the\n"
          "accelerator's modelled DSPs, BRAM18K and latency at those widths (docs/formats.md).\n", f);
}

/* Expert queue lengths of task t averaged over the set (the sim's input),
 * rounded so that each layer's queues still hold N x top_k tokens (largest
 * remainders first). */
static void mean_tokens(const em_eval_run *r, const em_config *c, int t, int n, int32_t *out) {
    const int n_moe = em_n_moe_layers(c), E = c->n_experts, NK = c->n_tok * c->top_k;
    for (int l = 0; l < n_moe; l++) {
        const int64_t *cnt = r->expert_tokens + ((size_t)t * n_moe + l) * E;
        int32_t *o = out + (size_t)l * E;
        double frac[EM_MAX_EXPERTS];
        int sum = 0;
        for (int e = 0; e < E; e++) {
            const double m = (double)cnt[e] / (n > 0 ? n : 1);
            o[e] = (int32_t)floor(m);
            frac[e] = m - o[e];
            sum += o[e];
        }
        for (; sum < NK; sum++) {
            int best = 0;
            for (int e = 1; e < E; e++) if (frac[e] > frac[best]) best = e;
            o[best]++;
            frac[best] = -1;
        }
    }
}

static int set_cost(const em_formats *f, const em_config *c, const em_eval_run *r, const em_eval_data *d, hw_cost *hc) {
    em_sim_params p;
    em_sim_params_default(&p);
    em_sim_params_set_formats(&p, f);
    em_sim_resources(&p, c, &hc->res);
    em_sim_result *sr = calloc(1, sizeof *sr);
    int32_t *tok = calloc((size_t)em_n_moe_layers(c) * c->n_experts, sizeof *tok);
    if (!sr || !tok) { free(sr); free(tok); return em_cli_die("out of memory"); }
    const int ts[2] = {d->t_seg, d->t_dep};
    em_err err;
    for (int q = 0; q < 2; q++) {
        hc->latency_ms[q] = hc->dram_mb[q] = NAN;
        if (ts[q] < 0) continue;
        mean_tokens(r, c, ts[q], d->n, tok);
        if (em_sim_run(&p, c, tok, sr, &err)) { free(sr); free(tok); return em_cli_die("sim: %s", err.msg); }
        hc->latency_ms[q] = sr->latency_ms;
        hc->dram_mb[q] = (sr->bytes_weights + sr->bytes_act) / 1e6;
    }
    free(sr);
    free(tok);
    return 0;
}

/* pareto[i] = 1 when no other set has at most its DSPs and at least its
 * accuracy (mIoU and depth error where run), better in one. */
static void pareto(int n, const double *dsp, const double *miou, const double *rel, int *front) {
    for (int i = 0; i < n; i++) {
        front[i] = 1;
        for (int j = 0; j < n && front[i]; j++) {
            if (j == i) continue;
            int ge = dsp[j] <= dsp[i] && !(miou[j] < miou[i]) && !(rel[j] > rel[i]);
            int gt = dsp[j] < dsp[i] || miou[j] > miou[i] || rel[j] < rel[i];
            if (ge && gt) front[i] = 0;
        }
    }
}

static double nice_step(double range) {
    double s = pow(10, floor(log10(range > 0 ? range : 1)));
    if (range / s > 5) s *= 2;
    else if (range / s < 2) s /= 2;
    return s;
}

/* Accuracy against DSPs: a point per set (labelled; labels that would
 * overlap are moved down), the front of the plotted pair (fewest DSPs for
 * the accuracy) as a staircase, red points on the sets' Pareto front of
 * pareto() above, the float engine's accuracy as a dashed line.  acc: higher
 * is better when higher_better, else lower. */
static int write_svg(const char *path, int n, char names[][EM_NAME_LEN], const double *dsp, const double *acc,
                     int higher_better, const int *front, double float_acc, const char *ylabel, const char *title,
                     em_err *err) {
    const double W = 720, H = 440, L = 80, R = 30, T = 50, B = 60;
    double x0 = 0, x1 = 0, y0 = float_acc, y1 = float_acc;
    for (int i = 0; i < n; i++) {
        if (dsp[i] > x1) x1 = dsp[i];
        if (acc[i] < y0) y0 = acc[i];
        if (acc[i] > y1) y1 = acc[i];
    }
    x1 *= 1.1;
    const double ypad = (y1 - y0) * 0.1 + 1e-3;
    y0 -= ypad;
    y1 += ypad;
#define SX(v) (L + ((v) - x0) / (x1 - x0) * (W - L - R))
#define SY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    char tmp[4096];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) return EM_EIO;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"14\">", L);
    for (const char *p = title; *p; p++)   /* the title may hold a path: escape it */
        fputs(*p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : (char[2]){*p, 0}, f);
    fprintf(f, "</text>\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T, L, H - B);
    const double xs = nice_step(x1 - x0), ys = nice_step(y1 - y0);
    for (double v = ceil(x0 / xs) * xs; v <= x1; v += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/><text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"middle\">%g</text>\n", SX(v), T, SX(v), H - B, SX(v), H - B + 16, v);
    for (double v = ceil(y0 / ys) * ys; v <= y1; v += ys)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/><text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"end\">%.3g</text>\n", L, SY(v), W - R, SY(v), L - 6, SY(v) + 4, fabs(v) < 1e-12 ? 0 : v);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">DSP48E2 slices (modelled, ZCU102 design)</text>\n",
            (L + W - R) / 2, H - 16);
    fprintf(f, "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" text-anchor=\"middle\">%s</text>\n",
            (T + H - B) / 2, (T + H - B) / 2, ylabel);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888\" text-anchor=\"end\">float engine</text>\n",
            L, SY(float_acc), W - R, SY(float_acc), W - R - 4, SY(float_acc) - 4);
    /* the plotted pair's front: by DSPs, each point better than all cheaper ones */
    int order[MAX_SETS], m = 0;
    for (int i = 0; i < n; i++) order[i] = i;
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && dsp[order[b]] < dsp[order[b - 1]]; b--) { int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t; }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
    double best = 0;
    for (int a = 0; a < n; a++) {
        const double v = acc[order[a]];
        if (m && !(higher_better ? v > best : v < best)) continue;
        if (m) fprintf(f, "%.1f,%.1f ", SX(dsp[order[a]]), SY(best));   /* staircase */
        fprintf(f, "%.1f,%.1f ", SX(dsp[order[a]]), SY(v));
        best = v;
        m++;
    }
    fprintf(f, "\"/>\n");
    double ly[MAX_SETS], lx[MAX_SETS];
    for (int i = 0; i < n; i++) {
        lx[i] = SX(dsp[i]) + 7;
        ly[i] = SY(acc[i]) + 4;
        for (int moved = 1; moved;) {      /* 13 px down while a placed label is in the way */
            moved = 0;
            for (int j = 0; j < i; j++)
                if (fabs(lx[j] - lx[i]) < 80 && fabs(ly[j] - ly[i]) < 13) { ly[i] = ly[j] + 13; moved = 1; }
        }
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                SX(dsp[i]), SY(acc[i]), front[i] ? "#d62728" : "#1f77b4", lx[i], ly[i], names[i]);
    }
    fprintf(f, "</svg>\n");
#undef SX
#undef SY
    return em_tmp_commit(f, tmp, path, err);
}

int em_cmd_explore(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *split = "val", *task = "all", *svg = NULL;
    int limit = 0, threads = 0, json = 0, presets = 0, n_sets = 0;
    static em_formats sets[MAX_SETS];
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        long v;
        if (!strcmp(o, "--model") && has) model_path = argv[++i];
        else if (!strcmp(o, "--data") && has) data = argv[++i];
        else if (!strcmp(o, "--split") && has) split = argv[++i];
        else if (!strcmp(o, "--task") && has) task = argv[++i];
        else if (!strcmp(o, "--svg") && has) svg = argv[++i];
        else if (!strcmp(o, "--limit") && has) { if (em_cli_int(o, argv[++i], 1, 1 << 30, &v)) return 1; limit = (int)v; }
        else if (!strcmp(o, "--threads") && has) { if (em_cli_threads(o, argv[++i], &threads)) return 1; }
        else if (!strcmp(o, "--json")) json = 1;
        else if (!strcmp(o, "--presets")) presets = 1;
        else if (!strcmp(o, "--formats")) {
            if (!has || !strncmp(argv[i + 1], "--", 2)) return em_cli_die("--formats needs at least one PRESET or FILE.json");
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                if (n_sets == MAX_SETS) return em_cli_die("explore: at most %d format sets", MAX_SETS);
                if (em_cli_formats(argv[++i], EM_ENGINE_FIXED, &sets[n_sets])) return 1;
                n_sets++;
            }
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage_explore(stdout); return 0; }
        else return em_cli_die("explore: unknown option or missing value '%s' (see edgemoe explore --help)", o);
    }
    if (!data) return em_cli_die("explore: no --data DIR given");
    if (presets && n_sets) return em_cli_die("explore: --presets and --formats exclude each other");
    if (presets)
        for (int i = 0; i < em_formats_preset_count() && n_sets < MAX_SETS; i++)
            if (em_formats_preset(em_formats_preset_name(i), &sets[n_sets], NULL) == EM_OK) n_sets++;
    if (!n_sets) return em_cli_die("explore: no format set (--formats A B ... or --presets)");

    em_model *model = em_cli_load_model(model_path);
    if (!model) return 1;
    const em_config *c = &model->cfg;
    int ret = 1;
    em_eval_data d = {0};
    em_eval_run *run = calloc((size_t)n_sets + 1, sizeof *run);   /* [0]: float */
    hw_cost *cost = calloc((size_t)n_sets, sizeof *cost);
    if (!run || !cost) { em_cli_die("out of memory"); goto done; }
    if (em_eval_open(&d, model, data, split, task, limit)) goto done;
    if (em_eval_run_open(&run[0], &d, EM_ENGINE_FAST, threads, NULL)) goto done;
    for (int s = 0; s < n_sets; s++)
        if (em_eval_run_open(&run[s + 1], &d, EM_ENGINE_FIXED, threads, &sets[s])) goto done;

    const int bar = isatty(2) && d.n > 1;
    const double t0 = em_now_ms();
    for (int k = 0; k < d.n; k++) {
        if (em_eval_load(&d, k)) goto done;
        for (int e = 0; e <= n_sets; e++)
            if (em_eval_step(&run[e], &d, k)) goto done;
        if (bar) em_cli_progress(k + 1, d.n, em_now_ms() - t0);
    }
    for (int s = 0; s < n_sets; s++)
        if (set_cost(&sets[s], c, &run[s + 1], &d, &cost[s])) goto done;

    /* results */
    static em_seg_result sr[MAX_SETS + 1];
    static em_depth_result dr[MAX_SETS + 1];
    for (int e = 0; e <= n_sets; e++) {
        em_seg_finish(&run[e].seg, &sr[e]);
        em_depth_finish(&run[e].depth, &dr[e]);
    }
    double dsp[MAX_SETS], acc[MAX_SETS], miou[MAX_SETS], rel[MAX_SETS];
    int front[MAX_SETS];
    char names[MAX_SETS][EM_NAME_LEN];
    for (int s = 0; s < n_sets; s++) {
        dsp[s] = cost[s].res.dsp;
        acc[s] = d.t_seg >= 0 ? sr[s + 1].miou : dr[s + 1].rel_err;
        miou[s] = d.t_seg >= 0 ? sr[s + 1].miou : 0;
        rel[s] = d.t_dep >= 0 ? dr[s + 1].rel_err : 0;
        memcpy(names[s], sets[s].name, sizeof names[s]);
    }
    pareto(n_sets, dsp, miou, rel, front);
    const double float_acc = d.t_seg >= 0 ? sr[0].miou : dr[0].rel_err;
    if (svg) {   /* staged, put in place with the command's other outputs (tools/outputs.h) */
        em_err err;
        const char *stage = em_out_stage(svg, &err);
        if (!stage) { em_cli_die("%s", err.msg); goto done; }
        char title[600];
        snprintf(title, sizeof title, "edgemoe explore: %s on %d %.40s scenes (%.200s)", d.t_seg >= 0 ? "mIoU" : "depth rel err",
                 d.n, split, model->source);
        if (write_svg(stage, n_sets, names, dsp, acc, d.t_seg >= 0, front, float_acc, d.t_seg >= 0 ? "semseg mIoU" : "depth relative error",
                      title, &err)) { em_cli_die("%s", err.msg); goto done; }
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", data);
        cJSON_AddStringToObject(j, "split", split);
        cJSON_AddNumberToObject(j, "samples", d.n);
        cJSON_AddStringToObject(j, "model", model->source);
        cJSON *fj = cJSON_AddObjectToObject(j, "float");
        cJSON_AddStringToObject(fj, "engine", em_engine_name(EM_ENGINE_FAST));
        if (d.t_seg >= 0) cJSON_AddNumberToObject(fj, "miou", sr[0].miou);
        if (d.t_dep >= 0) cJSON_AddNumberToObject(fj, "rel_err", dr[0].rel_err);
        cJSON *arr = cJSON_AddArrayToObject(j, "sets");
        for (int s = 0; s < n_sets; s++) {
            const em_eval_run *r = &run[s + 1];
            cJSON *o = cJSON_CreateObject();
            char desc[160];
            em_formats_describe(&sets[s], desc, sizeof desc);
            cJSON_AddStringToObject(o, "name", sets[s].name);
            cJSON_AddStringToObject(o, "formats", desc);
            const em_fxfmt *q[6] = {&sets[s].fm, &sets[s].wt, &sets[s].bqk, &sets[s].b5, &sets[s].pw, &sets[s].pix};
            const char *qn[6] = {"fm", "wt", "bqk", "b5", "pw", "pix"};
            cJSON *wj = cJSON_AddObjectToObject(o, "widths");
            for (int k = 0; k < 6; k++) {
                cJSON *x = cJSON_AddObjectToObject(wj, qn[k]);
                cJSON_AddNumberToObject(x, "w", q[k]->w);
                cJSON_AddNumberToObject(x, "i", q[k]->i);
            }
            if (d.t_seg >= 0) {
                cJSON *x = cJSON_AddObjectToObject(o, "semseg");
                cJSON_AddNumberToObject(x, "miou", sr[s + 1].miou);
                cJSON_AddNumberToObject(x, "delta_miou", sr[s + 1].miou - sr[0].miou);
                cJSON_AddNumberToObject(x, "pixel_acc", sr[s + 1].pixel_acc);
            }
            if (d.t_dep >= 0) {
                cJSON *x = cJSON_AddObjectToObject(o, "depth");
                cJSON_AddNumberToObject(x, "rel_err", dr[s + 1].rel_err);
                cJSON_AddNumberToObject(x, "delta_rel_err", dr[s + 1].rel_err - dr[0].rel_err);
                cJSON_AddNumberToObject(x, "abs_err", dr[s + 1].abs_err);
            }
            uint64_t w, st;
            em_eval_datapath_totals(&r->stats, &w, &st);
            cJSON *dj = cJSON_AddObjectToObject(o, "datapath");
            cJSON_AddNumberToObject(dj, "wraps", (double)w);
            cJSON_AddNumberToObject(dj, "stores", (double)st);
            cJSON_AddNumberToObject(dj, "weight_quant_wraps", (double)r->stats.weight_quant_wraps);
            cJSON *oj = cJSON_AddObjectToObject(dj, "ops");
            for (int op = 0; op < r->stats.n_ops; op++) {
                cJSON *x = cJSON_AddObjectToObject(oj, r->stats.op_name[op]);
                cJSON_AddNumberToObject(x, "wraps", (double)r->stats.wraps[op]);
                cJSON_AddNumberToObject(x, "stores", (double)r->stats.stores[op]);
            }
            cJSON *hj = cJSON_AddObjectToObject(o, "hw");
            cJSON_AddNumberToObject(hj, "dsp", cost[s].res.dsp);
            cJSON_AddNumberToObject(hj, "bram18k", cost[s].res.bram18k);
            cJSON_AddNumberToObject(hj, "uram", cost[s].res.uram);
            const char *tn[2] = {"semseg", "depth"};
            cJSON *lj = cJSON_AddObjectToObject(hj, "latency_ms"), *mj = cJSON_AddObjectToObject(hj, "dram_mb");
            for (int t = 0; t < 2; t++)
                if (isfinite(cost[s].latency_ms[t])) {
                    cJSON_AddNumberToObject(lj, tn[t], cost[s].latency_ms[t]);
                    cJSON_AddNumberToObject(mj, tn[t], cost[s].dram_mb[t]);
                }
            cJSON_AddBoolToObject(o, "pareto", front[s]);
            cJSON_AddItemToArray(arr, o);
        }
        em_cli_print_json(j);
    } else {
        printf("edgemoe explore: %s/%s, %d samples, model %s; float engine:", data, split, d.n, model->source);
        if (d.t_seg >= 0) printf(" mIoU %.4f", sr[0].miou);
        if (d.t_dep >= 0) printf(" depth rel err %.4f", dr[0].rel_err);
        printf("\n%-12s %-50s %8s %8s %8s %8s %9s %6s %8s %8s %9s %s\n", "set", "formats", "mIoU", "dmIoU", "rel err",
               "drel", "wrapped", "qwrap", "DSP", "BRAM18K", "lat ms", "pareto");
        for (int s = 0; s < n_sets; s++) {
            const em_eval_run *r = &run[s + 1];
            char desc[160];
            em_formats_describe(&sets[s], desc, sizeof desc);
            uint64_t w, st;
            em_eval_datapath_totals(&r->stats, &w, &st);
            double lat = 0;
            int nl = 0;
            for (int t = 0; t < 2; t++) if (isfinite(cost[s].latency_ms[t])) { lat += cost[s].latency_ms[t]; nl++; }
            printf("%-12s %-50s", sets[s].name, desc);
            if (d.t_seg >= 0) printf(" %8.4f %+8.4f", sr[s + 1].miou, sr[s + 1].miou - sr[0].miou); else printf(" %8s %8s", "-", "-");
            if (d.t_dep >= 0) printf(" %8.4f %+8.4f", dr[s + 1].rel_err, dr[s + 1].rel_err - dr[0].rel_err); else printf(" %8s %8s", "-", "-");
            printf(" %9.2e %6llu %8.0f %8.0f %9.3f %s\n", st ? (double)w / (double)st : 0.0,
                   (unsigned long long)r->stats.weight_quant_wraps, cost[s].res.dsp, cost[s].res.bram18k, nl ? lat / nl : NAN,
                   front[s] ? "*" : "");
        }
        printf("wrapped: share of stored values that wrapped; qwrap: weights wrapped on quantisation; lat: modelled ms per\n"
               "image and task (mean of the tasks run); wraps per op:\n");
        for (int s = 0; s < n_sets; s++) {
            const em_eval_run *r = &run[s + 1];
            printf("  %-12s", sets[s].name);
            int any = 0;
            for (int op = 0; op < r->stats.n_ops; op++)
                if (r->stats.wraps[op]) { printf(" %s %llu", r->stats.op_name[op], (unsigned long long)r->stats.wraps[op]); any = 1; }
            printf("%s\n", any ? "" : " none");
        }
    }
    em_err cerr;
    if (em_out_commit(&cerr)) { em_cli_die("%s", cerr.msg); goto done; }
    fprintf(stderr, "edgemoe: %d images x %d engines in %.1f s\n", d.n, n_sets + 1, (em_now_ms() - t0) / 1000);
    ret = 0;
done:
    for (int e = 0; run && e <= n_sets; e++) em_eval_run_close(&run[e]);
    free(run);
    free(cost);
    em_eval_close(&d);
    em_model_close(model);
    return ret;
}
