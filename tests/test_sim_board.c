/* Board profiles and what the model does with them (docs/sim.md): the four
 * profiles load and the default equals boards/zcu102.json; bad profiles give
 * one clear error; the ZCU102 as built is slower than the ideal profile
 * because of its 128-bit PS ports (port-bound phases, bytes / port
 * bandwidth); ports shared by masters and a slow DDR controller show up as
 * such; sweep points fit their board; the trace is valid JSON whose spans
 * nest and add up to the latency; the energy parts add up. */
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
static char boards[1024];

static int32_t *routing_uniform(void)
{
    int32_t *r = calloc((size_t)Lm * C.n_experts, sizeof *r);
    for (int l = 0; l < Lm; l++)
        for (int s = 0; s < C.n_tok * C.top_k; s++) r[l * C.n_experts + s % C.n_experts]++;
    return r;
}

static int load_board(const char *name, em_sim_params *p)
{
    char path[1200];
    em_err err;
    snprintf(path, sizeof path, "%s/%s.json", boards, name);
    int rc = em_sim_board_load(p, path, &err);
    if (rc) printf("  %s: %s\n", name, err.msg);
    return rc;
}

/* writes text to a temporary file, loads it as a board, returns the code and the message */
static int board_text(const char *text, em_err *err)
{
    char path[] = "/tmp/test_sim_board_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    em_sim_params p;
    int rc = em_sim_board_load(&p, path, err);
    unlink(path);
    return rc;
}

/* a complete valid profile with one substitution: key -> replacement text */
static const char *good_profile =
    "{\"board\": \"t\", \"part\": \"xczu9eg\", \"resources\": {\"dsp_budget\": 2520, \"bram_budget\": 1824, \"uram_budget\": 0},"
    " \"clock\": {\"clock_mhz\": 300, \"fmax_mhz\": 275},"
    " \"memory\": {\"ports\": {\"A\": {\"bits\": 128, \"clock_mhz\": 0, \"efficiency\": 0.9, \"latency_ns\": 200}},"
    "   \"masters\": {\"inout1\": \"A\", \"inout2\": \"A\", \"inout3\": \"A\", \"inout4\": \"A\", \"weights\": \"A\"},"
    "   \"dram\": {\"dram_gbps\": 19.2, \"dram_efficiency\": 0.75, \"dram_activate_ns\": 7.5, \"dram_latency_ns\": 200}},"
    " \"energy\": {\"static_w\": 3.5, \"pj_dsp_op\": 2.5, \"pj_bram_access\": 5, \"pj_uram_access\": 15, \"pj_dram_byte\": 150,"
    " \"pj_fabric_cycle\": 5000, \"source\": \"test\"}}";

static int bad_case(const char *what, const char *from, const char *to, const char *expect)
{
    char text[4096];
    const char *at = strstr(good_profile, from);
    if (!at) { printf("  no '%s' in the profile\n", from); return 0; }
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good_profile), good_profile, to, at + strlen(from));
    em_err err = {{0}};
    int rc = board_text(text, &err);
    int ok = rc != 0 && strstr(err.msg, expect) && !strchr(err.msg, '\n');
    CHECK(ok, "%s: refused with one line naming it: %s", what, err.msg);
    return ok;
}

static double lat_of(const em_sim_params *p, const int32_t *rt, em_sim_result *r)
{
    em_err err;
    if (em_sim_run(p, &C, rt, r, &err)) { printf("  em_sim_run: %s\n", err.msg); return -1; }
    return r->latency_ms;
}

/* the ts / dur of an X event in microseconds */
static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void)
{
    em_config_default(&C);
    Lm = em_n_moe_layers(&C);
    /* the boards folder: tests run from the repository root; else next to this file */
    snprintf(boards, sizeof boards, "boards");
    if (access("boards/zcu102.json", R_OK) != 0) {
        const char *f = __FILE__, *slash = strrchr(f, '/');
        snprintf(boards, sizeof boards, "%.*s/../boards", slash ? (int)(slash - f) : 1, slash ? f : ".");
    }
    em_sim_params def, z, zi, z4, kv;
    em_sim_params_default(&def);
    em_err err;
    em_sim_result *r = malloc(sizeof *r), *r2 = malloc(sizeof *r2);
    int32_t *uni = routing_uniform();

    /* ---- the profiles load; the default is the ZCU102 as built ---- */
    CHECK(load_board("zcu102", &z) == 0, "boards/zcu102.json loads");
    CHECK(load_board("zcu102-ideal-256", &zi) == 0, "boards/zcu102-ideal-256.json loads");
    CHECK(load_board("zcu104", &z4) == 0, "boards/zcu104.json loads");
    CHECK(load_board("kv260", &kv) == 0, "boards/kv260.json loads");
    CHECK(memcmp(&z, &def, sizeof z) == 0, "em_sim_params_default is exactly boards/zcu102.json");
    CHECK(!strcmp(z.port[EM_SIM_M_INOUT2].name, "HP0_FPD") && !strcmp(z.port[EM_SIM_M_INOUT3].name, "HP1_FPD") &&
          !strcmp(z.port[EM_SIM_M_INOUT4].name, "HP2_FPD") && !strcmp(z.port[EM_SIM_M_WEIGHTS].name, "HPC0_FPD") &&
          !strcmp(z.port[EM_SIM_M_INOUT1].name, "HPC1_FPD") && z.port[0].bits == 128 && z.clock_mhz == 300 &&
          !strcmp(z.part, "xczu9eg-ffvb1156-2-e"),
          "zcu102: the vivado.tcl port assignment, 128-bit ports, 300 MHz, xczu9eg-ffvb1156-2-e");
    CHECK(z4.dsp_budget < z.dsp_budget && kv.dsp_budget < z4.dsp_budget && kv.bram_budget < z4.bram_budget &&
          kv.uram_budget > 0, "zcu104 and kv260 have fewer DSPs and BRAMs, and URAM");

    /* ---- bad profiles: one clear line ---- */
    {
        em_sim_params p;
        CHECK(em_sim_board_load(&p, "/nonexistent/b.json", &err) == EM_EIO && strstr(err.msg, "/nonexistent/b.json"),
              "missing file: %s", err.msg);
        CHECK(board_text("{\"board\": ", &err) == EM_EFORMAT && strstr(err.msg, "not valid JSON"), "bad JSON: %s", err.msg);
        CHECK(board_text("[1, 2]", &err) == EM_EFORMAT, "an array is not a profile: %s", err.msg);
        CHECK(board_text(good_profile, &err) == 0, "the test's complete profile loads%s%s", err.msg[0] ? ": " : "", err.msg);
        bad_case("missing DSP budget", "\"dsp_budget\": 2520, ", "", "missing key \"dsp_budget\"");
        bad_case("missing energy coefficient", "\"pj_dram_byte\": 150,", "", "missing key \"pj_dram_byte\"");
        bad_case("missing master", "\"weights\": \"A\"", "\"notes\": \"x\"", "masters.weights");
        bad_case("missing board name", "\"board\": \"t\", ", "", "missing key \"board\"");
        bad_case("master on an undefined port", "\"inout3\": \"A\"", "\"inout3\": \"B\"", "\"B\"");
        bad_case("port without latency", ", \"latency_ns\": 200}", "}", "missing key \"latency_ns\"");
        bad_case("unknown key", "\"fmax_mhz\": 275", "\"fmax_mhz\": 275, \"fmax\": 3", "unknown key \"fmax\"");
        bad_case("negative DSP budget", "\"dsp_budget\": 2520", "\"dsp_budget\": -5", "budgets");
        bad_case("clock 0 MHz", "\"clock_mhz\": 300", "\"clock_mhz\": 0", "clock");
        bad_case("port 100 bits", "\"bits\": 128", "\"bits\": 100", "bits 100");
        bad_case("efficiency 1.5", "\"efficiency\": 0.9", "\"efficiency\": 1.5", "efficiency");
        bad_case("DDR efficiency 0", "\"dram_efficiency\": 0.75", "\"dram_efficiency\": 0", "dram_efficiency");
        bad_case("a string for a number", "\"static_w\": 3.5", "\"static_w\": \"3.5\"", "\"static_w\" must be a number");
        bad_case("fractional budget", "\"bram_budget\": 1824", "\"bram_budget\": 18.5", "integer");
        bad_case("a port no master uses", "\"A\": {\"bits\"", "\"Z\": {\"bits\": 64, \"clock_mhz\": 0, \"efficiency\": 1, \"latency_ns\": 1}, \"A\": {\"bits\"",
                 "\"Z\" is not used");
        bad_case("key given twice", "\"fmax_mhz\": 275", "\"fmax_mhz\": 275, \"clock_mhz\": 250", "twice");
    }

    /* ---- as built vs ideal: the 128-bit PS ports ---- */
    {
        double lz = lat_of(&z, uni, r), li = lat_of(&zi, uni, r2);
        printf("  uniform routing: zcu102 as built %.3f ms, ideal %.3f ms; port-bound %.3f ms in %.0f of %.0f phases\n", lz, li,
               r->all.bound[EM_SIM_B_PORT] / 3e5, r->all.port_bound_phases, r->all.phases);
        CHECK(lz > 1.3 * li, "zcu102 as built is much slower than the 256-bit ideal (%.2f vs %.2f ms)", lz, li);
        CHECK(fabs(r->all.compute_cycles - r2->all.compute_cycles) < 1e-6 * r2->all.compute_cycles,
              "same loops on both: the compute alone is equal (%.0f cycles)", r->all.compute_cycles);
        CHECK(r->all.port_bound_phases > r2->all.port_bound_phases && r->all.bound[EM_SIM_B_PORT] > r2->all.bound[EM_SIM_B_PORT],
              "the difference is reported as port-bound phases (%.0f vs %.0f)", r->all.port_bound_phases, r2->all.port_bound_phases);
        /* every cycle added over the ideal sits in phases a port, the DDR or the latency set */
        double mem_z = r->cycles - r->all.bound[EM_SIM_B_COMPUTE];
        CHECK(r->cycles - r2->cycles <= mem_z + 1, "the extra %.0f cycles lie in memory-bound phases (%.0f cycles)",
              r->cycles - r2->cycles, mem_z);
        CHECK(r->all.bound[EM_SIM_B_PORT] > 0.8 * mem_z, "on zcu102 the ports, not the DDR controller, bound (%.0f of %.0f)",
              r->all.bound[EM_SIM_B_PORT], mem_z);
        /* qkv re-reads its input (tmp1, inout1 -> HPC1) once per output tile:
         * its time is those bytes over one 128-bit port */
        const em_sim_cost *q = &r->op_total[EM_SIM_OP_QKV];
        double bw = 128 / 8.0 * 300e6 * 0.9;
        double t_port = q->bytes_rd[EM_SIM_M_INOUT1] / bw * 300e6;
        CHECK(q->port_bound[EM_SIM_M_INOUT1] > 0.9 * q->cycles, "qkv is bound by inout1's port HPC1_FPD");
        CHECK(q->cycles >= t_port && q->cycles < 1.1 * t_port, "qkv takes its inout1 bytes / (16 B x 300 MHz x 0.9): %.0f vs %.0f cycles",
              q->cycles, t_port);
        /* the same reads with the input kept on chip stop being port-bound */
        em_sim_params b = z;
        b.linear_input_buffered = 1;
        double lb = lat_of(&b, uni, r2);
        CHECK(lb < 0.8 * lz && r2->op_total[EM_SIM_OP_QKV].bytes_rd[EM_SIM_M_INOUT1] < q->bytes_rd[EM_SIM_M_INOUT1] / 10,
              "keeping a token's input on chip removes the re-reads: %.2f ms", lb);
    }

    /* ---- contention: a shared port, a slow DDR controller, reads || writes ---- */
    {
        em_sim_params s = z;
        for (int i = 0; i < EM_SIM_NMASTERS; i++) snprintf(s.port[i].name, sizeof s.port[i].name, "HP0_FPD");
        double ls = lat_of(&s, uni, r2), lz = lat_of(&z, uni, r);
        CHECK(ls > lz, "five masters on one PS port are slower than on five (%.2f vs %.2f ms)", ls, lz);
        /* AV reads scores and writes its output on inout1: separate channels */
        const em_sim_cost *av = &r->op_total[EM_SIM_OP_AV];
        CHECK(av->bytes_rd[EM_SIM_M_INOUT1] > 0 && av->bytes_wr[EM_SIM_M_INOUT1] > 0, "A.V reads and writes inout1");
        em_sim_params d = zi;
        d.dram_gbps = 2;
        double ld = lat_of(&d, uni, r2);
        double bound = (r2->bytes_weights + r2->bytes_act) / 2e9 * 1e3;
        CHECK(r2->all.bound[EM_SIM_B_DDR] > 0.9 * r2->cycles && ld >= bound, "a 2 GB/s DDR is the bound (%.1f ms >= %.1f ms of bytes)", ld, bound);
        d = z;
        d.dram_activate_ns = 1000;
        CHECK(lat_of(&d, uni, r2) > lz, "a costlier row activation slows the scattered traffic");
    }

    /* ---- sweep: points fit their board ---- */
    {
        static em_sim_point pts[EM_SIM_SWEEP_MAX];
        const em_sim_params *bs[] = {&z, &zi, &z4, &kv};
        const char *names[] = {"zcu102", "zcu102-ideal-256", "zcu104", "kv260"};
        for (int b = 0; b < 4; b++) {
            int n = em_sim_sweep(bs[b], &C, uni, pts, EM_SIM_SWEEP_MAX, &err);
            int ok = n > 0, fits = 0, best = -1, orig_fits = -1, buffered = 0;
            for (int i = 0; i < n; i++) {
                em_sim_params q = *bs[b];
                q.attn_p = pts[i].attn_p; q.tile_in = pts[i].tile_in; q.tile_out = pts[i].tile_out;
                q.clock_mhz = pts[i].clock_mhz; q.linear_input_buffered = pts[i].input_buffered;
                em_sim_res res;
                em_sim_resources(&q, &C, &res);
                int f = res.dsp <= q.dsp_budget && res.bram18k <= q.bram_budget && res.uram <= q.uram_budget;
                if (f != pts[i].fits || res.dsp != pts[i].dsp || (pts[i].pareto && !pts[i].fits)) ok = 0;
                fits += pts[i].fits;
                buffered += pts[i].input_buffered && pts[i].fits;
                if (pts[i].fits && (best < 0 || pts[i].latency_ms < pts[best].latency_ms)) best = i;
                if (pts[i].original) orig_fits = pts[i].fits;
            }
            CHECK(ok && fits > 0, "%s: %d of %d points fit, flags match its budgets, Pareto points fit", names[b], fits, n);
            CHECK(buffered > 0, "%s: the sweep includes fitting points that keep the input on chip", names[b]);
            if (best >= 0)
                printf("  %s fastest that fits: P=%d %dx%d %.0f MHz input %s: %.3f ms, %.0f DSP, %.0f BRAM18K, %.0f URAM\n", names[b],
                       pts[best].attn_p, pts[best].tile_in, pts[best].tile_out, pts[best].clock_mhz,
                       pts[best].input_buffered ? "on chip" : "re-read", pts[best].latency_ms, pts[best].dsp, pts[best].bram18k,
                       pts[best].uram);
            if (b == 3) CHECK(orig_fits == 0, "the original does not fit the KV260");
            if (b == 0) CHECK(orig_fits == 1, "the original fits the ZCU102");
        }
    }

    /* ---- energy: the parts add up ---- */
    {
        lat_of(&z, uni, r);
        const em_sim_energy *e = &r->energy;
        double sum = e->static_j + e->dsp_j + e->bram_j + e->dram_j + e->fabric_j;
        CHECK(e->total_j > 0 && fabs(sum - e->total_j) < 1e-12 * e->total_j, "energy parts add up to %.1f mJ", e->total_j * 1e3);
        CHECK(fabs(e->images_per_j * e->total_j - 1) < 1e-12 && fabs(e->avg_w * r->latency_ms * 1e-3 - e->total_j) < 1e-12,
              "images/J = 1 / J, average W = J / latency");
        CHECK(fabs(e->static_j - z.static_w * r->latency_ms * 1e-3) < 1e-12, "static = %.2f W x latency", z.static_w);
        CHECK(fabs(e->dram_j - (r->bytes_weights + r->bytes_act) * z.pj_dram_byte * 1e-12) < 1e-12, "DRAM = bytes x pJ/byte");
        CHECK(fabs(e->fabric_j - r->cycles * z.pj_fabric_cycle * 1e-12) < 1e-12, "fabric = cycles x pJ/cycle");
        double mac = 0;
        for (int op = 0; op < EM_SIM_NOPS; op++) mac += (double)r->trips[op][HW_TRIP_LIN_STEP] * 16 * 16 * 2;
        CHECK(e->dsp_ops >= mac, "DSP ops include the linear unit's 256 MACs x 2 DSPs per step");
        em_sim_params q = z;
        q.pj_dram_byte *= 2;
        lat_of(&q, uni, r2);
        CHECK(fabs(r2->energy.dram_j - 2 * e->dram_j) < 1e-12 && fabs(r2->energy.total_j - e->total_j - e->dram_j) < 1e-12,
              "doubling pJ/byte doubles the DRAM part only");
        q = z;
        q.static_w = q.pj_dsp_op = q.pj_bram_access = q.pj_uram_access = q.pj_dram_byte = q.pj_fabric_cycle = 0;
        lat_of(&q, uni, r2);
        CHECK(r2->energy.total_j == 0 && r2->latency_ms == r->latency_ms, "zero coefficients: zero energy, same latency");
        lat_of(&zi, uni, r2);
        CHECK(r2->energy.total_j < e->total_j, "the faster ideal board spends less static energy per image");
    }

    /* ---- trace: valid JSON, spans nest and add up to the latency ---- */
    {
        lat_of(&z, uni, r);
        char path[] = "/tmp/test_sim_trace_XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        CHECK(em_sim_write_trace(path, &z, &C, r, "semseg", &err) == 0, "trace written");
        FILE *f = fopen(path, "rb");
        char *s = calloc(1, 8 << 20);
        size_t n = f ? fread(s, 1, (8 << 20) - 1, f) : 0;
        if (f) fclose(f);
        unlink(path);
        cJSON *j = cJSON_Parse(s);
        cJSON *ev = cJSON_GetObjectItem(j, "traceEvents");
        CHECK(n > 0 && j && cJSON_IsArray(ev), "trace is a JSON object with traceEvents (%zu bytes)", n);
        double img_ts = NAN, img_end = NAN, top = 0, lay_s = 0, lay_e = 0;
        int n_layer = 0, n_op = 0, nest = 1, bound = 1, counters = 0, ops_in_layer = 1;
        double op_sum = 0, lay_sum = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, ev) {
            const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(e, "ph"));
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
            const char *cat = cJSON_GetStringValue(cJSON_GetObjectItem(e, "cat"));
            if (!ph || !name) { nest = 0; continue; }
            if (!strcmp(ph, "C")) { counters++; continue; }
            if (strcmp(ph, "X")) continue;
            double ts = num(e, "ts"), dur = num(e, "dur");
            if (!(dur >= 0)) nest = 0;
            if (!strcmp(cat, "image")) { img_ts = ts; img_end = ts + dur; continue; }
            const cJSON *args = cJSON_GetObjectItem(e, "args");
            if (!cJSON_GetStringValue(cJSON_GetObjectItem(args, "bound"))) bound = 0;
            if (!strcmp(cat, "layer")) {
                if (n_layer > 0 && fabs(op_sum - lay_sum) > 2e-3) ops_in_layer = 0;   /* previous layer: ops fill it */
                n_layer++; lay_s = ts; lay_e = ts + dur; top += dur; lay_sum = dur; op_sum = 0;
            } else if (!strcmp(name, "embed")) {
                top += dur;
            } else {
                n_op++;
                op_sum += dur;
                if (ts < lay_s - 1e-9 || ts + dur > lay_e + 1e-6) nest = 0;   /* inside its layer */
            }
            if (!(ts >= img_ts - 1e-9 && ts + dur <= img_end + 1e-6)) nest = 0;  /* inside the image */
        }
        if (fabs(op_sum - lay_sum) > 2e-3) ops_in_layer = 0;
        CHECK(n_layer == C.depth && n_op >= C.depth * 10, "a span per layer (%d) and per op (%d)", n_layer, n_op);
        CHECK(nest, "ops lie inside their layer, layers inside the image span");
        CHECK(ops_in_layer, "a layer's ops fill it exactly (to 2 ns)");
        CHECK(fabs(top / 1e3 - r->latency_ms) < 1e-4 && fabs((img_end - img_ts) / 1e3 - r->latency_ms) < 1e-5,
              "embed + layers = image span = latency: %.4f ms vs %.4f ms", top / 1e3, r->latency_ms);
        CHECK(bound, "every span says what bound it");
        CHECK(counters >= EM_SIM_NMASTERS * n_op, "bandwidth counters per port and op (%d)", counters);
        cJSON_Delete(j);
        free(s);
    }

    /* ---- board lookup ---- */
    {
        char path[2048];
        setenv("EDGEMOE_BOARDS", boards, 1);
        CHECK(em_sim_board_path("kv260", NULL, path, sizeof path, &err) == 0 && strstr(path, "kv260.json"),
              "a name is found in $EDGEMOE_BOARDS: %s", path);
        CHECK(em_sim_board_path("nope", NULL, path, sizeof path, &err) != 0 && strstr(err.msg, "nope"), "unknown name: %s", err.msg);
        CHECK(em_sim_board_path("../etc", NULL, path, sizeof path, &err) != 0, "a name with a slash is a path: %s", err.msg);
        CHECK(em_sim_board_path("a b", NULL, path, sizeof path, &err) != 0 && strstr(err.msg, "a b"), "a name with a space is refused");
        unsetenv("EDGEMOE_BOARDS");
    }
    free(uni); free(r); free(r2);
    TEST_MAIN_END();
}
