/* libFuzzer target: the .npy reader (any shape of rank 1..4, then the
 * dataset shapes). */
#include <stdlib.h>
#include "data/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".npy");
    em_err err;
    for (int nd = 1; nd <= 3; nd++) {
        int want[4] = {-1, -1, -1, -1}, shape[4];
        float *out = NULL;
        if (em_npy_read_f32(path, nd, want, &out, shape, &err) == EM_OK) {
            size_t n = 1;
            for (int i = 0; i < nd; i++) n *= (size_t)shape[i];
            volatile float sink = 0;
            for (size_t i = 0; i < n; i++) sink += out[i];  /* every value is readable */
            (void)sink;
            free(out);
        }
    }
    return 0;
}
