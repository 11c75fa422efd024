/* Dataset reader (src/data/dataset.c): the quantisation rule x -> round(clamp(x)*255)/256
 * for every 8-bit value, HWC -> CHW, numeric sample order, labels and depth
 * from .npy and from PNG, the .npy preferred when both exist. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/npy.h"
#include "image/image.h"
#include "test_util.h"

enum { H = 4, W = 64 }; /* 256 pixels: one per 8-bit value */

static char root[] = "/tmp/em_test_dataset_XXXXXX";

static void path_of(char *out, size_t cap, const char *sub, const char *name) {
    snprintf(out, cap, "%s/val/%s/%s", root, sub, name);
}

int main(void) {
    if (!mkdtemp(root)) { perror("mkdtemp"); return 2; }
    char p[512];
    const char *subs[] = {"", "/image", "/label_7", "/depth"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/val%s", root, subs[i]);
        mkdir(p, 0755);
    }
    em_err err = {{0}};
    /* image 10: x = v/255 (as edgemoe scenes writes), channel c holds value (v + 85c) % 256 */
    float *x = malloc(sizeof(float) * H * W * 3);
    for (int i = 0; i < H * W; i++)
        for (int c = 0; c < 3; c++) x[3 * i + c] = (float)((i + 85 * c) % 256) / 255.0f;
    const int ishape[3] = {H, W, 3};
    path_of(p, sizeof p, "image", "10.npy");
    CHECK(em_npy_write_f32(p, x, 3, ishape, &err) == EM_OK, "write image 10");
    /* image 2: Cityscapes-style float64 division cast to float32, and out-of-range values */
    for (int i = 0; i < H * W; i++)
        for (int c = 0; c < 3; c++) x[3 * i + c] = (float)(((i + 85 * c) % 256) / 255.0);
    x[0] = -0.25f; x[1] = 1.5f;
    path_of(p, sizeof p, "image", "2.npy");
    em_npy_write_f32(p, x, 3, ishape, &err);
    /* image 9 as PNG only, with PNG labels and depth; a .png beside 10.npy is ignored */
    uint8_t rgb[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) rgb[i] = (uint8_t)(i * 7);
    path_of(p, sizeof p, "image", "9.png");
    em_png_write_rgb8(p, rgb, W, H, &err);
    path_of(p, sizeof p, "image", "10.png");
    em_png_write_rgb8(p, rgb, W, H, &err);
    path_of(p, sizeof p, "image", "notes.txt");
    FILE *f = fopen(p, "w"); if (f) fclose(f);

    em_dataset d;
    int rc = em_dataset_open(&d, root, "val", H, W, &err);
    CHECK(rc == EM_OK && d.n == 3, "3 samples (10.npy and 10.png are one; notes.txt skipped): %s", rc ? err.msg : "ok");
    if (rc) return 1;
    CHECK(!strcmp(d.stem[0], "2") && !strcmp(d.stem[1], "9") && !strcmp(d.stem[2], "10"), "numeric order 2, 9, 10");
    CHECK(!d.image_is_png[0] && d.image_is_png[1] && !d.image_is_png[2], "10 read from .npy, 9 from .png");

    float chw[3 * H * W];
    rc = em_dataset_image(&d, 2, chw, &err);
    int exact = rc == EM_OK;
    for (int i = 0; i < H * W && exact; i++)
        for (int c = 0; c < 3; c++) exact &= chw[c * H * W + i] == (float)((i + 85 * c) % 256) / 256.0f;
    CHECK(exact, "x = v/255 float32 gives v/256 for all 256 values, CHW from HWC");
    rc = em_dataset_image(&d, 0, chw, &err);
    exact = rc == EM_OK && chw[0] == 0.0f && chw[H * W] == 255.0f / 256.0f;
    for (int i = 1; i < H * W && exact; i++)
        for (int c = 0; c < 3; c++) exact &= chw[c * H * W + i] == (float)((i + 85 * c) % 256) / 256.0f;
    CHECK(exact, "x = (double)v/255 -> float32 gives v/256; -0.25 -> 0, 1.5 -> 255/256");
    rc = em_dataset_image(&d, 1, chw, &err);
    exact = rc == EM_OK;
    for (int i = 0; i < H * W && exact; i++)
        for (int c = 0; c < 3; c++) exact &= chw[c * H * W + i] == rgb[3 * i + c] / 256.0f;
    CHECK(exact, "PNG image: pixel v -> v/256, CHW");

    /* labels: npy for 2, PNG for 9 (255 = ignore), missing for 10 */
    float lab[H * W];
    for (int i = 0; i < H * W; i++) lab[i] = (float)(i % 8) - 1; /* -1..6 */
    const int lshape[2] = {H, W};
    path_of(p, sizeof p, "label_7", "2.npy");
    em_npy_write_f32(p, lab, 2, lshape, &err);
    uint8_t l8[H * W];
    for (int i = 0; i < H * W; i++) l8[i] = i % 8 == 7 ? 255 : (uint8_t)(i % 8);
    path_of(p, sizeof p, "label_7", "9.png");
    em_png_write_gray8(p, l8, W, H, &err);
    int8_t got[H * W];
    rc = em_dataset_label(&d, 0, 7, got, &err);
    exact = rc == EM_OK;
    for (int i = 0; i < H * W && exact; i++) exact &= got[i] == (int8_t)(i % 8 - 1);
    CHECK(exact, "npy labels -1..6 read as int8");
    rc = em_dataset_label(&d, 1, 7, got, &err);
    exact = rc == EM_OK;
    for (int i = 0; i < H * W && exact; i++) exact &= got[i] == (i % 8 == 7 ? -1 : i % 8);
    CHECK(exact, "PNG labels: ids as stored, 255 -> -1");
    rc = em_dataset_label(&d, 2, 7, got, &err);
    CHECK(rc != EM_OK && strstr(err.msg, "label_7/10.npy") && strstr(err.msg, "missing"), "missing label names the file: %s", err.msg);
    rc = em_dataset_label(&d, 0, 5, got, &err);
    CHECK(rc != EM_OK && strstr(err.msg, "label_5/2.npy"), "label_<C> follows the class count: %s", err.msg);

    /* depth: PNG in mm for 9, npy for 2 */
    uint16_t mm[H * W];
    for (int i = 0; i < H * W; i++) mm[i] = (uint16_t)(i * 251);
    path_of(p, sizeof p, "depth", "9.png");
    em_png_write_gray16(p, mm, W, H, &err);
    float dep[H * W];
    rc = em_dataset_depth(&d, 1, dep, &err);
    exact = rc == EM_OK;
    for (int i = 0; i < H * W && exact; i++) exact &= dep[i] == (float)(mm[i] / 1000.0);
    CHECK(exact, "16-bit PNG depth: millimetres / 1000, 0 stays 0");
    for (int i = 0; i < H * W; i++) dep[i] = i * 0.37f;
    const int dshape[3] = {H, W, 1};
    path_of(p, sizeof p, "depth", "2.npy");
    em_npy_write_f32(p, dep, 3, dshape, &err);
    float dep2[H * W];
    rc = em_dataset_depth(&d, 0, dep2, &err);
    CHECK(rc == EM_OK && !memcmp(dep, dep2, sizeof dep), "npy depth H x W x 1 read as is");
    em_dataset_close(&d);
    free(x);

    CHECK(em_dataset_open(&d, root, "train", H, W, &err) != EM_OK && strstr(err.msg, "/train"), "missing split: %s", err.msg);
    CHECK(em_dataset_open(&d, root, "../val", H, W, &err) != EM_OK, "split with '/' refused: %s", err.msg);
    snprintf(p, sizeof p, "rm -rf '%s'", root);
    if (system(p) != 0) fprintf(stderr, "cannot remove %s\n", root);
    TEST_MAIN_END();
}
