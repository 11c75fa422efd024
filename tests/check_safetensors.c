/* Helper for tests/test_safetensors_interop.py (built, not run on its own).
 *   check_safetensors dump MODEL OUTDIR   load MODEL (dir or .safetensors) and
 *       write OUTDIR/config.json, OUTDIR/tensors.txt ("name d0xd1.." per line,
 *       table order) and OUTDIR/<name>.float32.bin per tensor
 *   check_safetensors save MODEL OUT      load MODEL, save it as OUT
 *   check_safetensors synth OUT SEED      tiny synthetic model (D 32, 2 heads,
 *       depth 4, E 4, image 32x64) saved as OUT
 * Errors: the em_err line on stderr, exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgemoe.h"
#include "model/config_json.h"

static int fail(const char *what, const em_err *err) {
    fprintf(stderr, "%s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    em_err err = {{0}};
    em_model m;
    if (argc == 4 && !strcmp(argv[1], "dump")) {
        if (em_model_load(&m, argv[2], &err)) return fail("load", &err);
        char p[4096], js[8192];
        snprintf(p, sizeof p, "%s/config.json", argv[3]);
        FILE *f = fopen(p, "w");
        if (!f || em_config_to_json(&m.cfg, js, sizeof js) < 0) { perror(p); return 1; }
        fprintf(f, "%s\n", js);
        fclose(f);
        snprintf(p, sizeof p, "%s/tensors.txt", argv[3]);
        FILE *lst = fopen(p, "w");
        if (!lst) { perror(p); return 1; }
        for (int i = 0; i < m.n_tensors; i++) {
            const em_tensor *t = &m.tensors[i];
            fprintf(lst, "%s ", t->name);
            for (int d = 0; d < t->ndim; d++) fprintf(lst, "%s%d", d ? "x" : "", t->shape[d]);
            fprintf(lst, "\n");
            snprintf(p, sizeof p, "%s/%s.float32.bin", argv[3], t->name);
            f = fopen(p, "wb");
            if (!f || fwrite(t->data, 4, t->numel, f) != t->numel) { perror(p); return 1; }
            fclose(f);
        }
        fclose(lst);
        em_model_free(&m);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "save")) {
        if (em_model_load(&m, argv[2], &err)) return fail("load", &err);
        int rc = em_model_save_safetensors(&m, argv[3], &err);
        em_model_free(&m);
        return rc ? fail("save", &err) : 0;
    }
    if (argc == 4 && !strcmp(argv[1], "synth")) {
        em_config c;
        em_config_default(&c);
        c.img_h = 32; c.img_w = 64; c.grid_h = 2; c.grid_w = 4; c.n_tok = 9;
        c.dim = 32; c.n_heads = 2; c.head_dim = 16; c.depth = 4;
        c.mlp_hidden = 64; c.n_experts = 4; c.expert_hidden = 32; c.head_ch = 16;
        if (em_model_synthetic(&m, &c, strtoull(argv[3], NULL, 10), &err)) return fail("synthetic", &err);
        int rc = em_model_save_safetensors(&m, argv[2], &err);
        em_model_free(&m);
        return rc ? fail("save", &err) : 0;
    }
    fprintf(stderr, "usage: check_safetensors dump MODEL OUTDIR | save MODEL OUT | synth OUT SEED\n");
    return 2;
}
