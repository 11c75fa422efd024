/* YUV4MPEG2 reader and writer (y4m.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "video/y4m.h"

/* A short printable excerpt of bytes for an error message. */
static void excerpt(const uint8_t *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap && i < 24; i++) {
        uint8_t c = s[i];
        if (c >= 32 && c < 127 && c != '\\') out[k++] = (char)c;
        else k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
    }
    out[k] = 0;
}

/* Decimal integer in [lo, hi] from s[0..n); -1 if malformed. */
static int parse_int(const char *s, size_t n, long lo, long hi, long *out) {
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* "num:den" */
static int parse_ratio(const char *s, size_t n, long *num, long *den) {
    const char *c = memchr(s, ':', n);
    if (!c) return -1;
    size_t a = (size_t)(c - s);
    return parse_int(s, a, 0, INT_MAX, num) || parse_int(c + 1, n - a - 1, 0, INT_MAX, den) ? -1 : 0;
}

int em_y4m_parse_header(const char *line, size_t n, em_y4m_info *info, em_err *err) {
    memset(info, 0, sizeof *info);
    if (n < 9 || memcmp(line, "YUV4MPEG2", 9) || (n > 9 && line[9] != ' ')) {
        char ex[128];
        excerpt((const uint8_t *)line, n, ex, sizeof ex);
        return em_error(err, EM_EFORMAT, "not a YUV4MPEG2 stream (header starts '%s')", ex);
    }
    long w = -1, h = -1, fn = 25, fd = 1;
    info->chroma = EM_Y4M_420;
    for (size_t i = 9; i < n;) {
        while (i < n && line[i] == ' ') i++;
        if (i >= n) break;
        size_t j = i;
        while (j < n && line[j] != ' ') j++;
        const char *v = line + i + 1;
        size_t vn = j - i - 1;
        char tag = line[i];
        long a, b;
        char tok[64];
        snprintf(tok, sizeof tok, "%.*s", (int)(j - i > 40 ? 40 : j - i), line + i);
        switch (tag) {
        case 'W':
            if (parse_int(v, vn, 1, EM_Y4M_MAX_SIDE, &w)) return em_error(err, EM_EFORMAT, "y4m header: bad width '%s' (1..%d)", tok, EM_Y4M_MAX_SIDE);
            break;
        case 'H':
            if (parse_int(v, vn, 1, EM_Y4M_MAX_SIDE, &h)) return em_error(err, EM_EFORMAT, "y4m header: bad height '%s' (1..%d)", tok, EM_Y4M_MAX_SIDE);
            break;
        case 'F':
            if (parse_ratio(v, vn, &a, &b) || (a == 0) != (b == 0))
                return em_error(err, EM_EFORMAT, "y4m header: bad frame rate '%s' (want F<num>:<den>)", tok);
            if (a) { fn = a; fd = b; }  /* F0:0: unknown, keep 25 */
            break;
        case 'A':
            if (parse_ratio(v, vn, &a, &b)) return em_error(err, EM_EFORMAT, "y4m header: bad pixel aspect '%s'", tok);
            info->aspect_num = (int)a; info->aspect_den = (int)b;
            break;
        case 'I':
            if (vn != 1 || v[0] != 'p')
                return em_error(err, EM_EFORMAT, "y4m header: '%s': only progressive video (Ip) is supported, deinterlace first "
                                                 "(ffmpeg -vf yadif)", tok);
            break;
        case 'C':
            if ((vn == 7 && !memcmp(v, "420jpeg", 7)) || (vn == 8 && !memcmp(v, "420paldv", 8)) ||
                (vn == 8 && !memcmp(v, "420mpeg2", 8)) || (vn == 3 && !memcmp(v, "420", 3)))
                info->chroma = EM_Y4M_420;
            else if (vn == 3 && !memcmp(v, "444", 3)) info->chroma = EM_Y4M_444;
            else
                return em_error(err, EM_EFORMAT, "y4m header: colour space '%s' is not supported (8-bit 4:2:0 or 4:4:4; "
                                                 "ffmpeg -pix_fmt yuv420p)", tok);
            break;
        case 'X':
            if (vn == 15 && !memcmp(v, "COLORRANGE=FULL", 15)) info->full_range = 1;
            else if (vn == 18 && !memcmp(v, "COLORRANGE=LIMITED", 18)) info->full_range = 0;
            break;  /* other comments ignored */
        default:
            break;  /* unknown tags are ignored, as the format asks */
        }
        i = j;
    }
    if (w < 0) return em_error(err, EM_EFORMAT, "y4m header: no width (W tag)");
    if (h < 0) return em_error(err, EM_EFORMAT, "y4m header: no height (H tag)");
    info->w = (int)w; info->h = (int)h;
    info->fps_num = (int)fn; info->fps_den = (int)fd;
    info->cw = info->chroma == EM_Y4M_444 ? info->w : (info->w + 1) / 2;
    info->ch = info->chroma == EM_Y4M_444 ? info->h : (info->h + 1) / 2;
    info->frame_bytes = (size_t)info->w * info->h + 2 * (size_t)info->cw * info->ch;
    return EM_OK;
}

/* Refills the read-ahead buffer; returns bytes now buffered or < 0. */
static long fill(em_y4m_reader *r, em_err *err) {
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    while (!r->eof && r->len < sizeof r->buf) {
        long k = r->read(r->user, r->buf + r->len, sizeof r->buf - r->len, err);
        if (k < 0) return k;
        if (k == 0) { r->eof = 1; break; }
        r->len += (size_t)k;
        break;  /* one read at a time: a pipe gives what it has */
    }
    return (long)(r->len - r->pos);
}

/* Finds the next '\n' within EM_Y4M_MAX_LINE bytes: returns its offset from
 * pos, -1 at EOF before it, -2 if the line is too long, < -2 read error. */
static long find_line(em_y4m_reader *r, em_err *err) {
    size_t scanned = 0;
    for (;;) {
        size_t avail = r->len - r->pos;
        const uint8_t *nl = avail > scanned ? memchr(r->buf + r->pos + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            long off = (long)(nl - (r->buf + r->pos));
            return off > EM_Y4M_MAX_LINE ? -2 : off;
        }
        scanned = avail;
        if (scanned > EM_Y4M_MAX_LINE) return -2;
        if (r->eof) return -1;
        long k = fill(r, err);
        if (k < 0) return -3;
    }
}

int em_y4m_open(em_y4m_reader *r, em_y4m_read_fn fn, void *user, em_err *err) {
    r->read = fn; r->user = user;
    r->pos = r->len = 0; r->eof = 0; r->frames = 0;
    long off = find_line(r, err);
    if (off == -3) return EM_EIO;
    if (off < 0) {
        if (r->len == 0) return em_error(err, EM_EFORMAT, "empty input: no YUV4MPEG2 header");
        if (r->len < 9 || memcmp(r->buf, "YUV4MPEG2", 9)) {
            char ex[128];
            excerpt(r->buf, r->len, ex, sizeof ex);
            return em_error(err, EM_EFORMAT, "not a YUV4MPEG2 stream (starts '%s')", ex);
        }
        return em_error(err, EM_EFORMAT, off == -1 ? "y4m header: truncated (no end of line)"
                                                   : "y4m header: longer than %d bytes", EM_Y4M_MAX_LINE);
    }
    int rc = em_y4m_parse_header((const char *)r->buf + r->pos, (size_t)off, &r->info, err);
    r->pos += (size_t)off + 1;
    return rc;
}

int em_y4m_read_frame(em_y4m_reader *r, uint8_t *planes, em_err *err) {
    const uint64_t f = r->frames;
    /* end of stream exactly at a frame boundary */
    if (r->pos == r->len) {
        long k = fill(r, err);
        if (k < 0) return EM_EIO;
        if (k == 0) return 0;
    }
    long off = find_line(r, err);
    if (off == -3) return EM_EIO;
    const uint8_t *s = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    if (avail >= 5 && memcmp(s, "FRAME", 5)) {
        char ex[128];
        excerpt(s, avail, ex, sizeof ex);
        return em_error(err, EM_EFORMAT, "frame %llu: expected a FRAME header, found '%s' (is the previous frame "
                        "the size the header says, %zu bytes?)", (unsigned long long)f, ex, r->info.frame_bytes);
    }
    if (off == -1) return em_error(err, EM_EFORMAT, "frame %llu: truncated frame header", (unsigned long long)f);
    if (off == -2) return em_error(err, EM_EFORMAT, "frame %llu: frame header longer than %d bytes", (unsigned long long)f, EM_Y4M_MAX_LINE);
    if (off < 5 || (off > 5 && s[5] != ' ')) {
        char ex[128];
        excerpt(s, (size_t)off, ex, sizeof ex);
        return em_error(err, EM_EFORMAT, "frame %llu: bad frame header '%s'", (unsigned long long)f, ex);
    }
    r->pos += (size_t)off + 1;
    /* planes: what is buffered, then straight from the source */
    size_t need = r->info.frame_bytes, got = r->len - r->pos;
    if (got > need) got = need;
    if (got) memcpy(planes, r->buf + r->pos, got);
    r->pos += got;
    while (got < need) {
        long k = r->eof ? 0 : r->read(r->user, planes + got, need - got, err);
        if (k < 0) return EM_EIO;
        if (k == 0) {
            r->eof = 1;
            return em_error(err, EM_EFORMAT, "frame %llu: truncated (%zu of %zu bytes)", (unsigned long long)f, got, need);
        }
        got += (size_t)k;
    }
    r->frames++;
    return 1;
}

long em_y4m_mem_read(void *user, void *buf, size_t n, em_err *err) {
    (void)err;
    em_y4m_mem *m = user;
    size_t k = m->size - m->pos < n ? m->size - m->pos : n;
    if (k) memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (long)k;
}

static inline uint8_t clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

/* BT.601: R = Y' + 1.402 Cr, G = Y' - 0.344 Cb - 0.714 Cr, B = Y' + 1.772 Cb.
 * Limited range: Y' = (Y - 16) * 255/219, C = (C - 128) * 255/224; the
 * coefficients are those x 256, rounded.  Values are clipped before the
 * shift, so only non-negative numbers are shifted. */
static inline void yuv_px(int y, int u, int v, int full, uint8_t *o) {
    int r, g, b;
    if (full) {
        int c = 256 * y, d = u - 128, e = v - 128;
        r = c + 359 * e + 128;
        g = c - 88 * d - 183 * e + 128;
        b = c + 454 * d + 128;
    } else {
        int c = 298 * (y - 16), d = u - 128, e = v - 128;
        r = c + 409 * e + 128;
        g = c - 100 * d - 208 * e + 128;
        b = c + 516 * d + 128;
    }
    o[0] = r < 0 ? 0 : clip8(r >> 8);
    o[1] = g < 0 ? 0 : clip8(g >> 8);
    o[2] = b < 0 ? 0 : clip8(b >> 8);
}

void em_y4m_to_rgb(const em_y4m_info *in, const uint8_t *planes, uint8_t *rgb) {
    const int w = in->w, h = in->h, cw = in->cw, sub = in->chroma == EM_Y4M_420;
    const uint8_t *Y = planes, *U = planes + (size_t)w * h, *V = U + (size_t)cw * in->ch;
    for (int j = 0; j < h; j++) {
        const uint8_t *yr = Y + (size_t)j * w;
        const uint8_t *ur = U + (size_t)(sub ? j >> 1 : j) * cw, *vr = V + (size_t)(sub ? j >> 1 : j) * cw;
        uint8_t *o = rgb + (size_t)j * w * 3;
        for (int i = 0; i < w; i++) {
            int ci = sub ? i >> 1 : i;
            yuv_px(yr[i], ur[ci], vr[ci], in->full_range, o + 3 * i);
        }
    }
}

int em_y4m_header(char *buf, size_t n, int w, int h, int fps_num, int fps_den) {
    int k = snprintf(buf, n, "YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n",
                     w, h, fps_num, fps_den);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

/* Y = 16 + (66 R + 129 G + 25 B) / 256, U = 128 + (-38 R - 74 G + 112 B) / 256,
 * V = 128 + (112 R - 94 G - 18 B) / 256 (BT.601 limited range), rounded;
 * chroma from the sum of a 2x2 block: (sum + 512) / 1024 + 128, the +128
 * folded in as 131072 so the shifted value is never negative. */
void em_rgb_to_y420(const uint8_t *rgb, int w, int h, uint8_t *planes) {
    uint8_t *Y = planes, *U = planes + (size_t)w * h, *V = U + (size_t)(w / 2) * (h / 2);
    for (size_t k = 0; k < (size_t)w * h; k++) {
        const uint8_t *p = rgb + 3 * k;
        Y[k] = (uint8_t)(((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8) + 16);
    }
    for (int j = 0; j < h / 2; j++)
        for (int i = 0; i < w / 2; i++) {
            int R = 0, G = 0, B = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const uint8_t *p = rgb + ((size_t)(2 * j + dy) * w + 2 * i + dx) * 3;
                    R += p[0]; G += p[1]; B += p[2];
                }
            size_t c = (size_t)j * (w / 2) + i;
            U[c] = (uint8_t)((-38 * R - 74 * G + 112 * B + 131072 + 512) >> 10);
            V[c] = (uint8_t)((112 * R - 94 * G - 18 * B + 131072 + 512) >> 10);
        }
}
