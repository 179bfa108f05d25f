/* netc_gen.h: what generated code includes: the contract (netc.h), the
 * libraries it calls, and the few helpers its loops use. */
#ifndef NETC_GEN_H
#define NETC_GEN_H

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "netc.h"
#include "rng.h"

/* A layer's slice of an arena. Activations and their gradients hold
 * m->batch images each; parameters and statistics do not depend on the batch. */
#define ACT(off) (m->acts + (long)(off) * m->batch)
#define GRAD(off) (m->dacts + (long)(off) * m->batch)
#define INDEX(off) (m->index + (long)(off) * m->batch)
#define MASK(off) (m->masks + (long)(off) * m->batch)
#define PARAM(off) (m->params + (off))
#define PGRAD(off) (m->grads + (off))
#define SAVED(off) (m->saved + (off))

static inline long netc_min(long a, long b) { return a < b ? a : b; }
static inline long netc_max(long a, long b) { return a > b ? a : b; }
static inline int netc_clamp(long v, long lo, long hi) { return (int)(v < lo ? lo : v > hi ? hi : v); }
/* floor and ceiling of a / b for b > 0, also for negative a */
static inline long netc_floordiv(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline long netc_ceildiv(long a, long b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

#endif
