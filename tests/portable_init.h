/* portable_init.h: weights, inputs and labels that C and Python make alike.
 *
 * The comparisons against PyTorch need the same numbers on both sides without
 * committing them. Everything here draws from runtime/rng.h (splitmix64), and
 * tools/portable_init.py re-implements exactly the same draws with numpy's
 * uint64 arithmetic. Every value is computed in float32 by operations that are
 * exact or rounded once, so both sides get the same bits:
 *
 *   tensor NAME       stream rng_for(seed, PI_TENSOR, fnv1a64(NAME)), one draw per element
 *     conv / linear   (2u - 1) * b, b = (float)(gain / sqrt(fan_in)): gain 1 is PyTorch's default
 *                     bound; sqrt(6) keeps a deep relu net's signal alive (Kaiming's uniform)
 *     bn weight       0.5 + u          bn bias, running mean   (2u - 1) * 0.5
 *     running var     0.5 + u          (positive)
 *   input             stream rng_for(seed, PI_INPUT, 0): 2u - 1 per float, NCHW order
 *   labels            stream rng_for(seed, PI_LABELS, 0): rng_below(classes) per image
 *   sampled indices   stream rng_for(seed, PI_SAMPLE, fnv1a64(NAME)): rng_below(size) each
 *
 * where u = rng_uniform (24 random bits, exact in float). Keying tensors by
 * name, not by position, keeps a tensor's values when others are added. */
#ifndef PORTABLE_INIT_H
#define PORTABLE_INIT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netc.h"
#include "rng.h"

enum { PI_TENSOR = 0x7e50, PI_INPUT = 0x7e51, PI_LABELS = 0x7e52, PI_SAMPLE = 0x7e53 };

/* FNV-1a, 64 bits: a tensor name's stream key. */
static inline uint64_t pi_name_key(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static inline void pi_init_tensor(float *w, const NetcTensor *t, uint64_t seed, double gain) {
    Rng r = rng_for(seed, PI_TENSOR, pi_name_key(t->name));
    float b = (float)(gain / sqrt((double)(t->fan_in > 0 ? t->fan_in : 1)));
    for (long i = 0; i < t->size; i++) {
        float u = rng_uniform(&r);
        switch (t->role) {
        case ROLE_WEIGHT:
        case ROLE_BIAS: w[i] = (2.0f * u - 1.0f) * b; break;
        case ROLE_BN_WEIGHT:
        case ROLE_RUNNING_VAR: w[i] = 0.5f + u; break;
        case ROLE_BN_BIAS:
        case ROLE_RUNNING_MEAN: w[i] = (2.0f * u - 1.0f) * 0.5f; break;
        }
    }
}

/* Every tensor of the net, statistics included. */
static inline void pi_init_params(Model *m, uint64_t seed, double gain) {
    for (int t = 0; t < m->net->n_tensors; t++) pi_init_tensor(m->params + m->net->tensors[t].offset, &m->net->tensors[t], seed, gain);
}

/* n images, [n][in_c][in_h][in_w], uniform in [-1, 1) */
static inline void pi_init_input(float *x, const NetcNet *net, int n, uint64_t seed) {
    Rng r = rng_for(seed, PI_INPUT, 0);
    long count = (long)n * net->in_c * net->in_h * net->in_w;
    for (long i = 0; i < count; i++) x[i] = 2.0f * rng_uniform(&r) - 1.0f;
}

static inline void pi_init_labels(int *labels, int n, int classes, uint64_t seed) {
    Rng r = rng_for(seed, PI_LABELS, 0);
    for (int i = 0; i < n; i++) labels[i] = (int)rng_below(&r, (uint32_t)classes);
}

/* k indices into a tensor of `size` elements (repeats possible), the same
 * ones tools/torch_ref.py samples for a big tensor's gradient. */
static inline void pi_sample_indices(long *idx, int k, const char *name, long size, uint64_t seed) {
    Rng r = rng_for(seed, PI_SAMPLE, pi_name_key(name));
    for (int i = 0; i < k; i++) idx[i] = (long)rng_below(&r, (uint32_t)size);
}

/* The .net file's label_smoothing setting (tools/torch_ref.py reads the same line), or 0. */
static inline float pi_label_smoothing(const NetcNet *net) {
    for (int i = 0; net->settings[i]; i += 2)
        if (strcmp(net->settings[i], "label_smoothing") == 0) return strtof(net->settings[i + 1], NULL);
    return 0.0f;
}

#endif
