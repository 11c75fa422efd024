/* Image I/O: decoding (PNG, JPEG), resizing, and the PNGs edgemoe writes. */
#ifndef EM_IMAGE_H
#define EM_IMAGE_H
#include <stdint.h>
#include "edgemoe.h"

/* Limits on what is decoded (docs/safety.md): a file that claims more is
 * refused with a message naming the limit, before the memory is taken. */
#define EM_IMG_MAX_SIDE 16384                    /* largest width/height */
#define EM_IMG_MAX_PIXELS (128LL << 20)          /* largest width x height: 128 Mpixel */

typedef struct { int w, h; uint8_t *rgb; } em_rgb8;  /* [h][w][3], malloc'd */

/* PNG or JPEG, told apart by their magic bytes; gray, palette, alpha and 16-bit
 * inputs become 8-bit RGB (alpha dropped). */
int em_image_decode(const char *path, em_rgb8 *img, em_err *err);
void em_rgb8_free(em_rgb8 *img);
/* Resize with a separable triangle (bilinear) filter whose support widens
 * with the downscale factor (antialiased), rounded to 8 bits. */
int em_rgb8_resize(const em_rgb8 *src, int w, int h, em_rgb8 *dst, em_err *err);
/* Deterministic synthetic scene (sky, ground, objects) for the demo. */
int em_image_sample(int w, int h, em_rgb8 *img, em_err *err);

/* Gray PNG as stored (no scaling): want_depth 8 (class ids) or 16 (depth in
 * mm); any other colour type or depth is refused.  *out [h][w] is malloc'd. */
int em_png_read_gray(const char *path, int want_depth, int *w, int *h, uint16_t **out, em_err *err);

/* PNG writers: written to a temporary name then renamed, so a failure leaves
 * no partial file. */
int em_png_write_rgb8(const char *path, const uint8_t *rgb, int w, int h, em_err *err);
int em_png_write_gray8(const char *path, const uint8_t *g, int w, int h, em_err *err);
int em_png_write_gray16(const char *path, const uint16_t *g, int w, int h, em_err *err);

/* Colour maps. semseg: class ids [h*w] -> rgb with a fixed palette.
 * depth: values -> rgb via a perceptual colour map, scaled from lo to hi. */
void em_colormap_classes(const uint8_t *cls, int n, uint8_t *rgb);
void em_colormap_depth(const float *d, int n, float lo, float hi, uint8_t *rgb);
#endif
