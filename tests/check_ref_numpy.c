/* check_ref_numpy MODEL_DIR IMAGE DUMP TASK
 *
 * Runs the C reference engine (EM_ENGINE_REF) on IMAGE for one TASK (name or
 * index) and compares every stage it traces with the record of the same name
 * in DUMP, written by the independent numpy reference tests/ref/m3vit_ref.py:
 * shapes must match and values within 1e-4 of the record's largest magnitude.
 * Routing (em_task_output) must be identical, slot by slot.  Every record of
 * the dump must have been traced.  Driven by tests/ref_numpy_test.sh.
 *
 * Dump: records of  uint32 name_len, name, uint32 ndim, uint32 shape[ndim],
 * float32 data  (little-endian). */
#include "edgemoe.h"
#include "test_util.h"
#include <stdint.h>
#include <sys/time.h>

#define REL_TOL 1e-4
#define MAX_DIMS 8

typedef struct {
    char name[64];
    int ndim;
    int shape[MAX_DIMS];
    size_t n;
    float *data;
    int seen;
} record;

typedef struct {
    record *r;
    int n;
} dump;

typedef struct {
    dump *d;
    int task;
    const char *task_name;
    int first_moe;  /* blocks below it (and "embed") are task independent */
    int n_traced;
} trace_ctx;

static double now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1e3 + tv.tv_usec * 1e-3;
}

static int rd_u32(FILE *f, uint32_t *v) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static void dump_free(dump *d) {
    for (int i = 0; i < d->n; i++) free(d->r[i].data);
    free(d->r);
    memset(d, 0, sizeof *d);
}

/* Returns 0 on success; prints what is wrong otherwise. */
static int dump_load(const char *path, dump *d) {
    FILE *f = fopen(path, "rb");
    memset(d, 0, sizeof *d);
    if (!f) { printf("cannot open dump %s\n", path); return -1; }
    int cap = 0;
    for (;;) {
        uint32_t len;
        if (!rd_u32(f, &len)) break; /* clean end of file */
        if (d->n == cap) {
            cap = cap ? 2 * cap : 32;
            record *nr = realloc(d->r, (size_t)cap * sizeof *nr);
            if (!nr) goto bad;
            d->r = nr;
        }
        record *r = &d->r[d->n];
        memset(r, 0, sizeof *r);
        uint32_t nd;
        if (len == 0 || len >= sizeof r->name || fread(r->name, 1, len, f) != len) goto bad;
        r->name[len] = 0;
        if (!rd_u32(f, &nd) || nd == 0 || nd > MAX_DIMS) goto bad;
        r->ndim = (int)nd;
        r->n = 1;
        for (int i = 0; i < r->ndim; i++) {
            uint32_t s;
            if (!rd_u32(f, &s) || s == 0 || s > (1u << 24)) goto bad;
            r->shape[i] = (int)s;
            r->n *= s;
        }
        if (r->n > ((size_t)1 << 28)) goto bad;
        r->data = malloc(r->n * sizeof(float));
        if (!r->data || fread(r->data, sizeof(float), r->n, f) != r->n) { free(r->data); goto bad; }
        /* Host is little-endian (x86/arm64); the dump is little-endian float32. */
        d->n++;
    }
    fclose(f);
    return d->n > 0 ? 0 : (printf("dump %s is empty\n", path), -1);
bad:
    printf("dump %s: malformed or truncated at record %d\n", path, d->n);
    fclose(f);
    dump_free(d);
    return -1;
}

static record *dump_find(dump *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->r[i].name, name)) return &d->r[i];
    return NULL;
}

static void shape_str(char *buf, size_t len, int ndim, const int *shape) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "[%d]", shape[i]);
}

/* Records compared against em_task_output rather than traced. */
static int is_output_record(const char *name) {
    return !strcmp(name, "routing") || !strcmp(name, "gate_prob") || !strcmp(name, "gate_all");
}

static int task_independent(const trace_ctx *c, const char *stage) {
    int L;
    char tail;
    if (!strcmp(stage, "embed")) return 1;
    if (sscanf(stage, "block%d%c", &L, &tail) == 1) return L < c->first_moe;
    return 0;
}

static void on_trace(void *user, int task, const char *stage, const float *data,
                     int ndim, const int *shape) {
    trace_ctx *c = user;
    c->n_traced++;
    char label[128];
    snprintf(label, sizeof label, "%s %s", c->task_name, stage);
    if (task != c->task && !task_independent(c, stage)) {
        CHECK(0, "%s: traced with task %d while only task %d runs", label, task, c->task);
        return;
    }
    record *r = dump_find(c->d, stage);
    if (!r || is_output_record(stage)) {
        printf("note: stage %s traced, no reference record (not compared)\n", stage);
        return;
    }
    r->seen++;
    char gs[96], ws[96];
    shape_str(gs, sizeof gs, ndim, shape);
    shape_str(ws, sizeof ws, r->ndim, r->shape);
    int same = ndim == r->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == r->shape[i];
    if (!same) {
        CHECK(0, "%s: shape %s, numpy reference %s", label, gs, ws);
        return;
    }
    if (!data) { CHECK(0, "%s: traced with NULL data", label); return; }
    check_tensor(label, data, r->data, r->n, REL_TOL);
}

/* Dump record with an expected shape; prints FAIL and returns NULL otherwise. */
static record *want_record(dump *d, const char *name, int ndim, const int *shape) {
    record *r = dump_find(d, name);
    if (!r) { CHECK(0, "dump has no record %s", name); return NULL; }
    int same = r->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = r->shape[i] == shape[i];
    if (!same) {
        char ws[96], es[96];
        shape_str(ws, sizeof ws, r->ndim, r->shape);
        shape_str(es, sizeof es, ndim, shape);
        CHECK(0, "dump record %s has shape %s, the model needs %s", name, ws, es);
        return NULL;
    }
    return r;
}

static void check_routing(dump *d, const em_config *cfg, const em_task_output *o, const char *tn) {
    int n_moe = em_n_moe_layers(cfg), N = cfg->n_tok, K = cfg->top_k, E = cfg->n_experts;
    int shp[3] = {n_moe, N, K}, shp_all[3] = {n_moe, N, E};
    record *rr = want_record(d, "routing", 3, shp);
    record *rg = want_record(d, "gate_prob", 3, shp);
    record *ra = dump_find(d, "gate_all");
    if (ra) ra = want_record(d, "gate_all", 3, shp_all);
    if (rr) rr->seen++;
    if (rg) rg->seen++;
    if (ra) ra->seen++;
    if (!rr) return;
    if (!o->routing) { CHECK(0, "%s routing: em_task_output.routing is NULL", tn); return; }

    /* moe index i -> layer number */
    int layer_of[EM_MAX_LAYERS], i = 0;
    for (int L = 0; L < cfg->depth && i < EM_MAX_LAYERS; L++)
        if (em_is_moe(cfg, L)) layer_of[i++] = L;

    size_t bad = 0, bad_set = 0, total = (size_t)n_moe * N * K;
    long first = -1;
    for (int m = 0; m < n_moe; m++)
        for (int t = 0; t < N; t++) {
            size_t base = ((size_t)m * N + t) * K;
            for (int k = 0; k < K; k++) {
                int want = (int)lrintf(rr->data[base + k]);
                if (o->routing[base + k] != want) {
                    bad++;
                    if (first < 0) first = (long)(base + k);
                }
                /* is the engine's expert among the reference's top k at all? */
                int in = 0;
                for (int j = 0; j < K; j++) in |= o->routing[base + k] == (int)lrintf(rr->data[base + j]);
                bad_set += !in;
            }
        }
    if (first >= 0) {
        int m = (int)(first / ((long)N * K)), t = (int)(first / K % N), k = (int)(first % K);
        size_t base = ((size_t)m * N + t) * K;
        printf("  first routing difference: moe layer %d (block %d), token %d, slot %d: engine",
               m, layer_of[m], t, k);
        for (int j = 0; j < K; j++) printf(" %d", o->routing[base + j]);
        printf(", numpy");
        for (int j = 0; j < K; j++) printf(" %d", (int)lrintf(rr->data[base + j]));
        printf("\n");
        if (ra) {
            const float *p = ra->data + ((size_t)m * N + t) * E;
            printf("  numpy gate probabilities of that token:");
            for (int e = 0; e < E; e++) printf(" %d:%.6g", e, p[e]);
            printf("\n");
        }
    }
    CHECK(bad == 0, "%s routing identical to numpy: %zu of %zu entries differ (%zu not in the reference top-%d)",
          tn, bad, total, bad_set, K);

    if (rg) {
        if (!o->gate_prob) CHECK(0, "%s gate_prob: em_task_output.gate_prob is NULL", tn);
        else {
            char label[64];
            snprintf(label, sizeof label, "%s gate_prob", tn);
            check_tensor(label, o->gate_prob, rg->data, rg->n, REL_TOL);
        }
    }
    if (o->expert_tokens) {
        size_t diff = 0;
        for (int m = 0; m < n_moe; m++)
            for (int e = 0; e < E; e++) {
                int cnt = 0;
                for (size_t j = 0; j < (size_t)N * K; j++)
                    cnt += (int)lrintf(rr->data[(size_t)m * N * K + j]) == e;
                diff += o->expert_tokens[m * E + e] != cnt;
            }
        CHECK(diff == 0, "%s expert_tokens match the numpy routing (%zu of %d counts differ)",
              tn, diff, n_moe * E);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE DUMP TASK\n", argv[0]);
        return 2;
    }
    const char *model_dir = argv[1], *image_path = argv[2], *dump_path = argv[3];
    (void)tu_read_floats; /* test_util.h helpers this program does not use */
    (void)tu_shared_dir;
    em_err err = {{0}};
    dump d;
    if (dump_load(dump_path, &d)) { CHECK(0, "load numpy dump %s", dump_path); dump_free(&d); return 1; }

    static em_model m;
    double t0 = now_ms();
    int rc = em_model_load(&m, model_dir, &err);
    CHECK(rc == EM_OK, "em_model_load %s (%s)", model_dir, rc == EM_OK ? "ok" : err.msg);
    if (rc != EM_OK) { dump_free(&d); return 1; }
    const em_config *cfg = &m.cfg;

    int task = em_task_index(cfg, argv[4]);
    if (task < 0) {
        char *end;
        long v = strtol(argv[4], &end, 10);
        if (*end == 0 && end != argv[4] && v >= 0 && v < cfg->n_tasks) task = (int)v;
    }
    if (task < 0) { CHECK(0, "unknown task %s", argv[4]); em_model_free(&m); dump_free(&d); return 1; }
    const char *tn = cfg->task_name[task];

    size_t npix = (size_t)cfg->img_c * cfg->img_h * cfg->img_w;
    float *img = malloc(npix * sizeof(float));
    rc = img ? em_image_load(image_path, cfg, img, &err) : EM_ENOMEM;
    CHECK(rc == EM_OK, "em_image_load %s (%s)", image_path, rc == EM_OK ? "ok" : err.msg);
    if (rc != EM_OK) { free(img); em_model_free(&m); dump_free(&d); return 1; }

    trace_ctx ctx = {&d, task, tn, cfg->depth, 0};
    for (int L = 0; L < cfg->depth; L++)
        if (em_is_moe(cfg, L)) { ctx.first_moe = L; break; }

    em_session_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.engine = EM_ENGINE_REF;
    opts.threads = getenv("EM_TEST_THREADS") ? atoi(getenv("EM_TEST_THREADS")) : 1;
    opts.skip_head = dump_find(&d, "logits") == NULL; /* a --blocks-only dump */
    opts.trace = on_trace;
    opts.trace_user = &ctx;
    em_session *s = em_session_new(&m, &opts, &err);
    CHECK(s != NULL, "em_session_new ref (%s)", s ? "ok" : err.msg);
    if (!s) { free(img); em_model_free(&m); dump_free(&d); return 1; }

    double t1 = now_ms();
    rc = em_session_run(s, img, 1u << task, &err);
    double t2 = now_ms();
    CHECK(rc == EM_OK, "em_session_run ref, task %s (%s)", tn, rc == EM_OK ? "ok" : err.msg);
    if (rc == EM_OK) {
        const em_task_output *o = em_session_output(s, task);
        CHECK(o != NULL, "em_session_output %s", tn);
        if (o) {
            int N = cfg->n_tok, D = cfg->dim;
            char label[64];
            int fshape[2] = {N, D};
            record *rb = NULL;
            char last[32];
            snprintf(last, sizeof last, "block%d", cfg->depth - 1);
            if ((rb = want_record(&d, last, 2, fshape)) && o->features) {
                snprintf(label, sizeof label, "%s features (output)", tn);
                check_tensor(label, o->features, rb->data, rb->n, REL_TOL);
            } else if (rb) CHECK(0, "%s: em_task_output.features is NULL", tn);
            if (!opts.skip_head) {
                int lshape[3] = {cfg->task_channels[task], cfg->img_h, cfg->img_w};
                record *rl = want_record(&d, "logits", 3, lshape);
                if (rl && o->logits) {
                    snprintf(label, sizeof label, "%s logits (output)", tn);
                    check_tensor(label, o->logits, rl->data, rl->n, REL_TOL);
                } else if (rl) CHECK(0, "%s: em_task_output.logits is NULL", tn);
            }
            check_routing(&d, cfg, o, tn);
        }
        int n_stages = 0, unseen = 0;
        for (int i = 0; i < d.n; i++) {
            n_stages += !is_output_record(d.r[i].name);
            if (!d.r[i].seen) {
                unseen++;
                printf("  %s: stage %s never traced by the engine\n", tn, d.r[i].name);
            }
        }
        CHECK(unseen == 0 && n_stages > 0, "%s: all %d numpy stages traced (%d trace calls, %d never traced)",
              tn, n_stages, ctx.n_traced, unseen);
    }
    printf("check_ref_numpy: task %s: load %.0f ms, run (ref engine, traced%s) %.0f ms\n", tn, t1 - t0,
           opts.skip_head ? ", no head" : "", t2 - t1);

    em_session_free(s);
    free(img);
    em_model_free(&m);
    dump_free(&d);
    TEST_MAIN_END();
}
