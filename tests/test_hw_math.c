/* Error bounds of the accelerator's exp, 1/x, sqrt and GELU (src/hw/hw_math.h),
 * against libm in double precision. */
#include <math.h>
#include <stdint.h>
#include "test_util.h"
#include "hw/hw_math.h"
#include "hw/hw_quant.h"

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }

int main(void) {
    const double ulp = ldexp(1, -22);
    /* GELU table: every entry is d(j/32) = a Phi(-a) rounded to <u16,0> */
    int tab_bad = 0;
    for (int j = 0; j < HW_GELU_ENTRIES; j++) {
        double a = j / 32.0, d = a * 0.5 * erfc(a / sqrt(2.0));
        if (hw_gelu_table[j] != (uf16_t)floor(d * 65536 + 0.5)) tab_bad++;
    }
    CHECK(tab_bad == 0, "GELU table: %d entries of d(a) = a*Phi(-a) at a = j/32, %d wrong", HW_GELU_ENTRIES, tab_bad);

    /* exp on x <= 0: e^x - ulp - 2^-28 < E(x) <= e^x + 2^-28 */
    double emax_lo = 0, emax_hi = 0; long ebad = 0, n = 0;
    for (int i = 0; i < 2000000; i++) {
        fm_t x;
        if (i < 1000000) x = -(fm_t)(rnd() % (uint64_t)(20.0 * (1 << 22)));   /* [-20, 0] */
        else x = (fm_t)(rnd() | 0x80000000u);                                  /* any negative */
        if (i == 0) x = 0;
        double e = exp(fm_real(x)), got = fm_real(hw_exp(x));
        double d = got - e;
        if (d < emax_lo) emax_lo = d;
        if (d > emax_hi) emax_hi = d;
        if (!(d > -ulp - ldexp(1, -28) && d <= ldexp(1, -28))) ebad++;
        n++;
    }
    CHECK(ebad == 0, "exp: %ld inputs x <= 0, E(x) - e^x in [%.3g, %.3g] ulp (bound (-1-2^-6, 2^-6] ulp), %ld outside",
          n, emax_lo / ulp, emax_hi / ulp, ebad);
    CHECK(hw_exp(0) == FM_ONE && hw_exp(q_fm(-16.0)) == 0, "exp: E(0) = 1 exactly, E(-16) = 0 (below one ulp)");

    /* 1/x: floor(2^44/X) exactly; check against long double for x in [2^-10, 512) */
    long rbad = 0; double rmax = 0;
    for (int i = 0; i < 1000000; i++) {
        fm_t x = (fm_t)(rnd() % 0x7fffffffu); if (x < 4096) x = 4096 + i;
        if (i & 1) x = (fm_t)(rnd() % (uint64_t)(200.0 * (1 << 22))) + (1 << 22);  /* softmax S in [1, 201) */
        long double inv = 1.0L / ((long double)x / (1 << 22));
        long double got = (long double)hw_recip(x) / (1 << 22);
        long double d = inv - got;   /* in [0, ulp) */
        if (d > rmax) rmax = (double)d;
        if (!(d >= 0 && d < ulp)) rbad++;
        if (-hw_recip(-x) != hw_recip(x) + (((int64_t)1 << 44) % x != 0)) rbad++;  /* floor on negatives */
    }
    CHECK(rbad == 0, "1/x: 1e6 inputs, 0 <= 1/x - R < 1 ulp (max %.3g ulp), %ld violations", rmax / ulp, rbad);

    /* sqrt: floor(sqrt(X 2^22)) exactly */
    long sbad = 0; double smax = 0;
    for (int i = 0; i < 1000000; i++) {
        fm_t x = (fm_t)(rnd() & 0x7fffffffu);
        if (i & 1) x = (fm_t)(rnd() % (uint64_t)(4.0 * (1 << 22)));
        if (i < 64) x = i;
        long double s = sqrtl((long double)x / (1 << 22));
        long double got = (long double)hw_sqrt(x) / (1 << 22);
        long double d = s - got;
        if (d > smax) smax = (double)d;
        if (!(d >= 0 && d < ulp)) sbad++;
    }
    CHECK(sbad == 0 && hw_sqrt(-5) == 0, "sqrt: 1e6 inputs, 0 <= sqrt(x) - Q < 1 ulp (max %.3g ulp), %ld violations", smax / ulp, sbad);

    /* GELU vs erf GELU over [-8, 8] */
    double gmax = 0, gsum = 0; long gn = 0; double gmax_at = 0;
    for (fm_t x = q_fm(-8.0); x <= q_fm(8.0); x += 37) {
        double r = fm_real(x), want = 0.5 * r * (1 + erf(r / sqrt(2.0)));
        double e = fabs(fm_real(hw_gelu(x)) - want);
        if (e > gmax) { gmax = e; gmax_at = r; }
        gsum += e; gn++;
    }
    printf("GELU over [-8, 8] (%ld points): max error %.3g at x = %.4f, mean error %.3g\n", gn, gmax, gmax_at, gsum / gn);
    CHECK(gmax < 1.2e-4, "GELU: max |GELU_hw - GELU| over [-8,8] = %.3g < 1.2e-4 (mean %.3g)", gmax, gsum / gn);
    /* exact at the nodes (up to the table's rounding, half an lsb of <u16,0>) */
    double nmax = 0;
    for (int j = 0; j < HW_GELU_ENTRIES; j++) {
        double a = j / 32.0, want = 0.5 * -a * (1 + erf(-a / sqrt(2.0)));
        double e = fabs(fm_real(hw_gelu(q_fm(-a))) - want);
        if (e > nmax) nmax = e;
    }
    CHECK(nmax <= ldexp(1, -17) + ulp, "GELU at the nodes -j/32: max error %.3g <= half a table lsb", nmax);
    CHECK(hw_gelu(q_fm(100.0)) == q_fm(100.0) && hw_gelu(q_fm(-100.0)) == 0 && hw_gelu(0) == 0,
          "GELU: identity for large x, 0 for very negative x and at 0");
    TEST_MAIN_END();
}
