/* The model: config, one weight arena, the tensor table, the Edge-MoE
 * directory loader and a deterministic synthetic model. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "util.h"

void em_config_default(em_config *c) {
    memset(c, 0, sizeof *c);
    c->img_c = 3; c->img_h = 128; c->img_w = 256;
    c->patch = 16; c->grid_h = 8; c->grid_w = 16; c->n_tok = 129;
    c->dim = 192; c->depth = 12; c->n_heads = 3; c->head_dim = 64;
    c->mlp_hidden = 768; c->n_experts = 16; c->expert_hidden = 384; c->top_k = 2;
    c->n_tasks = 2;
    strcpy(c->task_name[0], "semseg"); c->task_channels[0] = 7;
    strcpy(c->task_name[1], "depth");  c->task_channels[1] = 1;
    c->head_ch = 256; c->ln_eps = 1e-6f; c->bn_eps = 1e-5f;
    c->moe_layers = EM_MOE_ODD;
}

int em_config_check(const em_config *c, em_err *err) {
#define REQ(cond, ...) do { if (!(cond)) return em_error(err, EM_EFORMAT, "inconsistent config: " __VA_ARGS__); } while (0)
    /* Upper bounds on every dimension (docs/model.md, "Limits"), so that no
     * size computed from them can overflow and none is absurd. */
    REQ(c->img_c > 0 && c->img_c <= EM_LIMIT_CHANNELS && c->img_h > 0 && c->img_w > 0 &&
            c->img_h <= EM_LIMIT_IMAGE_SIDE && c->img_w <= EM_LIMIT_IMAGE_SIDE,
        "image %d x %d x %d (channels 1..%d, sides 1..%d)", c->img_c, c->img_h, c->img_w, EM_LIMIT_CHANNELS,
        EM_LIMIT_IMAGE_SIDE);
    REQ(c->dim <= EM_LIMIT_DIM && c->n_heads <= EM_LIMIT_DIM, "dim %d, n_heads %d (at most %d)", c->dim, c->n_heads,
        EM_LIMIT_DIM);
    REQ(c->mlp_hidden <= EM_LIMIT_HIDDEN && c->expert_hidden <= EM_LIMIT_HIDDEN && c->head_ch <= EM_LIMIT_HIDDEN,
        "mlp_hidden %d, expert_hidden %d, head_ch %d (at most %d)", c->mlp_hidden, c->expert_hidden, c->head_ch,
        EM_LIMIT_HIDDEN);
    REQ(c->patch > 0 && c->img_h % c->patch == 0 && c->img_w % c->patch == 0,
        "image %d x %d not divisible by patch %d", c->img_h, c->img_w, c->patch);
    REQ(c->grid_h == c->img_h / c->patch && c->grid_w == c->img_w / c->patch,
        "grid %d x %d, expected %d x %d", c->grid_h, c->grid_w, c->img_h / c->patch, c->img_w / c->patch);
    REQ(c->n_tok == c->grid_h * c->grid_w + 1, "n_tok %d, expected %d", c->n_tok, c->grid_h * c->grid_w + 1);
    REQ(c->dim > 0 && c->n_heads > 0 && c->head_dim > 0 && c->dim == c->n_heads * c->head_dim,
        "dim %d != n_heads %d x head_dim %d", c->dim, c->n_heads, c->head_dim);
    REQ(c->depth >= 1 && c->depth <= EM_MAX_LAYERS, "depth %d (1..%d)", c->depth, EM_MAX_LAYERS);
    REQ(c->mlp_hidden > 0, "mlp_hidden %d", c->mlp_hidden);
    REQ(em_n_moe_layers(c) == 0 || (c->n_experts >= 1 && c->n_experts <= EM_MAX_EXPERTS),
        "n_experts %d (1..%d)", c->n_experts, EM_MAX_EXPERTS);
    REQ(em_n_moe_layers(c) == 0 || c->expert_hidden > 0, "expert_hidden %d", c->expert_hidden);
    REQ(em_n_moe_layers(c) == 0 || (c->top_k >= 1 && c->top_k <= c->n_experts && c->top_k <= EM_MAX_TOPK),
        "top_k %d with %d experts", c->top_k, c->n_experts);
    REQ(c->n_tasks >= 1 && c->n_tasks <= EM_MAX_TASKS, "n_tasks %d (1..%d)", c->n_tasks, EM_MAX_TASKS);
    for (int t = 0; t < c->n_tasks; t++) {
        REQ(c->task_name[t][0] != 0, "task %d has no name", t);
        REQ(c->task_channels[t] >= 1 && c->task_channels[t] <= 4096, "task %s has %d channels",
            c->task_name[t], c->task_channels[t]);
        for (int u = 0; u < t; u++)
            REQ(strcmp(c->task_name[t], c->task_name[u]) != 0, "task name %s twice", c->task_name[t]);
    }
    /* the head upsamples x2 three times, then x2: 16x in all */
    REQ(c->head_ch > 0 && c->grid_h * 16 == c->img_h && c->grid_w * 16 == c->img_w,
        "the head needs patch 16 (upsampling x16), got grid %d x %d for %d x %d",
        c->grid_h, c->grid_w, c->img_h, c->img_w);
    REQ(c->ln_eps > 0 && c->bn_eps > 0, "eps must be positive");
#undef REQ
    return EM_OK;
}

int em_n_moe_layers(const em_config *c) { return em_moe_index(c, c->depth); }
int em_n_dense_layers(const em_config *c) { return c->depth - em_n_moe_layers(c); }

int em_task_index(const em_config *c, const char *name) {
    for (int t = 0; t < c->n_tasks; t++)
        if (strcmp(c->task_name[t], name) == 0) return t;
    return EM_EARG;
}

/* ---- arena and tensor table ---- */

typedef struct { float *base; size_t used, cap, params; } bump;

static float *bump_take(bump *b, size_t n) {
    size_t aligned = (n + 15) & ~(size_t)15;  /* 64-byte aligned slices */
    float *p = b->base ? b->base + b->used : NULL;
    b->used += aligned;
    b->params += n;
    return p;
}

/* Carves every stacked array out of the arena (or only sizes it when
 * b->base is NULL). */
static void carve(const em_config *c, em_weights *w, bump *b) {
    size_t D = c->dim, N = c->n_tok, L = c->depth, H = c->mlp_hidden, E = c->n_experts;
    size_t He = c->expert_hidden, P = c->patch, Ld = em_n_dense_layers(c), Lm = em_n_moe_layers(c);
    size_t T = c->n_tasks, hc = c->head_ch;
    w->patch_w = bump_take(b, D * c->img_c * P * P);
    w->patch_b = bump_take(b, D);
    w->pos_embed = bump_take(b, N * D);
    w->ln1_w = bump_take(b, L * D); w->ln1_b = bump_take(b, L * D);
    w->ln2_w = bump_take(b, L * D); w->ln2_b = bump_take(b, L * D);
    w->qkv_w = bump_take(b, L * 3 * D * D); w->qkv_b = bump_take(b, L * 3 * D);
    w->proj_w = bump_take(b, L * D * D); w->proj_b = bump_take(b, L * D);
    w->fc1_w = bump_take(b, Ld * H * D); w->fc1_b = bump_take(b, Ld * H);
    w->fc2_w = bump_take(b, Ld * D * H); w->fc2_b = bump_take(b, Ld * D);
    w->gate_w = bump_take(b, Lm * T * E * D);
    w->exp1_w = bump_take(b, Lm * E * He * D); w->exp1_b = bump_take(b, Lm * E * He);
    w->exp2_w = bump_take(b, Lm * E * D * He); w->exp2_b = bump_take(b, Lm * E * D);
    for (size_t t = 0; t < T; t++) {
        em_head_weights *h = &w->head[t];
        h->norm_w = bump_take(b, D); h->norm_b = bump_take(b, D);
        for (int i = 0; i < 4; i++) {
            size_t cin = i == 0 ? D : hc;
            h->conv_w[i] = bump_take(b, hc * cin * 9); h->conv_b[i] = bump_take(b, hc);
            h->bn_w[i] = bump_take(b, hc); h->bn_b[i] = bump_take(b, hc);
            h->bn_mean[i] = bump_take(b, hc); h->bn_var[i] = bump_take(b, hc);
        }
        h->cls_w = bump_take(b, (size_t)c->task_channels[t] * hc);
        h->cls_b = bump_take(b, (size_t)c->task_channels[t]);
    }
}

uint64_t em_config_n_params(const em_config *c) {
    em_weights w;
    bump b = {0};
    carve(c, &w, &b);
    return b.params;
}

/* A tensor at base + off (base NULL in a plan: no arena, data NULL). */
static void add_tensor(em_model *m, float *base, size_t off, int ndim, int d0, int d1, int d2, int d3,
                       const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void add_tensor(em_model *m, float *base, size_t off, int ndim, int d0, int d1, int d2, int d3,
                       const char *fmt, ...) {
    em_tensor *t = &m->tensors[m->n_tensors++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    int d[4] = {d0, d1, d2, d3};
    t->ndim = ndim; t->numel = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? d[i] : 0;
        if (i < ndim) t->numel *= (size_t)d[i];
    }
    t->data = base ? base + off : NULL;
}

static void build_table(em_model *m) {
    const em_config *c = &m->cfg;
    em_weights *w = &m->w;
    int D = c->dim, N = c->n_tok, H = c->mlp_hidden, E = c->n_experts, He = c->expert_hidden;
    int P = c->patch, hc = c->head_ch;
    m->n_tensors = 0;
    add_tensor(m, w->patch_w, 0, 4, D, c->img_c, P, P, "patch_embed_weight");
    add_tensor(m, w->patch_b, 0, 1, D, 0, 0, 0, "patch_embed_bias");
    add_tensor(m, w->pos_embed, 0, 2, N, D, 0, 0, "pos_embed");
    for (int L = 0; L < c->depth; L++) {
        size_t l = (size_t)L;
        add_tensor(m, w->ln1_w, l * D, 1, D, 0, 0, 0, "l%d_norm1_weight", L);
        add_tensor(m, w->ln1_b, l * D, 1, D, 0, 0, 0, "l%d_norm1_bias", L);
        add_tensor(m, w->qkv_w, l * 3 * D * D, 2, 3 * D, D, 0, 0, "l%d_qkv_weight", L);
        add_tensor(m, w->qkv_b, l * 3 * D, 1, 3 * D, 0, 0, 0, "l%d_qkv_bias", L);
        add_tensor(m, w->proj_w, l * D * D, 2, D, D, 0, 0, "l%d_attn_proj_weight", L);
        add_tensor(m, w->proj_b, l * D, 1, D, 0, 0, 0, "l%d_attn_proj_bias", L);
        add_tensor(m, w->ln2_w, l * D, 1, D, 0, 0, 0, "l%d_norm2_weight", L);
        add_tensor(m, w->ln2_b, l * D, 1, D, 0, 0, 0, "l%d_norm2_bias", L);
        if (!em_is_moe(c, L)) {
            size_t i = (size_t)em_dense_index(c, L);
            add_tensor(m, w->fc1_w, i * H * D, 2, H, D, 0, 0, "l%d_fc1_weight", L);
            add_tensor(m, w->fc1_b, i * H, 1, H, 0, 0, 0, "l%d_fc1_bias", L);
            add_tensor(m, w->fc2_w, i * D * H, 2, D, H, 0, 0, "l%d_fc2_weight", L);
            add_tensor(m, w->fc2_b, i * D, 1, D, 0, 0, 0, "l%d_fc2_bias", L);
        } else {
            size_t i = (size_t)em_moe_index(c, L);
            for (int t = 0; t < c->n_tasks; t++)
                add_tensor(m, w->gate_w, ((i * c->n_tasks + t) * E) * D, 2, E, D, 0, 0,
                           "l%d_w_gate_T_task%d", L, t);
            add_tensor(m, w->exp1_w, i * E * He * D, 3, E, He, D, 0, "l%d_htoh4_weight", L);
            add_tensor(m, w->exp1_b, i * E * He, 2, E, He, 0, 0, "l%d_htoh4_bias", L);
            add_tensor(m, w->exp2_w, i * E * D * He, 3, E, D, He, 0, "l%d_h4toh_weight", L);
            add_tensor(m, w->exp2_b, i * E * D, 2, E, D, 0, 0, "l%d_h4toh_bias", L);
        }
    }
    for (int t = 0; t < c->n_tasks; t++) {
        em_head_weights *h = &w->head[t];
        const char *tn = c->task_name[t];
        add_tensor(m, h->norm_w, 0, 1, D, 0, 0, 0, "head_%s_norm_weight", tn);
        add_tensor(m, h->norm_b, 0, 1, D, 0, 0, 0, "head_%s_norm_bias", tn);
        for (int i = 0; i < 4; i++) {
            add_tensor(m, h->conv_w[i], 0, 4, hc, i == 0 ? D : hc, 3, 3, "head_%s_conv%d_weight", tn, i);
            add_tensor(m, h->conv_b[i], 0, 1, hc, 0, 0, 0, "head_%s_conv%d_bias", tn, i);
            add_tensor(m, h->bn_w[i], 0, 1, hc, 0, 0, 0, "head_%s_bn%d_weight", tn, i);
            add_tensor(m, h->bn_b[i], 0, 1, hc, 0, 0, 0, "head_%s_bn%d_bias", tn, i);
            add_tensor(m, h->bn_mean[i], 0, 1, hc, 0, 0, 0, "head_%s_bn%d_running_mean", tn, i);
            add_tensor(m, h->bn_var[i], 0, 1, hc, 0, 0, 0, "head_%s_bn%d_running_var", tn, i);
        }
        add_tensor(m, h->cls_w, 0, 4, c->task_channels[t], hc, 1, 1, "head_%s_conv4_weight", tn);
        add_tensor(m, h->cls_b, 0, 1, c->task_channels[t], 0, 0, 0, "head_%s_conv4_bias", tn);
    }
}

/* The weight arena: 64-byte aligned; one of some MB in 2 MB pages where the
 * kernel offers them on request (transparent huge pages "madvise"), so that
 * filling it takes a few page faults instead of one per 4 KB (a model load
 * of the default config: 0.33 -> 0.08 s on this project's 2-core VM). */
static float *arena_alloc(size_t floats, size_t *bytes_out) {
    const size_t huge = (size_t)2 << 20;
    size_t bytes = floats * sizeof(float);
    if (bytes < 2 * huge) { *bytes_out = bytes; return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }
    bytes = (bytes + huge - 1) & ~(huge - 1);
    float *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: without it, 4 KB pages */
#endif
    *bytes_out = bytes;
    return p;
}

/* The tensor table of cfg; with arena, the weights are carved out of it. */
static int model_build(em_model *m, const em_config *cfg, int with_arena, em_err *err) {
    memset(m, 0, sizeof *m);
    int rc = em_config_check(cfg, err);
    if (rc) return rc;
    m->cfg = *cfg;
    bump b = {0};
    carve(cfg, &m->w, &b);
    if (b.params > EM_LIMIT_PARAMS)
        return em_error(err, EM_ESHAPE, "the config has %zu weights, more than the limit of %llu (EM_LIMIT_PARAMS)",
                        b.params, (unsigned long long)EM_LIMIT_PARAMS);
    size_t arena_bytes = 0;
    if (with_arena) m->arena = arena_alloc(b.used, &arena_bytes);
    int max_tensors = 3 + cfg->depth * (8 + 4 + cfg->n_tasks) + cfg->n_tasks * (2 + 4 * 6 + 2);
    m->tensors = calloc((size_t)max_tensors, sizeof *m->tensors);
    if ((with_arena && !m->arena) || !m->tensors) {
        free(m->arena); free(m->tensors); memset(m, 0, sizeof *m);
        return em_error(err, EM_ENOMEM, "out of memory allocating %zu MB of weights", b.used * 4 >> 20);
    }
    if (with_arena) {
        memset(m->arena, 0, arena_bytes);
        m->arena_floats = b.used;
        b = (bump){m->arena, 0, m->arena_floats, 0};
        carve(cfg, &m->w, &b);
    }
    build_table(m);
    return EM_OK;
}

int em_model_alloc(em_model *m, const em_config *cfg, em_err *err) { return model_build(m, cfg, 1, err); }
int em_model_plan(em_model *m, const em_config *cfg, em_err *err) { return model_build(m, cfg, 0, err); }

void em_model_free(em_model *m) {
    if (!m) return;
    free(m->arena);
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

em_tensor *em_model_find(em_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

int em_model_check_finite(const em_model *m, em_err *err) {
    for (int i = 0; i < m->n_tensors; i++) {
        const em_tensor *t = &m->tensors[i];
        for (size_t j = 0; j < t->numel; j++)
            if (!isfinite(t->data[j]))
                return em_error(err, EM_EVALUE, "%s: tensor %s has a non-finite value (%g) at index %zu",
                                m->source, t->name, t->data[j], j);
    }
    return EM_OK;
}

/* ---- Edge-MoE directory layout: one <name>.float32.bin per tensor ---- */

static void shape_str(const em_tensor *t, char *buf, size_t n) {
    int k = 0;
    for (int i = 0; i < t->ndim && k < (int)n; i++)
        k += snprintf(buf + k, n - k, "%s%d", i ? " x " : "", t->shape[i]);
}

/* One tensor of the Edge-MoE directory layout: raw float32, exact size, finite. */
static int load_tensor_file(em_tensor *t, const char *path, em_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return em_error(err, EM_EIO, "%s: cannot open (%s): missing tensor %s", path, strerror(errno), t->name);
    int fd = em_open_input(path, "tensor", &st, err);
    if (fd < 0) return EM_EIO;
    char shp[64];
    shape_str(t, shp, sizeof shp);
    if ((size_t)st.st_size != t->numel * 4) {
        close(fd);
        return em_error(err, EM_ESHAPE, "%s: %lld bytes, expected %zu (%s float32)", path, (long long)st.st_size,
                        t->numel * 4, shp);
    }
    size_t want = t->numel * 4, got = 0;
    while (got < want) {
        ssize_t n = read(fd, (char *)t->data + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != want) return em_error(err, EM_EIO, "%s: short read (%zu of %zu floats)", path, got / 4, t->numel);
    for (size_t j = 0; j < t->numel; j++)
        if (!isfinite(t->data[j]))
            return em_error(err, EM_EVALUE, "%s: non-finite value (%g) at index %zu", path, t->data[j], j);
    return EM_OK;
}

int em_model_load_dir(em_model *m, const char *dir, em_err *err) {
    em_config cfg;
    em_config_default(&cfg);
    int rc = em_model_alloc(m, &cfg, err);
    if (rc) return rc;
    if ((size_t)snprintf(m->source, sizeof m->source, "%s", dir) >= sizeof m->source) {
        rc = em_error(err, EM_EARG, "%s: model path too long", dir);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        em_tensor *t = &m->tensors[i];
        char *path = em_strfmt("%s/%s.float32.bin", dir, t->name);
        if (!path) { rc = em_error(err, EM_ENOMEM, "out of memory"); goto fail; }
        rc = load_tensor_file(t, path, err);
        free(path);
        if (rc) goto fail;
    }
    return EM_OK;
fail:
    em_model_free(m);
    return rc;
}

int em_model_load(em_model *m, const char *path, em_err *err) {
    struct stat st;
    if (stat(path, &st) != 0)
        return em_error(err, EM_EIO, "%s: cannot open model (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return em_model_load_dir(m, path, err);
    return em_model_load_safetensors(m, path, err);
}

/* ---- deterministic synthetic model ---- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a): fine for an untrained model and exactly reproducible. */
static void fill_uniform(float *p, size_t n, float center, float a, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        double u = (splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
        p[i] = center + (float)((2 * u - 1) * a);
    }
}

int em_model_synthetic(em_model *m, const em_config *cfg, uint64_t seed, em_err *err) {
    int rc = em_model_alloc(m, cfg, err);
    if (rc) return rc;
    snprintf(m->source, sizeof m->source, "synthetic(seed=%llu)", (unsigned long long)seed);
    uint64_t s = seed;
    for (int i = 0; i < m->n_tensors; i++) {
        em_tensor *t = &m->tensors[i];
        const char *n = t->name;
        /* fan-in scaled so activations keep O(1) magnitudes through 12 blocks */
        int fan_in = t->ndim >= 2 ? (int)(t->numel / t->shape[0]) : 1;
        float a = sqrtf(3.0f / (float)fan_in);
        if (strstr(n, "running_var")) fill_uniform(t->data, t->numel, 1.0f, 0.5f, &s);
        else if (strstr(n, "norm") && strstr(n, "weight")) fill_uniform(t->data, t->numel, 1.0f, 0.1f, &s);
        else if (strstr(n, "bn") && strstr(n, "weight")) fill_uniform(t->data, t->numel, 1.0f, 0.1f, &s);
        else if (t->ndim == 1 || strstr(n, "_bias") || strstr(n, "running_mean"))
            fill_uniform(t->data, t->numel, 0.0f, 0.05f, &s);
        else if (strstr(n, "pos_embed")) fill_uniform(t->data, t->numel, 0.0f, 0.5f, &s);
        else if (strstr(n, "w_gate")) fill_uniform(t->data, t->numel, 0.0f, 4 * a, &s);
        else if (strstr(n, "proj") || strstr(n, "fc2") || strstr(n, "h4toh"))
            fill_uniform(t->data, t->numel, 0.0f, 0.5f * a, &s);
        else if (strstr(n, "head_") && strstr(n, "conv")) fill_uniform(t->data, t->numel, 0.0f, 1.41f * a, &s);
        else fill_uniform(t->data, t->numel, 0.0f, a, &s);
    }
    return EM_OK;
}

/* ---- heap handle (bindings, tools) ---- */

/* The build bakes in the source tree's models/ (Makefile); EDGEMOE_MODEL
 * points a relocated binary or a user at another file. */
#ifndef EM_MODEL_DIR
#define EM_MODEL_DIR "models"
#endif

const char *em_default_model_path(void) {
    const char *env = getenv("EDGEMOE_MODEL");
    return env && *env ? env : EM_MODEL_DIR "/" EM_DEFAULT_MODEL_FILE;
}

em_model *em_model_open(const char *path, em_err *err) {
    em_model *m = calloc(1, sizeof *m);
    if (!m) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    int rc;
    if (path && !strcmp(path, "synthetic")) {
        em_config cfg;
        em_config_default(&cfg);
        rc = em_model_synthetic(m, &cfg, EM_SYNTHETIC_SEED, err);
    } else if (!path) {
        rc = em_model_load(m, em_default_model_path(), err);
        if (rc) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            em_error(err, rc, "default model: %s (set EDGEMOE_MODEL, or use --model synthetic)", why);
        }
    } else {
        rc = em_model_load(m, path, err);
    }
    if (rc) { free(m); return NULL; }
    return m;
}

void em_model_close(em_model *m) {
    if (!m) return;
    em_model_free(m);
    free(m);
}
