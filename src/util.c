/* Small shared helpers: error formatting, clock, temporary output files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

/* splitmix64 step: mixes the clock, pid and an address into a name suffix */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

FILE *em_tmp_open(const char *path, char *tmp, size_t tmp_size, em_err *err) {
    if (!path || !*path) { em_error(err, EM_EARG, "output path is empty"); return NULL; }
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if (!*base) { em_error(err, EM_EARG, "%s: output path names a directory", path); return NULL; }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
                    (uint64_t)(uintptr_t)tmp;
    for (int attempt = 0; attempt < 64; attempt++) {
        seed = mix64(seed + 0x9E3779B97F4A7C15ull);
        if ((size_t)snprintf(tmp, tmp_size, "%.*s.%s.%012llx.tmp", dir_len, path, base,
                             (unsigned long long)(seed & 0xffffffffffffull)) >= tmp_size) {
            em_error(err, EM_EARG, "%s: output path too long", path);
            return NULL;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            em_error(err, EM_EIO, "%s: cannot create (%s)", path, strerror(errno));
            return NULL;
        }
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            int e = errno;
            close(fd);
            unlink(tmp);
            em_error(err, EM_EIO, "%s: cannot create (%s)", path, strerror(e));
            return NULL;
        }
        return f;
    }
    em_error(err, EM_EIO, "%s: cannot create a temporary file next to it", path);
    return NULL;
}

int em_tmp_commit(FILE *f, const char *tmp, const char *path, em_err *err) {
    int bad = ferror(f);
    int e = bad ? EIO : 0;
    if (fclose(f) != 0 && !bad) { bad = 1; e = errno; }
    if (bad) {
        unlink(tmp);
        return em_error(err, EM_EIO, "%s: write failed (%s)", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return em_error(err, EM_EIO, "%s: cannot rename the finished file into place (%s)", path, strerror(e));
    }
    return EM_OK;
}

void em_tmp_abort(FILE *f, const char *tmp) {
    if (f) fclose(f);
    unlink(tmp);
}
