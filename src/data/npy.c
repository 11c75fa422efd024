/* NumPy .npy reader and writer for the dataset layout (docs/dataset.md).
 *
 * File: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE
 * for 2.0 and 3.0), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (128, 256, 3), }
 * padded with spaces and a final '\n', then the raw data.  Only little-endian
 * float32 in C order is accepted: the arrays of the layout are all float32,
 * and anything else would silently change values if we converted it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/npy.h"
#include "util.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1 << 20) /* far beyond any real header; bounds the malloc */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void swap32(void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++, b += 4) {
        uint8_t t0 = b[0], t1 = b[1];
        b[0] = b[3]; b[1] = b[2]; b[2] = t1; b[3] = t0;
    }
}

/* ---- header dict parser: exactly the literal numpy writes, in any key order ---- */

typedef struct {
    const char *s, *end;
} npy_cursor;

static void skip_ws(npy_cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++;
}

static int eat(npy_cursor *c, char ch) {
    skip_ws(c);
    if (c->s < c->end && *c->s == ch) { c->s++; return 1; }
    return 0;
}

/* A quoted Python string ('...' or "..."), no escapes (numpy never writes any
 * in these keys or in descr strings). */
static int parse_str(npy_cursor *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"')) return 0;
    char q = *c->s++;
    size_t n = 0;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->s++;
    }
    if (c->s >= c->end) return 0;
    c->s++;
    out[n] = 0;
    return 1;
}

static int parse_word(npy_cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->s) >= n && memcmp(c->s, w, n) == 0) { c->s += n; return 1; }
    return 0;
}

/* (a, b, c) or (a,) or (); Python 2 era files may carry an 'L' suffix. */
static int parse_shape(npy_cursor *c, int *ndim, long long *shape) {
    if (!eat(c, '(')) return 0;
    *ndim = 0;
    for (;;) {
        skip_ws(c);
        if (eat(c, ')')) return 1;
        if (c->s >= c->end || *c->s < '0' || *c->s > '9') return 0;
        long long v = 0;
        while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
            v = v * 10 + (*c->s - '0');
            if (v > INT_MAX) return 0;
            c->s++;
        }
        if (c->s < c->end && *c->s == 'L') c->s++;
        if (*ndim >= EM_NPY_MAX_DIM) return -1; /* more dims than we handle */
        shape[(*ndim)++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return 1;
        return 0;
    }
}

typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    long long shape[EM_NPY_MAX_DIM];
} npy_header;

static int parse_header(const char *path, const char *txt, size_t len, npy_header *h, em_err *err) {
    npy_cursor c = {txt, txt + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!eat(&c, '{')) return em_error(err, EM_EFORMAT, "%s: malformed .npy header (no '{')", path);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return em_error(err, EM_EFORMAT, "%s: malformed .npy header dict", path);
        if (strcmp(key, "descr") == 0) {
            if (!parse_str(&c, h->descr, sizeof h->descr))
                return em_error(err, EM_EFORMAT, "%s: .npy descr is not a simple dtype string", path);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True")) h->fortran = 1;
            else if (parse_word(&c, "False")) h->fortran = 0;
            else return em_error(err, EM_EFORMAT, "%s: malformed .npy fortran_order", path);
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            int r = parse_shape(&c, &h->ndim, h->shape);
            if (r < 0)
                return em_error(err, EM_ESHAPE, "%s: .npy array has more than %d dimensions", path,
                                EM_NPY_MAX_DIM);
            if (!r) return em_error(err, EM_EFORMAT, "%s: malformed .npy shape", path);
            have_shape = 1;
        } else {
            return em_error(err, EM_EFORMAT, "%s: unexpected key '%s' in .npy header", path, key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return em_error(err, EM_EFORMAT, "%s: malformed .npy header dict", path);
    }
    skip_ws(&c);
    if (c.s != c.end)
        return em_error(err, EM_EFORMAT, "%s: malformed .npy header (bytes after the dict; header length wrong?)", path);
    if (!have_descr || !have_fortran || !have_shape)
        return em_error(err, EM_EFORMAT, "%s: .npy header lacks %s", path,
                        !have_descr ? "'descr'" : !have_fortran ? "'fortran_order'" : "'shape'");
    return EM_OK;
}

static void format_shape(char *buf, size_t cap, int ndim, const long long *shape) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
}

int em_npy_read_f32(const char *path, int ndim, const int *want, float **out, int *shape, em_err *err) {
    *out = NULL;
    if (ndim < 0 || ndim > EM_NPY_MAX_DIM) return em_error(err, EM_EARG, "%s: bad rank %d requested", path, ndim);
    struct stat st;
    int fd = em_open_input(path, ".npy array", &st, err);
    if (fd < 0) return EM_EIO;
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); return em_error(err, EM_ENOMEM, "%s: cannot open: %s", path, strerror(errno)); }
    int rc = EM_OK;
    char *hdr = NULL;
    float *data = NULL;
    const long long fsize = (long long)st.st_size;

    uint8_t pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got < 6 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        rc = em_error(err, EM_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (got < 8) {
        rc = em_error(err, EM_EIO, "%s: truncated .npy header", path);
        goto done;
    }
    const int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        rc = em_error(err, EM_EFORMAT, "%s: unsupported .npy format version %d.%d", path, major, minor);
        goto done;
    }
    const int lenbytes = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, (size_t)lenbytes, f) != (size_t)lenbytes) {
        rc = em_error(err, EM_EIO, "%s: truncated .npy header", path);
        goto done;
    }
    uint32_t hlen = lenbytes == 2 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                                  : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
                                        (uint32_t)pre[11] << 24;
    const long long data_off = 8 + lenbytes + (long long)hlen;
    if (data_off > fsize) {
        rc = em_error(err, EM_EIO, "%s: truncated .npy header (header length %u, file %lld bytes)", path,
                      hlen, fsize);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        rc = em_error(err, EM_EFORMAT, "%s: implausible .npy header length %u", path, hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        rc = em_error(err, EM_EIO, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hlen] = 0;
    npy_header h = {0};
    if ((rc = parse_header(path, hdr, hlen, &h, err)) != EM_OK) goto done;

    if (strcmp(h.descr, "<f4") != 0) {
        rc = em_error(err, EM_EFORMAT, "%s: .npy dtype '%s', expected little-endian float32 '<f4'", path,
                      h.descr);
        goto done;
    }
    if (h.fortran) {
        rc = em_error(err, EM_EFORMAT, "%s: .npy array is in Fortran order, expected C order", path);
        goto done;
    }
    int shape_ok = h.ndim == ndim;
    for (int i = 0; shape_ok && i < ndim; i++)
        if (want[i] >= 0 && h.shape[i] != want[i]) shape_ok = 0;
    if (!shape_ok) {
        char gotbuf[96], wantbuf[96];
        long long w[EM_NPY_MAX_DIM];
        for (int i = 0; i < ndim; i++) w[i] = want[i];
        format_shape(gotbuf, sizeof gotbuf, h.ndim, h.shape);
        format_shape(wantbuf, sizeof wantbuf, ndim, w);
        rc = em_error(err, EM_ESHAPE, "%s: .npy shape %s, expected %s%s", path, gotbuf, wantbuf,
                      h.ndim != ndim ? " (wrong rank)" : "");
        goto done;
    }
    long long numel = 1;
    for (int i = 0; i < ndim; i++) {
        numel *= h.shape[i];
        if (numel > (long long)(SIZE_MAX / 8) || numel > fsize) { /* cannot be backed by the file */
            numel = -1;
            break;
        }
    }
    const long long nbytes = numel < 0 ? -1 : numel * 4;
    if (nbytes < 0 || fsize - data_off < nbytes) {
        rc = em_error(err, EM_EIO, "%s: truncated .npy data (%lld bytes after the header)", path,
                      fsize - data_off);
        goto done;
    }
    if (fsize - data_off > nbytes) {
        rc = em_error(err, EM_EFORMAT, "%s: %lld unexpected bytes after the .npy data", path,
                      fsize - data_off - nbytes);
        goto done;
    }
    data = malloc(nbytes > 0 ? (size_t)nbytes : 1);
    if (!data) {
        rc = em_error(err, EM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(data, 1, (size_t)nbytes, f) != (size_t)nbytes) {
        rc = em_error(err, EM_EIO, "%s: read error", path);
        goto done;
    }
    if (!host_is_little_endian()) swap32(data, (size_t)numel);
    for (int i = 0; i < ndim; i++) shape[i] = (int)h.shape[i];
    *out = data;
    data = NULL;
done:
    free(data);
    free(hdr);
    fclose(f);
    return rc;
}

int em_npy_write_f32(const char *path, const float *data, int ndim, const int *shape, em_err *err) {
    if (!path || !*path) return em_error(err, EM_EARG, "npy write: empty path");
    if (ndim < 0 || ndim > EM_NPY_MAX_DIM) return em_error(err, EM_EARG, "%s: npy write: bad rank %d", path, ndim);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return em_error(err, EM_EARG, "%s: npy write: negative extent", path);
        numel *= (size_t)shape[i];
    }
    if (numel && !data) return em_error(err, EM_EARG, "%s: npy write: NULL data", path);

    /* Version 1.0 header, padded so that the data starts on a 64-byte boundary
     * (what numpy writes). */
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) n += snprintf(dict + n, sizeof dict - n, "%s%d", i ? ", " : "", shape[i]);
    n += snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
    size_t total = 10 + (size_t)n + 1; /* + '\n' */
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    uint8_t head[10 + 256 + 64];
    memcpy(head, NPY_MAGIC, 6);
    head[6] = 1;
    head[7] = 0;
    head[8] = (uint8_t)(hlen & 0xff);
    head[9] = (uint8_t)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', pad);
    head[10 + hlen - 1] = '\n';

    char tmp[4200];
    FILE *f = em_tmp_open(path, tmp, sizeof tmp, err);
    if (!f) return EM_EIO;
    int ok = fwrite(head, 1, 10 + hlen, f) == 10 + hlen;
    if (ok && host_is_little_endian()) {
        ok = fwrite(data, 4, numel, f) == numel;
    } else if (ok) {
        for (size_t i = 0; ok && i < numel; i++) {
            float v = data[i];
            swap32(&v, 1);
            ok = fwrite(&v, 4, 1, f) == 1;
        }
    }
    if (!ok) {
        int e = errno;
        em_tmp_abort(f, tmp);
        return em_error(err, EM_EIO, "%s: write error: %s", path, strerror(e));
    }
    return em_tmp_commit(f, tmp, path, err);
}
