/* Format sets (docs/formats.md): the original and the presets, the JSON
 * loader's errors (unknown keys, widths and fractional bits out of range,
 * I > W, wrong types), the sessions that take or refuse a set, a set too
 * narrow for the shipped model wrapping where the original does not, and
 * the elementary functions at other fm fractional bits against their bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "edgemoe.h"
#include "hw/hw_math.h"

static char dir[] = "/tmp/em_formats_test.XXXXXX";

static int load_text(const char *name, const char *text, em_formats *f, em_err *err)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) return -100;
    fputs(text, fp);
    fclose(fp);
    return em_formats_load(path, f, err);
}

static void test_sets(void)
{
    em_formats o, f;
    em_err err = {{0}};
    char d[160];
    em_formats_original(&o);
    em_formats_describe(&o, d, sizeof d);
    CHECK(!strcmp(d, "fm<32,10> wt<16,2> bqk<16,7> b5<16,5> pw<16,0> pix<u8,0>") && !strcmp(o.name, "original"),
          "original: %s (docs/spec.md section 2)", d);
    int ok = 1;
    for (int i = 0; i < em_formats_preset_count(); i++) {
        const char *n = em_formats_preset_name(i);
        ok &= em_formats_preset(n, &f, &err) == EM_OK && !strcmp(f.name, n) && em_formats_check(&f, &err) == EM_OK;
    }
    CHECK(ok && em_formats_preset_count() >= 6, "%d presets load and pass the engine's limits (%s)", em_formats_preset_count(),
          err.msg);
    CHECK(em_formats_preset("original", &f, &err) == EM_OK && em_formats_equal(&f, &o), "preset 'original' is the original");
    CHECK(em_formats_preset("fm24", &f, &err) == EM_OK && f.fm.w == 24 && f.wt.w == 16 && !em_formats_equal(&f, &o),
          "preset fm24 changes fm only");
    CHECK(em_formats_get("nosuch", &f, &err) == EM_EARG && strstr(err.msg, "original"), "unknown preset: \"%s\"", err.msg);

    /* JSON: a partial set keeps the original's other quantities */
    int rc = load_text("a.json", "{\"name\": \"mine\", \"fm\": {\"w\": 24, \"i\": 8}, \"wt\": {\"w\": 8, \"i\": 2}, "
                       "\"description\": \"doc\"}", &f, &err);
    CHECK(rc == EM_OK && !strcmp(f.name, "mine") && f.fm.w == 24 && f.fm.i == 8 && f.wt.w == 8 && f.b5.w == 16 && f.b5.i == 5,
          "JSON set: given keys set, others original (%s)", rc ? err.msg : "ok");
    rc = load_text("stem.json", "{\"fm\": {\"w\": 24, \"i\": 8}, \"pw\": {\"w\": 8, \"i\": -2}}", &f, &err);
    CHECK(rc == EM_OK && !strcmp(f.name, "stem") && f.pw.i == -2, "JSON set: name from the file's stem, negative I (%s)",
          rc ? err.msg : "ok");
    struct { const char *file, *text, *want; } bad[] = {
        {"k1.json", "{\"fm\": {\"w\": 24, \"i\": 8}, \"wgt\": {\"w\": 8}}", "k1.json: unknown key 'wgt'"},
        {"k2.json", "{\"fm\": {\"w\": 24, \"frac\": 8}}", "k2.json: unknown key 'fm.frac'"},
        {"w1.json", "{\"fm\": {\"w\": 40, \"i\": 8}}", "fm width 40 out of range 8..32"},
        {"w2.json", "{\"wt\": {\"w\": 20, \"i\": 2}}", "wt width 20 out of range 2..16"},
        {"i1.json", "{\"wt\": {\"w\": 8, \"i\": 9}}", "integer bits exceed the width"},
        {"f1.json", "{\"fm\": {\"w\": 16, \"i\": 12}}", "4 fractional bits, out of range 8..30"},
        {"f2.json", "{\"fm\": {\"w\": 24, \"i\": 1}}", "needs at least 2 integer bits"},
        {"f3.json", "{\"wt\": {\"w\": 16, \"i\": -2}}", "18 fractional bits, out of range 0..16"},
        {"e1.json", "{\"fm\": {\"w\": 24, \"i\": 8}, \"pw\": {\"w\": 16, \"i\": -10}}", "patch-embed kernel"},
        {"t1.json", "{\"fm\": {\"w\": 24.5, \"i\": 8}}", "fm.w must be an integer"},
        {"t2.json", "{\"fm\": [24, 8]}", "fm must be an object"},
        {"t3.json", "{\"fm\": {\"i\": 8}}", "fm needs \"w\""},
        {"t4.json", "[1, 2]", "not a JSON object"},
        {"t5.json", "{\"fm\": {\"w\": 24, \"i\": 8}", "not a JSON object"},
        {"n1.json", "{\"name\": 3}", "name must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        rc = load_text(bad[i].file, bad[i].text, &f, &err);
        CHECK(rc != EM_OK && strstr(err.msg, bad[i].want) && strstr(err.msg, bad[i].file), "%s refused: \"%s\"", bad[i].file,
              err.msg);
    }
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    CHECK(em_formats_load(missing, &f, &err) == EM_EIO && strstr(err.msg, "none.json"), "missing file: \"%s\"", err.msg);
}

static void test_sessions(void)
{
    em_err err = {{0}};
    em_model *m = em_model_open(NULL, &err);
    if (!m) { printf("SKIP: sessions: no shipped model (%s)\n", err.msg); return; }
    em_formats f;
    em_formats_preset("fm24", &f, &err);
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = EM_ENGINE_FAST;
    o.formats = &f;
    o.skip_head = 1;
    o.threads = 2;
    em_session *s = em_session_new(m, &o, &err);
    CHECK(!s && strstr(err.msg, "fixed and hw"), "fast engine refuses a format set: \"%s\"", err.msg);
    em_session_free(s);
    o.engine = EM_ENGINE_HW;
    s = em_session_new(m, &o, &err);
    CHECK(!s && strstr(err.msg, "compiled for fm<32,10>"), "hw engine refuses a set it is not compiled for: \"%s\"", err.msg);
    em_session_free(s);
    f.fm.w = 40;
    o.engine = EM_ENGINE_FIXED;
    s = em_session_new(m, &o, &err);
    CHECK(!s && strstr(err.msg, "fm width 40"), "fixed engine refuses fm<40,8>: \"%s\"", err.msg);
    em_session_free(s);

    /* a val scene: 0 wraps at the original, wraps at fm<16,2> (range +-2) */
    const size_t npix = (size_t)m->cfg.img_c * m->cfg.img_h * m->cfg.img_w;
    float *img = malloc(npix * sizeof(float));
    uint8_t *rgb = malloc((size_t)m->cfg.img_h * m->cfg.img_w * 3);
    if (em_scene_render(1, EM_SPLIT_VAL, 5, m->cfg.img_w, m->cfg.img_h, rgb, NULL, NULL, &err) ||
        em_image_from_rgb8(rgb, m->cfg.img_w, m->cfg.img_h, &m->cfg, img, &err)) {
        CHECK(0, "val scene 5: %s", err.msg);
    } else {
        uint64_t total[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            em_formats_original(&f);
            if (k) { f.fm = (em_fxfmt){16, 2}; snprintf(f.name, sizeof f.name, "fm16i2"); }
            s = em_session_new(m, &o, &err);
            em_engine_stats st;
            if (!s || em_session_run(s, img, 1u, &err) || em_session_stats(s, 0, &st, &err)) {
                CHECK(0, "fixed engine at %s: %s", f.name, err.msg);
            } else {
                for (int op = 0; op < st.n_ops; op++) total[k] += st.wraps[op];
            }
            em_session_free(s);
        }
        CHECK(total[0] == 0 && total[1] > 1000, "val scene 5, semseg: %llu wraps at the original, %llu at fm<16,2>",
              (unsigned long long)total[0], (unsigned long long)total[1]);
    }
    free(img);
    free(rgb);
    em_model_close(m);
}

/* exp, 1/x, sqrt at other fractional bits: the bounds of hw_math.h with
 * ulp = 2^-f (exp: -1 ulp - 2^-28 < E - e^x <= 2^-28; 1/x, sqrt: exact floors). */
static void test_math(void)
{
    const int fs[] = {16, 12, 8}, ws[] = {24, 20, 16};
    for (int k = 0; k < 3; k++) {
        const int f = fs[k], w = ws[k];
        const double ulp = ldexp(1, -f);
        int bad_e = 0, bad_r = 0, bad_s = 0;
        for (int64_t x = -((int64_t)1 << (w - 1)); x < ((int64_t)1 << (w - 1)); x += 1 + (x & 7) * 37) {
            const double xr = (double)x * ulp;
            if (x <= 0) {
                const double e = ldexp((double)hw_exp_f((fm_t)x, f), -f) - exp(xr);
                bad_e += !(e > -ulp - ldexp(1, -28) && e <= ldexp(1, -28));
            }
            if (x != 0) {
                const double r = 1.0 / xr - ldexp((double)hw_recip_f((fm_t)x, f, w), -f);
                bad_r += !(r >= 0 && r < ulp);
            }
            if (x > 0) {
                const double q = sqrt(xr) - ldexp((double)hw_sqrt_f((fm_t)x, f, w), -f);
                bad_s += !(q >= 0 && q < ulp);
            }
        }
        CHECK(!bad_e && !bad_r && !bad_s, "fm<%d,%d>: exp, 1/x, sqrt within their bounds over the range (%d, %d, %d bad)", w,
              w - f, bad_e, bad_r, bad_s);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); TEST_MAIN_END(); }
    test_sets();
    test_math();
    test_sessions();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    TEST_MAIN_END();
}
