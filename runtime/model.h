/* model.h: a net's memory, its initial weights, and weight files.
 *
 * One Model holds every arena the generated code touches (netc.h). Weight
 * files are safetensors with the .net file's names ("conv1.weight"), so
 * PyTorch reads them as a state dict. */
#ifndef NETC_MODEL_H
#define NETC_MODEL_H

#include "netc.h"
#include "util.h"

/* Allocates every arena for `batch` images and `threads` threads. */
Model *model_new(const NetcNet *net, int batch, int threads);
void model_free(Model *m);

/* Each tensor as its .net file says (kaiming, pytorch, constant...),
 * drawn from rng_for(seed, tensor index): the same seed, the same weights. */
void model_init(Model *m, uint64_t seed);

/* Tensors whose layer says `load NAME` from a pretrained safetensors file
 * (torchvision names); shapes checked, the message names layer, tensor and
 * both shapes. Returns the number of tensors loaded, or -1. */
int model_load_pretrained(Model *m, const char *path, Error *e);

/* Our own weight files: every tensor by name, shapes exact. A file from
 * another net is refused with both nets' names. */
int model_load_weights(Model *m, const char *path, Error *e);
/* Writes every tensor (statistics included), plus metadata, atomically. */
int model_save_weights(const Model *m, const char *path, const char *const *meta, Error *e);

/* The batch between PyTorch's layout and ours: m->input from [n][c][h][w],
 * and a layer's output (NetcNet.layers[layer]) to [n][c][h][w]. */
void model_put_input(Model *m, const float *nchw, int n);
void model_get_output(const Model *m, int layer, float *nchw, int n);
/* The classifier's output (the loss layer's input) as [n][classes]. */
void model_get_logits(const Model *m, float *out, int n);

const NetcTensor *net_tensor(const NetcNet *net, const char *name);
/* A layer by name; a block instance's name means its last layer. -1 if none. */
int net_layer_index(const NetcNet *net, const char *name);
/* Does a file tensor's shape fit ours? Trailing 1s may differ ([15, 512] and
 * [15, 512, 1, 1] hold the same numbers in the same order). */
int shape_fits(const int64_t *file_shape, int file_ndim, const int *shape, int ndim);

#endif
