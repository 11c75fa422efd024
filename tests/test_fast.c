/* Fast engine (docs/fast.md).
 * 1. Kernels of every instruction set this CPU runs (c, gvec, avx2, avx512) against
 *    naive double-precision loops on odd shapes: GEMM with each epilogue and
 *    gathered/scattered rows, splitting invariance, exp, GELU, LayerNorm,
 *    attention, Winograd conv3x3, bilinear upsampling.
 * 2. The engine against the reference engine on the shared weights: features
 *    and logits within 1e-4 of the tensor's max magnitude, identical routing,
 *    for several images and both tasks; bit-identical results for 1, 2 and 3
 *    threads; the portable kernels too. */
#include <stdint.h>
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fast_kern.h"
#include "engine/ops.h"
#include "test_util.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* uniform [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1ull << 23)) - 1.0);
}
static void fill(float *p, size_t n, float s) { for (size_t i = 0; i < n; i++) p[i] = frand() * s; }

static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

/* ---- kernels ---- */

static void test_gemm(const em_fast_kern *k) {
    static const int Ms[] = {1, 5, 7, 13, 129}, Ns[] = {1, 7, 16, 17, 33, 100}, Ks[] = {1, 3, 19, 64};
    int bad_total = 0, runs = 0;
    double worst = 0;
    for (int mi = 0; mi < 5; mi++)
        for (int ni = 0; ni < 6; ni++)
            for (int ki = 0; ki < 4; ki++)
                for (int epi = 0; epi <= EM_EPI_SCALE_ADD; epi++) {
                    int M = Ms[mi], N = Ns[ni], K = Ks[ki], gather = epi == EM_EPI_SCALE_ADD || epi == EM_EPI_GELU;
                    int Arows = M + 3;
                    float *A = malloc(sizeof(float) * Arows * K), *W = malloc(sizeof(float) * N * K);
                    int np = (N + k->nr - 1) / k->nr;
                    float *B = malloc(sizeof(float) * em_fast_packed_floats(N, K, k->nr));
                    float *bias = calloc((size_t)np * k->nr, sizeof(float));
                    float *C = malloc(sizeof(float) * (M + 3) * N), *want = malloc(sizeof(float) * (M + 3) * N);
                    int32_t *arow = malloc(sizeof(int32_t) * M), *crow = malloc(sizeof(int32_t) * M);
                    float *cs = malloc(sizeof(float) * M);
                    fill(A, (size_t)Arows * K, 1); fill(W, (size_t)N * K, 1); fill(bias, N, 1);
                    fill(C, (size_t)(M + 3) * N, 1);
                    memcpy(want, C, sizeof(float) * (M + 3) * N);
                    for (int i = 0; i < M; i++) {
                        arow[i] = gather ? (i * 7 + 2) % Arows : i;
                        crow[i] = M + 2 - i; /* distinct rows of the M+3 row output, reversed */
                        cs[i] = frand();
                    }
                    em_fast_pack_b(W, N, K, K, k->nr, B);
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double acc = bias[j];
                            for (int q = 0; q < K; q++) acc += (double)A[(size_t)arow[i] * K + q] * W[(size_t)j * K + q];
                            int r = epi == EM_EPI_SCALE_ADD ? crow[i] : i;
                            float *o = &want[(size_t)r * N + j];
                            switch (epi) {
                            case EM_EPI_STORE: *o = (float)acc; break;
                            case EM_EPI_GELU: *o = (float)gelu_d(acc); break;
                            case EM_EPI_ADD: *o = (float)(*o + acc); break;
                            case EM_EPI_RELU: *o = (float)(acc > 0 ? acc : 0); break;
                            case EM_EPI_SCALE_ADD: *o = (float)(*o + cs[i] * acc); break;
                            }
                        }
                    em_gemm g = {M, N, K, A, K, gather ? arow : NULL, B, 0, bias, C, N, crow, cs, epi, NULL};
                    /* split into uneven row / panel ranges */
                    int ms = M / 3 + 1, ps = np / 2 + 1;
                    for (int m0 = 0; m0 < M; m0 += ms)
                        for (int p0 = 0; p0 < np; p0 += ps)
                            k->gemm(&g, m0, m0 + ms < M ? m0 + ms : M, p0, p0 + ps < np ? p0 + ps : np);
                    double maxref = 0, maxerr = 0;
                    for (int i = 0; i < (M + 3) * N; i++) {
                        if (fabs(want[i]) > maxref) maxref = fabs(want[i]);
                        double e = fabs((double)C[i] - want[i]);
                        if (!(e <= maxerr)) maxerr = e;
                    }
                    double rel = maxerr / (maxref > 0 ? maxref : 1);
                    if (!(rel <= 2e-6)) {
                        if (bad_total < 5) printf("  gemm %s M=%d N=%d K=%d epi=%d rel err %.3g\n", k->name, M, N, K, epi, rel);
                        bad_total++;
                    }
                    if (rel > worst) worst = rel;
                    runs++;
                    free(A); free(W); free(B); free(bias); free(C); free(want); free(arow); free(crow); free(cs);
                }
    CHECK(bad_total == 0, "%s gemm: %d shape x epilogue cases (odd M, N, K, gathered rows, split ranges) "
          "within 2e-6 of double loops, worst rel %.2g", k->name, runs, worst);
}

/* the same product computed in one call and in single-row / single-panel
 * pieces must be bit-identical (what makes results thread-count independent) */
static void test_gemm_split(const em_fast_kern *k) {
    int M = 129, N = 200, K = 192, np = (N + k->nr - 1) / k->nr;
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K), *bias = calloc((size_t)np * k->nr, 4);
    float *B = malloc(sizeof(float) * em_fast_packed_floats(N, K, k->nr));
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    fill(A, (size_t)M * K, 1); fill(W, (size_t)N * K, 1); fill(bias, N, 1);
    em_fast_pack_b(W, N, K, K, k->nr, B);
    em_gemm g = {M, N, K, A, K, NULL, B, 0, bias, C1, N, NULL, NULL, EM_EPI_GELU, NULL};
    k->gemm(&g, 0, M, 0, np);
    g.C = C2;
    for (int m = M - 1; m >= 0; m--)
        for (int p = np - 1; p >= 0; p--) k->gemm(&g, m, m + 1, p, p + 1);
    CHECK(memcmp(C1, C2, sizeof(float) * M * N) == 0, "%s gemm: whole vs row-by-row/panel-by-panel bit-identical", k->name);
    free(A); free(W); free(bias); free(B); free(C1); free(C2);
}

static void test_math(const em_fast_kern *k) {
    int n = 200001;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = -12.0f + 24.0f * i / (n - 1);
    k->gelu(x, y, n);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs(y[i] - gelu_d(x[i])) / (fabs(x[i]) > 1 ? fabs(x[i]) : 1);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst < 1e-6, "%s gelu: max error %.2g x max(1,|x|) on [-12, 12] (exact erf GELU)", k->name, worst);
    for (int i = 0; i < n; i++) x[i] = -90.0f + 90.0f * i / (n - 1);
    k->exp(x, y, n);
    worst = 0;
    int zero_ok = 1;
    for (int i = 0; i < n; i++) {
        if (x[i] < -87.34f) { zero_ok &= y[i] == 0; continue; }
        if (x[i] < -87.3f) continue; /* the cut-off */
        double e = fabs(y[i] - exp((double)x[i])) / exp((double)x[i]);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst < 5e-7 && zero_ok, "%s exp: max relative error %.2g on [-87.3, 0], 0 below -87.34", k->name, worst);
    free(x); free(y);
}

static void test_layernorm(const em_fast_kern *k) {
    int n = 13, d = 48;
    float *x = malloc(sizeof(float) * n * d), *y = malloc(sizeof(float) * n * d), *want = malloc(sizeof(float) * n * d);
    float w[48], b[48];
    fill(x, (size_t)n * d, 3); fill(w, d, 1); fill(b, d, 1);
    for (int i = 0; i < n * d; i++) x[i] += 5;  /* a mean far from 0 */
    em_ref_layernorm(x, n, d, w, b, 1e-6f, want);
    k->layernorm(x, y, d, w, b, 1e-6f, 0, 5);
    k->layernorm(x, y, d, w, b, 1e-6f, 5, n);
    char label[64];
    snprintf(label, sizeof label, "%s layernorm", k->name);
    check_tensor(label, y, want, (size_t)n * d, 1e-5);
    free(x); free(y); free(want);
}

static void test_attention(const em_fast_kern *k) {
    /* key blocks are EM_ATT_KB (160) long: 161, 321 and 330 take the online
     * softmax across blocks, incl. 1- and 10-key tail blocks */
    static const int Ns[] = {1, 7, 64, 65, 129, 130, 33, 129, 161, 321, 330};
    static const int HDs[] = {64, 64, 64, 64, 64, 64, 20, 300, 64, 64, 20};
    for (int ni = 0; ni < (int)(sizeof Ns / sizeof Ns[0]); ni++) {
        int N = Ns[ni], H = 3, hd = HDs[ni], D = H * hd, ldk = (N + 63) / 64 * 64, qb = em_att_qb(hd);
        size_t ps = em_attn_pack_floats(hd, ldk);
        float *qkv = malloc(sizeof(float) * ldk * 3 * D), *kp = malloc(sizeof(float) * H * ps), *vp = malloc(sizeof(float) * H * ps);
        float *out = malloc(sizeof(float) * N * D), *want = malloc(sizeof(float) * N * D), *sc = malloc(sizeof(float) * N);
        fill(qkv, (size_t)N * 3 * D, 2);
        /* packed in two key ranges, as the engine does in parallel */
        for (int h = 0; h < H; h++)
            for (int t0 = 0; t0 < ldk; t0 += 64)
                k->attn_pack(qkv, N, D, hd, h, (float)(1.0 / sqrt((double)hd)), kp + h * ps, vp + h * ps, ldk, t0,
                             t0 + 64);
        em_ref_attention(qkv, N, H, hd, want, sc);
        for (int h = 0; h < H; h++)
            for (int q = 0; q < N; q += qb - h) {
                int q1 = q + qb - h < N ? q + qb - h : N;
                k->attention(qkv, N, D, hd, h, kp + h * ps, vp + h * ps, ldk, out, q, q1);
            }
        char label[64];
        snprintf(label, sizeof label, "%s attention N=%d head_dim=%d", k->name, N, hd);
        check_tensor(label, out, want, (size_t)N * D, 1e-5);
        free(qkv); free(kp); free(vp); free(out); free(want); free(sc);
    }
}

/* Winograd conv3x3 (+ scale, bias, ReLU) against the reference direct conv */
static void test_wino(const em_fast_kern *k) {
    static const int shapes[][4] = {{5, 7, 16, 32}, {8, 16, 32, 16}, {4, 4, 48, 48}, {9, 3, 16, 16}, {6, 5, 20, 12}, {3, 9, 7, 13}};
    for (int s = 0; s < 6; s++) {
        int h = shapes[s][0], w = shapes[s][1], cin = shapes[s][2], cout = shapes[s][3];
        int nt = em_wino_tiles(h, w), np = (cout + k->nr - 1) / k->nr;
        float *in = malloc(sizeof(float) * cin * h * w), *hwc = malloc(sizeof(float) * cin * h * w);
        float *W = malloc(sizeof(float) * cout * cin * 9), *bias = malloc(sizeof(float) * cout);
        float *want = malloc(sizeof(float) * cout * h * w), *got = malloc(sizeof(float) * cout * h * w);
        size_t psv = em_wino_plane(nt, cin) + 8, psm = em_wino_plane(nt, cout) + 24; /* any stride >= nt*c */
        float *u = malloc(sizeof(float) * 36 * cout * cin), *V = malloc(sizeof(float) * 36 * psv);
        float *M = malloc(sizeof(float) * 36 * psm), *out = malloc(sizeof(float) * h * w * cout);
        float *Bp = malloc(sizeof(float) * 36 * em_fast_packed_floats(cout, cin, k->nr));
        double *sc = malloc(sizeof(double) * cout);
        fill(in, (size_t)cin * h * w, 1); fill(W, (size_t)cout * cin * 9, 0.3f); fill(bias, cout, 0.5f);
        for (int c = 0; c < cout; c++) sc[c] = 0.5 + 0.01 * c;
        /* reference: conv with scaled weights, + bias, ReLU */
        float *Ws = malloc(sizeof(float) * cout * cin * 9);
        for (int c = 0; c < cout; c++)
            for (int i = 0; i < cin * 9; i++) Ws[(size_t)c * cin * 9 + i] = (float)(W[(size_t)c * cin * 9 + i] * sc[c]);
        em_ref_conv3x3(in, cin, h, w, Ws, bias, cout, want);
        for (int i = 0; i < cout * h * w; i++) want[i] = want[i] > 0 ? want[i] : 0;
        for (int c = 0; c < cin; c++)
            for (int p = 0; p < h * w; p++) hwc[(size_t)p * cin + c] = in[(size_t)c * h * w + p];
        em_wino_weights(W, sc, cout, cin, u);
        size_t pf = em_fast_packed_floats(cout, cin, k->nr);
        for (int x = 0; x < 36; x++) em_fast_pack_b(u + (size_t)x * cout * cin, cout, cin, cin, k->nr, Bp + x * pf);
        k->wino_in(hwc, h, w, cin, V, psv, 0, nt / 2);
        k->wino_in(hwc, h, w, cin, V, psv, nt / 2, nt);
        for (int x = 0; x < 36; x++) {
            em_gemm g = {nt, cout, cin, V + x * psv, cin, NULL, Bp + x * pf, 0, NULL,
                         M + x * psm, cout, NULL, NULL, EM_EPI_STORE, NULL};
            k->gemm(&g, 0, nt, 0, np);
        }
        k->wino_out(M, psm, h, w, cout, bias, 1, out, 0, 1);
        k->wino_out(M, psm, h, w, cout, bias, 1, out, 1, nt);
        for (int c = 0; c < cout; c++)
            for (int p = 0; p < h * w; p++) got[(size_t)c * h * w + p] = out[(size_t)p * cout + c];
        char label[80];
        snprintf(label, sizeof label, "%s winograd conv3x3 %dx%d %d->%d", k->name, h, w, cin, cout);
        check_tensor(label, got, want, (size_t)cout * h * w, 1e-5);
        free(in); free(hwc); free(W); free(bias); free(want); free(got); free(u); free(V); free(M); free(out);
        free(Bp); free(sc); free(Ws);
    }
}

static void test_upsample(const em_fast_kern *k, int c) {
    int h = 5, w = 6;
    float *in = malloc(sizeof(float) * c * h * w), *hwc = malloc(sizeof(float) * c * h * w);
    float *want = malloc(sizeof(float) * c * 4 * h * w), *o = malloc(sizeof(float) * c * 4 * h * w),
          *got = malloc(sizeof(float) * c * 4 * h * w);
    fill(in, (size_t)c * h * w, 1);
    for (int ch = 0; ch < c; ch++)
        for (int p = 0; p < h * w; p++) hwc[(size_t)p * c + ch] = in[(size_t)ch * h * w + p];
    em_ref_upsample2x(in, c, h, w, want);
    k->upsample2x(hwc, h, w, c, o, 0, 3);
    k->upsample2x(hwc, h, w, c, o, 3, 2 * h);
    for (int ch = 0; ch < c; ch++)
        for (int p = 0; p < 4 * h * w; p++) got[(size_t)ch * 4 * h * w + p] = o[(size_t)p * c + ch];
    char label[64];
    snprintf(label, sizeof label, "%s upsample2x c=%d", k->name, c);
    check_tensor(label, got, want, (size_t)c * 4 * h * w, 1e-6);
    free(in); free(hwc); free(want); free(o); free(got);
}

/* ---- engine vs reference ---- */

typedef struct {
    float *feat, *logits, *gprob;
    int32_t *route, *count;
} snap;

static size_t n_feat, n_route, n_count, n_logits[EM_MAX_TASKS];

static void take(snap *s, const em_session *ss, int t) {
    const em_task_output *o = em_session_output(ss, t);
    s->feat = malloc(n_feat * 4); memcpy(s->feat, o->features, n_feat * 4);
    s->logits = malloc(n_logits[t] * 4); memcpy(s->logits, o->logits, n_logits[t] * 4);
    s->gprob = malloc(n_route * 4); memcpy(s->gprob, o->gate_prob, n_route * 4);
    s->route = malloc(n_route * 4); memcpy(s->route, o->routing, n_route * 4);
    s->count = malloc(n_count * 4); memcpy(s->count, o->expert_tokens, n_count * 4);
}
static void drop(snap *s) { free(s->feat); free(s->logits); free(s->gprob); free(s->route); free(s->count); }
static int same(const snap *a, const snap *b, int t) {
    return !memcmp(a->feat, b->feat, n_feat * 4) && !memcmp(a->logits, b->logits, n_logits[t] * 4) &&
           !memcmp(a->gprob, b->gprob, n_route * 4) && !memcmp(a->route, b->route, n_route * 4) &&
           !memcmp(a->count, b->count, n_count * 4);
}

static em_session *session(const em_model *m, em_engine_kind kind, int threads) {
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = kind;
    o.threads = threads;
    em_err err;
    em_session *s = em_session_new(m, &o, &err);
    if (!s) printf("  session: %s\n", err.msg);
    return s;
}

static int run(em_session *s, const float *img, unsigned mask) {
    em_err err;
    int rc = em_session_run(s, img, mask, &err);
    if (rc) printf("  run: %s\n", err.msg);
    return rc;
}

static void test_engine(const em_model *m) {
    const em_config *c = &m->cfg;
    size_t npix = (size_t)c->img_c * c->img_h * c->img_w;
    n_feat = (size_t)c->n_tok * c->dim;
    n_route = (size_t)em_n_moe_layers(c) * c->n_tok * c->top_k;
    n_count = (size_t)em_n_moe_layers(c) * c->n_experts;
    for (int t = 0; t < c->n_tasks; t++) n_logits[t] = (size_t)c->task_channels[t] * c->img_h * c->img_w;
    enum { NIMG = 4 };
    const char *names[NIMG] = {"shared image", "white (one expert gets all tokens)", "noise", "gradient"};
    float *img[NIMG];
    char path[1024];
    snprintf(path, sizeof path, "%s/image.float32.bin", tu_shared_dir());
    size_t n = 0;
    img[0] = tu_read_floats(path, &n);
    CHECK(img[0] && n == npix, "shared image loaded (%zu floats)", n);
    if (!img[0] || n != npix) return;
    for (int i = 1; i < NIMG; i++) img[i] = malloc(npix * 4);
    for (size_t p = 0; p < npix; p++) {
        img[1][p] = 255.0f / 256.0f;
        img[2][p] = (frand() + 1) * 0.5f * 255.0f / 256.0f;
        img[3][p] = (float)((p % c->img_w) * 256 / c->img_w) / 256.0f;
    }
    /* the reference head is slow (direct convolutions): logits are compared
     * on the first two images, features and routing on all */
    em_session *ref = session(m, EM_ENGINE_REF, 1);
    em_session_opts so;
    memset(&so, 0, sizeof so);
    so.engine = EM_ENGINE_REF;
    so.skip_head = 1;
    em_err serr;
    em_session *ref_bb = em_session_new(m, &so, &serr);
    em_session *f1 = session(m, EM_ENGINE_FAST, 1);
    em_session *f2 = session(m, EM_ENGINE_FAST, 2);
    em_session *f3 = session(m, EM_ENGINE_FAST, 3);
    CHECK(ref && ref_bb && f1 && f2 && f3, "sessions created (ref, fast x 1/2/3 threads)");
    if (!ref || !ref_bb || !f1 || !f2 || !f3) return;
    unsigned all = (1u << c->n_tasks) - 1;
    snap ref0[EM_MAX_TASKS];
    for (int i = 0; i < NIMG; i++) {
        int heads = i < 2;
        em_session *rs = heads ? ref : ref_bb;
        int ok = !run(rs, img[i], all) && !run(f1, img[i], all) && !run(f2, img[i], all) && !run(f3, img[i], all);
        CHECK(ok, "%s: runs", names[i]);
        if (!ok) continue;
        for (int t = 0; t < c->n_tasks; t++) {
            snap r, a, b, d;
            take(&r, rs, t); take(&a, f1, t); take(&b, f2, t); take(&d, f3, t);
            char label[160];
            snprintf(label, sizeof label, "%s task %d features fast vs ref", names[i], t);
            check_tensor(label, a.feat, r.feat, n_feat, 1e-4);
            if (heads) {
                snprintf(label, sizeof label, "%s task %d logits fast vs ref", names[i], t);
                check_tensor(label, a.logits, r.logits, n_logits[t], 1e-4);
            }
            int same_route = !memcmp(a.route, r.route, n_route * 4) && !memcmp(a.count, r.count, n_count * 4);
            CHECK(same_route, "%s task %d: routing and per-expert token counts identical to ref", names[i], t);
            snprintf(label, sizeof label, "%s task %d gate probabilities fast vs ref", names[i], t);
            check_tensor(label, a.gprob, r.gprob, n_route, 1e-4);
            CHECK(same(&a, &b, t) && same(&a, &d, t),
                  "%s task %d: 1, 2 and 3 threads bit-identical (features, logits, routing, g)", names[i], t);
            if (i == 1) {
                int maxc = 0;
                for (size_t q = 0; q < n_count; q++) if (r.count[q] > maxc) maxc = r.count[q];
                printf("  (white image: largest expert queue %d of %d tokens)\n", maxc, c->n_tok);
            }
            if (i == 0) ref0[t] = r; else drop(&r);
            drop(&a); drop(&b); drop(&d);
        }
    }
    /* a single task, and the second task alone (prefix computed for it) */
    if (!run(f1, img[0], 2)) {
        snap a;
        take(&a, f1, 1);
        check_tensor("task 1 alone: features fast vs ref", a.feat, ref0[1].feat, n_feat, 1e-4);
        check_tensor("task 1 alone: logits fast vs ref", a.logits, ref0[1].logits, n_logits[1], 1e-4);
        drop(&a);
    }
    const em_task_output *o = em_session_output(f1, 1);
    CHECK(o->backbone_ms > 0 && o->head_ms > 0, "timings set (backbone %.1f ms, head %.1f ms)", o->backbone_ms, o->head_ms);
    em_session_free(f1); em_session_free(f2); em_session_free(f3);

    /* the portable kernel sets through the whole engine (shared image) */
    static const char *portable[] = {"gvec", "c"};
    for (int pi = 0; pi < 2; pi++) {
        if (!em_fast_kern_by_name(portable[pi])) continue;
        setenv("EM_FAST_ISA", portable[pi], 1);
        em_session *fc = session(m, EM_ENGINE_FAST, 2);
        unsetenv("EM_FAST_ISA");
        if (fc && !run(fc, img[0], all)) {
            for (int t = 0; t < c->n_tasks; t++) {
                snap a, r = ref0[t];
                take(&a, fc, t);
                char label[128];
                snprintf(label, sizeof label, "%s kernels task %d features vs ref", portable[pi], t);
                check_tensor(label, a.feat, r.feat, n_feat, 1e-4);
                snprintf(label, sizeof label, "%s kernels task %d logits vs ref", portable[pi], t);
                check_tensor(label, a.logits, r.logits, n_logits[t], 1e-4);
                CHECK(!memcmp(a.route, r.route, n_route * 4), "%s kernels task %d routing identical", portable[pi], t);
                drop(&a);
            }
        } else {
            CHECK(0, "%s kernels session runs", portable[pi]);
        }
        em_session_free(fc);
    }
    em_session_free(ref);
    em_session_free(ref_bb);
    for (int t = 0; t < c->n_tasks; t++) drop(&ref0[t]);
    for (int i = 0; i < NIMG; i++) free(img[i]);
}

/* a config with no dimension a multiple of 16 or 8 (any consistent config,
 * docs/fast.md), synthetic weights: fast vs ref */
static void test_odd_config(void) {
    em_config cfg;
    em_config_default(&cfg);
    cfg.dim = 60; cfg.n_heads = 3; cfg.head_dim = 20; cfg.depth = 4; cfg.mlp_hidden = 100;
    cfg.n_experts = 5; cfg.expert_hidden = 36; cfg.top_k = 3; cfg.head_ch = 40;
    cfg.img_h = 48; cfg.img_w = 80; cfg.grid_h = 3; cfg.grid_w = 5; cfg.n_tok = 16;
    cfg.task_channels[0] = 3; cfg.task_channels[1] = 2;
    em_model m;
    em_err err;
    if (em_model_synthetic(&m, &cfg, 7, &err) != EM_OK) { CHECK(0, "odd config: synthetic model: %s", err.msg); return; }
    size_t npix = (size_t)cfg.img_c * cfg.img_h * cfg.img_w;
    float *img = malloc(npix * 4);
    for (size_t p = 0; p < npix; p++) img[p] = (frand() + 1) * 0.5f;
    em_session *r = session(&m, EM_ENGINE_REF, 1), *f = session(&m, EM_ENGINE_FAST, 2);
    unsigned all = (1u << cfg.n_tasks) - 1;
    if (r && f && !run(r, img, all) && !run(f, img, all)) {
        size_t nf = (size_t)cfg.n_tok * cfg.dim, nr = (size_t)em_n_moe_layers(&cfg) * cfg.n_tok * cfg.top_k;
        for (int t = 0; t < cfg.n_tasks; t++) {
            const em_task_output *a = em_session_output(f, t), *b = em_session_output(r, t);
            char label[96];
            snprintf(label, sizeof label, "odd config (D=60, hd=20, E=5, k=3, head 40) task %d features", t);
            check_tensor(label, a->features, b->features, nf, 1e-4);
            snprintf(label, sizeof label, "odd config task %d logits", t);
            check_tensor(label, a->logits, b->logits, (size_t)cfg.task_channels[t] * cfg.img_h * cfg.img_w, 1e-4);
            CHECK(!memcmp(a->routing, b->routing, nr * 4), "odd config task %d: routing identical", t);
        }
    } else {
        CHECK(0, "odd config: sessions run");
    }
    em_session_free(r); em_session_free(f);
    free(img);
    em_model_free(&m);
}

int main(void) {
    const char *isas[] = {"c", "gvec", "avx2", "avx512"};
    for (int i = 0; i < 4; i++) {
        const em_fast_kern *k = em_fast_kern_by_name(isas[i]);
        if (!k) { printf("(kernels %s: not supported by this CPU/build, skipped)\n", isas[i]); continue; }
        test_gemm(k);
        test_gemm_split(k);
        test_math(k);
        test_layernorm(k);
        test_attention(k);
        test_wino(k);
        test_upsample(k, 32);
        test_upsample(k, 13);
    }
    /* referenced by name: session.c only has a weak reference, which does not
     * pull fast.o out of the static library */
    printf("(engine %s, kernels selected: %s)\n", em_engine_fast.name, em_fast_kern_select()->name);
    test_odd_config();
    em_model m;
    em_err err;
    if (em_model_load(&m, tu_shared_dir(), &err) != EM_OK) {
        CHECK(0, "load shared weights: %s", err.msg);
        TEST_MAIN_END();
    }
    test_engine(&m);
    em_model_free(&m);
    TEST_MAIN_END();
}
