/* netc_gen.h: what generated code includes: the contract (netc.h), the
 * libraries it calls, and the few helpers its loops use. */
#ifndef NETC_GEN_H
#define NETC_GEN_H

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h"
#include "netc.h"
#include "netc_vec.h" /* NETC_VW, netc_vf: a direct convolution's strips of outputs are one vector */
#include "rng.h"
#include "winograd.h"

/* A resize's output pixel along one side: it mixes input pixels i0 and i1 by weights w0 and w1. */
typedef struct {
    int i0, i1;
    float w0, w1;
} NetcTap;

/* A layer's slice of an arena. Activations and their gradients hold
 * m->batch images each; parameters and statistics do not depend on the batch. */
#define ACT(off) (m->acts + (long)(off) * m->batch)
#define GRAD(off) (m->dacts + (long)(off) * m->batch)
#define INDEX(off) (m->index + (long)(off) * m->batch)
#define MASK(off) (m->masks + (long)(off) * m->batch)
#define PARAM(off) (m->params + (off))
#define PGRAD(off) (m->grads + (off))
#define SAVED(off) (m->saved + (off))

/* After each layer: the profile command times it, and data-parallel training
 * starts the allreduce of the gradients backward has finished (netc.h);
 * otherwise this is one branch per layer. */
#define PROFILE(k, pass)                                             \
    do {                                                             \
        if (m->profile || m->dist) netc_layer_done(m, (k), (pass)); \
    } while (0)

/* max(v, 0) as a compare and select, which vectorises (fmaxf's NaN rules keep it scalar) */
static inline float netc_relu(float v) { return v > 0.0f ? v : 0.0f; }
/* the leaky relu: slope * v below 0 */
static inline float netc_leaky_relu(float v, float slope) { return v > 0.0f ? v : slope * v; }
/* max(a, v) where a NaN wins, as max pooling does in PyTorch. Written as two
 * selects that vectorise (a > v ? a : v is maxps, which returns v if either
 * is NaN; the second keeps a NaN already in a). */
static inline float netc_maxnan(float a, float v) {
    float m = a > v ? a : v;
    return a != a ? a : m;
}

static inline long netc_min(long a, long b) { return a < b ? a : b; }
static inline long netc_max(long a, long b) { return a > b ? a : b; }
static inline int netc_clamp(long v, long lo, long hi) { return (int)(v < lo ? lo : v > hi ? hi : v); }
/* Sums of n floats, in float lanes the compiler vectorises, blocks added in
 * double: fast, accurate for millions of values, and the same every run. */
static inline double netc_sum(const float *x, long n) {
    double total = 0.0;
    for (long start = 0; start < n; start += 4096) {
        long end = start + 4096 < n ? start + 4096 : n, i = start;
        float lane[16] = {0};
        for (; i + 16 <= end; i += 16)
            for (int k = 0; k < 16; k++) lane[k] += x[i + k];
        for (; i < end; i++) lane[0] += x[i];
        for (int k = 0; k < 16; k++) total += lane[k];
    }
    return total;
}

/* sum of (x - mean)^2 */
static inline double netc_sum_sq_dev(const float *x, long n, float mean) {
    double total = 0.0;
    for (long start = 0; start < n; start += 4096) {
        long end = start + 4096 < n ? start + 4096 : n, i = start;
        float lane[16] = {0};
        for (; i + 16 <= end; i += 16)
            for (int k = 0; k < 16; k++) lane[k] += (x[i + k] - mean) * (x[i + k] - mean);
        for (; i < end; i++) lane[0] += (x[i] - mean) * (x[i] - mean);
        for (int k = 0; k < 16; k++) total += lane[k];
    }
    return total;
}

/* A batch norm's statistics of channel c (of C) from the sum of its total
 * values and the sum of their squared deviations: its mean and 1/std kept
 * in saved[c] and saved[C + c] for backward, and the running mean and the
 * (unbiased, as in PyTorch) running variance moved by momentum. */
static inline void netc_bn_stats(float *saved, float *running_mean, float *running_var, int c, int C, double sum, double dev,
                                 long total, float momentum, float eps) {
    float mean = (float)(sum / (double)total), var = (float)(dev / (double)total);
    saved[c] = mean, saved[C + c] = 1.0f / sqrtf(var + eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var * (float)total / (float)netc_max(total - 1, 1);
}

/* A batch norm backward's two sums in one pass over its three inputs:
 * *sdy = sum of dy, *sdyx = sum of dy * (x - mean), where dy counts as is
 * where y > 0 and times slope elsewhere if y is given (a fused relu's
 * backward, slope 0; a leaky relu's, its slope), everywhere if y is NULL. */
static inline void netc_dy_sums_leaky(const float *dy, const float *y, float slope, const float *x, long n, float mean,
                                      double *sdy, double *sdyx) {
    double s = 0.0, sx = 0.0;
    for (long start = 0; start < n; start += 4096) {
        long end = start + 4096 < n ? start + 4096 : n, i = start;
        float lane[16] = {0}, lanex[16] = {0};
        for (; i + 16 <= end; i += 16)
            for (int k = 0; k < 16; k++) {
                float d = !y || y[i + k] > 0.0f ? dy[i + k] : slope != 0.0f ? slope * dy[i + k] : 0.0f;
                lane[k] += d, lanex[k] += d * (x[i + k] - mean);
            }
        for (; i < end; i++) {
            float d = !y || y[i] > 0.0f ? dy[i] : slope != 0.0f ? slope * dy[i] : 0.0f;
            lane[0] += d, lanex[0] += d * (x[i] - mean);
        }
        for (int k = 0; k < 16; k++) s += lane[k], sx += lanex[k];
    }
    *sdy = s, *sdyx = sx;
}

static inline void netc_dy_sums(const float *dy, const float *y, const float *x, long n, float mean, double *sdy, double *sdyx) {
    netc_dy_sums_leaky(dy, y, 0.0f, x, n, mean, sdy, sdyx);
}

/* floor and ceiling of a / b for b > 0, also for negative a */
static inline long netc_floordiv(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline long netc_ceildiv(long a, long b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

#endif
