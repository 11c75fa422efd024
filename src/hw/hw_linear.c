/* The unified linear unit (idea 4): one function for every linear layer.
 *
 *   out_o = bias_o + sum_i fm(in_i * W_oi)        (then fm GELU if asked)
 *
 * Hardware: a tile of 16 inputs x 16 outputs (256 MACs per cycle).  The
 * weights of 16 outputs (all inputs) sit in one of two on-chip buffers;
 * while the tile computes over every row (token), the next 16 outputs'
 * weights are loaded into the other buffer (ping-pong), so each weight is
 * read from DRAM exactly once per call.  Modes:
 *   LIN_GELU      fc1 and expert fc1: GELU applied on the way out;
 *   LIN_GATHER_IN expert fc1: row r of the input is token list[r] (the
 *                 expert's queue), so an expert sees only its tokens;
 *   LIN_SCALE_ACC expert fc2: row r's output y is scaled by its g_k and
 *                 added into out[list[r]] (the zeroed MoE buffer).
 *
 * Sums are exact modulo 2^32, so the products (each floored to fm) are
 * summed in a wide accumulator and the store wraps once; the result is bit
 * for bit that of a 32-bit fm accumulator. */
#include "hw_units.h"
#include "hw_math.h"

/* Loads the weights of outputs 16 ot .. 16 ot + 15 (and their biases);
 * also keeps max |w| per output, used to prove a sum cannot wrap. */
static void load_weight_tile(const wt_t *w, const int16_t *bias, int ot, int in_dim,
                             wt_t buf[HW_TILE][HW_MAX_IN], int16_t bbuf[HW_TILE], int32_t wmax[HW_TILE])
{
    int o, i;
    for (o = 0; o < HW_TILE; o++) {
        const wt_t *src = w + (long)(ot * HW_TILE + o) * in_dim;
        int32_t mx = 0;
        for (i = 0; i < in_dim; i++) {
#pragma HLS loop_tripcount max=768
#pragma HLS pipeline II=1
            const int32_t a = src[i] < 0 ? -(int32_t)src[i] : src[i];
            buf[o][i] = src[i];
            if (a > mx) mx = a;
        }
        bbuf[o] = bias[ot * HW_TILE + o];
        wmax[o] = mx;
    }
}

/* Exact path: wide products and sum, every wrap counted (rows with an input
 * of magnitude >= 256, and outputs whose sum could leave the fm range). */
static int64_t dot_exact(const fm_t *x, const wt_t *wr, int in_dim, hw_stats *st, int op)
{
    int64_t acc = 0;
    int i;
    for (i = 0; i < in_dim; i++) {
        int64_t p = ((int64_t)x[i] * wr[i]) >> WT_F;
        st->wraps[op] += (uint64_t)fx_wraps32(p);
        acc += p;
    }
    return acc;
}

/* Fast path, as two 16 x 16 multipliers per MAC (a 32 x 16 product split
 * over two DSP slices): x = xh 2^16 + xl with xl, xh signed 16-bit, so
 *   floor(x w / 2^14) = 4 xh w + floor(xl w / 2^14)   exactly.
 * Both halves are summed modulo 2^32, which is the fm store's wrap; the
 * caller has checked that the true sum cannot leave the fm range. */
static uint32_t dot_split(const int16_t *xh, const int16_t *xl, const wt_t *wr, int n_itiles)
{
    uint32_t ah = 0, al = 0;
    int it, i;
    for (it = 0; it < n_itiles; it++) {
#pragma HLS loop_tripcount max=48
#pragma HLS pipeline II=1
        const int16_t *h = xh + it * HW_TILE, *l = xl + it * HW_TILE;
        const wt_t *w = wr + it * HW_TILE;
        for (i = 0; i < HW_TILE; i++) {     /* one row of the 16 x 16 tile */
#pragma HLS unroll
            ah += (uint32_t)((int32_t)h[i] * w[i]);
            al += (uint32_t)(((int32_t)l[i] * w[i]) >> WT_F);
        }
    }
    return ah * 4u + al;
}

static void compute_tile(const fm_t *in, const wt_t wbuf[HW_TILE][HW_MAX_IN],
                         const int16_t bbuf[HW_TILE], const int32_t wmax[HW_TILE], int bias_f,
                         fm_t *out, int ot, int n_rows, int in_dim, int out_dim, int mode,
                         const int32_t *list, const fm_t *scale, hw_stats *st, int op)
{
    const int bshift = FM_F - bias_f;
    const int n_itiles = in_dim / HW_TILE;
    int16_t xh[HW_MAX_IN], xl[HW_MAX_IN];   /* the row, split in halves */
    int r, o, i;
    for (r = 0; r < n_rows; r++) {
#pragma HLS loop_tripcount max=129
        const int src_row = (mode & LIN_GATHER_IN) ? list[r] : r;
        const fm_t *x = in + (long)src_row * in_dim;
        int large = 0;
        int64_t l1 = 0;                      /* sum |x_i|, bounds the dot product */
        HW_TRIP_N(st, op, HW_TRIP_LIN_IN, in_dim / HW_BLK);     /* the row, in 8-blocks */
        HW_TRIP_N(st, op, HW_TRIP_LIN_STEP, n_itiles);          /* 16 x 16 tile steps */
        HW_TRIP_N(st, op, HW_TRIP_LIN_OUT, HW_TILE / HW_BLK);   /* 16 outputs, in 8-blocks */
        for (i = 0; i < in_dim; i++) {
            const int32_t v = x[i];
            const int16_t lo = (int16_t)(uint16_t)((uint32_t)v & 0xffffu);
            large |= (v >= (1 << 30) || v < -(1 << 30));
            xl[i] = lo;
            xh[i] = (int16_t)(((int64_t)v - lo) >> 16);
            l1 += v < 0 ? -(int64_t)v : v;
        }
        for (o = 0; o < HW_TILE; o++) {
#pragma HLS unroll
            const wt_t *wr = wbuf[o];
            const int64_t b = (int64_t)bbuf[o] * (1 << bshift);
            fm_t yv;
            int col = ot * HW_TILE + o;
            /* |sum| <= l1 * max|w| / 2^14 + in_dim: if that and the bias
             * fit, no product or sum can wrap */
            if (!large && ((l1 * wmax[o]) >> WT_F) + in_dim + (b < 0 ? -b : b) < ((int64_t)1 << 31)) {
                st->stores[op]++;
                yv = (fm_t)(dot_split(xh, xl, wr, n_itiles) + (uint32_t)b);
            } else {
                yv = hw_store(dot_exact(x, wr, in_dim, st, op) + b, st, op);
            }
            if (mode & LIN_GELU) {
                yv = hw_gelu(yv);                 /* |GELU(y)| <= |y|: no wrap */
                st->stores[HW_OP_GELU]++;
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

uint32_t hw_linear(const fm_t *in, const wt_t *w, const int16_t *bias, int bias_f,
                   fm_t *out, int n_rows, int in_dim, int out_dim, int mode,
                   const int32_t *list, const fm_t *scale, hw_stats *st, int op)
{
#pragma HLS interface m_axi port=in bundle=gmem0
#pragma HLS interface m_axi port=w bundle=gmem1
#pragma HLS interface m_axi port=out bundle=gmem2
    wt_t wbuf[2][HW_TILE][HW_MAX_IN];      /* ping-pong weight buffers */
    int16_t bbuf[2][HW_TILE];
    int32_t wmax[2][HW_TILE];
#pragma HLS array_partition variable=wbuf dim=2 complete
    const int n_otiles = out_dim / HW_TILE;
    uint32_t reads = 0;
    int ot;
    load_weight_tile(w, bias, 0, in_dim, wbuf[0], bbuf[0], wmax[0]);
    reads += HW_TILE * in_dim;
    st->weight_tiles++;
    for (ot = 0; ot < n_otiles; ot++) {
#pragma HLS loop_tripcount max=48
#pragma HLS dataflow
        const int cur = ot & 1;
        HW_TRIP_N(st, op, HW_TRIP_WLOAD, HW_TILE * in_dim * 16 / 256);   /* tile ot's weights, 256-bit beats */
        HW_TRIP_N(st, op, HW_TRIP_BLOAD, (HW_TILE * 16 + 255) / 256);    /* and biases */
        if (ot + 1 < n_otiles) {             /* loads while the tile computes */
            load_weight_tile(w, bias, ot + 1, in_dim, wbuf[cur ^ 1], bbuf[cur ^ 1], wmax[cur ^ 1]);
            reads += HW_TILE * in_dim;
            st->weight_tiles++;
            st->weight_tiles_overlapped++;
        }
        compute_tile(in, (const wt_t (*)[HW_MAX_IN])wbuf[cur], bbuf[cur], wmax[cur], bias_f, out, ot,
                     n_rows, in_dim, out_dim, mode, list, scale, st, op);
    }
    st->linear_weight_reads += reads;
    return reads;
}
