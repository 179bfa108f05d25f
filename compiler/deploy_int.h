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
    const float *v;
    int64_t n;
    int64_t offset; /* --weights-file: floats from the start of the weights */
} DeployArray;

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
    int64_t weight_floats;
    char need[32];    /* deploy/nn.c's sections the net uses (deploy_emit.c) */
    FILE *f;          /* the file being written */
};

/* The layer whose buffer holds layer i's output (following aliases). */
int deploy_owner(const Deploy *d, int i);
/* Where layer i's own buffer (or its slice of a concat's) starts in the arena. */
int64_t deploy_at(const Deploy *d, int i);
/* Writes the files; 0, or -1 after saying why. */
int deploy_write(Deploy *d);

#endif
