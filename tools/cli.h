/* Shared by the edgemoe subcommands (tools/edgemoe.c, tools/cmd_*.c). */
#ifndef EM_CLI_H
#define EM_CLI_H
#include <stdio.h>
#include "edgemoe.h"

/* Prints "edgemoe: <message>" on stderr, removes the files this run wrote,
 * and returns 1 (the exit status). */
int em_cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tools/cli.c: each reports its error through em_cli_die. */
/* A model file or directory, or "synthetic" / NULL for the untrained
 * synthetic model; NULL on failure (em_model_close frees it). */
em_model *em_cli_load_model(const char *path);
/* "name" or "all" (NULL: all) -> task bit mask; unknown: one error line
 * listing the model's tasks, returns 1. */
int em_cli_task_mask(const em_config *c, const char *name, unsigned *mask);
/* s as a whole decimal integer in lo..hi, else "OPT: 'S' is not an integer
 * in LO..HI" and 1. */
int em_cli_int(const char *opt, const char *s, long lo, long hi, long *out);
/* a --threads value: 0 (all cores) .. 1024 */
int em_cli_threads(const char *opt, const char *s, int *out);
/* "\r[####    ] done/total  N img/s" on stderr (call only on a terminal);
 * a newline when done == total. */
void em_cli_progress(int done, int total, double elapsed_ms);
/* Writes text with control characters and bytes that are not UTF-8 escaped
 * (\n, \t, \x1b, ...): a file name can neither break a one-line message
 * nor send a terminal escape. */
void em_cli_put_escaped(FILE *f, const char *text);
/* Prints a cJSON object as one line on stdout, flushes, and deletes it.
 * Strings that are not UTF-8 (file names) are repaired with U+FFFD. */
struct cJSON;
void em_cli_print_json(struct cJSON *j);
/* FILE with ".SUFFIX" inserted before the extension of its last component
 * ("out/a.svg", "semseg" -> "out/a.semseg.svg"), on the heap; NULL: out of memory. */
char *em_cli_suffixed(const char *file, const char *suffix);
int em_cmd_sim(int argc, char **argv);
int em_cmd_scenes(int argc, char **argv); /* tools/cmd_scenes.c */
int em_cmd_eval(int argc, char **argv);
int em_cmd_compare(int argc, char **argv);         /* tools/cmd_compare.c */
int em_cmd_video(int argc, char **argv);           /* tools/cmd_video.c */
int em_cmd_scenes_sequence(int argc, char **argv); /* tools/cmd_video.c: scenes --sequence */
#endif
