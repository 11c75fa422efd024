/* Image decoding (PNG via libpng, JPEG via libjpeg-turbo) and em_image_load.
 *
 * Files are read whole into memory and decoded from there, so a truncated
 * file is seen as "the decoder asked for bytes past the end" and reported as
 * such.  Both libraries report errors through callbacks that longjmp back to
 * the decode function, which frees everything it allocated; warnings are
 * never printed (the library does not write to stdout/stderr). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

#include "util.h"
#include "image/image.h"

/* Limits beyond image.h's (docs/safety.md) */
#define EM_IMG_MAX_FILE (512L * 1024 * 1024)   /* largest encoded file read */
#define EM_JPEG_MAX_SCANS 100                  /* progressive scans (encoders write about 10) */
#define EM_JPEG_MAX_MEMORY (512L * 1024 * 1024)  /* libjpeg's working memory (coefficients) */

static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t JPEG_MAGIC[3] = {0xff, 0xd8, 0xff};

typedef enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG } img_format;

static img_format sniff(const uint8_t *p, size_t n) {
    if (n >= sizeof PNG_MAGIC && memcmp(p, PNG_MAGIC, sizeof PNG_MAGIC) == 0) return FMT_PNG;
    if (n >= sizeof JPEG_MAGIC && memcmp(p, JPEG_MAGIC, sizeof JPEG_MAGIC) == 0) return FMT_JPEG;
    return FMT_UNKNOWN;
}

void em_rgb8_free(em_rgb8 *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

/* Opens path for reading and checks it is a regular file; *size = its size. */
static int open_regular(const char *path, FILE **out, long long *size, em_err *err) {
    *out = NULL;
    if (!path || !*path) return em_error(err, EM_EARG, "image: empty path");
    struct stat st;
    int fd = em_open_input(path, "image", &st, err);
    if (fd < 0) return EM_EIO;
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); return em_error(err, EM_ENOMEM, "%s: cannot open: %s", path, strerror(errno)); }
    *out = f;
    *size = (long long)st.st_size;
    return EM_OK;
}

/* Reads exactly n bytes from f into buf. */
static int read_exact(FILE *f, const char *path, void *buf, size_t n, em_err *err) {
    size_t got = fread(buf, 1, n, f);
    if (got != n) {
        if (ferror(f))
            return em_error(err, EM_EIO, "%s: read error: %s", path, strerror(errno));
        return em_error(err, EM_EIO, "%s: file shrank while reading (%zu of %zu bytes)", path, got, n);
    }
    return EM_OK;
}

static int check_dims(const char *path, const char *kind, unsigned long w, unsigned long h,
                      em_err *err) {
    if (w == 0 || h == 0)
        return em_error(err, EM_EFORMAT, "%s: %s has an empty size %lux%lu", path, kind, w, h);
    if (w > EM_IMG_MAX_SIDE || h > EM_IMG_MAX_SIDE)
        return em_error(err, EM_ESHAPE, "%s: %s is %lux%lu, larger than the %d pixel limit per side",
                        path, kind, w, h, EM_IMG_MAX_SIDE);
    if ((long long)w * (long long)h > EM_IMG_MAX_PIXELS)
        return em_error(err, EM_ESHAPE, "%s: %s is %lux%lu = %.1f Mpixel, more than the %lld Mpixel limit",
                        path, kind, w, h, (double)w * h / (1 << 20), EM_IMG_MAX_PIXELS >> 20);
    return EM_OK;
}

/* ---------------------------------------------------------------- PNG ---- */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    int truncated;
    char msg[256];
} png_src;

static void png_read_mem(png_structp png, png_bytep out, size_t len) {
    png_src *s = (png_src *)png_get_io_ptr(png);
    if (len > s->n - s->pos) {
        s->truncated = 1;
        png_error(png, "truncated PNG data");
    }
    memcpy(out, s->p + s->pos, len);
    s->pos += len;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    png_src *s = (png_src *)png_get_error_ptr(png);
    if (s) snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int decode_png(const char *path, const uint8_t *buf, size_t n, em_rgb8 *img, em_err *err) {
    png_src src = {buf, n, 0, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return em_error(err, EM_ENOMEM, "%s: out of memory (libpng)", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return em_error(err, EM_ENOMEM, "%s: out of memory (libpng)", path);
    }
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = EM_OK;

    if (setjmp(png_jmpbuf(png))) {
        if (src.truncated)
            rc = em_error(err, EM_EIO, "%s: truncated PNG data", path);
        else
            rc = em_error(err, EM_EFORMAT, "%s: corrupt PNG: %s", path, src.msg);
        goto done;
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* Our own size check below gives the clearer message. */
    png_set_user_limits(png, 0x7fffffffL, 0x7fffffffL);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    rc = check_dims(path, "PNG image", w, h, err);
    if (rc != EM_OK) goto done;

    /* Every colour type and bit depth to 8-bit RGB through libpng's own
     * transforms: palette and low-bit grey expanded, transparency (an alpha
     * channel or a tRNS chunk) dropped, 16 bits scaled, grey replicated. */
    png_set_expand(png);
    if (depth == 16) png_set_scale_16(png); /* rounds v * 255 / 65535 */
    png_set_strip_alpha(png);
    if (!(ctype & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * 3) {
        rc = em_error(err, EM_EFORMAT, "%s: unsupported PNG layout (color type %d, bit depth %d)",
                      path, ctype, depth);
        goto done;
    }
    pix = malloc((size_t)w * h * 3);
    rows = malloc((size_t)h * sizeof *rows);
    if (!pix || !rows) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory for a %ux%u image", path, (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pix + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* checks the rest of the stream up to IEND */

    img->w = (int)w;
    img->h = (int)h;
    img->rgb = pix;
    pix = NULL;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(pix);
    return rc;
}

/* --------------------------------------------------------------- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated, over_limit;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

static void jpeg_on_error_exit(j_common_ptr c) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    if (c->err->msg_code == JERR_NO_BACKING_STORE) {  /* the memory limit: libjpeg would need a temp file */
        e->over_limit = 1;
        snprintf(e->msg, sizeof e->msg, "decoding needs more than the %ld MB decoder memory limit",
                 EM_JPEG_MAX_MEMORY >> 20);
    } else {
        c->err->format_message(c, e->msg);
    }
    longjmp(e->jb, 1);
}

/* Called as scans are read: a progressive file with very many scans costs
 * time in proportion, whatever its size on disk. */
static void jpeg_on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    if (d->input_scan_number > EM_JPEG_MAX_SCANS) {
        e->over_limit = 1;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans (the limit)", EM_JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

/* Warnings (level < 0): running off the end of the data means truncation,
 * damaged entropy-coded data means corruption; both abort the decode rather
 * than return a silently grey-filled image.  Other warnings and all trace
 * messages are ignored.  Nothing is printed. */
static void jpeg_on_message(j_common_ptr c, int level) {
    if (level >= 0) return;
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    switch (c->err->msg_code) {
    case JWRN_JPEG_EOF:
        e->truncated = 1;
        longjmp(e->jb, 1);
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
        c->err->format_message(c, e->msg);
        longjmp(e->jb, 1);
    default:
        c->err->num_warnings++;
    }
}

static void jpeg_on_output(j_common_ptr c) { (void)c; }

/* want_w x want_h > 0: the size the image will be resized to; a JPEG much
 * larger is decoded at a reduced scale (M/8, libjpeg's scaled IDCT) that
 * still leaves at least twice the wanted size for the resize. */
static int decode_jpeg(const char *path, const uint8_t *buf, size_t n, int want_w, int want_h, em_rgb8 *img,
                       em_err *err) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    jpeg_err_ctx je;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&progress, 0, sizeof progress);
    memset(&je, 0, sizeof je);
    cinfo.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_on_error_exit;
    je.pub.emit_message = jpeg_on_message;
    je.pub.output_message = jpeg_on_output;
    uint8_t *volatile pix = NULL;
    uint8_t *volatile row4 = NULL;
    volatile int rc = EM_OK;

    if (setjmp(je.jb)) {
        if (je.truncated)
            rc = em_error(err, EM_EIO, "%s: truncated JPEG data", path);
        else if (je.over_limit)
            rc = em_error(err, EM_ESHAPE, "%s: JPEG refused: %s", path, je.msg);
        else {
            const char *m = je.msg, *pre = "Corrupt JPEG data: ";
            if (strncmp(m, pre, strlen(pre)) == 0) m += strlen(pre);
            rc = em_error(err, EM_EFORMAT, "%s: corrupt JPEG: %s", path, m);
        }
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = EM_JPEG_MAX_MEMORY;
    progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, (const unsigned char *)buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    rc = check_dims(path, "JPEG image", cinfo.image_width, cinfo.image_height, err);
    if (rc != EM_OK) goto done;
    if (want_w > 0 && want_h > 0) {
        int m = 8;
        while (m > 1 && (long)cinfo.image_width * (m - 1) >= 16L * want_w &&
               (long)cinfo.image_height * (m - 1) >= 16L * want_h)
            m--;
        cinfo.scale_num = (unsigned)m;
        cinfo.scale_denom = 8;
    }

    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    unsigned w = cinfo.output_width, h = cinfo.output_height;
    if (cinfo.output_components != (cmyk ? 4 : 3)) {
        rc = em_error(err, EM_EFORMAT, "%s: unsupported JPEG colour layout (%d components)",
                      path, cinfo.output_components);
        goto done;
    }
    pix = malloc((size_t)w * h * 3);
    if (cmyk) row4 = malloc((size_t)w * 4);
    if (!pix || (cmyk && !row4)) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory for a %ux%u image", path, w, h);
        goto done;
    }
    while (cinfo.output_scanline < h) {
        unsigned y = cinfo.output_scanline;
        uint8_t *dst = pix + (size_t)y * w * 3;
        JSAMPROW r = cmyk ? (JSAMPROW)row4 : (JSAMPROW)dst;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            rc = em_error(err, EM_EIO, "%s: truncated JPEG data", path);
            goto done;
        }
        if (cmyk) {
            /* Adobe CMYK JPEGs store inverted inks: R = C*K/255 etc. */
            const uint8_t *s = row4;
            for (unsigned x = 0; x < w; x++, s += 4) {
                unsigned k = s[3];
                dst[3 * x + 0] = (uint8_t)((s[0] * k + 127) / 255);
                dst[3 * x + 1] = (uint8_t)((s[1] * k + 127) / 255);
                dst[3 * x + 2] = (uint8_t)((s[2] * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    img->w = (int)w;
    img->h = (int)h;
    img->rgb = pix;
    pix = NULL;
done:
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    free(pix);
    return rc;
}

/* ------------------------------------------------------------- public ---- */

static int decode_buffer(const char *path, const uint8_t *buf, size_t n, int want_w, int want_h, em_rgb8 *img,
                         em_err *err) {
    switch (sniff(buf, n)) {
    case FMT_PNG: return decode_png(path, buf, n, img, err);
    case FMT_JPEG: return decode_jpeg(path, buf, n, want_w, want_h, img, err);
    default: return em_error(err, EM_EFORMAT, "%s: not a PNG or JPEG file", path);
    }
}

/* Reads the rest of an already opened file (size bytes) and decodes it. */
static int decode_open_file(const char *path, FILE *f, long long size, int want_w, int want_h, em_rgb8 *img,
                            em_err *err) {
    if (size > EM_IMG_MAX_FILE)
        return em_error(err, EM_ESHAPE, "%s: file of %lld bytes is too large for an image", path, size);
    if (size == 0) return em_error(err, EM_EFORMAT, "%s: empty file, not a PNG or JPEG file", path);
    uint8_t *buf = malloc((size_t)size);
    if (!buf) return em_error(err, EM_ENOMEM, "%s: out of memory reading %lld bytes", path, size);
    int rc = read_exact(f, path, buf, (size_t)size, err);
    if (rc == EM_OK) rc = decode_buffer(path, buf, (size_t)size, want_w, want_h, img, err);
    free(buf);
    return rc;
}

int em_image_decode(const char *path, em_rgb8 *img, em_err *err) {
    if (!img) return em_error(err, EM_EARG, "em_image_decode: NULL image");
    img->w = img->h = 0;
    img->rgb = NULL;
    FILE *f;
    long long size;
    int rc = open_regular(path, &f, &size, err);
    if (rc != EM_OK) return rc;
    rc = decode_open_file(path, f, size, 0, 0, img, err);
    fclose(f);
    return rc;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Raw little-endian float32 [c][h][w]: exact size, every value finite. */
static int load_raw(const char *path, FILE *f, long long size, const em_config *c, float *out,
                    em_err *err) {
    size_t n = (size_t)c->img_c * c->img_h * c->img_w;
    long long want = (long long)n * 4;
    if (size != want)
        return em_error(err, EM_ESHAPE,
                        "%s: not a PNG or JPEG, and as raw float32 [%d][%d][%d] it should be "
                        "%lld bytes, but it is %lld bytes",
                        path, c->img_c, c->img_h, c->img_w, want, size);
    int rc = read_exact(f, path, out, n * 4, err);
    if (rc != EM_OK) return rc;
    if (!host_is_little_endian()) {
        uint8_t *b = (uint8_t *)out;
        for (size_t i = 0; i < n; i++, b += 4) {
            uint8_t t0 = b[0], t1 = b[1];
            b[0] = b[3]; b[1] = b[2]; b[2] = t1; b[3] = t0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(out[i])) {
            size_t hw = (size_t)c->img_h * c->img_w;
            return em_error(err, EM_EVALUE, "%s: value %zu (c=%zu, y=%zu, x=%zu) is not finite (%g)",
                            path, i, i / hw, (i % hw) / c->img_w, i % c->img_w, (double)out[i]);
        }
    }
    return EM_OK;
}

int em_image_load(const char *path, const em_config *c, float *out, em_err *err) {
    if (!c || !out) return em_error(err, EM_EARG, "em_image_load: NULL config or output");
    if (c->img_c <= 0 || c->img_h <= 0 || c->img_w <= 0 || c->img_h > EM_IMG_MAX_SIDE ||
        c->img_w > EM_IMG_MAX_SIDE || c->img_c > 64)
        return em_error(err, EM_EARG, "em_image_load: bad model image size %dx%dx%d",
                        c->img_c, c->img_h, c->img_w);
    FILE *f;
    long long size;
    int rc = open_regular(path, &f, &size, err);
    if (rc != EM_OK) return rc;

    uint8_t magic[8] = {0};
    size_t nm = fread(magic, 1, sizeof magic, f);
    img_format fmt = sniff(magic, nm);
    if (fmt == FMT_UNKNOWN) {
        if (fseek(f, 0, SEEK_SET) != 0) rc = em_error(err, EM_EIO, "%s: cannot seek: %s", path, strerror(errno));
        else rc = load_raw(path, f, size, c, out, err);
        fclose(f);
        return rc;
    }
    if (c->img_c != 3) {
        fclose(f);
        return em_error(err, EM_EARG, "%s: PNG/JPEG images have 3 channels, the model wants %d",
                        path, c->img_c);
    }
    em_rgb8 img = {0, 0, NULL};
    if (fseek(f, 0, SEEK_SET) != 0) rc = em_error(err, EM_EIO, "%s: cannot seek: %s", path, strerror(errno));
    else rc = decode_open_file(path, f, size, c->img_w, c->img_h, &img, err);
    fclose(f);
    if (rc != EM_OK) return rc;

    rc = em_image_from_rgb8(img.rgb, img.w, img.h, c, out, err);
    em_rgb8_free(&img);
    return rc;
}

int em_image_from_rgb8(const uint8_t *rgb, int w, int h, const em_config *c, float *out, em_err *err) {
    if (!rgb || !c || !out) return em_error(err, EM_EARG, "em_image_from_rgb8: NULL argument");
    if (c->img_c != 3) return em_error(err, EM_EARG, "RGB images have 3 channels, the model wants %d", c->img_c);
    if (w <= 0 || h <= 0 || w > EM_IMG_MAX_SIDE || h > EM_IMG_MAX_SIDE)
        return em_error(err, EM_ESHAPE, "image size %dx%d out of range 1..%d", w, h, EM_IMG_MAX_SIDE);
    em_rgb8 rs = {0, 0, NULL};
    if (w != c->img_w || h != c->img_h) {
        em_rgb8 src = {w, h, (uint8_t *)rgb};
        int rc = em_rgb8_resize(&src, c->img_w, c->img_h, &rs, err);
        if (rc != EM_OK) return rc;
        rgb = rs.rgb;
    }
    const size_t hw = (size_t)c->img_h * c->img_w;
    for (size_t i = 0; i < hw; i++) {
        out[i] = rgb[3 * i + 0] / 256.0f;
        out[hw + i] = rgb[3 * i + 1] / 256.0f;
        out[2 * hw + i] = rgb[3 * i + 2] / 256.0f;
    }
    em_rgb8_free(&rs);
    return EM_OK;
}
