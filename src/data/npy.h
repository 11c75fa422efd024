/* NumPy .npy files (format versions 1.0-3.0): the arrays of the dataset
 * layout (docs/dataset.md).  Little-endian float32/uint8/... C-order only. */
#ifndef EM_NPY_H
#define EM_NPY_H
#include <stdint.h>
#include "edgemoe.h"

#define EM_NPY_MAX_DIM 4

/* Writes a C-order little-endian float32 array ('<f4') of the given shape,
 * under a temporary name renamed into place (no partial file on failure). */
int em_npy_write_f32(const char *path, const float *data, int ndim, const int *shape, em_err *err);

/* Reads a float32 array whose shape must equal want[0..ndim) (-1 in want
 * accepts any extent there).  *out is malloc'd (caller frees); shape gets the
 * file's extents.  Anything else (other dtype, Fortran order, other rank or
 * shape, truncated, malformed header) is refused with one line naming the file. */
int em_npy_read_f32(const char *path, int ndim, const int *want, float **out, int *shape, em_err *err);
#endif
