/* Helpers every part of the library shares: error formatting, the clock,
 * and safe creation of output files. */
#ifndef EM_UTIL_H
#define EM_UTIL_H
#include <stddef.h>
#include <stdio.h>
#include "edgemoe.h"

/* Writes one line into err (when non-NULL) and returns code. */
int em_error(em_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

double em_now_ms(void);  /* monotonic clock, milliseconds */

/* A 32-bit integer hash finaliser (xorshift-multiply, full avalanche): the
 * fixed "noise" of the sample image and the colours of class ids past the
 * palette. */
static inline uint32_t em_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Output files are written under a temporary name next to their final path
 * and renamed into place when complete, so a failure never leaves a partial
 * file and never touches what was at the path before.  The temporary is
 * created exclusively (O_CREAT | O_EXCL, mode 0666 & ~umask) under an
 * unpredictable name: it never follows a symlink planted at a guessable
 * name, nor truncates anything that exists.
 *   FILE *f = em_tmp_open(path, tmp, sizeof tmp, err); ... write ...;
 *   rc = em_tmp_commit(f, tmp, path, err);   or em_tmp_abort(f, tmp); */
FILE *em_tmp_open(const char *path, char *tmp, size_t tmp_size, em_err *err);
/* Checks f for write errors, closes it and renames tmp to path; on any
 * failure tmp is removed and path left as it was. */
int em_tmp_commit(FILE *f, const char *tmp, const char *path, em_err *err);
void em_tmp_abort(FILE *f, const char *tmp);
#endif
