/* Patch embed unit: token p+1 = bias + sum over (c, y, x) of fm(pixel * w),
 * then + pos_embed; token 0 = pos_embed row 0 (class token folded in). */
#include "hw_units.h"

void hw_patch_embed(const pix_t image[HW_IMG_C][HW_IMG_H][HW_IMG_W],
                    const hw_weights *w, fm_t x[HW_N][HW_D], hw_stats *st)
{
    int p, d, c, ky, kx;
    for (d = 0; d < HW_D; d++)
        x[0][d] = hw_store((int64_t)w->pos[0][d], st, HW_OP_EMBED);
    for (p = 0; p < HW_N - 1; p++) {
        const int py = p / HW_GRID_W, px = p % HW_GRID_W;
        for (d = 0; d < HW_D; d++) {
#pragma HLS pipeline II=3
            int64_t acc = fx_align(w->patch_b[d], B5_F, FM_F);
            const pw_t *wd = w->patch_w[d];
            fm_t tok;
            HW_TRIP_N(st, HW_OP_EMBED, HW_TRIP_EMBED, HW_IMG_C * HW_PATCH / (2 * HW_BLK)); /* 3 per (patch, dim) */
            for (c = 0; c < HW_IMG_C; c++)
                for (ky = 0; ky < HW_PATCH; ky++) {
                    const pix_t *row = &image[c][py * HW_PATCH + ky][px * HW_PATCH];
                    const pw_t *wr = wd + (c * HW_PATCH + ky) * HW_PATCH;
                    for (kx = 0; kx < HW_PATCH; kx++)   /* |p w| < 2^(PIX_W + PW_W - 1): never wraps */
                        acc += fm_mul_pix(row[kx], wr[kx]);
                }
            tok = hw_store(acc, st, HW_OP_EMBED);
            x[p + 1][d] = hw_store((int64_t)tok + w->pos[p + 1][d], st, HW_OP_EMBED);
        }
    }
}
