/* edgemoe sim: performance model of the Edge-MoE accelerator (docs/sim.md).
 *
 *   edgemoe sim [--model M] --image I [--task T] [--engine fixed|ref] [--json] [--svg FILE]
 *               [--clock-mhz F] [--attn-p P] [--tile IxO] [--axi-bits B] [--dram-gbps G]
 *               [--config FILE.json] [--sweep]
 *
 * Runs the fixed engine (the accelerator twin) on the image to get the real
 * expert queues of the task, then models the accelerator's latency, DRAM
 * traffic and DSP/BRAM use.  Every failure prints one line "edgemoe: ..."
 * on stderr and exits non-zero. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
#include "engine/engine.h"
#include "sim/sim.h"
#include "cli.h"

static void sim_usage(FILE *f)
{
    fputs("usage: edgemoe sim [--model DIR|FILE.safetensors] --image PATH [--task NAME|all]\n"
          "                   [--engine fixed|ref] [--json] [--svg FILE] [--sweep]\n"
          "                   [--clock-mhz F] [--attn-p P] [--tile IxO] [--axi-bits B] [--dram-gbps G]\n"
          "                   [--config FILE.json]\n"
          "Models the Edge-MoE accelerator on the routing of this image (docs/sim.md).\n"
          "Defaults: 300 MHz, P = 4, tile 16x16, 256-bit AXI, 19.2 GB/s DRAM, routing from the fixed engine.\n", f);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return em_cli_die("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    *out = v;
    return 0;
}

static void print_sweep(const em_sim_point *pts, int n, const em_sim_params *p)
{
    printf("design space: attn P x linear tile x clock (%d points); budget %d DSP, %d BRAM18K\n", n, p->dsp_budget,
           p->bram_budget);
    printf("%4s %6s %6s %10s %7s %8s  %s\n", "P", "tile", "MHz", "latency_ms", "DSP", "BRAM18K", "");
    for (int i = 0; i < n; i++) {
        const em_sim_point *q = &pts[i];
        char tile[16];
        snprintf(tile, sizeof tile, "%dx%d", q->tile_in, q->tile_out);
        printf("%4d %6s %6.0f %10.3f %7.0f %8.0f  %s%s%s%s\n", q->attn_p, tile, q->clock_mhz, q->latency_ms, q->dsp,
               q->bram18k, q->fits ? "" : "does not fit", q->pareto ? "PARETO" : "",
               p->fmax_mhz > 0 && q->clock_mhz > p->fmax_mhz ? " (timing?)" : "", q->original ? " <- original" : "");
    }
    printf("\nPareto set of the configurations that fit (latency vs DSP and BRAM18K):\n");
    for (int i = 0; i < n; i++) {
        const em_sim_point *q = &pts[i];
        if (!q->pareto) continue;
        printf("  P=%-2d tile %dx%-2d %3.0f MHz: %8.3f ms, %5.0f DSP, %5.0f BRAM18K%s\n", q->attn_p, q->tile_in, q->tile_out,
               q->clock_mhz, q->latency_ms, q->dsp, q->bram18k, q->original ? "  <- original" : "");
    }
    if (p->fmax_mhz > 0)
        printf("(timing?): above the %.0f MHz Fmax that the original's synthesis estimated (SPEC 4); the model\n"
               "assumes the clock is met, its resources do not depend on the clock, so lower clocks are never on the front\n",
               p->fmax_mhz);
    for (int i = 0; i < n; i++)
        if (pts[i].original && !pts[i].pareto)
            printf("  (the original, P=4 16x16 300 MHz: %.3f ms, %.0f DSP, %.0f BRAM18K, is %s)\n", pts[i].latency_ms,
                   pts[i].dsp, pts[i].bram18k, pts[i].fits ? "dominated" : "over budget");
}

/* the sweep as one JSON object: every point, with fits / pareto / original */
static int print_sweep_json(const em_sim_point *pts, int n, const char *task)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "task", task);
    cJSON *a = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < n; i++) {
        const em_sim_point *q = &pts[i];
        cJSON *o = cJSON_CreateObject();
        char tile[16];
        snprintf(tile, sizeof tile, "%dx%d", q->tile_in, q->tile_out);
        cJSON_AddNumberToObject(o, "attn_p", q->attn_p);
        cJSON_AddStringToObject(o, "tile", tile);
        cJSON_AddNumberToObject(o, "clock_mhz", q->clock_mhz);
        cJSON_AddNumberToObject(o, "latency_ms", q->latency_ms);
        cJSON_AddNumberToObject(o, "dsp", q->dsp);
        cJSON_AddNumberToObject(o, "bram18k", q->bram18k);
        cJSON_AddBoolToObject(o, "fits", q->fits);
        cJSON_AddBoolToObject(o, "pareto", q->pareto);
        cJSON_AddBoolToObject(o, "original", q->original);
        cJSON_AddItemToArray(a, o);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return em_cli_die("out of memory");
    puts(s);
    free(s);
    return 0;
}

int em_cmd_sim(int argc, char **argv)
{
    em_sim_params p;
    em_sim_params_default(&p);
    const char *model = NULL, *image = NULL, *task = NULL, *svg = NULL, *config = NULL, *engine = "fixed";
    int json = 0, sweep = 0;
    /* --config first, so that the command-line options override it */
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) config = argv[i + 1];
    em_err err;
    if (config && em_sim_params_load_json(&p, config, &err)) return em_cli_die("%s", err.msg);
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define NEED() do { if (!v) return em_cli_die("%s needs a value", o); i++; } while (0)
        if (!strcmp(o, "--model")) { NEED(); model = v; }
        else if (!strcmp(o, "--image")) { NEED(); image = v; }
        else if (!strcmp(o, "--task")) { NEED(); task = v; }
        else if (!strcmp(o, "--engine")) { NEED(); engine = v; }
        else if (!strcmp(o, "--svg")) { NEED(); svg = v; }
        else if (!strcmp(o, "--config")) { NEED(); }
        else if (!strcmp(o, "--json")) json = 1;
        else if (!strcmp(o, "--sweep")) sweep = 1;
        else if (!strcmp(o, "--clock-mhz")) { NEED(); if (parse_num(o, v, 1, 2000, &d)) return 1; p.clock_mhz = d; }
        else if (!strcmp(o, "--attn-p")) {
            NEED();
            if (parse_num(o, v, 1, 128, &d)) return 1;
            if (d != (int)d) return em_cli_die("--attn-p: '%s' is not an integer", v);
            p.attn_p = (int)d;
        }
        else if (!strcmp(o, "--axi-bits")) { NEED(); if (parse_num(o, v, 32, 1024, &d)) return 1; p.axi_bits = (int)d; if (p.axi_bits != d || (p.axi_bits & (p.axi_bits - 1))) return em_cli_die("--axi-bits: '%s' is not a power of two", v); }
        else if (!strcmp(o, "--dram-gbps")) { NEED(); if (parse_num(o, v, 0.001, 1e4, &d)) return 1; p.dram_gbps = d; }
        else if (!strcmp(o, "--tile")) {
            NEED();
            int a, b, n = 0;
            if (sscanf(v, "%dx%d%n", &a, &b, &n) != 2 || v[n] || a < 1 || b < 1 || a > 256 || b > 256)
                return em_cli_die("--tile: '%s' is not IxO (e.g. 16x16, each 1..256)", v);
            p.tile_in = a; p.tile_out = b;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { sim_usage(stdout); return 0; }
        else return em_cli_die("sim: unknown option '%s' (see edgemoe sim --help)", o);
#undef NEED
    }
    if (em_sim_params_check(&p, &err)) return em_cli_die("%s", err.msg);
    if (!image) return em_cli_die("sim: no --image given");
    em_session_opts opts = {0};
    if (em_engine_parse(engine, &opts.engine) || opts.engine == EM_ENGINE_FAST)
        return em_cli_die("sim: --engine must be fixed or ref (got '%s')", engine);
    opts.skip_head = 1;
    opts.threads = 1;

    em_model m;
    int rc;
    if (model) rc = em_model_load(&m, model, &err);
    else {
        em_config cfg;
        em_config_default(&cfg);
        rc = em_model_synthetic(&m, &cfg, EM_SYNTHETIC_SEED, &err);
    }
    if (rc) return em_cli_die("%s", err.msg);
    const em_config *c = &m.cfg;
    unsigned mask;
    if (!task) mask = 1;
    else if (!strcmp(task, "all")) mask = (1u << c->n_tasks) - 1;
    else {
        int t = em_task_index(c, task);
        if (t < 0) { em_model_free(&m); return em_cli_die("unknown task '%s'", task); }
        mask = 1u << t;
    }
    rc = 1;
    float *img = malloc((size_t)c->img_c * c->img_h * c->img_w * sizeof(float));
    em_sim_result *r = malloc(sizeof *r);
    em_sim_point *pts = NULL;
    em_session *s = NULL;
    if (!img || !r) { em_cli_die("out of memory"); goto done; }
    if (em_image_load(image, c, img, &err)) { em_cli_die("%s", err.msg); goto done; }
    s = em_session_new(&m, &opts, &err);
    if (!s) { em_cli_die("%s", err.msg); goto done; }
    if (em_session_run(s, img, mask, &err)) { em_cli_die("%s: %s", image, err.msg); goto done; }
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        const em_task_output *o = em_session_output(s, t);
        if (sweep) {
            const int max = 128;
            pts = calloc(max, sizeof *pts);
            if (!pts) { em_cli_die("out of memory"); goto done; }
            int n = em_sim_sweep(&p, c, o->expert_tokens, pts, max, &err);
            if (n < 0) { em_cli_die("%s", err.msg); goto done; }
            if (json) {
                if (print_sweep_json(pts, n, c->task_name[t])) goto done;
            } else {
                printf("task %s, image %s\n", c->task_name[t], image);
                print_sweep(pts, n, &p);
            }
            free(pts); pts = NULL;
            continue;
        }
        if (em_sim_run(&p, c, o->expert_tokens, r, &err)) { em_cli_die("%s", err.msg); goto done; }
        if (json) {
            char *js = em_sim_json(&p, c, r, c->task_name[t], em_engine_name(opts.engine));
            if (!js) { em_cli_die("out of memory"); goto done; }
            puts(js);
            free(js);
        } else {
            printf("task %s, image %s, routing from the %s engine\n", c->task_name[t], image, em_engine_name(opts.engine));
            em_sim_print(stdout, &p, c, r);
        }
        if (svg) {
            char title[300], path[1100];
            snprintf(title, sizeof title, "Edge-MoE model: %.3f ms/image, task %s (P=%d, tile %dx%d, %.0f MHz)",
                     r->latency_ms, c->task_name[t], p.attn_p, p.tile_in, p.tile_out, p.clock_mhz);
            if (__builtin_popcount(mask) > 1) {
                const char *dot = strrchr(svg, '.');
                int cut = dot ? (int)(dot - svg) : (int)strlen(svg);
                snprintf(path, sizeof path, "%.*s.%s%s", cut, svg, c->task_name[t], dot ? dot : "");
            } else snprintf(path, sizeof path, "%s", svg);
            if (em_sim_write_svg(path, c, r, title, &err)) { em_cli_die("%s", err.msg); goto done; }
        }
    }
    fflush(stdout);
    rc = 0;
done:
    em_session_free(s);
    free(pts); free(img); free(r);
    em_model_free(&m);
    return rc;
}
