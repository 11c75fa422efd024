/* Single-channel PNG reader for dataset labels (docs/dataset.md): 8-bit gray
 * class ids and 16-bit gray depth in millimetres.  Values are returned as
 * stored, never scaled or gamma-corrected; any other colour type or bit depth
 * is refused, because converting it would silently change the ids. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <png.h>

#include "util.h"
#include "image/image.h"

typedef struct {
    FILE *f;
    int truncated;
    char msg[256];
} gray_src;

static void gray_read(png_structp png, png_bytep out, size_t len) {
    gray_src *s = (gray_src *)png_get_io_ptr(png);
    if (fread(out, 1, len, s->f) != len) {
        s->truncated = 1;
        png_error(png, "truncated PNG data");
    }
}

static void gray_on_error(png_structp png, png_const_charp msg) {
    gray_src *s = (gray_src *)png_get_error_ptr(png);
    if (s) snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void gray_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

int em_png_read_gray(const char *path, int want_depth, int *w_out, int *h_out, uint16_t **out, em_err *err) {
    *out = NULL;
    if (want_depth != 8 && want_depth != 16)
        return em_error(err, EM_EARG, "%s: gray PNG: bit depth %d requested (8 or 16)", path, want_depth);
    FILE *f = em_fopen_input(path, "PNG", err);
    if (!f) return EM_EIO;
    uint8_t sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        return em_error(err, EM_EFORMAT, "%s: not a PNG file", path);
    }
    gray_src src = {f, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, gray_on_error, gray_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        if (png) png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return em_error(err, EM_ENOMEM, "%s: out of memory (libpng)", path);
    }
    uint8_t *volatile raw = NULL;
    uint16_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = EM_OK;
    if (setjmp(png_jmpbuf(png))) {
        rc = src.truncated ? em_error(err, EM_EIO, "%s: truncated PNG data", path)
                           : em_error(err, EM_EFORMAT, "%s: corrupt PNG: %s", path, src.msg);
        goto done;
    }
    png_set_read_fn(png, &src, gray_read);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 0x7fffffffL, 0x7fffffffL);
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    if (ctype != PNG_COLOR_TYPE_GRAY || depth != want_depth) {
        static const char *names[7] = {"gray", "?", "RGB", "palette", "gray+alpha", "?", "RGBA"};
        rc = em_error(err, EM_EFORMAT, "%s: PNG is %d-bit %s, expected %d-bit gray", path, depth,
                      ctype >= 0 && ctype < 7 ? names[ctype] : "?", want_depth);
        goto done;
    }
    if (w == 0 || h == 0 || w > EM_IMG_MAX_SIDE || h > EM_IMG_MAX_SIDE || (long long)w * h > EM_IMG_MAX_PIXELS) {
        rc = em_error(err, EM_ESHAPE, "%s: PNG size %ux%u out of range", path, (unsigned)w, (unsigned)h);
        goto done;
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t rowbytes = (size_t)w * (size_t)(want_depth / 8);
    if (png_get_rowbytes(png, info) != rowbytes) {
        rc = em_error(err, EM_EFORMAT, "%s: unexpected PNG row size", path);
        goto done;
    }
    raw = malloc(rowbytes * h);
    pix = malloc((size_t)w * h * sizeof(uint16_t));
    rows = malloc((size_t)h * sizeof *rows);
    if (!raw || !pix || !rows) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    const size_t n = (size_t)w * h;
    if (want_depth == 8)
        for (size_t i = 0; i < n; i++) pix[i] = raw[i];
    else /* PNG stores 16-bit samples big-endian */
        for (size_t i = 0; i < n; i++) pix[i] = (uint16_t)(raw[2 * i] << 8 | raw[2 * i + 1]);
    *w_out = (int)w;
    *h_out = (int)h;
    *out = pix;
    pix = NULL;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(raw);
    free(pix);
    fclose(f);
    return rc;
}
