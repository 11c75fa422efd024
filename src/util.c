/* Small shared helpers: error formatting, clock, temporary output files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "util.h"

int em_error(em_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *em_version(void) { return EM_VERSION_STRING; }

const char *em_strerror(int code) {
    switch (code) {
    case EM_OK: return "success";
    case EM_EIO: return "I/O error";
    case EM_EFORMAT: return "bad file format";
    case EM_ESHAPE: return "wrong shape";
    case EM_EVALUE: return "bad value";
    case EM_EARG: return "bad argument";
    case EM_ENOMEM: return "out of memory";
    }
    return "unknown error";
}

double em_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Temporaries being written, so that a signal handler can remove them
 * (em_tmp_remove_all): a fixed table, claimed and released with atomics,
 * read by the handler without locks or allocation. */
#define TMP_SLOTS 64
#define TMP_NAME_MAX 4200
static atomic_int tmp_state[TMP_SLOTS];  /* 0 free, 1 being filled, 2 live */
static char tmp_names[TMP_SLOTS][TMP_NAME_MAX];

static void tmp_register(const char *tmp) {
    size_t n = strlen(tmp);
    if (n >= TMP_NAME_MAX) return;
    for (int i = 0; i < TMP_SLOTS; i++) {
        int want = 0;
        if (atomic_compare_exchange_strong(&tmp_state[i], &want, 1)) {
            memcpy(tmp_names[i], tmp, n + 1);
            atomic_store(&tmp_state[i], 2);
            return;
        }
    }
    /* more temporaries at once than slots: this one is not removed on a signal */
}

static void tmp_release(const char *tmp) {
    for (int i = 0; i < TMP_SLOTS; i++)
        if (atomic_load(&tmp_state[i]) == 2 && !strcmp(tmp_names[i], tmp)) {
            atomic_store(&tmp_state[i], 0);
            return;
        }
}

void em_tmp_remove_all(void) {
    for (int i = 0; i < TMP_SLOTS; i++)
        if (atomic_load(&tmp_state[i]) == 2) unlink(tmp_names[i]);
}

/* splitmix64 step: mixes the clock, pid and an address into a name suffix */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Creates PATH's temporary ".<base>.<random>.tmp" next to it, exclusively. */
static int tmp_create(const char *path, char *tmp, size_t tmp_size, em_err *err) {
    if (!path || !*path) return em_error(err, EM_EARG, "output path is empty"), -1;
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if (!*base) return em_error(err, EM_EARG, "%s: output path names a directory", path), -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
                    (uint64_t)(uintptr_t)tmp;
    for (int attempt = 0; attempt < 64; attempt++) {
        seed = mix64(seed + 0x9E3779B97F4A7C15ull);
        if ((size_t)snprintf(tmp, tmp_size, "%.*s.%s.%012llx.tmp", dir_len, path, base,
                             (unsigned long long)(seed & 0xffffffffffffull)) >= tmp_size)
            return em_error(err, EM_EARG, "%s: output path too long", path), -1;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return fd;
        if (errno != EEXIST) return em_error(err, EM_EIO, "%s: cannot create (%s)", path, strerror(errno)), -1;
    }
    return em_error(err, EM_EIO, "%s: cannot create a temporary file next to it", path), -1;
}

FILE *em_tmp_open(const char *path, char *tmp, size_t tmp_size, em_err *err) {
    int fd = tmp_create(path, tmp, tmp_size, err);
    if (fd < 0) return NULL;
    tmp_register(tmp);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        tmp_release(tmp);
        em_error(err, EM_EIO, "%s: cannot create (%s)", path, strerror(e));
    }
    return f;
}

char *em_tmp_reserve(const char *path, em_err *err) {
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp) return em_error(err, EM_ENOMEM, "out of memory"), NULL;
    int fd = tmp_create(path, tmp, cap, err);
    if (fd < 0) { free(tmp); return NULL; }
    close(fd);
    return tmp;
}

int em_tmp_commit(FILE *f, const char *tmp, const char *path, em_err *err) {
    int bad = ferror(f);
    int e = bad ? EIO : 0;
    if (fclose(f) != 0 && !bad) { bad = 1; e = errno; }
    if (bad) {
        unlink(tmp);
        tmp_release(tmp);
        return em_error(err, EM_EIO, "%s: write failed (%s)", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        tmp_release(tmp);
        return em_error(err, EM_EIO, "%s: cannot rename the finished file into place (%s)", path, strerror(e));
    }
    tmp_release(tmp);
    return EM_OK;
}

void em_tmp_abort(FILE *f, const char *tmp) {
    if (f) fclose(f);
    unlink(tmp);
    tmp_release(tmp);
}

char *em_strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

const char *em_file_kind(unsigned m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

int em_open_input(const char *path, const char *what, struct stat *st, em_err *err) {
    struct stat tmp;
    if (!st) st = &tmp;
    /* O_NONBLOCK: opening a FIFO without a writer returns at once instead of
     * waiting forever; the type is then checked before any read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return em_error(err, EM_EIO, "%s: cannot open %s (%s)", path, what, strerror(errno)), -1;
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return em_error(err, EM_EIO, "%s: cannot open %s (%s)", path, what, strerror(e)), -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return em_error(err, EM_EARG, "%s: the %s is %s, not a regular file", path, what, em_file_kind(st->st_mode)), -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

FILE *em_fopen_input(const char *path, const char *what, em_err *err) {
    int fd = em_open_input(path, what, NULL, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        em_error(err, EM_ENOMEM, "%s: cannot open %s (%s)", path, what, strerror(e));
    }
    return f;
}

long em_json_nul_escape(const char *s, size_t n) {
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_string) { in_string = s[i] == '"'; continue; }
        if (s[i] == '"') { in_string = 0; continue; }
        if (s[i] != '\\' || i + 1 >= n) continue;
        if (s[i + 1] == 'u' && i + 5 < n && s[i + 2] == '0' && s[i + 3] == '0' && s[i + 4] == '0' && s[i + 5] == '0')
            return (long)i;
        i++;  /* the escaped character, e.g. the second backslash of \\ */
    }
    return -1;
}
