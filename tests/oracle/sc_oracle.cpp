// Test-only oracle: checks every fixed-point primitive of src/hw against
// SystemC's sc_fixed<W,I,SC_TRN,SC_WRAP> (the independent reference for
// "exact products and sums, floor on store, two's-complement wrap").
// At least 100000 random vectors per operation and format pair, with
// full-range raw bit patterns so that overflow (wrap) cases are included.
// Prints one PASS:/FAIL: line per operation.
#define SC_INCLUDE_FX
#include <systemc.h>
#include <cstdio>
#include <cstdint>
#include <cstring>
extern "C" {
#include "hw_fixed.h"
#include "hw_quant.h"
}

static const int NVEC = 200000;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd() {   // xorshift64*
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static double p2(int e) { double p = 1; if (e >= 0) while (e--) p *= 2; else while (e++) p *= 0.5; return p; }

// random raw value of a w-bit signed/unsigned format: a third full range,
// a third small magnitudes, a third near the edges of the range.
static int64_t rnd_raw(int w, bool uns) {
    uint64_t r = rnd();
    int kind = (int)(r % 3); r = rnd();
    int64_t v;
    if (kind == 0) v = (int64_t)(r & ((1ull << w) - 1));
    else if (kind == 1) v = (int64_t)(r & ((1ull << (w / 2)) - 1));
    else v = (int64_t)((1ull << (w - 1)) - 1 - (r & 255));
    return fx_wrap(v, w, uns ? 1 : 0);
}

static int failures = 0;
static void report(const char *name, long n, long bad, long wraps, const char *first) {
    if (bad == 0) printf("PASS: oracle %s: %ld vectors bit-exact vs sc_fixed (%ld overflowed and wrapped)\n", name, n, wraps);
    else { failures++; printf("FAIL: oracle %s: %ld of %ld vectors differ; first: %s\n", name, bad, n, first); }
}

template <int W, int I> static int64_t raw_of(const sc_fixed<W, I, SC_TRN, SC_WRAP> &v) { return (int64_t)(v.to_double() * p2(W - I)); }
template <int W, int I> static int64_t raw_of(const sc_ufixed<W, I, SC_TRN, SC_WRAP> &v) { return (int64_t)(v.to_double() * p2(W - I)); }

// the formats src/hw is compiled for (hw_fixed.h: the original unless -DHW_FM_W=... etc.)
#define FMT_FM HW_FM_W, HW_FM_I
#define FMT_WT HW_WT_W, HW_WT_I
#define FMT_BQK HW_BQK_W, HW_BQK_I
#define FMT_B5 HW_B5_W, HW_B5_I
#define FMT_PW HW_PW_W, HW_PW_I
#define FMT_PIX HW_PIX_W, HW_PIX_I
typedef sc_fixed<FMT_FM, SC_TRN, SC_WRAP> sc_fm;
typedef sc_fixed<FMT_WT, SC_TRN, SC_WRAP> sc_wt;
typedef sc_fixed<FMT_BQK, SC_TRN, SC_WRAP> sc_bqk;
typedef sc_fixed<FMT_B5, SC_TRN, SC_WRAP> sc_b5;
typedef sc_fixed<FMT_PW, SC_TRN, SC_WRAP> sc_pw;
typedef sc_ufixed<FMT_PIX, SC_TRN, SC_WRAP> sc_pix;
typedef sc_ufixed<16, 0, SC_TRN, SC_WRAP> sc_uf16;

// float -> format: floor then wrap
template <typename SC, int W, int I>
static void test_quant(const char *name, bool uns) {
    long bad = 0, wraps = 0; char first[256] = "";
    const int F = W - I;
    for (int i = 0; i < NVEC; i++) {
        // magnitudes up to 2^(I+3) (overflow) and fine fractions below the lsb
        double x = ((double)(int64_t)rnd() / 9.2233720368547758e18) * p2(I + 3 - (int)(rnd() % 6));
        if (uns && (rnd() & 1)) x = x < 0 ? -x : x;
        int wr = 0;
        int64_t got = fx_quant_w(x, W, F, uns ? 1 : 0, &wr);
        SC s = x;
        int64_t want = raw_of(s);
        wraps += wr;
        if (got != want && !bad++) snprintf(first, sizeof first, "x=%.17g got %lld want %lld", x, (long long)got, (long long)want);
    }
    report(name, NVEC, bad, wraps, first);
}

// binary op stored into fm
template <typename SA, int WA, int IA, typename SB, int WB, int IB, typename OPC, typename OPS>
static void test_bin(const char *name, bool ua, bool ub, OPC opc, OPS ops) {
    long bad = 0, wraps = 0; char first[256] = "";
    for (int i = 0; i < NVEC; i++) {
        int64_t a = rnd_raw(WA, ua), b = rnd_raw(WB, ub);
        SA sa = (double)a * p2(-(WA - IA));
        SB sb = (double)b * p2(-(WB - IB));
        sc_fm r = ops(sa, sb);
        int64_t want = raw_of(r);
        int64_t got = opc(a, b);
        // count how many exact results did not fit fm (overflow cases)
        sc_fixed<80, 58, SC_TRN, SC_WRAP> wide = ops(sa, sb);
        if (wide.to_double() >= p2(HW_FM_I - 1) || wide.to_double() < -p2(HW_FM_I - 1)) wraps++;
        if (got != want && !bad++) snprintf(first, sizeof first, "a=%lld b=%lld got %lld want %lld", (long long)a, (long long)b, (long long)got, (long long)want);
    }
    report(name, NVEC, bad, wraps, first);
}

int sc_main(int, char **) {
    printf("-- formats fm<%d,%d> wt<%d,%d> bqk<%d,%d> b5<%d,%d> pw<%d,%d> pix<u%d,%d>\n", FMT_FM, FMT_WT, FMT_BQK, FMT_B5,
           FMT_PW, FMT_PIX);
    test_quant<sc_fm, FMT_FM>("quantise real -> fm", false);
    test_quant<sc_wt, FMT_WT>("quantise real -> wt", false);
    test_quant<sc_bqk, FMT_BQK>("quantise real -> bqk", false);
    test_quant<sc_b5, FMT_B5>("quantise real -> b5", false);
    test_quant<sc_pw, FMT_PW>("quantise real -> pw", false);
    test_quant<sc_pix, FMT_PIX>("quantise real -> pix", true);
    test_quant<sc_uf16, 16, 0>("quantise real -> <u16,0>", true);

    test_bin<sc_fm, FMT_FM, sc_fm, FMT_FM>("fm_mul fm*fm -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_mul((fm_t)a, (fm_t)b); },
        [](const sc_fm &a, const sc_fm &b) { return sc_fxval(a * b); });
    test_bin<sc_fm, FMT_FM, sc_wt, FMT_WT>("fm_mul_wt fm*wt -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_mul_wt((fm_t)a, (wt_t)b); },
        [](const sc_fm &a, const sc_wt &b) { return sc_fxval(a * b); });
    test_bin<sc_fm, FMT_FM, sc_b5, FMT_B5>("fm_mul_b5 fm*b5 -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_mul_b5((fm_t)a, (b5_t)b); },
        [](const sc_fm &a, const sc_b5 &b) { return sc_fxval(a * b); });
    test_bin<sc_pix, FMT_PIX, sc_pw, FMT_PW>("fm_mul_pix pix*pw -> fm", true, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_mul_pix((pix_t)a, (pw_t)b); },
        [](const sc_pix &a, const sc_pw &b) { return sc_fxval(a * b); });
    test_bin<sc_fm, FMT_FM, sc_fm, FMT_FM>("fm_add fm+fm -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_add((fm_t)a, (fm_t)b); },
        [](const sc_fm &a, const sc_fm &b) { return sc_fxval(a + b); });
    test_bin<sc_fm, FMT_FM, sc_fm, FMT_FM>("fm_sub fm-fm -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_sub((fm_t)a, (fm_t)b); },
        [](const sc_fm &a, const sc_fm &b) { return sc_fxval(a - b); });
    test_bin<sc_fm, FMT_FM, sc_bqk, FMT_BQK>("fm_add_bqk fm+bqk -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_add_bqk((fm_t)a, (bqk_t)b); },
        [](const sc_fm &a, const sc_bqk &b) { return sc_fxval(a + b); });
    test_bin<sc_fm, FMT_FM, sc_b5, FMT_B5>("fm_add_b5 fm+b5 -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fm_add_b5((fm_t)a, (b5_t)b); },
        [](const sc_fm &a, const sc_b5 &b) { return sc_fxval(a + b); });
    test_bin<sc_fm, FMT_FM, sc_fm, FMT_FM>("fm_mul_pow2neg(3) fm*0.125 -> fm", false, false,
        [](int64_t a, int64_t) { return (int64_t)fm_mul_pow2neg((fm_t)a, 3); },
        [](const sc_fm &a, const sc_fm &) { return sc_fxval(a * sc_fxval(0.125)); });
    test_bin<sc_uf16, 16, 0, sc_fm, FMT_FM>("fm_from_uf16 <u16,0> -> fm", true, false,
        [](int64_t a, int64_t) { return (int64_t)fm_from_uf16((uf16_t)a); },
        [](const sc_uf16 &a, const sc_fm &) { return sc_fxval(a); });
    // 32-bit wrap of a wide sum (accumulators): exact int64 sum then wrap
    test_bin<sc_fm, FMT_FM, sc_fm, FMT_FM>("fx_wrap_fm of a 3-term sum -> fm", false, false,
        [](int64_t a, int64_t b) { return (int64_t)fx_wrap_fm(a + b + b); },
        [](const sc_fm &a, const sc_fm &b) { return sc_fxval(a + b + b); });
    printf("%s\n", failures ? "oracle: FAILED" : "oracle: all bit-exact");
    return failures ? 1 : 0;
}
