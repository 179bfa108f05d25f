/* metrics.h: loss, top-1, top-5 and the confusion matrix over a pass. */
#ifndef NETC_METRICS_H
#define NETC_METRICS_H

typedef struct {
    int classes;
    long n;
    double loss_sum;
    long top1, top5;
    long *confusion; /* [true][predicted] */
} Metrics;

void metrics_init(Metrics *mt, int classes);
void metrics_reset(Metrics *mt);
void metrics_free(Metrics *mt);
/* probs [n][classes]; batch_loss is the batch's mean loss */
void metrics_add(Metrics *mt, const float *probs, const int *labels, int n, double batch_loss);
double metrics_loss(const Metrics *mt);
double metrics_top1(const Metrics *mt);       /* percent */
double metrics_top5(const Metrics *mt);       /* percent */
double metrics_mean_class(const Metrics *mt); /* mean of per-class top-1, percent */
double metrics_class_acc(const Metrics *mt, int c);

/* The k most probable classes of one row of probabilities, best first. */
void top_k(const float *probs, int classes, int k, int *out);

#endif
