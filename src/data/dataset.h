/* The dataset layout of docs/dataset.md (the preprocessed Cityscapes layout of
 * multi-task learning work, and what `edgemoe scenes` writes):
 *   ROOT/<split>/image/<i>.npy    H x W x 3 float32 in [0,1]   (or <i>.png, 8-bit RGB)
 *   ROOT/<split>/label_<C>/<i>.npy H x W float32 class id, -1 = ignore
 *                                 (or <i>.png, 8-bit gray ids, 255 = ignore)
 *   ROOT/<split>/depth/<i>.npy    H x W x 1 float32 metres, 0 = invalid
 *                                 (or <i>.png, 16-bit gray millimetres, 0 = invalid)
 * Samples are the <i> found in image/, in numeric order.  Every loader
 * validates the file (type, shape, value range) and names it in its error. */
#ifndef EM_DATASET_H
#define EM_DATASET_H
#include <stdint.h>
#include "edgemoe.h"

#define EM_DATASET_PATH 4096

typedef struct {
    char dir[EM_DATASET_PATH];  /* ROOT/<split> */
    int h, w;                   /* every array is h x w (the model's input size) */
    int n;                      /* samples */
    char (*stem)[32];           /* [n] file stem of each sample ("17"), numeric order */
    uint8_t *image_is_png;      /* [n] image/<stem>.png (no .npy beside it) */
} em_dataset;

/* Opens ROOT/<split> and lists the samples of image/ (at least one). */
int em_dataset_open(em_dataset *d, const char *root, const char *split, int h, int w, em_err *err);
void em_dataset_close(em_dataset *d);

/* Image of sample k as the model takes it: chw [3][h][w], each value
 * v/256 with v = round(clamp(x, 0, 1) * 255) (the 8-bit pixel a PNG holds). */
int em_dataset_image(const em_dataset *d, int k, float *chw, em_err *err);
/* Labels of sample k from label_<n_classes>/: [h*w] ids 0..n_classes-1 or -1. */
int em_dataset_label(const em_dataset *d, int k, int n_classes, int8_t *label, em_err *err);
/* Depth of sample k from depth/: [h*w] metres, 0 = invalid. */
int em_dataset_depth(const em_dataset *d, int k, float *depth, em_err *err);
/* The path of a sample's file, for messages: kind "image", "label_7", "depth". */
void em_dataset_path(const em_dataset *d, int k, const char *kind, const char *ext, char *out, size_t cap);
#endif
