/* safetensors reader/writer: round trips (tiny, default and the shared
 * Edge-MoE weights), F16/BF16 conversion, config metadata and inference, and
 * one corrupt file per check the loader makes. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "edgemoe.h"
#include "model/config_json.h"
#include "engine/engine.h"
#include "test_util.h"

static char g_dir[256];

static void tiny_cfg(em_config *c) {
    em_config_default(c);
    c->img_h = 32; c->img_w = 64; c->patch = 16; c->grid_h = 2; c->grid_w = 4; c->n_tok = 9;
    c->dim = 32; c->n_heads = 2; c->head_dim = 16; c->depth = 4;
    c->mlp_hidden = 64; c->n_experts = 4; c->expert_hidden = 32; c->top_k = 2;
    c->head_ch = 16;
}

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int write_file(const char *p, const void *b, size_t n) {
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int is_zero_model(const em_model *m) {
    static const em_model z;
    return memcmp(m, &z, sizeof z) == 0;
}

/* Bit-identical tensors and equal config. */
static int models_identical(const em_model *a, const em_model *b, char *why, size_t n) {
    char ja[8192], jb[8192];
    em_config_to_json(&a->cfg, ja, sizeof ja);
    em_config_to_json(&b->cfg, jb, sizeof jb);
    if (strcmp(ja, jb)) { snprintf(why, n, "config differs: %.100s vs %.100s", ja, jb); return 0; }
    if (a->n_tensors != b->n_tensors) { snprintf(why, n, "n_tensors %d vs %d", a->n_tensors, b->n_tensors); return 0; }
    for (int i = 0; i < a->n_tensors; i++) {
        const em_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) || x->ndim != y->ndim || x->numel != y->numel ||
            memcmp(x->shape, y->shape, sizeof x->shape)) {
            snprintf(why, n, "tensor %d: %s vs %s", i, x->name, y->name);
            return 0;
        }
        if (memcmp(x->data, y->data, x->numel * 4)) { snprintf(why, n, "tensor %s data differs", x->name); return 0; }
    }
    snprintf(why, n, "%d tensors identical", a->n_tensors);
    return 1;
}

/* ---- a hand-made safetensors writer, for files the library would never
 * write (other dtypes, bad offsets, ...) ---- */
typedef struct {
    char name[64];
    char dtype[16];
    int ndim;
    long long shape[8];
    const void *data;
    size_t nbytes;          /* bytes this entry appends to the data buffer */
    long long shift;        /* added to both offsets in the header */
    long long end_delta;    /* added to the end offset in the header */
    int skip;               /* leave out of header and data */
} tw_ent;

static void json_escape(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 3 < n; s++) {
        if (*s == '"' || *s == '\\') out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = 0;
}

/* meta: the JSON text of the __metadata__ object, or NULL for none. */
static int tw_write(const char *path, const tw_ent *e, int n, const char *meta) {
    size_t cap = 1 << 20, len = 0;
    char *h = malloc(cap);
    len += (size_t)snprintf(h + len, cap - len, "{");
    int first = 1;
    if (meta) { len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", meta); first = 0; }
    long long off = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].skip) continue;
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", first ? "" : ",",
                                e[i].name, e[i].dtype);
        first = 0;
        for (int d = 0; d < e[i].ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", e[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%lld,%lld]}", off + e[i].shift,
                                off + (long long)e[i].nbytes + e[i].shift + e[i].end_delta);
        off += (long long)e[i].nbytes;
        total += e[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) { free(h); return -1; }
    uint8_t l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (uint8_t)((uint64_t)len >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(h, 1, len, f);
    for (int i = 0; i < n; i++)
        if (!e[i].skip && e[i].nbytes) fwrite(e[i].data, 1, e[i].nbytes, f);
    fclose(f);
    free(h);
    (void)total;
    return 0;
}

static int model_ents(const em_model *m, tw_ent *e) {
    for (int i = 0; i < m->n_tensors; i++) {
        const em_tensor *t = &m->tensors[i];
        memset(&e[i], 0, sizeof e[i]);
        snprintf(e[i].name, sizeof e[i].name, "%s", t->name);
        strcpy(e[i].dtype, "F32");
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) e[i].shape[d] = t->shape[d];
        e[i].data = t->data;
        e[i].nbytes = t->numel * 4;
    }
    return m->n_tensors;
}

static int ent_index(const tw_ent *e, int n, const char *name) {
    for (int i = 0; i < n; i++) if (!strcmp(e[i].name, name)) return i;
    return -1;
}

/* __metadata__ with the model's config (as the library writes it). */
static void cfg_meta(const em_config *c, char *out, size_t n) {
    char js[8192], esc[16384];
    em_config_to_json(c, js, sizeof js);
    json_escape(js, esc, sizeof esc);
    snprintf(out, n, "{\"format\":\"edgemoe\",\"edgemoe.config\":\"%s\"}", esc);
}

/* Loads path expecting failure: code != 0, message has every needle, m zeroed. */
static void expect_fail(const char *label, const char *path, int want_code, const char *n1, const char *n2) {
    em_model m;
    memset(&m, 0x5a, sizeof m);   /* garbage in: the loader must zero it */
    em_err err = {{0}};
    int rc = em_model_load_safetensors(&m, path, &err);
    int ok = rc != 0 && (want_code == 0 || rc == want_code) &&
             (!n1 || strstr(err.msg, n1)) && (!n2 || strstr(err.msg, n2));
    CHECK(ok, "%s: rc=%d msg=\"%s\" (wants %s%s%s)", label, rc, err.msg, n1 ? n1 : "", n2 ? " + " : "", n2 ? n2 : "");
    CHECK(rc != 0 && is_zero_model(&m), "%s: model left zeroed after the failure", label);
    if (rc == 0) em_model_free(&m);
}

/* ---- tests ---- */

static void test_config_json(void) {
    em_config a, b;
    em_err err = {{0}};
    char js[8192];
    tiny_cfg(&a);
    strcpy(a.task_name[1], "depth");
    a.ln_eps = 1.2345678e-6f; a.bn_eps = 3e-5f;
    int n = em_config_to_json(&a, js, sizeof js);
    memset(&b, 0, sizeof b);
    int rc = em_config_from_json(js, &b, &err);
    CHECK(n > 0 && rc == 0 && memcmp(&a, &b, sizeof a) == 0, "config -> JSON -> config identical (%d chars, rc=%d %s)",
          n, rc, err.msg);
    CHECK(strstr(js, "\"task_name\":[\"semseg\",\"depth\"]") && strstr(js, "\"task_channels\":[7,1]") &&
          strstr(js, "\"n_heads\":2") && strstr(js, "\"head_dim\":16"), "config JSON keys: %s", js);
    CHECK(em_config_to_json(&a, js, 20) < 0, "em_config_to_json reports a too small buffer");
    a.ln_eps = NAN;
    CHECK(em_config_to_json(&a, js, sizeof js) < 0, "em_config_to_json refuses a NaN eps (not JSON)");
    /* the default config, exactly as docs/safetensors.md shows it */
    em_config_default(&a);
    em_config_to_json(&a, js, sizeof js);
    CHECK(!strcmp(js, "{\"img_c\":3,\"img_h\":128,\"img_w\":256,\"patch\":16,\"grid_h\":8,\"grid_w\":16,"
                      "\"n_tok\":129,\"dim\":192,\"depth\":12,\"n_heads\":3,\"head_dim\":64,\"mlp_hidden\":768,"
                      "\"n_experts\":16,\"expert_hidden\":384,\"top_k\":2,\"n_tasks\":2,\"head_ch\":256,"
                      "\"task_name\":[\"semseg\",\"depth\"],\"task_channels\":[7,1],\"ln_eps\":1e-06,"
                      "\"bn_eps\":1e-05}"), "default config JSON as documented: %s", js);
    /* what tools/m3vit_convert.py writes (Python json: 1e-06) reads back as the default */
    memset(&b, 0, sizeof b);
    rc = em_config_from_json(js, &b, &err);
    CHECK(rc == 0 && memcmp(&a, &b, sizeof a) == 0 && b.ln_eps == 1e-6f && b.bn_eps == 1e-5f,
          "default config JSON reads back identical");

    /* partial JSON: absent fields keep their value, derived ones follow */
    em_config_default(&b);
    rc = em_config_from_json("{\"img_h\":64,\"img_w\":128,\"dim\":128,\"n_heads\":2}", &b, &err);
    CHECK(rc == 0 && b.grid_h == 4 && b.grid_w == 8 && b.n_tok == 33 && b.head_dim == 64 && b.depth == 12 &&
          em_config_check(&b, &err) == 0, "partial config: grid %dx%d n_tok %d head_dim %d", b.grid_h, b.grid_w,
          b.n_tok, b.head_dim);
    em_config_default(&b);
    rc = em_config_from_json("{\"task_name\":[\"semseg\",\"depth\",\"normals\"],\"task_channels\":[7,1,3]}", &b, &err);
    CHECK(rc == 0 && b.n_tasks == 3 && !strcmp(b.task_name[2], "normals") && b.task_channels[2] == 3,
          "task_name sets n_tasks (%d)", b.n_tasks);

    struct { const char *js, *needle; } bad[] = {
        {"{\"dimm\":3}", "dimm"},
        {"{\"dim\":3.5}", "dim"},
        {"{\"dim\":\"192\"}", "dim"},
        {"{\"depth\":1e12}", "depth"},
        {"{\"n_tasks\":2,\"task_name\":[\"semseg\"]}", "task_name"},
        {"{\"task_channels\":[7]}", "task_channels"},
        {"{\"task_name\":[\"sem seg\",\"depth\"]}", "task_name"},
        {"{\"task_name\":[\"depth\",\"depth\"]}", "twice"},
        {"{\"task_name\":[]}", "task_name"},
        {"{\"ln_eps\":\"x\"}", "ln_eps"},
        {"{\"dim\":1,\"dim\":2}", "twice"},
        {"[1,2]", "object"},
        {"{\"dim\":", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        em_config_default(&b);
        em_config c0 = b;
        err.msg[0] = 0;
        rc = em_config_from_json(bad[i].js, &b, &err);
        CHECK(rc != 0 && strstr(err.msg, bad[i].needle) && memcmp(&b, &c0, sizeof b) == 0,
              "config JSON %s rejected, config untouched: \"%s\"", bad[i].js, err.msg);
    }
}

static void roundtrip(const char *label, const em_config *cfg, uint64_t seed) {
    em_model a, b;
    em_err err = {{0}};
    char why[256];
    int rc = em_model_synthetic(&a, cfg, seed, &err);
    CHECK(rc == 0, "%s: synthetic model (%s)", label, err.msg);
    if (rc) return;
    const char *p = tpath("rt.safetensors");
    double t0 = em_now_ms();
    rc = em_model_save_safetensors(&a, p, &err);
    double t1 = em_now_ms();
    CHECK(rc == 0, "%s: save (%s) %.1f ms", label, err.msg, t1 - t0);
    size_t total = 0;
    for (int i = 0; i < a.n_tensors; i++) total += a.tensors[i].numel;
    uint8_t h8[8] = {0};
    FILE *f = fopen(p, "rb");
    if (f) { if (fread(h8, 1, 8, f) != 8) memset(h8, 0, 8); fclose(f); }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | h8[i];
    CHECK(hlen % 8 == 0 && (long)(8 + hlen + total * 4) == file_size(p),
          "%s: header %llu bytes (multiple of 8), file = 8 + header + 4 x %zu floats", label,
          (unsigned long long)hlen, total);
    t0 = em_now_ms();
    rc = em_model_load_safetensors(&b, p, &err);
    t1 = em_now_ms();
    CHECK(rc == 0, "%s: load (%s) %.1f ms for %.1f MB", label, err.msg, t1 - t0, total * 4 / 1e6);
    if (rc == 0) {
        CHECK(models_identical(&a, &b, why, sizeof why), "%s: round trip bit-identical: %s", label, why);
        CHECK(!strcmp(b.source, p), "%s: source = %s", label, b.source);
        em_model_free(&b);
    }
    /* the same file through em_model_load (dispatch on a regular file) */
    rc = em_model_load(&b, p, &err);
    CHECK(rc == 0 && models_identical(&a, &b, why, sizeof why), "%s: em_model_load dispatches to safetensors: %s",
          label, rc ? err.msg : why);
    if (rc == 0) em_model_free(&b);
    em_model_free(&a);
    unlink(p);
}

static int count_tmp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) if (strstr(de->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer_failures(void) {
    em_config c;
    em_model m;
    em_err err = {{0}};
    tiny_cfg(&c);
    if (em_model_synthetic(&m, &c, 1, &err)) { CHECK(0, "synthetic: %s", err.msg); return; }
    int rc = em_model_save_safetensors(&m, tpath("no/such/dir/x.safetensors"), &err);
    CHECK(rc == EM_EIO && strstr(err.msg, "no/such/dir"), "save into a missing directory fails: %s", err.msg);
    /* the final rename fails (target is a non-empty directory): temp file removed */
    const char *d = tpath("occupied");
    mkdir(d, 0700);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/keep", d);
    write_file(inner, "x", 1);
    rc = em_model_save_safetensors(&m, d, &err);
    CHECK(rc == EM_EIO && strstr(err.msg, "rename") && count_tmp_files() == 0,
          "failed rename reports and leaves no temp file: %s", err.msg);
    unlink(inner);
    rmdir(d);
    /* overwriting an existing file replaces it atomically */
    const char *p = tpath("over.safetensors");
    write_file(p, "old", 3);
    err.msg[0] = 0;
    rc = em_model_save_safetensors(&m, p, &err);
    em_model b;
    int rc2 = rc ? rc : em_model_load_safetensors(&b, p, &err);
    CHECK(rc == 0 && rc2 == 0 && count_tmp_files() == 0, "save over an existing file (%s)", err.msg);
    if (rc == 0 && rc2 == 0) em_model_free(&b);
    unlink(p);
    em_model_free(&m);
}

/* Metadata-less files: the config comes from the shapes. */
static void test_infer(void) {
    em_config c, d;
    em_model m, b;
    em_err err = {{0}};
    char why[256];
    tw_ent *e = calloc(2048, sizeof *e);
    /* default config: everything is inferable */
    em_config_default(&c);
    if (em_model_synthetic(&m, &c, 7, &err)) { CHECK(0, "synthetic: %s", err.msg); free(e); return; }
    int n = model_ents(&m, e);
    /* write the heads first, depth before semseg: the order must not matter */
    tw_ent *r = calloc(2048, sizeof *r);
    int k = 0;
    for (int i = n - 1; i >= 0; i--) if (!strncmp(e[i].name, "head_", 5)) r[k++] = e[i];
    for (int i = 0; i < n; i++) if (strncmp(e[i].name, "head_", 5)) r[k++] = e[i];
    const char *p = tpath("infer.safetensors");
    tw_write(p, r, k, NULL);
    int rc = em_model_load_safetensors(&b, p, &err);
    CHECK(rc == 0 && models_identical(&m, &b, why, sizeof why), "default model without metadata: config inferred, %s",
          rc ? err.msg : why);
    if (!rc) em_model_free(&b);
    em_model_free(&m);
    free(r);

    /* tiny: 2 heads of 16 cannot be inferred (n_heads = D / 64 rule) ... */
    tiny_cfg(&c);
    if (em_model_synthetic(&m, &c, 8, &err)) { CHECK(0, "synthetic: %s", err.msg); free(e); return; }
    n = model_ents(&m, e);
    tw_write(p, e, n, NULL);
    rc = em_model_load_safetensors(&b, p, &err);
    d = c;
    d.n_heads = 1; d.head_dim = 32;
    CHECK(rc == 0 && memcmp(&b.cfg, &d, sizeof d) == 0 && b.cfg.img_h == 32 && b.cfg.img_w == 64,
          "tiny model without metadata: image %dx%d (1:2 grid from 9 tokens), n_heads %d (D/64 rule) (%s)",
          b.cfg.img_h, b.cfg.img_w, b.cfg.n_heads, rc ? err.msg : "ok");
    if (!rc) em_model_free(&b);
    /* ... a partial edgemoe.config fills it in */
    tw_write(p, e, n, "{\"edgemoe.config\":\"{\\\"n_heads\\\":2}\"}");
    rc = em_model_load_safetensors(&b, p, &err);
    CHECK(rc == 0 && models_identical(&m, &b, why, sizeof why), "partial metadata {n_heads: 2} completes it: %s",
          rc ? err.msg : why);
    if (!rc) em_model_free(&b);
    em_model_free(&m);

    /* three tasks, written alphabetically: order semseg, depth, then alphabetical */
    tiny_cfg(&c);
    c.n_tasks = 3;
    strcpy(c.task_name[2], "normals"); c.task_channels[2] = 3;
    c.n_heads = 1; c.head_dim = 32;
    if (em_model_synthetic(&m, &c, 9, &err)) { CHECK(0, "synthetic: %s", err.msg); free(e); return; }
    n = model_ents(&m, e);
    tw_write(p, e, n, NULL);
    rc = em_model_load_safetensors(&b, p, &err);
    CHECK(rc == 0 && models_identical(&m, &b, why, sizeof why) && !strcmp(b.cfg.task_name[2], "normals"),
          "three tasks inferred as semseg, depth, normals: %s", rc ? err.msg : why);
    if (!rc) em_model_free(&b);
    em_model_free(&m);
    unlink(p);
    free(e);
}

/* Independent decoders of the 16-bit formats (value = formula, not bit moves). */
static double f16_value(uint16_t h) {
    int s = h >> 15, ex = (h >> 10) & 31, man = h & 1023;
    double v = ex == 0 ? ldexp(man, -24) : ldexp(1.0 + man / 1024.0, ex - 15);
    return s ? -v : v;
}
static double bf16_value(uint16_t h) {
    int s = h >> 15, ex = (h >> 7) & 255, man = h & 127;
    double v = ex == 0 ? ldexp(man, -133) : ldexp(1.0 + man / 128.0, ex - 127);
    return s ? -v : v;
}

static void test_half(void) {
    em_config c;
    em_model m, b;
    em_err err = {{0}};
    tiny_cfg(&c);
    if (em_model_synthetic(&m, &c, 11, &err)) { CHECK(0, "synthetic: %s", err.msg); return; }
    tw_ent e[512];
    int n = model_ents(&m, e);
    int ip = ent_index(e, n, "pos_embed"), iq = ent_index(e, n, "l0_fc1_weight");
    size_t np = m.tensors[ip].numel, nq = m.tensors[iq].numel;
    uint16_t *hp = malloc(np * 2), *hq = malloc(nq * 2);
    uint8_t *bp = malloc(np * 2), *bq = malloc(nq * 2);
    /* F16: the edge cases first, then pseudo-random finite patterns */
    static const uint16_t f16_fixed[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x0200, 0x0400,
                                         0x3c00, 0xc000, 0x7bff, 0xfbff, 0x3555, 0x3bff, 0x3c01, 0x1234};
    uint32_t s = 12345;
    for (size_t i = 0; i < np; i++) {
        if (i < sizeof f16_fixed / 2) hp[i] = f16_fixed[i];
        else {
            do { s = s * 1664525u + 1013904223u; hp[i] = (uint16_t)(s >> 16); } while (((hp[i] >> 10) & 31) == 31);
        }
    }
    static const uint16_t bf16_fixed[] = {0x0000, 0x8000, 0x0001, 0x807f, 0x3f80, 0xc040, 0x3eab, 0x7f7f, 0x0080};
    for (size_t i = 0; i < nq; i++) {
        if (i < sizeof bf16_fixed / 2) hq[i] = bf16_fixed[i];
        else {
            do { s = s * 1664525u + 1013904223u; hq[i] = (uint16_t)(s >> 16); } while (((hq[i] >> 7) & 255) == 255);
        }
    }
    for (size_t i = 0; i < np; i++) { bp[2 * i] = hp[i] & 255; bp[2 * i + 1] = hp[i] >> 8; }
    for (size_t i = 0; i < nq; i++) { bq[2 * i] = hq[i] & 255; bq[2 * i + 1] = hq[i] >> 8; }
    strcpy(e[ip].dtype, "F16"); e[ip].data = bp; e[ip].nbytes = np * 2;
    strcpy(e[iq].dtype, "BF16"); e[iq].data = bq; e[iq].nbytes = nq * 2;
    char meta[20000];
    cfg_meta(&c, meta, sizeof meta);
    const char *p = tpath("half.safetensors");
    tw_write(p, e, n, meta);
    int rc = em_model_load_safetensors(&b, p, &err);
    CHECK(rc == 0, "F16 + BF16 + F32 file loads (%s)", err.msg);
    if (rc == 0) {
        const float *gp = em_model_find(&b, "pos_embed")->data, *gq = em_model_find(&b, "l0_fc1_weight")->data;
        size_t badp = 0, badq = 0, subn = 0;
        for (size_t i = 0; i < np; i++) {
            if ((double)gp[i] != f16_value(hp[i]) || !!signbit(gp[i]) != (hp[i] >> 15)) badp++;
            if (((hp[i] >> 10) & 31) == 0 && (hp[i] & 1023)) subn++;
        }
        for (size_t i = 0; i < nq; i++)
            if ((double)gq[i] != bf16_value(hq[i]) || !!signbit(gq[i]) != (hq[i] >> 15)) badq++;
        CHECK(badp == 0, "F16 -> float exact for %zu values (%zu subnormal, -0 kept): %zu wrong", np, subn, badp);
        CHECK(badq == 0, "BF16 -> float exact for %zu values: %zu wrong", nq, badq);
        CHECK(gp[0] == 0 && !signbit(gp[0]) && signbit(gp[1]) && gp[2] == 5.9604644775390625e-08f &&
              gp[4] == 6.09755516052246094e-05f && gp[7] == 6.103515625e-05f && gp[8] == 1.0f && gp[9] == -2.0f &&
              gp[10] == 65504.0f && gp[11] == -65504.0f && gp[12] == 0.333251953125f,
              "F16 literals: 2^-24 %.9g, max subnormal %.9g, 1, -2, 65504, 0.33325", gp[2], gp[4]);
        CHECK(gq[4] == 1.0f && gq[5] == -3.0f && gq[6] == 0.333984375f && gq[2] == 9.18354962e-41f &&
              gq[7] == 3.38953139e38f, "BF16 literals: 1, -3, 0.333984375, 2^-133, max %.9g", gq[7]);
        /* the other tensors are untouched F32 */
        const em_tensor *t = em_model_find(&b, "l3_h4toh_weight");
        check_tensor("F32 tensor l3_h4toh_weight alongside, exact", t->data,
                     em_model_find(&m, "l3_h4toh_weight")->data, t->numel, 0.0);
        em_model_free(&b);
    }
    /* non-finite halves are converted (not clamped) and then rejected by name */
    struct { const char *dt; uint16_t v; const char *needle; } nf[] = {
        {"F16", 0x7c00, "inf"}, {"F16", 0xfc00, "-inf"}, {"F16", 0x7e00, "nan"}, {"F16", 0x7c01, "nan"},
        {"BF16", 0x7f80, "inf"}, {"BF16", 0x7fc0, "nan"},
    };
    for (size_t k = 0; k < sizeof nf / sizeof nf[0]; k++) {
        uint8_t *buf = nf[k].dt[0] == 'F' ? bp : bq;
        int idx = nf[k].dt[0] == 'F' ? ip : iq;
        uint8_t save0 = buf[14], save1 = buf[15];
        buf[14] = nf[k].v & 255; buf[15] = nf[k].v >> 8;   /* element 7 */
        tw_write(p, e, n, meta);
        char label[64];
        snprintf(label, sizeof label, "%s 0x%04x in %s", nf[k].dt, nf[k].v, e[idx].name);
        expect_fail(label, p, EM_EVALUE, e[idx].name, nf[k].needle);
        buf[14] = save0; buf[15] = save1;
    }
    free(hp); free(hq); free(bp); free(bq);
    em_model_free(&m);
    unlink(p);
}

static void test_corrupt(void) {
    em_config c;
    em_model m;
    em_err err = {{0}};
    tiny_cfg(&c);
    if (em_model_synthetic(&m, &c, 21, &err)) { CHECK(0, "synthetic: %s", err.msg); return; }
    const char *good = tpath("good.safetensors"), *p = tpath("bad.safetensors");
    CHECK(em_model_save_safetensors(&m, good, &err) == 0, "save the base file (%s)", err.msg);
    size_t n = 0;
    uint8_t *g = tu_read_file(good, &n), *b = malloc(n + 64);
    if (!g || n < 16) { CHECK(0, "read back %s", good); free(g); free(b); em_model_free(&m); return; }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | g[i];

    /* byte-level damage */
    write_file(p, g, 5);
    expect_fail("5-byte file", p, EM_EIO, "truncated", NULL);
    write_file(p, g, 0);
    expect_fail("empty file", p, EM_EIO, "truncated", NULL);
    write_file(p, g, 8 + hlen / 2);
    expect_fail("file cut inside the header", p, EM_EIO, "header length", "larger than the file");
    write_file(p, g, n - 100);
    expect_fail("file cut inside the data", p, EM_EFORMAT, "out of range", NULL);
    memcpy(b, g, n);
    b[5] = 0x40;   /* header length 2^46 */
    write_file(p, b, n);
    expect_fail("header length 2^46", p, EM_EIO, "larger than the file", NULL);
    /* a sparse 200 MB file whose header length says 150 MB */
    {
        FILE *f = fopen(p, "wb");
        uint64_t big = 150ull << 20;
        uint8_t l8[8];
        for (int i = 0; i < 8; i++) l8[i] = (uint8_t)(big >> (8 * i));
        fwrite(l8, 1, 8, f);
        fclose(f);
        CHECK(truncate(p, 200l << 20) == 0, "sparse file made");
        expect_fail("header length 150 MB", p, EM_EFORMAT, "implausible header length", NULL);
    }
    memcpy(b, g, n);
    ((uint8_t *)memchr(b + 8, ':', hlen))[0] = '#';   /* first key/value colon */
    write_file(p, b, n);
    expect_fail("bad JSON", p, EM_EFORMAT, "not valid JSON", NULL);
    memcpy(b, g, n);
    b[8 + hlen - 1] = 'x';   /* padding space -> garbage after the object */
    write_file(p, b, n);
    expect_fail("garbage after the JSON", p, EM_EFORMAT, "after the JSON", NULL);
    {
        const char *arr = "[1,2,3] ";
        memcpy(b, g, n);
        memset(b + 8, ' ', hlen);
        memcpy(b + 8, arr, strlen(arr));
        write_file(p, b, n);
        expect_fail("JSON array header", p, EM_EFORMAT, "not an object", NULL);
    }
    expect_fail("nonexistent file", tpath("nope.safetensors"), EM_EIO, "nope.safetensors", NULL);
    expect_fail("a directory", g_dir, EM_EIO, "not a regular file", NULL);

    /* structural damage, through the hand writer */
    tw_ent e[512], e0[512];
    int ne = model_ents(&m, e0);
    char meta[20000];
    cfg_meta(&c, meta, sizeof meta);
    int iq = ent_index(e0, ne, "l3_qkv_weight"), ip = ent_index(e0, ne, "l3_attn_proj_weight");
    int ih = ent_index(e0, ne, "l1_htoh4_weight"), ib = ent_index(e0, ne, "l2_fc1_bias");
#define RESET() memcpy(e, e0, sizeof e)
    RESET();
    tw_write(p, e, ne, meta);
    em_model ok;
    int rc = em_model_load_safetensors(&ok, p, &err);
    CHECK(rc == 0, "hand-written base file loads (%s)", err.msg);
    if (!rc) em_model_free(&ok);

    RESET(); e[iq].end_delta = 1 << 20;
    tw_write(p, e, ne, meta);
    expect_fail("offsets out of range", p, EM_EFORMAT, "l3_qkv_weight", "out of range");
    RESET(); e[iq].shift = -(long long)(ne > 0 ? 1000000 : 0);
    tw_write(p, e, ne, meta);
    expect_fail("negative offset", p, EM_EFORMAT, "l3_qkv_weight", "data_offsets");
    RESET(); e[ip].shift = -4;   /* starts 4 bytes inside the previous tensor */
    tw_write(p, e, ne, meta);
    expect_fail("overlapping offsets", p, EM_EFORMAT, "overlap", "l3_attn_proj_weight");
    RESET(); e[iq].end_delta = -4;
    tw_write(p, e, ne, meta);
    expect_fail("size/shape mismatch", p, EM_EFORMAT, "l3_qkv_weight", "needs");
    RESET(); e[iq].shape[1] = 16; e[iq].nbytes /= 2;
    tw_write(p, e, ne, meta);
    expect_fail("wrong shape of a known tensor", p, EM_ESHAPE,
                "tensor l3_qkv_weight has shape [96,16], expected [96,32]", NULL);
    RESET(); e[ih].ndim = 2; e[ih].shape[1] = 32 * 32;   /* same numel, flattened */
    tw_write(p, e, ne, meta);
    expect_fail("flattened tensor (same numel)", p, EM_ESHAPE, "l1_htoh4_weight has shape [4,1024], expected [4,32,32]", NULL);
    RESET(); e[ib].skip = 1;
    tw_write(p, e, ne, meta);
    expect_fail("missing tensor", p, EM_ESHAPE, "missing tensor l2_fc1_bias", NULL);
    RESET(); strcpy(e[ib].dtype, "I64");
    tw_write(p, e, ne, meta);
    expect_fail("unknown dtype I64", p, EM_EFORMAT, "l2_fc1_bias", "I64");
    RESET(); strcpy(e[ib].dtype, "F64"); e[ib].nbytes *= 2;
    {
        double *dd = calloc(m.tensors[ib].numel, 8);
        e[ib].data = dd;
        tw_write(p, e, ne, meta);
        expect_fail("unknown dtype F64", p, EM_EFORMAT, "l2_fc1_bias", "F64");
        free(dd);
    }
    RESET(); e[ib].shape[0] = -64;
    tw_write(p, e, ne, meta);
    expect_fail("negative dimension", p, EM_EFORMAT, "l2_fc1_bias", "shape");
    /* an extra tensor: copy of a known one under new names */
    RESET();
    e[ne] = e0[ib]; strcpy(e[ne].name, "l2_fc3_bias");
    e[ne + 1] = e0[ib]; strcpy(e[ne + 1].name, "extra_thing");
    tw_write(p, e, ne + 2, meta);
    expect_fail("unknown tensors", p, EM_EFORMAT, "2 unknown tensors", "l2_fc3_bias");
    /* a whole extra layer of the next config up is unknown too */
    RESET();
    e[ne] = e0[ib]; strcpy(e[ne].name, "l2_fc1_bias");
    tw_write(p, e, ne + 1, meta);
    expect_fail("duplicate tensor name", p, EM_EFORMAT, "l2_fc1_bias", "twice");
    /* metadata */
    RESET();
    tw_write(p, e, ne, "{\"format\":\"edgemoe\",\"edgemoe.config\":\"{\\\"depth\\\":4,\\\"dimm\\\":32}\"}");
    expect_fail("metadata with an unknown config key", p, EM_EFORMAT, "edgemoe.config", "dimm");
    tw_write(p, e, ne, "{\"edgemoe.config\":\"{\\\"dim\\\":64}\"}");
    expect_fail("metadata disagreeing with the tensors", p, EM_ESHAPE, "has shape", "expected");
    tw_write(p, e, ne, "{\"edgemoe.config\":\"{\\\"top_k\\\":9}\"}");
    expect_fail("metadata failing em_config_check", p, EM_EFORMAT, "top_k", "edgemoe.config");
    tw_write(p, e, ne, "{\"edgemoe.config\":{\"dim\":32}}");
    expect_fail("metadata value not a string", p, EM_EFORMAT, "__metadata__", "edgemoe.config");
    tw_write(p, e, ne, "{\"edgemoe.config\":\"{dim:\"}");
    expect_fail("metadata config not JSON", p, EM_EFORMAT, "edgemoe.config", "JSON");

    /* NaN weight, written by the library's own writer */
    em_model_find(&m, "l1_htoh4_weight")->data[77] = NAN;
    CHECK(em_model_save_safetensors(&m, p, &err) == 0, "writer writes a NaN model (%s)", err.msg);
    expect_fail("NaN weight", p, EM_EVALUE, "l1_htoh4_weight", "index 77");
    em_model_find(&m, "l1_htoh4_weight")->data[77] = 0;
    em_model_find(&m, "head_depth_bn2_running_var")->data[3] = -INFINITY;
    em_model_save_safetensors(&m, p, &err);
    expect_fail("-inf weight", p, EM_EVALUE, "head_depth_bn2_running_var", "inf");
#undef RESET
    free(g); free(b);
    em_model_free(&m);
    unlink(p); unlink(good);
}

/* Seeded random damage to the header and length field: every load either
 * succeeds with the original values or fails with a message and a zeroed
 * model (under ASan: no out-of-bounds access either way). */
static void test_fuzz(void) {
    em_config c;
    em_model m, b;
    em_err err = {{0}};
    tiny_cfg(&c);
    if (em_model_synthetic(&m, &c, 31, &err)) { CHECK(0, "synthetic: %s", err.msg); return; }
    const char *good = tpath("fz_good.safetensors"), *p = tpath("fz.safetensors");
    em_model_save_safetensors(&m, good, &err);
    size_t n = 0;
    uint8_t *g = tu_read_file(good, &n), *x = malloc(n);
    if (!g || n < 16) { CHECK(0, "read back %s", good); free(g); free(x); em_model_free(&m); return; }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | g[i];
    static const char junk[] = "{}[],:\"0123456789-.eE \\tnulfalsetrue";
    uint32_t s = 99;
    int n_ok = 0, n_fail = 0, bad = 0;
    char why[256];
    for (int it = 0; it < 600; it++) {
        memcpy(x, g, n);
        size_t len = n;
        int kind = it % 4;
        s = s * 1664525u + 1013904223u;
        if (kind == 0) {            /* one header byte -> a JSON-significant character */
            x[8 + (s >> 8) % hlen] = (uint8_t)junk[(s >> 3) % (sizeof junk - 1)];
        } else if (kind == 1) {     /* one random byte anywhere in the first 8 + hlen */
            x[(s >> 8) % (8 + hlen)] = (uint8_t)(s >> 24);
        } else if (kind == 2) {     /* one digit of the header changed (offsets, shapes, config) */
            size_t at = 8 + (s >> 8) % hlen;
            while (at < 8 + hlen && !(x[at] >= '0' && x[at] <= '9')) at++;
            if (at < 8 + hlen) x[at] = (uint8_t)('0' + (s >> 4) % 10);
        } else {                    /* truncated anywhere */
            len = (s >> 8) % n;
        }
        write_file(p, x, len);
        memset(&b, 0x5a, sizeof b);
        err.msg[0] = 0;
        int rc = em_model_load_safetensors(&b, p, &err);
        if (rc == 0) {
            n_ok++;
            /* a change that still loads must not have changed what was loaded
             * (e.g. a digit replaced by itself, a space in padding) or must be
             * a consistent relabelling; compare the values at least */
            if (!models_identical(&m, &b, why, sizeof why) && b.n_tensors == m.n_tensors) {
                int same_data = 1;
                for (int i = 0; i < m.n_tensors && same_data; i++)
                    same_data = m.tensors[i].numel == b.tensors[i].numel &&
                                !memcmp(m.tensors[i].data, b.tensors[i].data, m.tensors[i].numel * 4);
                if (!same_data && bad++ < 3) printf("  iteration %d loaded different data: %s\n", it, why);
            }
            em_model_free(&b);
        } else {
            n_fail++;
            if ((!err.msg[0] || !is_zero_model(&b)) && bad++ < 3)
                printf("  iteration %d: rc %d, msg \"%s\", model zeroed %d\n", it, rc, err.msg, is_zero_model(&b));
        }
    }
    CHECK(bad == 0, "600 damaged files: %d loaded identical values, %d rejected with a message and a zeroed model, "
          "%d wrong", n_ok, n_fail, bad);
    free(g); free(x);
    em_model_free(&m);
    unlink(p); unlink(good);
}

static void test_shared_dir(void) {
    const char *dir = tu_shared_dir();
    char probe[600];
    snprintf(probe, sizeof probe, "%s/pos_embed.float32.bin", dir);
    if (access(probe, R_OK) != 0) {
        printf("SKIP: shared Edge-MoE weights not found at %s (set EM_SHARED_WEIGHTS)\n", dir);
        return;
    }
    em_model a, b;
    em_err err = {{0}};
    char why[256];
    int rc = em_model_load_dir(&a, dir, &err);
    CHECK(rc == 0, "load the Edge-MoE directory %s (%s)", dir, err.msg);
    if (rc) return;
    const char *p = tpath("m3vit.safetensors");
    rc = em_model_save_safetensors(&a, p, &err);
    CHECK(rc == 0, "Edge-MoE directory -> %s: %ld bytes (%s)", p, file_size(p), err.msg);
    double t0 = em_now_ms();
    rc = em_model_load(&b, p, &err);
    double t1 = em_now_ms();
    CHECK(rc == 0, "load it back in %.1f ms (%s)", t1 - t0, err.msg);
    if (rc == 0) {
        CHECK(models_identical(&a, &b, why, sizeof why), "directory -> safetensors -> model bit-identical: %s", why);
        /* every tensor equals its .float32.bin file, independently read */
        int bad = 0;
        for (int i = 0; i < b.n_tensors; i++) {
            char fp[700];
            size_t nf = 0;
            snprintf(fp, sizeof fp, "%s/%s.float32.bin", dir, b.tensors[i].name);
            float *ref = tu_read_floats(fp, &nf);
            if (!ref || nf != b.tensors[i].numel || memcmp(ref, b.tensors[i].data, nf * 4)) {
                if (bad++ < 3) printf("  %s differs from %s\n", b.tensors[i].name, fp);
            }
            free(ref);
        }
        CHECK(bad == 0, "all %d tensors equal their Edge-MoE files (%d differ)", b.n_tensors, bad);
        em_model_free(&b);
    }
    em_model_free(&a);
    unlink(p);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/em_st_XXXXXX");
    if (!mkdtemp(g_dir)) { printf("FAIL: mkdtemp: %s\n", strerror(errno)); return 1; }
    em_config c;

    test_config_json();
    tiny_cfg(&c);
    roundtrip("tiny", &c, 42);
    em_config_default(&c);
    roundtrip("default", &c, 43);
    test_writer_failures();
    test_infer();
    test_half();
    test_corrupt();
    test_fuzz();
    test_shared_dir();

    rmdir(g_dir);
    TEST_MAIN_END();
}
