/* The files a command writes, as one transaction (docs/safety.md).
 *
 * Every output is written under a staging name and put in place only when
 * the whole command has succeeded (em_out_commit).  On failure (em_cli_die)
 * the staged files and the directories the run created are removed, so a
 * failed run leaves nothing behind and every file that existed before it
 * as it was.  What an output path may be:
 *  - missing or a regular file: staged next to it, renamed over it;
 *  - a symbolic link: followed; its target is treated as below (a dangling
 *    link is refused), and the link itself stays;
 *  - a character device or FIFO (/dev/null, a pipe): written in place at
 *    commit, from a staging file in a private temporary directory; never
 *    replaced;
 *  - "-": standard output, in place likewise, where the command allows it
 *    (not on a terminal);
 *  - anything else (a directory, a block device, a socket): refused.
 * A run never writes over one of its inputs (em_out_protect) and never gives
 * two outputs the same file.
 *
 * SIGINT, SIGTERM and SIGHUP (em_out_signals): outputs completed before the
 * last em_out_checkpoint are put in place, the rest removed, and the process
 * exits with 128 + the signal number. */
#ifndef EM_OUTPUTS_H
#define EM_OUTPUTS_H
#include <stddef.h>
#include "edgemoe.h"

/* Installs the signal handlers (once, at start). */
void em_out_signals(void);
/* An input of this run (image, model, data): no output may replace it. */
void em_out_protect(const char *path);
/* This command prints to standard output itself: "-" is refused as an output. */
void em_out_stdout_busy(void);
/* Reserves final: checks it (see above) and creates its staging file.
 * Returns the name to write it under (any writer that replaces that file,
 * e.g. em_png_write_*), owned here and valid until commit or abort; NULL
 * with err set when final cannot be an output. */
const char *em_out_stage(const char *final, em_err *err);
/* For an output written progressively (a video stream): a device, FIFO or
 * "-" is opened in place and written as the data comes; anything else is
 * staged as above.  Returns a file descriptor to write to (not to close
 * before em_out_commit, which closes it), or -1 with err set. */
int em_out_stream(const char *final, em_err *err);
/* mkdir -p that remembers which directories it created. */
int em_out_mkdir(const char *dir, em_err *err);
/* Everything staged so far is complete: kept if a signal ends the run. */
void em_out_checkpoint(void);
/* Puts every staged file in place; non-zero with err set if one fails. */
int em_out_commit(em_err *err);
/* Removes the staged files and the (empty) directories created. */
void em_out_abort(void);
#endif
