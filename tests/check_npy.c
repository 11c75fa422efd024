/* Driver of src/data/npy.c for tests/test_npy_numpy.py (numpy on the other side):
 *   check_npy read FILE.npy RAW_OUT D0 D1 ...   (-1 = any extent) prints the shape,
 *                                               writes the floats raw to RAW_OUT
 *   check_npy write FILE.npy RAW_IN D0 D1 ...   writes RAW_IN's floats as .npy
 * On error: the library's one line on stderr, exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "test_util.h"

int main(int argc, char **argv) {
    if (argc < 4 || argc - 4 > EM_NPY_MAX_DIM) {
        fprintf(stderr, "usage: check_npy read|write FILE.npy RAW D0 D1 ...\n");
        return 2;
    }
    int ndim = argc - 4, dims[EM_NPY_MAX_DIM];
    for (int i = 0; i < ndim; i++) dims[i] = atoi(argv[4 + i]);
    em_err err = {{0}};
    if (strcmp(argv[1], "read") == 0) {
        float *data = NULL;
        int shape[EM_NPY_MAX_DIM] = {0};
        if (em_npy_read_f32(argv[2], ndim, dims, &data, shape, &err) != EM_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        size_t n = 1;
        printf("shape");
        for (int i = 0; i < ndim; i++) { printf(" %d", shape[i]); n *= (size_t)shape[i]; }
        printf("\n");
        FILE *f = fopen(argv[3], "wb");
        int ok = f && fwrite(data, 4, n, f) == n;
        if (f && fclose(f) != 0) ok = 0;
        free(data);
        if (!ok) { fprintf(stderr, "%s: cannot write\n", argv[3]); return 1; }
        return 0;
    }
    if (strcmp(argv[1], "write") == 0) {
        size_t n = 1, got = 0;
        for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
        float *data = tu_read_floats(argv[3], &got);
        if (!data || got != n) { fprintf(stderr, "%s: expected %zu floats, got %zu\n", argv[3], n, got); free(data); return 1; }
        int rc = em_npy_write_f32(argv[2], data, ndim, dims, &err);
        free(data);
        if (rc != EM_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
