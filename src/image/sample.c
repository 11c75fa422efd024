/* A deterministic synthetic street-like scene for the demo: sky gradient with
 * a sun, grassy ground with a road to the horizon, a house, a tree and a car.
 * Geometry is in normalised coordinates, so any size gives the same scene;
 * the only "noise" is a fixed integer hash of the pixel position. */
#include <math.h>
#include <stdlib.h>

#include "util.h"
#include "image/image.h"

static uint32_t hash2(uint32_t x, uint32_t y) {
    return em_mix32(x * 0x8da6b343u ^ y * 0xd8163841u ^ 0x2545f491u);
}

static void lerp3(float out[3], const float a[3], const float b[3], float t) {
    for (int c = 0; c < 3; c++) out[c] = a[c] + t * (b[c] - a[c]);
}

static void set3(float out[3], float r, float g, float b) { out[0] = r; out[1] = g; out[2] = b; }

int em_image_sample(int w, int h, em_rgb8 *img, em_err *err) {
    if (!img) return em_error(err, EM_EARG, "sample image: NULL output");
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384)
        return em_error(err, EM_EARG, "sample image: bad size %dx%d", w, h);
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) return em_error(err, EM_ENOMEM, "sample image: out of memory for %dx%d", w, h);

    const float sky_top[3] = {40, 90, 180}, sky_low[3] = {175, 210, 240};
    const float grass_far[3] = {110, 160, 80}, grass_near[3] = {50, 120, 40};
    const float horizon = 0.55f;
    const float aspect = (float)w / (float)h; /* to draw round shapes round */

    for (int y = 0; y < h; y++) {
        float v = (y + 0.5f) / h;
        for (int x = 0; x < w; x++) {
            float u = (x + 0.5f) / w;
            float c[3];
            uint32_t hs = hash2((uint32_t)x, (uint32_t)y);
            float noise = (float)(hs & 0xff) / 255.0f - 0.5f; /* -0.5 .. 0.5 */
            if (v < horizon) {
                lerp3(c, sky_top, sky_low, v / horizon);
                /* sun with a soft halo */
                float du = (u - 0.82f) * aspect, dv = v - 0.17f;
                float r = sqrtf(du * du + dv * dv);
                if (r < 0.08f) set3(c, 255, 240, 170);
                else if (r < 0.16f) {
                    float t = (0.16f - r) / 0.08f * 0.5f;
                    const float sun[3] = {255, 240, 170};
                    lerp3(c, c, sun, t);
                }
                /* a cloud: union of three discs */
                float cx[3] = {0.40f, 0.46f, 0.52f}, cy[3] = {0.16f, 0.12f, 0.17f}, cr[3] = {0.05f, 0.07f, 0.05f};
                for (int k = 0; k < 3; k++) {
                    float a = (u - cx[k]) * aspect, b = v - cy[k];
                    if (a * a + b * b < cr[k] * cr[k]) set3(c, 245, 245, 250);
                }
            } else {
                float g = (v - horizon) / (1.0f - horizon); /* 0 at horizon .. 1 at bottom */
                lerp3(c, grass_far, grass_near, g);
                for (int k = 0; k < 3; k++) c[k] += noise * 24.0f;
                /* road: a trapezoid from a point near the horizon to the bottom */
                float half = 0.02f + 0.30f * g;
                if (fabsf(u - 0.55f) < half) {
                    set3(c, 95, 95, 100);
                    for (int k = 0; k < 3; k++) c[k] += noise * 10.0f;
                    /* dashed centre line */
                    if (fabsf(u - 0.55f) < 0.004f + 0.01f * g && fmodf(g * 10.0f, 1.0f) < 0.5f)
                        set3(c, 240, 240, 230);
                }
            }
            /* house: wall, roof, door, window */
            if (u > 0.10f && u < 0.30f && v > 0.38f && v < 0.66f) {
                set3(c, 185, 70, 50);
                if (u > 0.18f && u < 0.22f && v > 0.52f) set3(c, 80, 45, 25);
                if (u > 0.13f && u < 0.16f && v > 0.44f && v < 0.52f) set3(c, 200, 225, 255);
                if (u > 0.24f && u < 0.27f && v > 0.44f && v < 0.52f) set3(c, 200, 225, 255);
            }
            {
                float rt = 0.38f - 0.16f * (1.0f - fabsf(u - 0.20f) / 0.12f); /* roof top edge */
                if (u > 0.08f && u < 0.32f && v <= 0.38f && v > rt) set3(c, 90, 40, 35);
            }
            /* tree: trunk and crown */
            if (u > 0.355f && u < 0.375f && v > 0.45f && v < 0.63f) set3(c, 100, 65, 30);
            {
                float a = (u - 0.365f) * aspect, b = v - 0.40f;
                if (a * a + b * b < 0.09f * 0.09f) set3(c, 30 + noise * 20.0f, 110 + noise * 30.0f, 35);
            }
            /* car on the road */
            if (u > 0.60f && u < 0.74f && v > 0.72f && v < 0.82f) set3(c, 30, 60, 200);
            if (u > 0.63f && u < 0.71f && v > 0.66f && v <= 0.72f) set3(c, 160, 200, 235);
            for (int k = 0; k < 2; k++) {
                float a = (u - (0.635f + 0.07f * k)) * aspect, b = v - 0.82f;
                if (a * a + b * b < 0.03f * 0.03f) set3(c, 20, 20, 20);
            }
            uint8_t *o = p + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) {
                float t = c[k] + 0.5f;
                o[k] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
        }
    }
    img->w = w;
    img->h = h;
    img->rgb = p;
    return EM_OK;
}
