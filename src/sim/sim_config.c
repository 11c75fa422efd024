/* Board profiles (boards/NAME.json, --board) and --config overrides of edgemoe
 * sim: one JSON format.  A config file overrides em_sim_params by name, e.g.
 * {"dram_latency_ns": 200, "loops": {"softmax": {"ii": 2}}}; a board file
 * is the same format with the keys every board must give.  Keys may sit in
 * groups ("resources", "clock", "dram", "energy", ...) for reading; strings
 * under "description", "source", "note", "*_source" document the figures. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "util.h"
#include "sim/sim.h"

typedef struct { const char *name; int is_int; size_t off; } field;
#define FI(n) {#n, 1, offsetof(em_sim_params, n)}
#define FD(n) {#n, 0, offsetof(em_sim_params, n)}
static const field fields[] = {
    FD(clock_mhz), FI(attn_p), FI(tile_in), FI(tile_out), FI(axi_bits), FD(dram_gbps), FD(dram_efficiency),
    FD(dram_activate_ns), FD(port_gbps), FD(dram_latency_ns), FI(burst_beats), FI(outstanding), FI(ln_token_overlap),
    FI(linear_input_buffered), FI(embed_weights_resident), FD(dsp_mul_32x16), FD(dsp_mul_32x32), FD(dsp_mul_8x16),
    FD(dsp_exp), FD(dsp_recip), FD(dsp_sqrt), FD(dsp_gelu), FD(dsp_div), FI(gate_lanes), FI(lutram_max_depth),
    FI(dsp_budget), FI(bram_budget), FI(uram_budget), FI(lut_budget), FD(fmax_mhz), FD(static_w), FD(pj_dsp_op),
    FD(pj_bram_access), FD(pj_uram_access), FD(pj_dram_byte), FD(pj_fabric_cycle),
};
#define NFIELDS ((int)(sizeof fields / sizeof *fields))
/* groups a file may put keys in, for readability only */
static const char *const groups[] = {"resources", "clock", "architecture", "memory", "dram", "energy", "dataflow", "model"};
/* keys a board profile must give */
static const char *const board_required[] = {"dsp_budget", "bram_budget", "uram_budget", "clock_mhz", "fmax_mhz",
                                             "dram_gbps", "dram_efficiency", "dram_latency_ns", "dram_activate_ns",
                                             "static_w", "pj_dsp_op", "pj_bram_access", "pj_uram_access",
                                             "pj_dram_byte", "pj_fabric_cycle"};

typedef struct {
    const char *path;
    int set[NFIELDS];             /* which fields the file gave */
    int master_set[EM_SIM_NMASTERS];
    int board_set, part_set;
    em_sim_port ports[16];        /* "ports" as read, by name */
    int n_ports;
    char master_port[EM_SIM_NMASTERS][24];
} loader;

static int is_doc_key(const char *k)
{
    size_t n = strlen(k);
    return !strcmp(k, "description") || !strcmp(k, "source") || !strcmp(k, "sources") || !strcmp(k, "note") ||
           !strcmp(k, "notes") || !strcmp(k, "uncertainty") || (n > 7 && !strcmp(k + n - 7, "_source")) ||
           (n > 5 && !strcmp(k + n - 5, "_note"));
}

static int doc_ok(const cJSON *v)
{
    if (cJSON_IsString(v)) return 1;
    if (!cJSON_IsArray(v)) return 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) if (!cJSON_IsString(it)) return 0;
    return 1;
}

static int set_num(void *dst, int is_int, const cJSON *v, const char *name, const char *path, em_err *err)
{
    if (!cJSON_IsNumber(v)) return em_error(err, EM_EFORMAT, "%s: \"%s\" must be a number", path, name);
    double d = v->valuedouble;
    if (is_int) {
        if (!(d >= -2e9 && d <= 2e9) || d != (double)(int)d)
            return em_error(err, EM_EFORMAT, "%s: \"%s\" must be an integer (got %g)", path, name, d);
        *(int *)dst = (int)d;
    } else {
        *(double *)dst = d;
    }
    return EM_OK;
}

static int copy_str(char *dst, size_t cap, const cJSON *v, const char *name, const char *path, em_err *err)
{
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= cap)
        return em_error(err, EM_EFORMAT, "%s: \"%s\" must be a non-empty string of at most %zu characters", path, name,
                        cap - 1);
    snprintf(dst, cap, "%s", v->valuestring);
    return EM_OK;
}

static int load_loops(em_sim_params *p, const cJSON *it, const char *path, em_err *err)
{
    if (!cJSON_IsObject(it)) return em_error(err, EM_EFORMAT, "%s: \"loops\" must be an object", path);
    const cJSON *lp;
    cJSON_ArrayForEach(lp, it) {
        int id = -1;
        for (int i = 0; i < EM_SIM_NLOOPS; i++)
            if (!strcmp(lp->string, em_sim_loop_names[i])) id = i;
        if (id < 0) return em_error(err, EM_EFORMAT, "%s: unknown loop \"%s\"", path, lp->string);
        if (!cJSON_IsObject(lp)) return em_error(err, EM_EFORMAT, "%s: loop \"%s\" must be an object", path, lp->string);
        const cJSON *kv;
        cJSON_ArrayForEach(kv, lp) {
            int rc;
            if (!strcmp(kv->string, "ii")) rc = set_num(&p->loop[id].ii, 1, kv, "ii", path, err);
            else if (!strcmp(kv->string, "depth")) rc = set_num(&p->loop[id].depth, 1, kv, "depth", path, err);
            else rc = em_error(err, EM_EFORMAT, "%s: loop \"%s\": unknown key \"%s\" (ii, depth)", path, lp->string, kv->string);
            if (rc) return rc;
        }
    }
    return EM_OK;
}

/* "ports": {"HP0_FPD": {"bits": 128, "clock_mhz": 0, "efficiency": 0.9, "latency_ns": 200}, ...}:
 * all four keys required */
static int load_ports(loader *ld, const cJSON *it, em_err *err)
{
    if (!cJSON_IsObject(it)) return em_error(err, EM_EFORMAT, "%s: \"ports\" must be an object", ld->path);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, it) {
        if (is_doc_key(pt->string) && doc_ok(pt)) continue;
        if (!cJSON_IsObject(pt)) return em_error(err, EM_EFORMAT, "%s: port \"%s\" must be an object", ld->path, pt->string);
        if (ld->n_ports >= 16) return em_error(err, EM_EFORMAT, "%s: more than 16 ports", ld->path);
        em_sim_port q = {0};
        if (!pt->string[0] || strlen(pt->string) >= sizeof q.name)
            return em_error(err, EM_EFORMAT, "%s: port name \"%s\" empty or too long", ld->path, pt->string);
        snprintf(q.name, sizeof q.name, "%s", pt->string);
        int have = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, pt) {
            int rc = EM_OK;
            char nm[64];
            snprintf(nm, sizeof nm, "%s.%s", q.name, kv->string);
            if (!strcmp(kv->string, "bits")) { rc = set_num(&q.bits, 1, kv, nm, ld->path, err); have |= 1; }
            else if (!strcmp(kv->string, "clock_mhz")) { rc = set_num(&q.clock_mhz, 0, kv, nm, ld->path, err); have |= 2; }
            else if (!strcmp(kv->string, "efficiency")) { rc = set_num(&q.efficiency, 0, kv, nm, ld->path, err); have |= 4; }
            else if (!strcmp(kv->string, "latency_ns")) { rc = set_num(&q.latency_ns, 0, kv, nm, ld->path, err); have |= 8; }
            else if (is_doc_key(kv->string)) {
                if (!doc_ok(kv)) rc = em_error(err, EM_EFORMAT, "%s: \"%s\" must be a string", ld->path, nm);
            } else rc = em_error(err, EM_EFORMAT, "%s: port \"%s\": unknown key \"%s\" (bits, clock_mhz, efficiency, latency_ns)",
                                 ld->path, q.name, kv->string);
            if (rc) return rc;
        }
        static const char *const need[] = {"bits", "clock_mhz", "efficiency", "latency_ns"};
        for (int b = 0; b < 4; b++)
            if (!(have >> b & 1)) return em_error(err, EM_EFORMAT, "%s: port \"%s\": missing key \"%s\"", ld->path, q.name, need[b]);
        for (int i = 0; i < ld->n_ports; i++)
            if (!strcmp(ld->ports[i].name, q.name)) return em_error(err, EM_EFORMAT, "%s: port \"%s\" given twice", ld->path, q.name);
        ld->ports[ld->n_ports++] = q;
    }
    return EM_OK;
}

static int load_masters(loader *ld, const cJSON *it, em_err *err)
{
    if (!cJSON_IsObject(it)) return em_error(err, EM_EFORMAT, "%s: \"masters\" must be an object", ld->path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, it) {
        int id = -1;
        for (int i = 0; i < EM_SIM_NMASTERS; i++)
            if (!strcmp(kv->string, em_sim_master_names[i])) id = i;
        if (id < 0) {
            if (is_doc_key(kv->string) && doc_ok(kv)) continue;
            return em_error(err, EM_EFORMAT, "%s: unknown master \"%s\" (inout1..inout4, weights)", ld->path, kv->string);
        }
        int rc = copy_str(ld->master_port[id], sizeof ld->master_port[id], kv, kv->string, ld->path, err);
        if (rc) return rc;
        ld->master_set[id] = 1;
    }
    return EM_OK;
}

static int load_object(em_sim_params *p, loader *ld, const cJSON *j, int depth, em_err *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const char *k = it->string;
        int rc = EM_OK;
        if (!strcmp(k, "loops")) rc = load_loops(p, it, ld->path, err);
        else if (!strcmp(k, "ports")) rc = load_ports(ld, it, err);
        else if (!strcmp(k, "masters")) rc = load_masters(ld, it, err);
        else if (!strcmp(k, "board")) { rc = copy_str(p->board, sizeof p->board, it, k, ld->path, err); ld->board_set = 1; }
        else if (!strcmp(k, "part")) { rc = copy_str(p->part, sizeof p->part, it, k, ld->path, err); ld->part_set = 1; }
        else if (is_doc_key(k)) {
            if (!doc_ok(it)) rc = em_error(err, EM_EFORMAT, "%s: \"%s\" must be a string or an array of strings", ld->path, k);
        } else {
            int g = -1, f = -1;
            for (size_t i = 0; i < sizeof groups / sizeof *groups; i++)
                if (!strcmp(k, groups[i])) g = (int)i;
            for (int i = 0; i < NFIELDS; i++)
                if (!strcmp(k, fields[i].name)) f = i;
            if (g >= 0) {
                if (!cJSON_IsObject(it)) rc = em_error(err, EM_EFORMAT, "%s: \"%s\" must be an object", ld->path, k);
                else if (depth > 2) rc = em_error(err, EM_EFORMAT, "%s: \"%s\" nested too deep", ld->path, k);
                else rc = load_object(p, ld, it, depth + 1, err);
            } else if (f >= 0) {
                if (ld->set[f]) rc = em_error(err, EM_EFORMAT, "%s: \"%s\" given twice", ld->path, k);
                else rc = set_num((char *)p + fields[f].off, fields[f].is_int, it, k, ld->path, err);
                ld->set[f] = 1;
            } else rc = em_error(err, EM_EFORMAT, "%s: unknown key \"%s\"", ld->path, k);
        }
        if (rc) return rc;
    }
    return EM_OK;
}

/* masters -> ports: a master names one of "ports" (of this file) */
static int resolve_ports(em_sim_params *p, loader *ld, int board, em_err *err)
{
    em_sim_port orig[EM_SIM_NMASTERS];   /* the ports before this file */
    memcpy(orig, p->port, sizeof orig);
    for (int m = 0; m < EM_SIM_NMASTERS; m++) {
        if (!ld->master_set[m]) {
            if (board) return em_error(err, EM_EFORMAT, "%s: missing key \"masters.%s\"", ld->path, em_sim_master_names[m]);
            /* a config may redefine the port a master already uses */
            for (int i = 0; i < ld->n_ports; i++)
                if (!strcmp(ld->ports[i].name, orig[m].name)) p->port[m] = ld->ports[i];
            continue;
        }
        int found = -1;
        for (int i = 0; i < ld->n_ports; i++)
            if (!strcmp(ld->ports[i].name, ld->master_port[m])) found = i;
        if (found >= 0) { p->port[m] = ld->ports[found]; continue; }
        /* a config may move a master onto a port the board already has */
        int have = -1;
        for (int i = 0; i < EM_SIM_NMASTERS && !board; i++)
            if (!strcmp(orig[i].name, ld->master_port[m])) have = i;
        if (have < 0) return em_error(err, EM_EFORMAT, "%s: master %s names port \"%s\", which \"ports\" does not define",
                                      ld->path, em_sim_master_names[m], ld->master_port[m]);
        p->port[m] = orig[have];
    }
    for (int i = 0; i < ld->n_ports; i++) {   /* a port no master reaches is a typo */
        int used = 0;
        for (int m = 0; m < EM_SIM_NMASTERS; m++) used |= !strcmp(p->port[m].name, ld->ports[i].name);
        if (!used) return em_error(err, EM_EFORMAT, "%s: port \"%s\" is not used by any master", ld->path, ld->ports[i].name);
    }
    return EM_OK;
}

static int load_file(em_sim_params *p, const char *path, int board, em_err *err)
{
    FILE *f = em_fopen_input(path, board ? "board profile" : "sim config", err);
    if (!f) return EM_EIO;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return em_error(err, EM_EFORMAT, "%s: unreadable or larger than 1 MB", path);
    }
    buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return em_error(err, EM_ENOMEM, "out of memory"); }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    long nul = em_json_nul_escape(buf, got);
    if (nul >= 0) {
        free(buf);
        return em_error(err, EM_EFORMAT, "%s: escaped NUL character (\\u0000) at byte %ld", path, nul);
    }
    cJSON *j = cJSON_Parse(buf);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= buf && at <= buf + got ? (long)(at - buf) : -1;
        free(buf);
        return em_error(err, EM_EFORMAT, "%s: not valid JSON (at byte %ld)", path, off);
    }
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return em_error(err, EM_EFORMAT, "%s: not a JSON object", path);
    }
    loader *ld = calloc(1, sizeof *ld);
    if (!ld) { cJSON_Delete(j); return em_error(err, EM_ENOMEM, "out of memory"); }
    ld->path = path;
    int rc = load_object(p, ld, j, 0, err);
    cJSON_Delete(j);
    if (!rc) rc = resolve_ports(p, ld, board, err);
    if (!rc && board) {
        if (!ld->board_set) rc = em_error(err, EM_EFORMAT, "%s: missing key \"board\"", path);
        else if (!ld->part_set) rc = em_error(err, EM_EFORMAT, "%s: missing key \"part\"", path);
        for (size_t i = 0; !rc && i < sizeof board_required / sizeof *board_required; i++)
            for (int f2 = 0; f2 < NFIELDS; f2++)
                if (!strcmp(fields[f2].name, board_required[i]) && !ld->set[f2])
                    rc = em_error(err, EM_EFORMAT, "%s: missing key \"%s\"", path, board_required[i]);
    }
    free(ld);
    if (rc) return rc;
    rc = em_sim_params_check(p, err);
    if (rc) {   /* name the file: "sim: ..." -> "PATH: ..." */
        char msg[EM_ERR_LEN];
        snprintf(msg, sizeof msg, "%s", err->msg + (strncmp(err->msg, "sim: ", 5) ? 0 : 5));
        em_error(err, rc, "%s: %s", path, msg);
    }
    return rc;
}

int em_sim_params_load_json(em_sim_params *p, const char *path, em_err *err)
{
    return load_file(p, path, 0, err);
}

/* A board starts from the model's architecture defaults (P, tile, loops,
 * resource coefficients: properties of the accelerator, not the board);
 * everything the board decides must be in the file. */
int em_sim_board_load(em_sim_params *p, const char *path, em_err *err)
{
    em_sim_params q;
    em_sim_params_default(&q);
    q.board[0] = q.part[0] = 0;
    memset(q.port, 0, sizeof q.port);
    int rc = load_file(&q, path, 1, err);
    if (!rc) *p = q;
    return rc;
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

int em_sim_board_path(const char *name, const char *exe_dir, char *path, size_t cap, em_err *err)
{
    size_t n = strlen(name);
    if (!n) return em_error(err, EM_EARG, "--board: empty name");
    if (strchr(name, '/') || (n > 5 && !strcmp(name + n - 5, ".json"))) {
        if ((size_t)snprintf(path, cap, "%s", name) >= cap) return em_error(err, EM_EARG, "--board: path too long");
        if (!readable(path)) return em_error(err, EM_EIO, "%s: cannot open board profile", name);
        return EM_OK;
    }
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return em_error(err, EM_EARG, "--board: '%s' is neither a board name (letters, digits, - _) nor a .json path", name);
    char dirs[4][1024];
    int nd = 0;
    const char *env = getenv("EDGEMOE_BOARDS");
    if (env && env[0]) snprintf(dirs[nd++], sizeof dirs[0], "%s", env);
    if (exe_dir && exe_dir[0]) {
        snprintf(dirs[nd++], sizeof dirs[0], "%s/../boards", exe_dir);
        snprintf(dirs[nd++], sizeof dirs[0], "%s/../share/edgemoe/boards", exe_dir);
    }
#ifdef EM_BOARDS_DIR
    snprintf(dirs[nd++], sizeof dirs[0], "%s", EM_BOARDS_DIR);
#endif
    for (int i = 0; i < nd; i++) {
        if ((size_t)snprintf(path, cap, "%s/%s.json", dirs[i], name) >= cap) continue;
        if (readable(path)) return EM_OK;
    }
    return em_error(err, EM_EARG, "--board: no profile '%s.json' in $EDGEMOE_BOARDS, ../boards next to the executable or %s",
                    name,
#ifdef EM_BOARDS_DIR
                    EM_BOARDS_DIR
#else
                    "(no compiled-in folder)"
#endif
    );
}
