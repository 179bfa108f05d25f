/* lda.h: linear discriminant analysis with shrinkage, the probe's second
 * way to fit a linear classifier (probe_fit lda).
 *
 * Every class a Gaussian with its own mean and one shared covariance S, the
 * scatter of the rows about their class means, shrunk toward a multiple of
 * the identity (Friedman's regularised discriminant analysis):
 *
 *   S_l = (1 - l) S + l (trace S / d) I
 *   score_k(x) = (x . S_l^-1 mu_k - mu_k . S_l^-1 mu_k / 2 + log prior_k) / T
 *
 * a linear classifier, like the logistic probe's, whose softmax is the
 * posterior the model gives, T making it calibrated. With few images and
 * many features (1,500 and 1,408 on 15-scene) it uses what logistic
 * regression cannot: how the features vary together within a class. On
 * SqueezeNet-MS's pooled features it gave 0.8 points more validation top-1
 * in 5-fold cross-validation, and a validation loss a fifth lower
 * (docs/recipes.md).
 *
 * l and T are chosen by LDA_FOLDS-fold cross-validation on the rows given
 * (an image and its mirror always in the same fold): for each l of the grid,
 * every fold's fit scores the rows it held out, T is the temperature that
 * minimises their cross-entropy, and the l with the smallest is chosen. S's
 * eigenvectors (LAPACK's dsyevd, once a fold) make every l cheap. The
 * folds are drawn from the seed, so a fit repeats exactly. */
#ifndef NETC_LDA_H
#define NETC_LDA_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum { LDA_FOLDS = 5, LDA_GRID = 10, LDA_MAX_FEATURES = 4096, LDA_MAX_CLASSES = 1000 };
extern const float lda_grid[LDA_GRID]; /* the shrinkages tried: 0.05 to 0.9 */

typedef struct {
    float shrink, temperature;              /* as chosen (or shrink as given, T 1) */
    bool searched;                          /* chosen by cross-validation */
    int chosen;                             /* ... lda_grid[chosen] */
    double cv_loss[LDA_GRID], cv_top1[LDA_GRID]; /* held-out cross-entropy (at its best T) and top-1 (%) */
} LdaChoice;

/* Fits w [k][d] and b [k] to x: rows [copies][n][d] (an image's mirror n rows
 * after it), labels [n]. shrink in (0, 1]: that shrinkage, temperature 1;
 * 0: both chosen as above. */
int lda_fit(const float *x, int n, int copies, const int *labels, int d, int k, float shrink, uint64_t seed, float *w, float *b,
            LdaChoice *out, Error *e);

#endif
