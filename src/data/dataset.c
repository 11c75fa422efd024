/* Dataset directory reader (layout in dataset.h and docs/dataset.md). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/npy.h"
#include "util.h"
#include "image/image.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* "<digits>.npy" or "<digits>.png": the stem length, else 0. */
static size_t sample_stem_len(const char *name, int *is_png) {
    size_t n = 0;
    while (name[n] >= '0' && name[n] <= '9') n++;
    if (n == 0 || n >= 32) return 0;
    if (!strcmp(name + n, ".npy")) { *is_png = 0; return n; }
    if (!strcmp(name + n, ".png")) { *is_png = 1; return n; }
    return 0;
}

typedef struct { char stem[32]; int png; } sample_name;

/* numeric order, then by name, then .npy before .png (a total order) */
static int cmp_sample(const void *pa, const void *pb) {
    const char *a = ((const sample_name *)pa)->stem, *b = ((const sample_name *)pb)->stem;
    while (*a == '0' && a[1]) a++;
    while (*b == '0' && b[1]) b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    if (c) return c;
    c = strcmp(((const sample_name *)pa)->stem, ((const sample_name *)pb)->stem); /* "07" vs "7" */
    if (c) return c;
    return ((const sample_name *)pa)->png - ((const sample_name *)pb)->png;
}

int em_dataset_open(em_dataset *d, const char *root, const char *split, int h, int w, em_err *err) {
    memset(d, 0, sizeof *d);
    if (!root || !*root) return em_error(err, EM_EARG, "dataset: empty directory name");
    if (!split || !*split || strchr(split, '/'))
        return em_error(err, EM_EARG, "dataset: bad split name '%s'", split ? split : "");
    if (!is_dir(root)) return em_error(err, EM_EIO, "%s: no such dataset directory", root);
    int n = snprintf(d->dir, sizeof d->dir, "%s/%s", root, split);
    if (n < 0 || (size_t)n >= sizeof d->dir - 64) return em_error(err, EM_EARG, "%s: path too long", root);
    if (!is_dir(d->dir)) return em_error(err, EM_EIO, "%s: no such split directory", d->dir);
    char imdir[EM_DATASET_PATH + 16];
    snprintf(imdir, sizeof imdir, "%s/image", d->dir);
    DIR *dir = opendir(imdir);
    if (!dir) return em_error(err, EM_EIO, "%s: cannot read directory: %s", imdir, strerror(errno));
    sample_name *names = NULL;
    int count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        int png = 0;
        size_t len = sample_stem_len(de->d_name, &png);
        if (!len) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 256;
            sample_name *g = realloc(names, (size_t)cap * sizeof *g);
            if (!g) { free(names); closedir(dir); return em_error(err, EM_ENOMEM, "%s: out of memory", imdir); }
            names = g;
        }
        memcpy(names[count].stem, de->d_name, len);
        names[count].stem[len] = 0;
        names[count].png = png;
        count++;
    }
    closedir(dir);
    if (!count) { free(names); return em_error(err, EM_EIO, "%s: no <i>.npy or <i>.png images", imdir); }
    qsort(names, (size_t)count, sizeof *names, cmp_sample);
    d->stem = malloc((size_t)count * sizeof *d->stem);
    d->image_is_png = malloc((size_t)count);
    if (!d->stem || !d->image_is_png) {
        free(names);
        em_dataset_close(d);
        return em_error(err, EM_ENOMEM, "%s: out of memory", imdir);
    }
    /* <i>.npy and <i>.png side by side: one sample, the .npy (it sorts first) */
    for (int i = 0; i < count; i++) {
        if (d->n && !strcmp(d->stem[d->n - 1], names[i].stem)) continue;
        memcpy(d->stem[d->n], names[i].stem, sizeof names[i].stem);
        d->image_is_png[d->n] = (uint8_t)names[i].png;
        d->n++;
    }
    free(names);
    d->h = h;
    d->w = w;
    return EM_OK;
}

void em_dataset_close(em_dataset *d) {
    free(d->stem);
    free(d->image_is_png);
    d->stem = NULL;
    d->image_is_png = NULL;
    d->n = 0;
}

void em_dataset_path(const em_dataset *d, int k, const char *kind, const char *ext, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/%s.%s", d->dir, kind, d->stem[k], ext);
}

/* ROOT/<split>/<kind>/<stem>.npy if present, else .png; *png says which. */
static int find_file(const em_dataset *d, int k, const char *kind, char *path, size_t cap, int *png, em_err *err) {
    em_dataset_path(d, k, kind, "npy", path, cap);
    if (file_exists(path)) { *png = 0; return EM_OK; }
    em_dataset_path(d, k, kind, "png", path, cap);
    if (file_exists(path)) { *png = 1; return EM_OK; }
    em_dataset_path(d, k, kind, "npy", path, cap);
    return em_error(err, EM_EIO, "%s: missing (no .npy or .png %s file for sample %s)", path, kind, d->stem[k]);
}

int em_dataset_image(const em_dataset *d, int k, float *chw, em_err *err) {
    if (k < 0 || k >= d->n) return em_error(err, EM_EARG, "dataset: sample %d out of range", k);
    char path[EM_DATASET_PATH + 64];
    const size_t HW = (size_t)d->h * d->w;
    if (d->image_is_png[k]) {
        em_dataset_path(d, k, "image", "png", path, sizeof path);
        em_rgb8 img;
        int rc = em_image_decode(path, &img, err);
        if (rc) return rc;
        if (img.w != d->w || img.h != d->h) {
            int w = img.w, h = img.h;
            em_rgb8_free(&img);
            return em_error(err, EM_ESHAPE, "%s: image is %dx%d, expected %dx%d", path, w, h, d->w, d->h);
        }
        for (size_t i = 0; i < HW; i++)
            for (int c = 0; c < 3; c++) chw[c * HW + i] = img.rgb[3 * i + c] / 256.0f;
        em_rgb8_free(&img);
        return EM_OK;
    }
    em_dataset_path(d, k, "image", "npy", path, sizeof path);
    const int want[3] = {d->h, d->w, 3};
    int shape[3];
    float *x = NULL;
    int rc = em_npy_read_f32(path, 3, want, &x, shape, err);
    if (rc) return rc;
    for (size_t i = 0; i < HW; i++)
        for (int c = 0; c < 3; c++) {
            float v = x[3 * i + c];
            if (v != v) {
                free(x);
                return em_error(err, EM_EVALUE, "%s: NaN at pixel (%zu, %zu)", path, i / d->w, i % d->w);
            }
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            /* the 8-bit pixel v a PNG would hold, then the accelerator's v/256 */
            chw[c * HW + i] = floorf(v * 255.0f + 0.5f) / 256.0f;
        }
    free(x);
    return EM_OK;
}

int em_dataset_label(const em_dataset *d, int k, int n_classes, int8_t *label, em_err *err) {
    if (k < 0 || k >= d->n) return em_error(err, EM_EARG, "dataset: sample %d out of range", k);
    if (n_classes < 1 || n_classes > 127) return em_error(err, EM_EARG, "dataset: %d classes (1..127)", n_classes);
    char kind[32], path[EM_DATASET_PATH + 64];
    snprintf(kind, sizeof kind, "label_%d", n_classes);
    int png, rc;
    if ((rc = find_file(d, k, kind, path, sizeof path, &png, err))) return rc;
    const size_t HW = (size_t)d->h * d->w;
    if (png) {
        int w, h;
        uint16_t *g = NULL;
        if ((rc = em_png_read_gray(path, 8, &w, &h, &g, err))) return rc;
        if (w != d->w || h != d->h) {
            free(g);
            return em_error(err, EM_ESHAPE, "%s: label PNG is %dx%d, expected %dx%d", path, w, h, d->w, d->h);
        }
        for (size_t i = 0; i < HW; i++) {
            if (g[i] == 255) { label[i] = -1; continue; }
            if (g[i] >= n_classes) {
                int v = g[i];
                free(g);
                return em_error(err, EM_EVALUE, "%s: class id %d at pixel (%zu, %zu), expected 0..%d or 255 (ignore)",
                                path, v, i / d->w, i % d->w, n_classes - 1);
            }
            label[i] = (int8_t)g[i];
        }
        free(g);
        return EM_OK;
    }
    const int want[2] = {d->h, d->w};
    int shape[2];
    float *x = NULL;
    if ((rc = em_npy_read_f32(path, 2, want, &x, shape, err))) return rc;
    for (size_t i = 0; i < HW; i++) {
        float v = x[i];
        if (!(v >= -1 && v <= n_classes - 1 && v == floorf(v))) {
            free(x);
            return em_error(err, EM_EVALUE, "%s: label %g at pixel (%zu, %zu), expected an integer in -1..%d",
                            path, v, i / d->w, i % d->w, n_classes - 1);
        }
        label[i] = (int8_t)v;
    }
    free(x);
    return EM_OK;
}

int em_dataset_depth(const em_dataset *d, int k, float *depth, em_err *err) {
    if (k < 0 || k >= d->n) return em_error(err, EM_EARG, "dataset: sample %d out of range", k);
    char path[EM_DATASET_PATH + 64];
    int png, rc;
    if ((rc = find_file(d, k, "depth", path, sizeof path, &png, err))) return rc;
    const size_t HW = (size_t)d->h * d->w;
    if (png) {
        int w, h;
        uint16_t *g = NULL;
        if ((rc = em_png_read_gray(path, 16, &w, &h, &g, err))) return rc;
        if (w != d->w || h != d->h) {
            free(g);
            return em_error(err, EM_ESHAPE, "%s: depth PNG is %dx%d, expected %dx%d", path, w, h, d->w, d->h);
        }
        for (size_t i = 0; i < HW; i++) depth[i] = (float)(g[i] / 1000.0);
        free(g);
        return EM_OK;
    }
    const int want[3] = {d->h, d->w, 1};
    int shape[3];
    float *x = NULL;
    if ((rc = em_npy_read_f32(path, 3, want, &x, shape, err))) return rc;
    for (size_t i = 0; i < HW; i++) {
        float v = x[i];
        if (!(v >= 0 && v <= 3.4e38f)) {
            free(x);
            return em_error(err, EM_EVALUE, "%s: depth %g at pixel (%zu, %zu), expected finite and >= 0 (0 = invalid)",
                            path, v, i / d->w, i % d->w);
        }
        depth[i] = v;
    }
    free(x);
    return EM_OK;
}
