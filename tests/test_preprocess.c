/* test_preprocess.c: runtime/preprocess.c, the evaluation preprocessing that
 * the trainer and every deployed net share.
 *
 * The resize is checked against a reference written from its definition in
 * double precision (source spans and overlaps for shrinking, pixel centres
 * for enlarging), on sizes that shrink, enlarge and keep each axis, with
 * every channel conversion; a window of the resize must equal the same part
 * of the whole. The table and pp_input are checked value by value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preprocess.h"

static unsigned lcg(unsigned *s) { return *s = *s * 1664525u + 1013904223u, *s >> 8; }

/* Weight of source pixel j for output i along one axis, from the definitions. */
static double ref_weight(int src, int dst, int i, int j) {
    if (dst < src) { /* the overlap of [j, j+1) with [i s/d, (i+1) s/d), as a fraction of s/d */
        double lo = (double)i * src / dst, hi = (double)(i + 1) * src / dst;
        double a = fmax(lo, j), b = fmin(hi, j + 1);
        return b > a ? (b - a) * dst / src : 0;
    }
    double x = (i + 0.5) * src / dst - 0.5;
    if (x < 0) x = 0;
    int j0 = (int)x;
    if (j0 >= src - 1) return j == src - 1;
    return j == j0 ? 1 - (x - j0) : j == j0 + 1 ? x - j0 : 0;
}

static double ref_channel(const uint8_t *p, int c, int rc, int k) {
    if (c == 1) return p[0];
    if (rc == 1) return floor((19595.0 * p[0] + 38470.0 * p[1] + 7471.0 * p[2] + 32768) / 65536);
    return p[k];
}

/* The exact weighted sum for output (x, y, k), before rounding. */
static double ref_value(const uint8_t *src, int w, int h, int c, int rw, int rh, int rc, int x, int y, int k) {
    double sum = 0;
    for (int j = 0; j < h; j++) {
        double wy = ref_weight(h, rh, y, j);
        if (wy == 0) continue;
        for (int i = 0; i < w; i++) {
            double wx = ref_weight(w, rw, x, i);
            if (wx != 0) sum += wy * wx * ref_channel(src + ((size_t)j * w + i) * c, c, rc, k);
        }
    }
    return sum;
}

typedef struct {
    int w, h, c, rw, rh, rc;
} Case;

static const Case cases[] = {
    {200, 200, 3, 64, 64, 1},  /* 15-scene to SimpleNet: shrink, luma */
    {75, 75, 1, 64, 64, 1},    /* a DCT-scaled decode to 64x64 */
    {200, 200, 3, 227, 227, 3}, /* 15-scene to SqueezeNet: enlarge */
    {13, 7, 3, 5, 9, 3},       /* shrink one axis, enlarge the other */
    {9, 9, 1, 9, 9, 3},        /* same size: a copy, gray replicated */
    {31, 17, 4, 10, 10, 3},    /* RGBA: alpha ignored */
    {31, 17, 4, 16, 9, 1},     /* RGBA to gray */
    {1, 1, 3, 1, 2, 3},        /* one pixel, doubled */
    {255, 3, 1, 254, 2, 1},    /* nearly equal: spans of two pixels with uneven overlaps */
};

static void test_resize_reference(void **state) {
    (void)state;
    unsigned seed = 7;
    double worst = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const Case *k = &cases[t];
        size_t n = (size_t)k->w * k->h * k->c, m = (size_t)k->rw * k->rh * k->rc;
        uint8_t *src = malloc(n), *out = malloc(m);
        for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(lcg(&seed) & 255);
        assert_int_equal(pp_check(k->w, k->h, k->c, k->rw, k->rh), PP_OK);
        pp_resize(src, k->w, k->h, k->c, out, k->rw, k->rh, k->rc, 0, 0, k->rw, k->rh);
        for (int y = 0; y < k->rh; y++)
            for (int x = 0; x < k->rw; x++)
                for (int ch = 0; ch < k->rc; ch++) {
                    double v = ref_value(src, k->w, k->h, k->c, k->rw, k->rh, k->rc, x, y, ch);
                    int got = out[((size_t)y * k->rw + x) * k->rc + ch];
                    double d = fabs(got - v);
                    worst = fmax(worst, d);
                    /* exact, except that a sum at a half (in exact arithmetic) may land either side in double */
                    if (fabs(v - floor(v) - 0.5) > 1e-9 && got != (int)floor(v + 0.5))
                        fail_msg("case %zu (%dx%dx%d -> %dx%dx%d): (%d,%d,%d) = %d, want %.6f", t, k->w, k->h, k->c, k->rw, k->rh,
                                 k->rc, x, y, ch, got, v);
                }
        free(src), free(out);
    }
    printf("largest distance from the exact value: %.4f (rounding: at most 0.5)\n", worst);
    assert_true(worst <= 0.5 + 1e-9);
}

/* A window of the resize is the same part of the whole resize, byte for byte. */
static void test_resize_window(void **state) {
    (void)state;
    unsigned seed = 11;
    const int w = 37, h = 29, c = 3, rw = 20, rh = 33, rc = 3;
    uint8_t src[37 * 29 * 3], whole[20 * 33 * 3], win[12 * 15 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(lcg(&seed) & 255);
    pp_resize(src, w, h, c, whole, rw, rh, rc, 0, 0, rw, rh);
    pp_resize(src, w, h, c, win, rw, rh, rc, 5, 9, 12, 15);
    for (int y = 0; y < 15; y++)
        for (int x = 0; x < 12; x++)
            for (int k = 0; k < 3; k++) assert_int_equal(win[(y * 12 + x) * 3 + k], whole[((y + 9) * rw + x + 5) * 3 + k]);
}

/* Hand-checked values: 6 -> 4 averages 1.5 pixels each; 2 -> 4 is bilinear at -0.25 (clamped), 0.25, 0.75, 1.25. */
static void test_resize_by_hand(void **state) {
    (void)state;
    const uint8_t row[6] = {0, 30, 60, 90, 120, 150}, two[2] = {0, 200};
    uint8_t out[4];
    pp_resize(row, 6, 1, 1, out, 4, 1, 1, 0, 0, 4, 1);
    assert_memory_equal(out, ((uint8_t[]){10, 50, 100, 140}), 4);
    pp_resize(two, 2, 1, 1, out, 4, 1, 1, 0, 0, 4, 1);
    assert_memory_equal(out, ((uint8_t[]){0, 50, 150, 200}), 4);
    /* a half rounds up: (1 + 2) / 2 */
    const uint8_t pair[2] = {1, 2};
    pp_resize(pair, 2, 1, 1, out, 1, 1, 1, 0, 0, 1, 1);
    assert_int_equal(out[0], 2);
}

static void test_check(void **state) {
    (void)state;
    assert_int_equal(pp_check(200, 200, 3, 227, 227), PP_OK); /* enlarging a little is what SqueezeNet's training did */
    assert_int_equal(pp_check(32, 36, 1, 64, 72), PP_OK);     /* exactly half */
    assert_int_equal(pp_check(31, 200, 1, 64, 64), PP_ESMALL);
    assert_int_equal(pp_check(200, 35, 1, 72, 72), PP_ESMALL);
    assert_int_equal(pp_check(0, 10, 1, 1, 1), PP_EARG);
    assert_int_equal(pp_check(10, 10, 2, 4, 4), PP_ECHANNELS);
    assert_int_equal(pp_check(10, 10, 5, 4, 4), PP_ECHANNELS);
    assert_int_equal(pp_check(70000, 10, 1, 4, 4), PP_ELARGE);
    for (int e = PP_ELARGE; e <= PP_OK; e++) assert_true(strlen(pp_strerror(e)) > 5);
}

static void test_table_and_input(void **state) {
    (void)state;
    float table[3][256];
    const float mean[3] = {104, 117, 123}, std[3] = {1, 2, 0.5f};
    pp_table(table, 255, mean, std);
    for (int b = 0; b < 256; b += 17)
        for (int k = 0; k < 3; k++) assert_true(table[k][b] == (float)(((double)b - mean[k]) / std[k]));
    /* a 3x2 window of a 5-pixel-wide RGB cache, as BGR, mirrored, planes 8 floats apart */
    uint8_t cache[2][5][3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 5; x++)
            for (int k = 0; k < 3; k++) cache[y][x][k] = (uint8_t)(100 + 40 * y + 7 * x + k);
    float out[3 * 8];
    pp_input(&cache[0][1][0], 3, 2, 5 * 3, 3, 3, PP_BGR, (const float(*)[256])table, 1, out, 8);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) assert_true(out[k * 8 + y * 3 + x] == table[k][cache[y][1 + 2 - x][2 - k]]);
    /* gray from RGB: one plane of luma bytes */
    pp_input(&cache[0][0][0], 5, 2, 5 * 3, 3, 1, PP_GRAY, (const float(*)[256])table, 0, out, 10);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 5; x++) assert_true(out[y * 5 + x] == table[0][pp_luma(cache[y][x][0], cache[y][x][1], cache[y][x][2])]);
    /* libjpeg's luma of pure colours */
    assert_int_equal(pp_luma(255, 0, 0), 76);
    assert_int_equal(pp_luma(0, 255, 0), 150);
    assert_int_equal(pp_luma(0, 0, 255), 29);
    assert_int_equal(pp_luma(255, 255, 255), 255);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_reference), cmocka_unit_test(test_resize_window), cmocka_unit_test(test_resize_by_hand),
        cmocka_unit_test(test_check),           cmocka_unit_test(test_table_and_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
