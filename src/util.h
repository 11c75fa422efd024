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
/* Creates an empty file under a fresh temporary name next to path, as
 * em_tmp_open does, and returns that name (free it); the caller owns the
 * file.  NULL with err set on failure. */
char *em_tmp_reserve(const char *path, em_err *err);
/* Removes every temporary still being written (async-signal-safe: for a
 * handler of SIGINT/SIGTERM that is about to exit). */
void em_tmp_remove_all(void);

/* A formatted string on the heap (free it), NULL when out of memory: for
 * paths, which have no useful fixed bound. */
char *em_strfmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Inputs: opened without blocking (a FIFO with no writer, a device) and
 * refused unless they are regular files, before anything is read.  what
 * names the input in the message ("image", "model", ...).  Returns the fd
 * (blocking again) with its stat in st (may be NULL), or -1 with err set. */
struct stat;
int em_open_input(const char *path, const char *what, struct stat *st, em_err *err);
FILE *em_fopen_input(const char *path, const char *what, em_err *err);
/* Byte offset of the first "\u0000" escape inside a string of the JSON
 * text s[0..n), or -1.  A NUL in a key or value would silently cut it short
 * in C ("F32\u0000x" read as "F32"), so readers refuse such text. */
long em_json_nul_escape(const char *s, size_t n);
/* "a directory", "a FIFO", "a character device", ... for messages */
const char *em_file_kind(unsigned mode);
#endif
