/* The unified linear unit (idea 4): one function for every linear layer.
 *
 *   out_o = bias_o + sum_i fm(in_i * W_oi)        (then fm GELU if asked)
 *
 * Hardware: a tile of 16 inputs x 16 outputs (256 MACs per cycle).  The
 * weights of 16 outputs (all inputs) sit in an on-chip buffer; the loop over
 * output tiles is a dataflow region in canonical form (its body is the two
 * tasks load -> compute and nothing else), so the buffer between them is a
 * ping-pong (PIPO) pair: tile ot+1's weights load while tile ot computes over
 * every row (token), and each weight is read from DRAM exactly once per call.
 * Modes:
 *   LIN_GELU      fc1 and expert fc1: GELU applied on the way out;
 *   LIN_GATHER_IN expert fc1: row r of the input is token list[r] (the
 *                 expert's queue), so an expert sees only its tokens;
 *   LIN_SCALE_ACC expert fc2: row r's output y is scaled by its g_k and
 *                 added into out[list[r]] (the zeroed MoE buffer).
 *
 * One datapath: every MAC is a 32 x 16 product split over two multipliers
 * (two DSP slices), x = xh 2^16 + xl with xh = x >> 16 signed and xl the
 * unsigned low 16 bits:
 *   floor(x w / 2^14) = 4 xh w + floor(xl w / 2^14)   exactly,
 * and both halves are summed modulo 2^32.  The fm store keeps the low 32
 * bits of the exact sum, and sums modulo 2^32 commute with that, so the
 * result is bit for bit that of an exact wide accumulator for every input,
 * wrapping or not.  Counting the wraps (products and sums that left the fm
 * range) is simulation-only instrumentation (HW_SIM, see hw_stats.h). */
#include "hw_units.h"
#include "hw_math.h"

/* Loads the weights of outputs 16 ot .. 16 ot + 15 and their biases. */
static void load_weight_tile(const wt_t *w, const int16_t *bias, int ot, int in_dim,
                             wt_t buf[HW_TILE][HW_MAX_IN], int16_t bbuf[HW_TILE], hw_stats *st)
{
    int o, i;
    for (o = 0; o < HW_TILE; o++) {
        const wt_t *src = w + (long)(ot * HW_TILE + o) * in_dim;
        for (i = 0; i < in_dim; i++) {
#pragma HLS loop_tripcount max=768
#pragma HLS pipeline II=1
            buf[o][i] = src[i];
        }
        bbuf[o] = bias[ot * HW_TILE + o];
    }
    /* DRAM traffic; every tile but the first loads while the previous computes */
    HW_STAT(st->linear_weight_reads += (uint64_t)HW_TILE * in_dim; st->weight_tiles++;
            st->weight_tiles_overlapped += ot > 0);
}

/* One output: bias + the split dot product, modulo 2^32. */
static uint32_t dot_split(const int16_t *xh, const uint16_t *xl, const wt_t *wr, int n_itiles)
{
    uint32_t ah = 0, al = 0;
    int it, i;
    for (it = 0; it < n_itiles; it++) {
#pragma HLS loop_tripcount max=48
#pragma HLS pipeline II=1
        const int16_t *h = xh + it * HW_TILE;
        const uint16_t *l = xl + it * HW_TILE;
        const wt_t *w = wr + it * HW_TILE;
        for (i = 0; i < HW_TILE; i++) {     /* one row of the 16 x 16 tile */
#pragma HLS unroll
            ah += (uint32_t)((int32_t)h[i] * w[i]);
            al += (uint32_t)(((int32_t)l[i] * w[i]) >> WT_F);
        }
    }
    return (ah << (16 - WT_F)) + al;   /* 4 xh w + ... at WT_F = 14 */
}

#if HW_SIM
/* Simulation only: how many of the row's products and its sum (with bias
 * b) leave the fm range.  A bound settles most outputs without the exact
 * sum: |sum| <= l1 max|w| / 2^14 + in_dim + |b|. */
static uint64_t count_wraps(const fm_t *x, const wt_t *wr, int in_dim, int64_t b,
                            int64_t l1, int32_t wmax)
{
    uint64_t n = 0;
    int64_t acc = b;
    int i;
    if (((l1 * wmax) >> WT_F) + in_dim + (b < 0 ? -b : b) <= (int64_t)FM_MAX) return 0;
    for (i = 0; i < in_dim; i++) {
        int64_t p = ((int64_t)x[i] * wr[i]) >> WT_F;
        n += (uint64_t)fx_wraps_fm(p);
        acc += p;
    }
    return n + (uint64_t)fx_wraps_fm(acc);
}
#endif

static void compute_tile(const fm_t *in, const wt_t wbuf[HW_TILE][HW_MAX_IN],
                         const int16_t bbuf[HW_TILE], int bias_f,
                         fm_t *out, int ot, int n_rows, int in_dim, int out_dim, int mode,
                         const int32_t *list, const fm_t *scale, hw_stats *st, int op)
{
    const int n_itiles = in_dim / HW_TILE;
    int16_t xh[HW_MAX_IN];                  /* the row, split in halves */
    uint16_t xl[HW_MAX_IN];
    int r, o, i;
#if HW_SIM
    int32_t wmax[HW_TILE];                   /* max |w| per output, for the wrap bound */
    for (o = 0; o < HW_TILE; o++) {
        wmax[o] = 0;
        for (i = 0; i < in_dim; i++) {
            const int32_t a = wbuf[o][i] < 0 ? -(int32_t)wbuf[o][i] : wbuf[o][i];
            if (a > wmax[o]) wmax[o] = a;
        }
    }
#endif
    for (r = 0; r < n_rows; r++) {
#pragma HLS loop_tripcount max=129
        const int src_row = (mode & LIN_GATHER_IN) ? list[r] : r;
        const fm_t *x = in + (long)src_row * in_dim;
#if HW_SIM
        int64_t l1 = 0;                      /* sum |x_i|, bounds the dot product */
#endif
        HW_TRIP_N(st, op, HW_TRIP_LIN_IN, in_dim / HW_BLK);     /* the row, in 8-blocks */
        HW_TRIP_N(st, op, HW_TRIP_LIN_STEP, n_itiles);          /* 16 x 16 tile steps */
        HW_TRIP_N(st, op, HW_TRIP_LIN_OUT, HW_TILE / HW_BLK);   /* 16 outputs, in 8-blocks */
        for (i = 0; i < in_dim; i++) {
#pragma HLS loop_tripcount max=768
#pragma HLS pipeline II=1
            const int32_t v = x[i];
            xl[i] = (uint16_t)((uint32_t)v & 0xffffu);
            xh[i] = (int16_t)(v >> 16);
            HW_STAT(l1 += v < 0 ? -(int64_t)v : v);
        }
        for (o = 0; o < HW_TILE; o++) {
#pragma HLS unroll
            const int64_t b = fx_align(bbuf[o], bias_f, FM_F);
            const int col = ot * HW_TILE + o;
            fm_t yv = fx_wrap_fm((int32_t)(dot_split(xh, xl, wbuf[o], n_itiles) + (uint32_t)b));
            HW_STAT(st->stores[op]++; st->wraps[op] += count_wraps(x, wbuf[o], in_dim, b, l1, wmax[o]));
            if (mode & LIN_GELU) {
                yv = hw_gelu(yv);                 /* |GELU(y)| <= |y|: no wrap */
                HW_STAT(st->stores[HW_OP_GELU]++);
            }
            if (mode & LIN_SCALE_ACC) {
                fm_t *dst = out + (long)list[r] * out_dim + col;
                fm_t sc = hw_store(((int64_t)yv * scale[r]) >> FM_F, st, op);
                *dst = hw_store((int64_t)*dst + sc, st, op);
            } else {
                out[(long)r * out_dim + col] = yv;
            }
        }
    }
}

void hw_linear(const fm_t *in, const wt_t *w, const int16_t *bias, int bias_f,
               fm_t *out, int n_rows, int in_dim, int out_dim, int mode,
               const int32_t *list, const fm_t *scale, hw_stats *st, int op)
{
    const int n_otiles = out_dim / HW_TILE;
    int ot;
    for (ot = 0; ot < n_otiles; ot++) {
#pragma HLS loop_tripcount max=48
#pragma HLS dataflow
        wt_t wbuf[HW_TILE][HW_MAX_IN];       /* PIPO between the two tasks */
        int16_t bbuf[HW_TILE];
#pragma HLS array_partition variable=wbuf dim=1 complete
        HW_TRIP_N(st, op, HW_TRIP_WLOAD, HW_TILE * in_dim * 16 / 256);   /* tile ot's weights, 256-bit beats */
        HW_TRIP_N(st, op, HW_TRIP_BLOAD, (HW_TILE * 16 + 255) / 256);    /* and biases */
        load_weight_tile(w, bias, ot, in_dim, wbuf, bbuf, st);
        compute_tile(in, (const wt_t (*)[HW_MAX_IN])wbuf, bbuf, bias_f, out, ot,
                     n_rows, in_dim, out_dim, mode, list, scale, st, op);
    }
}
