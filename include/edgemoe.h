/* edgemoe: M3ViT multi-task Mixture-of-Experts inference, as the Edge-MoE
 * accelerator runs it.  Public API.
 *
 * Data flows one way: load a model (em_model_load) -> run an engine on an
 * image for one or more tasks (em_session_run) -> read features, routing and
 * head logits from the returned em_task_output.
 *
 * Contract
 * - Errors: every call that can fail returns EM_OK (0) or one of the negative
 *   EM_E* codes below (em_strerror names them) and writes one human-readable
 *   line into the caller's em_err buffer (which may be NULL).  The library
 *   never prints, never exits, and frees what it allocated on failure.
 * - Ownership: an em_model owns its weights (one arena); em_model_free /
 *   em_model_close release them.  A session borrows its model: the model must
 *   outlive every session made from it.  Outputs (em_session_output) belong
 *   to the session and stay valid until its next run or its free.
 * - Threads: a model is read-only after loading, so any number of sessions on
 *   any threads may share one.  A session is used by one thread at a time.
 *   Each fast/fixed session has its own worker pool of opts.threads threads
 *   (0: one per core); several sessions running at once should split the
 *   cores between them (e.g. threads = cores / sessions) to avoid
 *   oversubscription.  Scenes (em_scene_render) are thread-safe.
 * - Environment: EM_FAST_ISA (c, gvec, avx2, avx512) caps the SIMD kernel set
 *   the fast and fixed engines pick at run time (tests and benchmarks use it
 *   to run every set the CPU allows); unset, the best set is used. */
#ifndef EDGEMOE_H
#define EDGEMOE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_VERSION_MAJOR 0
#define EM_VERSION_MINOR 3
#define EM_VERSION_PATCH 0
#define EM_VERSION_STRING "0.3.0"
/* The library's version as "major.minor.patch" (the header's may differ
 * when a program is linked against another build). */
const char *em_version(void);

#define EM_MAX_TASKS 8
#define EM_MAX_LAYERS 32
#define EM_MAX_EXPERTS 64
#define EM_MAX_TOPK 8
#define EM_NAME_LEN 32
#define EM_ERR_LEN 8192  /* room for a message naming two paths of PATH_MAX */

typedef struct { char msg[EM_ERR_LEN]; } em_err;

enum {
    EM_OK = 0,
    EM_EIO = -1,      /* file missing, unreadable, truncated */
    EM_EFORMAT = -2,  /* file readable but not what it claims to be */
    EM_ESHAPE = -3,   /* tensor or image has the wrong shape */
    EM_EVALUE = -4,   /* NaN / Inf or out-of-range value */
    EM_EARG = -5,     /* bad argument (unknown task, engine, ...) */
    EM_ENOMEM = -6,
};
/* A short name for a code ("I/O error", "bad argument", ...). */
const char *em_strerror(int code);

/* Every dimension of the model.  Defaults (em_config_default) are M3ViT-tiny
 * as the Edge-MoE accelerator runs it (docs/spec.md#1-the-model). */
typedef struct {
    int img_c, img_h, img_w;   /* 3 x 128 x 256 */
    int patch;                 /* 16 */
    int grid_h, grid_w;        /* 8 x 16 patches */
    int n_tok;                 /* grid_h * grid_w + 1 = 129 (token 0: class) */
    int dim;                   /* D = 192 */
    int depth;                 /* 12 blocks, MoE where moe_layers says */
    int n_heads, head_dim;     /* 3 x 64 */
    int mlp_hidden;            /* dense MLP hidden, 768 */
    int n_experts;             /* E = 16 */
    int expert_hidden;         /* 384 */
    int top_k;                 /* 2 */
    int n_tasks;               /* 2 */
    char task_name[EM_MAX_TASKS][EM_NAME_LEN]; /* "semseg", "depth" */
    int task_channels[EM_MAX_TASKS];           /* 7, 1 */
    int head_ch;               /* 256: channels of the head's 3x3 convs */
    float ln_eps;              /* 1e-6 (backbone and head LN) */
    float bn_eps;              /* 1e-5 */
    uint32_t moe_layers;       /* bit L set: block L is MoE; default EM_MOE_ODD
                                * (the odd blocks); bits >= depth are ignored */
} em_config;

void em_config_default(em_config *c);
/* Limits em_config_check enforces on every dimension, and on the number of
 * weights (4 GiB of float32); a file must also hold every weight its config
 * claims before any memory is taken for them. */
#define EM_LIMIT_IMAGE_SIDE 4096
#define EM_LIMIT_CHANNELS 64
#define EM_LIMIT_DIM 8192
#define EM_LIMIT_HIDDEN 65536
#define EM_LIMIT_PARAMS (1ull << 30)
/* em_session_new refuses a model whose working memory (an upper estimate:
 * outputs, head maps at image resolution, token buffers) exceeds this. */
#define EM_LIMIT_SESSION_BYTES (2ull << 30)
/* Number of weights of a model with this (checked) config. */
uint64_t em_config_n_params(const em_config *c);
/* Checks that the dimensions are consistent (n_tok = grid + 1, dim = heads x
 * head_dim, top_k <= n_experts, ...). */
int em_config_check(const em_config *c, em_err *err);
/* MoE blocks are the bits of moe_layers below depth.  Dense and MoE blocks
 * are numbered by their rank among the blocks of their kind: dense block L is
 * the em_dense_index(c, L)-th dense one, MoE block L the em_moe_index(c, L)-th
 * MoE one (the index of its stacked em_weights and routing outputs). */
#define EM_MOE_ODD 0xAAAAAAAAu
static inline int em_is_moe(const em_config *c, int layer) {
    return layer >= 0 && layer < c->depth && layer < 32 && (c->moe_layers >> layer & 1u);
}
static inline int em_moe_index(const em_config *c, int layer) {
    int n = 0;
    for (int l = 0; l < layer && l < c->depth; l++) n += em_is_moe(c, l);
    return n;
}
static inline int em_dense_index(const em_config *c, int layer) { return layer - em_moe_index(c, layer); }
int em_n_moe_layers(const em_config *c);
int em_n_dense_layers(const em_config *c);
int em_task_index(const em_config *c, const char *name); /* EM_EARG if unknown */

/* One named tensor of the model, pointing into the model's arena. */
typedef struct {
    char name[48];  /* Edge-MoE file stem, e.g. "l3_htoh4_weight" */
    int ndim;
    int shape[4];
    size_t numel;
    float *data;
} em_tensor;

/* Per-task decoder head ("PUP", 4 conv stages). */
typedef struct {
    float *norm_w, *norm_b;   /* [D] */
    float *conv_w[4];         /* [head_ch][cin][3][3], cin = D for conv0 else head_ch */
    float *conv_b[4];         /* [head_ch] */
    float *bn_w[4], *bn_b[4], *bn_mean[4], *bn_var[4]; /* [head_ch] */
    float *cls_w;             /* [C][head_ch] (conv4, 1x1) */
    float *cls_b;             /* [C] */
} em_head_weights;

/* All weights.  Per-layer tensors are stacked; dense block L indexes fc* by
 * em_dense_index(c, L), MoE block L indexes gate/experts by em_moe_index. */
typedef struct {
    float *patch_w;    /* [D][C][P][P] */
    float *patch_b;    /* [D] */
    float *pos_embed;  /* [N][D], row 0 holds the folded class token */
    float *ln1_w, *ln1_b; /* [depth][D] */
    float *ln2_w, *ln2_b; /* [depth][D] */
    float *qkv_w;      /* [depth][3D][D] */
    float *qkv_b;      /* [depth][3D] */
    float *proj_w;     /* [depth][D][D] */
    float *proj_b;     /* [depth][D] */
    float *fc1_w;      /* [n_dense][H][D] */
    float *fc1_b;      /* [n_dense][H] */
    float *fc2_w;      /* [n_dense][D][H] */
    float *fc2_b;      /* [n_dense][D] */
    float *gate_w;     /* [n_moe][T][E][D] */
    float *exp1_w;     /* [n_moe][E][He][D]  (htoh4) */
    float *exp1_b;     /* [n_moe][E][He] */
    float *exp2_w;     /* [n_moe][E][D][He]  (h4toh) */
    float *exp2_b;     /* [n_moe][E][D] */
    em_head_weights head[EM_MAX_TASKS];
} em_weights;

typedef struct {
    em_config cfg;
    em_weights w;
    em_tensor *tensors;   /* every tensor, in a fixed order */
    int n_tensors;
    float *arena;         /* one allocation holding all weights */
    size_t arena_floats;
    char source[4096];    /* path it was loaded from, or "synthetic" */
} em_model;

/* Allocates the arena for cfg and builds the tensor table (data zeroed). */
int em_model_alloc(em_model *m, const em_config *cfg, em_err *err);
/* Only the tensor table of cfg (names and shapes; data NULL, no arena): what
 * a loader checks a file against before it takes memory for the weights.
 * em_model_free releases it. */
int em_model_plan(em_model *m, const em_config *cfg, em_err *err);
void em_model_free(em_model *m);
em_tensor *em_model_find(em_model *m, const char *name);

/* Loads a directory in the Edge-MoE layout or a .safetensors file.  Every
 * tensor is checked: present, dtype, shape, finite. */
int em_model_load(em_model *m, const char *path, em_err *err);
int em_model_load_dir(em_model *m, const char *dir, em_err *err);
int em_model_load_safetensors(em_model *m, const char *path, em_err *err);
int em_model_save_safetensors(const em_model *m, const char *path, em_err *err);
/* Deterministic untrained model (for demos and tests). */
int em_model_synthetic(em_model *m, const em_config *cfg, uint64_t seed, em_err *err);
/* Checks every tensor is finite. */
int em_model_check_finite(const em_model *m, em_err *err);

/* The seed of the untrained synthetic model ("synthetic"). */
#define EM_SYNTHETIC_SEED 20231029u
/* The shipped model, trained on generated street scenes (docs/model.md):
 * $EDGEMOE_MODEL if set, else models/EM_DEFAULT_MODEL_FILE of the source
 * tree the library was built from. */
#define EM_DEFAULT_MODEL_FILE "edgemoe-street.safetensors"
const char *em_default_model_path(void);
/* A heap-allocated model, for bindings and tools: path is a model file or
 * directory, NULL for the shipped default model, or "synthetic" for the
 * untrained synthetic model.  NULL on failure (err says why).
 * em_model_close frees it. */
em_model *em_model_open(const char *path, em_err *err);
void em_model_close(em_model *m);

/* ---- engines ---- */
/* fixed: the fast fixed-point twin, bit-identical to hw, the accelerator's
 * golden model (src/hw) */
typedef enum { EM_ENGINE_REF = 0, EM_ENGINE_FAST = 1, EM_ENGINE_FIXED = 2, EM_ENGINE_HW = 3 } em_engine_kind;
const char *em_engine_name(em_engine_kind k);
int em_engine_parse(const char *name, em_engine_kind *k); /* EM_OK, or EM_EARG if unknown */

/* Stage tracing: when set, the ref engine and the float head call it, on the
 * thread that runs the session, with every intermediate tensor a test may
 * want to compare ("embed", "block3", "head.conv0", ...).  data is [shape]
 * float32, owned by the engine and valid only during the call; the callback
 * must not call back into the session.  Other engines may call it for fewer
 * stages or none. */
typedef void (*em_trace_fn)(void *user, int task, const char *stage,
                            const float *data, int ndim, const int *shape);

typedef struct {
    float *features;        /* [N][D] block output (last block) */
    float *logits;          /* [C][img_h][img_w] head output, before argmax */
    int32_t *routing;       /* [n_moe][N][top_k], slot 0 = largest probability */
    float *gate_prob;       /* [n_moe][N][top_k] the g_k used */
    int32_t *expert_tokens; /* [n_moe][E] tokens routed to each expert */
    double backbone_ms, head_ms, total_ms;
    double shared_ms;       /* task-independent prefix, counted once per run */
} em_task_output;

typedef struct em_session em_session;

/* ---- number formats of the fixed-point datapath (docs/formats.md) ----
 * <W,I>: a W-bit two's-complement integer r standing for r * 2^-(W-I);
 * stores floor to F = W - I fractional bits, then wrap to W bits
 * (docs/spec.md#2-number-formats).  The fixed engine (the fast twin) takes a
 * set at session creation; the hw engine (src/hw) is compiled for one set
 * (the original unless built with -DHW_FM_W=... etc.). */
typedef struct { int w, i; } em_fxfmt;
typedef struct {
    char name[EM_NAME_LEN];
    em_fxfmt fm;    /* features and every intermediate: <32,10> */
    em_fxfmt wt;    /* linear weights (qkv, proj, fc, experts, gates): <16,2> */
    em_fxfmt bqk;   /* qkv and proj biases: <16,7> */
    em_fxfmt b5;    /* other biases, LayerNorm weight and bias: <16,5> */
    em_fxfmt pw;    /* patch-embedding weights: <16,0> */
    em_fxfmt pix;   /* pixels, unsigned: <u8,0> */
} em_formats;
/* The accelerator's own set, "original". */
void em_formats_original(em_formats *f);
/* Named presets: names[i] for i < count (static strings). */
int em_formats_preset_count(void);
const char *em_formats_preset_name(int i);
/* A preset by name: EM_EARG (naming the presets) if unknown. */
int em_formats_preset(const char *name, em_formats *f, em_err *err);
/* A JSON file {"name": "...", "fm": {"w": 24, "i": 8}, ...}: keys not given
 * keep the original's value.  Errors name the file and the key. */
int em_formats_load(const char *path, em_formats *f, em_err *err);
/* A preset name, or else a JSON file. */
int em_formats_get(const char *name_or_path, em_formats *f, em_err *err);
/* EM_EARG naming the quantity if the engine cannot represent the set
 * (widths, fractional bits, shifts its kernels need). */
int em_formats_check(const em_formats *f, em_err *err);
/* 1 if a and b have the same widths and integer bits (names aside). */
int em_formats_equal(const em_formats *a, const em_formats *b);
/* "fm<32,10> wt<16,2> bqk<16,7> b5<16,5> pw<16,0> pix<u8,0>" into buf. */
void em_formats_describe(const em_formats *f, char *buf, size_t cap);

typedef struct {
    em_engine_kind engine;
    int threads;            /* 0: all cores */
    int skip_head;          /* features/routing only */
    em_trace_fn trace;
    void *trace_user;
    const em_formats *formats; /* fixed, hw: the datapath's formats (NULL: original);
                                * copied at creation; EM_EARG for ref and fast */
} em_session_opts;

/* A session owns every activation buffer an engine needs: planned once,
 * reused for every image. */
em_session *em_session_new(const em_model *m, const em_session_opts *o, em_err *err);
void em_session_free(em_session *s);
/* Runs the image ([img_c][img_h][img_w], values in [0,1)) for every task whose
 * bit is set in task_mask.  Outputs for task t are in em_session_output(s, t),
 * valid until the next run.  The task-independent prefix runs once. */
int em_session_run(em_session *s, const float *image, unsigned task_mask, em_err *err);
const em_task_output *em_session_output(const em_session *s, int task);

/* Counters of the fixed-point datapath (fixed and hw sessions): per op of
 * the accelerator, values stored and values that wrapped on store, for the
 * last run of a task; and the weights that wrapped when the float model was
 * quantised (once, when the session was made). */
#define EM_STATS_MAX_OPS 32
typedef struct {
    int n_ops;
    const char *op_name[EM_STATS_MAX_OPS]; /* "embed", "qkv", ... (static strings) */
    uint64_t wraps[EM_STATS_MAX_OPS];
    uint64_t stores[EM_STATS_MAX_OPS];
    uint64_t weight_quant_wraps;
} em_engine_stats;
/* Fills out for task's last run on s: EM_EARG for a ref or fast session or a
 * task not run yet. */
int em_session_stats(const em_session *s, int task, em_engine_stats *out, em_err *err);

/* ---- images ---- */
/* Loads PNG, JPEG or raw float32 ([c][h][w]) and returns a [c][h][w] float
 * image at the model size: PNG/JPEG are resized (see docs) and each pixel v
 * in 0..255 becomes v/256.  out must hold c*h*w floats. */
int em_image_load(const char *path, const em_config *c, float *out, em_err *err);
/* The same from 8-bit RGB in memory ([h][w][3]): resized as em_image_load
 * does when w x h is not the model size, then v/256. */
int em_image_from_rgb8(const uint8_t *rgb, int w, int h, const em_config *c, float *out, em_err *err);


/* ---- generated street scenes (src/scenes) ----
 * Ground truth for training and evaluation: a pinhole camera looking down a
 * procedurally generated street.  Class ids are the 7 Cityscapes categories. */
enum {
    EM_CLASS_IGNORE = -1,
    EM_CLASS_FLAT = 0, EM_CLASS_CONSTRUCTION, EM_CLASS_OBJECT, EM_CLASS_NATURE,
    EM_CLASS_SKY, EM_CLASS_HUMAN, EM_CLASS_VEHICLE,
    EM_N_CLASSES
};
enum { EM_SPLIT_TRAIN = 0, EM_SPLIT_VAL = 1 };

/* Renders scene `index` of (seed, split) at w x h.  Deterministic: the same
 * arguments give the same bytes on any machine and thread count, and no
 * (seed, index) of one split equals a scene of the other.  Outputs (any may
 * be NULL): rgb [h][w][3] 8-bit colour; label [h][w] class id or
 * EM_CLASS_IGNORE; depth [h][w] metres along the optical axis, 0 = invalid
 * (sky).  Labels and depth come from each pixel's centre ray.  Thread-safe. */
int em_scene_render(uint64_t seed, int split, uint64_t index, int w, int h,
                    uint8_t *rgb, int8_t *label, float *depth, em_err *err);

#ifdef __cplusplus
}
#endif
#endif
