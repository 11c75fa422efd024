/* libFuzzer target: the YUV4MPEG2 reader (stream header, frame headers,
 * planes) through a source that returns at most a few bytes per read, as a
 * pipe may, and the conversion of every frame read to RGB. */
#include <stdlib.h>
#include <string.h>
#include "video/y4m.h"

typedef struct { const uint8_t *d; size_t n, pos; } src;
static long chunky_read(void *user, void *buf, size_t n, em_err *err) {
    (void)err;
    src *s = user;
    size_t k = s->n - s->pos, lim = 1 + (s->pos * 7919u) % 97;  /* 1..97 bytes per read */
    if (k > n) k = n;
    if (k > lim) k = lim;
    memcpy(buf, s->d + s->pos, k);
    s->pos += k;
    return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    src s = {data, size, 0};
    em_y4m_reader *r = malloc(sizeof *r);
    em_err err;
    if (!r) return 0;
    if (em_y4m_open(r, chunky_read, &s, &err) == EM_OK && r->info.frame_bytes <= (1u << 22)) {
        uint8_t *planes = malloc(r->info.frame_bytes);
        uint8_t *rgb = malloc((size_t)r->info.w * r->info.h * 3);
        for (int f = 0; planes && rgb && f < 64 && em_y4m_read_frame(r, planes, &err) == 1; f++)
            em_y4m_to_rgb(&r->info, planes, rgb);
        free(planes);
        free(rgb);
    }
    free(r);
    return 0;
}
