/* edgemoe sim: performance model of the Edge-MoE accelerator (docs/sim.md).
 *
 *   edgemoe sim [--model M] --image I [--task T] [--engine fixed|ref] [--board NAME|FILE]
 *               [--json] [--svg FILE] [--trace FILE.json] [--sweep] [--cpu [--cpu-w-per-thread W]]
 *               [--clock-mhz F] [--attn-p P] [--tile IxO] [--axi-bits B] [--dram-gbps G]
 *               [--config FILE.json]
 *
 * Runs the fixed engine (the accelerator twin) on the image to get the real
 * expert queues of the task, then models the accelerator on a board
 * (boards/NAME.json; default zcu102 as the original was built): latency,
 * DRAM traffic per port, DSP/BRAM/URAM use, energy (an estimate).  The
 * board comes first, then --config, then the options.  Every failure prints
 * one line "edgemoe: ..." on stderr and exits non-zero. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
#include "util.h"
#include "sim/sim.h"
#include "cli.h"
#include "outputs.h"

static void sim_usage(FILE *f)
{
    fputs("usage: edgemoe sim [--model DIR|FILE.safetensors|synthetic] --image PATH [--task NAME|all]\n"
          "                   [--engine fixed|ref] [--board NAME|FILE.json] [--json] [--svg FILE]\n"
          "                   [--trace FILE.json] [--sweep] [--cpu [--cpu-w-per-thread W] [--threads N]]\n"
          "                   [--clock-mhz F] [--attn-p P] [--tile IxO] [--axi-bits B] [--dram-gbps G]\n"
          "                   [--config FILE.json]\n"
          "Models the Edge-MoE accelerator on the routing of this image (docs/sim.md).\n"
          "Boards: zcu102 (default: as the original was built, 128-bit PS ports), zcu102-ideal-256,\n"
          "zcu104, kv260 (boards/NAME.json; $EDGEMOE_BOARDS overrides the folder) or a FILE.json.\n"
          "--trace: Chrome trace-event JSON (Perfetto, chrome://tracing).  --cpu: time the fast\n"
          "engine here and compare energy per image (both estimates).  P = 4, tile 16x16 by default.\n", f);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return em_cli_die("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    *out = v;
    return 0;
}

static void tile_str(char *buf, size_t n, const em_sim_point *q)
{
    snprintf(buf, n, "%dx%d", q->tile_in, q->tile_out);
}

/* the fastest point that fits (the best of the board), -1 if none */
static int best_point(const em_sim_point *pts, int n)
{
    int b = -1;
    for (int i = 0; i < n; i++)
        if (pts[i].fits && (b < 0 || pts[i].latency_ms < pts[b].latency_ms)) b = i;
    return b;
}

static void print_point(const em_sim_point *q)
{
    char tile[16];
    tile_str(tile, sizeof tile, q);
    printf("P=%-2d tile %-5s %3.0f MHz input %-6s: %8.3f ms, %5.0f DSP, %5.0f BRAM18K, %3.0f URAM, %6.1f mJ/image (est.), "
           "port-bound %2.0f%%", q->attn_p, tile, q->clock_mhz, q->input_buffered ? "onchip" : "reread", q->latency_ms, q->dsp,
           q->bram18k, q->uram, q->energy_mj, 100 * q->port_bound_frac);
}

static void print_sweep(const em_sim_point *pts, int n, const em_sim_params *p)
{
    printf("design space on board %s: attn P x linear tile x clock x linear input (re-read per tile | kept on chip), %d points;\n"
           "budget %d DSP, %d BRAM18K, %d URAM\n", p->board[0] ? p->board : "custom", n, p->dsp_budget, p->bram_budget, p->uram_budget);
    printf("%4s %6s %6s %6s %10s %7s %8s %5s %8s %6s  %s\n", "P", "tile", "MHz", "input", "latency_ms", "DSP", "BRAM18K", "URAM",
           "mJ(est)", "port%", "");
    for (int i = 0; i < n; i++) {
        const em_sim_point *q = &pts[i];
        char tile[16];
        tile_str(tile, sizeof tile, q);
        printf("%4d %6s %6.0f %6s %10.3f %7.0f %8.0f %5.0f %8.1f %6.0f  %s%s%s%s\n", q->attn_p, tile, q->clock_mhz,
               q->input_buffered ? "onchip" : "reread", q->latency_ms, q->dsp, q->bram18k, q->uram, q->energy_mj,
               100 * q->port_bound_frac, q->fits ? "" : "does not fit", q->pareto ? "PARETO" : "",
               p->fmax_mhz > 0 && q->clock_mhz > p->fmax_mhz ? " (timing?)" : "", q->original ? " <- original" : "");
    }
    printf("\nPareto set of the configurations that fit %s (latency vs DSP, BRAM18K, URAM):\n", p->board[0] ? p->board : "the board");
    for (int i = 0; i < n; i++) {
        if (!pts[i].pareto) continue;
        printf("  ");
        print_point(&pts[i]);
        printf("%s\n", pts[i].original ? "  <- original" : "");
    }
    int b = best_point(pts, n);
    if (b >= 0) {
        printf("fastest that fits: ");
        print_point(&pts[b]);
        printf("\n");
    } else printf("no configuration of the sweep fits %s\n", p->board[0] ? p->board : "the board");
    if (p->fmax_mhz > 0)
        printf("(timing?): above the %.0f MHz Fmax that the original's synthesis estimated (docs/spec.md section 4); the model\n"
               "assumes the clock is met, its resources do not depend on the clock, so lower clocks are never on the front\n",
               p->fmax_mhz);
    for (int i = 0; i < n; i++)
        if (pts[i].original && !pts[i].pareto)
            printf("  (the original, P=4 16x16 300 MHz input re-read: %.3f ms, %.0f DSP, %.0f BRAM18K, is %s)\n", pts[i].latency_ms,
                   pts[i].dsp, pts[i].bram18k, pts[i].fits ? "dominated" : "over budget");
}

/* the sweep as one JSON object: every point, with fits / pareto / original */
static int print_sweep_json(const em_sim_point *pts, int n, const char *task, const em_sim_params *p)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "task", task);
    cJSON_AddStringToObject(j, "board", p->board[0] ? p->board : "custom");
    cJSON *bu = cJSON_AddObjectToObject(j, "budget");
    cJSON_AddNumberToObject(bu, "dsp", p->dsp_budget);
    cJSON_AddNumberToObject(bu, "bram18k", p->bram_budget);
    cJSON_AddNumberToObject(bu, "uram", p->uram_budget);
    cJSON_AddNumberToObject(j, "best", best_point(pts, n));
    cJSON *a = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < n; i++) {
        const em_sim_point *q = &pts[i];
        cJSON *o = cJSON_CreateObject();
        char tile[16];
        tile_str(tile, sizeof tile, q);
        cJSON_AddNumberToObject(o, "attn_p", q->attn_p);
        cJSON_AddStringToObject(o, "tile", tile);
        cJSON_AddNumberToObject(o, "clock_mhz", q->clock_mhz);
        cJSON_AddBoolToObject(o, "input_on_chip", q->input_buffered);
        cJSON_AddNumberToObject(o, "latency_ms", q->latency_ms);
        cJSON_AddNumberToObject(o, "dsp", q->dsp);
        cJSON_AddNumberToObject(o, "bram18k", q->bram18k);
        cJSON_AddNumberToObject(o, "uram", q->uram);
        cJSON_AddNumberToObject(o, "energy_mj", q->energy_mj);
        cJSON_AddNumberToObject(o, "port_bound_frac", q->port_bound_frac);
        cJSON_AddBoolToObject(o, "fits", q->fits);
        cJSON_AddBoolToObject(o, "pareto", q->pareto);
        cJSON_AddBoolToObject(o, "original", q->original);
        cJSON_AddItemToArray(a, o);
    }
    em_cli_print_json(j);
    return 0;
}

/* folder of the running executable (for boards/), "" if unknown */
static void exe_dir(char *dir, size_t n)
{
    dir[0] = 0;
    char buf[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (k <= 0) return;
    buf[k] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return;
    *slash = 0;
    snprintf(dir, n, "%s", buf);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* The fast engine on this machine: the best backbone time of `runs` runs
 * of one task (ms), measured, not modelled. */
static int cpu_backbone_ms(const em_model *m, const float *img, int task, int threads, int runs, double *ms, em_err *err)
{
    em_session_opts o = {0};
    o.engine = EM_ENGINE_FAST;
    o.skip_head = 1;
    o.threads = threads;
    em_session *s = em_session_new(m, &o, err);
    if (!s) return EM_EARG;
    double best = 1e300;
    int rc = EM_OK;
    for (int i = 0; i < runs + 1 && !rc; i++) {   /* the first run warms caches and pages */
        double t0 = now_ms();
        rc = em_session_run(s, img, 1u << task, err);
        double t = now_ms() - t0;
        const em_task_output *out = em_session_output(s, task);
        if (out && out->backbone_ms > 0) t = out->backbone_ms;
        if (i > 0 && t < best) best = t;
    }
    em_session_free(s);
    *ms = best;
    return rc;
}

int em_cmd_sim(int argc, char **argv)
{
    em_sim_params p;
    em_sim_params_default(&p);
    const char *model = NULL, *image = NULL, *task = NULL, *svg = NULL, *trace = NULL, *config = NULL, *board = NULL;
    const char *engine = "fixed";
    int json = 0, sweep = 0, cpu = 0, threads = 2;
    double cpu_w = 4.0;
    /* the board, then --config, then the command-line options */
    for (int i = 0; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--config")) config = argv[i + 1];
        if (!strcmp(argv[i], "--board")) board = argv[i + 1];
    }
    em_err err;
    char dir[PATH_MAX], bpath[PATH_MAX + 64];
    exe_dir(dir, sizeof dir);
    if (board) {
        if (em_sim_board_path(board, dir, bpath, sizeof bpath, &err) || em_sim_board_load(&p, bpath, &err))
            return em_cli_die("%s", err.msg);
    } else if (!em_sim_board_path("zcu102", dir, bpath, sizeof bpath, &err)) {
        /* the default board's profile; without a boards folder the built-in
         * defaults hold the same figures (tests/test_sim_board.c) */
        if (em_sim_board_load(&p, bpath, &err)) return em_cli_die("%s", err.msg);
    }
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
        else if (!strcmp(o, "--trace")) { NEED(); trace = v; }
        else if (!strcmp(o, "--config") || !strcmp(o, "--board")) { NEED(); }
        else if (!strcmp(o, "--json")) json = 1;
        else if (!strcmp(o, "--sweep")) sweep = 1;
        else if (!strcmp(o, "--cpu")) cpu = 1;
        else if (!strcmp(o, "--cpu-w-per-thread")) { NEED(); if (parse_num(o, v, 0.01, 1000, &d)) return 1; cpu_w = d; }
        else if (!strcmp(o, "--threads")) {
            NEED();
            long t;
            if (em_cli_int(o, v, 1, 256, &t)) return 1;
            threads = (int)t;
        }
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
    em_out_stdout_busy();  /* the report */
    em_out_protect(image);
    em_out_protect(model);
    em_out_protect(config);
    if (sweep && (trace || svg || cpu)) return em_cli_die("sim: --sweep does not combine with --trace, --svg or --cpu");
    em_session_opts opts = {0};
    if (em_engine_parse(engine, &opts.engine) || opts.engine == EM_ENGINE_FAST)
        return em_cli_die("sim: --engine must be fixed or ref (got '%s')", engine);
    opts.skip_head = 1;
    opts.threads = 1;

    em_model *mp = em_cli_load_model(model);
    if (!mp) return 1;
    const em_config *c = &mp->cfg;
    unsigned mask = 1;   /* default: the first task */
    if (task && em_cli_task_mask(c, task, &mask)) { em_model_close(mp); return 1; }
    int rc;
    rc = 1;
    float *img = malloc((size_t)c->img_c * c->img_h * c->img_w * sizeof(float));
    em_sim_result *r = malloc(sizeof *r);
    em_sim_point *pts = NULL;
    em_session *s = NULL;
    if (!img || !r) { em_cli_die("out of memory"); goto done; }
    if (em_image_load(image, c, img, &err)) { em_cli_die("%s", err.msg); goto done; }
    s = em_session_new(mp, &opts, &err);
    if (!s) { em_cli_die("%s", err.msg); goto done; }
    if (em_session_run(s, img, mask, &err)) { em_cli_die("%s: %s", image, err.msg); goto done; }
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        const em_task_output *o = em_session_output(s, t);
        if (sweep) {
            const int max = EM_SIM_SWEEP_MAX;
            pts = calloc(max, sizeof *pts);
            if (!pts) { em_cli_die("out of memory"); goto done; }
            int n = em_sim_sweep(&p, c, o->expert_tokens, pts, max, &err);
            if (n < 0) { em_cli_die("%s", err.msg); goto done; }
            if (json) {
                if (print_sweep_json(pts, n, c->task_name[t], &p)) goto done;
            } else {
                printf("task %s, image %s\n", c->task_name[t], image);
                print_sweep(pts, n, &p);
            }
            free(pts); pts = NULL;
            continue;
        }
        if (em_sim_run(&p, c, o->expert_tokens, r, &err)) { em_cli_die("%s", err.msg); goto done; }
        /* CPU comparison: the fast engine measured here, its energy estimated
         * as threads x a power figure per thread (docs/sim.md) */
        double cpu_ms = 0, cpu_mj = 0;
        if (cpu) {
            if (cpu_backbone_ms(mp, img, t, threads, 5, &cpu_ms, &err)) { em_cli_die("%s", err.msg); goto done; }
            cpu_mj = cpu_ms * threads * cpu_w;   /* ms x W = mJ */
        }
        if (json) {
            char *js = em_sim_json(&p, c, r, c->task_name[t], em_engine_name(opts.engine));
            cJSON *j = js ? cJSON_Parse(js) : NULL;
            free(js);
            if (!j) { em_cli_die("out of memory"); goto done; }
            if (cpu) {
                cJSON *cj = cJSON_AddObjectToObject(j, "cpu");
                cJSON_AddStringToObject(cj, "note", "fast engine measured on this machine; energy = backbone ms x threads x W per thread (estimate)");
                cJSON_AddNumberToObject(cj, "threads", threads);
                cJSON_AddNumberToObject(cj, "w_per_thread", cpu_w);
                cJSON_AddNumberToObject(cj, "backbone_ms", cpu_ms);
                cJSON_AddNumberToObject(cj, "joules_per_image", cpu_mj * 1e-3);
                cJSON_AddNumberToObject(cj, "images_per_joule", cpu_mj > 0 ? 1e3 / cpu_mj : 0);
                cJSON_AddNumberToObject(cj, "fpga_over_cpu_images_per_joule", cpu_mj > 0 ? cpu_mj * 1e-3 / r->energy.total_j : 0);
            }
            em_cli_print_json(j);
        } else {
            printf("task %s, image %s, routing from the %s engine\n", c->task_name[t], image, em_engine_name(opts.engine));
            em_sim_print(stdout, &p, c, r);
            if (cpu)
                printf("\nCPU comparison (energy an ESTIMATE): fast engine here, %d threads, backbone %.2f ms (best of 5, measured);\n"
                       "  %.2f ms x %d threads x %.1f W per thread = %.1f mJ/image (%.2f images/J); the model's %s: %.1f mJ/image\n"
                       "  (%.2f images/J): FPGA / CPU images per joule = %.2f\n",
                       threads, cpu_ms, cpu_ms, threads, cpu_w, cpu_mj, 1e3 / cpu_mj, p.board[0] ? p.board : "board",
                       r->energy.total_j * 1e3, r->energy.images_per_j, cpu_mj * 1e-3 / r->energy.total_j);
        }
        if (svg) {
            char title[300];
            snprintf(title, sizeof title, "Edge-MoE model on %s: %.3f ms/image, task %s (P=%d, tile %dx%d, %.0f MHz)",
                     p.board[0] ? p.board : "a custom board", r->latency_ms, c->task_name[t], p.attn_p, p.tile_in, p.tile_out,
                     p.clock_mhz);
            char *path = __builtin_popcount(mask) > 1 ? em_cli_suffixed(svg, c->task_name[t]) : strdup(svg);
            if (!path) { em_cli_die("out of memory"); goto done; }
            const char *stage = em_out_stage(path, &err);
            int bad = !stage || em_sim_write_svg(stage, c, r, title, &err);
            free(path);
            if (bad) { em_cli_die("%s", err.msg); goto done; }
        }
        if (trace) {
            char *path = __builtin_popcount(mask) > 1 ? em_cli_suffixed(trace, c->task_name[t]) : strdup(trace);
            if (!path) { em_cli_die("out of memory"); goto done; }
            const char *stage = em_out_stage(path, &err);
            int bad = !stage || em_sim_write_trace(stage, &p, c, r, c->task_name[t], &err);
            free(path);
            if (bad) { em_cli_die("%s", err.msg); goto done; }
        }
    }
    if (em_out_commit(&err)) { em_cli_die("%s", err.msg); goto done; }
    fflush(stdout);
    rc = 0;
done:
    em_session_free(s);
    free(pts); free(img); free(r);
    em_model_close(mp);
    return rc;
}
