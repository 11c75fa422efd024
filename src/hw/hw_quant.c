/* Host-side quantisation real -> fixed (see hw_quant.h). */
#include "hw_quant.h"

/* 2^e, exact, |e| <= 63 */
static double pow2(int e)
{
    return e >= 0 ? (double)((uint64_t)1 << e) : 1.0 / (double)((uint64_t)1 << -e);
}

/* floor of a double whose magnitude is below 2^62 */
static int64_t floor_i64(double t)
{
    int64_t i = (int64_t)t;          /* truncates toward zero */
    if ((double)i > t) i -= 1;
    return i;
}

int64_t fx_quant_w(double x, int w, int f, int is_unsigned, int *wrapped)
{
    const double two62 = 4611686018427387904.0;
    double t = x * pow2(f);          /* exact: scaling by a power of two */
    int64_t fl, r;
    if (t >= two62 || t <= -two62) {
        /* reduce modulo 2^w first: t = k*2^w + rem, all steps exact */
        double q = t * pow2(-w);
        double k = (q >= 9.2e18 || q <= -9.2e18) ? q : (double)(int64_t)q;
        t = t - k * pow2(w);
        if (wrapped) *wrapped = 1;
        fl = floor_i64(t);
        return fx_wrap(fl, w, is_unsigned);
    }
    fl = floor_i64(t);
    r = fx_wrap(fl, w, is_unsigned);
    if (wrapped) *wrapped = (r != fl);
    return r;
}

int64_t fx_quant(double x, int w, int f, int is_unsigned)
{
    return fx_quant_w(x, w, f, is_unsigned, (int *)0);
}

double fx_real(int64_t raw, int f)
{
    return (double)raw * pow2(-f);
}
