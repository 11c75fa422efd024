/* exp, 1/x, sqrt, GELU and division units (see hw_math.h for the bounds). */
#include "hw_math.h"

/* d(a) = a * Phi(-a) at a = j/32, j = 0..176, as <u16,0> rounded to
 * nearest (generated offline with erfc in double precision; the test
 * recomputes every entry). d = 0 for a >= 5.5. */
const uf16_t hw_gelu_table[HW_GELU_ENTRIES] = {
        0,   998,  1946,  2843,  3689,  4484,  5230,  5927,  6575,  7175,  7728,  8234,
     8696,  9113,  9487,  9819, 10110, 10362, 10576, 10753, 10895, 11003, 11079, 11123,
    11139, 11127, 11089, 11026, 10940, 10833, 10706, 10560, 10398, 10219, 10027,  9822,
     9606,  9380,  9146,  8903,  8655,  8401,  8144,  7883,  7620,  7357,  7093,  6829,
     6567,  6308,  6050,  5796,  5546,  5301,  5060,  4824,  4594,  4370,  4152,  3940,
     3735,  3537,  3345,  3160,  2982,  2811,  2647,  2489,  2339,  2195,  2058,  1927,
     1803,  1684,  1572,  1466,  1366,  1271,  1181,  1097,  1017,   943,   873,   807,
      745,   688,   634,   584,   537,   494,   453,   415,   381,   348,   318,   291,
      265,   242,   220,   200,   182,   165,   150,   136,   123,   111,   100,    91,
       82,    74,    66,    59,    53,    48,    43,    38,    34,    31,    27,    24,
       22,    19,    17,    15,    14,    12,    11,     9,     8,     7,     6,     6,
        5,     4,     4,     3,     3,     3,     2,     2,     2,     2,     1,     1,
        1,     1,     1,     1,     1,     0,     0,     0,     0,     0,     0,     0,
        0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
        0,     0,     0,     0,     0,     0,     0,     0,     0,

};

/* ---- exp ----
 * e^x = 2^(x log2 e) = 2^-n * 2^(j/64) * 2^r with n integer, j in 0..63,
 * r in [0, 1/64): 64-entry table of 2^(j/64) and a cubic for 2^r, all in
 * F=30 fixed point; relative error of the product before the final floor
 * below 2^-28 (checked by the test). */
#define EXP_F 30
static const uint32_t exp2_table[64] = {
    1073741824u, 1085434106u, 1097253708u, 1109202018u, 1121280436u, 1133490379u,
    1145833280u, 1158310587u, 1170923762u, 1183674286u, 1196563654u, 1209593378u,
    1222764986u, 1236080024u, 1249540052u, 1263146652u, 1276901417u, 1290805962u,
    1304861917u, 1319070932u, 1333434672u, 1347954824u, 1362633090u, 1377471191u,
    1392470869u, 1407633882u, 1422962010u, 1438457051u, 1454120821u, 1469955159u,
    1485961921u, 1502142985u, 1518500250u, 1535035634u, 1551751076u, 1568648537u,
    1585730000u, 1602997467u, 1620452965u, 1638098541u, 1655936265u, 1673968228u,
    1692196547u, 1710623359u, 1729250827u, 1748081133u, 1767116489u, 1786359126u,
    1805811301u, 1825475297u, 1845353420u, 1865448001u, 1885761398u, 1906295993u,
    1927054196u, 1948038440u, 1969251188u, 1990694927u, 2012372174u, 2034285470u,
    2056437387u, 2078830522u, 2101467502u, 2124350982u,
};
#define EXP_LOG2E 1549082005LL  /* log2(e) * 2^30 */
#define EXP_C1 744261118LL     /* ln2 * 2^30 */
#define EXP_C2 257941248LL     /* ln2^2/2 * 2^30 */
#define EXP_C3 59597083LL      /* ln2^3/6 * 2^30 */

/* Every function is written for fm with f fractional bits and w bits
 * (f = FM_F, w = FM_W in the datapath: the wrappers at the end; the fast
 * twin passes its run-time format).  At f = 22 the comments' numbers hold. */
fm_t hw_exp_f(fm_t x, int f)
{
#pragma HLS inline
    int64_t y, n, frac, r, p, prod;
    int j, sh;
    if (x >= 0) return (fm_t)1 << f;     /* E(0) = 1; x > 0 not used */
    y = (int64_t)x * EXP_LOG2E;          /* x log2 e, F = 22 + 30 = 52, < 0 */
    n = -(y >> (f + 30));                /* y = -n + frac, frac in [0,1) */
    frac = (y + (n << (f + 30))) >> f;   /* F30, in [0, 2^30) */
    j = (int)(frac >> 24);               /* top 6 bits: table index */
    r = frac & ((1 << 24) - 1);          /* F30, r < 2^-6 */
    p = EXP_C2 + ((r * EXP_C3) >> EXP_F);
    p = EXP_C1 + ((r * p) >> EXP_F);
    p = ((int64_t)1 << EXP_F) + ((r * p) >> EXP_F);   /* 2^r, F30 */
    prod = (int64_t)exp2_table[j] * p;   /* F60, < 2^62 */
    sh = 60 - f + (int)(n > f + 3 ? f + 3 : n);
    return (fm_t)(prod >> sh);           /* floor; prod < 2^61, so n >= f + 1 gives 0 */
}

/* ---- 1/x: a fixed-point divider, floor(2^44 / X) ---- */
int64_t hw_recip_f(fm_t x, int f, int w)
{
#pragma HLS inline
    const int64_t num = (int64_t)1 << (2 * f);
    int64_t q;
    if (x == 0) return ((int64_t)1 << (w - 1)) - 1;   /* the largest fm */
    q = num / x;                         /* truncates toward zero */
    if (x < 0 && q * x != num) q -= 1;   /* floor for negative quotients */
    return q;
}

/* ---- floor(a / b) in fm, a >= 0, b > 0 ---- */
int64_t hw_div_pos_f(fm_t a, fm_t b, int f)
{
#pragma HLS inline
    if (b <= 0 || a < 0) return 0;
    return (((int64_t)a) << f) / b;
}

/* ---- sqrt: digit-by-digit integer square root of X * 2^22 ---- */
fm_t hw_sqrt_f(fm_t x, int f, int w)
{
#pragma HLS inline
    uint64_t v, rem = 0, root = 0;
    int i;
    if (x <= 0) return 0;
    v = (uint64_t)x << f;                /* < 2^(w-1+f) = 2^53 */
    for (i = (w + f) / 2 - 1; i >= 0; i--) {   /* two bits of v per step: 27 */
#pragma HLS unroll
        uint64_t trial;
        rem = (rem << 2) | ((v >> (2 * i)) & 3u);
        trial = (root << 2) | 1u;
        root <<= 1;
        if (rem >= trial) { rem -= trial; root |= 1u; }
    }
    return (fm_t)root;                   /* < 2^27 */
}

/* ---- GELU = ReLU(x) - d(|x|) ---- */
fm_t hw_gelu_f(fm_t x, int f)
{
#pragma HLS inline
    const int64_t lim = (int64_t)(HW_GELU_ENTRIES - 1) << (f - 5);   /* 5.5 */
    int64_t a = x < 0 ? -(int64_t)x : (int64_t)x;
    fm_t relu = x > 0 ? x : 0;
    int64_t d = 0;
    if (a < lim) {
        int j = (int)(a >> (f - 5));                     /* a * 32 */
        int64_t fr = a & (((int64_t)1 << (f - 5)) - 1);  /* F17 */
        int64_t t0 = hw_gelu_table[j], t1 = hw_gelu_table[j + 1];
        /* T[j] + (T[j+1] - T[j]) * fr, F = 16 + 17 = 33, floored to 22 */
        d = ((t0 << (f - 5)) + (t1 - t0) * fr) >> 11;
    }
    return (fm_t)(relu - d);             /* in [-0.17, x]: never wraps */
}

/* ---- the datapath's units, at the compiled-in fm format ---- */
fm_t hw_exp(fm_t x)
{
#pragma HLS pipeline II=1
    return hw_exp_f(x, FM_F);
}

int64_t hw_recip(fm_t x)
{
#pragma HLS pipeline II=1
    return hw_recip_f(x, FM_F, FM_W);
}

int64_t hw_div_pos(fm_t a, fm_t b)
{
#pragma HLS pipeline II=1
    return hw_div_pos_f(a, b, FM_F);
}

fm_t hw_sqrt(fm_t x)
{
#pragma HLS pipeline II=1
    return hw_sqrt_f(x, FM_F, FM_W);
}

fm_t hw_gelu(fm_t x)
{
#pragma HLS pipeline II=1
    return hw_gelu_f(x, FM_F);
}
