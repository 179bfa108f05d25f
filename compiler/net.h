/* net.h: the network as the compiler's passes see it.
 *
 * elab.c turns the syntax tree into a Net: blocks expanded (fire2.squeeze),
 * every input resolved to a layer index, every option checked. shape.c fills
 * in the sizes; report.c prints them; emit.c writes the C code.
 *
 * Layers are in file order, which is a topological order: a layer may only
 * read layers defined above it. layers[0] is the input. */
#ifndef NETC_NET_H
#define NETC_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

struct Ast;

/* A layer's kind: its words, options, shape rule, tensors, plan rules and
 * emitters (kind.h; one file per kind in compiler/kinds/). */
typedef struct Kind Kind;
/* One parameter tensor of a layer (kind.h). */
typedef struct Tensor Tensor;

typedef enum {
    INIT_KAIMING,  /* normal, std sqrt(2 / fan_in): for relu nets (the default) */
    INIT_XAVIER,   /* normal, std sqrt(2 / (fan_in + fan_out)) */
    INIT_GAUSSIAN, /* normal, std = arg */
    INIT_UNIFORM,  /* uniform in [-arg, arg] */
    INIT_PYTORCH,  /* PyTorch's default: uniform, bound 1 / sqrt(fan_in) */
    INIT_CONSTANT, /* = arg (zeros: arg 0) */
} InitKind;

extern const char *const init_kind_name[];

typedef struct {
    InitKind kind;
    float arg;
} Init;

/* Sizes of one image's data: depth (channels), height, width. */
typedef struct {
    long c, h, w;
} Shape;

#define MAX_INPUTS 16

typedef struct {
    char *name;     /* full name: "conv1", or "fire2.squeeze" inside a block */
    const Kind *kind;
    void *spec;     /* the kind's own struct: what the line says (a conv's kernel), and the plan's decisions for it */
    Loc loc;        /* the name where it is defined */
    Loc kind_loc;   /* the kind word (or the block's name for block layers) */
    Loc size_loc;   /* the kernel or window size (conv, pooling), for messages about it */
    char *desc;     /* "conv 9x9 -> 10, stride 2": for the report and comments */
    char *block;    /* the block instance it belongs to, or NULL */

    int in[MAX_INPUTS];
    Loc in_loc[MAX_INPUTS];
    int n_in;

    Init init;         /* weights */
    Init bias_init;
    char *load;        /* tensor name prefix in the pretrained file, or NULL */
    Loc load_loc;
    bool frozen;
    float lr_mult;

    /* filled by the shape pass */
    Shape out;
    double rf, rf_stride; /* receptive field size and stride, in input pixels (fractions after a resize) */
    int64_t params;       /* trainable parameters */
    int64_t buffers;      /* batch norm running statistics */
    double flops;         /* forward, per image: a multiply-add is 2 */
    int64_t act;          /* output floats per image */
    Tensor *tensors;      /* its parameter tensors, as its kind declares them */
    int n_tensors;
    int n_users;          /* layers that read this one */
    bool needs_grad;      /* backward must produce d(output) for this layer */

    /* filled by the plan pass: where everything lives */
    char *id;             /* C identifier: fire2_squeeze */
    bool reaches_loss;    /* some path leads from it to the loss */
    bool run_backward;
    bool in_place;        /* output overwrites its input's buffer (relu, dropout; flatten of a 1x1 input) */
    bool concat_in_place; /* concat: each input was written straight into its slice of the output */
    bool relu_fused;      /* conv, linear or batch norm: applies the relu that follows it (and its backward) */
    int fused_relu;       /* ... that relu layer (or -1) */
    float relu_slope;     /* ... a plain one (0), or a leaky relu's slope */
    bool fused_away;      /* relu: done by the layer below it; nothing left to run */
    int eval_by;          /* in evaluation, this layer's output is written by that layer's folded forward, or -1 */
    int backward_by;      /* its backward is done by that layer's (a max pool's, by its conv's), or -1 */
    int64_t scratch_floats, scratch_per_image; /* scratch its functions need (plan); the net's is the largest */
    int slice_of;         /* the concat whose output slice this layer's buffer is, or -1 */
    long slice_c;         /* ... starting at this channel */
    int64_t act_off;      /* output, floats per image in the activation arena */
    int64_t grad_off;     /* d(output), floats per image; -1: none */
    int64_t index_off;    /* max pooling argmax, ints per image */
    int64_t mask_off;     /* dropout mask, bytes per image */
    int64_t saved_off;    /* batch norm batch statistics, floats */
    bool grad_accumulate[MAX_INPUTS]; /* backward adds into input j's gradient (another reader wrote it first) */
} Layer;

typedef struct {
    char *key, *value;
    Loc loc;
} Setting;

typedef struct {
    const char *file;
    char *name;
    Loc name_loc;
    Shape input;
    Loc input_loc;
    Layer *layers;
    int n, cap;

    /* settings from the file, already checked against runtime/config.c */
    Setting *settings;
    int n_settings, cap_settings;

    int classes;          /* depth of the classifier's output */
    int64_t act_floats, grad_floats, index_ints, mask_bytes, saved_floats, param_floats; /* plan */
    int64_t scratch_floats, scratch_per_image; /* im2col columns; gathered inputs of linear layers */
    int64_t total_params, total_buffers, total_act;
    double total_flops;
    bool no_winograd; /* netc --no-winograd: 3x3 convs by im2col too */
    int vector_floats; /* netc --isa: the target's floats per vector register (compiler/target.h) */
} Net;

/* Passes, in pipeline order. Each returns 0, or -1 after reporting errors. */
int elab_net(const struct Ast *ast, Net *net);
/* Whether netc_<name> is already defined by the runtime headers generated code includes. */
bool runtime_name(const char *name);
int shape_net(Net *net);
int check_data(Net *net);        /* class count against the data folder, when it exists */
int check_pretrained(Net *net);  /* tensor shapes against the pretrained file, when it exists */
void plan_net(Net *net);         /* memory layout and gradient flow */
int emit_net(const Net *net, FILE *f);
void dump_net(const Net *net, FILE *f); /* -d net, -d plan */

const char *net_setting(const Net *net, const char *key); /* value from the file, or NULL */
int layer_index(const Net *net, const char *name);

#endif
