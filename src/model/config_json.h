/* em_config <-> JSON, the "edgemoe.config" metadata of a .safetensors file
 * (docs/safetensors.md lists the keys). */
#ifndef EM_CONFIG_JSON_H
#define EM_CONFIG_JSON_H
#include <stddef.h>
#include "edgemoe.h"

/* Writes c as one JSON object (no newlines) into buf.  Every em_config field
 * is written under its struct name; task_name / task_channels as arrays of
 * n_tasks entries; ln_eps / bn_eps in the shortest %g form (at most 9
 * digits) that reads back as the same float; moe_layers (bit L set:
 * block L is MoE) as an unsigned integer of its bits below depth, and only
 * when they are not the odd blocks (the default, as older files have it).  Returns the length written
 * (excluding the NUL), or a negative code if buf (n bytes) is too small, or c
 * has n_tasks out of range or a non-finite eps. */
int em_config_to_json(const em_config *c, char *buf, size_t n);

/* Parses a JSON object of em_config fields into *c, which is input and output:
 * fields absent from the JSON keep their value, but for moe_layers, which
 * absent means the odd blocks (EM_MOE_ODD).  Derived fields absent from
 * the JSON are recomputed from the ones present: grid_h = img_h / patch,
 * grid_w = img_w / patch, n_tok = grid_h * grid_w + 1, head_dim = dim /
 * n_heads (or n_heads = dim / head_dim), n_tasks = length of task_name.
 * Unknown keys, non-integer ints, wrong types, bad task names (empty, too
 * long, characters other than [A-Za-z0-9_]) and array lengths that disagree
 * with n_tasks are errors (EM_EFORMAT).  Does not call em_config_check. */
int em_config_from_json(const char *json, em_config *c, em_err *err);

/* Same, on an already parsed cJSON object (forward-declared to keep cJSON out
 * of the includers). */
struct cJSON;
int em_config_from_cjson(const struct cJSON *obj, em_config *c, em_err *err);
#endif
