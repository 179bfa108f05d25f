/* test_winograd.c: the F(4x4, 3x3) and F(2x2, 5x5) convolutions
 * (runtime/winograd.c) against plain loops in double precision: forward,
 * input gradient and weight gradient, on sizes that leave partial tiles at
 * the edges, channel counts that are not multiples of the vector width, and
 * batches that end in a short chunk; and the 3x3 forward with a 2x2 max pool
 * fused into its stores. Prints the largest difference of each. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <omp.h>

#include "winograd.h"

typedef struct {
    int K, C, OC, H, W, n, cap, chunk; /* K: the kernel's side, 3 or 5 (pad K / 2) */
} Case;

/* At 2 threads (main sets them), cases marked "own" run each thread's chunks
 * whole (transforms and products in its own cache); the others run phase by
 * phase across threads. A group of tiles (one per vector lane: 16, 8 or 4 by
 * ISA) is gathered as runs of neighbouring tiles by vector loads where the
 * width is a multiple of the lanes, lane by lane elsewhere: `make ISA=...
 * test` runs these cases at each width. */
static const Case cases[] = {
    {3, 3, 5, 7, 9, 3, 4, 2},      /* partial tiles both ways; chunks 2 + 1; image 3 of 4 unused */
    {3, 20, 17, 13, 13, 3, 3, 1},  /* AlexNet's 13x13; channels not a multiple of 16 */
    {3, 32, 32, 16, 16, 5, 5, 3},  /* whole tiles */
    {3, 64, 24, 8, 8, 4, 6, 4},    /* more inputs than outputs; one chunk */
    {3, 2, 3, 1, 5, 2, 2, 1},      /* one row: only the kernel's middle row sees the image */
    {3, 16, 16, 64, 64, 1, 2, 1},  /* one group of 16 tiles per tile row: vector gathers ("quads"); own */
    {3, 16, 17, 8, 128, 2, 2, 1},  /* quads; groups start mid row, with neighbours in the group before */
    {3, 16, 17, 8, 128, 3, 3, 2},  /* the same, own: the second thread's chunk starts mid image */
    {3, 17, 16, 12, 48, 3, 3, 2},  /* quads; groups straddle tile rows and images */
    {3, 16, 16, 8, 16, 2, 2, 17},  /* own, and all 16 tiles go to the first thread: the second one's sums are 0 */
    {3, 24, 20, 8, 24, 3, 3, 2},   /* runs at 8 and 4 lanes (W a multiple of the lanes), 6 tiles a row: groups straddle rows */
    {3, 16, 18, 4, 4, 9, 9, 9},    /* one tile per image: at 4 lanes, runs of one tile in four images */
    /* F(2x2, 5x5): 2x2 tiles 2 apart, patches reaching 2 past them (never runs) */
    {5, 3, 5, 7, 9, 3, 4, 2},      /* partial tiles both ways; chunks 2 + 1; image 3 of 4 unused */
    {5, 20, 24, 27, 27, 2, 3, 1},  /* AlexNet's conv2 at 27x27 (64 -> 192 there); odd side: half tiles */
    {5, 17, 16, 16, 16, 3, 3, 2},  /* whole tiles; own */
    {5, 2, 3, 1, 5, 2, 2, 1},      /* one row: only the kernel's middle row sees the image */
    {5, 16, 17, 4, 3, 5, 5, 5},    /* smaller than the kernel */
    /* channels enough that a chunk's sums would overflow L2: output channels in blocks (out_block) */
    {5, 64, 120, 13, 13, 2, 2, 2}, /* blocks of 48 (AVX-512, AVX2) or 40 and 48 ... the last one short */
    {3, 64, 120, 16, 16, 8, 8, 8}, /* the same for F(4x4, 3x3), and pooled */
};

/* Scratch full of NaNs, so a read of anything not written first shows. */
static float *scratch(const Case *k) {
    long size = netc_wino_scratch(k->K, k->C, k->OC, k->H, k->W, k->chunk);
    float *ws = malloc(sizeof(float) * size);
    for (long i = 0; i < size; i++) ws[i] = NAN;
    return ws;
}

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *randoms(long count, unsigned seed) {
    float *v = malloc(sizeof(float) * count);
    for (long i = 0; i < count; i++) v[i] = frand(&seed);
    return v;
}

/* in [C][cap][H][W] at (c, b, y, x), 0 in the padding */
static double at(const float *in, const Case *k, int c, int b, int y, int x) {
    if (y < 0 || y >= k->H || x < 0 || x >= k->W) return 0.0;
    return in[(((long)c * k->cap + b) * k->H + y) * k->W + x];
}

/* the reference: out[o][b][y][x] = sum over c, ky, kx of w[o][c][ky][kx] in[c][b][y - P + ky][x - P + kx], P = K / 2 */
static double ref_out(const float *in, const float *w, const Case *k, int o, int b, int y, int x) {
    double s = 0.0;
    int K = k->K, P = K / 2;
    for (int c = 0; c < k->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) s += w[((o * k->C + c) * K + ky) * K + kx] * at(in, k, c, b, y - P + ky, x - P + kx);
    return s;
}

/* Largest |a - ref| over the values, against the largest |ref|. */
static void check(const char *what, const Case *k, double maxdiff, double scale) {
    double rel = maxdiff / (scale > 0 ? scale : 1);
    printf("  %-16s %dx%d C %3d OC %3d %2dx%-2d n %d chunk %d: largest difference %.2e (%.2e of the largest value)\n", what, k->K,
           k->K, k->C, k->OC, k->H, k->W, k->n, k->chunk, maxdiff, rel);
    assert_true(rel < 2e-5);
}

static void test_forward(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const Case *k = &cases[t];
        long HW = (long)k->H * k->W;
        float *in = randoms(k->C * k->cap * HW, 1 + t), *w = randoms(k->OC * k->C * k->K * k->K, 100 + t);
        float *out = malloc(sizeof(float) * k->OC * k->cap * HW);
        for (long i = 0; i < k->OC * k->cap * HW; i++) out[i] = 12345.0f; /* images past n must keep this */
        float *ws = scratch(k);
        /* the epilogue: none; a shift (a bias); or scale, shift and relu (batch norm folded in) */
        float *mul = randoms(k->OC, 400 + t), *add = randoms(k->OC, 500 + t);
        int kind = t % 3, relu = kind == 2;
        netc_wino_forward(out, in, w, kind == 2 ? mul : NULL, kind ? add : NULL, relu, 1, k->K, k->C, k->OC, k->H, k->W, k->n,
                          k->cap, k->chunk, ws);
        double maxdiff = 0, scale = 0;
        for (int o = 0; o < k->OC; o++)
            for (int b = 0; b < k->cap; b++)
                for (int y = 0; y < k->H; y++)
                    for (int x = 0; x < k->W; x++) {
                        float got = out[(((long)o * k->cap + b) * k->H + y) * k->W + x];
                        if (b >= k->n) {
                            assert_true(got == 12345.0f);
                            continue;
                        }
                        double r = ref_out(in, w, k, o, b, y, x) * (kind == 2 ? mul[o] : 1) + (kind ? add[o] : 0);
                        if (relu && r < 0) r = 0;
                        maxdiff = fmax(maxdiff, fabs(got - r)), scale = fmax(scale, fabs(r));
                    }
        check("forward", k, maxdiff, scale);
        free(in), free(w), free(out), free(ws), free(mul), free(add);
    }
}

/* pool 2: the max of each 2x2 window of the outputs (after the epilogue), for
 * the cases whose sides are multiples of 4 */
static void test_forward_pooled(void **state) {
    (void)state;
    int checked = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const Case *k = &cases[t];
        if (k->K != 3 || k->H % 4 || k->W % 4) continue;
        long HW = (long)k->H * k->W, PH = k->H / 2, PW = k->W / 2;
        float *in = randoms(k->C * k->cap * HW, 11 + t), *w = randoms(k->OC * k->C * 9, 110 + t);
        float *out = malloc(sizeof(float) * k->OC * k->cap * PH * PW);
        for (long i = 0; i < k->OC * k->cap * PH * PW; i++) out[i] = 12345.0f; /* images past n must keep this */
        float *ws = scratch(k);
        float *mul = randoms(k->OC, 410 + t), *add = randoms(k->OC, 510 + t);
        int relu = t % 2; /* with relu (batch norm and relu folded in) and without */
        netc_wino_forward(out, in, w, mul, add, relu, 2, 3, k->C, k->OC, k->H, k->W, k->n, k->cap, k->chunk, ws);
        double maxdiff = 0, scale = 0;
        for (int o = 0; o < k->OC; o++)
            for (int b = 0; b < k->cap; b++)
                for (int py = 0; py < PH; py++)
                    for (int px = 0; px < PW; px++) {
                        float got = out[(((long)o * k->cap + b) * PH + py) * PW + px];
                        if (b >= k->n) {
                            assert_true(got == 12345.0f);
                            continue;
                        }
                        double r = -INFINITY;
                        for (int i = 0; i < 4; i++) {
                            double v = ref_out(in, w, k, o, b, 2 * py + i / 2, 2 * px + i % 2) * mul[o] + add[o];
                            r = fmax(r, relu && v < 0 ? 0 : v);
                        }
                        maxdiff = fmax(maxdiff, fabs(got - r)), scale = fmax(scale, fabs(r));
                    }
        check("forward, pooled", k, maxdiff, scale);
        free(in), free(w), free(out), free(ws), free(mul), free(add);
        checked++;
    }
    assert_true(checked >= 6);
}

static void test_backward_input(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const Case *k = &cases[t];
        long HW = (long)k->H * k->W;
        int K = k->K, P = K / 2;
        float *dout = randoms(k->OC * k->cap * HW, 7 + t), *w = randoms(k->OC * k->C * K * K, 200 + t);
        float *din = malloc(sizeof(float) * k->C * k->cap * HW), *base = randoms(k->C * k->cap * HW, 9 + t);
        float *ws = scratch(k);
        int acc = t % 2; /* odd cases add to what din held */
        for (long i = 0; i < k->C * k->cap * HW; i++) din[i] = acc ? base[i] : 0.0f;
        netc_wino_backward_input(din, dout, w, K, k->C, k->OC, k->H, k->W, k->n, k->cap, k->chunk, acc, ws);
        /* din[c][b][iy][ix] = sum of w[o][c][ky][kx] dout[o][b][y][x] over the outputs (y, x) that read it */
        double maxdiff = 0, scale = 0;
        for (int c = 0; c < k->C; c++)
            for (int b = 0; b < k->n; b++)
                for (int iy = 0; iy < k->H; iy++)
                    for (int ix = 0; ix < k->W; ix++) {
                        double r = 0;
                        for (int o = 0; o < k->OC; o++)
                            for (int ky = 0; ky < K; ky++)
                                for (int kx = 0; kx < K; kx++) {
                                    int y = iy + P - ky, x = ix + P - kx;
                                    Case ko = *k;
                                    ko.C = k->OC; /* dout's shape, for at() */
                                    r += w[((o * k->C + c) * K + ky) * K + kx] * at(dout, &ko, o, b, y, x);
                                }
                        long i = (((long)c * k->cap + b) * k->H + iy) * k->W + ix;
                        float got = din[i] - (acc ? base[i] : 0.0f);
                        maxdiff = fmax(maxdiff, fabs(got - r)), scale = fmax(scale, fabs(r));
                    }
        check("input gradient", k, maxdiff, scale);
        free(dout), free(w), free(din), free(base), free(ws);
    }
}

static void test_backward_weight(void **state) {
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const Case *k = &cases[t];
        long HW = (long)k->H * k->W;
        float *in = randoms(k->C * k->cap * HW, 3 + t), *dout = randoms(k->OC * k->cap * HW, 300 + t);
        int K = k->K, P = K / 2;
        float *dw = malloc(sizeof(float) * k->OC * k->C * K * K);
        float *ws = scratch(k);
        netc_wino_backward_weight(dw, dout, in, K, k->C, k->OC, k->H, k->W, k->n, k->cap, k->chunk, ws);
        double maxdiff = 0, scale = 0;
        for (int o = 0; o < k->OC; o++)
            for (int c = 0; c < k->C; c++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        double r = 0; /* images past n must not count */
                        for (int b = 0; b < k->n; b++)
                            for (int y = 0; y < k->H; y++)
                                for (int x = 0; x < k->W; x++)
                                    r += dout[(((long)o * k->cap + b) * k->H + y) * k->W + x] * at(in, k, c, b, y - P + ky, x - P + kx);
                        float got = dw[((o * k->C + c) * K + ky) * K + kx];
                        maxdiff = fmax(maxdiff, fabs(got - r)), scale = fmax(scale, fabs(r));
                    }
        check("weight gradient", k, maxdiff, scale);
        free(in), free(dout), free(dw), free(ws);
    }
}

int main(void) {
    omp_set_num_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_forward_pooled),
        cmocka_unit_test(test_backward_input),
        cmocka_unit_test(test_backward_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
