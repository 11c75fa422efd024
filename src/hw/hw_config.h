/* Edge-MoE accelerator: compile-time configuration (the defaults of docs/spec.md#1-the-model).
 * Every array in src/hw is sized from these constants; the fixed engine
 * refuses a model whose em_config differs. */
#ifndef HW_CONFIG_H
#define HW_CONFIG_H

#define HW_IMG_C      3
#define HW_IMG_H      128
#define HW_IMG_W      256
#define HW_PATCH      16
#define HW_GRID_H     (HW_IMG_H / HW_PATCH)          /* 8 */
#define HW_GRID_W     (HW_IMG_W / HW_PATCH)          /* 16 */
#define HW_N          (HW_GRID_H * HW_GRID_W + 1)    /* 129 tokens */
#define HW_D          192
#define HW_DEPTH      12
#define HW_HEADS      3
#define HW_HEAD_DIM   64
#define HW_MLP        768                            /* dense MLP hidden */
#define HW_E          16                             /* experts */
#define HW_EH         384                            /* expert hidden */
#define HW_TOPK       2
#define HW_TASKS      2
/* Which blocks are MoE layers (M3ViT: every odd block; the library's
 * em_is_moe follows the model config, the accelerator is built for this
 * rule).  The top function uses only these to choose and index a block's
 * MLP, so changing the rule here changes the hardware consistently. */
#define HW_IS_MOE(L)       ((L) % 2 == 1)
#define HW_MOE_INDEX(L)    ((L) / 2)                 /* index among MoE blocks */
#define HW_DENSE_INDEX(L)  ((L) / 2)                 /* index among dense blocks */
#define HW_NMOE       (HW_DEPTH / 2)                 /* blocks L with HW_IS_MOE(L) */
#define HW_NDENSE     (HW_DEPTH - HW_NMOE)
#define HW_PATCH_K    (HW_IMG_C * HW_PATCH * HW_PATCH) /* 768 inputs per patch */

/* Memory words: vectors move as blocks of 8 fm values (256 bits). */
#define HW_BLK        8
#define HW_DBLK       (HW_D / HW_BLK)                /* 24 blocks per token */
/* Linear unit tile: 16 inputs x 16 outputs. */
#define HW_TILE       16
#define HW_MAX_IN     768                            /* widest linear input */
#define HW_MAX_OUT    768                            /* widest linear output */

/* Attention query group (ATTN_MATMUL_PARALLEL in the original). */
#ifndef ATTN_P
#define ATTN_P 4
#endif
#define HW_NGROUPS    ((HW_N + ATTN_P - 1) / ATTN_P)

#endif
