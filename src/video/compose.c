/* Frame composition for `edgemoe video` (video.h).
 *
 * row (default):  input | overlay | depth, and under them a footer of
 *                 HUD | legend | depth scale.
 * grid:           input   | overlay
 *                 depth   | HUD, legend, depth scale
 * Everything but the HUD box depends only on the frame's input and the
 * model's outputs, so two runs give the same pixels outside it. */
#include <stdio.h>
#include <string.h>
#include "util.h"
#include "image/image.h"
#include "video/video.h"

#define LEGEND_COL_W 85   /* swatch 7 + gap 2 + 12 characters + margin: 3 columns in 256 */
#define OVERLAY_ALPHA 128 /* of 256: class colour weight in the overlay */

static const char *CLASS_NAMES[EM_N_CLASSES] = {"flat", "construction", "object", "nature", "sky", "human", "vehicle"};
static const uint8_t TEXT_COL[3] = {235, 235, 235}, SHADOW_COL[3] = {0, 0, 0}, FOOT_COL[3] = {20, 20, 24};

const char *em_class_name(int k, char *buf, int n) {
    if (k >= 0 && k < EM_N_CLASSES) return CLASS_NAMES[k];
    snprintf(buf, (size_t)n, "class %d", k);
    return buf;
}

static int legend_lines(int pw, int n_classes) {
    int per = pw / LEGEND_COL_W > 0 ? pw / LEGEND_COL_W : 1;
    return (n_classes + per - 1) / per;
}

int em_frame_layout_init(em_frame_layout *L, int layout, int pw, int ph, int n_classes, float depth_max, em_err *err) {
    memset(L, 0, sizeof *L);
    if (pw < 16 || ph < 16 || pw > 4096 || ph > 4096) return em_error(err, EM_ESHAPE, "video panels of %dx%d: out of range 16..4096", pw, ph);
    if (n_classes < 0 || n_classes > 16) return em_error(err, EM_EARG, "video legend: %d classes (at most 16)", n_classes);
    if (!(depth_max > 0) || depth_max > 1e6f) return em_error(err, EM_EARG, "video depth scale 0..%g m: must be positive", depth_max);
    L->layout = layout; L->pw = pw; L->ph = ph; L->n_classes = n_classes; L->depth_max = depth_max;
    const int ll = n_classes ? legend_lines(pw, n_classes) : 0;
    const int hud_h = EM_HUD_LINES * EM_FONT_LH + 3, scale_h = 3 * EM_FONT_LH + 3, leg_h = ll * EM_FONT_LH + 3;
    if (layout == EM_LAYOUT_ROW) {
        int foot = hud_h > leg_h ? hud_h : leg_h;
        L->W = 3 * pw; L->H = ph + foot;
        L->input = (em_rect){0, 0, pw, ph};
        L->overlay = (em_rect){pw, 0, pw, ph};
        L->depth = (em_rect){2 * pw, 0, pw, ph};
        L->hud = (em_rect){0, ph, pw, foot};
        L->legend = (em_rect){pw, ph, pw, foot};
        L->scale = (em_rect){2 * pw, ph, pw, foot};
    } else if (layout == EM_LAYOUT_GRID) {
        if (hud_h + leg_h + scale_h > ph)
            return em_error(err, EM_ESHAPE, "grid layout: panels of height %d are too small for the HUD, legend and scale (%d); use --layout row",
                            ph, hud_h + leg_h + scale_h);
        L->W = 2 * pw; L->H = 2 * ph;
        L->input = (em_rect){0, 0, pw, ph};
        L->overlay = (em_rect){pw, 0, pw, ph};
        L->depth = (em_rect){0, ph, pw, ph};
        L->hud = (em_rect){pw, ph, pw, hud_h};
        L->legend = (em_rect){pw, ph + hud_h, pw, leg_h};
        L->scale = (em_rect){pw, ph + hud_h + leg_h, pw, ph - hud_h - leg_h};
    } else {
        return em_error(err, EM_EARG, "unknown video layout %d", layout);
    }
    L->W += L->W & 1;  /* 4:2:0 wants even sides; the extra column / row stays black */
    L->H += L->H & 1;
    return EM_OK;
}

static void fill(uint8_t *out, int W, em_rect r, const uint8_t c[3]) {
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) memcpy(out + ((size_t)y * W + x) * 3, c, 3);
}

static void caption(uint8_t *out, const em_frame_layout *L, em_rect r, const char *s) {
    em_draw_text(out, L->W, L->H, r.x + 3, r.y + 3, s, TEXT_COL, SHADOW_COL);
}

/* A panel for a task that did not run: the input, darkened, and a note. */
static void panel_off(uint8_t *out, const em_frame_layout *L, em_rect r, const uint8_t *in, const char *note) {
    for (int y = 0; y < r.h; y++)
        for (int x = 0; x < r.w; x++) {
            const uint8_t *s = in + ((size_t)y * L->pw + x) * 3;
            uint8_t *d = out + ((size_t)(r.y + y) * L->W + r.x + x) * 3;
            for (int c = 0; c < 3; c++) d[c] = (uint8_t)(s[c] / 4);
        }
    em_draw_text(out, L->W, L->H, r.x + 3, r.y + r.h / 2 - 4, note, TEXT_COL, SHADOW_COL);
}

void em_frame_compose(const em_frame_layout *L, const uint8_t *in_rgb, const uint8_t *cls, const float *depth,
                      const char (*hud)[EM_HUD_CHARS], uint8_t *out) {
    const int W = L->W, pw = L->pw, ph = L->ph;
    memset(out, 0, (size_t)W * L->H * 3);
    fill(out, W, L->hud, FOOT_COL);
    fill(out, W, L->legend, FOOT_COL);
    fill(out, W, L->scale, FOOT_COL);

    /* input */
    for (int y = 0; y < ph; y++)
        memcpy(out + ((size_t)(L->input.y + y) * W + L->input.x) * 3, in_rgb + (size_t)y * pw * 3, (size_t)pw * 3);
    caption(out, L, L->input, "input");

    /* semseg: class colours blended over the input */
    if (cls) {
        uint8_t pal[256][3];
        uint8_t ids[256];
        for (int k = 0; k < 256; k++) ids[k] = (uint8_t)k;
        em_colormap_classes(ids, 256, &pal[0][0]);
        for (int y = 0; y < ph; y++) {
            const uint8_t *s = in_rgb + (size_t)y * pw * 3, *c = cls + (size_t)y * pw;
            uint8_t *d = out + ((size_t)(L->overlay.y + y) * W + L->overlay.x) * 3;
            for (int x = 0; x < pw; x++)
                for (int k = 0; k < 3; k++)
                    d[3 * x + k] = (uint8_t)((s[3 * x + k] * (256 - OVERLAY_ALPHA) + pal[c[x]][k] * OVERLAY_ALPHA + 128) >> 8);
        }
        caption(out, L, L->overlay, "semseg");
    } else {
        panel_off(out, L, L->overlay, in_rgb, "semseg: not run");
    }

    /* depth on the fixed scale */
    if (depth) {
        for (int y = 0; y < ph; y++)
            em_colormap_depth(depth + (size_t)y * pw, pw, 0.0f, L->depth_max, out + ((size_t)(L->depth.y + y) * W + L->depth.x) * 3);
        caption(out, L, L->depth, "depth");
    } else {
        panel_off(out, L, L->depth, in_rgb, "depth: not run");
    }

    /* heads-up text */
    if (hud)
        for (int i = 0; i < EM_HUD_LINES; i++)
            if (hud[i][0]) em_draw_text(out, W, L->H, L->hud.x + 3, L->hud.y + 2 + i * EM_FONT_LH, hud[i], TEXT_COL, NULL);

    /* legend: a swatch and the name of every class */
    if (L->n_classes) {
        int per = pw / LEGEND_COL_W > 0 ? pw / LEGEND_COL_W : 1;
        for (int k = 0; k < L->n_classes; k++) {
            int x = L->legend.x + 3 + (k % per) * LEGEND_COL_W, y = L->legend.y + 2 + (k / per) * EM_FONT_LH;
            uint8_t id = (uint8_t)k, col[3];
            em_colormap_classes(&id, 1, col);
            em_rect sw = {x, y, 7, 7};
            if (sw.x + sw.w <= W && sw.y + sw.h <= L->H) fill(out, W, sw, col);
            char buf[32];
            em_draw_text(out, W, L->H, x + 9, y, em_class_name(k, buf, sizeof buf), TEXT_COL, NULL);
        }
    }

    /* depth scale: title, colour bar, ticks */
    {
        em_rect s = L->scale;
        char t[64];
        snprintf(t, sizeof t, "depth 0-%g m", (double)L->depth_max);
        em_draw_text(out, W, L->H, s.x + 3, s.y + 2, t, TEXT_COL, NULL);
        int x0 = s.x + 3, x1 = s.x + s.w - 4, yb = s.y + 2 + EM_FONT_LH;
        for (int x = x0; x <= x1; x++) {
            float v = L->depth_max * (float)(x - x0) / (float)(x1 > x0 ? x1 - x0 : 1);
            uint8_t c[3];
            em_colormap_depth(&v, 1, 0.0f, L->depth_max, c);
            for (int y = yb; y < yb + 7 && y < L->H; y++) memcpy(out + ((size_t)y * W + x) * 3, c, 3);
        }
        int yt = yb + EM_FONT_LH;
        em_draw_text(out, W, L->H, x0, yt, "0", TEXT_COL, NULL);
        snprintf(t, sizeof t, "%g", (double)L->depth_max / 2);
        em_draw_text(out, W, L->H, (x0 + x1) / 2 - (int)strlen(t) * EM_FONT_CW / 2, yt, t, TEXT_COL, NULL);
        snprintf(t, sizeof t, "%g m", (double)L->depth_max);
        em_draw_text(out, W, L->H, x1 + 1 - (int)strlen(t) * EM_FONT_CW, yt, t, TEXT_COL, NULL);
    }
}
