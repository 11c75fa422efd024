/* Names of the ops counted in hw_stats (instrumentation, not datapath). */
#include "hw_stats.h"

const char *const hw_op_names[HW_N_OPS] = {
    "embed", "layernorm", "qkv", "qk", "softmax", "av", "proj",
    "fc1", "gelu", "fc2", "gate", "expert1", "expert2", "residual"
};
