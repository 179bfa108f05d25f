/* test_deploy_int8.c: deploy/nnq.c, the int8 kernels of netc --deploy
 * --quantize int8, against plain integer loops: exact results, byte for byte.
 *
 * The weights are packed, and the multipliers made, by netc's own code
 * (compiler/deploy_quant.c); the references below are written from the
 * definitions (gemmlowp's rounding doubling high multiply and rounding
 * divide by a power of two, TFLite's add), not from nnq.c. Built several
 * times (Makefile): with this machine's vectors (AVX512-VNNI on Zen 4), at
 * AVX2 (the vpmaddwd path), without vectors (plain C99, as on a Cortex-M) and
 * on two OpenMP threads. Shapes leave partial blocks and panels everywhere:
 * output channels not a multiple of 8, pixel counts not a multiple of a
 * panel, padding (the input's zero point), strides, groups and depthwise,
 * reductions not a multiple of 4. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wunused-function" /* nn.c's float kernels, unused here */
#include "../deploy/nn.c"
#include "../deploy/nnq.c"
#include "deploy.h"
#include "kind.h"
#include "pool.h"

static unsigned seed = 4242;
static uint32_t next_u32(void) {
    seed = seed * 1664525u + 1013904223u;
    return seed;
}
static int rand_in(int lo, int hi) { return lo + (int)(next_u32() >> 8) % (hi - lo + 1); } /* lo..hi */
static uint8_t *rand_bytes(long n, int lo, int hi) {
    uint8_t *p = malloc((size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = (uint8_t)rand_in(lo, hi);
    return p;
}
static int8_t *rand_weights(long n) {
    int8_t *p = malloc((size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = (int8_t)rand_in(-127, 127);
    return p;
}

/* ---- the reference arithmetic -------------------------------------------------------------- */

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a b + nudge) / 2^31, the
 * division truncating, the nudge half of 2^31 toward a b's sign. */
static int32_t ref_high_mul(int32_t a, int32_t b) {
    int64_t ab = (int64_t)a * b, nudge = ab >= 0 ? (1 << 30) : 1 - (1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp's RoundingDivideByPOT: x / 2^e, ties away from zero. */
static int32_t ref_divide_pot(int32_t x, int e) {
    int32_t mask = (int32_t)(((int64_t)1 << e) - 1), rem = x & mask, threshold = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > threshold);
}

/* x mult 2^(shift - 31): TFLite's MultiplyByQuantizedMultiplier, the left
 * shift saturating (x clamped to what 2^shift leaves room for). */
static int32_t ref_rq(int32_t x, int32_t mult, int32_t shift) {
    if (shift > 0) {
        int64_t lim = (int64_t)1 << (31 - shift), y = x;
        y = y >= lim ? lim - 1 : y < -lim ? -lim : y;
        x = (int32_t)(y * ((int64_t)1 << shift));
    }
    return ref_divide_pot(ref_high_mul(x, mult), shift > 0 ? 0 : shift < -31 ? 31 : -shift);
}

static uint8_t ref_byte(int64_t sum, int32_t mult, int32_t shift, const NnQOut *o) {
    int32_t y = ref_rq((int32_t)sum, mult, shift);
    if (o->neg_mult && y < 0) y = ref_rq(y, o->neg_mult, o->neg_shift);
    y += o->zp;
    return (uint8_t)(y < o->lo ? o->lo : y > 255 ? 255 : y);
}

/* A random requantisation of a layer: a multiplier per channel, mostly under 1 (to bytes from
 * sums), now and then over 1 (the shift left), and an output with or without a relu. */
static int32_t *rand_requant(int oc, double lo, double hi) {
    int32_t *rq = malloc(sizeof(int32_t) * 2 * (size_t)oc);
    for (int o = 0; o < oc; o++) {
        double real = exp(log(lo) + (log(hi) - log(lo)) * (next_u32() >> 8) / 16777216.0);
        deploy_multiplier(real, &rq[2 * o], &rq[2 * o + 1]);
    }
    return rq;
}

static int32_t *rand_bias(int oc) {
    int32_t *b = malloc(sizeof(int32_t) * (size_t)oc);
    for (int o = 0; o < oc; o++) b[o] = rand_in(-200000, 200000);
    return b;
}

/* ---- the rounding itself ------------------------------------------------------------------- */

static void test_rq(void **state) {
    (void)state;
    static const int32_t edge[] = {0, 1, -1, 2, -2, 3, -3, 255, -255, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN + 1, INT32_MIN, 12345678, -12345678};
    long checked = 0, off_half = 0;
    for (int t = 0; t < 200000; t++) {
        int32_t x = t < 16 * 8 ? edge[t % 16] : (int32_t)next_u32() >> rand_in(0, 30), mult, shift;
        double real = t % 8 == 7 ? 1 + rand_in(0, 1000) / 10.0 : exp(-rand_in(0, 2000) / 100.0);
        deploy_multiplier(real, &mult, &shift);
        int32_t got = nn_rq(x, mult, shift), want = ref_rq(x, mult, shift);
        if (got != want) fail_msg("nn_rq(%d, %d, %d) = %d, gemmlowp's rounding gives %d", x, mult, shift, got, want);
        /* and it is the real product rounded twice (the high multiply's, then the shift's): within
         * one of it, past a half now and then */
        double exact = (double)x * mult * ldexp(1, shift - 31);
        if (shift <= 0) {
            if (fabs(got - exact) > 1) fail_msg("nn_rq(%d, %d, %d) = %d, the exact product %.3f", x, mult, shift, got, exact);
            off_half += fabs(got - exact) > 0.5 + 1e-9;
        }
        checked++;
    }
    /* the vector form, lane by lane */
#if NN_VW > 1
    for (int t = 0; t < 20000; t++) {
        nn_vi x;
        int32_t mult, shift;
        deploy_multiplier(t % 5 == 4 ? 1 + rand_in(0, 300) / 7.0 : exp(-rand_in(0, 2000) / 100.0), &mult, &shift);
        for (int j = 0; j < NN_VW; j++) x[j] = (int32_t)next_u32() >> rand_in(0, 30);
        nn_vi y = nn_vrq(x, mult, shift);
        for (int j = 0; j < NN_VW; j++)
            if (y[j] != ref_rq(x[j], mult, shift)) fail_msg("nn_vrq lane %d: %d, want %d (x %d mult %d shift %d)", j, y[j], ref_rq(x[j], mult, shift), x[j], mult, shift);
    }
#endif
    printf("nn_rq: %ld products as gemmlowp rounds them, within 1 of the exact product (%ld by more than a half)\n", checked,
           off_half);
}

static void test_multiplier(void **state) {
    (void)state;
    /* real = mult 2^(shift - 31), mult in [2^30, 2^31), to a Q31 number's precision */
    for (int t = 0; t < 10000; t++) {
        double real = exp((rand_in(0, 3000) - 2000) / 100.0); /* 2e-9 .. 2e4 */
        int32_t mult, shift;
        deploy_multiplier(real, &mult, &shift);
        assert_true(mult >= (1 << 30));
        double back = mult * ldexp(1, shift - 31);
        assert_true(fabs(back - real) <= real * ldexp(1, -30));
    }
    int32_t mult, shift;
    deploy_multiplier(0, &mult, &shift);
    assert_int_equal(mult, 0);
    deploy_multiplier(1e-10, &mult, &shift); /* under 2^-32: no int32 sum shows it */
    assert_int_equal(mult, 0);
    assert_int_equal(nn_rq(INT32_MAX, mult, shift), 0);
}

/* ---- convolutions and products ------------------------------------------------------------- */

typedef struct {
    int c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, groups;
    int leaky, relu;
} QShape;

static const QShape convs[] = {
    {1, 64, 64, 10, 56, 56, 9, 9, 1, 1, 0, 0, 1, 0, 0},    /* SimpleNet's conv1: k = 81, not a multiple of 4 */
    {16, 13, 11, 20, 13, 11, 3, 3, 1, 1, 1, 1, 1, 0, 1},   /* padded 3x3 under a relu, partial panels and blocks */
    {24, 7, 9, 16, 7, 9, 1, 1, 1, 1, 0, 0, 1, 0, 1},       /* 1x1 (the rows as they are) */
    {13, 8, 8, 8, 8, 8, 1, 1, 1, 1, 0, 0, 1, 0, 0},        /* 1x1, k = 13, whole panels */
    {3, 23, 23, 12, 9, 9, 7, 7, 2, 2, 0, 0, 1, 0, 1},      /* SqueezeNet's conv1 kind: 7x7 stride 2 */
    {8, 9, 7, 6, 9, 7, 3, 3, 1, 1, 1, 1, 2, 1, 0},         /* groups, a leaky relu */
    {12, 10, 10, 12, 5, 5, 3, 3, 2, 2, 1, 1, 12, 0, 1},    /* depthwise, stride 2 */
    {5, 6, 10, 9, 3, 4, 2, 3, 2, 3, 1, 2, 1, 0, 1},        /* uneven kernel, strides and padding */
    {64, 13, 13, 17, 13, 13, 1, 1, 1, 1, 0, 0, 1, 0, 1},   /* a SqueezeNet squeeze's kind: 169 pixels */
};

/* The sums of conv p on bytes in (padding = zp) with weights w [oc][c/groups][kh][kw]. */
static int64_t conv_sum(const QShape *p, const uint8_t *in, int zp, const int8_t *w, int o, int oy, int ox) {
    int cg = p->c / p->groups, g = o / (p->oc / p->groups);
    int64_t s = 0;
    for (int c = 0; c < cg; c++)
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                int iy = oy * p->sh - p->ph + ky, ix = ox * p->sw - p->pw + kx;
                int v = iy < 0 || iy >= p->h || ix < 0 || ix >= p->w ? zp : in[((long)(g * cg + c) * p->h + iy) * p->w + ix];
                s += (int64_t)v * w[((long)(o * cg + c) * p->kh + ky) * p->kw + kx];
            }
    return s;
}

static NnQOut rand_out(int relu, int leaky) {
    NnQOut q = {.zp = rand_in(0, 255)};
    if (relu) q.lo = q.zp;
    if (leaky) deploy_multiplier(0.1, &q.neg_mult, &q.neg_shift);
    return q;
}

static void test_qconv(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof convs / sizeof convs[0]; t++)
        for (int as_float = 0; as_float < 2; as_float++) {
            const QShape *p = &convs[t];
            int cg = p->c / p->groups;
            long n_in = (long)p->c * p->h * p->w, n_w = (long)p->oc * cg * p->kh * p->kw, n_out = (long)p->oc * p->oh * p->ow;
            NnQConv q = {{p->c, p->h, p->w, p->oc, p->oh, p->ow, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->groups, 0, 0},
                         rand_in(0, 255), rand_out(p->relu, p->leaky)};
            uint8_t *in = rand_bytes(n_in, 0, 255);
            int8_t *w = rand_weights(n_w), *packed = deploy_qpack_conv(w, p->oc, cg, p->kh, p->kw, p->groups);
            assert_int_equal(deploy_qconv_packed(p->oc, cg, p->kh, p->kw, p->groups) % (NN_QMR * 4), 0);
            int32_t *bias = rand_bias(p->oc), *rq = rand_requant(p->oc, 1e-6, 5e-4);
            float *fs = malloc(sizeof(float) * (size_t)p->oc);
            for (int o = 0; o < p->oc; o++) fs[o] = (float)(rand_in(1, 1000) * 1e-6);
            size_t scratch_bytes = (size_t)NN_THREADS * NN_QCONV_SCRATCH(cg, p->kh, p->kw);
            uint8_t *scratch = malloc(scratch_bytes);
            memset(scratch, 0xA5, scratch_bytes);
            void *out = malloc(sizeof(float) * (size_t)n_out);
            memset(out, 0xEE, sizeof(float) * (size_t)n_out);
            nn_qconv(&q, out, in, packed, bias, as_float ? NULL : rq, as_float ? fs : NULL, scratch);
            long clamped = 0;
            for (int o = 0; o < p->oc; o++)
                for (int oy = 0; oy < p->oh; oy++)
                    for (int ox = 0; ox < p->ow; ox++) {
                        long at = ((long)o * p->oh + oy) * p->ow + ox;
                        int64_t s = conv_sum(p, in, q.in_zp, w, o, oy, ox) + bias[o];
                        if (as_float) {
                            float want = (float)s * fs[o], got = ((float *)out)[at];
                            if (got != want) fail_msg("conv %zu: float out[%d][%d][%d] = %.9g, want %.9g", t, o, oy, ox, got, want);
                        } else {
                            uint8_t want = ref_byte(s, rq[2 * o], rq[2 * o + 1], &q.q), got = ((uint8_t *)out)[at];
                            if (got != want) fail_msg("conv %zu: out[%d][%d][%d] = %d, want %d (sum %lld)", t, o, oy, ox, got, want, (long long)s);
                            clamped += want == 0 || want == 255 || want == q.q.lo;
                        }
                    }
            if (!as_float) {
                printf("conv %zu (%dx%dx%d -> %d, %dx%d/%d, groups %d): %ld bytes exact (%ld at a clamp)\n", t, p->c, p->h, p->w, p->oc, p->kh, p->kw,
                       p->sh, p->groups, n_out, clamped);
                assert_true(clamped < n_out); /* the multipliers leave most bytes inside the range */
            }
            free(in), free(w), free(bias), free(rq), free(fs), free(scratch), free(out);
        }
}

static void test_qlinear(void **state) {
    (void)state;
    static const int sizes[][2] = {{640, 15}, {1, 3}, {63, 9}, {64, 8}, {129, 17}, {4096, 10}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++)
        for (int as_float = 0; as_float < 2; as_float++) {
            int k = sizes[t][0], n = sizes[t][1];
            NnQLinear p = {k, n, rand_in(0, 255), rand_out((int)t % 2, 0)};
            uint8_t *x = rand_bytes(k, 0, 255);
            int8_t *w = rand_weights((long)k * n);
            int32_t *bias = rand_bias(n), *rq = rand_requant(n, 1e-5, 1e-2);
            float fs[32], out[32];
            for (int o = 0; o < n; o++) fs[o] = (float)(rand_in(1, 1000) * 1e-6);
            nn_qlinear(&p, out, x, w, bias, as_float ? NULL : rq, as_float ? fs : NULL);
            for (int o = 0; o < n; o++) {
                int64_t s = bias[o];
                for (int i = 0; i < k; i++) s += (int64_t)x[i] * w[(long)o * k + i];
                if (as_float) assert_true(out[o] == (float)s * fs[o]);
                else assert_int_equal(((uint8_t *)out)[o], ref_byte(s, rq[2 * o], rq[2 * o + 1], &p.q));
            }
            free(x), free(w), free(bias), free(rq);
        }
}

/* ---- pools, add, conversions --------------------------------------------------------------- */

static void test_qpools(void **state) {
    (void)state;
    static const NnPool pools[] = {
        {10, 56, 56, 8, 8, 7, 7, 7, 7, 0, 0, 0, 0}, /* SimpleNet's 7x7 stride 7 */
        {6, 16, 16, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0},  /* 2x2 */
        {5, 13, 13, 6, 6, 3, 3, 2, 2, 0, 0, 0, 0},  /* SqueezeNet's 3x3 stride 2 */
        {3, 7, 7, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0},    /* padding: the zero point counts in an average */
        {4, 9, 9, 5, 5, 3, 3, 2, 2, 0, 0, 0, 0},    /* ceil mode: the last window past the edge */
    };
    for (size_t t = 0; t < sizeof pools / sizeof pools[0]; t++)
        for (int kind = 0; kind < 3; kind++) { /* max, max under a leaky relu, average */
            const NnPool *p = &pools[t];
            NnQPool q = {*p, rand_out(kind == 0, kind == 1)};
            long n_in = (long)p->c * p->h * p->w, n_out = (long)p->c * p->oh * p->ow;
            uint8_t *in = rand_bytes(n_in, 0, 255), *out = malloc((size_t)n_out);
            if (kind == 2) nn_qavgpool(&q, out, in);
            else nn_qmaxpool(&q, out, in);
            for (int c = 0; c < p->c; c++)
                for (int oy = 0; oy < p->oh; oy++)
                    for (int ox = 0; ox < p->ow; ox++) {
                        int ys = oy * p->sh - p->ph, xs = ox * p->sw - p->pw, best = -1, cells = 0;
                        int64_t sum = 0;
                        for (int y = ys; y < ys + p->kh && y < p->h + p->ph; y++)
                            for (int x = xs; x < xs + p->kw && x < p->w + p->pw; x++) {
                                bool inside = y >= 0 && y < p->h && x >= 0 && x < p->w;
                                int v = inside ? in[((long)c * p->h + y) * p->w + x] : q.q.zp;
                                cells++, sum += v;
                                if (inside && v > best) best = v;
                            }
                        int want = kind == 2 ? (int)((2 * sum + cells) / (2 * cells)) : best; /* the mean rounded half up */
                        if (q.q.neg_mult && want < q.q.zp) want = q.q.zp + ref_rq(want - q.q.zp, q.q.neg_mult, q.q.neg_shift);
                        if (want < q.q.lo) want = q.q.lo;
                        int got = out[((long)c * p->oh + oy) * p->ow + ox];
                        if (got != want) fail_msg("pool %zu kind %d: out[%d][%d][%d] = %d, want %d", t, kind, c, oy, ox, got, want);
                    }
            free(in), free(out);
        }
}

/* Bilinear resizing on bytes: netc's taps in fixed point, against the
 * integer mix of the four bytes written out (rounded half up), and within one
 * step of the float mix. */
static NnQTap *q_taps(long n, long m) {
    ResizeTap *t = resize_taps(n, m);
    NnQTap *p = malloc(sizeof(NnQTap) * (size_t)m);
    for (long o = 0; o < m; o++) {
        int32_t w1 = (int32_t)resize_qweight(t[o].w1);
        p[o] = (NnQTap){(int)t[o].i0, (int)t[o].i1, RESIZE_QONE - w1, w1};
    }
    return p;
}

static void test_qresize(void **state) {
    (void)state;
    static const int sizes[][5] = {{3, 227, 227, 291, 291}, {4, 8, 10, 11, 13}, {2, 9, 11, 3, 4}, {2, 9, 11, 4, 11}};
    for (int t = 0; t < 4; t++)
        for (int kind = 0; kind < 3; kind++) { /* plain, under a relu, under a leaky relu */
            const int *k = sizes[t];
            NnQResize p = {k[0], k[1], k[2], k[3], k[4], q_taps(k[1], k[3]), q_taps(k[2], k[4]), rand_out(kind == 1, kind == 2)};
            ResizeTap *ty = resize_taps(p.h, p.oh), *tx = resize_taps(p.w, p.ow);
            long n_in = (long)p.c * p.h * p.w, n_out = (long)p.c * p.oh * p.ow;
            uint8_t *in = rand_bytes(n_in, 0, 255), *out = malloc((size_t)n_out);
            nn_qresize(&p, out, in);
            for (int c = 0; c < p.c; c++)
                for (int oy = 0; oy < p.oh; oy++)
                    for (int ox = 0; ox < p.ow; ox++) {
                        const uint8_t *x = in + (long)c * p.h * p.w;
                        NnQTap r = p.rows[oy], q = p.cols[ox];
                        int64_t s = (int64_t)r.w0 * (q.w0 * x[r.i0 * p.w + q.i0] + q.w1 * x[r.i0 * p.w + q.i1]) +
                                    (int64_t)r.w1 * (q.w0 * x[r.i1 * p.w + q.i0] + q.w1 * x[r.i1 * p.w + q.i1]);
                        int want = (int)((s + (1 << 21)) >> 22), got = out[((long)c * p.oh + oy) * p.ow + ox];
                        /* the float mix of the same bytes, as the float net computes it */
                        double top = tx[ox].w0 * x[ty[oy].i0 * p.w + tx[ox].i0] + tx[ox].w1 * x[ty[oy].i0 * p.w + tx[ox].i1];
                        double bot = tx[ox].w0 * x[ty[oy].i1 * p.w + tx[ox].i0] + tx[ox].w1 * x[ty[oy].i1 * p.w + tx[ox].i1];
                        double exact = ty[oy].w0 * top + ty[oy].w1 * bot;
                        if (fabs(want - exact) > 1)
                            fail_msg("resize %d: out[%d][%d][%d]'s mix %d is more than a step from %.3f", t, c, oy, ox, want, exact);
                        if (p.q.neg_mult && want < p.q.zp) want = p.q.zp + ref_rq(want - p.q.zp, p.q.neg_mult, p.q.neg_shift);
                        if (want < p.q.lo) want = p.q.lo;
                        if (got != want) fail_msg("resize %d kind %d: out[%d][%d][%d] = %d, want %d", t, kind, c, oy, ox, got, want);
                    }
            free(in), free(out), free((void *)p.rows), free((void *)p.cols);
        }
}

static void test_qgap(void **state) {
    (void)state;
    NnQGap p = {.c = 19, .hw = 169, .in_zp = 37, .q = rand_out(0, 0)};
    deploy_multiplier(0.031 / (169 * 0.02), &p.mult, &p.shift);
    uint8_t *in = rand_bytes(19 * 169, 0, 255), out[19];
    nn_qgap(&p, out, in);
    for (int c = 0; c < p.c; c++) {
        int64_t s = 0;
        for (int i = 0; i < p.hw; i++) s += in[c * p.hw + i] - p.in_zp;
        assert_int_equal(out[c], ref_byte(s, p.mult, p.shift, &p.q));
    }
    free(in);
}

static void test_qadd(void **state) {
    (void)state;
    /* TFLite's add: each input less its zero point, times 2^20, to twice the largest scale; the sum to the output's */
    static const double scales[][3] = {{0.02, 0.05, 0}, {0.1, 0.1, 0}, {0.013, 0.2, 0.07}};
    for (int t = 0; t < 3; t++) {
        int k = scales[t][2] > 0 ? 3 : 2;
        long n = 1000 + t;
        double top = 0, out_scale = 0.08;
        NnQAdd p = {.n = n, .k = k, .q = rand_out(t == 1, 0)};
        for (int j = 0; j < k; j++) top = fmax(top, scales[t][j]);
        uint8_t *in[3], *out = malloc((size_t)n);
        for (int j = 0; j < k; j++) {
            p.zp[j] = rand_in(0, 255);
            deploy_multiplier(scales[t][j] / (2 * top), &p.mult[j], &p.shift[j]);
            in[j] = rand_bytes(n, 0, 255);
        }
        deploy_multiplier(2 * top / ((1 << 20) * out_scale), &p.out_mult, &p.out_shift);
        nn_qadd(&p, out, (const uint8_t *const *)in);
        long near = 0;
        for (long i = 0; i < n; i++) {
            int64_t s = 0;
            double real = 0;
            for (int j = 0; j < k; j++) {
                s += ref_rq((in[j][i] - p.zp[j]) * (1 << 20), p.mult[j], p.shift[j]);
                real += scales[t][j] * (in[j][i] - p.zp[j]);
            }
            uint8_t want = ref_byte(s, p.out_mult, p.out_shift, &p.q);
            assert_int_equal(out[i], want);
            /* and it is the real sum at the output's scale, rounded (within a step, where not clamped) */
            double ideal = real / out_scale + p.q.zp;
            if (ideal > p.q.lo + 1 && ideal < 254) near += fabs(want - ideal) <= 0.5 + 1e-3;
            else near++;
        }
        assert_int_equal(near, n);
        for (int j = 0; j < k; j++) free(in[j]);
        free(out);
    }
}

static void test_qconvert(void **state) {
    (void)state;
    /* floats to bytes: round to nearest, ties away from zero, clamped; NaN to 0 */
    float in[] = {0.0f, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 1000.0f, -1000.0f, NAN, 0.02f * 37, 3.0e9f, -3.0e9f};
    uint8_t q[12];
    nn_quantize(12, q, in, 1.0f, 100);
    static const uint8_t want[] = {100, 101, 99, 101, 103, 97, 255, 0, 0, 101, 255, 0};
    assert_memory_equal(q, want, 12);
    /* bytes back to floats, exactly scale * (q - zp) */
    float back[12];
    nn_dequantize(12, back, q, 0.25f, 100);
    for (int i = 0; i < 12; i++) assert_true(back[i] == 0.25f * (float)(q[i] - 100));
    /* bytes to bytes of another scale, through a relu (a concat's copy, a relu of its own) */
    uint8_t *x = rand_bytes(777, 0, 255), y[777];
    NnQOut o = {.zp = 20, .lo = 20};
    int32_t mult, shift;
    deploy_multiplier(0.37, &mult, &shift);
    nn_requantize(777, y, x, 128, mult, shift, &o);
    for (int i = 0; i < 777; i++) assert_int_equal(y[i], ref_byte(x[i] - 128, mult, shift, &o));
    free(x);
}

/* netc's weight quantisation: symmetric per output channel, the largest magnitude to 127. */
static void test_qweights(void **state) {
    (void)state;
    float w[3 * 5] = {0.5f, -1.0f, 0.25f, 0, 0.1f, /* */ 0, 0, 0, 0, 0, /* */ 3.0f, 2.0f, -1.5f, 0.01f, -3.0f};
    float scale[3];
    int8_t *q = deploy_qweights(w, 3, 5, scale);
    static const int8_t want[15] = {64, -127, 32, 0, 13, 0, 0, 0, 0, 0, 127, 85, -64, 0, -127};
    assert_memory_equal(q, want, 15);
    assert_true(scale[0] == 1.0f / 127 && scale[2] == 3.0f / 127);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rq),     cmocka_unit_test(test_multiplier), cmocka_unit_test(test_qconv),
        cmocka_unit_test(test_qlinear), cmocka_unit_test(test_qpools),    cmocka_unit_test(test_qresize), cmocka_unit_test(test_qgap),
        cmocka_unit_test(test_qadd),   cmocka_unit_test(test_qconvert),   cmocka_unit_test(test_qweights),
    };
    printf("int8 kernels: %s, %d threads\n", NN_Q8_PATH, NN_THREADS);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
