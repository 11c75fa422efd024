/* libFuzzer target: the config JSON (safetensors metadata "edgemoe.config")
 * and, when it parses, the consistency check and a round trip. */
#include <string.h>
#include "edgemoe.h"
#include "model/config_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    em_config c, c2;
    em_err err;
    if (em_config_from_json(s, &c, &err) == EM_OK && em_config_check(&c, &err) == EM_OK) {
        char buf[4096];
        if (em_config_to_json(&c, buf, sizeof buf) >= 0 && em_config_from_json(buf, &c2, &err) != EM_OK)
            abort();  /* what we write, we must read back */
    }
    free(s);
    return 0;
}
