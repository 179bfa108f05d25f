/* test_deploy_kernels.c: deploy/nn.c, the kernels of deployed nets, against
 * plain loops in double precision, with weights packed and transformed by
 * netc's own code (compiler/deploy_weights.c).
 *
 * Built several times (Makefile): with the vectors this machine has, with
 * AVX2's 8 lanes, without vectors (plain C99, as on a Cortex-M) and with
 * two OpenMP threads, so every width and the per-thread scratch are run.
 * Shapes leave partial panels and blocks everywhere: output channels not a
 * multiple of 8, pixel counts not a multiple of the panel, padding, strides,
 * groups, ceil-mode pools. Scratch and outputs start as NaN, so a read of
 * anything not written first shows. Prints the largest difference of each. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../deploy/nn.c"
#include "deploy.h"
#include "kind.h"
#include "pool.h"

static unsigned seed = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) / 8388608.0 - 1.0);
}
static float *randoms(long n) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = frand();
    return p;
}
static float *nans(long n) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static double act_ref(double v, int act, float slope) { return act == NN_RELU && !(v > 0) ? v * slope : v; }

/* The largest |got - want| over n values, relative to the largest |want| (at least 1). */
static double compare(const float *got, const double *want, long n, const char *what) {
    double worst = 0, scale = 1;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (long i = 0; i < n; i++) {
        if (isnan(got[i])) fail_msg("%s: value %ld is NaN (never written)", what, i);
        worst = fmax(worst, fabs(got[i] - want[i]) / scale);
    }
    return worst;
}

/* ---- convolutions --------------------------------------------------------------------- */

static const NnConv convs[] = {
    {1, 64, 64, 10, 56, 56, 9, 9, 1, 1, 0, 0, 1, NN_LINEAR, 0},  /* SimpleNet's conv1 */
    {16, 13, 11, 20, 13, 11, 3, 3, 1, 1, 1, 1, 1, NN_RELU, 0},   /* padded 3x3, partial panels and blocks */
    {24, 7, 9, 16, 7, 9, 1, 1, 1, 1, 0, 0, 1, NN_RELU, 0},       /* 1x1: read in place, a packed tail */
    {16, 8, 8, 8, 8, 8, 1, 1, 1, 1, 0, 0, 1, NN_LINEAR, 0},      /* 1x1 over whole panels */
    {3, 23, 23, 12, 9, 9, 7, 7, 2, 2, 0, 0, 1, NN_RELU, 0},      /* SqueezeNet's conv1 kind: 7x7 stride 2 */
    {8, 9, 7, 6, 9, 7, 3, 3, 1, 1, 1, 1, 2, NN_RELU, 0.1f},      /* groups, leaky relu */
    {10, 8, 8, 15, 1, 1, 8, 8, 1, 1, 0, 0, 1, NN_LINEAR, 0},     /* SimpleNet's fc: the kernel is the image */
    {5, 6, 10, 9, 3, 4, 2, 3, 2, 3, 1, 2, 1, NN_RELU, 0},        /* uneven kernel, strides and padding */
};

static void conv_ref(const NnConv *p, const float *in, const float *w, const float *bias, double *out) {
    int cg = p->c / p->groups, og = p->oc / p->groups;
    for (int o = 0; o < p->oc; o++) {
        int g = o / og;
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                double s = bias ? bias[o] : 0;
                for (int c = 0; c < cg; c++)
                    for (int ky = 0; ky < p->kh; ky++)
                        for (int kx = 0; kx < p->kw; kx++) {
                            int iy = oy * p->sh - p->ph + ky, ix = ox * p->sw - p->pw + kx;
                            if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                            s += (double)w[((o * cg + c) * p->kh + ky) * p->kw + kx] * in[((g * cg + c) * p->h + iy) * p->w + ix];
                        }
                out[(o * p->oh + oy) * p->ow + ox] = act_ref(s, p->act, p->slope);
            }
    }
}

static void test_conv(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof convs / sizeof convs[0]; t++) {
        const NnConv *p = &convs[t];
        int cg = p->c / p->groups;
        long nin = (long)p->c * p->h * p->w, nout = (long)p->oc * p->oh * p->ow, nw = (long)p->oc * cg * p->kh * p->kw;
        float *in = randoms(nin), *w = randoms(nw), *bias = randoms(p->oc), *out = nans(nout);
        float *scratch = nans(NN_THREADS * NN_CONV_SCRATCH(cg, p->kh, p->kw));
        double *want = malloc(sizeof(double) * (size_t)nout);
        const float *packed = deploy_pack_conv(w, p->oc, cg, p->kh, p->kw, p->groups);
        nn_conv(p, out, in, packed, t % 2 ? bias : NULL, scratch);
        conv_ref(p, in, w, t % 2 ? bias : NULL, want);
        double d = compare(out, want, nout, "conv");
        printf("conv %dx%dx%d -> %dx%dx%d, %dx%d stride %d pad %d groups %d: largest difference %.2e\n", p->w, p->h, p->c,
               p->ow, p->oh, p->oc, p->kw, p->kh, p->sw, p->pw, p->groups, d);
        assert_true(d < 1e-5);
        free(in), free(w), free(bias), free(out), free(scratch), free(want);
    }
    pool_free_all();
}

/* Direct loops: stride 1, few taps; strips that overlap at the right edge. */
static void test_conv_direct(void **state) {
    (void)state;
    static const NnConv directs[] = {
        {1, 64, 64, 10, 56, 56, 9, 9, 1, 1, 0, 0, 1, NN_LINEAR, 0}, /* SimpleNet's conv1 */
        {1, 64, 64, 32, 64, 64, 3, 3, 1, 1, 1, 1, 1, NN_RELU, 0},   /* DeeperNet's c1 */
        {3, 20, 19, 21, 18, 19, 5, 3, 1, 1, 1, 1, 1, NN_RELU, 0.3f}, /* rows not a multiple of any width; 21 channels */
    };
    for (size_t t = 0; t < sizeof directs / sizeof directs[0]; t++) {
        const NnConv *p = &directs[t];
        long nin = (long)p->c * p->h * p->w, nout = (long)p->oc * p->oh * p->ow, nw = (long)p->oc * p->c * p->kh * p->kw;
        float *in = randoms(nin), *w = randoms(nw), *bias = randoms(p->oc), *out = nans(nout);
        float *scratch = nans(NN_DIRECT_SCRATCH(p->c, p->h, p->w, p->ph, p->pw) + 1);
        double *want = malloc(sizeof(double) * (size_t)nout);
        nn_conv_direct(p, out, in, w, bias, scratch);
        conv_ref(p, in, w, bias, want);
        double d = compare(out, want, nout, "direct");
        printf("direct %dx%dx%d -> %dx%dx%d, %dx%d pad %d: largest difference %.2e\n", p->w, p->h, p->c, p->ow, p->oh, p->oc,
               p->kw, p->kh, p->pw, d);
        assert_true(d < 1e-5);
        free(in), free(w), free(bias), free(out), free(scratch), free(want);
    }
}

/* ---- Winograd ------------------------------------------------------------------------- */

static const NnWino winos[] = {
    {16, 13, 13, 20, NN_RELU, 0},  /* partial tiles, output blocks */
    {3, 7, 9, 5, NN_LINEAR, 0},    /* few channels */
    {32, 16, 16, 32, NN_RELU, 0},  /* whole tiles */
    {8, 1, 5, 3, NN_LINEAR, 0},    /* one row */
    {4, 9, 24, 6, NN_LINEAR, 0},   /* 18 tiles: lanes past the first vector */
    {17, 27, 27, 9, NN_RELU, 0.2f}, /* SqueezeNet's 27x27; leaky */
};

static void test_winograd(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof winos / sizeof winos[0]; t++) {
        const NnWino *p = &winos[t];
        NnConv as_conv = {p->c, p->h, p->w, p->oc, p->h, p->w, 3, 3, 1, 1, 1, 1, 1, p->act, p->slope};
        long nin = (long)p->c * p->h * p->w, nout = (long)p->oc * p->h * p->w;
        float *in = randoms(nin), *w = randoms((long)p->oc * p->c * 9), *bias = randoms(p->oc), *out = nans(nout);
        float *scratch = nans(NN_THREADS * NN_WINO_SCRATCH(p->c, p->oc));
        double *want = malloc(sizeof(double) * (size_t)nout);
        nn_wino(p, out, in, deploy_pack_wino(w, p->oc, p->c), bias, scratch);
        conv_ref(&as_conv, in, w, bias, want);
        double d = compare(out, want, nout, "winograd");
        printf("winograd %dx%dx%d -> %d: largest difference %.2e\n", p->w, p->h, p->c, p->oc, d);
        assert_true(d < 2e-5); /* F(4x4, 3x3) rounds a little more than a direct sum */
        free(in), free(w), free(bias), free(out), free(scratch), free(want);
    }
    pool_free_all();
}

/* ---- linear, pooling, add, scale, softmax ------------------------------------------------ */

static void test_linear(void **state) {
    (void)state;
    static const int sizes[][2] = {{640, 15}, {7, 3}, {1000, 9}, {512, 16}};
    for (int t = 0; t < 4; t++) {
        int in = sizes[t][0], outs = sizes[t][1];
        float *x = randoms(in), *w = randoms((long)in * outs), *b = randoms(outs), *out = nans(outs);
        double want[16];
        for (int o = 0; o < outs; o++) {
            double s = b[o];
            for (int i = 0; i < in; i++) s += (double)w[(long)o * in + i] * x[i];
            want[o] = act_ref(s, t % 2 ? NN_RELU : NN_LINEAR, 0);
        }
        nn_linear(in, outs, out, x, w, b, t % 2 ? NN_RELU : NN_LINEAR, 0);
        double d = compare(out, want, outs, "linear");
        printf("linear %d -> %d: largest difference %.2e\n", in, outs, d);
        assert_true(d < 1e-5);
        free(x), free(w), free(b), free(out);
    }
}

/* PyTorch's output size for a window, with its ceil-mode rule. */
static int pool_out(int in, int k, int s, int p, int ceil_mode) {
    int o = (in + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

static void test_pools(void **state) {
    (void)state;
    static const int cases[][7] = {
        /* c, h=w, k, s, p, ceil, act */
        {4, 111, 3, 2, 0, 1, 0}, /* SqueezeNet's pool1 */
        {3, 56, 7, 7, 0, 0, 1},  /* SimpleNet's pool1, then its relu */
        {2, 13, 2, 2, 0, 0, 0},  /* an odd side, floor */
        {2, 10, 3, 2, 1, 1, 0},  /* padded, ceil */
    };
    for (int t = 0; t < 4; t++) {
        const int *k = cases[t];
        int o = pool_out(k[1], k[2], k[3], k[4], k[5]);
        NnPool p = {k[0], k[1], k[1], o, o, k[2], k[2], k[3], k[3], k[4], k[4], k[6], 0};
        long nin = (long)p.c * p.h * p.w, nout = (long)p.c * o * o;
        float *in = randoms(nin), *mx = nans(nout), *av = nans(nout);
        double *wmax = malloc(sizeof(double) * (size_t)nout), *wavg = malloc(sizeof(double) * (size_t)nout);
        for (int c = 0; c < p.c; c++)
            for (int oy = 0; oy < o; oy++)
                for (int ox = 0; ox < o; ox++) {
                    int ys = oy * p.sh - p.ph, xs = ox * p.sw - p.pw;
                    int ye = ys + p.kh < p.h + p.ph ? ys + p.kh : p.h + p.ph, xe = xs + p.kw < p.w + p.pw ? xs + p.kw : p.w + p.pw;
                    double best = -INFINITY, sum = 0;
                    for (int y = ys; y < ye; y++)
                        for (int x = xs; x < xe; x++)
                            if (y >= 0 && y < p.h && x >= 0 && x < p.w) {
                                double v = in[((long)c * p.h + y) * p.w + x];
                                best = fmax(best, v), sum += v;
                            }
                    long at = ((long)c * o + oy) * o + ox;
                    wmax[at] = act_ref(best, p.act, 0), wavg[at] = act_ref(sum / ((ye - ys) * (xe - xs)), p.act, 0);
                }
        nn_maxpool(&p, mx, in);
        nn_avgpool(&p, av, in);
        double dm = compare(mx, wmax, nout, "maxpool"), da = compare(av, wavg, nout, "avgpool");
        printf("pool %dx%d stride %d pad %d%s on %dx%d: max %.2e, average %.2e\n", p.kw, p.kh, p.sw, p.pw, k[5] ? " ceil" : "",
               p.w, p.h, dm, da);
        assert_true(dm == 0 && da < 1e-6);
        free(in), free(mx), free(av), free(wmax), free(wavg);
    }
    /* global average */
    float *in = randoms(3 * 169), out[3];
    double want[3];
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int i = 0; i < 169; i++) s += in[c * 169 + i];
        want[c] = s / 169;
    }
    nn_global_avgpool(3, 169, out, in, NN_LINEAR, 0);
    assert_true(compare(out, want, 3, "global average") < 1e-7);
    free(in);
}

/* Bilinear resizing with netc's taps, against the definition in double:
 * output pixel o of a side of n made m falls at (o + 0.5) n / m - 0.5 (0 at
 * least), between pixels floor(x) and the next (the last at the edge). */
static void ref_tap(int n, int m, int o, int *i0, int *i1, double *w1) {
    double x = n == m ? o : fmax((o + 0.5) * n / m - 0.5, 0);
    *i0 = (int)x, *i1 = *i0 < n - 1 ? *i0 + 1 : *i0, *w1 = x - *i0;
}

static NnTap *nn_taps(long n, long m) {
    ResizeTap *t = resize_taps(n, m);
    NnTap *p = malloc(sizeof(NnTap) * (size_t)m);
    for (long o = 0; o < m; o++) p[o] = (NnTap){(int)t[o].i0, (int)t[o].i1, t[o].w0, t[o].w1};
    return p;
}

static void test_resize(void **state) {
    (void)state;
    static const int cases[][6] = {
        /* c, h, w, oh, ow, act */
        {3, 227, 227, 291, 291, 0}, /* SqueezeNet-MS's enlarged input */
        {4, 8, 10, 11, 13, 1},      /* factors that are not whole, then a relu */
        {2, 9, 11, 3, 4, 0},        /* shrunk by 3 and 2.75: pixels skipped */
        {2, 9, 11, 4, 11, 0},       /* width kept */
    };
    for (int t = 0; t < 4; t++) {
        const int *k = cases[t];
        NnResize p = {k[0], k[1], k[2], k[3], k[4], nn_taps(k[1], k[3]), nn_taps(k[2], k[4]), k[5], 0};
        long nin = (long)p.c * p.h * p.w, nout = (long)p.c * p.oh * p.ow;
        float *in = randoms(nin), *out = nans(nout);
        double *want = malloc(sizeof(double) * (size_t)nout);
        for (int c = 0; c < p.c; c++)
            for (int oy = 0; oy < p.oh; oy++)
                for (int ox = 0; ox < p.ow; ox++) {
                    int y0, y1, x0, x1;
                    double wy, wx;
                    ref_tap(p.h, p.oh, oy, &y0, &y1, &wy);
                    ref_tap(p.w, p.ow, ox, &x0, &x1, &wx);
                    const float *x = in + (long)c * p.h * p.w;
                    double top = (1 - wx) * x[y0 * p.w + x0] + wx * x[y0 * p.w + x1];
                    double bot = (1 - wx) * x[y1 * p.w + x0] + wx * x[y1 * p.w + x1];
                    want[((long)c * p.oh + oy) * p.ow + ox] = act_ref((1 - wy) * top + wy * bot, p.act, 0);
                }
        nn_resize(&p, out, in);
        /* the taps are PyTorch's, worked out in float: a position near pixel n is off by up to an ulp of n */
        double d = compare(out, want, nout, "resize"), tol = 4 * (p.w > p.h ? p.w : p.h) * (double)FLT_EPSILON;
        printf("resize %dx%d to %dx%d: %.2e (within %.1e)\n", p.w, p.h, p.ow, p.oh, d, tol);
        assert_true(d < tol);
        free(in), free(out), free(want), free((void *)p.rows), free((void *)p.cols);
    }
}

static void test_add_scale_softmax(void **state) {
    (void)state;
    long n = 3 * 37; /* not a multiple of any vector width */
    float *a = randoms(n), *b = randoms(n), *c = randoms(n), *out = nans(n);
    double *want = malloc(sizeof(double) * (size_t)n);
    const float *ins[3] = {a, b, c};
    for (long i = 0; i < n; i++) want[i] = act_ref((double)a[i] + b[i] + c[i], NN_RELU, 0);
    nn_add(n, out, ins, 3, NN_RELU, 0);
    assert_true(compare(out, want, n, "add") < 1e-6);
    const float scale[3] = {2, -1, 0.5f}, shift[3] = {0.25f, 1, -3};
    for (long i = 0; i < n; i++) want[i] = act_ref((double)a[i] * scale[i / 37] + shift[i / 37], NN_RELU, 0.5f);
    nn_scale(3, 37, out, a, scale, shift, NN_RELU, 0.5f);
    assert_true(compare(out, want, n, "scale") < 1e-6);
    float logits[5] = {1, -2, 30, 29.5f, 0}, probs[5];
    double z = 0, p[5];
    for (int k = 0; k < 5; k++) z += exp(logits[k] - 30.0);
    for (int k = 0; k < 5; k++) p[k] = exp(logits[k] - 30.0) / z;
    nn_softmax(5, probs, logits);
    assert_true(compare(probs, p, 5, "softmax") < 1e-7);
    free(a), free(b), free(c), free(out), free(want);
}

/* netc packs for the block height the kernels read. */
static void test_block_height(void **state) {
    (void)state;
    assert_int_equal(NN_MR, DEPLOY_MR);
    printf("vector width %d floats, panels of %d columns, %d thread%s\n", NN_VW, NN_NB, NN_THREADS, NN_THREADS > 1 ? "s" : "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_height), cmocka_unit_test(test_conv),  cmocka_unit_test(test_conv_direct), cmocka_unit_test(test_winograd),
        cmocka_unit_test(test_linear),       cmocka_unit_test(test_pools), cmocka_unit_test(test_add_scale_softmax), cmocka_unit_test(test_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
