/* em_config.moe_layers: which blocks are MoE.  The rank numbering of dense
 * and MoE blocks, a model whose MoE blocks are not the odd ones (tensor
 * table, ref and fast engines agree, safetensors round trip), the config
 * JSON key and its validation, and the fixed engines' refusal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "edgemoe.h"
#include "model/config_json.h"
#include "test_util.h"

static void tiny_cfg(em_config *c, uint32_t moe) {
    em_config_default(c);
    c->img_h = 32; c->img_w = 64; c->grid_h = 2; c->grid_w = 4; c->n_tok = 9;
    c->dim = 32; c->n_heads = 2; c->head_dim = 16; c->depth = 4;
    c->mlp_hidden = 64; c->n_experts = 4; c->expert_hidden = 32; c->top_k = 2; c->head_ch = 16;
    c->moe_layers = moe;
}

static void test_indexing(void) {
    em_config c;
    em_config_default(&c);
    int odd = 1;
    for (int L = 0; L < c.depth; L++)
        odd &= em_is_moe(&c, L) == (L % 2) && (L % 2 ? em_moe_index(&c, L) : em_dense_index(&c, L)) == L / 2;
    CHECK(odd && em_n_moe_layers(&c) == 6 && em_n_dense_layers(&c) == 6,
          "default: the odd blocks are MoE, block L is the L/2-th of its kind");
    c.depth = 6; c.moe_layers = 0x2Cu | 0xC0u;   /* blocks 2, 3, 5; bits >= depth ignored */
    int want_moe[6] = {0, 0, 1, 1, 0, 1}, want_idx[6] = {0, 1, 0, 1, 2, 2}, ok = 1;
    for (int L = 0; L < 6; L++)
        ok &= em_is_moe(&c, L) == want_moe[L] &&
              (want_moe[L] ? em_moe_index(&c, L) : em_dense_index(&c, L)) == want_idx[L];
    CHECK(ok && em_n_moe_layers(&c) == 3 && em_n_dense_layers(&c) == 3 && !em_is_moe(&c, 6) && !em_is_moe(&c, -1),
          "moe_layers 0x%x, depth 6: MoE 2,3,5 numbered 0,1,2; dense 0,1,4 numbered 0,1,2", c.moe_layers);
    em_err err;
    c.moe_layers = 0;
    c.depth = 2;
    CHECK(em_config_check(&c, &err) == EM_OK && em_n_moe_layers(&c) == 0, "a config without MoE blocks is valid");
}

static float *image(const em_config *c, unsigned seed) {
    size_t n = (size_t)c->img_c * c->img_h * c->img_w;
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; p[i] = (seed >> 8) * (1.0f / 16777216.0f); }
    return p;
}

static em_session *session(const em_model *m, em_engine_kind k, int threads, em_err *err) {
    em_session_opts o = {0};
    o.engine = k; o.threads = threads;
    return em_session_new(m, &o, err);
}

/* ref and fast on a model with MoE in the blocks of moe */
static void test_pattern(uint32_t moe, const char *tmpdir) {
    em_config c;
    tiny_cfg(&c, moe);
    em_model m, b;
    em_err err = {{0}};
    if (em_model_synthetic(&m, &c, 11, &err)) { CHECK(0, "moe 0x%x: synthetic: %s", moe, err.msg); return; }
    /* tensor table: experts where the mask says, dense MLPs elsewhere */
    int table = 1;
    for (int L = 0; L < c.depth; L++) {
        char e[48], d[48];
        snprintf(e, sizeof e, "l%d_htoh4_weight", L);
        snprintf(d, sizeof d, "l%d_fc1_weight", L);
        table &= (em_model_find(&m, e) != NULL) == (int)(moe >> L & 1) && (em_model_find(&m, d) != NULL) == !(moe >> L & 1);
    }
    CHECK(table, "moe 0x%x: the tensor table has experts exactly in the MoE blocks", moe);
    /* MoE block i's experts are the i-th slice of the stacked arrays */
    char name[48];
    int first = 0;
    while (!em_is_moe(&c, first)) first++;
    snprintf(name, sizeof name, "l%d_htoh4_weight", first);
    em_tensor *t = em_model_find(&m, name);
    CHECK(t && t->data == m.w.exp1_w, "moe 0x%x: first MoE block (%d) is slice 0 of exp1_w", moe, first);

    float *img = image(&c, moe);
    em_session *r = session(&m, EM_ENGINE_REF, 1, &err), *f = session(&m, EM_ENGINE_FAST, 2, &err);
    unsigned all = (1u << c.n_tasks) - 1;
    size_t nf = (size_t)c.n_tok * c.dim, nr = (size_t)em_n_moe_layers(&c) * c.n_tok * c.top_k;
    if (!r || !f || em_session_run(r, img, all, &err) || em_session_run(f, img, all, &err)) {
        CHECK(0, "moe 0x%x: sessions: %s", moe, err.msg);
    } else {
        for (int k = 0; k < c.n_tasks; k++) {
            const em_task_output *a = em_session_output(f, k), *w = em_session_output(r, k);
            char label[96];
            snprintf(label, sizeof label, "moe 0x%x task %d: fast features vs ref", moe, k);
            check_tensor(label, a->features, w->features, nf, 1e-4);
            snprintf(label, sizeof label, "moe 0x%x task %d: fast logits vs ref", moe, k);
            check_tensor(label, a->logits, w->logits, (size_t)c.task_channels[k] * c.img_h * c.img_w, 1e-4);
            int sums = 1;
            for (int l = 0; l < em_n_moe_layers(&c); l++) {
                int s = 0;
                for (int x = 0; x < c.n_experts; x++) s += w->expert_tokens[l * c.n_experts + x];
                sums &= s == c.n_tok * c.top_k;
            }
            CHECK(!memcmp(a->routing, w->routing, nr * 4) && sums,
                  "moe 0x%x task %d: routing identical, every MoE block routes N x top_k tokens", moe, k);
        }
    }
    /* safetensors round trip: the pattern is in the metadata */
    char path[600];
    snprintf(path, sizeof path, "%s/moe_%x.safetensors", tmpdir, moe);
    int rc = em_model_save_safetensors(&m, path, &err);
    if (!rc) rc = em_model_load(&b, path, &err);
    if (rc) {
        CHECK(0, "moe 0x%x: safetensors round trip: %s", moe, err.msg);
    } else {
        int same = b.cfg.moe_layers == c.moe_layers && b.n_tensors == m.n_tensors &&
                   b.arena_floats == m.arena_floats && !memcmp(b.arena, m.arena, m.arena_floats * sizeof(float));
        CHECK(same, "moe 0x%x: safetensors round trip: moe_layers 0x%x and every weight identical", moe, b.cfg.moe_layers);
        em_session *g = session(&b, EM_ENGINE_FAST, 2, &err);
        if (g && f && !em_session_run(g, img, all, &err))
            CHECK(!memcmp(em_session_output(g, 0)->features, em_session_output(f, 0)->features, nf * 4),
                  "moe 0x%x: the reloaded model runs bit-identically", moe);
        else CHECK(0, "moe 0x%x: reloaded run: %s", moe, err.msg);
        em_session_free(g);
        em_model_free(&b);
    }
    unlink(path);
    em_session_free(r); em_session_free(f);
    free(img);
    em_model_free(&m);
}

/* the accelerator is built for the odd blocks: the fixed engines refuse a
 * model of its sizes with MoE elsewhere */
static void test_fixed_refuses(void) {
    em_config c;
    em_config_default(&c);
    c.moe_layers = 0x555;   /* the even blocks */
    em_model m;
    em_err err = {{0}};
    if (em_model_alloc(&m, &c, &err)) { CHECK(0, "alloc: %s", err.msg); return; }
    em_engine_kind kinds[2] = {EM_ENGINE_HW, EM_ENGINE_FIXED};
    for (int i = 0; i < 2; i++) {
        em_session *x = session(&m, kinds[i], 1, &err);
        CHECK(!x && strstr(err.msg, "block 0 is MoE") && strstr(err.msg, "odd blocks"),
              "%s engine refuses MoE in the even blocks: %s", em_engine_name(kinds[i]), err.msg);
        em_session_free(x);
    }
    em_model_free(&m);
}

static void test_json(void) {
    em_config a, b;
    em_err err = {{0}};
    char js[4096];
    tiny_cfg(&a, 0xD);
    int n = em_config_to_json(&a, js, sizeof js);
    memset(&b, 0, sizeof b);
    int rc = em_config_from_json(js, &b, &err);
    CHECK(n > 0 && strstr(js, "\"moe_layers\":13") && rc == 0 && !memcmp(&a, &b, sizeof a),
          "moe_layers 0xD -> JSON -> config identical: %s", js);
    tiny_cfg(&a, EM_MOE_ODD);
    em_config_to_json(&a, js, sizeof js);
    CHECK(!strstr(js, "moe_layers"), "the odd blocks (default) are not written (older readers stay compatible)");
    em_config_default(&b);
    b.moe_layers = 0x5;
    rc = em_config_from_json("{\"depth\":12}", &b, &err);
    CHECK(rc == 0 && b.moe_layers == EM_MOE_ODD, "absent moe_layers (older files) means the odd blocks");
    const char *bad[] = {"{\"moe_layers\":-1}", "{\"moe_layers\":1.5}", "{\"moe_layers\":\"odd\"}",
                         "{\"moe_layers\":4294967296}", "{\"moe_layers\":[1,3]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        em_config_default(&b);
        rc = em_config_from_json(bad[i], &b, &err);
        CHECK(rc == EM_EFORMAT && strstr(err.msg, "moe_layers"), "%s refused: %s", bad[i], err.msg);
    }
}

int main(void) {
    char tmpdir[] = "/tmp/em_moe_XXXXXX";
    if (!mkdtemp(tmpdir)) { CHECK(0, "mkdtemp"); TEST_MAIN_END(); }
    test_indexing();
    test_pattern(0xD, tmpdir);   /* blocks 0, 2, 3: the prefix is the embed and block 0's attention */
    test_pattern(0x6, tmpdir);   /* blocks 1, 2 */
    test_fixed_refuses();
    test_json();
    rmdir(tmpdir);
    TEST_MAIN_END();
}
