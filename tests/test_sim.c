/* Performance model (src/sim): sane outputs, weights read once, trip counts
 * from the dataflow's closed forms, monotonicity in P / tile / DRAM, unused
 * experts free, every queue length 0..N, reports (JSON keys, SVG), config
 * file, sweep.  The trip-count equality with an instrumented run of src/hw
 * is tests/check_sim_trips.c (tests/sim_trips_test.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "test_util.h"
#include "edgemoe.h"
#include "sim/sim.h"

static em_config C;
static int Lm;

/* queue lengths: `per` tokens to each listed expert, same for every block */
static int32_t *routing_of(const int *experts, const int *tokens, int n)
{
    int32_t *r = calloc((size_t)Lm * C.n_experts, sizeof *r);
    for (int l = 0; l < Lm; l++)
        for (int i = 0; i < n; i++) r[l * C.n_experts + experts[i]] = tokens[i];
    return r;
}

/* N x k token slots spread as evenly as possible over all experts */
static int32_t *routing_uniform(void)
{
    int32_t *r = calloc((size_t)Lm * C.n_experts, sizeof *r);
    int slots = C.n_tok * C.top_k;
    for (int l = 0; l < Lm; l++)
        for (int s = 0; s < slots; s++) r[l * C.n_experts + s % C.n_experts]++;
    return r;
}

static double lin_cycles(const em_sim_result *r)
{
    return r->op_total[EM_SIM_OP_QKV].cycles + r->op_total[EM_SIM_OP_PROJ].cycles +
           r->op_total[EM_SIM_OP_FC1].cycles + r->op_total[EM_SIM_OP_FC2].cycles +
           r->op_total[EM_SIM_OP_EXP1].cycles + r->op_total[EM_SIM_OP_EXP2].cycles;
}

/* the first model's assumptions (boards/zcu102-ideal-256.json): five
 * 256-bit ports at full rate, DDR at its peak */
static void ideal(em_sim_params *p)
{
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        snprintf(p->port[i].name, sizeof p->port[i].name, "ideal%d", i);
        p->port[i].bits = 256; p->port[i].clock_mhz = 0; p->port[i].efficiency = 1; p->port[i].latency_ns = 150;
    }
    p->dram_efficiency = 1; p->dram_activate_ns = 0; p->dram_latency_ns = 150;
}

static int run(const em_sim_params *p, const int32_t *rt, em_sim_result *r)
{
    em_err err;
    int rc = em_sim_run(p, &C, rt, r, &err);
    if (rc) printf("  em_sim_run: %s\n", err.msg);
    return rc;
}

int main(void)
{
    em_config_default(&C);
    Lm = em_n_moe_layers(&C);
    const double N = C.n_tok, D = C.dim, H = C.mlp_hidden, EH = C.expert_hidden, E = C.n_experts, K = C.top_k;
    const double DB = D / 8;
    em_sim_params p;
    em_sim_params_default(&p);
    em_sim_result *r = malloc(sizeof *r), *r2 = malloc(sizeof *r2);
    int32_t *uni = routing_uniform();
    em_err err;

    /* ---- sane outputs of the original configuration ---- */
    CHECK(run(&p, uni, r) == 0, "model runs on uniform routing");
    CHECK(r->latency_ms > 1 && r->latency_ms < 1000 && isfinite(r->latency_ms), "latency %.3f ms is finite and plausible", r->latency_ms);
    {   /* the clock: compute-bound (DRAM free), twice the clock halves the
         * latency; DRAM-bound (0.5 GB/s), it hardly moves it */
        em_sim_params q = p;
        q.dram_gbps = 1000; q.dram_latency_ns = 0; q.dram_activate_ns = 0; q.axi_bits = 1024;
        for (int i = 0; i < EM_SIM_NMASTERS; i++) { q.port[i].bits = 1024; q.port[i].clock_mhz = 1999; q.port[i].latency_ns = 0; q.port[i].efficiency = 1; }
        run(&q, uni, r2);
        double l1 = r2->latency_ms;
        q.clock_mhz *= 2;
        run(&q, uni, r2);
        CHECK(fabs(r2->latency_ms * 2 - l1) < 1e-6 * l1 && fabs(r2->fps * l1 - 2000) < 1e-6 * 2000,
              "compute-bound: twice the clock, half the latency (%.3f -> %.3f ms), twice the fps", l1, r2->latency_ms);
        q = p; q.dram_gbps = 0.5;
        run(&q, uni, r2);
        l1 = r2->latency_ms;
        q.clock_mhz *= 2;
        run(&q, uni, r2);
        CHECK(r2->latency_ms > 0.8 * l1 && r2->latency_ms <= l1,
              "DRAM-bound (0.5 GB/s): twice the clock saves little (%.2f -> %.2f ms)", l1, r2->latency_ms);
    }
    double sum = r->embed.cycles, sum_ops = 0, comp_ok = 1;
    for (int L = 0; L < C.depth; L++) sum += r->layer[L].total.cycles;
    for (int i = 0; i < EM_SIM_NOPS; i++) {
        sum_ops += r->op_total[i].cycles;
        if (r->op_total[i].cycles + 1e-9 < r->op_total[i].compute_cycles) comp_ok = 0;
    }
    CHECK(fabs(sum - r->cycles) < 1e-6 * r->cycles && fabs(sum_ops - r->cycles) < 1e-6 * r->cycles,
          "per-layer and per-op totals agree with the total (%.0f, %.0f, %.0f cycles)", sum, sum_ops, r->cycles);
    CHECK(comp_ok, "no op is faster than its compute alone");
    /* every weight read from DRAM exactly once per image (ideas 4 and 5,
     * docs/spec.md#34-idea-4-one-linear-unit and #35-idea-5-expert-queues):
     * dense MLPs, attention, LN, gates, pos_embed, and all 16 experts (uniform routing uses them all) */
    double wbytes = C.depth * ((3 * D * D + 3 * D) * 2 + (D * D + D) * 2 + 2 * 2 * D * 2) +
                    (C.depth - Lm) * ((H * D + H) * 2 + (D * H + D) * 2) +
                    Lm * (E * D * 2 + E * ((EH * D + EH) * 2 + (D * EH + D) * 2)) + N * D * 4;
    CHECK(fabs(r->bytes_weights - wbytes) < 0.5, "weights read once: %.0f bytes (expected %.0f)", r->bytes_weights, wbytes);
    CHECK(r->bytes_act > 12 * 4 * N * D * 4, "activations move through DRAM between ops (%.1f MB)", r->bytes_act / 1e6);

    /* ---- trip counts from the dataflow's closed forms ---- */
    double G = ceil(N / p.attn_p), rows = N + p.attn_p - 1;
    CHECK(r->trips[EM_SIM_OP_QK][HW_TRIP_KV] == (uint64_t)(C.depth * G * N * DB), "K blocks: %d layers x %.0f passes x N x D/8",
          C.depth, G);
    CHECK(r->trips[EM_SIM_OP_QK][HW_TRIP_ATTN_STEP] == (uint64_t)(C.depth * G * rows * DB), "QK^T steps: N + P - 1 rows a pass");
    CHECK(r->trips[EM_SIM_OP_QK][HW_TRIP_Q] == (uint64_t)(C.depth * N * DB), "every query loaded once");
    CHECK(r->trips[EM_SIM_OP_QKV][HW_TRIP_LIN_STEP] == (uint64_t)(C.depth * N * (3 * D / 16) * (D / 16)), "qkv tile steps");
    CHECK(r->trips[EM_SIM_OP_EXP1][HW_TRIP_LIN_STEP] == (uint64_t)(Lm * N * K * (EH / 16) * (D / 16)),
          "expert fc1 steps follow the N x k queued tokens");
    CHECK(r->trips[EM_SIM_OP_EMBED][HW_TRIP_EMBED] == (uint64_t)(C.img_c * C.img_h * (C.grid_w / 2) * DB),
          "patch-embed iterations: channel x row x patch pair x 8 dims");
    CHECK(r->trips[EM_SIM_OP_LN1][HW_TRIP_LN_ACC] == (uint64_t)(C.depth * N * DB), "LN accumulate: N x D/8 per LN");

    /* ---- monotonicity: attention parallelism ---- */
    static const int ps[] = {1, 2, 4, 8, 16};
    double prev_kv = 1e300, prev_av = 1e300, prev_attn_dsp = -1;
    int kv_ok = 1, av_ok = 1, dsp_ok = 1;
    for (int i = 0; i < 5; i++) {
        em_sim_params q = p;
        q.attn_p = ps[i];
        if (run(&q, uni, r2)) break;
        double kv = (double)r2->trips[EM_SIM_OP_QK][HW_TRIP_KV] + r2->trips[EM_SIM_OP_AV][HW_TRIP_KV];
        double av = r2->op_total[EM_SIM_OP_AV].cycles;
        printf("  P=%2d: K/V blocks %.0f, QK^T %.3f ms, A.V %.3f ms, attention DSP %.0f\n", ps[i], kv,
               r2->op_total[EM_SIM_OP_QK].cycles / 3e5, av / 3e5, r2->res.dsp_part[1]);
        if (!(kv < prev_kv)) kv_ok = 0;
        if (!(av < prev_av)) av_ok = 0;
        if (!(r2->res.dsp_part[1] > prev_attn_dsp)) dsp_ok = 0;
        prev_kv = kv; prev_av = av; prev_attn_dsp = r2->res.dsp_part[1];
    }
    CHECK(kv_ok, "more P -> fewer K/V blocks streamed (fewer passes)");
    CHECK(av_ok, "more P -> fewer A.V cycles");
    CHECK(dsp_ok, "more P -> more attention DSPs");

    /* ---- monotonicity: linear tile ---- */
    static const int tiles[][2] = {{8, 8}, {16, 16}, {16, 32}, {32, 32}};
    for (int buffered = 0; buffered < 2; buffered++) {
        double prev_c = 1e300, prev_d = -1;
        int c_ok = 1, d_ok = 1;
        for (int i = 0; i < 4; i++) {
            em_sim_params q = p;
            q.tile_in = tiles[i][0]; q.tile_out = tiles[i][1]; q.linear_input_buffered = buffered;
            if (run(&q, uni, r2)) break;
            double lc = lin_cycles(r2);
            printf("  tile %dx%d (%s input): linear %.3f ms, DSP %.0f, BRAM %.0f\n", q.tile_in, q.tile_out,
                   buffered ? "buffered" : "per-tile", lc / 3e5, r2->res.dsp, r2->res.bram18k);
            /* per-tile input: the 8-value input stream limits a tile wider
             * than 8 inputs, so widening the input side (16x32 -> 32x32)
             * cannot help; everything else must */
            if (!(lc < prev_c) && !(lc <= prev_c && !buffered && i == 3)) c_ok = 0;
            if (!(r2->res.dsp > prev_d)) d_ok = 0;
            prev_c = lc; prev_d = r2->res.dsp;
        }
        CHECK(c_ok, "larger tile -> fewer linear cycles (%s input)", buffered ? "buffered" : "per-tile");
        CHECK(d_ok, "larger tile -> more DSPs");
    }
    {   /* the input stream (8 values a beat) limits a wider-input tile when rows are re-read per tile */
        em_sim_params q = p;
        q.tile_in = 32;
        run(&q, uni, r2);
        run(&p, uni, r);
        CHECK(lin_cycles(r2) <= lin_cycles(r), "32x16 no slower than 16x16 (%.0f vs %.0f cycles)", lin_cycles(r2), lin_cycles(r));
    }

    /* ---- DRAM ---- */
    {
        em_sim_params q = p;
        run(&p, uni, r);
        q.dram_gbps = 0.5;
        run(&q, uni, r2);
        double bound = (r2->bytes_weights + r2->bytes_act) / 0.5e9 * 1e3;
        CHECK(r2->latency_ms >= bound * 0.999, "at 0.5 GB/s latency %.1f ms >= bytes / bandwidth %.1f ms", r2->latency_ms, bound);
        CHECK(r2->latency_ms > r->latency_ms, "slower DRAM -> higher latency");
        q = p; q.dram_gbps = 1000; q.dram_latency_ns = 0; q.dram_activate_ns = 0; q.axi_bits = 1024;
        for (int i = 0; i < EM_SIM_NMASTERS; i++) { q.port[i].bits = 1024; q.port[i].clock_mhz = 1999; q.port[i].latency_ns = 0; q.port[i].efficiency = 1; }
        run(&q, uni, r2);
        double comp = 0;
        for (int i = 0; i < EM_SIM_NOPS; i++) comp += r2->op_total[i].compute_cycles;
        CHECK(fabs(r2->cycles - comp) < 1e-6 * comp, "with free DRAM the latency is the compute alone");
        q = p; q.axi_bits = 128;
        run(&q, uni, r2);
        CHECK(r2->latency_ms > r->latency_ms, "128-bit AXI: an 8-value block takes 2 beats, slower (%.2f vs %.2f ms)",
              r2->latency_ms, r->latency_ms);
    }

    /* ---- MoE: unused experts cost nothing; every queue length works ---- */
    {
        const int ea[] = {0, 5}, eb[] = {3, 15}, full[] = {129, 129};
        int32_t *ra = routing_of(ea, full, 2), *rb = routing_of(eb, full, 2);
        run(&p, ra, r);
        run(&p, rb, r2);
        double ca = r->op_total[EM_SIM_OP_EXP1].cycles + r->op_total[EM_SIM_OP_EXP2].cycles;
        double cb = r2->op_total[EM_SIM_OP_EXP1].cycles + r2->op_total[EM_SIM_OP_EXP2].cycles;
        CHECK(ca == cb && r->bytes_weights == r2->bytes_weights, "which experts are used does not matter, only their queues");
        CHECK(r->layer[1].experts_used == 2, "all N tokens on each of two experts: 2 experts used");
        double one_expert = (EH * D + EH) * 2 + (D * EH + D) * 2;
        double ew = r->op_total[EM_SIM_OP_EXP1].bytes_w + r->op_total[EM_SIM_OP_EXP2].bytes_w;
        CHECK(fabs(ew - Lm * 2 * one_expert) < 0.5, "only the 2 used experts' weights are read (%.0f bytes)", ew);
        run(&p, uni, r2);
        double cu = r2->op_total[EM_SIM_OP_EXP1].cycles + r2->op_total[EM_SIM_OP_EXP2].cycles;
        CHECK(cu > ca, "16 experts cost more than 2 for the same tokens (%.0f vs %.0f cycles)", cu, ca);
        CHECK(r->moe.dense_cycles > r->moe.cycles && r->moe.dense_bytes > r->moe.bytes &&
              r->moe.noqueue_bytes > r->moe.bytes, "queues + sparsity save against every expert on every token and against no queues");
        free(ra); free(rb);
        /* queue lengths 0..N on one expert, the rest spread */
        int ok = 1;
        for (int len = 0; len <= C.n_tok; len += 16) {
            int32_t *rt = calloc((size_t)Lm * C.n_experts, sizeof *rt);
            for (int l = 0; l < Lm; l++) {
                int rest = C.n_tok * C.top_k - len;
                rt[l * C.n_experts + 7] = len;
                for (int s = 0; s < rest; s++) rt[l * C.n_experts + (s % 15 < 7 ? s % 15 : s % 15 + 1)]++;
            }
            if (run(&p, rt, r2) || !(r2->latency_ms > 0)) ok = 0;
            free(rt);
        }
        CHECK(ok, "queue lengths 0..N on one expert are all modelled");
        int32_t bad[64] = {0};
        bad[0] = 300;
        CHECK(em_sim_run(&p, &C, bad, r2, &err) == EM_EVALUE, "a queue longer than N is refused: %s", err.msg);
    }

    /* ---- resources ---- */
    run(&p, uni, r);
    CHECK(r->res.dsp > 500 && r->res.dsp <= p.dsp_budget, "original fits the DSP budget: %.0f of %d", r->res.dsp, p.dsp_budget);
    CHECK(r->res.bram18k > 100 && r->res.bram18k <= p.bram_budget, "original fits the BRAM budget: %.0f of %d", r->res.bram18k, p.bram_budget);
    CHECK(r->res.dsp_part[0] >= 16 * 16 * 2, "linear tile: 256 products of 32 x 16 bits, 2 DSP48E2 each");

    /* ---- reports ---- */
    {
        char *js = em_sim_json(&p, &C, r, "semseg", "test");
        cJSON *j = cJSON_Parse(js);
        CHECK(j != NULL, "JSON parses");
        const char *keys[] = {"latency_ms", "fps", "dram_bytes", "dsp", "bram18k", "layers"};
        int have = 1;
        for (int i = 0; i < 6; i++) have &= cJSON_GetObjectItem(j, keys[i]) != NULL;
        CHECK(have, "JSON has latency_ms, fps, dram_bytes, dsp, bram18k, layers");
        cJSON *layers = cJSON_GetObjectItem(j, "layers");
        CHECK(cJSON_GetArraySize(layers) == C.depth, "one entry per layer");
        cJSON *l1 = cJSON_GetArrayItem(layers, 1), *ops = cJSON_GetObjectItem(l1, "ops");
        CHECK(cJSON_GetObjectItem(ops, "expert1") && !cJSON_GetObjectItem(ops, "fc1"), "layer 1 is MoE: experts, no fc1");
        CHECK(fabs(cJSON_GetObjectItem(j, "latency_ms")->valuedouble - r->latency_ms) < 1e-9, "JSON latency matches");
        cJSON_Delete(j);
        free(js);
        char path[] = "/tmp/test_sim_XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        CHECK(em_sim_write_svg(path, &C, r, "t <&>", &err) == 0, "SVG written");
        size_t n = 0;
        FILE *f = fopen(path, "rb");
        char *s = calloc(1, 1 << 20);
        if (f) { n = fread(s, 1, (1 << 20) - 1, f); fclose(f); }
        int rects = 0;
        for (char *q = s; (q = strstr(q, "<rect")); q++) rects++;
        CHECK(n > 0 && strstr(s, "<svg") && strstr(s, "</svg>") && strstr(s, "latency (ms)") && strstr(s, "t &lt;&amp;&gt;"),
              "SVG: axes, labels, escaped title");
        /* background + bars (embed 1 + 12 layers x 10 or 11 ops) + legend */
        CHECK(rects > 1 + 12 * 10, "SVG: one rect per (layer, op) plus legend (%d rects)", rects);
        free(s);
        unlink(path);
    }

    /* ---- config file ---- */
    {
        char path[] = "/tmp/test_sim_cfg_XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs("{\"dram_latency_ns\": 100, \"loops\": {\"softmax\": {\"ii\": 6, \"depth\": 90}}}", f);
        fclose(f);
        em_sim_params q = p, pi = p;
        ideal(&pi);   /* compute-bound attention: the II shows */
        ideal(&q);
        CHECK(em_sim_params_load_json(&q, path, &err) == 0 && q.loop[EM_SIM_L_SOFTMAX].ii == 6 &&
              q.loop[EM_SIM_L_SOFTMAX].depth == 90 && q.dram_latency_ns == 100, "config file overrides loops and DRAM");
        run(&pi, uni, r);
        run(&q, uni, r2);
        CHECK(r2->op_total[EM_SIM_OP_QK].cycles > r->op_total[EM_SIM_OP_QK].cycles, "softmax II 6 slows QK^T (ideal ports)");
        f = fopen(path, "w");
        fputs("{\"dram_latency\": 100}", f);
        fclose(f);
        q = p;
        CHECK(em_sim_params_load_json(&q, path, &err) == EM_EFORMAT && strstr(err.msg, "dram_latency"),
              "unknown key refused: %s", err.msg);
        unlink(path);
    }

    /* ---- sweep ---- */
    {
        static em_sim_point pts[EM_SIM_SWEEP_MAX];
        int n = em_sim_sweep(&p, &C, uni, pts, EM_SIM_SWEEP_MAX, &err);
        CHECK(n == 180, "sweep: 5 P x 6 tiles x 3 clocks x 2 linear inputs = %d points", n);
        int orig = 0, par = 0, ok = 1;
        for (int i = 0; i < n; i++) {
            orig += pts[i].original;
            par += pts[i].pareto;
            if (pts[i].fits != (pts[i].dsp <= p.dsp_budget && pts[i].bram18k <= p.bram_budget && pts[i].uram <= p.uram_budget)) ok = 0;
            if (pts[i].pareto && !pts[i].fits) ok = 0;
            for (int j = 0; j < n && pts[i].pareto; j++)
                if (j != i && pts[j].fits && pts[j].latency_ms <= pts[i].latency_ms && pts[j].dsp <= pts[i].dsp &&
                    pts[j].bram18k <= pts[i].bram18k && pts[j].uram <= pts[i].uram &&
                    (pts[j].latency_ms < pts[i].latency_ms || pts[j].dsp < pts[i].dsp || pts[j].bram18k < pts[i].bram18k ||
                     pts[j].uram < pts[i].uram))
                    ok = 0;
        }
        CHECK(orig == 1, "the original configuration is in the sweep once");
        CHECK(par >= 1 && ok, "Pareto points fit and are not dominated (%d of them)", par);
    }
    free(uni); free(r); free(r2);
    TEST_MAIN_END();
}
