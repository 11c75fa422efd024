/* Helpers every edgemoe subcommand shares (tools/cli.h): the model, the task
 * selection and integer options, parsed and reported the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
#include "util.h"
#include "cli.h"

em_model *em_cli_load_model(const char *path) {
    em_err err;
    em_model *m = em_model_open(path, &err);
    if (!m) em_cli_die("%s", err.msg);
    return m;
}

int em_cli_task_mask(const em_config *c, const char *name, unsigned *mask) {
    if (!name || !strcmp(name, "all")) { *mask = (1u << c->n_tasks) - 1; return 0; }
    int t = em_task_index(c, name);
    if (t >= 0) { *mask = 1u << t; return 0; }
    char names[EM_MAX_TASKS * (EM_NAME_LEN + 2) + 4] = "";
    for (int k = 0; k < c->n_tasks; k++) strcat(strcat(names, c->task_name[k]), ", ");
    return em_cli_die("unknown task '%s' (this model has %sall)", name, names);
}

int em_cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return em_cli_die("%s: '%s' is not an integer in %ld..%ld", opt, s, lo, hi);
    *out = v;
    return 0;
}

int em_cli_threads(const char *opt, const char *s, int *out) {
    long v;
    if (em_cli_int(opt, s, 0, 1024, &v)) return 1;
    *out = (int)v;
    return 0;
}

void em_cli_progress(int done, int total, double elapsed_ms) {
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.1f img/s", fill, "##############################", width - fill, "",
            done, total, elapsed_ms > 0 ? done * 1000.0 / elapsed_ms : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0: overlong forms,
 * surrogates and code points past U+10FFFF are invalid. */
static int utf8_seq(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return n;
}

void em_cli_put_escaped(FILE *f, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        int n = utf8_seq(p);
        if (n == 1 && *p >= 0x20 && *p != 0x7f) fputc(*p, f);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (n <= 1) fprintf(f, "\\x%02x", *p);
        else fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
}

/* s with every byte that is not UTF-8 replaced by U+FFFD (heap), or NULL
 * when s is valid already. */
static char *utf8_repaired(const char *s) {
    size_t bad = 0, len = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; len++) {
        int n = utf8_seq(p);
        bad += !n;
        p += n ? n : 1;
    }
    if (!bad) return NULL;
    char *out = malloc(strlen(s) + 2 * bad + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_seq(p);
        if (n) { memcpy(o, p, (size_t)n); o += n; p += n; }
        else { memcpy(o, "\xef\xbf\xbd", 3); o += 3; p++; }
    }
    *o = 0;
    return out;
}

/* JSON must be UTF-8: file names that are not are repaired (U+FFFD) in
 * every key and string of the tree. */
static void json_repair_utf8(cJSON *j) {
    for (; j; j = j->next) {
        char *k = j->string && !(j->type & cJSON_StringIsConst) ? utf8_repaired(j->string) : NULL;
        if (k) { free(j->string); j->string = k; }
        char *v = cJSON_IsString(j) && j->valuestring ? utf8_repaired(j->valuestring) : NULL;
        if (v) { free(j->valuestring); j->valuestring = v; }
        json_repair_utf8(j->child);
    }
}

void em_cli_print_json(cJSON *j) {
    json_repair_utf8(j);
    char *s = cJSON_PrintUnformatted(j);
    if (s) { puts(s); free(s); }
    fflush(stdout);
    cJSON_Delete(j);
}

char *em_cli_suffixed(const char *file, const char *suffix) {
    const char *slash = strrchr(file, '/'), *base = slash ? slash + 1 : file;
    const char *dot = strrchr(base, '.');
    size_t cut = dot && dot != base ? (size_t)(dot - file) : strlen(file);
    return em_strfmt("%.*s.%s%s", (int)cut, file, suffix, file + cut);
}
