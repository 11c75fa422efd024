/* Minimal test harness in llm.c's spirit: each check prints PASS/FAIL lines
 * that tests/run.sh counts; check_tensor prints the first mismatches and the
 * max error. */
#ifndef EM_TEST_UTIL_H
#define EM_TEST_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures = 0;

#define CHECK(cond, ...) do { \
    if (cond) { printf("PASS: "); printf(__VA_ARGS__); printf("\n"); } \
    else { tu_failures++; printf("FAIL: %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("  [%s]\n", #cond); } \
    fflush(stdout); } while (0)

#define TEST_MAIN_END() do { return tu_failures ? 1 : 0; } while (0)

/* Compares got against want: passes when max |got - want| <= rel_tol * max |want|
 * (or abs floor when want is all zero).  Prints the first mismatches. */
static inline int check_tensor(const char *label, const float *got, const float *want, size_t n, double rel_tol) {
    double maxref = 0, maxerr = 0; size_t imax = 0;
    for (size_t i = 0; i < n; i++) if (fabs(want[i]) > maxref) maxref = fabs(want[i]);
    double tol = rel_tol * (maxref > 0 ? maxref : 1.0);
    int shown = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= tol)) { /* also catches NaN */
            if (shown < 5) { printf("  %s[%zu]: got %.8g want %.8g\n", label, i, got[i], want[i]); shown++; }
            bad++;
        }
        if (e > maxerr || e != e) { maxerr = e; imax = i; }
    }
    CHECK(bad == 0, "%s: n=%zu max_err=%.3g (at %zu) rel=%.3g tol=%.3g bad=%d",
          label, n, maxerr, imax, maxref > 0 ? maxerr / maxref : maxerr, tol, bad);
    return bad == 0;
}

/* The whole file at path (malloc'd, *n bytes), or NULL if it cannot be read. */
static inline uint8_t *tu_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *p = sz >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc(sz > 0 ? (size_t)sz : 1) : NULL;
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); p = NULL; }
    fclose(f);
    if (n) *n = p ? (size_t)sz : 0;
    return p;
}

/* A raw float32 file: *n floats. */
static inline float *tu_read_floats(const char *path, size_t *n) {
    size_t bytes = 0;
    float *p = (float *)tu_read_file(path, &bytes);
    if (n) *n = bytes / 4;
    return p;
}

static inline const char *tu_shared_dir(void) {
    const char *e = getenv("EM_SHARED_WEIGHTS");
    return e ? e : "../shared/m3vit-edgemoe";
}
#endif
