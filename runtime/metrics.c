/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void metrics_init(Metrics *mt, int classes) {
    memset(mt, 0, sizeof *mt);
    mt->classes = classes;
    mt->confusion = xcalloc((size_t)classes * (size_t)classes, sizeof(long));
}

void metrics_reset(Metrics *mt) {
    mt->n = mt->top1 = mt->top5 = 0;
    mt->loss_sum = 0;
    memset(mt->confusion, 0, sizeof(long) * (size_t)mt->classes * (size_t)mt->classes);
}

void metrics_free(Metrics *mt) {
    free(mt->confusion);
    mt->confusion = NULL;
}

void top_k(const float *p, int classes, int k, int *out) {
    if (k > classes) k = classes;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int c = 0; c < classes; c++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= out[i] == c;
            if (!taken && (best < 0 || p[c] > p[best])) best = c;
        }
        out[j] = best;
    }
}

void metrics_add(Metrics *mt, const float *probs, const int *labels, int n, double batch_loss) {
    int k = mt->classes < 5 ? mt->classes : 5;
    for (int b = 0; b < n; b++) {
        int top[5];
        top_k(probs + (long)b * mt->classes, mt->classes, k, top);
        mt->top1 += top[0] == labels[b];
        for (int j = 0; j < k; j++) mt->top5 += top[j] == labels[b];
        mt->confusion[(long)labels[b] * mt->classes + top[0]]++;
    }
    mt->n += n;
    mt->loss_sum += batch_loss * n;
}

double metrics_loss(const Metrics *mt) { return mt->n ? mt->loss_sum / mt->n : 0; }
double metrics_top1(const Metrics *mt) { return mt->n ? 100.0 * mt->top1 / mt->n : 0; }
double metrics_top5(const Metrics *mt) { return mt->n ? 100.0 * mt->top5 / mt->n : 0; }

double metrics_class_acc(const Metrics *mt, int c) {
    long row = 0;
    for (int j = 0; j < mt->classes; j++) row += mt->confusion[(long)c * mt->classes + j];
    return row ? 100.0 * mt->confusion[(long)c * mt->classes + c] / row : 0;
}

double metrics_mean_class(const Metrics *mt) {
    double s = 0;
    int seen = 0;
    for (int c = 0; c < mt->classes; c++) {
        long row = 0;
        for (int j = 0; j < mt->classes; j++) row += mt->confusion[(long)c * mt->classes + j];
        if (row) s += metrics_class_acc(mt, c), seen++;
    }
    return seen ? s / seen : 0;
}
