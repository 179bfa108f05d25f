/* train.c: the training loop and evaluation (see train.h). */
#include "train.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist.h"
#include "model.h"
#include "report_html.h"
#include "run_index.h"
#include "rng.h"

/* Ctrl-C and SIGTERM finish the batch at hand, save, and stop. A second one
 * quits at once: checkpoints are written to a temporary file and renamed, so
 * last.ckpt is never left half-written; only the epoch in progress is lost. */
static volatile sig_atomic_t interrupted;
static char ranks_stopping[1400]; /* under mpirun: what rank 0 says, with the run folder (set by run_train) */
static size_t ranks_stopping_len;
static void on_signal(int sig) {
    (void)sig;
    static const char again[] = "\nnetc: stopped at once; last.ckpt holds the last checkpoint saved\n";
    static const char first[] = "\nnetc: stopping after this batch to save a checkpoint (Ctrl-C again quits at once)\n";
    /* under mpirun: Ctrl-C, or mpirun ending the job because a rank failed; it kills what has not
     * stopped soon after (odls_base_sigkill_timeout), so the save may not happen, but a
     * checkpoint is never left half-written */
    ssize_t w = 0;
    if (dist.size > 1) { /* mpirun may signal twice (SIGINT, SIGTERM): the ranks must stop together */
        if (dist.rank == 0 && !interrupted) w = write(STDERR_FILENO, ranks_stopping, ranks_stopping_len);
        interrupted = 1;
        return;
    }
    w = interrupted ? write(STDERR_FILENO, again, sizeof again - 1) : write(STDERR_FILENO, first, sizeof first - 1);
    (void)w;
    if (interrupted) _exit(130);
    interrupted = 1;
}

void resolve_normalisation(const Config *cfg, const Dataset *train, int in_c, float mean[3], float std[3]) {
    if (cfg->normalize_auto && train) {
        dataset_stats(train, cfg, in_c, mean, std);
        return;
    }
    for (int c = 0; c < 3; c++) {
        mean[c] = cfg->mean[cfg->nmean > c ? c : cfg->nmean - 1];
        std[c] = cfg->std[cfg->nstd > c ? c : cfg->nstd - 1];
    }
}

/* Decodes root/split; with val, holds out cfg.val_split of each class into it
 * (the data line then counts both parts). */
static int load_split(Run *r, Dataset *ds, const char *split, char *const *classes, int n_classes, Dataset *val, Error *e) {
    const NetcNet *net = r->net;
    int w = r->cfg.resize_w ? r->cfg.resize_w : net->in_w, h = r->cfg.resize_h ? r->cfg.resize_h : net->in_h;
    if (w < net->in_w || h < net->in_h) {
        errorf(e, "resize %dx%d is smaller than the input %dx%d", w, h, net->in_w, net->in_h);
        return error_hint(e, "cache images at least as large as the input: resize %dx%d", net->in_w, net->in_h);
    }
    double t0 = now_seconds();
    if (dataset_load(ds, r->cfg.data, split, w, h, net->in_c, classes, n_classes, r->cfg.threads, e) < 0) return -1;
    if (val && dataset_split(ds, val, r->cfg.val_split, r->cfg.val_fold, r->cfg.seed, e) < 0) {
        char *hint = strstr(e->msg, "\n  HINT:"), msg[sizeof e->msg]; /* name the folder before the hint */
        snprintf(msg, sizeof msg, "%s/%s: %.*s%s", r->cfg.data, split, hint ? (int)(hint - e->msg) : (int)strlen(e->msg), e->msg,
                 hint ? hint : "");
        snprintf(e->msg, sizeof e->msg, "%s", msg);
        return -1;
    }
    if (!r->quiet) {
        printf("data: %s/%s: %d images", r->cfg.data, split, ds->n + (val ? val->n : 0));
        if (val && val->n) {
            printf(" (%d to train on, %d held out for validation: val_split %g", ds->n, val->n, r->cfg.val_split);
            if (r->cfg.val_fold) printf(", val_fold %d", r->cfg.val_fold);
            printf(", seed %llu)", (unsigned long long)r->cfg.seed);
        }
        printf(", %d classes, cached at %dx%dx%d in %.1f s", ds->n_classes, w, h, net->in_c, now_seconds() - t0);
        if (ds->n_skipped) printf(" (%d file%s skipped: see the warnings)", ds->n_skipped, ds->n_skipped == 1 ? "" : "s");
        printf("\n");
        fflush(stdout); /* before the next split's warnings, when both go to one place */
    }
    return 0;
}

/* What to do when the net's pretrained file `path` is missing: link the
 * shipped SqueezeNet (a file named squeezenet1_0*), convert torchvision's
 * AlexNet (alexnet*), or convert some PyTorch checkpoint into `path`. */
static const char *missing_pretrained_hint(const char *path, char *buf, size_t len) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strncmp(base, "squeezenet1_0", 13) == 0)
        snprintf(buf, len, "data/get_weights.sh links the shipped ImageNet SqueezeNet 1.0 into weights/; or convert "
                           "torchvision's checkpoint: python3 tools/pth2safetensors.py squeezenet1_0-b66bff10.pth %s", path);
    else if (strncmp(base, "alexnet", 7) == 0)
        snprintf(buf, len, "AlexNet's weights are not shipped; convert torchvision's checkpoint: "
                           "python3 tools/pth2safetensors.py alexnet-owt-7be5be79.pth %s", path);
    else
        snprintf(buf, len, "make it from a PyTorch checkpoint: python3 tools/pth2safetensors.py MODEL.pth %s, "
                           "or point `pretrained` at the file", path);
    return buf;
}

int run_setup(Run *r, const NetcNet *net, const Config *cfg, bool need_train, bool need_test, Error *e) {
    memset(r, 0, sizeof *r);
    r->net = net;
    r->cfg = *cfg;
    r->started = time(NULL), r->wall_t0 = now_seconds();
    r->quiet = dist.rank != 0;
    if (r->cfg.threads <= 0) r->cfg.threads = dist_default_threads();
    omp_set_num_threads(r->cfg.threads);

    struct stat st;
    if (r->cfg.pretrained[0] && stat(r->cfg.pretrained, &st) != 0) { /* before minutes of decoding, not after */
        char hint[1500];
        errorf(e, "pretrained weights %s not found", r->cfg.pretrained);
        return error_hint(e, "%s", missing_pretrained_hint(r->cfg.pretrained, hint, sizeof hint));
    }
    bool normalize_from_train = r->cfg.normalize_auto;
    if (need_train || normalize_from_train) {
        Dataset *val = need_train && r->cfg.val_split > 0 ? &r->val : NULL;
        if (load_split(r, &r->train, "train", NULL, 0, val, e) < 0) return -1;
        r->have_val = val && r->val.n > 0;
        if (r->train.n_classes != net->classes) {
            errorf(e, "%s/train has %d classes, but %s outputs %d", r->cfg.data, r->train.n_classes, net->name, net->classes);
            return error_hint(e, "change the classifier's outputs in %s to %d (-> %d)", net->source, r->train.n_classes,
                              r->train.n_classes);
        }
    }
    if (need_test) {
        char path[1200];
        snprintf(path, sizeof path, "%s/test", r->cfg.data);
        if (stat(path, &st) == 0) {
            if (load_split(r, &r->test, "test", r->train.n ? r->train.class_names : NULL, r->train.n ? r->train.n_classes : 0,
                           NULL, e) < 0)
                return -1;
            r->have_test = true;
        } else if (!need_train) {
            errorf(e, "%s has no test/ folder", r->cfg.data);
            return error_hint(e, "the data folder holds train/ and test/, one sub-folder per class");
        }
    }
    resolve_normalisation(&r->cfg, r->train.n ? &r->train : NULL, net->in_c, r->mean, r->std);

    /* under mpirun each process holds its share of a batch (dist.h) */
    r->model = model_new(net, (r->cfg.batch + dist.size - 1) / dist.size, r->cfg.threads);
    r->model->label_smoothing = r->cfg.label_smoothing;
    r->model->bn_momentum = r->cfg.bn_momentum;
    r->model->seed = r->cfg.seed;
    model_init(r->model, r->cfg.seed);
    if (r->cfg.pretrained[0]) {
        int n = model_load_pretrained(r->model, r->cfg.pretrained, e);
        if (n < 0) return -1;
        if (!r->quiet) printf("pretrained: %d tensors from %s\n", n, r->cfg.pretrained);
    }
    optim_init(&r->opt, net, &r->cfg);
    metrics_init(&r->train_m, net->classes);
    metrics_init(&r->val_m, net->classes);
    metrics_init(&r->test_m, net->classes);
    return 0;
}

void run_share_state(Run *r) {
    if (dist.size == 1) return;
    long n = r->net->param_floats;
    dist_bcast(r->model->params, sizeof(float) * (size_t)n);
    if (r->opt.m) dist_bcast(r->opt.m, sizeof(float) * (size_t)n);
    if (r->opt.v) dist_bcast(r->opt.v, sizeof(float) * (size_t)n);
    struct {
        int epoch, batch, n_rows;
        long step, t;
        float mean[3], std[3];
    } at = {r->epoch, r->batch, r->n_rows, r->step, r->opt.t, {0}, {0}};
    memcpy(at.mean, r->mean, sizeof at.mean), memcpy(at.std, r->std, sizeof at.std);
    dist_bcast(&at, sizeof at);
    r->epoch = at.epoch, r->batch = at.batch, r->step = at.step, r->opt.t = at.t;
    memcpy(r->mean, at.mean, sizeof at.mean), memcpy(r->std, at.std, sizeof at.std);
    if (dist.rank != 0) { /* the finished epochs' rows: early stopping reads them */
        r->rows = xrealloc(r->rows, sizeof(EpochRow) * (size_t)(at.n_rows + 1));
        r->n_rows = r->cap_rows = at.n_rows;
    }
    dist_bcast(r->rows, sizeof(EpochRow) * (size_t)at.n_rows);
}

void run_free(Run *r) {
    dataset_free(&r->train);
    dataset_free(&r->val);
    dataset_free(&r->test);
    model_free(r->model);
    optim_free(&r->opt);
    metrics_free(&r->train_m);
    metrics_free(&r->val_m);
    metrics_free(&r->test_m);
    free(r->rows);
    free(r->first_filters);
    free(r->test_pred);
    free(r->test_conf);
    memset(r, 0, sizeof *r);
}

/* The order of the training images in `epoch`: a Fisher-Yates shuffle from
 * the seed and the epoch alone, so a resumed run sees the same order. */
static void epoch_order(int *perm, int n, uint64_t seed, int epoch) {
    Rng rng = rng_for(seed, (uint64_t)epoch, 0x5EEDull);
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(&rng, perm, n);
}

void run_evaluate_range(Run *r, const Dataset *ds, int first, int count, Metrics *mt, int *predicted, float *confidence) {
    Model *m = r->model;
    const NetcNet *net = r->net;
    int B = m->batch, K = net->classes, end = first + count;
    int *idx = xmalloc(sizeof(int) * (size_t)B), *labels = xmalloc(sizeof(int) * (size_t)B);
    float *avg = xmalloc(sizeof(float) * (size_t)B * (size_t)K);
    for (int start = first; start < end; start += B) {
        int n = end - start < B ? end - start : B;
        for (int i = 0; i < n; i++) idx[i] = start + i, labels[i] = ds->labels[start + i];
        m->labels = labels;
        batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, ds, idx, n, &r->cfg, r->mean, r->std, 0, 0, r->cfg.seed, 0);
        net->forward(m, n, 0);
        double loss = m->loss;
        if (r->cfg.tta == TTA_FLIP) { /* average the probabilities of the image and its mirror */
            memcpy(avg, m->probs, sizeof(float) * (size_t)n * (size_t)K);
            batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, ds, idx, n, &r->cfg, r->mean, r->std, 0, 1, r->cfg.seed, 0);
            net->forward(m, n, 0);
            double l2 = 0;
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < K; k++) avg[b * K + k] = 0.5f * (avg[b * K + k] + m->probs[b * K + k]);
                l2 -= log(fmax(avg[b * K + labels[b]], 1e-30));
            }
            loss = l2 / n;
            memcpy(m->probs, avg, sizeof(float) * (size_t)n * (size_t)K);
        }
        metrics_add(mt, m->probs, labels, n, loss);
        if (predicted || confidence)
            for (int b = 0; b < n; b++) {
                int top;
                top_k(m->probs + (long)b * K, K, 1, &top);
                if (predicted) predicted[start + b] = top;
                if (confidence) confidence[start + b] = m->probs[(long)b * K + top];
            }
    }
    m->labels = NULL;
    free(idx), free(labels), free(avg);
}

void run_evaluate(Run *r, const Dataset *ds, Metrics *mt, int *predicted, float *confidence) {
    int lo, hi;
    metrics_reset(mt);
    dist_share(ds->n, &lo, &hi); /* under mpirun each process evaluates its share; the sums are summed */
    run_evaluate_range(r, ds, lo, hi - lo, mt, predicted, confidence);
    dist_sum_metrics(mt);
    if (predicted) dist_gather_shares(predicted, ds->n, sizeof(int));
    if (confidence) dist_gather_shares(confidence, ds->n, sizeof(float));
}

int run_best_epoch(const Run *r) {
    int best = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const EpochRow *w = &r->rows[i], *b = best ? &r->rows[best - 1] : NULL;
        bool better = r->have_val ? w->val_top1 >= 0 && (!b || w->val_top1 > b->val_top1) : !b || w->train_loss < b->train_loss;
        if (better) best = i + 1;
    }
    return best;
}

bool run_finished(const Run *r) {
    if (r->epoch >= r->cfg.epochs) return true;
    int best = run_best_epoch(r);
    return r->have_val && r->cfg.early_stop > 0 && best > 0 && r->n_rows - best >= r->cfg.early_stop;
}

/* ---- reporting as it goes ---------------------------------------------------- */

static void print_header(const Run *r) {
    printf("\nepoch        lr  train loss  top-1%s   test loss  top-1  top-5  mean/class   seconds\n",
           r->have_val ? "    val loss  top-1" : "");
}

static void print_row(const Run *r, const EpochRow *row) {
    printf("%3d/%-3d %9.5f  %10.4f  %5.1f%%", row->epoch, r->cfg.epochs, row->lr, row->train_loss, row->train_top1);
    if (r->have_val) printf("  %10.4f  %5.1f%%", row->val_loss, row->val_top1);
    if (row->test_top1 >= 0)
        printf("  %10.4f  %5.1f%%  %5.1f%%      %5.1f%%", row->test_loss, row->test_top1, row->test_top5, row->test_mean_class);
    else
        printf("  %10s  %6s  %6s      %6s", "-", "-", "-", "-");
    printf("  %8.1f\n", row->seconds);
    fflush(stdout);
}

static void progress(const Run *r, int epoch, int done, int total, double loss, double t0) {
    if (r->quiet || !isatty(STDERR_FILENO)) return;
    int width = 30, fill = total ? done * width / total : width;
    double dt = now_seconds() - t0;
    fprintf(stderr, "\r  epoch %d/%d [", epoch + 1, r->cfg.epochs);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d  loss %.4f  %.0f img/s ", done, total, loss,
            dt > 0 ? (double)done * r->cfg.batch / dt : 0);
    if (done == total) fprintf(stderr, "\r%*s\r", 90, "");
    fflush(stderr);
}

/* Empty fields where a pass did not run (no validation set; no test pass that epoch). */
static int write_metrics_csv(const Run *r, Error *e) {
    size_t cap = 256 + (size_t)r->n_rows * 200, len = 0;
    char *buf = xmalloc(cap);
    len += (size_t)snprintf(buf + len, cap - len,
                            "epoch,lr,train_loss,train_top1,train_top5,val_loss,val_top1,val_top5,test_loss,test_top1,test_top5,"
                            "test_mean_class,seconds,images_per_sec\n");
    for (int i = 0; i < r->n_rows; i++) {
        const EpochRow *w = &r->rows[i];
        len += (size_t)snprintf(buf + len, cap - len, "%d,%.6g,%.6f,%.4f,%.4f,", w->epoch, w->lr, w->train_loss, w->train_top1,
                                w->train_top5);
        if (w->val_top1 >= 0) len += (size_t)snprintf(buf + len, cap - len, "%.6f,%.4f,%.4f,", w->val_loss, w->val_top1, w->val_top5);
        else len += (size_t)snprintf(buf + len, cap - len, ",,,");
        if (w->test_top1 >= 0)
            len += (size_t)snprintf(buf + len, cap - len, "%.6f,%.4f,%.4f,%.4f,", w->test_loss, w->test_top1, w->test_top5,
                                    w->test_mean_class);
        else
            len += (size_t)snprintf(buf + len, cap - len, ",,,,");
        len += (size_t)snprintf(buf + len, cap - len, "%.3f,%.1f\n", w->seconds, w->images_per_sec);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.csv", r->out);
    int rc = write_file_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

/* report.html, then run.json and the runs index beside the run folder (a
 * failure there is a warning: the run's own files are what matter). */
static int write_pages(Run *r, Error *e) {
    if (report_html_write(r, e) < 0) return -1;
    Error ie;
    if (run_index_update(r, &ie) < 0 && !r->warned_index) {
        fprintf(stderr, "netc: warning: %s\n  (the run goes on; only the runs index is out of date)\n", ie.msg);
        r->warned_index = true;
    }
    return 0;
}

static int save_epoch_files(Run *r, bool best, Error *e) {
    char path[1200];
    if (write_metrics_csv(r, e) < 0) return -1;
    snprintf(path, sizeof path, "%s/last.ckpt", r->out);
    if (checkpoint_save(r, path, e) < 0) return -1;
    if (best) {
        snprintf(path, sizeof path, "%s/best.ckpt", r->out);
        if (checkpoint_save(r, path, e) < 0) return -1;
    }
    snprintf(path, sizeof path, "%s/weights.safetensors", r->out);
    if (save_final_weights(r, path, e) < 0) return -1;
    return write_pages(r, e);
}

/* The first conv's weights before any step, for the report's "before" filters
 * (a resumed run has them from its checkpoint). */
static void capture_first_filters(Run *r) {
    const NetcTensor *t = report_first_conv(r->net);
    if (!t || r->first_filters || r->epoch > 0 || r->batch > 0) return;
    r->first_filters = xmalloc(sizeof(float) * (size_t)t->size);
    memcpy(r->first_filters, r->model->params + t->offset, sizeof(float) * (size_t)t->size);
}

static void add_row(Run *r, EpochRow row) {
    if (r->n_rows == r->cap_rows) {
        r->cap_rows = r->cap_rows ? 2 * r->cap_rows : 64;
        r->rows = xrealloc(r->rows, sizeof(EpochRow) * (size_t)r->cap_rows);
    }
    r->rows[r->n_rows++] = row;
}

/* ---- the loop ------------------------------------------------------------------- */

/* The run has diverged ("the loss is NaN", "the weights are infinite"): says
 * where, and what to try. Nothing of this epoch is saved, so last.ckpt (if a
 * previous epoch wrote one) still holds the last good state. */
static int diverged(const Run *r, Error *e, const char *what) {
    errorf(e, "epoch %d, batch %d: %s", r->epoch + 1, r->batch + 1, what);
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/last.ckpt", r->out);
    double lr = r->cfg.lr / 10;
    if (stat(path, &st) == 0)
        return error_hint(e, "the learning rate is probably too high for this net (or clip the gradients: --clip_grad 5); "
                             "%s, the last good checkpoint, is untouched: continue from it with a smaller rate: "
                             "train --resume %s --lr %g",
                          path, r->out, lr);
    return error_hint(e, "the learning rate is probably too high for this net (or clip the gradients: --clip_grad 5); "
                         "no checkpoint was saved yet, so start again with a smaller rate: --lr %g",
                      lr);
}

/* Are all n floats finite? By their exponent bits, so it vectorises: one
 * pass over the weights per step costs under 1% of the step. */
static bool all_finite(const float *p, long n) {
    uint32_t bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, p + i, 4);
        bad |= (u & 0x7F800000u) == 0x7F800000u;
    }
    return !bad;
}

/* After each step. The loss alone does not show every divergence: a relu
 * turns a NaN into 0 (the loss stays finite while a conv's weights are NaN),
 * and batch norm's running statistics, used only at test time, can overflow
 * while training looks fine. Weights that are not finite must never replace
 * the last good checkpoint. */
static int check_weights(const Run *r, Error *e) {
    const float *p = r->model->params;
    if (all_finite(p, r->net->param_floats)) return 0;
    const NetcTensor *bad = NULL;
    long at = 0;
    for (int t = 0; t < r->net->n_tensors && !bad; t++) {
        const NetcTensor *x = &r->net->tensors[t];
        for (long k = 0; k < x->size && !bad; k++)
            if (!isfinite(p[x->offset + k])) bad = x, at = x->offset + k;
    }
    char what[300];
    snprintf(what, sizeof what, "the weights became NaN or infinite (%s holds %s)", bad ? bad->name : "a tensor",
             bad && isnan(p[at]) ? "NaN" : "an infinity");
    return diverged(r, e, what);
}

/* Under mpirun with sync_bn off, each process kept batch norm's running
 * statistics from its own shares: their mean, so that every process
 * evaluates and rank 0 saves the same ones. */
static void average_bn_statistics(Run *r) {
    const NetcNet *net = r->net;
    if (dist.size == 1 || r->cfg.sync_bn) return;
    long n = 0;
    for (int t = 0; t < net->n_tensors; t++)
        if (net->tensors[t].role == ROLE_RUNNING_MEAN || net->tensors[t].role == ROLE_RUNNING_VAR) n += net->tensors[t].size;
    double *sum = xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int pass = 0; pass < 2; pass++) { /* gather, then scatter back */
        long k = 0;
        for (int t = 0; t < net->n_tensors; t++) {
            const NetcTensor *x = &net->tensors[t];
            if (x->role != ROLE_RUNNING_MEAN && x->role != ROLE_RUNNING_VAR) continue;
            float *p = r->model->params + x->offset;
            for (long i = 0; i < x->size; i++, k++)
                if (pass == 0) sum[k] = p[i];
                else p[i] = (float)(sum[k] / dist.size);
        }
        if (pass == 0) dist_sum_doubles(sum, (int)n);
    }
    free(sum);
}

/* Every process took the same steps from the same sums, so they hold the
 * same weights to the bit, as long as MPI gave all of them the same sums
 * (the MPI standard advises it; Open MPI's algorithms do it). Checked after
 * each epoch by a hash of the weights; if they differ, rank 0's weights and
 * optimiser state go to every process. */
static void check_same_weights(Run *r) {
    if (dist.size == 1) return;
    const unsigned char *p = (const unsigned char *)r->model->params;
    size_t bytes = sizeof(float) * (size_t)r->net->param_floats;
    uint64_t h = 0x9E3779B97F4A7C15ull, w = 0;
    for (size_t i = 0; i < bytes; i += 8) {
        memcpy(&w, p + i, bytes - i < 8 ? bytes - i : 8);
        h = (h ^ w) * 0x100000001B3ull;
    }
    if (dist_all_equal(h)) return;
    if (!r->quiet) fprintf(stderr, "warning: epoch %d: the processes' weights differ (MPI's sums were not the same bits on every "
                                   "process): rank 0's are given to all\n", r->epoch + 1);
    run_share_state(r);
}

/* A step whose input or loss was not finite: flags as dist_step_finish
 * returns them (rank + 1 where it happened), or this process's alone. */
static int bad_step(const Run *r, Error *e, const int *flags) {
    char where[64] = "";
    int rank = (flags[DIST_INPUT_BAD] ? flags[DIST_INPUT_BAD] : flags[DIST_LOSS_BAD]) - 1;
    if (dist.size > 1) snprintf(where, sizeof where, " (on rank %d)", rank);
    if (flags[DIST_INPUT_BAD]) {
        const Config *c = &r->cfg;
        errorf(e, "epoch %d, batch %d: the input images are NaN or infinite after normalisation%s", r->epoch + 1, r->batch + 1,
               where);
        return error_hint(e, "check the preprocess settings: range %g, mean and std (%g %g %g, %g %g %g)", c->range, r->mean[0],
                          r->mean[1], r->mean[2], r->std[0], r->std[1], r->std[2]);
    }
    char what[128];
    snprintf(what, sizeof what, "the loss is %s%s",
             dist.size > 1 ? "NaN or infinite" : isnan(r->model->loss) ? "NaN" : "infinite", where);
    return diverged(r, e, what);
}

int run_train(Run *r, Error *e) {
    const NetcNet *net = r->net;
    Model *m = r->model;
    const Config *c = &r->cfg;
    int N = r->train.n, B = c->batch, batches = (N + B - 1) / B;
    if (B < dist.size) { /* every process finds it: rank 0 says it */
        errorf(e, "batch %d is smaller than the %d processes mpirun started: each needs a share of every batch", B, dist.size);
        error_hint(e, "--batch %d or more, or mpirun -np %d or fewer", dist.size, B);
        if (dist.rank != 0) e->msg[0] = 0;
        return -1;
    }
    /* under mpirun the same: a last batch with fewer images than processes is left out */
    if (dist.size > 1 && N % B && N % B < dist.size) batches--;
    int *perm = xmalloc(sizeof(int) * (size_t)N), *labels = xmalloc(sizeof(int) * (size_t)m->batch);
    int rc = 0;
    bool warned_loss = false;
    DistStep *ds = dist_step_new(net, m->grads, c->bucket_mb); /* NULL alone */
    m->sync_bn = ds && c->sync_bn ? dist_sync_bn : NULL;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    interrupted = 0;
    ranks_stopping_len = (size_t)snprintf(ranks_stopping, sizeof ranks_stopping,
             "\nnetc: the job is ending (Ctrl-C, or a rank failed: mpirun says which); every rank stops after this batch and "
             "rank 0 saves, if they can in time; %s/last.ckpt is whole either way: train --resume %s continues, on any "
             "number of processes\n",
             r->out, r->out);
    if (ranks_stopping_len >= sizeof ranks_stopping) ranks_stopping_len = sizeof ranks_stopping - 1;
    bool stop = false; /* after this batch: alone, once interrupted; under mpirun, once any process was */

    capture_first_filters(r);
    r->running = true;
    if (dist.rank == 0 && write_pages(r, e) < 0) rc = -1; /* the settings and the "before" filters, open from the start */
    rc = dist_agree(rc, e);
    if (!r->quiet && rc == 0) print_header(r);
    for (int i = 0; i < r->n_rows && !r->quiet; i++) print_row(r, &r->rows[i]);
    while (rc == 0 && !run_finished(r)) {
        epoch_order(perm, N, c->seed, r->epoch);
        if (r->batch == 0) metrics_reset(&r->train_m), r->part_seconds = 0; /* else: resumed mid-epoch, sums restored */
        double t0 = now_seconds();
        float lr = 0;
        for (; r->batch < batches; r->batch++) {
            int start = r->batch * B, n = N - start < B ? N - start : B, lo, hi;
            dist_share(n, &lo, &hi); /* this process's images of the batch: all of them alone */
            const int *mine = perm + start + lo;
            for (int i = 0; i < hi - lo; i++) labels[i] = r->train.labels[mine[i]];
            batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, &r->train, mine, hi - lo, c, r->mean, r->std, 1, 0,
                       c->seed, r->epoch);
            m->labels = labels;
            m->step = r->step;
            m->first_image = lo, m->batch_images = ds ? n : 0;
            int flags[DIST_NFLAGS] = {0};
            bool input_ok = true; /* [in_c][batch][h][w]: the first images of each channel */
            for (int ch = 0; ch < net->in_c; ch++)
                input_ok &= all_finite(m->input + (long)ch * m->batch * net->in_h * net->in_w, (long)(hi - lo) * net->in_h * net->in_w);
            if (!input_ok) flags[DIST_INPUT_BAD] = dist.rank + 1;
            if (!ds && !input_ok) { /* under mpirun every process goes on to the step's end, where all learn of it */
                rc = bad_step(r, e, flags);
                break;
            }
            net->forward(m, hi - lo, 1);
            if (!isfinite(m->loss)) flags[DIST_LOSS_BAD] = dist.rank + 1;
            if (!ds && flags[DIST_LOSS_BAD]) {
                rc = bad_step(r, e, flags);
                break;
            }
            metrics_add(&r->train_m, m->probs, labels, hi - lo, m->loss);
            dist_step_begin(ds);
            m->dist = ds; /* backward's layers start the allreduce of their gradients */
            net->backward(m, hi - lo);
            m->dist = NULL;
            stop = interrupted;
            if (ds) { /* the sum of every process's gradients, and whether any must stop: all stop together */
                flags[DIST_STOP] = interrupted;
                dist_step_finish(ds, flags);
                stop = flags[DIST_STOP];
                if (flags[DIST_INPUT_BAD] || flags[DIST_LOSS_BAD]) {
                    rc = bad_step(r, e, flags);
                    break;
                }
            }
            if (c->clip_grad > 0) {
                double norm = grad_norm(net, m->grads);
                if (norm > c->clip_grad)
                    for (long k = 0; k < net->param_floats; k++) m->grads[k] *= (float)(c->clip_grad / norm);
            }
            lr = schedule_lr(c, r->epoch + (double)r->batch / batches);
            optim_step(&r->opt, m->params, m->grads, lr);
            r->step++;
            progress(r, r->epoch, r->batch + 1, batches, metrics_loss(&r->train_m), t0);
            if (check_weights(r, e) < 0) { /* every process has the same weights: all stop here */
                rc = -1;
                break;
            }
            if (stop) { /* this batch is done: the checkpoint's position is the next one */
                r->batch++;
                break;
            }
        }
        m->labels = NULL;
        r->part_seconds += now_seconds() - t0;
        if (rc < 0) break;
        dist_sum_metrics(&r->train_m); /* the epoch's (so far) over every process */
        average_bn_statistics(r);
        check_same_weights(r);
        if (stop) {
            char path[1200];
            snprintf(path, sizeof path, "%s/last.ckpt", r->out);
            if (dist_agree(dist.rank == 0 ? checkpoint_save(r, path, e) : 0, e) < 0) rc = -1;
            else {
                if (!r->quiet) fprintf(stderr, "\ninterrupted in epoch %d after batch %d; saved %s\n  resume with: train --resume %s\n",
                                       r->epoch + 1, r->batch, path, r->out);
                rc = 130;
                r->running = false;
                Error ignored;
                if (dist.rank == 0) write_pages(r, &ignored); /* best effort: the run is already safe */
            }
            break;
        }
        /* the rate of the epoch's last batch (computed, as a run resumed after it has none in hand) */
        lr = schedule_lr(c, r->epoch + (double)(batches - 1) / batches);
        EpochRow row = {.epoch = r->epoch + 1, .lr = lr};
        row.train_loss = metrics_loss(&r->train_m);
        row.train_top1 = metrics_top1(&r->train_m);
        row.train_top5 = metrics_top5(&r->train_m);
        row.seconds = r->part_seconds;
        row.images_per_sec = row.seconds > 0 ? r->train_m.n / row.seconds : 0;
        row.val_top1 = row.val_loss = row.val_top5 = -1;
        row.test_top1 = -1;
        if (r->have_val) { /* every epoch: what best.ckpt and early stopping go by (shared out under mpirun) */
            run_evaluate(r, &r->val, &r->val_m, NULL, NULL);
            row.val_loss = metrics_loss(&r->val_m), row.val_top1 = metrics_top1(&r->val_m), row.val_top5 = metrics_top5(&r->val_m);
        }
        r->epoch++, r->batch = 0;
        add_row(r, row);
        /* the test set: every eval_every epochs and at the end, never to decide anything */
        if (r->have_test && ((c->eval_every > 0 && r->epoch % c->eval_every == 0) || run_finished(r))) {
            if (!r->test_pred) {
                r->test_pred = xcalloc((size_t)r->test.n, sizeof(int));
                r->test_conf = xcalloc((size_t)r->test.n, sizeof(float));
            }
            run_evaluate(r, &r->test, &r->test_m, r->test_pred, r->test_conf);
            r->eval_epoch = r->epoch;
            EpochRow *w = &r->rows[r->n_rows - 1];
            w->test_loss = metrics_loss(&r->test_m), w->test_top1 = metrics_top1(&r->test_m);
            w->test_top5 = metrics_top5(&r->test_m), w->test_mean_class = metrics_mean_class(&r->test_m);
            row = *w;
        }
        if (!r->quiet) print_row(r, &row);
        if (!r->quiet && ds) {
            DistStats st = dist_step_stats(ds, true);
            char sync[64] = "";
            if (st.sync_seconds > 0) snprintf(sync, sizeof sync, ", %.1f ms in batch norm's sums", 1e3 * st.sync_seconds / st.steps);
            printf("        %d processes: %.1f MB of gradients summed per step in %d bucket%s; per step %.1f ms in backward's "
                   "layer hooks, %.1f ms waiting after it%s\n",
                   dist.size, 4e-6 * st.floats, st.buckets, st.buckets == 1 ? "" : "s", 1e3 * st.hook_seconds / st.steps,
                   1e3 * st.wait_seconds / st.steps, sync);
        }
        /* finite but absurd: a guess scores ln(classes); a loss 100 times that has diverged, NaN or not */
        if (row.train_loss > 100 * log(net->classes) && !warned_loss && !r->quiet) {
            fprintf(stderr, "warning: epoch %d: the training loss is %.4g, where guessing scores %.2f (ln %d): the run has "
                            "probably diverged\n  HINT: try a smaller rate (--lr %g), or clip the gradients (--clip_grad 5)\n",
                    row.epoch, row.train_loss, log(net->classes), net->classes, c->lr / 10);
            warned_loss = true;
        }
        /* best by validation top-1, or by training loss without a validation set: never by the test set;
         * rank 0 writes, and every process learns how it went */
        if (dist_agree(dist.rank == 0 ? save_epoch_files(r, run_best_epoch(r) == row.epoch, e) : 0, e) < 0) {
            rc = -1;
            break;
        }
        if (!r->quiet && r->epoch < c->epochs && run_finished(r))
            printf("stopped early: no better validation top-1 in the %d epochs since epoch %d (early_stop %d)\n", r->epoch - run_best_epoch(r),
                   run_best_epoch(r), c->early_stop);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    m->sync_bn = NULL;
    dist_step_free(ds);
    free(perm), free(labels);
    r->running = false;
    if (rc < 0 && dist.rank == 0) { /* the report says the run ended, and stops reloading; best effort, e says why already */
        r->failed = true;
        Error ignored;
        write_pages(r, &ignored);
    }
    if (rc < 0 && dist.rank != 0) e->msg[0] = 0; /* every error here is every process's: rank 0 says it */
    return rc;
}
