/* Reports of the performance model: text table, one JSON object, and the
 * per-layer stacked bar chart in SVG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "engine/engine.h"
#include "sim/sim.h"

static double ms_of(const em_sim_params *p, double cycles) { return cycles / (p->clock_mhz * 1e3); }

static const char *layer_kind(const em_sim_layer *l) { return l->moe ? "moe" : "dense"; }

void em_sim_print(FILE *f, const em_sim_params *p, const em_config *c, const em_sim_result *r)
{
    fprintf(f, "Edge-MoE performance model: %.0f MHz, attn P = %d, linear tile %dx%d, AXI %d bit x %d ports, "
               "DRAM %.1f GB/s, %.0f ns/burst\n",
            p->clock_mhz, p->attn_p, p->tile_in, p->tile_out, p->axi_bits, EM_SIM_NPORTS, p->dram_gbps,
            p->dram_latency_ns);
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
    fprintf(f, "\nper op, all layers\n%-8s %12s %9s %6s %12s %12s %8s\n", "op", "cycles", "ms", "%", "compute", "weights MB",
            "act MB");
    for (int i = 0; i < EM_SIM_NOPS; i++) {
        const em_sim_cost *o = &r->op_total[i];
        if (o->cycles <= 0) continue;
        fprintf(f, "%-8s %12.0f %9.4f %6.1f %12.0f %12.3f %8.3f%s\n", em_sim_op_names[i], o->cycles, ms_of(p, o->cycles),
                100.0 * o->cycles / r->cycles, o->compute_cycles, o->bytes_w / 1e6, o->bytes_act / 1e6,
                o->cycles > o->compute_cycles * 1.05 ? "  (DRAM-bound)" : "");
    }
    fprintf(f, "\nlatency %.3f ms (%.0f cycles), %.1f FPS (one image, one task)\n", r->latency_ms, r->cycles, r->fps);
    fprintf(f, "DRAM per image: %.2f MB weights + %.2f MB activations = %.2f MB\n", r->bytes_weights / 1e6,
            r->bytes_act / 1e6, (r->bytes_weights + r->bytes_act) / 1e6);
    const em_sim_moe *m = &r->moe;
    fprintf(f, "MoE blocks (gate + experts): %.3f ms, %.2f MB\n", ms_of(p, m->cycles), m->bytes / 1e6);
    fprintf(f, "  every expert on every token: %.3f ms, %.2f MB  (queues + task-level sparsity save %.3f ms, %.2f MB)\n",
            ms_of(p, m->dense_cycles), m->dense_bytes / 1e6, ms_of(p, m->dense_cycles - m->cycles),
            (m->dense_bytes - m->bytes) / 1e6);
    fprintf(f, "  top-%d without queues (each token loads its experts): %.3f ms, %.2f MB  (queues save %.3f ms, %.2f MB)\n",
            c->top_k, ms_of(p, m->noqueue_cycles), m->noqueue_bytes / 1e6, ms_of(p, m->noqueue_cycles - m->cycles),
            (m->noqueue_bytes - m->bytes) / 1e6);
    fprintf(f, "\nresources (ZCU102 budget %d DSP, %d BRAM18K)\n%-12s %8s %8s\n", p->dsp_budget, p->bram_budget, "unit", "DSP",
            "BRAM18K");
    for (int i = 0; i < r->res.n_parts; i++)
        fprintf(f, "%-12s %8.0f %8.0f\n", r->res.part_name[i], r->res.dsp_part[i], r->res.bram_part[i]);
    fprintf(f, "%-12s %8.0f %8.0f  (%.0f%% DSP, %.0f%% BRAM)%s\n", "total", r->res.dsp, r->res.bram18k,
            100.0 * r->res.dsp / p->dsp_budget, 100.0 * r->res.bram18k / p->bram_budget,
            r->res.dsp <= p->dsp_budget && r->res.bram18k <= p->bram_budget ? "" : "  DOES NOT FIT");
}

static cJSON *cost_json(const em_sim_params *p, const em_sim_cost *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "cycles", o->cycles);
    cJSON_AddNumberToObject(j, "ms", ms_of(p, o->cycles));
    cJSON_AddNumberToObject(j, "compute_cycles", o->compute_cycles);
    cJSON_AddNumberToObject(j, "dram_bytes_weights", o->bytes_w);
    cJSON_AddNumberToObject(j, "dram_bytes_act", o->bytes_act);
    return j;
}

char *em_sim_json(const em_sim_params *p, const em_config *c, const em_sim_result *r, const char *task,
                  const char *routing_engine)
{
    cJSON *j = cJSON_CreateObject();
    if (task) cJSON_AddStringToObject(j, "task", task);
    if (routing_engine) cJSON_AddStringToObject(j, "routing_engine", routing_engine);
    cJSON *cfg = cJSON_AddObjectToObject(j, "config");
    cJSON_AddNumberToObject(cfg, "clock_mhz", p->clock_mhz);
    cJSON_AddNumberToObject(cfg, "attn_p", p->attn_p);
    char tile[32];
    snprintf(tile, sizeof tile, "%dx%d", p->tile_in, p->tile_out);
    cJSON_AddStringToObject(cfg, "tile", tile);
    cJSON_AddNumberToObject(cfg, "axi_bits", p->axi_bits);
    cJSON_AddNumberToObject(cfg, "dram_gbps", p->dram_gbps);
    cJSON_AddNumberToObject(cfg, "dram_latency_ns", p->dram_latency_ns);
    cJSON_AddNumberToObject(j, "latency_ms", r->latency_ms);
    cJSON_AddNumberToObject(j, "fps", r->fps);
    cJSON_AddNumberToObject(j, "cycles", r->cycles);
    cJSON *db = cJSON_AddObjectToObject(j, "dram_bytes");
    cJSON_AddNumberToObject(db, "weights", r->bytes_weights);
    cJSON_AddNumberToObject(db, "activations", r->bytes_act);
    cJSON_AddNumberToObject(db, "total", r->bytes_weights + r->bytes_act);
    cJSON_AddNumberToObject(j, "dsp", r->res.dsp);
    cJSON_AddNumberToObject(j, "bram18k", r->res.bram18k);
    cJSON_AddNumberToObject(j, "dsp_budget", p->dsp_budget);
    cJSON_AddNumberToObject(j, "bram18k_budget", p->bram_budget);
    cJSON_AddBoolToObject(j, "fits", r->res.dsp <= p->dsp_budget && r->res.bram18k <= p->bram_budget);
    cJSON *res = cJSON_AddObjectToObject(j, "resources");
    for (int i = 0; i < r->res.n_parts; i++) {
        cJSON *u = cJSON_AddObjectToObject(res, r->res.part_name[i]);
        cJSON_AddNumberToObject(u, "dsp", r->res.dsp_part[i]);
        cJSON_AddNumberToObject(u, "bram18k", r->res.bram_part[i]);
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
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return em_error(err, EM_EIO, "%s: cannot create (%s)", path, strerror(errno));
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
    int bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return em_error(err, EM_EIO, "%s: write failed (%s)", path, strerror(errno));
    }
    return EM_OK;
}
