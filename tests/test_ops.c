/* Reference ops on hand-checkable cases. */
#include "test_util.h"
#include "engine/ops.h"

static void test_linear(void) {
    float x[2 * 3] = {1, 2, 3, -1, 0, 1};
    float W[2 * 3] = {1, 0, 0, 0.5f, 0.5f, 0.5f};
    float b[2] = {10, -1};
    float y[4], want[4] = {11, 2, 9, -1};
    em_ref_linear(x, 2, 3, W, b, 2, y);
    check_tensor("linear", y, want, 4, 0);
}

static void test_layernorm(void) {
    /* x = {1,2,3,4}: mean 2.5, var 1.25 */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 1}, b[4] = {0, 0, 0, 1}, y[4];
    float s = 1.0f / sqrtf(1.25f);
    float want[4] = {-1.5f * s, -0.5f * s, 2 * 0.5f * s, 1.5f * s + 1};
    em_ref_layernorm(x, 1, 4, w, b, 0.0f, y);
    check_tensor("layernorm", y, want, 4, 1e-6);
}

static void test_gelu(void) {
    float got[4] = {em_ref_gelu(0), em_ref_gelu(1), em_ref_gelu(-1), em_ref_gelu(10)};
    /* 0.5 x (1 + erf(x / sqrt 2)): 1 -> 0.841344746, -1 -> -0.158655254 */
    float want[4] = {0, 0.841344746f, -0.158655254f, 10};
    check_tensor("gelu", got, want, 4, 1e-6);
}

static void test_softmax_topk(void) {
    float p[4] = {0, 0, 0, 0};
    em_ref_softmax(p, 4);
    float q[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    check_tensor("softmax uniform", p, q, 4, 1e-7);
    float r[3] = {1000, 1000.5f, -1000};  /* large values: no overflow */
    em_ref_softmax(r, 3);
    double e = exp(0.5);
    float want[3] = {(float)(1 / (1 + e)), (float)(e / (1 + e)), 0};
    check_tensor("softmax large", r, want, 3, 1e-6);
    int idx[3];
    float s[5] = {0.1f, 0.3f, 0.3f, 0.2f, 0.3f};
    em_ref_topk(s, 5, 3, idx);
    CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 4, "topk ties go to the lower index: %d %d %d", idx[0], idx[1], idx[2]);
    em_ref_topk(s, 5, 2, idx);
    CHECK(idx[0] == 1 && idx[1] == 2, "top2: %d %d", idx[0], idx[1]);
}

static void test_attention(void) {
    /* one head of dim 1: q = k so scores are q_i q_j; identical keys -> uniform weights */
    float qkv[3 * 3] = {0, 0, 1,  0, 0, 2,  0, 0, 6};  /* q=k=0 for all tokens, v = 1,2,6 */
    float out[3], sc[3], want[3] = {3, 3, 3};
    em_ref_attention(qkv, 3, 1, 1, out, sc);
    check_tensor("attention uniform", out, want, 3, 1e-6);
    /* two tokens, dim 1 (scale 1): q0 = 1, k = {0, ln 3} -> weights 1/4, 3/4 */
    float l3 = logf(3.0f);
    float qkv2[2 * 3] = {1, 0, 4,  0, l3, 8};
    float out2[2], sc2[2];
    em_ref_attention(qkv2, 2, 1, 1, out2, sc2);
    float want2 = 0.25f * 4 + 0.75f * 8;
    CHECK(fabsf(out2[0] - want2) < 1e-5f, "attention weights: %g vs %g", out2[0], want2);
}

static void test_conv(void) {
    /* 3x3 conv of a single 1 in the middle of 3x3 zeros reproduces the flipped kernel */
    float in[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, k[9], out[9], want[9];
    for (int i = 0; i < 9; i++) k[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++) want[i] = k[8 - i];
    em_ref_conv3x3(in, 1, 3, 3, k, NULL, 1, out);
    check_tensor("conv3x3 impulse", out, want, 9, 0);
    /* all-ones input and kernel: interior 9, edges 6, corners 4, plus bias */
    float ones[12], kk[9], o[12], b = 0.5f;
    for (int i = 0; i < 12; i++) ones[i] = 1;
    for (int i = 0; i < 9; i++) kk[i] = 1;
    em_ref_conv3x3(ones, 1, 3, 4, kk, &b, 1, o);
    float w2[12] = {4, 6, 6, 4, 6, 9, 9, 6, 4, 6, 6, 4};
    for (int i = 0; i < 12; i++) w2[i] += 0.5f;
    check_tensor("conv3x3 padding", o, w2, 12, 0);
    float in2[2 * 2] = {1, 2, 3, 4}, W1[2 * 2] = {1, 1, 2, -1}, b1[2] = {0, 1}, o1[4];
    /* in: 2 channels x 2 pixels; out c0 = ch0 + ch1, c1 = 2 ch0 - ch1 + 1 */
    em_ref_conv1x1(in2, 2, 2, W1, b1, 2, o1);
    float w1[4] = {4, 6, 0, 1};
    check_tensor("conv1x1", o1, w1, 4, 0);
}

static void test_bn_relu(void) {
    float x[4] = {1, 3, -5, 2}, w = 2, b = 1, mean = 2, var = 4;
    em_ref_bn_relu(x, 1, 4, &w, &b, &mean, &var, 0);
    float want[4] = {0, 2, 0, 1};  /* (x-2)/2*2+1 = x-1, relu */
    check_tensor("bn+relu", x, want, 4, 1e-6);
}

static void test_upsample(void) {
    /* PyTorch: interpolate([[0, 1]], scale 2, bilinear, align_corners=False)
     * = [0, 0.25, 0.75, 1] along the row */
    float in[2] = {0, 1}, out[4 * 2];
    em_ref_upsample2x(in, 1, 1, 2, out);
    float want[8] = {0, 0.25f, 0.75f, 1, 0, 0.25f, 0.75f, 1};
    check_tensor("upsample2x", out, want, 8, 1e-7);
    float in2[4] = {0, 4, 8, 12}, o2[16];  /* 2x2 -> 4x4 */
    em_ref_upsample2x(in2, 1, 2, 2, o2);
    /* rows weights (1,0),(.75,.25),(.25,.75),(0,1), same for columns */
    CHECK(fabsf(o2[5] - (0.75f * 0.75f * 0 + 0.75f * 0.25f * 4 + 0.25f * 0.75f * 8 + 0.25f * 0.25f * 12)) < 1e-6f,
          "upsample2x interior %g", o2[5]);
    CHECK(o2[0] == 0 && o2[15] == 12, "upsample2x corners %g %g", o2[0], o2[15]);
}

int main(void) {
    test_linear();
    test_layernorm();
    test_gelu();
    test_softmax_topk();
    test_attention();
    test_conv();
    test_bn_relu();
    test_upsample();
    TEST_MAIN_END();
}
