/* libFuzzer target: a number-format set file (edgemoe --formats FILE.json):
 * the loader, then, for a set it accepts, the engine's own check and its
 * description. */
#include "edgemoe.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".json");
    em_formats f;
    em_err err;
    if (em_formats_load(path, &f, &err) == EM_OK) {
        if (em_formats_check(&f, &err) != EM_OK) abort();  /* what the loader accepts, the engine can run */
        char buf[256];
        em_formats_describe(&f, buf, sizeof buf);
    }
    return 0;
}
