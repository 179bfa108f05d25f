/* probe.c: Strategy A (see probe.h). */
#include "probe.h"

#include "gemm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lda.h"
#include "model.h"
#include "train.h"

/* Features of every image of ds at layer `li`: the mean over height and width
 * of each channel, [n][c]. With flip, each image's mirror too (rows n..2n). */
static float *extract(Run *r, const Dataset *ds, int li, int flip_too, int *rows) {
    const NetcNet *net = r->net;
    const NetcLayer *L = &net->layers[li];
    Model *m = r->model;
    int B = r->cfg.batch, C = L->c, HW = L->h * L->w, copies = flip_too ? 2 : 1;
    float *f = xmalloc(sizeof(float) * (size_t)ds->n * copies * C);
    int *idx = xmalloc(sizeof(int) * (size_t)B);
    for (int flip = 0; flip < copies; flip++)
        for (int start = 0; start < ds->n; start += B) {
            int n = ds->n - start < B ? ds->n - start : B;
            for (int i = 0; i < n; i++) idx[i] = start + i;
            batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, ds, idx, n, &r->cfg, r->mean, r->std, 0, flip, r->cfg.seed, 0);
            net->forward(m, n, NETC_EVAL_ALL); /* it reads a layer's output that evaluation may skip */
            const float *a = m->acts + L->act * (long)m->batch;
            for (int b = 0; b < n; b++)
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    for (int k = 0; k < HW; k++) s += a[((long)c * m->batch + b) * HW + k];
                    f[((long)flip * ds->n + start + b) * C + c] = (float)(s / HW);
                }
        }
    free(idx);
    *rows = ds->n * copies;
    return f;
}

/* Softmax regression on standardised features: full-batch Adam with an L2
 * penalty l2 (the setting probe_l2), a fixed number of steps. Returns the
 * mean cross-entropy on x at the last step (the penalty not included).
 * Nothing here looks at the test set. */
static double fit(const float *x, const int *y, int n, int d, int k, float l2, float *w, float *b) {
    float *logits = xmalloc(sizeof(float) * (size_t)n * k), *gw = xalloc_floats((size_t)k * d), *gb = xalloc_floats((size_t)k);
    float *mw = xalloc_floats((size_t)k * d), *vw = xalloc_floats((size_t)k * d), *mb = xalloc_floats((size_t)k),
          *vb = xalloc_floats((size_t)k);
    const int steps = 500;
    const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f;
    memset(w, 0, sizeof(float) * (size_t)k * d);
    memset(b, 0, sizeof(float) * (size_t)k);
    double loss = 0;
    for (int t = 1; t <= steps; t++) {
        netc_sgemm(CblasNoTrans, CblasTrans, n, k, d, x, d, w, d, 0.0f, logits, k);
        loss = 0;
        for (int i = 0; i < n; i++) { /* logits -> (softmax - onehot) / n */
            float *z = logits + (long)i * k, top = -INFINITY;
            double sum = 0;
            for (int c = 0; c < k; c++) z[c] += b[c], top = fmaxf(top, z[c]);
            for (int c = 0; c < k; c++) sum += z[c] = expf(z[c] - top);
            loss -= log(z[y[i]] / sum) / n;
            for (int c = 0; c < k; c++) z[c] = (float)((z[c] / sum - (c == y[i])) / n);
        }
        netc_sgemm(CblasTrans, CblasNoTrans, k, d, n, logits, k, x, d, 0.0f, gw, d);
        for (int c = 0; c < k; c++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += logits[(long)i * k + c];
            gb[c] = s;
        }
        float c1 = 1 - powf(b1, (float)t), c2 = 1 - powf(b2, (float)t);
        for (long j = 0; j < (long)k * d; j++) {
            float g = gw[j] + l2 * w[j];
            mw[j] = b1 * mw[j] + (1 - b1) * g, vw[j] = b2 * vw[j] + (1 - b2) * g * g;
            w[j] -= lr * (mw[j] / c1) / (sqrtf(vw[j] / c2) + 1e-8f);
        }
        for (int c = 0; c < k; c++) {
            mb[c] = b1 * mb[c] + (1 - b1) * gb[c], vb[c] = b2 * vb[c] + (1 - b2) * gb[c] * gb[c];
            b[c] -= lr * (mb[c] / c1) / (sqrtf(vb[c] / c2) + 1e-8f);
        }
    }
    free(logits), free(gw), free(gb), free(mw), free(vw), free(mb), free(vb);
    return loss;
}

/* Top-1 in percent of the classifier on rows x; with two copies (image and
 * mirror), their probabilities are averaged. */
static double accuracy(const float *x, const int *y, int n, int copies, int d, int k, const float *w, const float *b) {
    float *z = xmalloc(sizeof(float) * (size_t)n * copies * k);
    netc_sgemm(CblasNoTrans, CblasTrans, n * copies, k, d, x, d, w, d, 0.0f, z, k);
    for (int i = 0; i < n * copies; i++) {
        float *r = z + (long)i * k, top = -INFINITY;
        double s = 0;
        for (int c = 0; c < k; c++) r[c] += b[c], top = fmaxf(top, r[c]);
        for (int c = 0; c < k; c++) s += r[c] = expf(r[c] - top);
        for (int c = 0; c < k; c++) r[c] = (float)(r[c] / s);
    }
    long right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 0; c < k; c++) {
            float p = z[(long)i * k + c], q = copies > 1 ? z[((long)n + i) * k + c] : 0;
            float best_p = z[(long)i * k + best] + (copies > 1 ? z[((long)n + i) * k + best] : 0);
            if (p + q > best_p) best = c;
        }
        right += best == y[i];
    }
    free(z);
    return 100.0 * right / n;
}

/* Standardises x [n][d] in place with its columns' mean and deviation; keeps them. */
static void standardise(float *x, int n, int d, double *mu, double *sd) {
    for (int j = 0; j < d; j++) {
        double s = 0, ss = 0;
        for (int i = 0; i < n; i++) s += x[(long)i * d + j], ss += (double)x[(long)i * d + j] * x[(long)i * d + j];
        mu[j] = s / n, sd[j] = sqrt(fmax(ss / n - mu[j] * mu[j], 1e-12));
        for (int i = 0; i < n; i++) x[(long)i * d + j] = (float)((x[(long)i * d + j] - mu[j]) / sd[j]);
    }
}

/* The classifier on standardised rows x ([copies][n][d], an image's mirror n
 * rows on), fitted as cfg's probe_fit says: w [k][d], b [k]. `how` gets a
 * phrase for the report line: the method and what it chose. Returns the
 * mean cross-entropy on the rows (logistic; 0 for lda, whose phrase says what
 * it chose), or -1 after an error. */
static double fit_classifier(const Config *cfg, const float *x, int n, int copies, const int *labels, int d, int k, float *w,
                             float *b, char *how, size_t len, Error *e) {
    if (cfg->probe_fit == PROBE_LOGISTIC) {
        int rows = n * copies, *y = xmalloc(sizeof(int) * (size_t)rows);
        for (int i = 0; i < rows; i++) y[i] = labels[i % n];
        double loss = fit(x, y, rows, d, k, cfg->probe_l2, w, b);
        free(y);
        snprintf(how, len, "softmax regression (probe_l2 %g)", cfg->probe_l2);
        return loss;
    }
    if (d > LDA_MAX_FEATURES || k > LDA_MAX_CLASSES) {
        errorf(e, "probe_fit lda: %d features and %d classes; LDA takes at most %d and %d (it factors a %d x %d covariance)", d, k,
               LDA_MAX_FEATURES, LDA_MAX_CLASSES, d, d);
        error_hint(e, "pool the features further, or fit them by softmax regression (probe_fit logistic)");
        return -1;
    }
    LdaChoice c;
    if (lda_fit(x, n, copies, labels, d, k, cfg->probe_shrink, cfg->seed, w, b, &c, e) < 0) return -1;
    if (c.searched)
        snprintf(how, len,
                 "shrinkage LDA (shrinkage %g and temperature %.2f, chosen by %d-fold cross-validation on the training images: "
                 "held-out loss %.4f, top-1 %.1f%%)",
                 c.shrink, c.temperature, LDA_FOLDS, c.cv_loss[c.chosen], c.cv_top1[c.chosen]);
    else snprintf(how, len, "shrinkage LDA (probe_shrink %g)", c.shrink);
    return 0;
}

int probe_init_head(Run *r, Error *e) {
    const NetcNet *net = r->net;
    int cls = -1;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].act == net->logits && net->layers[i].params > 0) cls = i;
    if (cls < 0) return errorf(e, "init_head probe: %s has no classifier layer with weights before its loss", net->name);
    const NetcLayer *c = &net->layers[cls], *in = &net->layers[c->input];
    if (in->h * in->w != 1) {
        errorf(e, "init_head probe: classifier %s reads %s, which is %dx%d, not 1x1", c->name, in->name, in->w, in->h);
        return error_hint(e, "pool first (avgpool global), so the classifier is linear on pooled features");
    }
    char wname[300], bname[300];
    snprintf(wname, sizeof wname, "%s.weight", c->name);
    snprintf(bname, sizeof bname, "%s.bias", c->name);
    const NetcTensor *wt = net_tensor(net, wname), *bt = net_tensor(net, bname);
    if (!wt || !bt) return errorf(e, "init_head probe: classifier %s needs a weight and a bias", c->name);
    double t0 = now_seconds();
    int n, d = in->c, k = net->classes;
    float *x = extract(r, &r->train, c->input, r->cfg.flip, &n);
    double *mu = xmalloc(sizeof(double) * (size_t)d), *sd = xmalloc(sizeof(double) * (size_t)d);
    standardise(x, n, d, mu, sd);
    float *w = xmalloc(sizeof(float) * (size_t)k * d), *b = xmalloc(sizeof(float) * (size_t)k);
    char how[400];
    if (fit_classifier(&r->cfg, x, r->train.n, n / r->train.n, r->train.labels, d, k, w, b, how, sizeof how, e) < 0) {
        free(x), free(mu), free(sd), free(w), free(b);
        return -1;
    }
    double acc = accuracy(x, r->train.labels, r->train.n, 1, d, k, w, b);
    /* fold the standardisation in: w (x - mu) / sd + b = (w / sd) x + (b - sum w mu / sd) */
    float *W = r->model->params + wt->offset, *B = r->model->params + bt->offset;
    for (int o = 0; o < k; o++) {
        double shift = 0;
        for (int j = 0; j < d; j++) {
            W[(long)o * d + j] = (float)(w[(long)o * d + j] / sd[j]);
            shift += w[(long)o * d + j] * mu[j] / sd[j];
        }
        B[o] = (float)(b[o] - shift);
    }
    if (!r->quiet)
        printf("init_head: %s fitted on %d features of %d training images%s by %s in %.1f s; train top-1 %.1f%%\n", c->name, d,
               r->train.n, n > r->train.n ? " and their mirrors" : "", how, now_seconds() - t0, acc);
    free(x), free(mu), free(sd), free(w), free(b);
    return 0;
}

int cmd_probe(const NetcNet *net, Config *cfg, const char *layer, const char *weights, Error *e) {
    if (!layer) return errorf(e, "probe needs --at LAYER"), error_hint(e, "e.g. --at %s", net->layers[net->n_layers - 3].name);
    int li = net_layer_index(net, layer);
    if (li < 0) {
        errorf(e, "probe: no layer named '%s' in %s", layer, net->name);
        return error_hint(e, "%s report lists the layers", net->name);
    }
    Run r;
    int rc = run_setup(&r, net, cfg, true, true, e);
    if (rc == 0 && weights) rc = model_load_weights(r.model, weights, e);
    if (rc == 0 && !r.have_test) rc = errorf(e, "%s has no test/ folder to measure the probe on", cfg->data);
    if (rc == 0) {
        double t0 = now_seconds();
        int ntr, nte, d = net->layers[li].c, k = net->classes, flip = r.cfg.flip;
        float *xtr = extract(&r, &r.train, li, flip, &ntr);
        float *xte = extract(&r, &r.test, li, r.cfg.tta == TTA_FLIP, &nte);
        double t_feat = now_seconds() - t0;
        /* standardise with the training features' statistics */
        double *mu = xmalloc(sizeof(double) * (size_t)d), *sd = xmalloc(sizeof(double) * (size_t)d);
        standardise(xtr, ntr, d, mu, sd);
        for (int j = 0; j < d; j++)
            for (int i = 0; i < nte; i++) xte[(long)i * d + j] = (float)((xte[(long)i * d + j] - mu[j]) / sd[j]);
        free(mu), free(sd);
        float *w = xmalloc(sizeof(float) * (size_t)k * d), *b = xmalloc(sizeof(float) * (size_t)k);
        char how[400], fitted[500];
        double loss = fit_classifier(&r.cfg, xtr, r.train.n, ntr / r.train.n, r.train.labels, d, k, w, b, how, sizeof how, e);
        if (loss < 0) rc = -1;
        else {
            double tr = accuracy(xtr, r.train.labels, r.train.n, 1, d, k, w, b);
            double te = accuracy(xte, r.test.labels, r.test.n, nte / r.test.n, d, k, w, b);
            if (r.cfg.probe_fit == PROBE_LOGISTIC) snprintf(fitted, sizeof fitted, "(loss %.4f, probe_l2 %g)", loss, r.cfg.probe_l2);
            else snprintf(fitted, sizeof fitted, "by %s", how);
            printf("probe at %s (%d features, mean over %dx%d): train top-1 %.2f%% %s, "
                   "test top-1 %.2f%% (%d images)%s; features %.1f s, total %.1f s\n",
                   layer, d, net->layers[li].w, net->layers[li].h, tr, fitted, te, r.test.n,
                   nte > r.test.n ? ", averaged over the flip" : "", t_feat, now_seconds() - t0);
        }
        free(xtr), free(xte), free(w), free(b);
    }
    run_free(&r);
    return rc;
}
