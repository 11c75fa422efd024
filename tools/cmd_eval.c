/* edgemoe eval: a model's semseg and depth metrics over a dataset directory
 * (layout and metric definitions in docs/dataset.md).
 *
 *   edgemoe eval [--model M] --data DIR [--split val] [--engine fast|ref|fixed]
 *                [--compare ENGINE] [--task semseg|depth|all] [--limit N]
 *                [--formats PRESET|FILE.json] [--threads N] [--json [--per-image]]
 *
 * --formats: the number formats of the fixed-point engine(s) of the run
 * (docs/formats.md).  The dataset and engine loop (em_eval_*, eval_run.h)
 * is shared with edgemoe explore (cmd_explore.c).
 *
 * Every sample is read and validated before the first image runs, so a bad
 * file fails fast with one line naming it.  eval writes no files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "edgemoe.h"
#include "data/dataset.h"
#include "util.h"
#include "eval/metrics.h"
#include "cli.h"
#include "eval_run.h"

static const char *CLASS_NAMES[EM_N_CLASSES] = {"flat", "construction", "object", "nature",
                                                 "sky", "human", "vehicle"};

typedef struct {
    const char *model, *data, *split, *engine, *compare, *task, *formats;
    int limit, threads, json, per_image;
} eval_args;

typedef em_eval_run engine_run;

/* Differences between the two engines of --compare, accumulated per pixel / entry. */
typedef struct {
    double logit_abs;   int64_t logit_n;   /* semseg logits */
    int64_t pred_same, pred_n;             /* semseg argmax */
    double depth_abs;   int64_t depth_n;   /* depth output */
    int64_t route_same[EM_MAX_TASKS], route_n[EM_MAX_TASKS];       /* (layer, token, slot) */
    int64_t route_set_same[EM_MAX_TASKS], route_set_n[EM_MAX_TASKS]; /* (layer, token) as sets */
} compare_acc;

/* Expert token counts from the routing, and the datapath counters of a
 * fixed-point engine, for the tasks of the run just made. */
static void accumulate_usage(engine_run *r, const em_config *c, unsigned mask) {
    const int n_moe = em_n_moe_layers(c), E = c->n_experts, NK = c->n_tok * c->top_k;
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        const int32_t *route = em_session_output(r->s, t)->routing; /* [n_moe][N][K] */
        for (int l = 0; l < n_moe; l++)
            for (int i = 0; i < NK; i++) {
                int e = route[(size_t)l * NK + i];
                if (e >= 0 && e < E) r->expert_tokens[((size_t)t * n_moe + l) * E + e]++;
            }
        em_engine_stats st;
        em_err err;
        if (em_session_stats(r->s, t, &st, &err)) continue; /* ref, fast: no datapath */
        r->has_stats = 1;
        r->stats.n_ops = st.n_ops;
        r->stats.weight_quant_wraps = st.weight_quant_wraps;
        for (int o = 0; o < st.n_ops; o++) {
            r->stats.op_name[o] = st.op_name[o];
            r->stats.wraps[o] += st.wraps[o];
            r->stats.stores[o] += st.stores[o];
        }
    }
}

/* Per task and MoE layer: experts that got any token slot, the largest share. */
static void expert_summary(const engine_run *r, const em_config *c, int t, int l, int *used, double *max_share) {
    const int n_moe = em_n_moe_layers(c), E = c->n_experts;
    const int64_t *cnt = r->expert_tokens + ((size_t)t * n_moe + l) * E;
    int64_t sum = 0, mx = 0;
    *used = 0;
    for (int e = 0; e < E; e++) {
        sum += cnt[e];
        *used += cnt[e] > 0;
        if (cnt[e] > mx) mx = cnt[e];
    }
    *max_share = sum ? (double)mx / (double)sum : 0;
}

void em_eval_datapath_totals(const em_engine_stats *st, uint64_t *wraps, uint64_t *stores) {
    *wraps = *stores = 0;
    for (int o = 0; o < st->n_ops; o++) { *wraps += st->wraps[o]; *stores += st->stores[o]; }
}

static void usage_json(cJSON *parent, const engine_run *r, const em_config *c, unsigned mask) {
    const int n_moe = em_n_moe_layers(c), E = c->n_experts;
    cJSON *ej = cJSON_AddObjectToObject(parent, "experts");
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        cJSON *tj = cJSON_AddArrayToObject(ej, c->task_name[t]);
        for (int l = 0, moe = 0; l < c->depth; l++) {
            if (!em_is_moe(c, l)) continue;
            int used;
            double share;
            expert_summary(r, c, t, moe, &used, &share);
            cJSON *lj = cJSON_CreateObject();
            cJSON_AddNumberToObject(lj, "layer", l);
            cJSON_AddNumberToObject(lj, "used", used);
            cJSON_AddNumberToObject(lj, "max_share", share);
            cJSON *tok = cJSON_AddArrayToObject(lj, "tokens");
            for (int e = 0; e < E; e++)
                cJSON_AddItemToArray(tok, cJSON_CreateNumber((double)r->expert_tokens[((size_t)t * n_moe + moe) * E + e]));
            cJSON_AddItemToArray(tj, lj);
            moe++;
        }
    }
    if (!r->has_stats) return;
    cJSON *dj = cJSON_AddObjectToObject(parent, "datapath");
    uint64_t w, s;
    em_eval_datapath_totals(&r->stats, &w, &s);
    cJSON *oj = cJSON_AddObjectToObject(dj, "ops");
    for (int o = 0; o < r->stats.n_ops; o++) {
        cJSON *x = cJSON_AddObjectToObject(oj, r->stats.op_name[o]);
        cJSON_AddNumberToObject(x, "stores", (double)r->stats.stores[o]);
        cJSON_AddNumberToObject(x, "wraps", (double)r->stats.wraps[o]);
    }
    cJSON_AddNumberToObject(dj, "stores", (double)s);
    cJSON_AddNumberToObject(dj, "wraps", (double)w);
    cJSON_AddNumberToObject(dj, "weight_quant_wraps", (double)r->stats.weight_quant_wraps);
}

static void usage_text(const engine_run *r, const em_config *c, unsigned mask) {
    printf("experts (%s): per MoE layer, experts used of %d / largest share of token slots\n",
           em_engine_name(r->kind), c->n_experts);
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        printf("  %-10s", c->task_name[t]);
        for (int l = 0, moe = 0; l < c->depth; l++) {
            if (!em_is_moe(c, l)) continue;
            int used;
            double share;
            expert_summary(r, c, t, moe++, &used, &share);
            printf("  L%d %d/%.0f%%", l, used, 100 * share);
        }
        printf("\n");
    }
    if (!r->has_stats) return;
    uint64_t w, s;
    em_eval_datapath_totals(&r->stats, &w, &s);
    printf("datapath (%s): %llu of %llu stored values wrapped", em_engine_name(r->kind), (unsigned long long)w,
           (unsigned long long)s);
    for (int o = 0; o < r->stats.n_ops; o++)
        if (r->stats.wraps[o]) printf(", %s %llu", r->stats.op_name[o], (unsigned long long)r->stats.wraps[o]);
    printf("; weights wrapped on quantisation: %llu\n", (unsigned long long)r->stats.weight_quant_wraps);
}

static void usage_eval(FILE *f) {
    fputs("usage: edgemoe eval [--model DIR|FILE.safetensors] --data DIR [--split val]\n"
          "                    [--engine fast|ref|fixed|...] [--compare ENGINE] [--task semseg|depth|all]\n"
          "                    [--formats PRESET|FILE.json] [--limit N] [--threads N] [--json [--per-image]]\n"
          "Metrics of the model over DIR/<split>/{image,label_7,depth}/<i>.npy|.png (docs/dataset.md).\n", f);
}

/* "ref, fast, ...": every engine this library names */
static const char *engine_list(void) {
    static char buf[128];
    buf[0] = 0;
    for (int k = 0; k < 16; k++) {
        const char *nm = em_engine_name((em_engine_kind)k);
        if (strcmp(nm, "?") && strlen(buf) + strlen(nm) + 3 < sizeof buf)
            strcat(strcat(buf, buf[0] ? ", " : ""), nm);
    }
    return buf;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    long v;
    if (em_cli_int(opt, s, lo, hi, &v)) return 1;
    *out = (int)v;
    return 0;
}

static void seg_json(cJSON *parent, const char *key, const em_seg_result *r) {
    cJSON *o = cJSON_AddObjectToObject(parent, key);
    if (r->n_present) cJSON_AddNumberToObject(o, "miou", r->miou); else cJSON_AddNullToObject(o, "miou");
    if (r->pixels) cJSON_AddNumberToObject(o, "pixel_acc", r->pixel_acc); else cJSON_AddNullToObject(o, "pixel_acc");
    cJSON_AddNumberToObject(o, "pixels", (double)r->pixels);
    cJSON *names = cJSON_AddArrayToObject(o, "classes"), *iou = cJSON_AddArrayToObject(o, "iou");
    for (int c = 0; c < r->n_classes; c++) {
        char nm[24];
        snprintf(nm, sizeof nm, "class%d", c);
        cJSON_AddItemToArray(names, cJSON_CreateString(r->n_classes == EM_N_CLASSES ? CLASS_NAMES[c] : nm));
        cJSON_AddItemToArray(iou, r->present[c] ? cJSON_CreateNumber(r->iou[c]) : cJSON_CreateNull());
    }
}

static void num_or_null(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void depth_json(cJSON *parent, const char *key, const em_depth_result *r) {
    cJSON *o = cJSON_AddObjectToObject(parent, key);
    num_or_null(o, "abs_err", r->abs_err);
    num_or_null(o, "rel_err", r->rel_err);
    num_or_null(o, "rmse", r->rmse);
    num_or_null(o, "delta1", r->delta1);
    cJSON_AddNumberToObject(o, "depth_pixels", (double)r->pixels);
}

/* ---- human-readable table ---- */
static void cell(double v) {
    if (!isfinite(v)) printf(" %10s", "-");
    else printf(" %10.4f", v);
}

/* cmp: 1 = both engines and their difference, 2 = both engines only */
static void row(const char *name, double a, double b, int cmp) {
    printf("  %-16s", name);
    cell(a);
    if (cmp) cell(b);
    if (cmp == 1) cell(isfinite(a) && isfinite(b) ? b - a : NAN);
    printf("\n");
}

static void row_int(const char *name, int64_t a, int64_t b, int cmp) {
    printf("  %-16s %10lld", name, (long long)a);
    if (cmp) printf(" %10lld %10lld", (long long)b, (long long)(b - a));
    printf("\n");
}

int em_cmd_eval(int argc, char **argv) {
    eval_args a = {0};
    a.split = "val";
    a.task = "all";
    a.engine = "fast";
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
#define VAL(field) do { if (!has) return em_cli_die("%s needs a value", o); a.field = argv[++i]; } while (0)
        if (!strcmp(o, "--model")) VAL(model);
        else if (!strcmp(o, "--data")) VAL(data);
        else if (!strcmp(o, "--split")) VAL(split);
        else if (!strcmp(o, "--engine")) VAL(engine);
        else if (!strcmp(o, "--compare")) VAL(compare);
        else if (!strcmp(o, "--task")) VAL(task);
        else if (!strcmp(o, "--formats")) VAL(formats);
        else if (!strcmp(o, "--limit")) { if (!has) return em_cli_die("--limit needs a value"); if (parse_int(o, argv[++i], 1, 1 << 30, &a.limit)) return 1; }
        else if (!strcmp(o, "--threads")) { if (!has) return em_cli_die("--threads needs a value"); if (parse_int(o, argv[++i], 0, 1024, &a.threads)) return 1; }
        else if (!strcmp(o, "--json")) a.json = 1;
        else if (!strcmp(o, "--per-image")) a.per_image = 1;
        else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage_eval(stdout); return 0; }
        else return em_cli_die("eval: unknown option '%s' (see edgemoe eval --help)", o);
#undef VAL
    }
    if (!a.data) return em_cli_die("eval: no --data DIR given");
    if (a.per_image && !a.json) return em_cli_die("eval: --per-image needs --json");
    em_engine_kind kind_a, kind_b = EM_ENGINE_REF;
    if (em_engine_parse(a.engine, &kind_a)) return em_cli_die("unknown engine '%s' (%s)", a.engine, engine_list());
    if (a.compare && em_engine_parse(a.compare, &kind_b))
        return em_cli_die("--compare: unknown engine '%s' (%s)", a.compare, engine_list());

    em_formats fmt;
    if (a.formats && em_cli_formats(a.formats, kind_a == EM_ENGINE_FIXED || kind_a == EM_ENGINE_HW || !a.compare ? kind_a : kind_b, &fmt))
        return 1;

    /* model; of the tasks asked for, semseg and depth are evaluated */
    em_model *model = em_cli_load_model(a.model); /* NULL: the shipped default model */
    if (!model) return 1;
    const em_model *mp = model;
    const em_config *c = &mp->cfg;
    int ret = 1;
    em_eval_data d = {0};
    engine_run *run = calloc(2, sizeof *run); /* 2 x 64 KB of confusion matrices */
    const int n_eng = a.compare ? 2 : 1;
    compare_acc *cmp = calloc(1, sizeof *cmp);

    if (!run || !cmp) { em_cli_die("out of memory"); goto done; }
    if (em_eval_open(&d, mp, a.data, a.split, a.task, a.limit)) goto done;
    const int n = d.n, t_seg = d.t_seg, t_dep = d.t_dep, C = d.C;
    const unsigned mask = d.mask;
    const size_t HW = d.HW;
    em_dataset ds = d.ds;

    /* engines; --formats goes to the fixed-point ones */
    for (int e = 0; e < n_eng; e++) {
        em_engine_kind k = e == 0 ? kind_a : kind_b;
        const int fx = k == EM_ENGINE_FIXED || k == EM_ENGINE_HW;
        if (em_eval_run_open(&run[e], &d, k, a.threads, a.formats && fx ? &fmt : NULL)) goto done;
    }

    const int bar = isatty(2) && n > 1;
    const int n_moe = em_n_moe_layers(c), K = c->top_k, N = c->n_tok;
    double t0 = em_now_ms();
    for (int k = 0; k < n; k++) {
        if (em_eval_load(&d, k)) goto done;
        cJSON *pj = a.per_image ? cJSON_CreateObject() : NULL;
        if (pj) {
            cJSON_AddNumberToObject(pj, "index", k);
            cJSON_AddStringToObject(pj, "sample", ds.stem[k]);
        }
        for (int e = 0; e < n_eng; e++) {
            engine_run *r = &run[e];
            if (em_eval_step(r, &d, k)) { cJSON_Delete(pj); goto done; }
            cJSON *ej = pj ? (e == 0 ? pj : cJSON_AddObjectToObject(pj, "compare")) : NULL;
            if (ej && e == 1) cJSON_AddStringToObject(ej, "engine", em_engine_name(r->kind));
            if (ej && t_seg >= 0) { em_seg_result sr; em_seg_finish(&r->seg_img, &sr); seg_json(ej, "semseg", &sr); }
            if (ej && t_dep >= 0) { em_depth_result dr; em_depth_finish(&r->depth_img, &dr); depth_json(ej, "depth", &dr); }
        }
        if (a.compare) {
            if (t_seg >= 0) {
                const float *la = em_session_output(run[0].s, t_seg)->logits, *lb = em_session_output(run[1].s, t_seg)->logits;
                for (size_t i = 0; i < (size_t)C * HW; i++) cmp->logit_abs += fabs((double)la[i] - (double)lb[i]);
                cmp->logit_n += (int64_t)C * HW;
                for (size_t i = 0; i < HW; i++) cmp->pred_same += run[0].pred[i] == run[1].pred[i];
                cmp->pred_n += HW;
            }
            if (t_dep >= 0) {
                const float *da = em_session_output(run[0].s, t_dep)->logits, *db = em_session_output(run[1].s, t_dep)->logits;
                for (size_t i = 0; i < HW; i++) cmp->depth_abs += fabs((double)da[i] - (double)db[i]);
                cmp->depth_n += HW;
            }
            for (int t = 0; t < c->n_tasks; t++) {
                if (!(mask >> t & 1)) continue;
                const int32_t *ra = em_session_output(run[0].s, t)->routing, *rb = em_session_output(run[1].s, t)->routing;
                for (int lt = 0; lt < n_moe * N; lt++) {
                    const int32_t *x = ra + (size_t)lt * K, *y = rb + (size_t)lt * K;
                    int set_same = 1;
                    for (int s = 0; s < K; s++) {
                        cmp->route_same[t] += x[s] == y[s];
                        int found = 0;
                        for (int u = 0; u < K; u++) found |= x[s] == y[u];
                        set_same &= found;
                    }
                    cmp->route_n[t] += K;
                    cmp->route_set_same[t] += set_same; /* top-k ids are distinct, so containment is equality */
                    cmp->route_set_n[t]++;
                }
            }
        }
        if (pj) em_cli_print_json(pj);
        if (bar) em_cli_progress(k + 1, n, em_now_ms() - t0);
    }
    const double wall_ms = em_now_ms() - t0;

    em_seg_result sr[2];
    em_depth_result dr[2];
    for (int e = 0; e < n_eng; e++) {
        em_seg_finish(&run[e].seg, &sr[e]);
        em_depth_finish(&run[e].depth, &dr[e]);
    }
    const char *task_names[2] = {"semseg", "depth"};
    if (a.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", a.data);
        cJSON_AddStringToObject(j, "split", a.split);
        cJSON_AddNumberToObject(j, "samples", n);
        cJSON_AddStringToObject(j, "model", mp->source);
        cJSON_AddStringToObject(j, "engine", em_engine_name(kind_a));
        if (t_seg >= 0) seg_json(j, "semseg", &sr[0]);
        if (t_dep >= 0) depth_json(j, "depth", &dr[0]);
        cJSON_AddNumberToObject(j, "images_per_s", run[0].run_ms > 0 ? n * 1000.0 / run[0].run_ms : 0);
        cJSON_AddNumberToObject(j, "seconds", wall_ms / 1000);
        cJSON_AddNumberToObject(j, "wall_images_per_s", wall_ms > 0 ? n * 1000.0 / wall_ms : 0);
        usage_json(j, &run[0], c, mask);
        if (a.compare) {
            cJSON *cj = cJSON_AddObjectToObject(j, "compare");
            cJSON_AddStringToObject(cj, "engine", em_engine_name(kind_b));
            usage_json(cj, &run[1], c, mask);
            if (t_seg >= 0) seg_json(cj, "semseg", &sr[1]);
            if (t_dep >= 0) depth_json(cj, "depth", &dr[1]);
            cJSON_AddNumberToObject(cj, "images_per_s", run[1].run_ms > 0 ? n * 1000.0 / run[1].run_ms : 0);
            cJSON *dj = cJSON_AddObjectToObject(cj, "diff"); /* compare - engine */
            if (t_seg >= 0) {
                num_or_null(dj, "miou", sr[1].miou - sr[0].miou);
                num_or_null(dj, "pixel_acc", sr[1].pixel_acc - sr[0].pixel_acc);
                num_or_null(cj, "semseg_logit_mae", cmp->logit_abs / (double)cmp->logit_n);
                num_or_null(cj, "semseg_pred_agreement", (double)cmp->pred_same / (double)cmp->pred_n);
            }
            if (t_dep >= 0) {
                num_or_null(dj, "abs_err", dr[1].abs_err - dr[0].abs_err);
                num_or_null(dj, "rel_err", dr[1].rel_err - dr[0].rel_err);
                num_or_null(dj, "rmse", dr[1].rmse - dr[0].rmse);
                num_or_null(dj, "delta1", dr[1].delta1 - dr[0].delta1);
                num_or_null(cj, "depth_mae", cmp->depth_abs / (double)cmp->depth_n);
            }
            cJSON *rj = cJSON_AddObjectToObject(cj, "routing");
            const int ts[2] = {t_seg, t_dep};
            for (int q = 0; q < 2; q++) {
                int t = ts[q];
                if (t < 0) continue;
                cJSON *tj = cJSON_AddObjectToObject(rj, task_names[q]);
                cJSON_AddNumberToObject(tj, "agreement", (double)cmp->route_same[t] / (double)cmp->route_n[t]);
                cJSON_AddNumberToObject(tj, "match", (double)cmp->route_same[t]);
                cJSON_AddNumberToObject(tj, "total", (double)cmp->route_n[t]);
                cJSON_AddNumberToObject(tj, "set_agreement", (double)cmp->route_set_same[t] / (double)cmp->route_set_n[t]);
                cJSON_AddNumberToObject(tj, "set_match", (double)cmp->route_set_same[t]);
                cJSON_AddNumberToObject(tj, "set_total", (double)cmp->route_set_n[t]);
            }
        }
        em_cli_print_json(j);
    } else {
        const int cm = a.compare != NULL;
        printf("edgemoe eval: %s/%s, %d samples, model %s%s\n", a.data, a.split, n, mp->source,
               strncmp(mp->source, "synthetic", 9) ? "" : " (untrained)");
        printf("  %-16s %10s", "", em_engine_name(kind_a));
        if (cm) printf(" %10s %10s", em_engine_name(kind_b), "diff");
        printf("\n");
        if (t_seg >= 0) {
            printf("semseg IoU\n");
            for (int k = 0; k < C; k++) {
                char nm[24];
                snprintf(nm, sizeof nm, "class %d", k);
                row(C == EM_N_CLASSES ? CLASS_NAMES[k] : nm, sr[0].iou[k], cm ? sr[1].iou[k] : NAN, cm);
            }
            row("mIoU", sr[0].miou, cm ? sr[1].miou : NAN, cm);
            row("pixel acc", sr[0].pixel_acc, cm ? sr[1].pixel_acc : NAN, cm);
            row_int("pixels", sr[0].pixels, cm ? sr[1].pixels : 0, cm);
        }
        if (t_dep >= 0) {
            printf("depth\n");
            row("abs err (m)", dr[0].abs_err, cm ? dr[1].abs_err : NAN, cm);
            row("rel err", dr[0].rel_err, cm ? dr[1].rel_err : NAN, cm);
            row("rmse (m)", dr[0].rmse, cm ? dr[1].rmse : NAN, cm);
            row("delta < 1.25", dr[0].delta1, cm ? dr[1].delta1 : NAN, cm);
            row_int("pixels", dr[0].pixels, cm ? dr[1].pixels : 0, cm);
        }
        usage_text(&run[0], c, mask);
        if (cm) usage_text(&run[1], c, mask);
        printf("speed\n");
        row("images/s", run[0].run_ms > 0 ? n * 1000.0 / run[0].run_ms : NAN,
            cm && run[1].run_ms > 0 ? n * 1000.0 / run[1].run_ms : NAN, cm ? 2 : 0);
        if (cm) {
            printf("%s vs %s\n", em_engine_name(kind_b), em_engine_name(kind_a));
            if (t_seg >= 0) {
                printf("  semseg logits mean |diff| %.6g, argmax agreement %.4f%%\n",
                       cmp->logit_abs / (double)cmp->logit_n, 100.0 * cmp->pred_same / (double)cmp->pred_n);
            }
            if (t_dep >= 0) printf("  depth mean |diff| %.6g m\n", cmp->depth_abs / (double)cmp->depth_n);
            const int ts[2] = {t_seg, t_dep};
            for (int q = 0; q < 2; q++) {
                int t = ts[q];
                if (t < 0) continue;
                printf("  routing %s: %.2f%% of (layer, token, slot) equal (%lld / %lld), %.2f%% of (layer, token) equal as sets\n",
                       task_names[q], 100.0 * cmp->route_same[t] / (double)cmp->route_n[t], (long long)cmp->route_same[t],
                       (long long)cmp->route_n[t], 100.0 * cmp->route_set_same[t] / (double)cmp->route_set_n[t]);
            }
        }
    }
    fprintf(stderr, "edgemoe: %d images in %.1f s: %.2f images/s\n", n, wall_ms / 1000, n * 1000.0 / wall_ms);
    ret = 0;
done:
    for (int e = 0; run && e < 2; e++) em_eval_run_close(&run[e]);
    free(run);
    free(cmp);
    em_eval_close(&d);
    em_model_close(model);
    return ret;
}

/* ---- the machinery eval and explore share (eval_run.h) ---- */

int em_eval_open(em_eval_data *d, const em_model *m, const char *dir, const char *split, const char *task, int limit) {
    const em_config *c = &m->cfg;
    em_err err;
    memset(d, 0, sizeof *d);
    d->m = m;
    unsigned want = 0;
    if (em_cli_task_mask(c, task, &want)) return 1;
    const int i_seg = em_task_index(c, "semseg"), i_dep = em_task_index(c, "depth");
    d->t_seg = i_seg >= 0 && (want >> i_seg & 1) ? i_seg : -1;
    d->t_dep = i_dep >= 0 && (want >> i_dep & 1) ? i_dep : -1;
    d->C = d->t_seg >= 0 ? c->task_channels[d->t_seg] : 0;
    d->HW = (size_t)c->img_h * c->img_w;
    if (task && !strcmp(task, "semseg") && d->t_seg < 0) return em_cli_die("the model has no task 'semseg'");
    if (task && !strcmp(task, "depth") && d->t_dep < 0) return em_cli_die("the model has no task 'depth'");
    if (d->t_seg < 0 && d->t_dep < 0) return em_cli_die("the model has neither a 'semseg' nor a 'depth' task");
    if (d->t_seg >= 0 && (d->C < 2 || d->C > EM_SEG_MAX_CLASSES))
        return em_cli_die("semseg task has %d classes (2..64 supported)", d->C);
    if (d->t_dep >= 0 && c->task_channels[d->t_dep] != 1)
        return em_cli_die("depth task has %d channels, expected 1", c->task_channels[d->t_dep]);
    d->mask = (d->t_seg >= 0 ? 1u << d->t_seg : 0) | (d->t_dep >= 0 ? 1u << d->t_dep : 0);

    /* data: every sample read and validated before anything runs */
    if (em_dataset_open(&d->ds, dir, split, c->img_h, c->img_w, &err)) return em_cli_die("%s", err.msg);
    d->n = limit && limit < d->ds.n ? limit : d->ds.n;
    d->img = malloc((size_t)c->img_c * d->HW * sizeof *d->img);
    d->gt_depth = malloc(d->HW * sizeof *d->gt_depth);
    d->label = malloc(d->HW);
    if (!d->img || !d->gt_depth || !d->label) return em_cli_die("out of memory");
    if (c->img_c != 3) return em_cli_die("the model takes %d input channels; the dataset holds RGB", c->img_c);
    for (int k = 0; k < d->n; k++)
        if (em_eval_load(d, k)) return 1;
    return 0;
}

int em_eval_load(em_eval_data *d, int k) {
    em_err err;
    if (em_dataset_image(&d->ds, k, d->img, &err) ||
        (d->t_seg >= 0 && em_dataset_label(&d->ds, k, d->C, d->label, &err)) ||
        (d->t_dep >= 0 && em_dataset_depth(&d->ds, k, d->gt_depth, &err)))
        return em_cli_die("%s", err.msg);
    return 0;
}

void em_eval_close(em_eval_data *d) {
    free(d->img);
    free(d->gt_depth);
    free(d->label);
    em_dataset_close(&d->ds);
    memset(d, 0, sizeof *d);
}

int em_eval_run_open(em_eval_run *r, const em_eval_data *d, em_engine_kind kind, int threads, const em_formats *f) {
    const em_config *c = &d->m->cfg;
    em_err err;
    r->kind = kind;
    if (f) { r->fmt = *f; r->has_fmt = 1; }
    em_session_opts opts = {0};
    opts.engine = kind;
    opts.threads = threads;
    opts.formats = f;
    r->s = em_session_new(d->m, &opts, &err);
    r->pred = malloc(d->HW);
    r->expert_tokens = calloc((size_t)c->n_tasks * em_n_moe_layers(c) * c->n_experts, sizeof *r->expert_tokens);
    if (!r->s) return em_cli_die("%s", err.msg);
    if (!r->pred || !r->expert_tokens) return em_cli_die("out of memory");
    em_seg_init(&r->seg, d->C ? d->C : 1);
    em_depth_init(&r->depth);
    return 0;
}

int em_eval_step(em_eval_run *r, const em_eval_data *d, int k) {
    const em_config *c = &d->m->cfg;
    em_err err;
    double ts = em_now_ms();
    if (em_session_run(r->s, d->img, d->mask, &err)) {
        char path[EM_DATASET_PATH + 64];
        em_dataset_path(&d->ds, k, "image", d->ds.image_is_png[k] ? "png" : "npy", path, sizeof path);
        return em_cli_die("%s: %s", path, err.msg);
    }
    r->run_ms += em_now_ms() - ts;
    accumulate_usage(r, c, d->mask);
    if (d->t_seg >= 0) {
        em_seg_argmax(em_session_output(r->s, d->t_seg)->logits, d->C, d->HW, r->pred);
        em_seg_init(&r->seg_img, d->C);
        em_seg_accumulate(&r->seg_img, d->label, r->pred, d->HW);
        em_seg_merge(&r->seg, &r->seg_img);
    }
    if (d->t_dep >= 0) {
        em_depth_init(&r->depth_img);
        em_depth_accumulate(&r->depth_img, d->gt_depth, em_session_output(r->s, d->t_dep)->logits, d->HW);
        em_depth_merge(&r->depth, &r->depth_img);
    }
    return 0;
}

void em_eval_run_close(em_eval_run *r) {
    em_session_free(r->s);
    free(r->pred);
    free(r->expert_tokens);
    r->s = NULL;
    r->pred = NULL;
    r->expert_tokens = NULL;
}

int em_cli_formats(const char *arg, em_engine_kind engine, em_formats *f) {
    em_err err;
    if (engine != EM_ENGINE_FIXED && engine != EM_ENGINE_HW)
        return em_cli_die("--formats applies to the fixed-point engines (fixed, hw), not %s", em_engine_name(engine));
    if (em_formats_get(arg, f, &err)) return em_cli_die("%s", err.msg);
    return 0;
}
