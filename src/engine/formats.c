/* Format sets of the fixed-point datapath (docs/formats.md): the original,
 * named presets, a JSON loader and the limits the engines can represent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
#include "util.h"

/* The quantities of a set, by JSON key, in struct order. */
static const struct { const char *key; size_t off; } qty[] = {
    {"fm", offsetof(em_formats, fm)}, {"wt", offsetof(em_formats, wt)}, {"bqk", offsetof(em_formats, bqk)},
    {"b5", offsetof(em_formats, b5)}, {"pw", offsetof(em_formats, pw)}, {"pix", offsetof(em_formats, pix)},
};
#define NQTY ((int)(sizeof qty / sizeof *qty))
static em_fxfmt *q_of(em_formats *f, int k) { return (em_fxfmt *)((char *)f + qty[k].off); }
static const em_fxfmt *cq_of(const em_formats *f, int k) { return (const em_fxfmt *)((const char *)f + qty[k].off); }

void em_formats_original(em_formats *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "original");
    f->fm = (em_fxfmt){32, 10};
    f->wt = (em_fxfmt){16, 2};
    f->bqk = (em_fxfmt){16, 7};
    f->b5 = (em_fxfmt){16, 5};
    f->pw = (em_fxfmt){16, 0};
    f->pix = (em_fxfmt){8, 0};
}

/* Presets: the original, then narrower feature maps, 8-bit weights, and
 * mixes.  Integer bits from the wrap counters on val scenes: fm needs 8
 * (I = 7 wraps in the softmax sums, attention scores and LayerNorm;
 * docs/formats.md); fm16 keeps 6 to show what too few do.  Biases and
 * patch weights in 8 bits take their ranges from the shipped model
 * (|qkv/proj bias| < 0.08, |LN weight| < 1.1, |patch weight| < 0.09).
 * Unset quantities (w == 0) keep the original. */
static const struct { const char *name; em_fxfmt fm, wt, bqk, b5, pw; } presets[] = {
    {"original", {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"fm24", {24, 8}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"fm22", {22, 8}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"fm20", {20, 8}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"fm18", {18, 8}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"fm16", {16, 6}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
    {"w8", {0, 0}, {8, 2}, {0, 0}, {0, 0}, {0, 0}},
    {"fm24-w8", {24, 8}, {8, 2}, {0, 0}, {0, 0}, {0, 0}},
    {"fm24-w8-b8", {24, 8}, {8, 2}, {8, -2}, {8, 2}, {8, -2}},
};
#define NPRESETS ((int)(sizeof presets / sizeof *presets))

int em_formats_preset_count(void) { return NPRESETS; }
const char *em_formats_preset_name(int i) { return i >= 0 && i < NPRESETS ? presets[i].name : NULL; }

static const char *preset_list(void)
{
    static char buf[256];
    buf[0] = 0;
    for (int i = 0; i < NPRESETS; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? ", " : "", presets[i].name);
    return buf;
}

int em_formats_preset(const char *name, em_formats *f, em_err *err)
{
    for (int i = 0; i < NPRESETS; i++) {
        if (strcmp(name, presets[i].name)) continue;
        em_formats_original(f);
        snprintf(f->name, sizeof f->name, "%s", name);
        const em_fxfmt *set[] = {&presets[i].fm, &presets[i].wt, &presets[i].bqk, &presets[i].b5, &presets[i].pw};
        for (int k = 0; k < 5; k++)
            if (set[k]->w) *q_of(f, k) = *set[k];
        return EM_OK;
    }
    return em_error(err, EM_EARG, "unknown format preset '%s' (presets: %s)", name, preset_list());
}

int em_formats_equal(const em_formats *a, const em_formats *b)
{
    for (int k = 0; k < NQTY; k++)
        if (cq_of(a, k)->w != cq_of(b, k)->w || cq_of(a, k)->i != cq_of(b, k)->i) return 0;
    return 1;
}

void em_formats_describe(const em_formats *f, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < NQTY && n < cap; k++) {
        const em_fxfmt *q = cq_of(f, k);
        int r = snprintf(buf + n, cap - n, "%s%s<%s%d,%d>", k ? " " : "", qty[k].key, k == NQTY - 1 ? "u" : "", q->w, q->i);
        if (r < 0) break;
        n += (size_t)r;
    }
}

/* What the engines can hold: fm in int32 storage, weights and biases in
 * int16, pixels in uint8; F = W - I within the shifts the datapath and the
 * fast twin's kernels use (docs/formats.md#limits). */
int em_formats_check(const em_formats *f, em_err *err)
{
    static const struct { int wmin, wmax, fmin, fmax; const char *why; } lim[] = {
        {8, 32, 8, 30, "int32 storage; exp, LayerNorm's 1/192 and GELU need F >= 8; exp's range reduction F <= 30"},
        {2, 16, 0, 16, "int16 storage; the linear kernel's 16-bit split needs 0 <= F <= 16"},
        {2, 16, 0, 30, "int16 storage"},
        {2, 16, 0, 30, "int16 storage"},
        {2, 16, 0, 30, "int16 storage"},
        {1, 8, 0, 16, "uint8 storage"},
    };
    for (int k = 0; k < NQTY; k++) {
        const em_fxfmt *q = cq_of(f, k);
        const int F = q->w - q->i;
        if (q->w < lim[k].wmin || q->w > lim[k].wmax)
            return em_error(err, EM_EARG, "formats %s: %s width %d out of range %d..%d (%s)", f->name, qty[k].key, q->w,
                            lim[k].wmin, lim[k].wmax, lim[k].why);
        if (F < lim[k].fmin || F > lim[k].fmax)
            return em_error(err, EM_EARG, "formats %s: %s<%d,%d> has %d fractional bits, out of range %d..%d (%s)", f->name,
                            qty[k].key, q->w, q->i, F, lim[k].fmin, lim[k].fmax, lim[k].why);
    }
    if (f->fm.i < 2)
        return em_error(err, EM_EARG, "formats %s: fm<%d,%d> needs at least 2 integer bits (1.0 is a constant of the softmax)",
                        f->name, f->fm.w, f->fm.i);
    const int emb = (f->pix.w - f->pix.i) + (f->pw.w - f->pw.i) - (f->fm.w - f->fm.i);
    if (emb < 0 || emb > 16)
        return em_error(err, EM_EARG, "formats %s: pixel x patch weight has %d fractional bits beyond fm's (F_pix + F_pw - F_fm "
                        "must be 0..16 for the patch-embed kernel)", f->name, emb);
    return EM_OK;
}

static int read_file(const char *path, char **out, em_err *err)
{
    FILE *fp = em_fopen_input(path, "format set", err);
    if (!fp) return EM_EIO;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) { free(buf); fclose(fp); return em_error(err, EM_EFORMAT, "%s: larger than 1 MiB", path); }
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(fp); return em_error(err, EM_ENOMEM, "out of memory"); }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, fp);
        n += r;
        if (r < 4096) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) { free(buf); return em_error(err, EM_EIO, "%s: read error", path); }
    buf[n] = 0;
    long nul = em_json_nul_escape(buf, n);
    if (nul >= 0) { free(buf); return em_error(err, EM_EFORMAT, "%s: escaped NUL character (\\u0000) at byte %ld", path, nul); }
    *out = buf;
    return EM_OK;
}

static int read_int(const cJSON *v, const char *path, const char *key, const char *sub, int *out, em_err *err)
{
    /* the range first: converting a double outside int's range is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -64 && v->valuedouble <= 64) || v->valuedouble != (double)(int)v->valuedouble)
        return em_error(err, EM_EFORMAT, "%s: %s.%s must be an integer in -64..64", path, key, sub);
    *out = (int)v->valuedouble;
    return EM_OK;
}

int em_formats_load(const char *path, em_formats *f, em_err *err)
{
    char *text = NULL;
    int rc = read_file(path, &text, err);
    if (rc) return rc;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return em_error(err, EM_EFORMAT, "%s: not a JSON object", path);
    }
    em_formats_original(f);
    /* default name: the file's stem */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(f->name, sizeof f->name, "%.*s", (int)(strcspn(base, ".") ? strcspn(base, ".") : strlen(base)), base);
    rc = EM_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (!strcmp(it->string, "name")) {
            if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) >= sizeof f->name) {
                rc = em_error(err, EM_EFORMAT, "%s: name must be a string of 1..%d characters", path, (int)sizeof f->name - 1);
                break;
            }
            snprintf(f->name, sizeof f->name, "%s", it->valuestring);
            continue;
        }
        if (!strcmp(it->string, "description") || !strcmp(it->string, "note")) continue;   /* documentation */
        int k = 0;
        while (k < NQTY && strcmp(it->string, qty[k].key)) k++;
        if (k == NQTY) {
            rc = em_error(err, EM_EFORMAT, "%s: unknown key '%s' (keys: name, fm, wt, bqk, b5, pw, pix, description)", path,
                          it->string);
            break;
        }
        if (!cJSON_IsObject(it)) { rc = em_error(err, EM_EFORMAT, "%s: %s must be an object {\"w\": W, \"i\": I}", path, it->string); break; }
        em_fxfmt q = *q_of(f, k);
        int seen_w = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, it) {
            if (!strcmp(s->string, "w")) { if ((rc = read_int(s, path, it->string, "w", &q.w, err))) break; seen_w = 1; }
            else if (!strcmp(s->string, "i")) { if ((rc = read_int(s, path, it->string, "i", &q.i, err))) break; }
            else { rc = em_error(err, EM_EFORMAT, "%s: unknown key '%s.%s' (w, i)", path, it->string, s->string); break; }
        }
        if (rc) break;
        if (!seen_w) { rc = em_error(err, EM_EFORMAT, "%s: %s needs \"w\" (its width)", path, it->string); break; }
        if (q.i > q.w) { rc = em_error(err, EM_EFORMAT, "%s: %s<%d,%d>: integer bits exceed the width", path, it->string, q.w, q.i); break; }
        *q_of(f, k) = q;
    }
    cJSON_Delete(root);
    if (rc) return rc;
    if ((rc = em_formats_check(f, err))) {
        char msg[EM_ERR_LEN];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return em_error(err, rc, "%s: %s", path, msg);
    }
    return EM_OK;
}

int em_formats_get(const char *name_or_path, em_formats *f, em_err *err)
{
    for (int i = 0; i < NPRESETS; i++)
        if (!strcmp(name_or_path, presets[i].name)) return em_formats_preset(name_or_path, f, err);
    if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".json"))
        return em_error(err, EM_EARG, "formats '%s': not a preset (%s) nor a .json file", name_or_path, preset_list());
    return em_formats_load(name_or_path, f, err);
}
