/* YUV4MPEG2 reader/writer, colour conversion, font and frame composition
 * (src/video). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
#include "image/image.h"
#include "video/video.h"
#include "video/y4m.h"

/* ---- header ---- */
static int hdr_ok(const char *s, em_y4m_info *info) {
    em_err err;
    int rc = em_y4m_parse_header(s, strlen(s), info, &err);
    if (rc) printf("  unexpected error: %s\n", err.msg);
    return rc == 0;
}
/* the header is refused with one message containing `want` */
static void hdr_bad(const char *s, const char *want) {
    em_err err = {{0}};
    em_y4m_info info;
    int rc = em_y4m_parse_header(s, strlen(s), &info, &err);
    CHECK(rc < 0 && strstr(err.msg, want) && !strchr(err.msg, '\n'), "refused '%s': %s", s, err.msg);
}

static void test_header(void) {
    em_y4m_info in;
    CHECK(hdr_ok("YUV4MPEG2 W320 H240 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG", &in) && in.w == 320 && in.h == 240 &&
          in.fps_num == 30000 && in.fps_den == 1001 && in.chroma == EM_Y4M_420 && in.frame_bytes == 320 * 240 * 3 / 2 &&
          in.aspect_num == 1 && !in.full_range, "ffmpeg's 4:2:0 header");
    const char *c420[] = {"C420paldv", "C420mpeg2", "C420", ""};
    for (int k = 0; k < 4; k++) {
        char h[128];
        snprintf(h, sizeof h, "YUV4MPEG2 W16 H8 F25:1 %s", c420[k]);
        CHECK(hdr_ok(h, &in) && in.chroma == EM_Y4M_420 && in.cw == 8 && in.ch == 4, "'%s' is 4:2:0", c420[k][0] ? c420[k] : "no C tag");
    }
    CHECK(hdr_ok("YUV4MPEG2 W16 H8 F25:1 C444", &in) && in.chroma == EM_Y4M_444 && in.frame_bytes == 3 * 16 * 8, "C444: 3 full planes");
    CHECK(hdr_ok("YUV4MPEG2 W5 H3 F25:1 C420jpeg", &in) && in.cw == 3 && in.ch == 2 && in.frame_bytes == 15 + 12,
          "odd sides: chroma planes round up (3 x 2)");
    CHECK(hdr_ok("YUV4MPEG2 H8 W16", &in) && in.fps_num == 25 && in.fps_den == 1, "no F tag: 25 fps");
    CHECK(hdr_ok("YUV4MPEG2 W16 H8 F25:1 XCOLORRANGE=FULL Xanything Zfuture", &in) && in.full_range, "XCOLORRANGE=FULL; other X and unknown tags ignored");
    CHECK(hdr_ok("YUV4MPEG2  W16   H8 ", &in) && in.w == 16, "extra spaces");

    hdr_bad("YUV4MPEG W16 H8", "not a YUV4MPEG2");
    hdr_bad("YUV4MPEG2X W16 H8", "not a YUV4MPEG2");
    hdr_bad("GIF89a", "not a YUV4MPEG2");
    hdr_bad("YUV4MPEG2 H8", "no width");
    hdr_bad("YUV4MPEG2 W16", "no height");
    hdr_bad("YUV4MPEG2 W0 H8", "width");
    hdr_bad("YUV4MPEG2 W-16 H8", "width");
    hdr_bad("YUV4MPEG2 Wabc H8", "width");
    hdr_bad("YUV4MPEG2 W99999 H8", "width");
    hdr_bad("YUV4MPEG2 W16 H", "height");
    hdr_bad("YUV4MPEG2 W16 H8 F25", "frame rate");
    hdr_bad("YUV4MPEG2 W16 H8 F25:0", "frame rate");
    hdr_bad("YUV4MPEG2 W16 H8 F0:1", "frame rate");
    hdr_bad("YUV4MPEG2 W16 H8 Fx:y", "frame rate");
    hdr_bad("YUV4MPEG2 W16 H8 A1", "aspect");
    const char *inter[] = {"It", "Ib", "Im", "I?", "I"};
    for (int k = 0; k < 5; k++) {
        char h[64];
        snprintf(h, sizeof h, "YUV4MPEG2 W16 H8 %s", inter[k]);
        hdr_bad(h, "progressive");
    }
    const char *spaces[] = {"C422", "Cmono", "C411", "C420p10", "C444alpha", "C444p16", "C422p10", "Cmono16", "C"};
    for (int k = 0; k < 9; k++) {
        char h[64];
        snprintf(h, sizeof h, "YUV4MPEG2 W16 H8 %s", spaces[k]);
        hdr_bad(h, "colour space");
    }
}

/* ---- streams ---- */
typedef struct { const uint8_t *d; size_t n, pos, chunk; } slow_src;
/* at most `chunk` bytes per read, as a pipe may give */
static long slow_read(void *user, void *buf, size_t n, em_err *err) {
    (void)err;
    slow_src *s = user;
    size_t k = s->n - s->pos;
    if (k > n) k = n;
    if (k > s->chunk) k = s->chunk;
    if (k) memcpy(buf, s->d + s->pos, k);
    s->pos += k;
    return (long)k;
}

typedef struct { uint8_t *d; size_t n, cap; } buf;
static void put(buf *b, const void *p, size_t n) {
    if (!n) return;
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2; b->d = realloc(b->d, b->cap); }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* 4x2 4:2:0 frames: 8 + 2 + 2 bytes, frame k filled with k*16 + i */
static void put_frame(buf *b, int k, size_t bytes, const char *hdr) {
    puts_(b, hdr);
    for (size_t i = 0; i < bytes; i++) { uint8_t v = (uint8_t)(k * 16 + i); put(b, &v, 1); }
}

/* Reads the whole stream; returns frames read, *rc the final code, err the message. */
static int read_all(const buf *b, size_t chunk, int *rc, em_err *err, uint8_t *last) {
    slow_src s = {b->d, b->n, 0, chunk};
    em_y4m_reader *r = malloc(sizeof *r);
    int frames = 0;
    *rc = em_y4m_open(r, slow_read, &s, err);
    if (*rc == 0) {
        uint8_t *pl = malloc(r->info.frame_bytes);
        while ((*rc = em_y4m_read_frame(r, pl, err)) == 1) {
            if (last) memcpy(last, pl, r->info.frame_bytes);
            frames++;
        }
        free(pl);
    }
    free(r);
    return frames;
}

static void test_stream(void) {
    const char *H = "YUV4MPEG2 W4 H2 F25:1 Ip C420jpeg\n";
    em_err err;
    int rc;
    uint8_t last[12];
    {   /* 3 frames, one with parameters, read whole and one byte at a time */
        buf b = {0};
        puts_(&b, H);
        put_frame(&b, 0, 12, "FRAME\n");
        put_frame(&b, 1, 12, "FRAME Ixyz XFOO=1\n");
        put_frame(&b, 2, 12, "FRAME\n");
        int n = read_all(&b, 1 << 20, &rc, &err, last);
        CHECK(n == 3 && rc == 0 && last[0] == 32 && last[11] == 43, "3 frames (FRAME parameters skipped), then end of stream (rc %d)", rc);
        n = read_all(&b, 1, &rc, &err, last);
        CHECK(n == 3 && rc == 0 && last[0] == 32 && last[11] == 43, "the same one byte per read");
        n = read_all(&b, 7, &rc, &err, last);
        CHECK(n == 3 && rc == 0, "the same 7 bytes per read");
        free(b.d);
    }
    {   /* header only: an empty video */
        buf b = {0};
        puts_(&b, H);
        int n = read_all(&b, 1 << 20, &rc, &err, NULL);
        CHECK(n == 0 && rc == 0, "header only: no frames, clean end");
        free(b.d);
    }
    struct { const char *name, *want; int frames; } cases[] = {
        {"truncated last frame", "frame 1: truncated (5 of 12 bytes)", 1},
        {"frame one byte too long", "frame 1: expected a FRAME header", 1},
        {"frame one byte short", "frame 1: ", 1},
        {"garbage instead of FRAME", "frame 0: expected a FRAME header", 0},
        {"EOF inside FRAME", "frame 1: truncated frame header", 1},
        {"FRAMEX header", "frame 0: bad frame header", 0},
        {"frame header without end", "frame 0: frame header longer than", 0},
    };
    for (int c = 0; c < 7; c++) {
        buf b = {0};
        puts_(&b, H);
        switch (c) {
        case 0: put_frame(&b, 0, 12, "FRAME\n"); put_frame(&b, 1, 5, "FRAME\n"); break;
        case 1: put_frame(&b, 0, 13, "FRAME\n"); put_frame(&b, 1, 12, "FRAME\n"); break;
        case 2: put_frame(&b, 0, 11, "FRAME\n"); put_frame(&b, 1, 12, "FRAME\n"); put_frame(&b, 2, 12, "FRAME\n"); break;
        case 3: puts_(&b, "GARBAGE GARBAGE\n"); break;
        case 4: put_frame(&b, 0, 12, "FRAME\n"); puts_(&b, "FRA"); break;
        case 5: put_frame(&b, 0, 12, "FRAMEX\n"); break;
        case 6: puts_(&b, "FRAME "); for (int k = 0; k < 5000; k++) puts_(&b, "x"); break;
        }
        int n = read_all(&b, 1 << 20, &rc, &err, NULL);
        CHECK(rc < 0 && n == cases[c].frames && strstr(err.msg, cases[c].want), "%s: %d frames, then: %s", cases[c].name, n, err.msg);
        free(b.d);
    }
    /* stream header problems */
    const char *heads[] = {"", "YUV4MPEG2 W4 H2", "RIFF\x10\0\0\0WAVE", "YUV4MPEG2 W4 H2 It\nFRAME\n"};
    const char *wants[] = {"empty input", "truncated", "not a YUV4MPEG2", "progressive"};
    for (int c = 0; c < 4; c++) {
        buf b = {0};
        put(&b, heads[c], c == 2 ? 12 : strlen(heads[c]));
        read_all(&b, 1 << 20, &rc, &err, NULL);
        CHECK(rc < 0 && strstr(err.msg, wants[c]), "stream header %d refused: %s", c, err.msg);
        free(b.d);
    }
    {
        buf b = {0};
        puts_(&b, "YUV4MPEG2 ");
        for (int k = 0; k < 5000; k++) puts_(&b, "X");
        puts_(&b, "\n");
        read_all(&b, 1 << 20, &rc, &err, NULL);
        CHECK(rc < 0 && strstr(err.msg, "longer than"), "header line of 5000 bytes refused: %s", err.msg);
        free(b.d);
    }
}

/* ---- colour ---- */
static double clampd(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static void test_colour(void) {
    em_y4m_info in;
    em_err err;
    em_y4m_parse_header("YUV4MPEG2 W1 H1 C444", 20, &in, &err);
    /* every Y, U, V on a grid against BT.601 in double precision */
    int worst = 0;
    for (int y = 0; y < 256; y += 3)
        for (int u = 0; u < 256; u += 5)
            for (int v = 0; v < 256; v += 7) {
                uint8_t p[3] = {(uint8_t)y, (uint8_t)u, (uint8_t)v}, o[3];
                em_y4m_to_rgb(&in, p, o);
                double Y = (y - 16) * 255.0 / 219, U = (u - 128) * 255.0 / 224, V = (v - 128) * 255.0 / 224;
                double ref[3] = {Y + 1.402 * V, Y - 0.344136 * U - 0.714136 * V, Y + 1.772 * U};
                for (int c = 0; c < 3; c++) {
                    int d = abs((int)o[c] - (int)(clampd(ref[c]) + 0.5));
                    if (d > worst) worst = d;
                }
            }
    CHECK(worst <= 1, "limited-range BT.601 to RGB within 1 level of the double-precision formula (worst %d)", worst);
    uint8_t blk[3] = {16, 128, 128}, wht[3] = {235, 128, 128}, o[3];
    em_y4m_to_rgb(&in, blk, o);
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == 0, "Y16 is black");
    em_y4m_to_rgb(&in, wht, o);
    CHECK(o[0] == 255 && o[1] == 255 && o[2] == 255, "Y235 is white");
    em_y4m_parse_header("YUV4MPEG2 W1 H1 C444 XCOLORRANGE=FULL", 37, &in, &err);
    uint8_t f0[3] = {0, 128, 128}, f1[3] = {255, 128, 128}, f2[3] = {100, 128, 128};
    em_y4m_to_rgb(&in, f0, o);
    int ok = o[0] == 0 && o[2] == 0;
    em_y4m_to_rgb(&in, f1, o);
    ok = ok && o[0] == 255 && o[1] == 255;
    em_y4m_to_rgb(&in, f2, o);
    CHECK(ok && o[0] == 100 && o[1] == 100 && o[2] == 100, "full range: grey Y is RGB Y");

    /* 4:2:0 uses each 2x2 block's chroma: equal to 4:4:4 with chroma replicated */
    em_y4m_info i420, i444;
    em_y4m_parse_header("YUV4MPEG2 W5 H3 C420", 20, &i420, &err);
    em_y4m_parse_header("YUV4MPEG2 W5 H3 C444", 20, &i444, &err);
    uint8_t p420[27], p444[45], o420[45], o444[45];
    for (int k = 0; k < 27; k++) p420[k] = (uint8_t)(40 + 37 * k);
    memcpy(p444, p420, 15);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 5; i++) {
            p444[15 + j * 5 + i] = p420[15 + (j / 2) * 3 + i / 2];
            p444[30 + j * 5 + i] = p420[21 + (j / 2) * 3 + i / 2];
        }
    em_y4m_to_rgb(&i420, p420, o420);
    em_y4m_to_rgb(&i444, p444, o444);
    CHECK(!memcmp(o420, o444, 45), "4:2:0 (odd sides) = 4:4:4 with each chroma sample replicated over its 2x2 block");

    /* RGB -> 4:2:0 -> RGB on 2x2 blocks of one colour */
    int W = 64, Hh = 64, worst_rt = 0, worst_fwd = 0;
    uint8_t *rgb = malloc((size_t)W * Hh * 3), *pl = malloc((size_t)W * Hh * 3 / 2), *back = malloc((size_t)W * Hh * 3);
    uint32_t s = 12345;
    for (int j = 0; j < Hh; j += 2)
        for (int i = 0; i < W; i += 2) {
            uint8_t c[3];
            for (int k = 0; k < 3; k++) { s = s * 1664525u + 1013904223u; c[k] = (uint8_t)(s >> 24); }
            for (int dy = 0; dy < 2; dy++) for (int dx = 0; dx < 2; dx++) memcpy(rgb + ((size_t)(j + dy) * W + i + dx) * 3, c, 3);
        }
    em_rgb_to_y420(rgb, W, Hh, pl);
    em_y4m_info io;
    em_y4m_parse_header("YUV4MPEG2 W64 H64 C420jpeg", 26, &io, &err);
    em_y4m_to_rgb(&io, pl, back);
    for (int j = 0; j < Hh; j++)
        for (int i = 0; i < W; i++) {
            const uint8_t *p = rgb + ((size_t)j * W + i) * 3;
            double Y = 16 + (65.481 * p[0] + 128.553 * p[1] + 24.966 * p[2]) / 255;
            int d = abs((int)pl[j * W + i] - (int)(Y + 0.5));
            if (d > worst_fwd) worst_fwd = d;
            for (int k = 0; k < 3; k++) {
                int e = abs((int)p[k] - (int)back[((size_t)j * W + i) * 3 + k]);
                if (e > worst_rt) worst_rt = e;
            }
        }
    CHECK(worst_fwd <= 1, "RGB to Y within 1 level of BT.601 (worst %d)", worst_fwd);
    CHECK(worst_rt <= 3, "RGB -> 4:2:0 -> RGB on flat 2x2 blocks within 3 levels (worst %d)", worst_rt);
    free(rgb); free(pl); free(back);

    char h[256];
    int n = em_y4m_header(h, sizeof h, 768, 158, 30000, 1001);
    CHECK(n > 0 && !strcmp(h, "YUV4MPEG2 W768 H158 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n"),
          "output header: %.*s", n > 0 ? n - 1 : 0, h);
    em_y4m_info back_in;
    CHECK(em_y4m_parse_header(h, (size_t)n - 1, &back_in, &err) == 0 && back_in.w == 768 && back_in.fps_den == 1001,
          "the output header parses back");
    CHECK(em_y4m_header(h, 20, 768, 158, 25, 1) < 0, "a header that does not fit is refused");
}

/* ---- font and composition ---- */
static void test_font(void) {
    int blank = 0, same = 0;
    for (int c = 33; c <= 126; c++) {
        const uint8_t *g = em_font_glyph(c);
        int any = 0;
        for (int r = 0; r < 7; r++) any |= g[r] & 0x1f;
        blank += !any;
        for (int d = 32; d < c; d++) same += !memcmp(g, em_font_glyph(d), 7);
        for (int r = 0; r < 7; r++) if (g[r] & ~0x1f) blank++;  /* only 5 columns */
    }
    CHECK(blank == 0 && same == 0, "font: 94 printable glyphs, each non-empty, 5 wide and distinct (%d blank, %d equal pairs)", blank, same);
    CHECK(em_font_glyph(200) == em_font_glyph('?') && em_font_glyph(10) == em_font_glyph('?'), "outside ASCII 32..126: '?'");
    uint8_t mem[20 * 12 * 3 + 64];
    uint8_t *img = mem;
    memset(mem, 0, sizeof mem);
    memset(mem + 20 * 12 * 3, 0xAB, 64);  /* canary after the image */
    const uint8_t white[3] = {255, 255, 255};
    int wd = em_draw_text(img, 20, 12, 1, 1, "T", white, NULL);
    int lit = 0;
    for (int k = 0; k < 20 * 12; k++) lit += img[3 * k] == 255;

    CHECK(wd == EM_FONT_CW && lit == 5 + 6 && img[(1 * 20 + 1) * 3] == 255 && img[(7 * 20 + 3) * 3] == 255,
          "'T' draws its 11 pixels at (x, y) (lit %d)", lit);
    em_draw_text(img, 20, 12, 17, 10, "WW", white, NULL);  /* mostly outside: clipped */
    int canary = 1;
    for (int k = 0; k < 64; k++) canary &= mem[20 * 12 * 3 + k] == 0xAB;
    CHECK(canary && img[(10 * 20 + 17) * 3] == 255 && img[(11 * 20 + 17) * 3] == 255, "text at the border: the visible part drawn, nothing written past the image");
}

static void test_compose(void) {
    em_frame_layout L;
    em_err err;
    const int pw = 256, ph = 128;
    CHECK(em_frame_layout_init(&L, EM_LAYOUT_ROW, pw, ph, 7, 80.0f, &err) == 0 && L.W == 768 && L.H % 2 == 0 && L.H > ph &&
          L.hud.y == ph && L.overlay.x == pw && L.depth.x == 2 * pw, "row layout: 768 x %d, footer under the panels", L.H);
    em_frame_layout G;
    CHECK(em_frame_layout_init(&G, EM_LAYOUT_GRID, pw, ph, 7, 80.0f, &err) == 0 && G.W == 512 && G.H == 256 &&
          G.depth.y == ph && G.hud.x == pw && G.scale.y + G.scale.h <= G.H, "grid layout: 512 x 256");
    CHECK(em_frame_layout_init(&G, EM_LAYOUT_GRID, 64, 32, 7, 80.0f, &err) < 0 && strstr(err.msg, "too small"), "grid refused for 64x32 panels: %s", err.msg);
    CHECK(em_frame_layout_init(&G, EM_LAYOUT_ROW, 100, 51, 7, 80.0f, &err) == 0 && G.W == 300 && G.H % 2 == 0, "odd panel height: frame height rounded up to even");
    CHECK(em_frame_layout_init(&G, 7, 64, 32, 7, 80.0f, &err) < 0, "unknown layout refused");

    size_t HW = (size_t)pw * ph;
    uint8_t *in = malloc(3 * HW), *cls = malloc(HW), *a = malloc((size_t)L.W * L.H * 3), *b = malloc((size_t)L.W * L.H * 3);
    float *dep = malloc(HW * sizeof(float));
    for (size_t k = 0; k < HW; k++) {
        for (int c = 0; c < 3; c++) in[3 * k + c] = (uint8_t)(k * (c + 3));
        cls[k] = (uint8_t)(k % 7);
        dep[k] = (float)(k % 100);
    }
    char hud1[EM_HUD_LINES][EM_HUD_CHARS] = {"#1 41.0 ms 24.0 fps", "engine fast", "experts"};
    char hud2[EM_HUD_LINES][EM_HUD_CHARS] = {"#1 99.9 ms 10.0 fps", "engine fast", "experts"};
    em_frame_compose(&L, in, cls, dep, (const char(*)[EM_HUD_CHARS])hud1, a);
    em_frame_compose(&L, in, cls, dep, (const char(*)[EM_HUD_CHARS])hud2, b);
    int outside = 0, inside = 0;
    for (int y = 0; y < L.H; y++)
        for (int x = 0; x < L.W; x++) {
            int d = memcmp(a + ((size_t)y * L.W + x) * 3, b + ((size_t)y * L.W + x) * 3, 3) != 0;
            int in_hud = x >= L.hud.x && x < L.hud.x + L.hud.w && y >= L.hud.y && y < L.hud.y + L.hud.h;
            if (in_hud) inside += d; else outside += d;
        }
    CHECK(outside == 0 && inside > 0, "another HUD text changes only the HUD box (%d pixels inside, %d outside)", inside, outside);
    /* a pixel of the overlay away from the caption, and of the depth panel */
    int x = 200, y = 100;
    size_t k = (size_t)y * pw + x;
    uint8_t pal[3], dc[3];
    em_colormap_classes(&cls[k], 1, pal);
    em_colormap_depth(&dep[k], 1, 0.0f, 80.0f, dc);
    const uint8_t *po = a + ((size_t)y * L.W + pw + x) * 3, *pd = a + ((size_t)y * L.W + 2 * pw + x) * 3, *pi = a + ((size_t)y * L.W + x) * 3;
    int ov = 1;
    for (int c = 0; c < 3; c++) ov &= po[c] == (uint8_t)((in[3 * k + c] * 128 + pal[c] * 128 + 128) >> 8);
    CHECK(ov, "overlay: the class colour blended half over the input");
    CHECK(!memcmp(pd, dc, 3), "depth panel: colour map on the fixed 0..80 m scale");
    CHECK(!memcmp(pi, in + 3 * k, 3), "input panel: the input");
    /* depth beyond the scale saturates (no per-frame rescaling) */
    float far = 500.0f, eighty = 80.0f;
    uint8_t c1[3], c2[3];
    em_colormap_depth(&far, 1, 0.0f, 80.0f, c1);
    em_colormap_depth(&eighty, 1, 0.0f, 80.0f, c2);
    CHECK(!memcmp(c1, c2, 3), "depth beyond 80 m saturates at the top colour");
    /* a task not run: its panel is the darkened input */
    em_frame_compose(&L, in, NULL, dep, NULL, b);
    const uint8_t *pn = b + ((size_t)y * L.W + pw + x) * 3;
    CHECK(pn[0] == in[3 * k] / 4 && pn[1] == in[3 * k + 1] / 4, "semseg not run: the overlay panel shows the input darkened");
    int hud_black = 1;
    for (int yy = L.hud.y + 1; yy < L.hud.y + L.hud.h; yy++)
        for (int xx = L.hud.x; xx < L.hud.x + L.hud.w; xx++) hud_black &= b[((size_t)yy * L.W + xx) * 3] == 20;
    CHECK(hud_black, "no HUD: its box is plain");
    free(in); free(cls); free(a); free(b); free(dep);
}

int main(void) {
    test_header();
    test_stream();
    test_colour();
    test_font();
    test_compose();
    TEST_MAIN_END();
}
