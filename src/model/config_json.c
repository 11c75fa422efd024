/* em_config <-> JSON (the "edgemoe.config" safetensors metadata). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "util.h"
#include "model/config_json.h"

/* The integer fields, in struct order, by name. */
typedef struct { const char *key; size_t off; } int_field;
#define F(x) { #x, offsetof(em_config, x) }
static const int_field k_int_fields[] = {
    F(img_c), F(img_h), F(img_w), F(patch), F(grid_h), F(grid_w), F(n_tok),
    F(dim), F(depth), F(n_heads), F(head_dim), F(mlp_hidden), F(n_experts),
    F(expert_hidden), F(top_k), F(n_tasks), F(head_ch),
};
#undef F
#define N_INT_FIELDS ((int)(sizeof k_int_fields / sizeof k_int_fields[0]))

static int *int_at(em_config *c, int i) { return (int *)((char *)c + k_int_fields[i].off); }
static int int_get(const em_config *c, int i) { return *(const int *)((const char *)c + k_int_fields[i].off); }

/* Shortest %g form that reads back as the same float (at most 9 digits). */
static void float_str(float v, char *buf, size_t n) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

int em_config_to_json(const em_config *c, char *buf, size_t n) {
    if (!c || !buf || n == 0) return EM_EARG;
    if (c->n_tasks < 0 || c->n_tasks > EM_MAX_TASKS) return EM_EARG;
    if (!isfinite(c->ln_eps) || !isfinite(c->bn_eps)) return EM_EARG;   /* JSON has no nan/inf */
    size_t len = 0;
#define PUT(...) do { \
        int w_ = snprintf(buf + len, n - len, __VA_ARGS__); \
        if (w_ < 0 || (size_t)w_ >= n - len) { buf[0] = 0; return EM_ENOMEM; } \
        len += (size_t)w_; } while (0)
    PUT("{");
    for (int i = 0; i < N_INT_FIELDS; i++)
        PUT("%s\"%s\":%d", i ? "," : "", k_int_fields[i].key, int_get(c, i));
    PUT(",\"task_name\":[");
    for (int t = 0; t < c->n_tasks; t++) {
        /* Names are [A-Za-z0-9_] when valid; escape anything else anyway so
         * the output is always JSON. */
        PUT("%s\"", t ? "," : "");
        for (int k = 0; k < EM_NAME_LEN && c->task_name[t][k]; k++) {
            unsigned char ch = (unsigned char)c->task_name[t][k];
            if (ch == '"' || ch == '\\') PUT("\\%c", ch);
            else if (ch < 0x20 || ch >= 0x7f) PUT("\\u%04x", ch);
            else PUT("%c", ch);
        }
        PUT("\"");
    }
    PUT("],\"task_channels\":[");
    for (int t = 0; t < c->n_tasks; t++) PUT("%s%d", t ? "," : "", c->task_channels[t]);
    char e1[32], e2[32];
    float_str(c->ln_eps, e1, sizeof e1);
    float_str(c->bn_eps, e2, sizeof e2);
    PUT("],\"ln_eps\":%s,\"bn_eps\":%s", e1, e2);
    /* written only when it is not the odd blocks, so that files of the
     * default pattern stay readable by readers older than the key */
    uint32_t below = c->depth >= 32 ? 0xFFFFFFFFu : c->depth <= 0 ? 0u : (1u << c->depth) - 1u;
    if ((c->moe_layers & below) != (EM_MOE_ODD & below))
        PUT(",\"moe_layers\":%lu", (unsigned long)(c->moe_layers & below));
    PUT("}");
#undef PUT
    return (int)len;
}

static int json_int(const cJSON *v, const char *key, int *out, em_err *err) {
    if (!cJSON_IsNumber(v))
        return em_error(err, EM_EFORMAT, "config key \"%s\" is not a number", key);
    double d = v->valuedouble;
    if (!(d == floor(d)) || d < INT_MIN || d > INT_MAX)
        return em_error(err, EM_EFORMAT, "config key \"%s\" = %.17g is not an integer in int range", key, d);
    *out = (int)d;
    return EM_OK;
}

static int valid_task_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= EM_NAME_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_')) return 0;
    }
    return 1;
}

int em_config_from_cjson(const struct cJSON *obj, em_config *c, em_err *err) {
    if (!cJSON_IsObject(obj)) return em_error(err, EM_EFORMAT, "config is not a JSON object");
    em_config nc = *c;
    int seen[N_INT_FIELDS] = {0};
    const cJSON *names = NULL, *chans = NULL, *ln = NULL, *bn = NULL, *moe = NULL;
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string ? it->string : "";
        int found = 0;
        for (int i = 0; i < N_INT_FIELDS; i++) {
            if (strcmp(k, k_int_fields[i].key) != 0) continue;
            if (seen[i]) return em_error(err, EM_EFORMAT, "config key \"%s\" appears twice", k);
            int rc = json_int(it, k, int_at(&nc, i), err);
            if (rc) return rc;
            seen[i] = found = 1;
            break;
        }
        if (found) continue;
        const cJSON **slot = !strcmp(k, "task_name") ? &names : !strcmp(k, "task_channels") ? &chans
                           : !strcmp(k, "ln_eps") ? &ln : !strcmp(k, "bn_eps") ? &bn
                           : !strcmp(k, "moe_layers") ? &moe : NULL;
        if (!slot) return em_error(err, EM_EFORMAT, "unknown config key \"%.64s\"", k);
        if (*slot) return em_error(err, EM_EFORMAT, "config key \"%s\" appears twice", k);
        *slot = it;
    }
    int i_ntasks = -1;
    for (int i = 0; i < N_INT_FIELDS; i++) if (!strcmp(k_int_fields[i].key, "n_tasks")) i_ntasks = i;
    if (seen[i_ntasks] && (nc.n_tasks < 1 || nc.n_tasks > EM_MAX_TASKS))
        return em_error(err, EM_EFORMAT, "config n_tasks = %d out of range 1..%d", nc.n_tasks, EM_MAX_TASKS);
    if (names) {
        if (!cJSON_IsArray(names))
            return em_error(err, EM_EFORMAT, "config key \"task_name\" is not an array");
        int len = cJSON_GetArraySize(names);
        if (!seen[i_ntasks]) {
            if (len < 1 || len > EM_MAX_TASKS)
                return em_error(err, EM_EFORMAT, "config task_name has %d entries (1..%d allowed)", len, EM_MAX_TASKS);
            nc.n_tasks = len;
        } else if (len != nc.n_tasks) {
            return em_error(err, EM_EFORMAT, "config task_name has %d entries but n_tasks = %d", len, nc.n_tasks);
        }
        int t = 0;
        memset(nc.task_name, 0, sizeof nc.task_name);
        for (const cJSON *v = names->child; v; v = v->next, t++) {
            if (!cJSON_IsString(v) || !valid_task_name(v->valuestring))
                return em_error(err, EM_EFORMAT, "config task_name[%d] is not a name of 1..%d characters [A-Za-z0-9_]",
                                t, EM_NAME_LEN - 1);
            for (int u = 0; u < t; u++)
                if (!strcmp(nc.task_name[u], v->valuestring))
                    return em_error(err, EM_EFORMAT, "config task_name \"%s\" appears twice", v->valuestring);
            strcpy(nc.task_name[t], v->valuestring);
        }
    }
    if (nc.n_tasks < 1 || nc.n_tasks > EM_MAX_TASKS)
        return em_error(err, EM_EFORMAT, "config n_tasks = %d out of range 1..%d", nc.n_tasks, EM_MAX_TASKS);
    if (chans) {
        if (!cJSON_IsArray(chans))
            return em_error(err, EM_EFORMAT, "config key \"task_channels\" is not an array");
        int len = cJSON_GetArraySize(chans);
        if (len != nc.n_tasks)
            return em_error(err, EM_EFORMAT, "config task_channels has %d entries but n_tasks = %d", len, nc.n_tasks);
        int t = 0;
        for (const cJSON *v = chans->child; v; v = v->next, t++) {
            char key[32];
            snprintf(key, sizeof key, "task_channels[%d]", t);
            int rc = json_int(v, key, &nc.task_channels[t], err);
            if (rc) return rc;
        }
    }
    const cJSON *eps[2] = {ln, bn};
    float *dst[2] = {&nc.ln_eps, &nc.bn_eps};
    for (int i = 0; i < 2; i++) {
        if (!eps[i]) continue;
        if (!cJSON_IsNumber(eps[i]) || !isfinite(eps[i]->valuedouble))
            return em_error(err, EM_EFORMAT, "config key \"%s\" is not a finite number", eps[i]->string);
        *dst[i] = (float)eps[i]->valuedouble;
    }
    /* moe_layers: a bit mask (bit L: block L is MoE); absent means the odd
     * blocks (the writer leaves it out for them, and older files lack it) */
    if (moe) {
        double d = cJSON_IsNumber(moe) ? moe->valuedouble : -1;
        if (!(d == floor(d)) || d < 0 || d > 4294967295.0)
            return em_error(err, EM_EFORMAT, "config key \"moe_layers\" is not a bit mask (an integer 0..2^32-1)");
        nc.moe_layers = (uint32_t)d;
    } else {
        nc.moe_layers = EM_MOE_ODD;
    }
    /* Derived fields the JSON left out follow the ones it gave. */
    int s_img_h = 0, s_img_w = 0, s_patch = 0, s_gh = 0, s_gw = 0, s_ntok = 0;
    int s_dim = 0, s_heads = 0, s_hdim = 0;
    for (int i = 0; i < N_INT_FIELDS; i++) {
        const char *k = k_int_fields[i].key;
        if (!seen[i]) continue;
        if (!strcmp(k, "img_h")) s_img_h = 1;
        else if (!strcmp(k, "img_w")) s_img_w = 1;
        else if (!strcmp(k, "patch")) s_patch = 1;
        else if (!strcmp(k, "grid_h")) s_gh = 1;
        else if (!strcmp(k, "grid_w")) s_gw = 1;
        else if (!strcmp(k, "n_tok")) s_ntok = 1;
        else if (!strcmp(k, "dim")) s_dim = 1;
        else if (!strcmp(k, "n_heads")) s_heads = 1;
        else if (!strcmp(k, "head_dim")) s_hdim = 1;
    }
    if (nc.patch > 0) {
        if (!s_gh && (s_img_h || s_patch)) nc.grid_h = nc.img_h / nc.patch;
        if (!s_gw && (s_img_w || s_patch)) nc.grid_w = nc.img_w / nc.patch;
    }
    if (!s_ntok && (s_img_h || s_img_w || s_patch || s_gh || s_gw) &&
        nc.grid_h > 0 && nc.grid_w > 0 && nc.grid_h <= INT_MAX / nc.grid_w)
        nc.n_tok = nc.grid_h * nc.grid_w + 1;
    if ((s_dim || s_heads) && !s_hdim && nc.n_heads > 0) nc.head_dim = nc.dim / nc.n_heads;
    else if ((s_dim || s_hdim) && !s_heads && nc.head_dim > 0) nc.n_heads = nc.dim / nc.head_dim;
    *c = nc;
    return EM_OK;
}

int em_config_from_json(const char *json, em_config *c, em_err *err) {
    if (!json || !c) return em_error(err, EM_EARG, "em_config_from_json: NULL argument");
    long nul = em_json_nul_escape(json, strlen(json));
    if (nul >= 0) return em_error(err, EM_EFORMAT, "config has an escaped NUL character (\\u0000) at byte %ld", nul);
    cJSON *root = cJSON_Parse(json);
    if (!root) return em_error(err, EM_EFORMAT, "config is not valid JSON");
    int rc = em_config_from_cjson(root, c, err);
    cJSON_Delete(root);
    return rc;
}
