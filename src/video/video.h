/* The frames `edgemoe video` writes: the input, the semseg overlay and the
 * depth colour map side by side (row) or 2 x 2 (grid), a legend of the
 * classes, the depth scale and a heads-up text line, drawn with a built-in
 * 5 x 7 bitmap font.  Pure functions of their inputs, no allocation. */
#ifndef EM_VIDEO_VIDEO_H
#define EM_VIDEO_VIDEO_H
#include <stdint.h>
#include "edgemoe.h"

/* ---- bitmap font (src/video/font.c) ---- */
#define EM_FONT_CW 6   /* cell width: 5 pixels + 1 space */
#define EM_FONT_LH 9   /* line height: 7 pixels + 2 */
/* The 7 rows of ch (bit 4 = leftmost pixel); '?' outside 32..126. */
const uint8_t *em_font_glyph(int ch);
/* Draws s at (x, y) (top left), clipped to W x H; shadow (may be NULL): a
 * colour drawn one pixel down and right under every set pixel.  Returns the
 * width drawn in pixels. */
int em_draw_text(uint8_t *rgb, int W, int H, int x, int y, const char *s, const uint8_t col[3], const uint8_t *shadow);

/* ---- frame layout and composition (src/video/compose.c) ---- */
enum { EM_LAYOUT_ROW = 0, EM_LAYOUT_GRID = 1 };
#define EM_HUD_LINES 3
#define EM_HUD_CHARS 64

typedef struct { int x, y, w, h; } em_rect;

typedef struct {
    int layout;             /* EM_LAYOUT_* */
    int pw, ph;             /* panel size: the model's image size */
    int W, H;               /* frame size, both even */
    int n_classes;          /* classes of the legend (<= 16) */
    float depth_max;        /* depth colour scale 0..depth_max metres */
    em_rect input, overlay, depth; /* the three panels */
    em_rect hud;            /* heads-up text (the only part that varies run to run) */
    em_rect legend;         /* class swatches and names */
    em_rect scale;          /* depth colour bar with its ticks */
} em_frame_layout;

/* Plans a frame for panels of pw x ph; n_classes names from em_class_name. */
int em_frame_layout_init(em_frame_layout *L, int layout, int pw, int ph, int n_classes, float depth_max, em_err *err);
/* Name of class id k ("flat", ..., "vehicle"; "class <k>" beyond). */
const char *em_class_name(int k, char *buf, int n);

/* Composes one frame into out [H][W][3].  in_rgb [ph][pw][3]: the model's
 * input; cls [ph*pw] class ids or NULL (semseg not run); depth [ph*pw]
 * metres or NULL (depth not run); hud: EM_HUD_LINES strings (NULL or empty
 * lines are left blank; hud NULL: the HUD box stays black). */
void em_frame_compose(const em_frame_layout *L, const uint8_t *in_rgb, const uint8_t *cls, const float *depth,
                      const char (*hud)[EM_HUD_CHARS], uint8_t *out);
#endif
