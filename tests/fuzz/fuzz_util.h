/* Shared by the libFuzzer targets: the loaders under test take paths, so
 * each input is written to one scratch file per process. */
#ifndef EM_FUZZ_UTIL_H
#define EM_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[256];
static void fuzz_cleanup(void) { if (fuzz_path[0]) unlink(fuzz_path); }

static const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    char *path = fuzz_path;
    if (!path[0]) atexit(fuzz_cleanup);
    snprintf(path, sizeof fuzz_path, "/tmp/em_fuzz_%d%s", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}
#endif
