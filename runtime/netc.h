/* netc.h: the contract between the code netc generates and the runtime.
 *
 * A generated file (generated/<net>.c) defines one `const NetcNet NETC_NET`:
 * the net's tensors, layers, sizes and settings, and its forward and
 * backward functions. The runtime owns everything else: memory, data,
 * optimisers, checkpoints, reports, the command line.
 *
 * Layout inside: channel-major. Every activation buffer holds
 * [c][cap][h][w] floats for up to cap = Model.batch images, of which the
 * first n are in use: the images of one channel sit side by side, so a
 * convolution over a batch is one matrix product. Files and PyTorch use
 * NCHW; model_put_input and model_get_output (model.h) convert.
 * Probabilities (Model.probs) are [n][classes], row-major. */
#ifndef NETC_H
#define NETC_H

#include <stdint.h>

#define NETC_ABI 3
#define NETC_VERSION "0.1.0"

typedef enum {
    ROLE_WEIGHT,       /* conv / linear weight: decayed */
    ROLE_BIAS,         /* conv / linear bias: not decayed */
    ROLE_BN_WEIGHT,    /* batch norm scale: not decayed */
    ROLE_BN_BIAS,      /* batch norm shift: not decayed */
    ROLE_RUNNING_MEAN, /* batch norm statistics: not trained, but saved */
    ROLE_RUNNING_VAR,
} NetcRole;

typedef enum { NINIT_KAIMING, NINIT_XAVIER, NINIT_GAUSSIAN, NINIT_UNIFORM, NINIT_PYTORCH, NINIT_CONSTANT } NetcInit;

typedef struct {
    const char *name;  /* in checkpoints: "conv1.weight", "bn1.running_mean" */
    const char *layer; /* the .net layer it belongs to */
    const char *load;  /* tensor to start from in the pretrained file, or NULL */
    NetcRole role;
    int ndim;
    int shape[4];      /* PyTorch's layout: [out][in/groups][kh][kw], [out][in], [c] */
    long offset;       /* into Model.params (floats) */
    long size;
    int trainable;     /* 0: frozen, or a statistic */
    float lr_mult;
    NetcInit init;
    float init_arg;
    int fan_in, fan_out;
} NetcTensor;

typedef struct {
    const char *name, *kind, *desc;
    int c, h, w;       /* output, per image */
    long act;          /* output offset in the activation arena, per image (times batch) */
    double rf, rf_stride; /* receptive field size and stride, in input pixels */
    long params;
    double flops;      /* forward, per image */
    int frozen;
    int input;         /* index of the (first) layer it reads; -1 for the input */
    int eval_by;       /* the layer whose evaluation forward does this one's work: itself, or
                        * the conv its batch norm (relu, max pool) is folded into */
} NetcLayer;

typedef struct Model Model;

/* Sums x[0..n) over every process of a data-parallel run, in place (dist.c).
 * Batch norm calls it, when set, to normalise with the whole batch's statistics. */
typedef void (*NetcAllreduce)(double *x, int n);

/* forward's train argument */
enum { NETC_EVAL = 0, NETC_TRAIN = 1, NETC_EVAL_ALL = 2 };

typedef struct {
    int abi;
    const char *name, *source, *netc_version;
    int in_c, in_h, in_w, classes;
    const NetcTensor *tensors;
    int n_tensors;
    long param_floats;   /* the parameter arena, statistics included */
    const NetcLayer *layers;
    int n_layers;
    long act_floats;     /* per image */
    long grad_floats;    /* per image: gradients of activations */
    long index_ints;     /* per image: max pooling's argmax */
    long mask_bytes;     /* per image: dropout masks */
    long saved_floats;   /* batch norm's batch statistics */
    long scratch_floats; /* im2col columns (and their gradient) of one chunk of images */
    long scratch_per_image; /* gathered [k][n] inputs of linear layers: this many floats per image */
    const char *const *settings; /* key, value, ..., NULL: the .net file's settings */
    const char *report;  /* the shape report, as netc printed it */
    double flops_forward;
    long logits;         /* per-image offset of the classifier's output (the loss layer's input) */
    /* train: NETC_TRAIN (batch statistics, dropout, argmaxes for backward),
     * NETC_EVAL, or NETC_EVAL_ALL: evaluation that also writes every layer's
     * output (NETC_EVAL may skip those nobody reads then, such as a conv's
     * whose batch norm is folded into it) */
    void (*forward)(Model *m, int n, int train);
    void (*backward)(Model *m, int n);
} NetcNet;

struct Model {
    const NetcNet *net;
    int batch;          /* capacity: every arena holds this many images */
    int threads;
    float *params;      /* param_floats */
    float *grads;       /* param_floats; backward sets every trainable tensor's slice */
    float *acts;        /* act_floats * batch */
    float *dacts;       /* grad_floats * batch */
    int32_t *index;     /* index_ints * batch */
    uint8_t *masks;     /* mask_bytes * batch */
    float *saved;       /* saved_floats */
    float *scratch;     /* scratch_floats + scratch_per_image * batch */
    float *input;       /* = acts: the batch, [in_c][batch][in_h][in_w] */
    const int *labels;  /* [n], or NULL: forward then computes no loss */
    float *probs;       /* [batch][classes]: softmax output of the last forward */
    float loss;         /* mean cross-entropy of the last forward (with labels) */
    float label_smoothing;
    float bn_momentum;
    uint64_t seed;      /* dropout masks draw from rng_for(seed, step, layer, image) */
    long step;
    /* data-parallel training (dist.h): this process holds a share of each step's batch */
    int first_image;    /* where its n images start in the step's whole batch (dropout draws by it); 0 alone */
    int batch_images;   /* images in the whole batch, whose mean loss backward differentiates; 0: n, alone */
    NetcAllreduce sync_bn; /* NULL, or batch norm's statistics summed over every process (sync_bn on) */
    /* after each layer (netc_layer_done), when set */
    double *profile;    /* NULL, or [2][n_layers] seconds: forward, backward (the profile command) */
    double profile_t;
    struct DistStep *dist; /* NULL, or the gradient allreduce in flight, started bucket by bucket in backward */
};

/* Called after each layer k's forward (pass 0) or backward (pass 1), and with
 * k = -1 before the first, when m->profile or m->dist is set: the profile
 * command's timer, and the start of each bucket of gradients' allreduce as
 * soon as backward has finished its layers. */
void netc_layer_done(Model *m, int k, int pass);
/* The profile command's part: adds the time since the last call to layer k's
 * forward (pass 0) or backward (pass 1) total. */
void netc_profile_tick(Model *m, int k, int pass);

/* The trainer's main: every generated trainer is `main` calling this. */
int netc_main(int argc, char **argv, const NetcNet *net);

#endif
