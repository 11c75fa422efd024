/* Helpers every edgemoe subcommand shares (tools/cli.h): the model, the task
 * selection and integer options, parsed and reported the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
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

void em_cli_print_json(cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    if (s) { puts(s); free(s); }
    fflush(stdout);
    cJSON_Delete(j);
}
