/* --config FILE of edgemoe sim: a JSON object overriding em_sim_params by
 * name, e.g. {"dram_latency_ns": 200, "loops": {"softmax": {"ii": 2}}}. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "engine/engine.h"
#include "sim/sim.h"

typedef struct { const char *name; int is_int; size_t off; } field;
#define FI(n) {#n, 1, offsetof(em_sim_params, n)}
#define FD(n) {#n, 0, offsetof(em_sim_params, n)}
static const field fields[] = {
    FD(clock_mhz), FI(attn_p), FI(tile_in), FI(tile_out), FI(axi_bits), FD(dram_gbps), FD(port_gbps),
    FD(dram_latency_ns), FI(burst_beats), FI(outstanding), FI(ln_token_overlap), FI(linear_input_buffered),
    FI(embed_weights_resident), FD(dsp_mul_32x16), FD(dsp_mul_32x32), FD(dsp_mul_8x16), FD(dsp_exp),
    FD(dsp_recip), FD(dsp_sqrt), FD(dsp_gelu), FD(dsp_div), FI(gate_lanes), FI(lutram_max_depth),
    FI(dsp_budget), FI(bram_budget), FD(fmax_mhz),
};

static int set_num(void *dst, int is_int, const cJSON *v, const char *name, const char *path, em_err *err)
{
    if (!cJSON_IsNumber(v)) return em_error(err, EM_EFORMAT, "%s: \"%s\" must be a number", path, name);
    double d = v->valuedouble;
    if (is_int) {
        if (d != (double)(int)d) return em_error(err, EM_EFORMAT, "%s: \"%s\" must be an integer (got %g)", path, name, d);
        *(int *)dst = (int)d;
    } else {
        *(double *)dst = d;
    }
    return EM_OK;
}

int em_sim_params_load_json(em_sim_params *p, const char *path, em_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return em_error(err, EM_EIO, "%s: cannot open sim config", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (1 << 20)) { fclose(f); return em_error(err, EM_EFORMAT, "%s: sim config too large", path); }
    char *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return em_error(err, EM_ENOMEM, "out of memory"); }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return em_error(err, EM_EFORMAT, "%s: not a JSON object", path);
    }
    int rc = EM_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if (!strcmp(it->string, "loops")) {
            if (!cJSON_IsObject(it)) { rc = em_error(err, EM_EFORMAT, "%s: \"loops\" must be an object", path); break; }
            const cJSON *lp;
            cJSON_ArrayForEach(lp, it) {
                int id = -1;
                for (int i = 0; i < EM_SIM_NLOOPS; i++)
                    if (!strcmp(lp->string, em_sim_loop_names[i])) id = i;
                if (id < 0) { rc = em_error(err, EM_EFORMAT, "%s: unknown loop \"%s\"", path, lp->string); break; }
                const cJSON *kv;
                cJSON_ArrayForEach(kv, lp) {
                    if (!strcmp(kv->string, "ii")) rc = set_num(&p->loop[id].ii, 1, kv, "ii", path, err);
                    else if (!strcmp(kv->string, "depth")) rc = set_num(&p->loop[id].depth, 1, kv, "depth", path, err);
                    else rc = em_error(err, EM_EFORMAT, "%s: loop \"%s\": unknown key \"%s\" (ii, depth)", path, lp->string, kv->string);
                    if (rc) break;
                }
                if (rc) break;
            }
            if (rc) break;
            continue;
        }
        const field *fd = NULL;
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
            if (!strcmp(it->string, fields[i].name)) fd = &fields[i];
        if (!fd) { rc = em_error(err, EM_EFORMAT, "%s: unknown key \"%s\"", path, it->string); break; }
        if ((rc = set_num((char *)p + fd->off, fd->is_int, it, fd->name, path, err))) break;
    }
    cJSON_Delete(j);
    if (rc) return rc;
    return em_sim_params_check(p, err);
}
