/* .npy reader/writer (src/data/npy.c): round trip, and every malformed file
 * refused with one line naming it.  The numpy side is tests/test_npy_numpy.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/npy.h"
#include "test_util.h"

static char dir[] = "/tmp/em_test_npy_XXXXXX";

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
    fclose(f);
}

/* A version-1.0 file with the given dict text, header padded to 64, and n data bytes. */
static size_t craft(uint8_t *buf, int major, const char *dict, const void *data, size_t n) {
    size_t dl = strlen(dict), pre = major == 1 ? 10 : 12;
    size_t total = pre + dl + 1, pad = (64 - total % 64) % 64, hlen = dl + pad + 1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major; buf[7] = 0;
    if (major == 1) { buf[8] = hlen & 0xff; buf[9] = (uint8_t)(hlen >> 8); }
    else { buf[8] = hlen & 0xff; buf[9] = (hlen >> 8) & 0xff; buf[10] = 0; buf[11] = 0; }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, n);
    return pre + hlen + n;
}

/* Expects em_npy_read_f32 to fail with a message naming the file and containing `what`. */
static void expect_refused(const char *name, const uint8_t *buf, size_t n, int ndim, const int *want, const char *what) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    write_bytes(path, buf, n);
    em_err err = {{0}};
    float *out = (float *)1;
    int shape[4];
    int rc = em_npy_read_f32(path, ndim, want, &out, shape, &err);
    CHECK(rc != EM_OK && out == NULL && strstr(err.msg, path) && strstr(err.msg, what) && !strchr(err.msg, '\n'),
          "%s refused: rc=%d \"%s\"", name, rc, err.msg);
}

int main(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    em_err err = {{0}};
    char path[256];

    /* round trip, several ranks */
    float v[2 * 3 * 5];
    for (int i = 0; i < 30; i++) v[i] = (float)(i * 0.37 - 3.1);
    const int shapes[4][4] = {{30}, {6, 5}, {2, 3, 5}, {1, 2, 3, 5}};
    for (int r = 1; r <= 4; r++) {
        snprintf(path, sizeof path, "%s/rt%d.npy", dir, r);
        int rc = em_npy_write_f32(path, v, r, shapes[r - 1], &err);
        CHECK(rc == EM_OK, "write rank %d: %s", r, rc ? err.msg : "ok");
        FILE *f = fopen(path, "rb");
        uint8_t head[10];
        CHECK(f && fread(head, 1, 10, f) == 10 && (10 + (head[8] | head[9] << 8)) % 64 == 0 && head[6] == 1,
              "rank %d: version 1.0 header, data 64-byte aligned", r);
        if (f) fclose(f);
        float *back = NULL;
        int shape[4] = {0}, any[4] = {-1, -1, -1, -1};
        rc = em_npy_read_f32(path, r, any, &back, shape, &err);
        int same = rc == EM_OK && memcmp(back, v, sizeof v) == 0;
        for (int i = 0; i < r; i++) same = same && shape[i] == shapes[r - 1][i];
        CHECK(same, "rank %d round trip: equal bits and shape", r);
        free(back);
    }
    /* no temporary file left behind */
    snprintf(path, sizeof path, "%s/rt1.npy.tmp.%ld", dir, (long)getpid());
    CHECK(access(path, F_OK) != 0, "writer leaves no temporary file");
    /* the writer fails cleanly into a missing directory */
    snprintf(path, sizeof path, "%s/missing/x.npy", dir);
    CHECK(em_npy_write_f32(path, v, 1, shapes[0], &err) != EM_OK && strstr(err.msg, path), "write into a missing directory: %s", err.msg);

    /* malformed inputs */
    uint8_t buf[4096];
    const int want3[3] = {2, 3, 5};
    size_t n;
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    {
        snprintf(path, sizeof path, "%s/ok.npy", dir);
        write_bytes(path, buf, n);
        float *back = NULL; int shape[3];
        int rc = em_npy_read_f32(path, 3, want3, &back, shape, &err);
        CHECK(rc == EM_OK && memcmp(back, v, sizeof v) == 0, "crafted valid file reads: %s", rc ? err.msg : "ok");
        free(back);
    }
    n = craft(buf, 2, "{'shape': (2, 3, 5), 'fortran_order': False, 'descr': '<f4'}", v, sizeof v);
    {
        snprintf(path, sizeof path, "%s/v2.npy", dir);
        write_bytes(path, buf, n);
        float *back = NULL; int shape[3];
        int rc = em_npy_read_f32(path, 3, want3, &back, shape, &err);
        CHECK(rc == EM_OK && memcmp(back, v, sizeof v) == 0, "version 2.0, keys in another order: %s", rc ? err.msg : "ok");
        free(back);
    }
    n = craft(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    expect_refused("f8", buf, n, 3, want3, "'<f8'");
    n = craft(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    expect_refused("bigendian", buf, n, 3, want3, "'>f4'");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 5), }", v, sizeof v);
    expect_refused("fortran", buf, n, 3, want3, "Fortran");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", v, 2 * 3 * 4 * 4);
    expect_refused("shape", buf, n, 3, want3, "shape (2, 3, 4), expected (2, 3, 5)");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 5), }", v, sizeof v);
    expect_refused("rank", buf, n, 3, want3, "rank");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    expect_refused("truncated_data", buf, n - 4, 3, want3, "truncated");
    expect_refused("trailing_data", buf, n + 4, 3, want3, "after");
    expect_refused("truncated_header", buf, 40, 3, want3, "truncated");
    expect_refused("only_magic", buf, 7, 3, want3, "truncated");
    memcpy(buf, "\x93NUMPZ", 6);
    expect_refused("magic", buf, n, 3, want3, "magic");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    buf[8] = 40; /* header length lies short: the dict is cut */
    expect_refused("hlen_short", buf, n, 3, want3, "header");
    buf[8] = 118 + 64; /* (118: the true length) lies long: data bytes parsed as header */
    expect_refused("hlen_long", buf, n, 3, want3, "header");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", v, sizeof v);
    buf[6] = 4;
    expect_refused("version", buf, n, 3, want3, "version 4.0");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), 'x': 1}", v, sizeof v);
    expect_refused("extra_key", buf, n, 3, want3, "'x'");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False}", v, sizeof v);
    expect_refused("no_shape", buf, n, 3, want3, "'shape'");
    n = craft(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 5), }", v, sizeof v);
    const int any3[3] = {-1, -1, -1};
    expect_refused("huge_shape", buf, n, 3, any3, "truncated");
    {
        snprintf(path, sizeof path, "%s/none.npy", dir);
        float *back = NULL; int shape[3];
        int rc = em_npy_read_f32(path, 3, want3, &back, shape, &err);
        CHECK(rc == EM_EIO && strstr(err.msg, path), "missing file: %s", err.msg);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    TEST_MAIN_END();
}
