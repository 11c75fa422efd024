/* Writes the image seeds of the fuzz corpus (tests/fuzz/corpus/image/):
 * small PNGs of every colour type and bit depth libpng writes, baseline and
 * progressive JPEGs (colour and gray), and a raw float32 image.  Run by
 * `make fuzz-seeds`; the outputs are committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <jpeglib.h>

/* trns: a tRNS chunk (alpha per palette entry, or one transparent colour) */
static void png(const char *path, int w, int h, int color, int depth, int trns) {
    FILE *f = fopen(path, "wb");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop i = png_create_info_struct(p);
    if (!f || !p || !i || setjmp(png_jmpbuf(p))) exit(1);
    png_init_io(p, f);
    png_set_IHDR(p, i, w, h, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {20, 40, 250}};
        png_set_PLTE(p, i, pal, 4);
    }
    if (trns) {
        png_byte alpha[4] = {0, 100, 255, 7};
        png_color_16 c = {0, 10, 20, 30, 5};
        png_set_tRNS(p, i, color == PNG_COLOR_TYPE_PALETTE ? alpha : NULL, color == PNG_COLOR_TYPE_PALETTE ? 4 : 0,
                     color == PNG_COLOR_TYPE_PALETTE ? NULL : &c);
    }
    png_write_info(p, i);
    int ch = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t rb = png_get_rowbytes(p, i);
    unsigned char *row = calloc(rb, 1);
    for (int y = 0; y < h; y++) {
        for (size_t x = 0; x < rb; x++) row[x] = (unsigned char)(x * 7 + y * 13);
        if (color == PNG_COLOR_TYPE_PALETTE) for (size_t x = 0; x < rb; x++) row[x] &= depth == 8 ? 3 : 0xff;
        png_write_row(p, row);
    }
    (void)ch;
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &i);
    free(row);
    fclose(f);
}

/* comps: 1 grey, 3 RGB, 4 CMYK */
static void jpeg(const char *path, int w, int h, int comps, int progressive) {
    FILE *f = fopen(path, "wb");
    if (!f) exit(1);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w; c.image_height = h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 80, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 4);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * c.input_components; x++) row[x] = (unsigned char)(x * 5 + y * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_seeds DIR\n"); return 2; }
    char p[512];
#define P(name) (snprintf(p, sizeof p, "%s/%s", argv[1], name), p)
    png(P("rgb8.png"), 24, 12, PNG_COLOR_TYPE_RGB, 8, 0);
    png(P("rgba8.png"), 9, 7, PNG_COLOR_TYPE_RGBA, 8, 0);
    png(P("gray16.png"), 8, 8, PNG_COLOR_TYPE_GRAY, 16, 0);
    png(P("gray1.png"), 17, 5, PNG_COLOR_TYPE_GRAY, 1, 0);
    png(P("graya8.png"), 6, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0);
    png(P("pal8.png"), 12, 4, PNG_COLOR_TYPE_PALETTE, 8, 0);
    png(P("rgb16.png"), 5, 3, PNG_COLOR_TYPE_RGB, 16, 0);
    png(P("pal8_trns.png"), 12, 4, PNG_COLOR_TYPE_PALETTE, 8, 1);
    png(P("gray8_trns.png"), 7, 5, PNG_COLOR_TYPE_GRAY, 8, 1);
    png(P("rgb8_trns.png"), 6, 4, PNG_COLOR_TYPE_RGB, 8, 1);
    jpeg(P("rgb.jpg"), 32, 16, 3, 0);
    jpeg(P("gray.jpg"), 16, 16, 1, 0);
    jpeg(P("prog.jpg"), 20, 12, 3, 1);
    jpeg(P("cmyk_prog.jpg"), 16, 8, 4, 1);
    /* raw float32 [3][128][256] is too big for a seed; a short one exercises the size check */
    FILE *f = fopen(P("short.bin"), "wb");
    float v[64] = {0};
    fwrite(v, sizeof v, 1, f);
    fclose(f);
    return 0;
}
