/* libFuzzer target: image loading as `edgemoe run` does it: PNG/JPEG
 * decode (or the raw float32 layout), resize to the model size, v/256. */
#include <stdlib.h>
#include "edgemoe.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static float *out;
    static em_config c;
    if (!out) {
        em_config_default(&c);
        out = malloc(sizeof(float) * 3 * 128 * 256);
        if (!out) abort();
    }
    em_err err;
    em_image_load(fuzz_file(data, size, ".img"), &c, out, &err);
    return 0;
}
