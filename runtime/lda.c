/* lda.c: the probe's shrinkage LDA (see lda.h). */
#include "lda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "rng.h"

/* LAPACK's symmetric eigensolver (OpenBLAS carries LAPACK) */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);

const float lda_grid[LDA_GRID] = {0.05f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};

/* What one set of rows gives every shrinkage: class means mu [k][d],
 * log priors, and the within-class scatter's eigenvalues e [d] and
 * eigenvectors V [d][d] (row j the j-th vector), with G = V mu^T [d][k]. */
typedef struct {
    int d, k;
    double *mu, *logprior, *e, *V, *G;
    double mean_e; /* trace / d: the identity's multiple it shrinks toward */
} Parts;

static void parts_free(Parts *p) { free(p->mu), free(p->logprior), free(p->e), free(p->V), free(p->G); }

/* The rows of x [rows][d] whose `use` is set, each of class y[row]. */
static int parts_make(Parts *p, const float *x, const int *y, const unsigned char *use, long rows, int d, int k, Error *e) {
    memset(p, 0, sizeof *p);
    p->d = d, p->k = k;
    p->mu = xcalloc((size_t)k * d, sizeof(double));
    p->logprior = xcalloc((size_t)k, sizeof(double));
    long *count = xcalloc((size_t)k, sizeof(long)), used = 0;
    for (long r = 0; r < rows; r++)
        if (use[r]) {
            count[y[r]]++, used++;
            for (int j = 0; j < d; j++) p->mu[(long)y[r] * d + j] += x[r * d + j];
        }
    for (int c = 0; c < k; c++) {
        if (!count[c]) {
            free(count);
            return errorf(e, "probe_fit lda: class %d has no training images in a fold", c);
        }
        for (int j = 0; j < d; j++) p->mu[(long)c * d + j] /= (double)count[c];
        p->logprior[c] = log((double)count[c] / (double)used);
    }
    free(count);
    /* within-class scatter S = R^T R / used, R the rows less their class's mean */
    float *R = xmalloc(sizeof(float) * (size_t)used * d), *S = xmalloc(sizeof(float) * (size_t)d * d);
    long i = 0;
    for (long r = 0; r < rows; r++)
        if (use[r]) {
            for (int j = 0; j < d; j++) R[i * d + j] = (float)(x[r * d + j] - p->mu[(long)y[r] * d + j]);
            i++;
        }
    netc_sgemm(CblasTrans, CblasNoTrans, d, d, (int)used, R, d, R, d, 0.0f, S, d);
    free(R);
    p->V = xmalloc(sizeof(double) * (size_t)d * d);
    p->e = xmalloc(sizeof(double) * (size_t)d);
    double trace = 0;
    for (long j = 0; j < (long)d * d; j++) p->V[j] = S[j] / (double)used;
    for (int j = 0; j < d; j++) trace += p->V[(long)j * d + j];
    free(S);
    p->mean_e = trace / d;
    /* eigenvectors: LAPACK's column-major a[j][.] is our row j, S being symmetric */
    int n = d, info = 0, lwork = -1, liwork = -1, iwq;
    double wq;
    dsyevd_("V", "U", &n, p->V, &n, p->e, &wq, &lwork, &iwq, &liwork, &info);
    lwork = (int)wq, liwork = iwq;
    double *work = xmalloc(sizeof(double) * (size_t)lwork);
    int *iwork = xmalloc(sizeof(int) * (size_t)liwork);
    dsyevd_("V", "U", &n, p->V, &n, p->e, work, &lwork, iwork, &liwork, &info);
    free(work), free(iwork);
    if (info != 0) return errorf(e, "probe_fit lda: the eigensolver failed (LAPACK dsyevd info %d)", info);
    p->G = xcalloc((size_t)d * k, sizeof(double));
    for (int a = 0; a < d; a++)
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += p->V[(long)a * d + j] * p->mu[(long)c * d + j];
            p->G[(long)a * k + c] = s;
        }
    return 0;
}

/* Scores for shrinkage l: w [k][d] = (S_l^-1 mu^T)^T, b [k]. */
static void parts_solve(const Parts *p, float l, double *w, double *b) {
    int d = p->d, k = p->k;
    double *H = xmalloc(sizeof(double) * (size_t)d * k);
    for (int a = 0; a < d; a++) {
        double inv = 1.0 / ((1 - l) * fmax(p->e[a], 0) + l * p->mean_e);
        for (int c = 0; c < k; c++) H[(long)a * k + c] = inv * p->G[(long)a * k + c];
    }
    for (int c = 0; c < k; c++) {
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int a = 0; a < d; a++) s += p->V[(long)a * d + j] * H[(long)a * k + c];
            w[(long)c * d + j] = s;
        }
        double q = 0;
        for (int j = 0; j < d; j++) q += w[(long)c * d + j] * p->mu[(long)c * d + j];
        b[c] = -0.5 * q + p->logprior[c];
    }
    free(H);
}

/* Mean cross-entropy of scores z [n][k] / t against y. */
static double nll(const double *z, const int *y, long n, int k, double t) {
    double loss = 0;
    for (long i = 0; i < n; i++) {
        double top = -INFINITY, sum = 0;
        for (int c = 0; c < k; c++) top = fmax(top, z[i * k + c] / t);
        for (int c = 0; c < k; c++) sum += exp(z[i * k + c] / t - top);
        loss += log(sum) + top - z[i * k + y[i]] / t;
    }
    return loss / (double)n;
}

/* The temperature in [1/100, 100] that minimises nll: golden-section search on log t. */
static double best_temperature(const double *z, const int *y, long n, int k, double *loss) {
    double lo = log(0.01), hi = log(100.0);
    for (int it = 0; it < 60; it++) {
        double a = lo + 0.381966 * (hi - lo), c = lo + 0.618034 * (hi - lo);
        if (nll(z, y, n, k, exp(a)) < nll(z, y, n, k, exp(c))) hi = c;
        else lo = a;
    }
    double t = exp(0.5 * (lo + hi));
    *loss = nll(z, y, n, k, t);
    return t;
}

int lda_fit(const float *x, int n, int copies, const int *labels, int d, int k, float shrink, uint64_t seed, float *w, float *b,
            LdaChoice *out, Error *e) {
    long rows = (long)n * copies;
    int *y = xmalloc(sizeof(int) * (size_t)rows);
    for (long r = 0; r < rows; r++) y[r] = labels[r % n];
    unsigned char *use = xmalloc((size_t)rows);
    memset(out, 0, sizeof *out);
    out->shrink = shrink;
    out->temperature = 1;
    int rc = 0;
    if (shrink <= 0) /* every class needs images on both sides of each fold */
        for (int c = 0; c < k && rc == 0; c++) {
            int m = 0;
            for (int i = 0; i < n; i++) m += labels[i] == c;
            if (m < 2) {
                errorf(e, "probe_fit lda: class %d has %d training image%s; choosing the shrinkage by cross-validation needs 2 or more of each",
                       c, m, m == 1 ? "" : "s");
                rc = error_hint(e, "give the shrinkage yourself (probe_shrink 0.4), or more images");
            }
        }
    if (shrink <= 0 && rc == 0) {
        /* fold of each image: per class, a seeded shuffle dealt into LDA_FOLDS parts */
        int *fold = xmalloc(sizeof(int) * (size_t)n), *order = xmalloc(sizeof(int) * (size_t)n);
        for (int c = 0; c < k; c++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (labels[i] == c) order[m++] = i;
            Rng g = rng_for(seed, 0x6c6461 /* "lda" */, (uint64_t)c);
            rng_shuffle(&g, order, m);
            for (int i = 0; i < m; i++) fold[order[i]] = i * LDA_FOLDS / m;
        }
        /* held-out scores of every row for every shrinkage, one fit per fold */
        double *z = xmalloc(sizeof(double) * (size_t)LDA_GRID * rows * k);
        double *fw = xmalloc(sizeof(double) * (size_t)k * d), fb[LDA_MAX_CLASSES];
        for (int f = 0; f < LDA_FOLDS && rc == 0; f++) {
            for (long r = 0; r < rows; r++) use[r] = fold[r % n] != f;
            Parts p;
            rc = parts_make(&p, x, y, use, rows, d, k, e);
            for (int g = 0; g < LDA_GRID && rc == 0; g++) {
                parts_solve(&p, lda_grid[g], fw, fb);
                for (long r = 0; r < rows; r++)
                    if (!use[r])
                        for (int c = 0; c < k; c++) {
                            double s = fb[c];
                            for (int j = 0; j < d; j++) s += fw[(long)c * d + j] * x[r * d + j];
                            z[((long)g * rows + r) * k + c] = s;
                        }
            }
            parts_free(&p);
        }
        double best = INFINITY;
        for (int g = 0; g < LDA_GRID && rc == 0; g++) {
            double loss, t = best_temperature(z + (long)g * rows * k, y, rows, k, &loss);
            long right = 0;
            for (long r = 0; r < rows; r++) {
                const double *zr = z + ((long)g * rows + r) * k;
                int top = 0;
                for (int c = 1; c < k; c++)
                    if (zr[c] > zr[top]) top = c;
                right += top == y[r];
            }
            out->cv_loss[g] = loss, out->cv_top1[g] = 100.0 * (double)right / (double)rows;
            if (loss < best) best = loss, out->shrink = lda_grid[g], out->temperature = t, out->chosen = g;
        }
        out->searched = true;
        free(fold), free(order), free(z), free(fw);
    }
    if (rc == 0) { /* the fit on every row, at the shrinkage and temperature chosen */
        for (long r = 0; r < rows; r++) use[r] = 1;
        Parts p;
        double *fw = xmalloc(sizeof(double) * (size_t)k * d), fb[LDA_MAX_CLASSES];
        rc = parts_make(&p, x, y, use, rows, d, k, e);
        if (rc == 0) {
            parts_solve(&p, out->shrink, fw, fb);
            for (long j = 0; j < (long)k * d; j++) w[j] = (float)(fw[j] / out->temperature);
            for (int c = 0; c < k; c++) b[c] = (float)(fb[c] / out->temperature);
        }
        parts_free(&p);
        free(fw);
    }
    free(y), free(use);
    return rc;
}
