/* .safetensors reader and writer (docs/safetensors.md).
 *
 * File: 8-byte little-endian header length n, n bytes of JSON header, then the
 * data buffer.  The header maps tensor names to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the data buffer) plus an
 * optional "__metadata__" object of string values.  The reader maps the file,
 * validates the whole header before using any of it, takes the config from the
 * "edgemoe.config" metadata (or infers it from the shapes), then copies every
 * tensor into a freshly allocated model, converting F16 / BF16 to float. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "util.h"
#include "model/config_json.h"

#define ST_MAX_HEADER (100u << 20)   /* 100 MB */
#define ST_MAX_DIMS 8
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: JSON numbers above are not exact */

enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2 };
static const char *const k_dtype_name[] = {"F32", "F16", "BF16"};
static const size_t k_dtype_size[] = {4, 2, 2};

typedef struct {
    const char *name;   /* points into the cJSON tree */
    int dtype, ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;
    int used;
} st_entry;

typedef struct {
    cJSON *root;
    st_entry *e;        /* sorted by name */
    int n;
    const cJSON *meta;  /* __metadata__ or NULL */
    const uint8_t *data;
    uint64_t data_size;
} st_header;

/* ---- small helpers ---- */

static int host_is_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint64_t rd_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void shape_fmt(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = 0;
    buf[0] = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static const st_entry *find_entry(const st_header *h, const char *name) {
    st_entry key;
    key.name = name;
    return bsearch(&key, h->e, (size_t)h->n, sizeof *h->e, cmp_entry_name);
}

/* JSON number that is an exact non-negative integer <= 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_EXACT && d == floor(d))) return 0;
    *out = (uint64_t)d;
    return 1;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (ex == 0) {                       /* zero or subnormal: man * 2^-24, exact */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (ex == 31) bits = sign | 0x7f800000u | (man << 13);   /* inf, nan (payload kept) */
    else bits = sign | ((ex + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- header parsing and validation ---- */

static void header_free(st_header *h) {
    if (h->root) cJSON_Delete(h->root);
    free(h->e);
    memset(h, 0, sizeof *h);
}

static int parse_entry(const char *path, const cJSON *it, st_entry *e, uint64_t data_size, em_err *err) {
    const char *nm = it->string;
    e->name = nm;
    if (nm[0] == 0) return em_error(err, EM_EFORMAT, "%s: tensor with an empty name", path);
    if (!cJSON_IsObject(it))
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: entry is not a JSON object", path, nm);
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *f = it->child; f; f = f->next) {
        const cJSON **slot = !strcmp(f->string, "dtype") ? &dt : !strcmp(f->string, "shape") ? &sh
                           : !strcmp(f->string, "data_offsets") ? &off : NULL;
        if (!slot)
            return em_error(err, EM_EFORMAT, "%s: tensor %.64s: unknown key \"%.32s\"", path, nm, f->string);
        if (*slot)
            return em_error(err, EM_EFORMAT, "%s: tensor %.64s: key \"%s\" appears twice", path, nm, f->string);
        *slot = f;
    }
    if (!dt || !sh || !off)
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: missing \"%s\"", path, nm,
                        !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt))
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: dtype is not a string", path, nm);
    e->dtype = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(dt->valuestring, k_dtype_name[i])) e->dtype = i;
    if (e->dtype < 0)
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s has unsupported dtype %.16s (F32, F16 and BF16 are accepted)",
                        path, nm, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: shape is not an array", path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s has %d dimensions (at most %d)", path, nm, nd, ST_MAX_DIMS);
    e->ndim = 0;
    e->numel = 1;
    int overflow = 0;
    for (const cJSON *v = sh->child; v; v = v->next) {
        uint64_t d;
        if (!json_uint(v, &d))
            return em_error(err, EM_EFORMAT, "%s: tensor %.64s: shape entry %d is not a non-negative integer",
                            path, nm, e->ndim);
        e->shape[e->ndim++] = (int64_t)d;
        if (d != 0 && e->numel > SIZE_MAX / d) overflow = 1;
        else e->numel *= (size_t)d;
    }
    size_t dsz = k_dtype_size[e->dtype];
    if (overflow || e->numel > SIZE_MAX / dsz) {
        char s[160];
        shape_fmt(s, sizeof s, e->ndim, e->shape);
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: shape %s overflows the size computation", path, nm, s);
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_uint(off->child, &e->begin) || !json_uint(off->child->next, &e->end))
        return em_error(err, EM_EFORMAT, "%s: tensor %.64s: data_offsets is not [begin, end] of non-negative integers",
                        path, nm);
    if (e->begin > e->end || e->end > data_size)
        return em_error(err, EM_EFORMAT,
                        "%s: tensor %.64s: data_offsets [%llu,%llu] out of range (data buffer is %llu bytes%s)",
                        path, nm, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)data_size, e->begin <= e->end ? ": file truncated?" : "");
    uint64_t want = (uint64_t)e->numel * dsz;
    if (e->end - e->begin != want) {
        char s[160];
        shape_fmt(s, sizeof s, e->ndim, e->shape);
        return em_error(err, EM_EFORMAT,
                        "%s: tensor %.64s: data_offsets [%llu,%llu] hold %llu bytes, but shape %s of %s needs %llu",
                        path, nm, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin), s, k_dtype_name[e->dtype],
                        (unsigned long long)want);
    }
    return EM_OK;
}

static int cmp_entry_ptr_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int header_parse(const char *path, const uint8_t *base, uint64_t size, st_header *h, em_err *err) {
    memset(h, 0, sizeof *h);
    if (size < 8)
        return em_error(err, EM_EIO, "%s: truncated: %llu bytes, too short for the 8-byte header length",
                        path, (unsigned long long)size);
    uint64_t hlen = rd_le64(base);
    if (hlen > size - 8)
        return em_error(err, EM_EIO, "%s: truncated or corrupt: header length %llu larger than the file (%llu bytes)",
                        path, (unsigned long long)hlen, (unsigned long long)size);
    if (hlen < 2 || hlen > ST_MAX_HEADER)
        return em_error(err, EM_EFORMAT, "%s: implausible header length %llu (2 .. %u bytes allowed)",
                        path, (unsigned long long)hlen, ST_MAX_HEADER);
    const char *js = (const char *)base + 8, *end = NULL;
    long nul = em_json_nul_escape(js, (size_t)hlen);
    if (nul >= 0)
        return em_error(err, EM_EFORMAT, "%s: header has an escaped NUL character (\\u0000) at byte %ld", path, nul);
    h->root = cJSON_ParseWithLengthOpts(js, (size_t)hlen, &end, 0);
    if (!h->root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = (at && at >= js && at <= js + hlen) ? (long)(at - js) : -1;
        return em_error(err, EM_EFORMAT, "%s: header is not valid JSON (error near byte %ld of %llu)",
                        path, pos, (unsigned long long)hlen);
    }
    for (const char *p = end; p && p < js + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            int rc = em_error(err, EM_EFORMAT, "%s: header has data after the JSON object (byte %ld of %llu)",
                              path, (long)(p - js), (unsigned long long)hlen);
            header_free(h);
            return rc;
        }
    int rc = EM_OK;
    if (!cJSON_IsObject(h->root)) {
        rc = em_error(err, EM_EFORMAT, "%s: header is JSON but not an object", path);
        goto fail;
    }
    h->data = base + 8 + hlen;
    h->data_size = size - 8 - hlen;
    int n = 0;
    for (const cJSON *it = h->root->child; it; it = it->next) n++;
    h->e = calloc((size_t)(n ? n : 1), sizeof *h->e);
    if (!h->e) { rc = em_error(err, EM_ENOMEM, "%s: out of memory for %d header entries", path, n); goto fail; }
    for (const cJSON *it = h->root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            if (h->meta) { rc = em_error(err, EM_EFORMAT, "%s: __metadata__ appears twice", path); goto fail; }
            if (!cJSON_IsObject(it)) {
                rc = em_error(err, EM_EFORMAT, "%s: __metadata__ is not an object", path);
                goto fail;
            }
            for (const cJSON *v = it->child; v; v = v->next)
                if (!cJSON_IsString(v)) {
                    rc = em_error(err, EM_EFORMAT, "%s: __metadata__ value \"%.64s\" is not a string", path, v->string);
                    goto fail;
                }
            h->meta = it;
            continue;
        }
        rc = parse_entry(path, it, &h->e[h->n], h->data_size, err);
        if (rc) goto fail;
        h->n++;
    }
    qsort(h->e, (size_t)h->n, sizeof *h->e, cmp_entry_name);
    for (int i = 1; i < h->n; i++)
        if (!strcmp(h->e[i].name, h->e[i - 1].name)) {
            rc = em_error(err, EM_EFORMAT, "%s: tensor %.64s appears twice in the header", path, h->e[i].name);
            goto fail;
        }
    /* Overlaps: sort by begin, each non-empty range must start at or after
     * the furthest end seen so far. */
    if (h->n > 1) {
        const st_entry **by = malloc((size_t)h->n * sizeof *by);
        if (!by) { rc = em_error(err, EM_ENOMEM, "%s: out of memory", path); goto fail; }
        for (int i = 0; i < h->n; i++) by[i] = &h->e[i];
        qsort(by, (size_t)h->n, sizeof *by, cmp_entry_ptr_begin);
        const st_entry *last = NULL;
        for (int i = 0; i < h->n; i++) {
            if (by[i]->begin == by[i]->end) continue;
            if (last && by[i]->begin < last->end) {
                rc = em_error(err, EM_EFORMAT,
                              "%s: tensors %.64s [%llu,%llu] and %.64s [%llu,%llu] overlap in the data buffer",
                              path, last->name, (unsigned long long)last->begin, (unsigned long long)last->end,
                              by[i]->name, (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
                free(by);
                goto fail;
            }
            if (!last || by[i]->end > last->end) last = by[i];
        }
        free(by);
    }
    return EM_OK;
fail:
    header_free(h);
    return rc;
}

/* ---- config: metadata, else inferred from the shapes ---- */

static int64_t dim_of(const st_header *h, const char *name, int ndim, int i) {
    const st_entry *e = find_entry(h, name);
    if (!e || e->ndim != ndim || e->shape[i] > INT_MAX) return -1;
    return e->shape[i];
}

/* "l<digits><suffix>" -> layer number, else -1. */
static int layer_of(const char *name, const char *suffix) {
    if (name[0] != 'l' || name[1] < '0' || name[1] > '9') return -1;
    int L = 0, k = 1;
    if (name[1] == '0' && name[2] >= '0' && name[2] <= '9') return -1;   /* no leading zeros */
    while (name[k] >= '0' && name[k] <= '9' && k < 5) L = L * 10 + (name[k++] - '0');
    return strcmp(name + k, suffix) == 0 ? L : -1;
}

static int task_rank(const char *s) { return !strcmp(s, "semseg") ? 0 : !strcmp(s, "depth") ? 1 : 2; }
static int cmp_task(const void *a, const void *b) {
    const char *x = a, *y = b;
    int rx = task_rank(x), ry = task_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

static void infer_config(const st_header *h, em_config *c) {
    em_config_default(c);
    int64_t v;
    if ((v = dim_of(h, "pos_embed", 2, 0)) > 0) c->n_tok = (int)v;
    if ((v = dim_of(h, "pos_embed", 2, 1)) > 0) c->dim = (int)v;
    if ((v = dim_of(h, "patch_embed_weight", 4, 1)) > 0) c->img_c = (int)v;
    if ((v = dim_of(h, "patch_embed_weight", 4, 2)) > 0) c->patch = (int)v;
    /* image: 128 x 256 when it fits the token count, else the 1:2 (then the
     * square) grid that does */
    int np = c->n_tok - 1;
    if (np > 0 && c->patch > 0 && np != (128 / c->patch) * (256 / c->patch)) {
        int gh = 0, gw = 0;
        for (int g = 1; g <= 4096 && 2 * g * g <= np; g++) if (2 * g * g == np) { gh = g; gw = 2 * g; }
        if (!gh) for (int g = 1; g <= 4096 && g * g <= np; g++) if (g * g == np) gh = gw = g;
        if (gh && (int64_t)gw * c->patch <= 4096) { c->img_h = gh * c->patch; c->img_w = gw * c->patch; }
    }
    if (c->patch > 0) { c->grid_h = c->img_h / c->patch; c->grid_w = c->img_w / c->patch; }
    if (c->dim % 64 == 0) { c->n_heads = c->dim / 64; c->head_dim = 64; }
    else { c->n_heads = 1; c->head_dim = c->dim; }
    int depth = 0;
    for (int i = 0; i < h->n; i++) {
        int L = layer_of(h->e[i].name, "_norm1_weight");
        if (L >= 0 && L + 1 > depth) depth = L + 1;
    }
    if (depth > 0) c->depth = depth;
    /* MoE blocks: those with experts (when any block has them) */
    uint32_t moe = 0;
    for (int i = 0; i < h->n; i++) {
        int L = layer_of(h->e[i].name, "_htoh4_weight");
        if (L >= 0 && L < 32) moe |= 1u << L;
    }
    uint32_t below = depth >= 32 ? 0xFFFFFFFFu : (1u << depth) - 1u;
    if (moe && moe != (EM_MOE_ODD & below)) c->moe_layers = moe;   /* else the default */
    char first_dense[32] = "l0_fc1_weight", first_moe[32] = "l1_htoh4_weight";
    for (int L = c->depth - 1; L >= 0; L--) {
        if (em_is_moe(c, L)) snprintf(first_moe, sizeof first_moe, "l%d_htoh4_weight", L);
        else snprintf(first_dense, sizeof first_dense, "l%d_fc1_weight", L);
    }
    if ((v = dim_of(h, first_dense, 2, 0)) > 0) c->mlp_hidden = (int)v;
    if ((v = dim_of(h, first_moe, 3, 0)) > 0) c->n_experts = (int)v;
    if ((v = dim_of(h, first_moe, 3, 1)) > 0) c->expert_hidden = (int)v;
    /* tasks: head_<name>_conv4_weight */
    char names[EM_MAX_TASKS][EM_NAME_LEN];
    int nh = 0;
    for (int i = 0; i < h->n && nh < EM_MAX_TASKS; i++) {
        const char *s = h->e[i].name;
        size_t len = strlen(s), pre = 5, suf = strlen("_conv4_weight");
        if (len <= pre + suf || strncmp(s, "head_", pre) || strcmp(s + len - suf, "_conv4_weight")) continue;
        if (len - pre - suf >= EM_NAME_LEN) continue;
        memcpy(names[nh], s + pre, len - pre - suf);
        names[nh][len - pre - suf] = 0;
        nh++;
    }
    int ng = 0;
    for (; ng < EM_MAX_TASKS; ng++) {
        char g[64];
        snprintf(g, sizeof g, "%.*s_w_gate_T_task%d", (int)(strlen(first_moe) - strlen("_htoh4_weight")), first_moe, ng);
        if (!find_entry(h, g)) break;
    }
    if (nh > 0) {
        qsort(names, (size_t)nh, sizeof names[0], cmp_task);
        memset(c->task_name, 0, sizeof c->task_name);
        c->n_tasks = nh;
        for (int t = 0; t < nh; t++) {
            char key[96];
            strcpy(c->task_name[t], names[t]);
            snprintf(key, sizeof key, "head_%.31s_conv4_weight", names[t]);
            c->task_channels[t] = (v = dim_of(h, key, 4, 0)) > 0 ? (int)v : 1;
        }
        char key[96];
        snprintf(key, sizeof key, "head_%.31s_conv0_weight", names[0]);
        if ((v = dim_of(h, key, 4, 0)) > 0) c->head_ch = (int)v;
    } else if (ng > 0) {
        c->n_tasks = ng;   /* no heads: the tensor check will name the missing ones */
        for (int t = 2; t < ng; t++) {
            snprintf(c->task_name[t], EM_NAME_LEN, "task%d", t & 0xff);
            c->task_channels[t] = 1;
        }
    }
}

/* ---- load ---- */

static void copy_convert(float *dst, const uint8_t *src, size_t n, int dtype) {
    if (dtype == DT_F32) {
        memcpy(dst, src, n * 4);
        if (!host_is_le())
            for (size_t i = 0; i < n; i++) {
                uint32_t b;
                memcpy(&b, dst + i, 4);
                b = __builtin_bswap32(b);
                memcpy(dst + i, &b, 4);
            }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = dtype == DT_F16 ? f16_to_f32(v) : bf16_to_f32(v);
    }
}

int em_model_load_safetensors(em_model *m, const char *path, em_err *err) {
    if (!m || !path) return em_error(err, EM_EARG, "em_model_load_safetensors: NULL argument");
    memset(m, 0, sizeof *m);
    struct stat st;
    int fd = em_open_input(path, "model", &st, err);
    if (fd < 0) return EM_EIO;
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        return em_error(err, EM_EIO, "%s: truncated: %llu bytes, too short for the 8-byte header length",
                        path, (unsigned long long)size);
    }
    if (size > SIZE_MAX) {
        close(fd);
        return em_error(err, EM_EIO, "%s: too large to map", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return em_error(err, EM_EIO, "%s: cannot map (%s)", path, strerror(map_errno));

    st_header h;
    int rc = header_parse(path, map, size, &h, err);
    if (rc) goto out;

    em_config cfg;
    infer_config(&h, &cfg);
    const cJSON *mc = h.meta ? cJSON_GetObjectItemCaseSensitive(h.meta, "edgemoe.config") : NULL;
    if (mc) {
        em_err sub;
        sub.msg[0] = 0;
        rc = em_config_from_json(mc->valuestring, &cfg, &sub);
        if (rc) { rc = em_error(err, rc, "%s: __metadata__ edgemoe.config: %s", path, sub.msg); goto out; }
    }
    {
        em_err sub;
        sub.msg[0] = 0;
        rc = em_config_check(&cfg, &sub);
        if (rc) {
            rc = em_error(err, rc, "%s: %s (config %s)", path, sub.msg,
                          mc ? "from __metadata__ edgemoe.config" : "inferred from the tensor shapes");
            goto out;
        }
    }
    {   /* names and shapes only: no memory for the weights before the file is known to hold them */
        em_err sub;
        sub.msg[0] = 0;
        rc = em_model_plan(m, &cfg, &sub);
        if (rc) { rc = em_error(err, rc, "%s: %s", path, sub.msg); goto out; }
    }
    /* Every tensor of the model: present, with exactly its shape. */
    for (int i = 0; i < m->n_tensors; i++) {
        const em_tensor *t = &m->tensors[i];
        st_entry *e = (st_entry *)find_entry(&h, t->name);
        if (!e) { rc = em_error(err, EM_ESHAPE, "%s: missing tensor %s", path, t->name); goto out; }
        int same = e->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
        if (!same) {
            char got[160], want[160];
            int64_t ws[4];
            for (int d = 0; d < t->ndim; d++) ws[d] = t->shape[d];
            shape_fmt(got, sizeof got, e->ndim, e->shape);
            shape_fmt(want, sizeof want, t->ndim, ws);
            rc = em_error(err, EM_ESHAPE, "%s: tensor %s has shape %s, expected %s", path, t->name, got, want);
            goto out;
        }
        e->used = 1;
    }
    int n_unknown = 0;
    char list[200] = "";
    for (int i = 0; i < h.n; i++) {
        if (h.e[i].used) continue;
        if (n_unknown < 4) {
            size_t k = strlen(list);
            snprintf(list + k, sizeof list - k, "%s%.40s", n_unknown ? ", " : "", h.e[i].name);
        }
        n_unknown++;
    }
    if (n_unknown) {
        rc = em_error(err, EM_EFORMAT, "%s: %d unknown tensor%s (not part of this config): %s%s", path, n_unknown,
                      n_unknown > 1 ? "s" : "", list, n_unknown > 4 ? ", ..." : "");
        goto out;
    }
    {   /* the file holds every weight of the config: now the arena */
        em_err sub;
        sub.msg[0] = 0;
        em_model_free(m);
        rc = em_model_alloc(m, &cfg, &sub);
        if (rc) { rc = em_error(err, rc, "%s: %s", path, sub.msg); goto out; }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        em_tensor *t = &m->tensors[i];
        const st_entry *e = find_entry(&h, t->name);
        copy_convert(t->data, h.data + e->begin, t->numel, e->dtype);
    }
    snprintf(m->source, sizeof m->source, "%s", path);
    rc = em_model_check_finite(m, err);

out:
    header_free(&h);
    munmap(map, (size_t)size);
    if (rc) em_model_free(m);   /* leaves m zeroed */
    return rc;
}

/* ---- save ---- */

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

int em_model_save_safetensors(const em_model *m, const char *path, em_err *err) {
    if (!m || !path) return em_error(err, EM_EARG, "em_model_save_safetensors: NULL argument");
    if (!m->tensors || m->n_tensors <= 0) return em_error(err, EM_EARG, "%s: model has no tensors", path);
    char cfg[8192];
    if (em_config_to_json(&m->cfg, cfg, sizeof cfg) < 0)
        return em_error(err, EM_EARG, "%s: cannot encode the model config", path);

    /* header: metadata then every tensor as F32, in table order */
    cJSON *hdr = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(hdr, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "edgemoe");
    cJSON_AddStringToObject(meta, "edgemoe.config", cfg);
    uint64_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const em_tensor *t = &m->tensors[i];
        cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(t->shape, t->ndim));
        double range[2] = {(double)off, (double)(off + (uint64_t)t->numel * 4)};
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(range, 2));
        off += (uint64_t)t->numel * 4;
    }
    char *json = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    size_t jlen = json ? strlen(json) : 0, hlen = (jlen + 7) & ~(size_t)7;  /* padded with spaces */
    char *head = json ? malloc(hlen) : NULL;
    if (head) { memcpy(head, json, jlen); memset(head + jlen, ' ', hlen - jlen); }
    free(json);
    if (!head) return em_error(err, EM_ENOMEM, "%s: out of memory building the header", path);

    char tmp[4200];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) { free(head); return EM_EIO; }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = write_all(f, len8, 8) && write_all(f, head, hlen);
    free(head);
    int le = host_is_le();
    for (int i = 0; ok && i < m->n_tensors; i++) {
        const em_tensor *t = &m->tensors[i];
        if (le) { ok = write_all(f, t->data, t->numel * 4); continue; }
        uint32_t chunk[1024];
        for (size_t j = 0; ok && j < t->numel; j += 1024) {
            size_t k = t->numel - j < 1024 ? t->numel - j : 1024;
            memcpy(chunk, t->data + j, k * 4);
            for (size_t q = 0; q < k; q++) chunk[q] = __builtin_bswap32(chunk[q]);
            ok = write_all(f, chunk, k * 4);
        }
    }
    int e = errno;
    if (ok && fflush(f) != 0) { ok = 0; e = errno; }
    if (ok && fsync(fileno(f)) != 0 && errno != EINVAL) { ok = 0; e = errno; }
    if (!ok) {
        em_tmp_abort(f, tmp);
        return em_error(err, EM_EIO, "%s: write failed (%s)", path, strerror(e));
    }
    return em_tmp_commit(f, tmp, path, err);
}
