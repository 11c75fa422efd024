/* Reports of the performance model: text table, one JSON object, and the
 * per-layer stacked bar chart in SVG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "util.h"
#include "sim/sim.h"

static double ms_of(const em_sim_params *p, double cycles) { return cycles / (p->clock_mhz * 1e3); }

static const char *layer_kind(const em_sim_layer *l) { return l->moe ? "moe" : "dense"; }

/* the largest of an op's bound cycles */
static int main_bound(const em_sim_cost *o)
{
    int b = 0;
    for (int i = 1; i < EM_SIM_NBOUND; i++) if (o->bound[i] > o->bound[b]) b = i;
    return b;
}
static int main_port(const em_sim_cost *o)
{
    int b = 0;
    for (int i = 1; i < EM_SIM_NMASTERS; i++) if (o->port_bound[i] > o->port_bound[b]) b = i;
    return b;
}
static double port_gbps_of(const em_sim_params *p, const em_sim_port *q)
{
    double bw = q->bits / 8.0 * (q->clock_mhz > 0 ? q->clock_mhz : p->clock_mhz) * 1e-3 * q->efficiency;
    return p->port_gbps > 0 && p->port_gbps < bw ? p->port_gbps : bw;
}

void em_sim_print(FILE *f, const em_sim_params *p, const em_config *c, const em_sim_result *r)
{
    fprintf(f, "Edge-MoE performance model, board %s (%s): %.0f MHz, attn P = %d, linear tile %dx%d, input %s\n",
            p->board[0] ? p->board : "custom", p->part[0] ? p->part : "?", p->clock_mhz, p->attn_p, p->tile_in,
            p->tile_out, p->linear_input_buffered ? "kept on chip" : "re-read per output tile");
    fprintf(f, "memory: %d-bit kernel masters -> PS ports -> DDR %.1f GB/s peak x %.2f = %.1f GB/s sustained, %.1f ns per scattered segment\n",
            p->axi_bits, p->dram_gbps, p->dram_efficiency, p->dram_gbps * p->dram_efficiency, p->dram_activate_ns);
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        const em_sim_port *q = &p->port[i];
        fprintf(f, "  %-8s -> %-9s %4d bit x %3.0f MHz x %.2f = %5.2f GB/s each way, %3.0f ns\n", em_sim_master_names[i], q->name,
                q->bits, q->clock_mhz > 0 ? q->clock_mhz : p->clock_mhz, q->efficiency, port_gbps_of(p, q),
                q->latency_ns > 0 ? q->latency_ns : p->dram_latency_ns);
    }
    fprintf(f, "\nper layer (the ms of each op follow the layer's total)\n");
    fprintf(f, "%-6s %-5s %12s %9s  %s\n", "layer", "kind", "cycles", "ms", "largest ops");
    fprintf(f, "%-6s %-5s %12.0f %9.4f\n", "embed", "", r->embed.cycles, ms_of(p, r->embed.cycles));
    for (int L = 0; L < r->n_layers; L++) {
        const em_sim_layer *l = &r->layer[L];
        fprintf(f, "%-6d %-5s %12.0f %9.4f ", L, layer_kind(l), l->total.cycles, ms_of(p, l->total.cycles));
        for (int i = 1; i < EM_SIM_NOPS; i++)
            if (l->op[i].cycles > 0) fprintf(f, " %s %.3f", em_sim_op_names[i], ms_of(p, l->op[i].cycles));
        if (l->moe) fprintf(f, "  [%d experts]", l->experts_used);
        fputc('\n', f);
    }
    fprintf(f, "\nper op, all layers (bound: what set the pace for most of its time)\n%-8s %12s %9s %6s %12s %10s %8s  %s\n",
            "op", "cycles", "ms", "%", "compute", "weights MB", "act MB", "bound");
    for (int i = 0; i < EM_SIM_NOPS; i++) {
        const em_sim_cost *o = &r->op_total[i];
        if (o->cycles <= 0) continue;
        int b = main_bound(o);
        char bs[64];
        if (b == EM_SIM_B_PORT) {
            int m = main_port(o);
            snprintf(bs, sizeof bs, "port %s (%s) %.0f%%", p->port[m].name, em_sim_master_names[m], 100 * o->bound[b] / o->cycles);
        } else snprintf(bs, sizeof bs, "%s %.0f%%", em_sim_bound_names[b], 100 * o->bound[b] / o->cycles);
        fprintf(f, "%-8s %12.0f %9.4f %6.1f %12.0f %10.3f %8.3f  %s\n", em_sim_op_names[i], o->cycles, ms_of(p, o->cycles),
                100.0 * o->cycles / r->cycles, o->compute_cycles, o->bytes_w / 1e6, o->bytes_act / 1e6, bs);
    }
    const em_sim_cost *a = &r->all;
    fprintf(f, "\nlatency %.3f ms (%.0f cycles), %.1f FPS (one image, one task)\n", r->latency_ms, r->cycles, r->fps);
    fprintf(f, "time by bound: compute %.3f ms, port %.3f ms, ddr %.3f ms, latency %.3f ms; compute alone %.3f ms\n",
            ms_of(p, a->bound[EM_SIM_B_COMPUTE]), ms_of(p, a->bound[EM_SIM_B_PORT]), ms_of(p, a->bound[EM_SIM_B_DDR]),
            ms_of(p, a->bound[EM_SIM_B_LATENCY]), ms_of(p, a->compute_cycles));
    fprintf(f, "port-bound phases: %.0f of %.0f", a->port_bound_phases, a->phases);
    for (int i = 0; i < EM_SIM_NMASTERS; i++)
        if (a->port_bound[i] > 0) fprintf(f, "; %s (%s) %.3f ms", p->port[i].name, em_sim_master_names[i], ms_of(p, a->port_bound[i]));
    fputc('\n', f);
    fprintf(f, "DRAM per image: %.2f MB weights + %.2f MB activations = %.2f MB; per master read/write MB:", r->bytes_weights / 1e6,
            r->bytes_act / 1e6, (r->bytes_weights + r->bytes_act) / 1e6);
    for (int i = 0; i < EM_SIM_NMASTERS; i++)
        fprintf(f, " %s %.1f/%.1f", em_sim_master_names[i], a->bytes_rd[i] / 1e6, a->bytes_wr[i] / 1e6);
    fputc('\n', f);
    const em_sim_moe *m = &r->moe;
    fprintf(f, "MoE blocks (gate + experts): %.3f ms, %.2f MB\n", ms_of(p, m->cycles), m->bytes / 1e6);
    fprintf(f, "  every expert on every token: %.3f ms, %.2f MB  (queues + task-level sparsity save %.3f ms, %.2f MB)\n",
            ms_of(p, m->dense_cycles), m->dense_bytes / 1e6, ms_of(p, m->dense_cycles - m->cycles),
            (m->dense_bytes - m->bytes) / 1e6);
    fprintf(f, "  top-%d without queues (each token loads its experts): %.3f ms, %.2f MB  (queues save %.3f ms, %.2f MB)\n",
            c->top_k, ms_of(p, m->noqueue_cycles), m->noqueue_bytes / 1e6, ms_of(p, m->noqueue_cycles - m->cycles),
            (m->noqueue_bytes - m->bytes) / 1e6);
    const em_sim_energy *e = &r->energy;
    fprintf(f, "\nenergy per image (ESTIMATE, coefficients in docs/sim.md): %.1f mJ = %.2f images/J, %.2f W average\n",
            e->total_j * 1e3, e->images_per_j, e->avg_w);
    fprintf(f, "  static %.1f mJ (%.2f W x latency), DSP %.1f mJ (%.3g ops), BRAM/URAM %.1f mJ (%.3g accesses), "
               "DRAM %.1f mJ (%.1f MB), fabric %.1f mJ (%.0f cycles)\n",
            e->static_j * 1e3, p->static_w, e->dsp_j * 1e3, e->dsp_ops, e->bram_j * 1e3, e->bram_accesses + e->uram_accesses,
            e->dram_j * 1e3, e->dram_bytes / 1e6, e->fabric_j * 1e3, e->fabric_cycles);
    fprintf(f, "\nresources (budget of %s: %d DSP, %d BRAM18K, %d URAM)\n%-12s %8s %8s %6s\n", p->board[0] ? p->board : "the board",
            p->dsp_budget, p->bram_budget, p->uram_budget, "unit", "DSP", "BRAM18K", "URAM");
    for (int i = 0; i < r->res.n_parts; i++)
        fprintf(f, "%-12s %8.0f %8.0f %6.0f\n", r->res.part_name[i], r->res.dsp_part[i], r->res.bram_part[i], r->res.uram_part[i]);
    fprintf(f, "%-12s %8.0f %8.0f %6.0f  (%.0f%% DSP, %.0f%% BRAM)%s\n", "total", r->res.dsp, r->res.bram18k, r->res.uram,
            100.0 * r->res.dsp / p->dsp_budget, p->bram_budget ? 100.0 * r->res.bram18k / p->bram_budget : 0,
            em_sim_fits(p, &r->res) ? "" : "  DOES NOT FIT");
}

static cJSON *cost_json(const em_sim_params *p, const em_sim_cost *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "cycles", o->cycles);
    cJSON_AddNumberToObject(j, "ms", ms_of(p, o->cycles));
    cJSON_AddNumberToObject(j, "compute_cycles", o->compute_cycles);
    cJSON_AddNumberToObject(j, "dram_bytes_weights", o->bytes_w);
    cJSON_AddNumberToObject(j, "dram_bytes_act", o->bytes_act);
    cJSON_AddStringToObject(j, "bound", em_sim_bound_names[main_bound(o)]);
    cJSON *b = cJSON_AddObjectToObject(j, "bound_ms");
    for (int i = 0; i < EM_SIM_NBOUND; i++) cJSON_AddNumberToObject(b, em_sim_bound_names[i], ms_of(p, o->bound[i]));
    cJSON_AddNumberToObject(j, "port_bound_phases", o->port_bound_phases);
    return j;
}

char *em_sim_json(const em_sim_params *p, const em_config *c, const em_sim_result *r, const char *task,
                  const char *routing_engine)
{
    cJSON *j = cJSON_CreateObject();
    if (task) cJSON_AddStringToObject(j, "task", task);
    if (routing_engine) cJSON_AddStringToObject(j, "routing_engine", routing_engine);
    cJSON_AddStringToObject(j, "board", p->board[0] ? p->board : "custom");
    cJSON_AddStringToObject(j, "part", p->part);
    cJSON *cfg = cJSON_AddObjectToObject(j, "config");
    cJSON_AddNumberToObject(cfg, "clock_mhz", p->clock_mhz);
    cJSON_AddNumberToObject(cfg, "attn_p", p->attn_p);
    char tile[32];
    snprintf(tile, sizeof tile, "%dx%d", p->tile_in, p->tile_out);
    cJSON_AddStringToObject(cfg, "tile", tile);
    cJSON_AddNumberToObject(cfg, "axi_bits", p->axi_bits);
    cJSON_AddNumberToObject(cfg, "dram_gbps", p->dram_gbps);
    cJSON_AddNumberToObject(cfg, "dram_latency_ns", p->dram_latency_ns);
    cJSON_AddNumberToObject(cfg, "dram_efficiency", p->dram_efficiency);
    cJSON_AddBoolToObject(cfg, "linear_input_buffered", p->linear_input_buffered);
    cJSON *ms = cJSON_AddObjectToObject(cfg, "masters");
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        const em_sim_port *q = &p->port[i];
        cJSON *o = cJSON_AddObjectToObject(ms, em_sim_master_names[i]);
        cJSON_AddStringToObject(o, "port", q->name);
        cJSON_AddNumberToObject(o, "bits", q->bits);
        cJSON_AddNumberToObject(o, "clock_mhz", q->clock_mhz > 0 ? q->clock_mhz : p->clock_mhz);
        cJSON_AddNumberToObject(o, "gbps", port_gbps_of(p, q));
        cJSON_AddNumberToObject(o, "read_bytes", r->all.bytes_rd[i]);
        cJSON_AddNumberToObject(o, "write_bytes", r->all.bytes_wr[i]);
        cJSON_AddNumberToObject(o, "port_bound_ms", ms_of(p, r->all.port_bound[i]));
    }
    cJSON_AddNumberToObject(j, "latency_ms", r->latency_ms);
    cJSON_AddNumberToObject(j, "fps", r->fps);
    cJSON_AddNumberToObject(j, "cycles", r->cycles);
    cJSON_AddNumberToObject(j, "compute_cycles", r->all.compute_cycles);
    cJSON *bd = cJSON_AddObjectToObject(j, "bound_ms");
    for (int i = 0; i < EM_SIM_NBOUND; i++) cJSON_AddNumberToObject(bd, em_sim_bound_names[i], ms_of(p, r->all.bound[i]));
    cJSON_AddNumberToObject(j, "phases", r->all.phases);
    cJSON_AddNumberToObject(j, "port_bound_phases", r->all.port_bound_phases);
    cJSON *db = cJSON_AddObjectToObject(j, "dram_bytes");
    cJSON_AddNumberToObject(db, "weights", r->bytes_weights);
    cJSON_AddNumberToObject(db, "activations", r->bytes_act);
    cJSON_AddNumberToObject(db, "total", r->bytes_weights + r->bytes_act);
    cJSON_AddNumberToObject(j, "dsp", r->res.dsp);
    cJSON_AddNumberToObject(j, "bram18k", r->res.bram18k);
    cJSON_AddNumberToObject(j, "dsp_budget", p->dsp_budget);
    cJSON_AddNumberToObject(j, "bram18k_budget", p->bram_budget);
    cJSON_AddNumberToObject(j, "uram", r->res.uram);
    cJSON_AddNumberToObject(j, "uram_budget", p->uram_budget);
    cJSON_AddBoolToObject(j, "fits", em_sim_fits(p, &r->res));
    const em_sim_energy *e = &r->energy;
    cJSON *en = cJSON_AddObjectToObject(j, "energy");
    cJSON_AddStringToObject(en, "note", "estimate: coefficients and their sources in docs/sim.md");
    cJSON_AddNumberToObject(en, "joules_per_image", e->total_j);
    cJSON_AddNumberToObject(en, "images_per_joule", e->images_per_j);
    cJSON_AddNumberToObject(en, "average_w", e->avg_w);
    cJSON *ep = cJSON_AddObjectToObject(en, "parts_j");
    cJSON_AddNumberToObject(ep, "static", e->static_j);
    cJSON_AddNumberToObject(ep, "dsp", e->dsp_j);
    cJSON_AddNumberToObject(ep, "bram", e->bram_j);
    cJSON_AddNumberToObject(ep, "dram", e->dram_j);
    cJSON_AddNumberToObject(ep, "fabric", e->fabric_j);
    cJSON *ea = cJSON_AddObjectToObject(en, "activity");
    cJSON_AddNumberToObject(ea, "dsp_ops", e->dsp_ops);
    cJSON_AddNumberToObject(ea, "bram_accesses", e->bram_accesses);
    cJSON_AddNumberToObject(ea, "uram_accesses", e->uram_accesses);
    cJSON_AddNumberToObject(ea, "dram_bytes", e->dram_bytes);
    cJSON_AddNumberToObject(ea, "fabric_cycles", e->fabric_cycles);
    cJSON *res = cJSON_AddObjectToObject(j, "resources");
    for (int i = 0; i < r->res.n_parts; i++) {
        cJSON *u = cJSON_AddObjectToObject(res, r->res.part_name[i]);
        cJSON_AddNumberToObject(u, "dsp", r->res.dsp_part[i]);
        cJSON_AddNumberToObject(u, "bram18k", r->res.bram_part[i]);
        cJSON_AddNumberToObject(u, "uram", r->res.uram_part[i]);
    }
    cJSON_AddItemToObject(j, "embed", cost_json(p, &r->embed));
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int L = 0; L < r->n_layers; L++) {
        const em_sim_layer *l = &r->layer[L];
        cJSON *o = cost_json(p, &l->total);
        cJSON_AddNumberToObject(o, "layer", L);
        cJSON_AddStringToObject(o, "kind", layer_kind(l));
        if (l->moe) cJSON_AddNumberToObject(o, "experts_used", l->experts_used);
        cJSON *ops = cJSON_AddObjectToObject(o, "ops");
        for (int i = 1; i < EM_SIM_NOPS; i++)
            if (l->op[i].cycles > 0) cJSON_AddItemToObject(ops, em_sim_op_names[i], cost_json(p, &l->op[i]));
        cJSON_AddItemToArray(layers, o);
    }
    cJSON *ops = cJSON_AddObjectToObject(j, "ops");
    for (int i = 0; i < EM_SIM_NOPS; i++)
        if (r->op_total[i].cycles > 0) cJSON_AddItemToObject(ops, em_sim_op_names[i], cost_json(p, &r->op_total[i]));
    cJSON *m = cJSON_AddObjectToObject(j, "moe");
    cJSON_AddNumberToObject(m, "ms", ms_of(p, r->moe.cycles));
    cJSON_AddNumberToObject(m, "dram_bytes", r->moe.bytes);
    cJSON_AddNumberToObject(m, "all_experts_all_tokens_ms", ms_of(p, r->moe.dense_cycles));
    cJSON_AddNumberToObject(m, "all_experts_all_tokens_dram_bytes", r->moe.dense_bytes);
    cJSON_AddNumberToObject(m, "no_queues_ms", ms_of(p, r->moe.noqueue_cycles));
    cJSON_AddNumberToObject(m, "no_queues_dram_bytes", r->moe.noqueue_bytes);
    cJSON_AddNumberToObject(m, "saved_ms", ms_of(p, r->moe.dense_cycles - r->moe.cycles));
    cJSON_AddNumberToObject(m, "saved_dram_bytes", r->moe.dense_bytes - r->moe.bytes);
    cJSON_AddNumberToObject(m, "queues_saved_ms", ms_of(p, r->moe.noqueue_cycles - r->moe.cycles));
    cJSON_AddNumberToObject(m, "queues_saved_dram_bytes", r->moe.noqueue_bytes - r->moe.bytes);
    (void)c;
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- SVG: one stacked bar per layer (and the patch embed), one colour per op ---- */

static const char *const op_colour[EM_SIM_NOPS] = {
    "#7f7f7f", "#aec7e8", "#1f77b4", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a",
    "#c5b0d5", "#9467bd", "#8c564b", "#e377c2", "#d62728", "#ff9896", "#bcbd22"};

int em_sim_write_svg(const char *path, const em_config *c, const em_sim_result *r, const char *title, em_err *err)
{
    (void)c;
    char tmp[4200];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) return EM_EIO;
    const int nb = r->n_layers + 1;
    const double W = 860, Hh = 480, ml = 70, mr = 150, mt = 40, mb = 60;
    const double pw = W - ml - mr, ph = Hh - mt - mb;
    double clk_khz = r->latency_ms > 0 ? r->cycles / r->latency_ms : 1;   /* cycles per ms */
    double vmax = r->embed.cycles;
    for (int L = 0; L < r->n_layers; L++) if (r->layer[L].total.cycles > vmax) vmax = r->layer[L].total.cycles;
    vmax /= clk_khz;
    /* axis: a round step in ms */
    if (!(vmax > 0)) vmax = 1;
    double step = pow(10, floor(log10(vmax / 5)));
    if (vmax / step > 10) step *= 2;
    if (vmax / step > 10) step *= 2.5;
    double top = step * ceil(vmax / step);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, Hh, W, Hh);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", ml + pw / 2);
    for (const char *s = title ? title : ""; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
    fprintf(f, "</text>\n");
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = mt + ph - v / top * ph;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ml, y, ml + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ml - 6, y + 4, v);
    }
    fprintf(f, "<text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\" text-anchor=\"middle\">latency (ms)</text>\n",
            mt + ph / 2, mt + ph / 2);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">block (E = patch embed; odd blocks are MoE)</text>\n",
            ml + pw / 2, Hh - 15);
    double bw = pw / nb;
    for (int b = 0; b < nb; b++) {
        double x = ml + b * bw + bw * 0.15, y = mt + ph;
        const em_sim_cost *ops = b == 0 ? &r->embed : r->layer[b - 1].op;
        int nops = b == 0 ? 1 : EM_SIM_NOPS;
        for (int i = 0; i < nops; i++) {
            int op = b == 0 ? EM_SIM_OP_EMBED : i;
            double v = ops[i].cycles / clk_khz;
            if (v <= 0) continue;
            double h = v / top * ph;
            y -= h;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\"><title>%s %s: %.4f ms</title></rect>\n",
                    x, y, bw * 0.7, h, op_colour[op], b == 0 ? "embed" : "block", em_sim_op_names[op], v);
        }
        if (b == 0) fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">E</text>\n", x + bw * 0.35, mt + ph + 16);
        else fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x + bw * 0.35, mt + ph + 16, b - 1);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", ml, mt, ml, mt + ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", ml, mt + ph, ml + pw, mt + ph);
    double ly = mt;
    for (int i = EM_SIM_NOPS - 1; i >= 0; i--) {
        if (r->op_total[i].cycles <= 0) continue;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", ml + pw + 20, ly, op_colour[i]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", ml + pw + 38, ly + 10, em_sim_op_names[i]);
        ly += 18;
    }
    fprintf(f, "</svg>\n");
    return em_tmp_commit(f, tmp, path, err);
}

/* ---- Chrome trace-event JSON (Perfetto, chrome://tracing) ---- */

/* Times are whole nanoseconds from the cycle counter, printed as
 * microseconds with three decimals: a parent's end and its last child's end
 * are the same number, so the spans nest exactly. */
static long long ns_of(const em_sim_params *p, double cycles) { return llround(cycles * 1e3 / p->clock_mhz); }

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void span(FILE *f, const em_sim_params *p, const char *name, const char *cat, long long t0, long long t1,
                 const em_sim_cost *o, int *first)
{
    fprintf(f, "%s\n{\"name\":", *first ? "" : ",");
    *first = 0;
    json_str(f, name);
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":%lld.%03lld,\"dur\":%lld.%03lld", cat, t0 / 1000,
            t0 % 1000, (t1 - t0) / 1000, (t1 - t0) % 1000);
    if (o) {
        int b = main_bound(o);
        fprintf(f, ",\"args\":{\"bound\":\"%s\"", em_sim_bound_names[b]);
        if (b == EM_SIM_B_PORT) fprintf(f, ",\"port\":\"%s\"", p->port[main_port(o)].name);
        fprintf(f, ",\"ms\":%.6f,\"compute_ms\":%.6f", ms_of(p, o->cycles), ms_of(p, o->compute_cycles));
        for (int i = 0; i < EM_SIM_NBOUND; i++) fprintf(f, ",\"%s_bound_ms\":%.6f", em_sim_bound_names[i], ms_of(p, o->bound[i]));
        fprintf(f, ",\"port_bound_phases\":%.0f,\"phases\":%.0f", o->port_bound_phases, o->phases);
        for (int i = 0; i < EM_SIM_NMASTERS; i++)
            fprintf(f, ",\"%s_%s_read_bytes\":%.0f,\"%s_%s_write_bytes\":%.0f", em_sim_master_names[i], p->port[i].name,
                    o->bytes_rd[i], em_sim_master_names[i], p->port[i].name, o->bytes_wr[i]);
        fputc('}', f);
    }
    fputc('}', f);
}

/* bandwidth per master (GB/s, read and write) over [t0, t1); zero when idle */
static void counters(FILE *f, const em_sim_params *p, long long t0, long long t1, const em_sim_cost *o)
{
    const double s = (t1 - t0) * 1e-9;
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        fprintf(f, ",\n{\"name\":\"%s -> %s GB/s\",\"ph\":\"C\",\"pid\":1,\"ts\":%lld.%03lld,\"args\":{\"read\":%.4f,\"write\":%.4f}}",
                em_sim_master_names[i], p->port[i].name, t0 / 1000, t0 % 1000,
                o && s > 0 ? o->bytes_rd[i] / s * 1e-9 : 0.0, o && s > 0 ? o->bytes_wr[i] / s * 1e-9 : 0.0);
    }
}

int em_sim_write_trace(const char *path, const em_sim_params *p, const em_config *c, const em_sim_result *r,
                       const char *task, em_err *err)
{
    (void)c;
    char tmp[4200];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) return EM_EIO;
    char title[200];
    snprintf(title, sizeof title, "Edge-MoE model, board %s, task %s: %.3f ms (P=%d, tile %dx%d, %.0f MHz)",
             p->board[0] ? p->board : "custom", task ? task : "?", r->latency_ms, p->attn_p, p->tile_in, p->tile_out,
             p->clock_mhz);
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"board\":");
    json_str(f, p->board[0] ? p->board : "custom");
    fprintf(f, ",\"latency_ms\":%.6f,\"note\":\"modelled, not measured (edgemoe sim, docs/sim.md)\"},\"traceEvents\":[", r->latency_ms);
    int first;
    fprintf(f, "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":");
    json_str(f, title);
    fprintf(f, "}},\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"backbone\"}}");
    first = 0;
    /* the end of the image, summed in the order of the loop below (same bits) */
    double t = r->embed.cycles;
    for (int L = 0; L < r->n_layers; L++)
        for (int i = 1; i < EM_SIM_NOPS; i++) t += r->layer[L].op[i].cycles;
    long long img1 = ns_of(p, t);
    span(f, p, "image", "image", 0, img1, &r->all, &first);
    long long e1 = ns_of(p, r->embed.cycles);
    span(f, p, "embed", em_sim_bound_names[main_bound(&r->embed)], 0, e1, &r->embed, &first);
    counters(f, p, 0, e1, &r->embed);
    t = r->embed.cycles;
    for (int L = 0; L < r->n_layers; L++) {
        const em_sim_layer *l = &r->layer[L];
        const double l0 = t;
        double tl = t;
        for (int i = 1; i < EM_SIM_NOPS; i++) tl += l->op[i].cycles;
        char name[64];
        snprintf(name, sizeof name, "layer %d (%s)", L, layer_kind(l));
        span(f, p, name, "layer", ns_of(p, l0), ns_of(p, tl), &l->total, &first);
        for (int i = 1; i < EM_SIM_NOPS; i++) {
            const em_sim_cost *o = &l->op[i];
            if (o->cycles <= 0) continue;
            long long a = ns_of(p, t), b;
            t += o->cycles;
            b = ns_of(p, t);
            span(f, p, em_sim_op_names[i], em_sim_bound_names[main_bound(o)], a, b, o, &first);
            counters(f, p, a, b, o);
        }
        t = tl;   /* the same sum as the ops' (same order): no drift */
    }
    counters(f, p, ns_of(p, t), ns_of(p, t), NULL);
    fprintf(f, "\n]}\n");
    return em_tmp_commit(f, tmp, path, err);
}
