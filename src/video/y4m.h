/* YUV4MPEG2 ("y4m"): the uncompressed stream ffmpeg pipes with
 * `-f yuv4mpegpipe`.  A stream is one header line
 *   YUV4MPEG2 W<w> H<h> F<num>:<den> I<p> A<n>:<d> C<space> X<comment> ...\n
 * then frames, each "FRAME" [params] "\n" and the planes Y, U, V, 8-bit.
 *
 * Accepted: 4:2:0 (C420jpeg, C420paldv, C420mpeg2, C420, or no C tag) and
 * 4:4:4 (C444), progressive (Ip or no I tag).  Anything else (interlaced,
 * mono, 4:2:2, 4:1:1, alpha, more than 8 bits) is refused with one line.
 * Colour: BT.601, limited range unless the header says XCOLORRANGE=FULL.
 * The library reads through a callback and never prints. */
#ifndef EM_VIDEO_Y4M_H
#define EM_VIDEO_Y4M_H
#include <stddef.h>
#include <stdint.h>
#include "edgemoe.h"

#define EM_Y4M_MAX_SIDE 8192     /* largest width / height accepted */
#define EM_Y4M_MAX_LINE 4096     /* longest stream or frame header line */

enum { EM_Y4M_420 = 0, EM_Y4M_444 = 1 };

typedef struct {
    int w, h;                    /* luma size */
    int fps_num, fps_den;        /* F tag; 25:1 when absent */
    int aspect_num, aspect_den;  /* A tag; 0:0 unknown */
    int chroma;                  /* EM_Y4M_420 or EM_Y4M_444 */
    int full_range;              /* XCOLORRANGE=FULL */
    int cw, ch;                  /* chroma plane size: (w+1)/2 x (h+1)/2 for 4:2:0 */
    size_t frame_bytes;          /* w*h + 2*cw*ch */
} em_y4m_info;

/* Reads up to n bytes into buf: returns the count (0 = end of stream) or
 * a negative value on error (the callback may describe it in err). */
typedef long (*em_y4m_read_fn)(void *user, void *buf, size_t n, em_err *err);

typedef struct {
    em_y4m_read_fn read;
    void *user;
    uint8_t buf[65536];          /* read-ahead for the header lines */
    size_t pos, len;
    int eof;
    em_y4m_info info;
    uint64_t frames;             /* frames returned so far */
} em_y4m_reader;

/* Parses one stream header line (without its '\n'). */
int em_y4m_parse_header(const char *line, size_t n, em_y4m_info *info, em_err *err);
/* Reads and parses the stream header. */
int em_y4m_open(em_y4m_reader *r, em_y4m_read_fn fn, void *user, em_err *err);
/* Reads the next frame's planes into planes (info.frame_bytes).  Returns 1
 * for a frame, 0 at the end of the stream (EOF exactly between frames), or
 * a negative error naming the frame (counted from 0): not a FRAME header,
 * header too long, truncated planes. */
int em_y4m_read_frame(em_y4m_reader *r, uint8_t *planes, em_err *err);

/* A memory stream, for tests and the fuzzer: user is an em_y4m_mem. */
typedef struct { const uint8_t *data; size_t size, pos; } em_y4m_mem;
long em_y4m_mem_read(void *user, void *buf, size_t n, em_err *err);

/* Planes -> 8-bit RGB [h][w][3]: BT.601, chroma upsampled by replication,
 * integer arithmetic (the same bytes on every machine). */
void em_y4m_to_rgb(const em_y4m_info *info, const uint8_t *planes, uint8_t *rgb);

/* Output: the stream header for 4:2:0 (C420jpeg, limited range), into buf;
 * returns its length (< n) or -1 if it does not fit. */
int em_y4m_header(char *buf, size_t n, int w, int h, int fps_num, int fps_den);
/* RGB [h][w][3] -> 4:2:0 planes (Y w*h, then U and V (w/2)*(h/2)), BT.601
 * limited range; chroma is the mean of each 2x2 block.  w and h even. */
void em_rgb_to_y420(const uint8_t *rgb, int w, int h, uint8_t *planes);
#endif
