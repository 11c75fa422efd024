/* Model loading (Edge-MoE directory), config checks, synthetic model, and
 * session behaviour of the reference engine. */
#include <unistd.h>
#include <sys/stat.h>
#include "test_util.h"
#include "edgemoe.h"

static char tmpdir[256];

/* a directory of symlinks to the shared weights, one of which we may replace */
static void make_link_dir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/em_test_model_%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && for f in $(cd %s && pwd)/*.float32.bin; do ln -s \"$f\" %s/; done",
             tmpdir, tmpdir, tu_shared_dir(), tmpdir);
    if (system(cmd) != 0) { printf("FAIL: cannot make %s\n", tmpdir); exit(1); }
}

static void replace_file(const char *name, const float *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s.float32.bin", tmpdir, name);
    unlink(p);
    FILE *f = fopen(p, "wb");
    fwrite(data, 4, n, f);
    fclose(f);
}

static void relink(const char *name) {
    char p[512], cmd[1200];
    snprintf(p, sizeof p, "%s/%s.float32.bin", tmpdir, name);
    snprintf(cmd, sizeof cmd, "rm -f %s && ln -s $(cd %s && pwd)/%s.float32.bin %s", p, tu_shared_dir(), name, p);
    if (system(cmd) != 0) printf("FAIL: relink %s\n", name);
}

static void expect_fail(const char *what, int want_code, const char *must_contain) {
    em_model m;
    em_err err = {{0}};
    int rc = em_model_load(&m, tmpdir, &err);
    CHECK(rc == want_code && strstr(err.msg, must_contain) != NULL, "%s -> rc %d, \"%s\"", what, rc, err.msg);
    if (rc == 0) em_model_free(&m);
}

static void test_dir_loader(void) {
    em_model m;
    em_err err;
    int rc = em_model_load(&m, tu_shared_dir(), &err);
    CHECK(rc == 0, "shared Edge-MoE directory loads (%s)", rc ? err.msg : "ok");
    if (rc) return;
    size_t n;
    char p[512];
    snprintf(p, sizeof p, "%s/l7_htoh4_weight.float32.bin", tu_shared_dir());
    float *raw = tu_read_floats(p, &n);
    em_tensor *t = em_model_find(&m, "l7_htoh4_weight");
    CHECK(t && raw && n == t->numel && memcmp(raw, t->data, n * 4) == 0, "l7_htoh4_weight lands in the arena");
    CHECK(t && t->data == m.w.exp1_w + 3 * (size_t)16 * 384 * 192, "per-layer tensors are stacked: layer 7 is MoE slot 3");
    free(raw);
    em_model_free(&m);

    make_link_dir();
    float small[10] = {0};
    replace_file("l3_qkv_bias", small, 10);
    expect_fail("truncated file", EM_ESHAPE, "l3_qkv_bias.float32.bin: 40 bytes, expected 2304");
    float *big = calloc(577, 4);
    replace_file("l3_qkv_bias", big, 577);
    expect_fail("file too long", EM_ESHAPE, "l3_qkv_bias.float32.bin: 2308 bytes");
    free(big);
    relink("l3_qkv_bias");
    char p2[512];
    snprintf(p2, sizeof p2, "%s/l4_fc1_weight.float32.bin", tmpdir);
    CHECK(unlink(p2) == 0, "remove a tensor file");
    expect_fail("missing tensor", EM_EIO, "missing tensor l4_fc1_weight");
    relink("l4_fc1_weight");
    float nanv[192];
    for (int i = 0; i < 192; i++) nanv[i] = 0.5f;
    nanv[17] = NAN;
    replace_file("l9_norm2_bias", nanv, 192);
    expect_fail("NaN weight", EM_EVALUE, "l9_norm2_bias.float32.bin: non-finite value (nan) at index 17");
    relink("l9_norm2_bias");
    CHECK(em_model_load(&m, tmpdir, &err) == 0, "restored directory loads again");
    em_model_free(&m);
    CHECK(em_model_load(&m, "/nonexistent/model", &err) == EM_EIO && strstr(err.msg, "/nonexistent/model"),
          "nonexistent model path: %s", err.msg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
}

static em_config tiny_config(void) {
    em_config c;
    em_config_default(&c);
    c.img_h = 32; c.img_w = 64; c.grid_h = 2; c.grid_w = 4; c.n_tok = 9;
    c.dim = 32; c.n_heads = 2; c.head_dim = 16; c.depth = 4; c.mlp_hidden = 64;
    c.n_experts = 4; c.expert_hidden = 48; c.top_k = 2; c.head_ch = 8;
    return c;
}

static void test_config(void) {
    em_config c = tiny_config();
    em_err err;
    CHECK(em_config_check(&c, &err) == 0, "tiny config is consistent");
    c.n_heads = 3;
    CHECK(em_config_check(&c, &err) != 0 && strstr(err.msg, "dim 32 != n_heads 3"), "heads mismatch refused: %s", err.msg);
    c = tiny_config(); c.top_k = 5;
    CHECK(em_config_check(&c, &err) != 0 && strstr(err.msg, "top_k"), "top_k > experts refused: %s", err.msg);
    c = tiny_config(); c.n_tok = 8;
    CHECK(em_config_check(&c, &err) != 0 && strstr(err.msg, "n_tok"), "token count refused: %s", err.msg);
    em_config_default(&c);
    CHECK(em_task_index(&c, "depth") == 1 && em_task_index(&c, "semseg") == 0 && em_task_index(&c, "normals") == EM_EARG,
          "task names");
    em_engine_kind k;
    CHECK(em_engine_parse("gpu", &k) == EM_EARG && em_engine_parse("hw", &k) == EM_OK && k == EM_ENGINE_HW,
          "engine names: unknown is EM_EARG, distinct from EM_EIO");
    int codes[] = {EM_OK, EM_EIO, EM_EFORMAT, EM_ESHAPE, EM_EVALUE, EM_EARG, EM_ENOMEM};
    int distinct = 1;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < i; j++)
            distinct &= codes[i] != codes[j] && strcmp(em_strerror(codes[i]), em_strerror(codes[j])) != 0;
    CHECK(distinct && !strcmp(em_strerror(-99), "unknown error"), "error codes and their names are distinct");
    CHECK(!strcmp(em_version(), EM_VERSION_STRING), "library version %s matches the header", em_version());
}

static void fill_image(float *img, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) img[i] = (float)((i * 2654435761u + seed) >> 7 & 255) / 256.0f;
}

static void test_synthetic_and_session(void) {
    em_config c = tiny_config();
    em_model a, b, d;
    em_err err;
    CHECK(em_model_synthetic(&a, &c, 7, &err) == 0 && em_model_synthetic(&b, &c, 7, &err) == 0 &&
          em_model_synthetic(&d, &c, 8, &err) == 0, "synthetic models");
    CHECK(memcmp(a.arena, b.arena, a.arena_floats * 4) == 0, "same seed -> identical weights");
    CHECK(memcmp(a.arena, d.arena, a.arena_floats * 4) != 0, "other seed -> other weights");
    CHECK(em_model_check_finite(&a, &err) == 0, "synthetic weights finite");

    size_t n = (size_t)c.img_c * c.img_h * c.img_w;
    float *img = malloc(n * 4);
    fill_image(img, n, 3);
    em_session_opts o = {0};
    o.engine = EM_ENGINE_REF;
    em_session *s = em_session_new(&a, &o, &err);
    CHECK(s != NULL, "session on a non-default config");
    if (!s) return;
    CHECK(em_session_run(s, img, 3, &err) == 0, "run both tasks");
    size_t ND = (size_t)c.n_tok * c.dim, HW = (size_t)c.img_h * c.img_w;
    float *f0 = malloc(ND * 4), *f1 = malloc(ND * 4), *l1 = malloc(HW * 4);
    memcpy(f0, em_session_output(s, 0)->features, ND * 4);
    memcpy(f1, em_session_output(s, 1)->features, ND * 4);
    memcpy(l1, em_session_output(s, 1)->logits, HW * 4);
    const em_task_output *o0 = em_session_output(s, 0);
    int sum_ok = 1, range_ok = 1;
    for (int l = 0; l < em_n_moe_layers(&c); l++) {
        int tot = 0;
        for (int e = 0; e < c.n_experts; e++) tot += o0->expert_tokens[l * c.n_experts + e];
        sum_ok &= tot == c.n_tok * c.top_k;
        for (int t = 0; t < c.n_tok; t++) {
            const int32_t *r = o0->routing + ((size_t)l * c.n_tok + t) * c.top_k;
            const float *g = o0->gate_prob + ((size_t)l * c.n_tok + t) * c.top_k;
            range_ok &= r[0] >= 0 && r[0] < c.n_experts && r[1] >= 0 && r[1] < c.n_experts && r[0] != r[1];
            range_ok &= g[0] >= g[1] && g[0] <= 1 && g[1] > 0;
        }
    }
    CHECK(sum_ok, "expert token counts add up to N x k per layer");
    CHECK(range_ok, "routing ids distinct and in range, slot 0 has the larger probability");
    CHECK(memcmp(f0, f1, ND * 4) != 0, "the two tasks' gates give different features");
    /* the shared prefix must not change results: run each task alone */
    CHECK(em_session_run(s, img, 2, &err) == 0, "run task 1 alone");
    CHECK(memcmp(f1, em_session_output(s, 1)->features, ND * 4) == 0, "task 1 alone == task 1 in 'all' (features)");
    CHECK(memcmp(l1, em_session_output(s, 1)->logits, HW * 4) == 0, "task 1 alone == task 1 in 'all' (logits)");
    CHECK(em_session_run(s, img, 1, &err) == 0 && memcmp(f0, em_session_output(s, 0)->features, ND * 4) == 0,
          "task 0 alone == task 0 in 'all'");
    CHECK(em_session_run(s, img, 4, &err) == EM_EARG, "task mask beyond the model refused: %s", err.msg);
    img[5] = NAN;
    CHECK(em_session_run(s, img, 1, &err) == EM_EVALUE && strstr(err.msg, "non-finite"), "NaN image refused: %s", err.msg);
    em_session_free(s);
    free(f0); free(f1); free(l1); free(img);
    em_model_free(&a); em_model_free(&b); em_model_free(&d);
}

/* Limits (docs/safety.md): dimensions, weights and a session's working
 * memory are refused with the limit named, before memory is taken. */
static void test_limits(void) {
    em_config c = tiny_config();
    em_err err;
    c.dim = c.n_heads * 8193; c.head_dim = 8193;
    CHECK(em_config_check(&c, &err) != 0 && strstr(err.msg, "at most 8192"), "width past EM_LIMIT_DIM refused: %s", err.msg);
    c = tiny_config(); c.mlp_hidden = 1 << 20;
    CHECK(em_config_check(&c, &err) != 0 && strstr(err.msg, "mlp_hidden"), "hidden width past the limit refused: %s", err.msg);
    c = tiny_config(); c.depth = 32; c.dim = 8192; c.n_heads = 8; c.head_dim = 1024; c.mlp_hidden = 32768;
    em_model m;
    CHECK(em_model_plan(&m, &c, &err) != 0 && strstr(err.msg, "EM_LIMIT_PARAMS"),
          "a config of %.1f G weights refused before any memory is taken: %s", em_config_n_params(&c) / 1e9, err.msg);
    c = tiny_config();
    CHECK(em_model_plan(&m, &c, &err) == 0 && m.arena == NULL && m.n_tensors > 0 && m.tensors[0].data == NULL,
          "em_model_plan: %d tensors named and shaped, no arena", m.n_tensors);
    uint64_t sum = 0;
    for (int i = 0; i < m.n_tensors; i++) sum += m.tensors[i].numel;
    CHECK(sum == em_config_n_params(&c), "em_config_n_params %llu = the plan's tensors %llu",
          (unsigned long long)em_config_n_params(&c), (unsigned long long)sum);
    em_model_free(&m);
    /* a few MB of weights, but a 4096 x 4096 image: the head's two largest maps alone are 2.1 GB */
    c = tiny_config();
    c.img_h = c.img_w = 4096; c.grid_h = c.grid_w = 4096 / c.patch; c.n_tok = c.grid_h * c.grid_w + 1; c.head_ch = 64;
    em_session *s = NULL;
    if (em_model_alloc(&m, &c, &err) == 0) {
        em_session_opts o = {.engine = EM_ENGINE_FAST};
        s = em_session_new(&m, &o, &err);
        CHECK(!s && strstr(err.msg, "EM_LIMIT_SESSION_BYTES"), "a session needing about 3 GB refused: %s", err.msg);
        em_session_free(s);
        em_model_free(&m);
    } else {
        CHECK(0, "4096 x 4096 model allocates (%s)", err.msg);
    }
}

int main(void) {
    test_config();
    test_limits();
    test_dir_loader();
    test_synthetic_and_session();
    TEST_MAIN_END();
}
