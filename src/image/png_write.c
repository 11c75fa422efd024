/* PNG writers.  Each writes a temporary file next to PATH (em_tmp_open),
 * checks every write and the close, then renames it to PATH; on any failure
 * the temporary file is removed and PATH is left as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "util.h"
#include "image/image.h"

#define EM_PNG_MAX_SIDE 1000000 /* libpng's default user limit */

typedef struct { char msg[256]; } png_wctx;

static void pngw_on_error(png_structp png, png_const_charp msg) {
    png_wctx *c = (png_wctx *)png_get_error_ptr(png);
    if (c) snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void pngw_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* channels: 1 or 3; depth: 8 or 16 (16: data is uint16_t host order). */
static int png_write_any(const char *path, const void *data, int w, int h, int channels,
                         int depth, em_err *err) {
    if (!path || !*path) return em_error(err, EM_EARG, "PNG write: empty path");
    if (!data) return em_error(err, EM_EARG, "%s: PNG write: NULL pixel data", path);
    if (w <= 0 || h <= 0 || w > EM_PNG_MAX_SIDE || h > EM_PNG_MAX_SIDE)
        return em_error(err, EM_EARG, "%s: PNG write: bad size %dx%d", path, w, h);

    char tmp[4200];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) return EM_EIO;
    png_wctx ctx = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, pngw_on_error, pngw_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    const size_t rowbytes = (size_t)w * channels * (depth / 8);
    uint8_t *volatile row = NULL;
    volatile int rc = EM_OK;
    if (!png || !info) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory (libpng)", path);
        goto fail;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = em_error(err, EM_EIO, "%s: PNG write failed: %s", path, ctx.msg);
        goto fail;
    }
    if (depth == 16) {
        row = malloc(rowbytes);
        if (!row) {
            rc = em_error(err, EM_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        if (depth == 16) {
            /* PNG stores 16-bit samples big-endian. */
            const uint16_t *s = (const uint16_t *)data + (size_t)y * w * channels;
            for (size_t i = 0; i < (size_t)w * channels; i++) {
                row[2 * i] = (uint8_t)(s[i] >> 8);
                row[2 * i + 1] = (uint8_t)(s[i] & 0xff);
            }
            png_write_row(png, row);
        } else {
            png_write_row(png, (png_const_bytep)data + (size_t)y * rowbytes);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    row = NULL;
    FILE *done = f;
    f = NULL;
    return em_tmp_commit(done, tmp, path, err);
fail:
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    free(row);
    if (f) em_tmp_abort(f, tmp);
    return rc;
}

int em_png_write_rgb8(const char *path, const uint8_t *rgb, int w, int h, em_err *err) {
    return png_write_any(path, rgb, w, h, 3, 8, err);
}

int em_png_write_gray8(const char *path, const uint8_t *g, int w, int h, em_err *err) {
    return png_write_any(path, g, w, h, 1, 8, err);
}

int em_png_write_gray16(const char *path, const uint16_t *g, int w, int h, em_err *err) {
    return png_write_any(path, g, w, h, 1, 16, err);
}
