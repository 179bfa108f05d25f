/* deploy.h: netc --deploy, a trained net as one dependency-free C file.
 *
 * deploy/<net>/<net>.c holds the net's kernels (deploy/nn.c, the sections it
 * uses), its weights as static const arrays (or a file the caller loads),
 * the preprocessing the trainer evaluates with (runtime/preprocess.c), and
 * forward and predict functions over one arena whose layout netc plans
 * here: every activation at an offset, reused once dead. Beside it, <net>.h
 * (the API), predict.c (a command line over it, with libjpeg) and a Makefile.
 *
 * The pass (deploy.c) reads the weights file a trainer wrote, decides for
 * every layer whether it runs or is another's buffer (a dropout, a flatten,
 * a relu its producer applies, a batch norm folded into the conv before it,
 * a concat's inputs written into its slices), plans the arena and writes the
 * files; each kind's part is its DeployEmit (kind.h's .deploy), which
 * prepares its weights, names the kernels it needs and writes its calls. */
#ifndef NETC_DEPLOY_H
#define NETC_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "net.h"

/* ---- the pass (deploy.c) -------------------------------------------------------------- */

typedef struct {
    const char *weights;  /* the safetensors file a trainer wrote */
    const char *out_dir;  /* default deploy/<net> */
    bool weights_file;    /* --weights-file: weights in <net>.weights, loaded by the caller, not C arrays */
    bool quiet;
    /* --quantize int8 (deploy_quant.c) */
    bool int8;
    int calibrate;              /* training images to calibrate on (--calibrate N; 0: 500) */
    const char *calibration;    /* how a tensor's range is chosen from them: "minmax", "percentile", "mse" (NULL: the default) */
    const char *float_layers;   /* --float A,B: layers that stay float */
    bool quantize_report;       /* --quantize-report: each layer's error against float */
    int report_images;          /* images for the report (--report-images N; 0: the validation set, else 500) */
    const char *cc;             /* the C compiler for the calibration program (NULL: $CC, else cc) */
    bool dump_quant;            /* -d quant: print every tensor's scale and zero point, every layer's weight scales */
} DeployOptions;

/* After plan_net: writes out_dir/<net>.h, <net>.c, predict.c, Makefile (and
 * <net>.weights). Returns 0, or -1 after printing what is wrong. */
int deploy_net(Net *net, const DeployOptions *o);

/* ---- what the pass decides per layer, and the kinds' part -------------------------------- */

typedef struct Deploy Deploy;

/* The activation a layer applies as it stores (deploy/nn.c's NN_LINEAR, NN_RELU). */
enum { DEPLOY_LINEAR, DEPLOY_RELU };

typedef struct {
    bool runs;            /* forward calls something for it; else its output is `alias`'s */
    int alias;            /* the layer whose buffer holds its output, or -1: its own */
    int slice_of;         /* its own buffer is this concat's, from byte slice_off; or -1 */
    int64_t slice_off;
    int act;              /* DEPLOY_LINEAR or DEPLOY_RELU (with slope), applied as it stores */
    float slope;
    int relu;             /* the relu layer it applies, or -1 (for comments) */
    int fold_bn;          /* the batch norm folded into its weights, or -1 */
    const char *how;      /* how it runs, for comments: "winograd", "direct", ... */
    int algo;             /* the kind's own choice (a conv's kernel) */
    float *w, *b;         /* weights after folding and packing (pool), for define; NULL: none */
    int64_t nw;
    int64_t scratch;      /* bytes of scratch it needs per thread */
    int last_use;         /* the last layer that reads its output */
    /* --quantize int8 (deploy_quant.c): */
    bool q;               /* runs its kind's int8 side (else float, between conversions) */
    bool bytes;           /* its output is bytes: q stands for qscale * (q - qzp) */
    bool qfloat;          /* an int8 layer writing floats: the logits */
    float qscale;
    int qzp;
    int8_t *qw;           /* its int8 side's arrays (for define): weights, */
    int32_t *qb, *qrq;    /* biases and multipliers, */
    float *qfs;           /* float scales (qfloat) */
    float *qws;           /* each output channel's weight scale (a layer of sums; for -d quant) */
    int64_t nqw;
} DeployLayer;

typedef struct DeployEmit {
    bool identity;   /* its output is its input (dropout in evaluation, flatten): nothing runs */
    bool output;     /* the loss: its input is the logits forward returns */
    bool act;        /* can apply a relu as it stores */
    bool absorbs_bn; /* a batch norm right after it can fold into its weights */
    bool folds;      /* a batch norm: folds into the layer before it where that one absorbs it */
    bool slices;     /* its inputs can be written into slices of its output (concat) */
    bool in_place;   /* can write its output over an input it is the last to read (relu, add) */
    /* its weights (folded, packed), how it runs, its scratch and kernels */
    int (*prepare)(Deploy *d, const Layer *l);
    /* its descriptor (a static const struct) and the arrays it reads */
    void (*define)(Deploy *d, const Layer *l);
    /* its lines in forward */
    void (*forward)(Deploy *d, const Layer *l);
    /* its int8 side (--quantize int8); NULL: it runs float, its inputs dequantized */
    const struct DeployInt8 *int8;
} DeployEmit;

/* A kind's int8 side: the same three hooks on bytes (deploy/nnq.c's
 * kernels); deploy_quant.c's helpers quantise its weights. */
typedef struct DeployInt8 {
    /* its output keeps its input's scale and zero point (a max pool, a relu); NULL: never */
    bool (*same_scale)(const Layer *l);
    bool monotone;   /* a max: a relu after it can be applied before it, to its input */
    bool to_float;   /* can write the logits as floats */
    int (*prepare)(Deploy *d, const Layer *l);
    void (*define)(Deploy *d, const Layer *l);
    void (*forward)(Deploy *d, const Layer *l);
} DeployInt8;

/* DeployInt8.same_scale for a kind whose output always keeps its input's
 * scale and zero point (a relu, a resize). */
bool deploy_same_scale_always(const Layer *l);

/* For the kinds' emitters. */
const Net *deploy_net_of(const Deploy *d);
DeployLayer *deploy_layer(Deploy *d, const Layer *l);
FILE *deploy_file(Deploy *d);
/* The tensor's values from the weights file (a pool copy the emitter may change); NULL if l has none by that name. */
float *deploy_tensor(Deploy *d, const Layer *l, const char *suffix);
/* Asks for a section of deploy/nn.c (and, through it, the sections it needs). */
void deploy_need(Deploy *d, const char *section);
/* Writes `static const float <name>[n]` (declared here, its values at the
 * end of the file, or in <net>.weights), with a comment on its layout;
 * returns name, for the calls. */
const char *deploy_array(Deploy *d, const char *name, const float *v, int64_t n, const char *layout);
/* The same for int8_t and int32_t arrays (int8 nets). */
typedef enum { DEPLOY_F32, DEPLOY_I8, DEPLOY_I32 } DeployType;
const char *deploy_array_of(Deploy *d, DeployType t, const char *name, const void *v, int64_t n, const char *layout);
/* Where layer l's output is, as forward's code names it ("ACT(A_conv1)", "input"). */
const char *deploy_out(Deploy *d, const Layer *l);
/* Was s's output written straight into its slice of concat cat? */
bool deploy_in_slice(const Deploy *d, const Layer *s, const Layer *cat);
/* ".act = NN_RELU, .slope = 0.1f" for a descriptor (nothing for NN_LINEAR) */
const char *deploy_act_fields(const DeployLayer *dl);
/* "NN_RELU, 0.0f": the two arguments of a kernel that takes them */
const char *deploy_act_args(const DeployLayer *dl);
/* The scratch argument of a call ("SCRATCH"). */
const char *deploy_scratch(Deploy *d);
/* The name of layer l's descriptor and arrays in the file (its id, unless
 * that is a name the file's code uses itself). */
const char *deploy_name(const Deploy *d, const Layer *l);
/* Folds l's batch norm (dl->fold_bn) into weights w ([oc][per_out]) and
 * bias *b (made, zero, if NULL). */
void deploy_fold(Deploy *d, const Layer *l, float *w, float **b, long oc, long per_out);
/* The widest vector a deployed net may be compiled for (AVX-512's 16
 * floats), for choices that need a width: a strip of direct outputs. */
enum { DEPLOY_MAX_VW = 16 };

/* ---- int8 (deploy_quant.c) ---------------------------------------------------------- */

/* What a byte of a tensor stands for: scale * (q - zp). */
typedef struct {
    float scale;
    int zp;
} DeployQ;
/* l's output, as the int8 layers reading it see it. */
DeployQ deploy_q(const Deploy *d, const Layer *l);
/* The layer whose output layer i's is (i itself if it runs, else what it aliases). */
int deploy_value(const Deploy *d, int i);
/* ".zp = Z, .lo = L" for l's NnQOut: its output's zero point and the relu it applies. */
const char *deploy_qout(Deploy *d, const Layer *l);
/* real as mult 2^(shift - 31), mult in [2^30, 2^31) (gemmlowp's fixed-point multiplier) */
void deploy_multiplier(double real, int32_t *mult, int32_t *shift);
/* w [oc][per_out] as int8 per output channel, symmetric: the bytes, and each channel's scale in scale[oc]. */
int8_t *deploy_qweights(const float *w, long oc, long per_out, float *scale);
/* A layer of sums (conv, linear): its weights w [oc][per_out] quantised into dl->qw, its bias
 * b (NULL: none) less the input's zero point times each channel's weights into dl->qb, and
 * its multipliers into dl->qrq ([oc][2]: mult, shift), or, writing the logits, each
 * channel's step as a float into dl->qfs. */
void deploy_qlayer(Deploy *d, const Layer *l, const float *w, const float *b, long oc, long per_out);
/* int8 conv weights [oc][c/groups][kh][kw] in nn_qconv's order: per group, blocks of
 * DEPLOY_MR output channels, [k / 4][DEPLOY_MR][4]. Pool-allocated. */
int8_t *deploy_qpack_conv(const int8_t *w, long oc, long cg, long kh, long kw, long groups);
long deploy_qconv_packed(long oc, long cg, long kh, long kw, long groups);
/* An int8 layer of sums (kinds/conv.c, for linear too): its arrays (weights, biases, multipliers
 * or float steps), and its call's arguments after the weights. */
void deploy_qsums_define(Deploy *d, const Layer *l, long oc, const char *layout);
const char *deploy_qsums_args(Deploy *d, const Layer *l);

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

/* ---- the files deploy/ copies (tools/embed.sh, built into netc) ---------------------------- */

extern const char embed_nn_c[], embed_nnq_c[], embed_calibrate_c[], embed_predict_c[], embed_deploy_mk[];
extern const char embed_preprocess_h[], embed_preprocess_c[], embed_jpeg_h[], embed_jpeg_c[], embed_pngread_h[], embed_pngread_c[];

#endif
