/* libFuzzer target: the Edge-MoE weight directory.  At start a valid
 * directory is written (the synthetic model); each input replaces one
 * tensor file, chosen by the first byte, with the rest of the input. */
#include <string.h>
#include <sys/stat.h>
#include "edgemoe.h"
#include "fuzz_util.h"

static char dir[256];
static em_model ref;

static void remove_dir(void) {
    char path[512];
    for (int i = 0; i < ref.n_tensors; i++) {
        snprintf(path, sizeof path, "%s/%s.float32.bin", dir, ref.tensors[i].name);
        unlink(path);
    }
    rmdir(dir);
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n)) abort();
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    em_config c;
    em_err err;
    em_config_default(&c);
    if (em_model_synthetic(&ref, &c, 1, &err)) abort();
    snprintf(dir, sizeof dir, "/tmp/em_fuzz_dir_%d", (int)getpid());
    mkdir(dir, 0755);
    atexit(remove_dir);
    char path[512];
    for (int i = 0; i < ref.n_tensors; i++) {
        snprintf(path, sizeof path, "%s/%s.float32.bin", dir, ref.tensors[i].name);
        write_file(path, ref.tensors[i].data, ref.tensors[i].numel * 4);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const em_tensor *t = &ref.tensors[data[0] % ref.n_tensors];
    char path[512];
    snprintf(path, sizeof path, "%s/%s.float32.bin", dir, t->name);
    write_file(path, data + 1, size - 1);
    em_model m;
    em_err err;
    if (em_model_load_dir(&m, dir, &err) == EM_OK) em_model_free(&m);
    write_file(path, t->data, t->numel * 4);  /* restore */
    return 0;
}
