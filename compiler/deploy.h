/* deploy.h: netc --deploy, a trained net as one dependency-free C file.
 *
 * deploy/<net>/<net>.c holds the net's kernels (deploy/nn.c, the sections it
 * uses), its weights as static const arrays (or a file the caller loads),
 * the preprocessing the trainer evaluates with (runtime/preprocess.c), and
 * forward and predict functions over one arena whose layout netc plans
 * here: every activation at an offset, reused once dead. */
#ifndef NETC_DEPLOY_H
#define NETC_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>

/* ---- weights (deploy_weights.c) -------------------------------------------------- */

/* Output channels per packed weight block: deploy/nn.c's NN_MR. */
#define DEPLOY_MR 8

/* Folds a batch norm into the layer before it: w[o][k] *= s, b[o] = (b[o] - mean) s + beta,
 * s = gamma / sqrt(var + eps) (w NULL: the shift only; gamma or beta NULL: 1 and 0). */
void deploy_fold_bn(float *w, float *b, long oc, long per_out, const float *gamma, const float *beta, const float *mean,
                    const float *var, float eps);
/* A conv's weights [oc][c/groups][kh][kw] in nn_conv's order: per group,
 * blocks of DEPLOY_MR output channels, [k][DEPLOY_MR], zero rows past the end.
 * Pool-allocated. */
float *deploy_pack_conv(const float *w, long oc, long cg, long kh, long kw, long groups);
long deploy_conv_packed_floats(long oc, long cg, long kh, long kw, long groups);
/* A 3x3 kernel [oc][c][3][3] transformed (G g G^T) and packed for nn_wino:
 * [36][blocks of DEPLOY_MR][c][DEPLOY_MR]. Pool-allocated. */
float *deploy_pack_wino(const float *w, long oc, long c);
long deploy_wino_packed_floats(long oc, long c);

/* ---- the arena (deploy_plan.c) ------------------------------------------------------- */

/* One buffer of the arena: its size, and the steps (layers, in the order
 * forward runs them) from the one that writes it first to the last that
 * reads it, both included. */
typedef struct {
    int64_t bytes;
    int first, last;
    int64_t offset; /* set by arena_plan */
} ArenaBuf;

/* Gives every buffer an offset, aligned to `align` bytes, such that buffers
 * whose steps overlap never share a byte; returns the arena's size. Greedy
 * by size: the largest buffer first, each at the lowest offset that fits
 * between those already placed whose lifetimes meet its own. */
int64_t arena_plan(ArenaBuf *b, int n, int64_t align);
/* The most bytes live at any one step: no plan can be smaller. */
int64_t arena_lower_bound(const ArenaBuf *b, int n, int64_t align);

#endif
