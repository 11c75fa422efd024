/* Colour maps for the demo outputs: a fixed palette for class maps and a
 * viridis-like perceptual map for depth. */
#include <math.h>
#include <stdint.h>

#include "util.h"
#include "image/image.h"

/* The first seven entries (the semseg classes of the default model) are far
 * apart in hue and lightness; the rest extend the table. */
static const uint8_t CLASS_PALETTE[16][3] = {
    {128, 64, 128},  /* 0 purple */
    {230, 25, 40},   /* 1 red */
    {40, 170, 60},   /* 2 green */
    {250, 230, 20},  /* 3 yellow */
    {20, 90, 220},   /* 4 blue */
    {245, 120, 10},  /* 5 orange */
    {60, 230, 230},  /* 6 cyan */
    {240, 50, 230},  /* 7 magenta */
    {120, 70, 20},   /* 8 brown */
    {250, 190, 210}, /* 9 pink */
    {0, 110, 110},   /* 10 teal */
    {190, 240, 80},  /* 11 lime */
    {120, 120, 120}, /* 12 grey */
    {130, 0, 0},     /* 13 maroon */
    {0, 0, 120},     /* 14 navy */
    {255, 255, 255}, /* 15 white */
};


void em_colormap_classes(const uint8_t *cls, int n, uint8_t *rgb) {
    for (int i = 0; i < n; i++) {
        unsigned c = cls[i];
        if (c < 16) {
            rgb[3 * i + 0] = CLASS_PALETTE[c][0];
            rgb[3 * i + 1] = CLASS_PALETTE[c][1];
            rgb[3 * i + 2] = CLASS_PALETTE[c][2];
        } else {
            /* Further ids: a fixed hashed colour, kept away from black. */
            uint32_t hsh = em_mix32(c * 0x9e3779b9u + 1u);
            rgb[3 * i + 0] = (uint8_t)(48 + (hsh & 0xff) % 208);
            rgb[3 * i + 1] = (uint8_t)(48 + ((hsh >> 8) & 0xff) % 208);
            rgb[3 * i + 2] = (uint8_t)(48 + ((hsh >> 16) & 0xff) % 208);
        }
    }
}

/* Piecewise-linear approximation of matplotlib's viridis, 9 evenly spaced
 * stops from t = 0 (dark purple) to t = 1 (yellow); lightness rises
 * monotonically. */
static const float VIRIDIS[9][3] = {
    {68, 1, 84},    {72, 36, 117},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
    {39, 173, 129}, {94, 201, 98},  {170, 220, 50}, {253, 231, 37},
};

void em_colormap_depth(const float *d, int n, float lo, float hi, uint8_t *rgb) {
    const float span = hi - lo;
    for (int i = 0; i < n; i++) {
        float v = d[i], t;
        if (!(v == v)) t = 0.0f;                   /* NaN: bottom of the map */
        else if (!(span > 0.0f) || !isfinite(span)) t = v < lo ? 0.0f : v > hi ? 1.0f : 0.5f;
        else t = (v - lo) / span;
        if (!(t >= 0.0f)) t = 0.0f;
        if (t > 1.0f) t = 1.0f;
        float pos = t * 8.0f;
        int k = (int)pos;
        if (k > 7) k = 7;
        float f = pos - (float)k;
        for (int c = 0; c < 3; c++) {
            float x = VIRIDIS[k][c] + f * (VIRIDIS[k + 1][c] - VIRIDIS[k][c]);
            rgb[3 * i + c] = (uint8_t)(x + 0.5f);
        }
    }
}
