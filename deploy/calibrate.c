/* calibrate.c: the program netc --deploy --quantize int8 builds and runs to
 * calibrate an int8 net (not part of what it deploys).
 *
 * netc writes the net as float C whose forward reports every layer's output
 * to a tap (f_tap), and the images to run it on, resized as the trainer
 * caches them (images.bin: "netc-images 1", then int32 n, width, height,
 * channels, and per image an int32 label and its pixels). Two uses:
 *
 *   calibrate IMAGES STATS   runs the float net on every image (f_predict:
 *                            preprocessing, forward, and the mirror image's
 *                            with tta flip) and writes, per layer, the range of
 *                            its outputs and a histogram of them;
 *   report IMAGES OUT        (built with -DREPORT and the int8 net, q_*) runs
 *                            both nets on every image and writes, per layer,
 *                            the squared error of the int8 net's output
 *                            (dequantised) against the float net's, and both
 *                            nets' top-1.
 *
 * Built with -DLAYERS, -DF_ARENA_BYTES, -DF_WEIGHTS_AT (and Q_ for the int8
 * net), -DCLASSES; the nets' weights files are F_WEIGHTS and Q_WEIGHTS. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int f_predict(const uint8_t *pixels, int width, int height, int channels, void *arena, float *probs);
int f_check_weights(const void *arena);
const char *f_strerror(int err);
#ifdef REPORT
int q_predict(const uint8_t *pixels, int width, int height, int channels, void *arena, float *probs);
int q_check_weights(const void *arena);
#endif

static void die(const char *what, const char *why) {
    fprintf(stderr, "calibrate: %s: %s\n", what, why);
    exit(1);
}

/* An arena holding the net's weights file at weights_at. */
static void *arena_with(const char *weights, long bytes, long weights_at, int (*check)(const void *)) {
    FILE *f = fopen(weights, "rb");
    long size;
    char *arena = NULL;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) die(weights, "cannot read");
    if (posix_memalign((void **)&arena, 64, (size_t)bytes) != 0 || weights_at + size > bytes) die(weights, "no room for it");
    if (fread(arena + weights_at, 1, (size_t)size, f) != (size_t)size) die(weights, "read error");
    fclose(f);
    if (check(arena) != 0) die(weights, "not the net's weights");
    return arena;
}

/* ---- the images ---------------------------------------------------------------------------- */

static int n_images, width, height, channels, *labels;
static uint8_t *pixels;

static void read_images(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[16];
    int32_t head[4];
    size_t size;
    int i;
    if (!f || fread(magic, 1, 16, f) != 16 || strcmp(magic, "netc-images 1") != 0 || fread(head, 4, 4, f) != 4)
        die(path, "not an images file of netc's");
    n_images = head[0], width = head[1], height = head[2], channels = head[3];
    size = (size_t)width * (size_t)height * (size_t)channels;
    labels = malloc(sizeof(int) * (size_t)n_images);
    pixels = malloc(size * (size_t)n_images);
    if (!labels || !pixels) die(path, "out of memory");
    for (i = 0; i < n_images; i++) {
        int32_t label;
        if (fread(&label, 4, 1, f) != 1 || fread(pixels + (size_t)i * size, 1, size, f) != size) die(path, "truncated");
        labels[i] = label;
    }
    fclose(f);
}

static const uint8_t *image(int i) { return pixels + (size_t)i * (size_t)width * (size_t)height * (size_t)channels; }

static int top1(const float *p) {
    int k, best = 0;
    for (k = 1; k < CLASSES; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

#ifndef REPORT
/* ---- calibrate: each layer's range and histogram ------------------------------------------------- */

#define BINS 2048
typedef struct {
    double count, min, max, lo, width; /* the histogram: bin b holds [lo + b width, lo + (b + 1) width) */
    double hist[BINS];
} Stats;
static Stats stats[LAYERS];

/* Widens s's histogram until it holds v: twice the width, the old bins summed in pairs. */
static void widen(Stats *s, double v) {
    static double merged[BINS];
    while (v < s->lo || v >= s->lo + BINS * s->width) {
        int below = v < s->lo, b;
        memset(merged, 0, sizeof merged);
        for (b = 0; b < BINS; b++) merged[(below ? BINS / 2 : 0) + b / 2] += s->hist[b];
        memcpy(s->hist, merged, sizeof merged);
        if (below) s->lo -= BINS * s->width;
        s->width *= 2;
    }
}

void f_tap(int layer, const void *values, long n, float scale, int zero_point) {
    const float *x = values;
    Stats *s = &stats[layer];
    double lo = 0, hi = 0;
    long i;
    (void)scale, (void)zero_point;
    for (i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (s->count == 0) {
        s->min = lo, s->max = hi, s->lo = lo;
        s->width = hi > lo ? (hi - lo) / (BINS - 1) : 1e-6;
    }
    if (lo < s->min) s->min = lo;
    if (hi > s->max) s->max = hi;
    widen(s, lo);
    widen(s, hi);
    for (i = 0; i < n; i++) {
        long b = (long)((x[i] - s->lo) / s->width);
        if (x[i] != x[i]) continue; /* NaN */
        s->hist[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
    s->count += (double)n;
}

int main(int argc, char **argv) {
    float probs[CLASSES];
    void *arena;
    FILE *out;
    int i, l, b, correct = 0;
    if (argc != 4 || strcmp(argv[1], "calibrate") != 0) die("usage", "calibrate calibrate IMAGES STATS");
    read_images(argv[2]);
    arena = arena_with(F_WEIGHTS, F_ARENA_BYTES, F_WEIGHTS_AT, f_check_weights);
    for (i = 0; i < n_images; i++) {
        int err = f_predict(image(i), width, height, channels, arena, probs);
        if (err) die("predict", f_strerror(err));
        correct += top1(probs) == labels[i];
    }
    if (!(out = fopen(argv[3], "w"))) die(argv[3], "cannot write");
    fprintf(out, "images %d top1 %d\n", n_images, correct);
    for (l = 0; l < LAYERS; l++) {
        const Stats *s = &stats[l];
        if (!s->count) continue;
        fprintf(out, "layer %d %.17g %.17g %.17g %.17g %.17g\n", l, s->count, s->min, s->max, s->lo, s->width);
        for (b = 0; b < BINS; b++) fprintf(out, "%.17g%c", s->hist[b], b + 1 < BINS ? ' ' : '\n');
    }
    if (fclose(out) != 0) die(argv[3], "cannot write");
    free(arena);
    return 0;
}

#else
/* ---- report: each layer's int8 output against the float net's ---------------------------------- */

/* A layer's output in the float net, as it was on this image (twice with tta flip: the image
 * and its mirror), and the int8 net's error against it over every image. */
typedef struct {
    float *ref[2];
    long n;
    int seen_f, seen_q;
    double err2, ref2, max_err;
} Layer;
static Layer layers[LAYERS];

void f_tap(int layer, const void *values, long n, float scale, int zero_point) {
    Layer *l = &layers[layer];
    int k = l->seen_f++ % 2;
    (void)scale, (void)zero_point;
    if (!l->ref[k] && !(l->ref[k] = malloc(sizeof(float) * (size_t)n))) die("report", "out of memory");
    l->n = n;
    memcpy(l->ref[k], values, sizeof(float) * (size_t)n);
}

void q_tap(int layer, const void *values, long n, float scale, int zero_point) {
    Layer *l = &layers[layer];
    const float *ref = l->ref[l->seen_q++ % 2];
    long i;
    if (!ref || n != l->n) die("report", "the int8 and float nets' layers differ");
    for (i = 0; i < n; i++) {
        double v = scale != 0 ? scale * (double)(((const uint8_t *)values)[i] - zero_point) : ((const float *)values)[i];
        double e = v - ref[i];
        l->err2 += e * e, l->ref2 += (double)ref[i] * ref[i];
        if (fabs(e) > l->max_err) l->max_err = fabs(e);
    }
}

int main(int argc, char **argv) {
    float pf[CLASSES], pq[CLASSES];
    void *fa, *qa;
    FILE *out;
    int i, l, k, f_correct = 0, q_correct = 0, agree = 0;
    double dp = 0;
    if (argc != 4 || strcmp(argv[1], "report") != 0) die("usage", "calibrate report IMAGES OUT");
    read_images(argv[2]);
    fa = arena_with(F_WEIGHTS, F_ARENA_BYTES, F_WEIGHTS_AT, f_check_weights);
    qa = arena_with(Q_WEIGHTS, Q_ARENA_BYTES, Q_WEIGHTS_AT, q_check_weights);
    for (i = 0; i < n_images; i++) {
        int err = f_predict(image(i), width, height, channels, fa, pf);
        if (err || (err = q_predict(image(i), width, height, channels, qa, pq))) die("predict", f_strerror(err));
        for (l = 0; l < LAYERS; l++) layers[l].seen_f = layers[l].seen_q = 0;
        f_correct += top1(pf) == labels[i], q_correct += top1(pq) == labels[i], agree += top1(pf) == top1(pq);
        for (k = 0; k < CLASSES; k++) dp = fmax(dp, fabs((double)pf[k] - pq[k]));
    }
    if (!(out = fopen(argv[3], "w"))) die(argv[3], "cannot write");
    fprintf(out, "images %d float %d int8 %d agree %d dp %.9g\n", n_images, f_correct, q_correct, agree, dp);
    for (l = 0; l < LAYERS; l++)
        if (layers[l].n) fprintf(out, "layer %d %.17g %.17g %.17g\n", l, layers[l].err2, layers[l].ref2, layers[l].max_err);
    if (fclose(out) != 0) die(argv[3], "cannot write");
    free(fa), free(qa);
    return 0;
}
#endif
