/* test_lda.c: the probe's shrinkage LDA (runtime/lda.c).
 *
 *   - a given shrinkage: the weights and biases against the definition,
 *     worked out here in double with Gaussian elimination (lda.h's formula);
 *   - a chosen one: on Gaussian classes whose noise is isotropic (what the
 *     shrinkage pulls toward) cross-validation shrinks hard; on noise that is
 *     strongly correlated across features it barely shrinks, and there the
 *     fit beats a hard shrink on fresh samples; the held-out figures are
 *     printed;
 *   - the same seed gives the same fit; a class with one image is an error
 *     that says what to do. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lda.h"
#include "rng.h"

/* n images of k classes, each [copies][n][d]: class c's mean is `sep` along
 * feature c (c < d), plus noise: isotropic, or (correlated) one shared factor
 * of strength 3 on every feature and unit noise on each. The mirror rows are
 * the image's own plus a little noise of their own. */
static float *gaussians(Rng *g, int n, int k, int d, double sep, int correlated, int *labels) {
    float *x = malloc(sizeof(float) * 2 * (size_t)n * d);
    for (int i = 0; i < n; i++) {
        labels[i] = i % k;
        double shared = correlated ? 3.0 * rng_normal(g) : 0;
        for (int j = 0; j < d; j++) {
            double v = (j == labels[i] ? sep : 0) + shared * (j % 2 ? 1 : -1) + rng_normal(g);
            x[(long)i * d + j] = (float)v;
            x[((long)n + i) * d + j] = (float)(v + 0.1 * rng_normal(g));
        }
    }
    return x;
}

/* Solves A z = r in place (A d x d, row-major), Gaussian elimination with partial pivoting. */
static void solve(double *A, double *r, int d) {
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int i = c + 1; i < d; i++)
            if (fabs(A[i * d + c]) > fabs(A[p * d + c])) p = i;
        for (int j = 0; j < d; j++) {
            double t = A[c * d + j];
            A[c * d + j] = A[p * d + j], A[p * d + j] = t;
        }
        double t = r[c];
        r[c] = r[p], r[p] = t;
        for (int i = c + 1; i < d; i++) {
            double f = A[i * d + c] / A[c * d + c];
            for (int j = c; j < d; j++) A[i * d + j] -= f * A[c * d + j];
            r[i] -= f * r[c];
        }
    }
    for (int c = d - 1; c >= 0; c--) {
        for (int j = c + 1; j < d; j++) r[c] -= A[c * d + j] * r[j];
        r[c] /= A[c * d + c];
    }
}

static void given_shrinkage_is_the_definition(void **state) {
    (void)state;
    enum { N = 60, K = 3, D = 5 };
    Rng g = rng_for(1, 2, 3);
    int labels[N];
    float *x = gaussians(&g, N, K, D, 1.5, 1, labels), w[K * D], b[K];
    LdaChoice c;
    Error e;
    assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0.3f, 1, w, b, &c, &e), 0);
    assert_false(c.searched);
    assert_true(c.shrink == 0.3f && c.temperature == 1.0f);
    /* the definition over all 2N rows */
    double mu[K][D] = {{0}}, S[D * D] = {0}, count[K] = {0};
    for (int r = 0; r < 2 * N; r++) {
        count[labels[r % N]]++;
        for (int j = 0; j < D; j++) mu[labels[r % N]][j] += x[r * D + j];
    }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < D; j++) mu[k][j] /= count[k];
    for (int r = 0; r < 2 * N; r++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                S[i * D + j] += (x[r * D + i] - mu[labels[r % N]][i]) * (x[r * D + j] - mu[labels[r % N]][j]) / (2 * N);
    double trace = 0;
    for (int j = 0; j < D; j++) trace += S[j * D + j];
    double worst = 0;
    for (int k = 0; k < K; k++) {
        double A[D * D], z[D], q = 0;
        for (int i = 0; i < D * D; i++) A[i] = 0.7 * S[i] + (i % (D + 1) == 0 ? 0.3 * trace / D : 0);
        memcpy(z, mu[k], sizeof z);
        solve(A, z, D);
        for (int j = 0; j < D; j++) q += z[j] * mu[k][j], worst = fmax(worst, fabs(w[k * D + j] - z[j]) / fmax(1, fabs(z[j])));
        double want_b = -0.5 * q + log(count[k] / (2 * N));
        worst = fmax(worst, fabs(b[k] - want_b) / fmax(1, fabs(want_b)));
    }
    print_message("given shrinkage: largest difference from the definition %.2e\n", worst);
    assert_true(worst < 1e-4);
    free(x);
}

/* Top-1 of w, b on 3,000 fresh samples of the same classes (the same ones for every w, b). */
static double fresh_top1(int k, int d, double sep, int correlated, const float *w, const float *b) {
    enum { M = 3000 };
    int labels[M], right = 0;
    Rng g = rng_for(99, 0, (uint64_t)correlated);
    float *x = gaussians(&g, M, k, d, sep, correlated, labels);
    for (int i = 0; i < M; i++) {
        int top = 0;
        double best = -INFINITY;
        for (int c = 0; c < k; c++) {
            double s = b[c];
            for (int j = 0; j < d; j++) s += w[c * d + j] * x[(long)i * d + j];
            if (s > best) best = s, top = c;
        }
        right += top == labels[i];
    }
    free(x);
    return 100.0 * right / M;
}

static void chosen_shrinkage_follows_the_noise(void **state) {
    (void)state;
    enum { N = 150, K = 3, D = 40 };
    for (int correlated = 0; correlated < 2; correlated++) {
        Rng g = rng_for(7, 8, (uint64_t)correlated);
        int labels[N];
        float *x = gaussians(&g, N, K, D, 1.5, correlated, labels), w[K * D], b[K], w9[K * D], b9[K];
        LdaChoice c, c9;
        Error e;
        assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0, 1, w, b, &c, &e), 0);
        assert_true(c.searched && lda_grid[c.chosen] == c.shrink);
        for (int i = 0; i < LDA_GRID; i++) assert_true(c.cv_loss[c.chosen] <= c.cv_loss[i]);
        assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0.9f, 1, w9, b9, &c9, &e), 0);
        double top1 = fresh_top1(K, D, 1.5, correlated, w, b), top1_9 = fresh_top1(K, D, 1.5, correlated, w9, b9);
        print_message("%s noise: shrinkage %g, temperature %.2f (held-out loss %.3f, top-1 %.1f%%); fresh top-1 %.1f%%, "
                      "%.1f%% at shrinkage 0.9\n",
                      correlated ? "correlated" : "isotropic", c.shrink, c.temperature, c.cv_loss[c.chosen], c.cv_top1[c.chosen],
                      top1, top1_9);
        if (correlated) {
            assert_true(c.shrink <= 0.2f);     /* the covariance is what separates the classes */
            assert_true(top1 > top1_9 + 10); /* and a hard shrink throws that away */
        } else {
            assert_true(c.shrink >= 0.6f);   /* the identity is the truth */
        }
        free(x);
    }
}

/* The folds come from the seed: the same data and seed, searched twice, give
 * the same fit byte for byte (and a temperature inside the searched range). */
static void the_same_seed_gives_the_same_fit(void **state) {
    (void)state;
    enum { N = 90, K = 3, D = 12 };
    Rng g = rng_for(3, 1, 4);
    int labels[N];
    float *x = gaussians(&g, N, K, D, 1.2, 1, labels), w1[K * D], b1[K], w2[K * D], b2[K];
    LdaChoice c1, c2;
    Error e;
    assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0, 5, w1, b1, &c1, &e), 0);
    assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0, 5, w2, b2, &c2, &e), 0);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_memory_equal(b1, b2, sizeof b1);
    assert_true(c1.shrink == c2.shrink && c1.temperature == c2.temperature);
    assert_true(c1.temperature > 0.01f && c1.temperature < 100);
    free(x);
}

static void one_image_of_a_class_is_an_error(void **state) {
    (void)state;
    enum { N = 7, K = 3, D = 2 };
    int labels[N] = {0, 0, 0, 1, 1, 1, 2};
    float x[2 * N * D];
    for (int i = 0; i < 2 * N * D; i++) x[i] = (float)(i % 5);
    float w[K * D], b[K];
    LdaChoice c;
    Error e;
    assert_int_equal(lda_fit(x, N, 2, labels, D, K, 0, 1, w, b, &c, &e), -1);
    assert_string_equal(e.msg, "probe_fit lda: class 2 has 1 training image; choosing the shrinkage by cross-validation needs 2 "
                               "or more of each\n  HINT: give the shrinkage yourself (probe_shrink 0.4), or more images");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(given_shrinkage_is_the_definition),
        cmocka_unit_test(chosen_shrinkage_follows_the_noise),
        cmocka_unit_test(the_same_seed_gives_the_same_fit),
        cmocka_unit_test(one_image_of_a_class_is_an_error),
    };
    return cmocka_run_group_tests_name("lda", tests, NULL, NULL);
}
