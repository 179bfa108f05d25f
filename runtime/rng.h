/* rng.h: the trainer's only source of randomness.
 *
 * Everything random (shuffles, augmentation, dropout masks, initialisation)
 * draws from a Rng seeded from the run's seed and *where* it is used
 * (epoch, sample, layer), never from a shared stream consumed in thread order.
 * That is what makes a run reproducible for a seed, whatever the threads do. */
#ifndef NETC_RNG_H
#define NETC_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t s;
} Rng;

/* splitmix64: tiny, fast, passes BigCrush, and any 64-bit state is valid. */
static inline uint64_t rng_next(Rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A generator for one use site: mix(seed, a, b) so streams never overlap. */
static inline Rng rng_for(uint64_t seed, uint64_t a, uint64_t b) {
    Rng r = {seed ^ 0x243F6A8885A308D3ull};
    uint64_t t = rng_next(&r); /* a statement of its own: r.s is read after the call, on every compiler */
    r.s ^= t + a * 0xD1B54A32D192ED03ull;
    t = rng_next(&r);
    r.s ^= t + b * 0x8CB92BA72F3D8DD7ull;
    rng_next(&r);
    return r;
}

/* uniform in [0, 1) with 24 random bits: exact in float */
static inline float rng_uniform(Rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* uniform integer in [0, n) */
static inline uint32_t rng_below(Rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32); }

/* a[0..n) in a uniformly random order (Fisher-Yates, from the last place down) */
static inline void rng_shuffle(Rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1), t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

/* standard normal (Box-Muller) */
static inline float rng_normal(Rng *r) {
    float u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

#endif
