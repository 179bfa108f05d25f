/* kind.h: the table of layer kinds.
 *
 * Everything netc knows about one kind of layer is one `Kind`, defined in
 * its own file (compiler/kinds/<kind>.c) and listed once in kinds/kinds.c:
 * its words, arguments and options (elab.c reads them through it), its
 * parameter tensors (the shape pass counts them, check.c compares them with
 * a pretrained file, the plan lays them out, the emitter lists them), its
 * shape and receptive-field rules, how the plan may share its buffers, and
 * its emitters, one per target. The passes hold no switch over kinds: they
 * ask the table.
 *
 * A kind's spec (what its line says: a conv's kernel and stride, a dropout's
 * probability) and its plan (how it will run: a conv's algorithm) live in a
 * struct of its own that Layer.spec points to; kinds other files read
 * declare theirs below (ConvSpec, ...), the rest keep theirs private. */
#ifndef NETC_KIND_H
#define NETC_KIND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ast.h"
#include "net.h"
#include "netc.h"

/* ---- reading a layer line (elab.c) ------------------------------------------------- */

/* Walks a layer's arguments, with block parameters replaced by their values. */
typedef struct Cursor Cursor;
const Arg *arg_peek(Cursor *c);  /* the next argument, or NULL */
const Arg *arg_next(Cursor *c);  /* ... and step past it */
Loc arg_here(Cursor *c);         /* where the next argument is, or the line's end */
const char *arg_who(Cursor *c);  /* the layer's full name, for messages */
int arg_layer(Cursor *c, const Arg *a); /* the layer a name means here, or -1 after an error */
/* Each reads one value, or reports what is wrong at the token and returns -1. */
int want_int(Cursor *c, const char *what, long lo, long hi, long *out);
int want_float(Cursor *c, const char *what, double lo, double hi, float *out);
int want_size2(Cursor *c, const char *what, long lo, long *w, long *h); /* 3x3, 5x3 (w x h) or 3 */
int want_onoff(Cursor *c, const char *what, bool *out);
int want_init(Cursor *c, Init *init);
int want_outputs(Cursor *c, const char *example, long *out); /* "-> N"; example: "conv 3x3 -> 64" */

/* Hard limits: beyond them a net cannot be trained on any machine we know, and
 * refusing early keeps every later size computation inside 64-bit integers. */
enum { MAX_SIDE = 65536, MAX_DEPTH = 1 << 20 };

/* One option of a kind: its word, and what reads the values after it (a
 * flag's parse just sets it). */
typedef struct {
    const char *name;
    int (*parse)(Cursor *c, Layer *l);
    bool weights; /* belongs to layers with weights (load, init, frozen, ...): a clearer error elsewhere */
} KindOption;

/* Options many kinds share (kind.c); a kind lists them among its own:
 * {{"stride", conv_stride}, ..., {"load", kopt_load, true}, {"from", kopt_from}, {NULL}} */
int kopt_from(Cursor *c, Layer *l);     /* from LAYER: read it instead of the layer above */
int kopt_load(Cursor *c, Layer *l);     /* load NAME: start from the pretrained file's NAME.weight, ... */
int kopt_init(Cursor *c, Layer *l);     /* init kaiming | xavier | ... */
int kopt_bias_init(Cursor *c, Layer *l);
int kopt_frozen(Cursor *c, Layer *l);
int kopt_lr_mult(Cursor *c, Layer *l);

/* ---- parameter tensors --------------------------------------------------------------- */

/* One tensor of a layer, as PyTorch names and lays it out: "weight"
 * [out][in/groups][kh][kw]. Declared by the kind once; the shape pass counts
 * them (params, buffers), check.c compares them with the pretrained file, the
 * plan gives each its offset in the parameter arena, the emitter lists them
 * for the runtime (P_<id>_<suffix>). */
#define MAX_TENSORS 4
struct Tensor {
    const char *suffix; /* "weight", "bias", "running_mean", ... */
    NetcRole role;      /* runtime/netc.h: decay, training, saving */
    int ndim;
    long shape[4];
    int64_t numel;      /* -1: beyond 2^62 */
    Init init;
    long fan_in, fan_out;
    int64_t off;        /* in the parameter arena (plan) */
};

void tensor_set(Tensor *t, const char *suffix, NetcRole role, int ndim, const long *shape, Init init, long fan_in, long fan_out);
bool tensor_trainable(const Layer *l, const Tensor *t); /* not frozen, not a statistic */

/* ---- shapes (shape.c) ------------------------------------------------------------------ */

int64_t shape_mul(int64_t a, int64_t b);  /* a * b, or -1 if it passes 2^62 */
int64_t shape_volume(Shape s);            /* c * h * w */
const char *shape_str(Shape s);           /* "64x64x1" */
long window_out(long in, long k, long s, long p, bool ceil_mode); /* PyTorch's rule */
int check_window(const Layer *l, Shape in, long kw, long kh, long pw, long ph, const char *what);
int check_pad(const Layer *l, long kw, long kh, long pw, long ph);
void rf_window(Net *net, Layer *l, long kw, long kh, long sw); /* field after a window over l's input */
void rf_whole(Net *net, Layer *l);                             /* sees its whole input */
static inline Shape in_shape(const Net *net, const Layer *l) { return net->layers[l->in[0]].out; }

/* ---- the kind ---------------------------------------------------------------------------- */

struct TrainEmit;  /* emit.h: the trainer's emitter (generated/<net>.c) */
struct DeployEmit; /* deploy.h: netc --deploy's (deploy/<net>/<net>.c) */

struct Kind {
    const char *name;             /* as the report, JSON and the runtime's tables name it */
    const char *const *aliases;   /* other words for it ("fc" for linear), NULL-terminated, or NULL */
    const char *usage;            /* "conv KxK -> N": for hints and the README's table */

    /* reading the line: spec_size bytes are zeroed, init sets defaults, then
     * the positional arguments, then the options (any order) */
    size_t spec_size;
    void (*init)(Layer *l);
    int (*args)(Cursor *c, Layer *l); /* NULL: takes none */
    const KindOption *options;        /* ends with {NULL} */
    bool joins;                       /* reads the layers it names (concat a b), not the one above */
    bool loss;                        /* the loss: exactly one, last; its input is the logits */

    /* shapes: out and flops (a multiply-add counts 2) for one image, from
     * its inputs' shapes; the receptive field (NULL: its input's); its
     * tensors (NULL: none), from which params and buffers are counted */
    int (*shape)(Net *net, Layer *l);
    void (*rf)(Net *net, Layer *l);
    int (*tensors)(const Net *net, const Layer *l, Tensor *t); /* returns how many */
    /* the layer a weight of shape `shape` would fit ("conv 3x3 -> 64 on 3
     * input channels"), for a pretrained file that does not fit; NULL: none */
    const char *(*fits)(const Layer *l, const int64_t *shape, int ndim);
    void (*json)(const Layer *l, FILE *f); /* its hyperparameters in --report=json: , "k": v */

    /* the plan (plan.c) */
    bool in_place;   /* may overwrite its input's buffer when it is that buffer's one reader (relu, dropout) */
    bool (*view)(const Net *net, const Layer *l); /* its output is its input, reinterpreted (flatten of 1x1) */
    bool slices;     /* its inputs may be written straight into slices of its output (concat) */
    bool fusable;    /* a relu its producer may apply as it writes (relu) */
    /* may it apply a relu after it (slope 0) or a leaky one? NULL: no */
    bool (*fuses_relu)(const Net *net, const Layer *l, float slope);
    /* decisions that depend on shapes only (a conv's algorithm), before
     * buffers are shared; then the rest, once they are (folds, scratch) */
    void (*choose)(Net *net, Layer *l);
    void (*plan)(Net *net, Layer *l);
    /* per image: max pooling's argmax ints, dropout's mask bytes; per net:
     * batch norm's batch statistics (floats) */
    void (*buffers)(const Net *net, const Layer *l, int64_t *index_ints, int64_t *mask_bytes, int64_t *saved_floats);
    const char *(*plan_text)(const Net *net, const Layer *l); /* -d plan: how it runs (" winograd(3 images a chunk)") */

    /* emitters, one per target */
    const struct TrainEmit *train;
    const struct DeployEmit *deploy; /* NULL: netc --deploy cannot deploy it */
};

/* The kinds a .net file can name, in the order the hints list them (kinds/kinds.c). */
extern const Kind *const kind_table[];
extern const int kind_count;
const Kind *kind_find(const char *word);  /* by name or alias, or NULL */
const char *const *kind_words(void);      /* every name and alias, NULL-terminated */
const char *kind_list(void);              /* "conv, linear, ...": for hints */
bool kind_has_option(const Kind *k, const char *opt);

/* The kinds other files name. */
extern const Kind kind_input, kind_conv, kind_linear, kind_maxpool, kind_avgpool, kind_relu, kind_dropout,
    kind_batchnorm, kind_flatten, kind_concat, kind_add, kind_softmax;

/* ---- specs other files read -------------------------------------------------------------- */

/* How a conv runs (plan.c decides; emitters only read it). */
typedef enum {
    CONV_IM2COL,    /* im2col in chunks of images, one sgemm per chunk */
    CONV_POINTWISE, /* 1x1, stride 1, no pad: the input is the matrix, one sgemm */
    CONV_MATMUL,    /* the kernel covers the whole unpadded input: a linear layer */
    CONV_DIRECT,    /* few taps: loops over output strips, no im2col */
    CONV_WINOGRAD,  /* 3x3, stride 1, pad 1: F(4x4, 3x3); 5x5, pad 2: F(2x2, 5x5) (runtime/winograd.c) */
} ConvAlgo;

typedef struct {
    ConvAlgo algo;
    long chunk;         /* images per im2col or Winograd chunk */
    long col_floats;    /* floats of one chunk's im2col (of the input, or of dout when bigger) */
    long tile_rows;     /* im2col forward in tiles of this many output rows of one image, a thread each; 0: by chunks */
    bool dx_by_conv;    /* the input gradient as a convolution of dout (stride 1, OC <= 2C), not col2im */
    bool col_forward, col_backward; /* im2col columns in scratch */
    int fold_bn;        /* the batch norm folded in for evaluation, or -1 */
    int fold_pool;      /* the 2x2 max pool its folded forward writes, or -1 */
    int sparse_pool;    /* backward from this max pool's dout and argmax (its one reader), or -1 */
} ConvPlan;

typedef struct {
    long kw, kh, sw, sh, pw, ph, groups, out;
    bool bias;
    ConvPlan plan;
} ConvSpec;

typedef struct {
    long out;
    bool bias;
} LinearSpec;

typedef struct {
    long kw, kh, sw, sh, pw, ph;
    bool ceil;   /* PyTorch's ceil_mode: the last partial window counts */
    bool global; /* the window is the whole input */
} PoolSpec;

/* What max and average pooling share (maxpool.c): the window or "global",
 * stride, pad, ceil; shape and field. */
int pool_args(Cursor *c, Layer *l);
extern const KindOption pool_options[];
int pool_shape(Net *net, Layer *l);
void pool_rf(Net *net, Layer *l);
void pool_json(const Layer *l, FILE *f);

typedef struct {
    float eps;
} BatchNormSpec;

typedef struct {
    float slope; /* 0: relu; else leaky relu, slope * x below 0 */
} ReluSpec;

/* resize.c: PyTorch's bilinear taps (align_corners=False) along one side of
 * `in` pixels made `out`: output pixel o mixes input pixels i0 and i1 by
 * weights w0 and w1. Pool-allocated, `out` of them. */
typedef struct {
    long i0, i1;
    float w0, w1;
} ResizeTap;
ResizeTap *resize_taps(long in, long out);
/* Their weights in int8's fixed point: w0 + w1 = RESIZE_QONE (deploy/nnq.c's nn_qresize) */
enum { RESIZE_QONE = 2048 };
long resize_qweight(float w);

/* l->spec as its kind's struct; a layer of another kind is a bug in netc */
const void *spec_of(const Layer *l, const Kind *k);
#define CONV(l) ((ConvSpec *)spec_of((l), &kind_conv))
#define LINEAR(l) ((LinearSpec *)spec_of((l), &kind_linear))
#define POOL(l) ((PoolSpec *)spec_of((l), (l)->kind == &kind_avgpool ? &kind_avgpool : &kind_maxpool))
#define BATCHNORM(l) ((BatchNormSpec *)spec_of((l), &kind_batchnorm))
#define RELU(l) ((ReluSpec *)spec_of((l), &kind_relu))

#endif
