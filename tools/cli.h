/* Shared by the edgemoe subcommands (tools/edgemoe.c, tools/cmd_sim.c). */
#ifndef EM_CLI_H
#define EM_CLI_H

/* Prints "edgemoe: <message>" on stderr, removes the files this run wrote,
 * and returns 1 (the exit status). */
int em_cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int em_cmd_sim(int argc, char **argv);
int em_cmd_scenes(int argc, char **argv); /* tools/cmd_scenes.c */
int em_cmd_eval(int argc, char **argv);
int em_cmd_video(int argc, char **argv);           /* tools/cmd_video.c */
int em_cmd_scenes_sequence(int argc, char **argv); /* tools/cmd_video.c: scenes --sequence */
#endif
