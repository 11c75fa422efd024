/* libFuzzer target: the safetensors loader (header JSON, dtypes, offsets,
 * config metadata, shapes, values). */
#include "edgemoe.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    em_model m;
    em_err err;
    if (em_model_load_safetensors(&m, fuzz_file(data, size, ".safetensors"), &err) == EM_OK) em_model_free(&m);
    return 0;
}
