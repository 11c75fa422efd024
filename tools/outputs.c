/* Output transactions of the edgemoe command (see outputs.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outputs.h"
#include "util.h"

enum { OUT_RENAME, OUT_IN_PLACE };

typedef struct {
    char *final;   /* as the user gave it, for messages */
    char *target;  /* renamed over (a symlink's target), or opened in place ("-": stdout) */
    char *stage;   /* the staging file; NULL for a stream written in place */
    char *id;      /* which file this is: "dev:ino/name" of the directory entry, or "dev:ino" of a device */
    int kind;
    int fd;        /* a stream's descriptor, else -1 */
} out_file;

typedef struct { dev_t dev; ino_t ino; } file_id;

/* Read by the signal handler: changed only between begin() and end(). */
static out_file *files;
static int n_files, cap_files, n_complete;
static char **made_dirs;
static int n_made_dirs;
static char *private_dir;  /* staging of in-place outputs, made on first use */
static atomic_int busy, pending_signal;

static file_id *inputs;
static int n_inputs, stdout_busy;

static void finish_on_signal(int sig);

static void begin(void) { atomic_store(&busy, 1); }
static void end(void) {
    atomic_store(&busy, 0);
    int sig = atomic_exchange(&pending_signal, 0);
    if (sig) finish_on_signal(sig);
}

/* Async-signal-safe: rename, unlink, rmdir, write and _exit only. */
static void finish_on_signal(int sig) {
    em_tmp_remove_all();
    for (int i = 0; i < n_files; i++) {
        out_file *o = &files[i];
        if (!o->stage) continue;
        if (i < n_complete && o->kind == OUT_RENAME && rename(o->stage, o->target) == 0) continue;
        unlink(o->stage);
    }
    if (private_dir) rmdir(private_dir);
    for (int i = n_made_dirs - 1; i >= 0; i--) rmdir(made_dirs[i]);  /* only the empty ones go */
    static const char msg[] = "edgemoe: interrupted: the outputs of completed work are kept, unfinished ones removed\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(128 + sig);
}

static void on_signal(int sig) {
    if (atomic_load(&busy)) { atomic_store(&pending_signal, sig); return; }
    finish_on_signal(sig);
}

void em_out_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;  /* when the handler defers (busy), the interrupted call goes on */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);  /* a reader that goes away is a write error (EPIPE), not a silent death */
}

void em_out_protect(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return;
    file_id *p = realloc(inputs, (size_t)(n_inputs + 1) * sizeof *p);
    if (!p) return;  /* protection is best effort only under memory exhaustion */
    inputs = p;
    inputs[n_inputs++] = (file_id){st.st_dev, st.st_ino};
}

void em_out_stdout_busy(void) { stdout_busy = 1; }

static int is_input(const struct stat *st) {
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].dev == st->st_dev && inputs[i].ino == st->st_ino) return 1;
    return 0;
}

static const char *base_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Decides what final is (outputs.h) and fills o->final, target, id, kind. */
static int classify(const char *final, out_file *o, em_err *err) {
    struct stat st;
    o->fd = -1;
    if (!strcmp(final, "-")) {
        if (stdout_busy) return em_error(err, EM_EARG, "-: this command prints its report on standard output; give a file name");
        if (isatty(1)) return em_error(err, EM_EARG, "-: refusing to write binary output to a terminal; redirect it or give a file name");
        o->kind = OUT_IN_PLACE;
        o->target = strdup("-");
        o->id = strdup("-");
    } else if (lstat(final, &st) != 0) {
        if (errno != ENOENT) return em_error(err, EM_EIO, "%s: cannot use as output (%s)", final, strerror(errno));
        o->kind = OUT_RENAME;
        o->target = strdup(final);
    } else {
        if (S_ISLNK(st.st_mode) && stat(final, &st) != 0)
            return em_error(err, EM_EARG, "%s: a symbolic link to a missing file; refusing to write through it", final);
        if (S_ISREG(st.st_mode)) {
            if (is_input(&st)) return em_error(err, EM_EARG, "%s: refusing to overwrite an input of this run", final);
            o->kind = OUT_RENAME;
            o->target = realpath(final, NULL);  /* a symlink's target is replaced, not the link */
            if (!o->target) return em_error(err, EM_EIO, "%s: cannot resolve (%s)", final, strerror(errno));
        } else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
            o->kind = OUT_IN_PLACE;
            o->target = strdup(final);
            o->id = em_strfmt("%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        } else if (S_ISDIR(st.st_mode)) {
            return em_error(err, EM_EARG, "%s: output path is a directory", final);
        } else {
            return em_error(err, EM_EARG, "%s: cannot write an output to %s", final, em_file_kind(st.st_mode));
        }
    }
    if (!o->target) return em_error(err, EM_ENOMEM, "out of memory");
    if (o->kind == OUT_RENAME) {  /* the entry: its directory's identity and its name */
        char *dir = strdup(o->target);
        if (!dir) return em_error(err, EM_ENOMEM, "out of memory");
        char *slash = strrchr(dir, '/');
        if (slash == dir) slash[1] = 0;
        else if (slash) *slash = 0;
        int ok = stat(slash ? dir : ".", &st) == 0;
        free(dir);
        if (!ok) return em_error(err, EM_EIO, "%s: cannot create (%s)", final, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return em_error(err, EM_EIO, "%s: cannot create (Not a directory)", final);
        o->id = em_strfmt("%llu:%llu/%s", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                          base_of(o->target));
    }
    if (!o->id || !(o->final = strdup(final))) return em_error(err, EM_ENOMEM, "out of memory");
    for (int i = 0; i < n_files; i++)
        if (!strcmp(files[i].id, o->id))
            return em_error(err, EM_EARG, "%s: two outputs of this run have this name", final);
    return EM_OK;
}

static void free_file(out_file *o) {
    free(o->final); free(o->target); free(o->stage); free(o->id);
}

/* The staging file of an in-place output, in a private directory. */
static char *stage_in_private(const char *final, em_err *err) {
    if (!private_dir) {
        const char *t = getenv("TMPDIR");
        char *tmpl = em_strfmt("%s/edgemoe.XXXXXX", t && *t ? t : "/tmp");
        if (!tmpl) return em_error(err, EM_ENOMEM, "out of memory"), NULL;
        if (!mkdtemp(tmpl)) {
            int e = errno;
            free(tmpl);
            return em_error(err, EM_EIO, "%s: cannot make a private staging directory (%s)", final, strerror(e)), NULL;
        }
        begin();
        private_dir = tmpl;
        end();
    }
    char *p = em_strfmt("%s/%s", private_dir, strcmp(final, "-") ? base_of(final) : "stdout");
    if (!p) return em_error(err, EM_ENOMEM, "out of memory"), NULL;
    char *stage = em_tmp_reserve(p, err);
    free(p);
    return stage;
}

static int add_file(out_file *o, em_err *err) {
    if (n_files == cap_files) {
        int cap = cap_files ? 2 * cap_files : 64;
        out_file *p = malloc((size_t)cap * sizeof *p);  /* never realloc under the handler's feet */
        if (!p) return em_error(err, EM_ENOMEM, "out of memory");
        if (n_files) memcpy(p, files, (size_t)n_files * sizeof *p);
        out_file *old = files;
        begin();
        files = p;
        cap_files = cap;
        end();
        free(old);
    }
    begin();
    files[n_files] = *o;
    n_files++;
    end();
    return EM_OK;
}

const char *em_out_stage(const char *final, em_err *err) {
    out_file o = {0};
    if (!final || !*final) return em_error(err, EM_EARG, "output path is empty"), NULL;
    if (classify(final, &o, err)) { free_file(&o); return NULL; }
    o.stage = o.kind == OUT_RENAME ? em_tmp_reserve(o.target, err) : stage_in_private(final, err);
    if (!o.stage) { free_file(&o); return NULL; }
    if (add_file(&o, err)) { unlink(o.stage); free_file(&o); return NULL; }
    return files[n_files - 1].stage;
}

int em_out_stream(const char *final, em_err *err) {
    out_file o = {0};
    if (!final || !*final) return em_error(err, EM_EARG, "output path is empty"), -1;
    if (classify(final, &o, err)) { free_file(&o); return -1; }
    if (o.kind == OUT_IN_PLACE) {  /* written as the data comes, never staged */
        o.fd = !strcmp(o.target, "-") ? 1 : open(o.target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    } else if ((o.stage = em_tmp_reserve(o.target, err))) {
        o.fd = open(o.stage, O_WRONLY | O_TRUNC | O_CLOEXEC);
    } else {
        free_file(&o);
        return -1;
    }
    if (o.fd < 0) {
        int e = errno;
        if (o.stage) unlink(o.stage);
        free_file(&o);
        return em_error(err, EM_EIO, "%s: cannot open (%s)", final, strerror(e)), -1;
    }
    int fd = o.fd;
    if (add_file(&o, err)) {
        if (fd > 1) close(fd);
        if (o.stage) unlink(o.stage);
        free_file(&o);
        return -1;
    }
    return fd;
}

int em_out_mkdir(const char *dir, em_err *err) {
    char *buf = strdup(dir);
    if (!buf) return em_error(err, EM_ENOMEM, "out of memory");
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    int rc = EM_OK;
    for (char *p = buf + 1;; p++) {
        int last = *p == 0;
        if (*p != '/' && !last) continue;
        *p = 0;
        if (mkdir(buf, 0777) == 0) {
            char **m = malloc((size_t)(n_made_dirs + 1) * sizeof *m);
            char *d = strdup(buf);
            if (!m || !d) { free(m); free(d); rmdir(buf); rc = em_error(err, EM_ENOMEM, "out of memory"); break; }
            if (n_made_dirs) memcpy(m, made_dirs, (size_t)n_made_dirs * sizeof *m);
            m[n_made_dirs] = d;
            char **old = made_dirs;
            begin();
            made_dirs = m;
            n_made_dirs++;
            end();
            free(old);
        } else if (errno != EEXIST) {
            rc = em_error(err, EM_EIO, "%s: cannot create directory (%s)", buf, strerror(errno));
            break;
        }
        if (last) break;
        *p = '/';
    }
    struct stat st;
    if (!rc && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))) rc = em_error(err, EM_EIO, "%s: not a directory", dir);
    free(buf);
    return rc;
}

void em_out_checkpoint(void) {
    begin();
    n_complete = n_files;
    end();
}

static void forget_all(void) {
    begin();
    for (int i = 0; i < n_files; i++) {
        if (files[i].fd > 1) close(files[i].fd);
        free_file(&files[i]);
    }
    free(files); files = NULL; n_files = cap_files = n_complete = 0;
    for (int i = 0; i < n_made_dirs; i++) free(made_dirs[i]);
    free(made_dirs); made_dirs = NULL; n_made_dirs = 0;
    if (private_dir) rmdir(private_dir);
    free(private_dir); private_dir = NULL;
    free(inputs); inputs = NULL; n_inputs = 0;
    end();
}

/* Copies an in-place output's staging file into its device, FIFO or stdout. */
static int write_in_place(const out_file *o, em_err *err) {
    int to_stdout = !strcmp(o->target, "-");
    int out = to_stdout ? 1 : open(o->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (out < 0) return em_error(err, EM_EIO, "%s: cannot open (%s)", o->final, strerror(errno));
    struct stat st;
    if (!to_stdout && (fstat(out, &st) != 0 || S_ISREG(st.st_mode))) {  /* swapped for a file since it was checked */
        close(out);
        return em_error(err, EM_EIO, "%s: no longer a device or FIFO; not written", o->final);
    }
    if (to_stdout) fflush(stdout);
    int in = open(o->stage, O_RDONLY | O_CLOEXEC), rc = EM_OK;
    if (in < 0) rc = em_error(err, EM_EIO, "%s: staged output lost (%s)", o->final, strerror(errno));
    char buf[1 << 16];
    for (ssize_t n; !rc && (n = read(in, buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = em_error(err, EM_EIO, "%s: staged output unreadable (%s)", o->final, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { rc = em_error(err, EM_EIO, "%s: write failed (%s)", o->final, strerror(errno)); break; }
            off += w;
        }
    }
    if (in >= 0) close(in);
    if (!to_stdout && close(out) != 0 && !rc) rc = em_error(err, EM_EIO, "%s: write failed (%s)", o->final, strerror(errno));
    return rc;
}

int em_out_commit(em_err *err) {
    int rc = EM_OK;
    begin();
    /* streams first: a failed close is a failed write */
    for (int i = 0; i < n_files && !rc; i++) {
        out_file *o = &files[i];
        if (o->fd > 1 && close(o->fd) != 0) rc = em_error(err, EM_EIO, "%s: write failed (%s)", o->final, strerror(errno));
        o->fd = -1;
    }
    for (int i = 0; i < n_files && !rc; i++) {
        out_file *o = &files[i];
        if (o->kind == OUT_RENAME && rename(o->stage, o->target) != 0) {
            /* the files already in place stay: rename cannot be undone without loss */
            rc = em_error(err, EM_EIO, "%s: cannot move into place (%s)", o->final, strerror(errno));
        } else if (o->kind == OUT_RENAME) {
            free(o->stage);
            o->stage = NULL;
        }
    }
    for (int i = 0; i < n_files && !rc; i++)
        if (files[i].kind == OUT_IN_PLACE && files[i].stage) rc = write_in_place(&files[i], err);
    for (int i = 0; i < n_files; i++)
        if (files[i].stage) unlink(files[i].stage);
    end();
    forget_all();
    return rc;
}

void em_out_abort(void) {
    begin();
    for (int i = 0; i < n_files; i++)
        if (files[i].stage) unlink(files[i].stage);
    for (int i = n_made_dirs - 1; i >= 0; i--) rmdir(made_dirs[i]);  /* only if empty */
    end();
    forget_all();
}
