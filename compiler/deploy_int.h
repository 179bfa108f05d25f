/* deploy_int.h: the deploy pass's state, shared by deploy.c (what it
 * decides) and deploy_emit.c (what it writes); the kinds see it only
 * through deploy.h's functions. */
#ifndef NETC_DEPLOY_INT_H
#define NETC_DEPLOY_INT_H

#include "config.h"
#include "deploy.h"
#include "safetensors.h"

/* Every buffer's alignment in the arena: a cache line. */
#define DEPLOY_ALIGN 64

/* An array the net's code reads: its values, and where they go. */
typedef struct {
    const char *name;
    DeployType type;
    const void *v;
    int64_t n;
    int64_t offset; /* --weights-file: 4-byte words from the start of the weights (every array starts at one) */
} DeployArray;

/* int8: a conversion layer `step` needs, of layer `from`'s output (floats to
 * bytes at its scale, or back), into a buffer of the arena for that step. */
typedef struct {
    int step, from;
    bool to_bytes;
    int64_t n;
    int buf; /* its ArenaBuf */
} DeployTemp;

/* int8: what calibration saw of one layer's output: every value's range, and
 * a histogram of DEPLOY_BINS bins from lo, width wide. */
#define DEPLOY_BINS 2048
typedef struct {
    double count, min, max, lo, width;
    double *hist;
} DeployStats;

/* Threads the calibration program runs the nets on. */
#define DEPLOY_THREADS 2

/* How a tensor's range is chosen by default (--calibration): see deploy_quant.c. */
#define DEPLOY_CALIBRATION "minmax"

struct Deploy {
    Net *net;
    const DeployOptions *o;
    StFile st;        /* the weights file */
    Config cfg;       /* the settings it was trained with */
    float mean[3], std[3];
    char **classes;
    int n_classes;
    int resize_w, resize_h;

    DeployLayer *dl;  /* per layer */
    int *buf_of;      /* per layer whose buffer is its own (not an alias, not a slice): its arena buffer; else -1 */
    ArenaBuf *bufs;
    int n_bufs;
    int64_t act_bytes, bound_bytes, unplanned, scratch_bytes, image_bytes;

    DeployArray *arrays;
    int n_arrays, cap_arrays;
    int64_t weight_floats;   /* 4-byte words: each array's bytes rounded up */
    int64_t weight_count[3]; /* values of each DeployType */
    int64_t float_weight_bytes, float_arena_bytes; /* int8: the float net's, for the report */
    char need[64];    /* deploy/nn.c's and nnq.c's sections the net uses (deploy_emit.c) */
    FILE *f;          /* the file being written */

    /* --quantize int8 */
    bool int8;        /* writing the int8 net (else the float one: also the int8 net's calibration) */
    bool taps;        /* forward calls netc_tap with every layer's output (calibration and report builds) */
    int emitting;     /* the layer whose forward is being written (deploy_out names its converted inputs), or -1 */
    DeployTemp *temps;
    int n_temps, cap_temps;
    DeployStats *stats; /* per layer */
    const char *work;   /* the calibration's folder (removed at the end) */
    int n_calibrated;   /* images it ran */
    double calib_top1;  /* the float net's top-1 on them */
    const char *report_what; /* the images the report runs */
    const char *float_flags; /* the compiler's flags for the tapped float net (calibrate.c) */
};

/* The layer whose buffer holds layer i's output (following aliases). */
int deploy_owner(const Deploy *d, int i);
/* Where layer i's own buffer (or its slice of a concat's) starts in the arena. */
int64_t deploy_at(const Deploy *d, int i);
int64_t deploy_weight_bytes(const Deploy *d);
/* Writes the files; 0, or -1 after saying why. */
int deploy_write(Deploy *d);
/* Plans the arena (deploy.c): after prepare, and again for the int8 net. */
void deploy_plan_arena(Deploy *d);

/* int8 (deploy_quant.c, deploy_calib.c): which layers run int8 and where
 * conversions go; the float net run on training images for every output's
 * range; scales from them; the report of each layer's error. 0, or -1
 * after saying why. */
int deploy_quant_decide(Deploy *d);
int deploy_calibrate(Deploy *d);
int deploy_quant_params(Deploy *d);
int deploy_quant_report(Deploy *d);
void deploy_quant_cleanup(Deploy *d);
/* -d quant: the int8 net's scales, zero points and multipliers (after its layers are prepared). */
void deploy_quant_dump(const Deploy *d, FILE *f);

#endif
