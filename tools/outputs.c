/* Output transactions of the edgemoe command (see outputs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outputs.h"
#include "util.h"

typedef struct { char *final, *stage; } staged_file;
typedef struct { dev_t dev; ino_t ino; } file_id;

static staged_file *staged;
static int n_staged, cap_staged;
static file_id *inputs;
static int n_inputs;
static char **made_dirs;
static int n_made_dirs;

void em_out_protect(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return;
    file_id *p = realloc(inputs, (size_t)(n_inputs + 1) * sizeof *p);
    if (!p) return;  /* protection is best effort only under memory exhaustion */
    inputs = p;
    inputs[n_inputs++] = (file_id){st.st_dev, st.st_ino};
}

int em_out_stage(const char *final, char *stage, size_t stage_size, em_err *err) {
    struct stat st;
    if (stat(final, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return em_error(err, EM_EARG, "%s: output path is a directory", final);
        for (int i = 0; i < n_inputs; i++)
            if (inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino)
                return em_error(err, EM_EARG, "%s: refusing to overwrite an input of this run", final);
    }
    for (int i = 0; i < n_staged; i++)
        if (!strcmp(staged[i].final, final))
            return em_error(err, EM_EARG, "%s: two outputs of this run have this name", final);
    if (n_staged == cap_staged) {
        int cap = cap_staged ? 2 * cap_staged : 64;
        staged_file *p = realloc(staged, (size_t)cap * sizeof *p);
        if (!p) return em_error(err, EM_ENOMEM, "out of memory");
        staged = p; cap_staged = cap;
    }
    FILE *f = em_tmp_open(final, stage, stage_size, err);
    if (!f) return EM_EIO;
    fclose(f);
    char *a = strdup(final), *b = strdup(stage);
    if (!a || !b) {
        free(a); free(b); unlink(stage);
        return em_error(err, EM_ENOMEM, "out of memory");
    }
    staged[n_staged++] = (staged_file){a, b};
    return EM_OK;
}

int em_out_mkdir(const char *dir, em_err *err) {
    char buf[4096];
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf)
        return em_error(err, EM_EARG, "%s: path too long", dir);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    for (char *p = buf + 1;; p++) {
        int end = *p == 0;
        if (*p == '/' || end) {
            *p = 0;
            if (mkdir(buf, 0777) == 0) {
                char **m = realloc(made_dirs, (size_t)(n_made_dirs + 1) * sizeof *m);
                char *d = strdup(buf);
                if (!m || !d) { free(d); if (m) made_dirs = m; rmdir(buf); return em_error(err, EM_ENOMEM, "out of memory"); }
                made_dirs = m;
                made_dirs[n_made_dirs++] = d;
            } else if (errno != EEXIST) {
                return em_error(err, EM_EIO, "%s: cannot create directory (%s)", buf, strerror(errno));
            }
            if (end) break;
            *p = '/';
        }
    }
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return em_error(err, EM_EIO, "%s: not a directory", dir);
    return EM_OK;
}

static void forget_all(void) {
    for (int i = 0; i < n_staged; i++) { free(staged[i].final); free(staged[i].stage); }
    free(staged); staged = NULL; n_staged = cap_staged = 0;
    for (int i = 0; i < n_made_dirs; i++) free(made_dirs[i]);
    free(made_dirs); made_dirs = NULL; n_made_dirs = 0;
    free(inputs); inputs = NULL; n_inputs = 0;
}

int em_out_commit(em_err *err) {
    for (int i = 0; i < n_staged; i++) {
        if (rename(staged[i].stage, staged[i].final) != 0) {
            int rc = em_error(err, EM_EIO, "%s: cannot move into place (%s)", staged[i].final, strerror(errno));
            /* what is already in place stays; the rest is removed */
            for (int j = i; j < n_staged; j++) unlink(staged[j].stage);
            forget_all();
            return rc;
        }
    }
    forget_all();
    return EM_OK;
}

void em_out_abort(void) {
    for (int i = 0; i < n_staged; i++) unlink(staged[i].stage);
    for (int i = n_made_dirs - 1; i >= 0; i--) rmdir(made_dirs[i]);  /* only if empty */
    forget_all();
}
