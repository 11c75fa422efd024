/* The files a command writes, as one transaction: every output is written to
 * a staging name next to its final path and renamed into place only when
 * the whole command has succeeded (em_out_commit).  On failure (em_cli_die)
 * the staged files and the directories the run created are removed, so a
 * failed run leaves nothing behind and never touches a file that existed
 * before it.  A run never writes over one of its inputs (em_out_protect)
 * and never gives two outputs the same name. */
#ifndef EM_OUTPUTS_H
#define EM_OUTPUTS_H
#include <stddef.h>
#include "edgemoe.h"

/* An input of this run (image, model, data): no output may replace it. */
void em_out_protect(const char *path);
/* Reserves final: checks it, creates a fresh staging file next to it and
 * writes its name into stage.  Write the output to stage (any writer that
 * replaces stage atomically, e.g. em_png_write_*, em_npy_write_f32). */
int em_out_stage(const char *final, char *stage, size_t stage_size, em_err *err);
/* mkdir -p that remembers which directories it created. */
int em_out_mkdir(const char *dir, em_err *err);
/* Renames every staged file into place; returns non-zero (err set) if one fails. */
int em_out_commit(em_err *err);
/* Removes the staged files and the (empty) directories created. */
void em_out_abort(void);
#endif
