/* checkpoint.c: everything a stopped run needs to continue bit for bit.
 *
 * A checkpoint is a safetensors file: the weights under their own names, the
 * optimiser's buffers as "opt.m.<name>" / "opt.v.<name>", and in the
 * metadata the position (epoch, batch, step), the settings, the
 * normalisation, the class names, the epoch's partial sums and every
 * finished epoch's metrics. Floats in metadata are written in C's hex
 * format (%a) so they read back exactly. Randomness needs no saved state:
 * every draw is derived from the seed and where it is used (rng.h).
 * For report.html: the first conv's filters as training started
 * ("report.first_filters") and the last test evaluation's predictions
 * ("report.test_pred", "report.test_conf"), so that the report of a resumed
 * run is the report of an uninterrupted one. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "report_html.h"
#include "safetensors.h"
#include "train.h"

typedef struct {
    char **kv;
    int n, cap;
} Meta;

static void meta_add(Meta *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_add(Meta *m, const char *key, const char *fmt, ...) {
    if (m->n + 3 > m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->kv = xrealloc(m->kv, sizeof(char *) * (size_t)m->cap);
    }
    va_list ap;
    va_start(ap, fmt);
    char *v = NULL;
    if (vasprintf(&v, fmt, ap) < 0) v = NULL;
    va_end(ap);
    m->kv[m->n++] = xstrdup(key);
    m->kv[m->n++] = v ? v : xstrdup("");
    m->kv[m->n] = NULL;
}

static void meta_free(Meta *m) {
    for (int i = 0; i < m->n; i++) free(m->kv[i]);
    free(m->kv);
}

/* Appends text to a growing string. */
static void cat(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char **s, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *piece = NULL;
    int n = vasprintf(&piece, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *s = xrealloc(*s, *len + (size_t)n + 1);
    memcpy(*s + *len, piece, (size_t)n + 1);
    *len += (size_t)n;
    free(piece);
}

/* The settings as "key value" lines (config_print's format). */
static char *config_text(const Config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print(c, f);
    fclose(f);
    return buf;
}

static char *class_text(const Dataset *ds) {
    char *s = xstrdup("");
    size_t len = 0;
    for (int i = 0; i < ds->n_classes; i++) cat(&s, &len, "%s%s", i ? "\n" : "", ds->class_names[i]);
    return s;
}

/* What test and predict need besides the weights: settings, normalisation, classes. */
static void common_meta(const Run *r, Meta *m) {
    char *cfg = config_text(&r->cfg), *classes = class_text(&r->train);
    meta_add(m, "config", "%s", cfg);
    meta_add(m, "classes", "%s", classes);
    meta_add(m, "norm", "%a %a %a %a %a %a", r->mean[0], r->mean[1], r->mean[2], r->std[0], r->std[1], r->std[2]);
    free(cfg), free(classes);
}

int save_final_weights(const Run *r, const char *path, Error *e) {
    Meta m = {0};
    meta_add(&m, "netc.kind", "weights");
    common_meta(r, &m);
    int rc = model_save_weights(r->model, path, (const char *const *)m.kv, e);
    meta_free(&m);
    return rc;
}

int checkpoint_save(const Run *r, const char *path, Error *e) {
    const NetcNet *net = r->net;
    Meta m = {0};
    meta_add(&m, "netc.net", "%s", net->name);
    meta_add(&m, "netc.version", "%s", net->netc_version);
    meta_add(&m, "netc.kind", "checkpoint");
    common_meta(r, &m);
    meta_add(&m, "position", "%d %d %ld %ld", r->epoch, r->batch, r->step, r->opt.t);
    meta_add(&m, "partial", "%ld %a %ld %ld %a", r->train_m.n, r->train_m.loss_sum, r->train_m.top1, r->train_m.top5,
             r->part_seconds);
    meta_add(&m, "clock", "%lld %a", (long long)r->started, r->wall_before + now_seconds() - r->wall_t0);
    char *rows = xstrdup("");
    size_t len = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const EpochRow *w = &r->rows[i];
        cat(&rows, &len, "%d %a %a %a %a %a %a %a %a %a %a %a %a %a\n", w->epoch, w->lr, w->train_loss, w->train_top1,
            w->train_top5, w->test_loss, w->test_top1, w->test_top5, w->test_mean_class, w->seconds, w->images_per_sec,
            w->val_loss, w->val_top1, w->val_top5);
    }
    meta_add(&m, "epochs", "%s", rows);
    free(rows);
    meta_add(&m, "report.eval_epoch", "%d", r->test_pred ? r->eval_epoch : 0);

    /* weights, then the optimiser's buffers for every trainable tensor */
    int cap = 3 * net->n_tensors + 3, n = 0;
    StWrite *w = xcalloc((size_t)cap + 1, sizeof *w);
    char **names = xcalloc((size_t)cap + 1, sizeof(char *));
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < net->n_tensors; i++) {
            const NetcTensor *t = &net->tensors[i];
            const float *src = pass == 0 ? r->model->params : pass == 1 ? r->opt.m : r->opt.v;
            if (pass > 0 && (!t->trainable || !src)) continue;
            names[n] = pass == 0 ? xstrdup(t->name) : NULL;
            if (pass > 0 && asprintf(&names[n], "opt.%c.%s", pass == 1 ? 'm' : 'v', t->name) < 0) names[n] = xstrdup("?");
            w[n].name = names[n];
            w[n].dtype = "F32";
            w[n].ndim = t->ndim;
            for (int d = 0; d < t->ndim; d++) w[n].shape[d] = t->shape[d];
            w[n].data = src + t->offset;
            w[n].nbytes = (size_t)t->size * sizeof(float);
            n++;
        }
    const NetcTensor *fc = report_first_conv(net);
    if (fc && r->first_filters) {
        w[n] = (StWrite){"report.first_filters", "F32", fc->ndim, {0}, r->first_filters, (size_t)fc->size * sizeof(float)};
        for (int d = 0; d < fc->ndim; d++) w[n].shape[d] = fc->shape[d];
        n++;
    }
    if (r->test_pred && r->test.n) {
        w[n++] = (StWrite){"report.test_pred", "I32", 1, {r->test.n}, r->test_pred, (size_t)r->test.n * sizeof(int32_t)};
        w[n++] = (StWrite){"report.test_conf", "F32", 1, {r->test.n}, r->test_conf, (size_t)r->test.n * sizeof(float)};
    }
    int rc = st_write(path, w, n, (const char *const *)m.kv, e);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names), free(w);
    meta_free(&m);
    return rc;
}

static int bad_meta(Error *e, const char *path, const char *key) {
    errorf(e, "%s: checkpoint metadata '%s' is missing or damaged", path, key);
    return error_hint(e, "the file was not written by a netc trainer, or it was edited; start a new run");
}

/* The report's state, when the checkpoint has it (older ones may not: the
 * report then says the initial filters were not recorded). */
static int restore_report_state(Run *r, const StFile *f, Error *e) {
    const NetcTensor *fc = report_first_conv(r->net);
    const StTensor *t = st_find(f, "report.first_filters");
    if (fc && t) {
        free(r->first_filters);
        r->first_filters = xmalloc(sizeof(float) * (size_t)fc->size);
        if (st_read_f32(f, t, r->first_filters, (size_t)fc->size, e) < 0) return -1;
    }
    const char *ev = st_meta(f, "report.eval_epoch");
    const StTensor *tp = st_find(f, "report.test_pred"), *tc = st_find(f, "report.test_conf");
    int n = r->test.n;
    /* predictions for another test set (the data folder changed) are dropped, not misapplied */
    if (!ev || !tp || !tc || !n || strcmp(tp->dtype, "I32") != 0 || st_numel(tp) != n || st_numel(tc) != n) return 0;
    r->test_pred = xrealloc(r->test_pred, sizeof(int) * (size_t)n);
    r->test_conf = xrealloc(r->test_conf, sizeof(float) * (size_t)n);
    memcpy(r->test_pred, st_bytes(f, tp), sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        if (r->test_pred[i] < 0 || r->test_pred[i] >= r->net->classes) return bad_meta(e, f->path, "report.test_pred");
    if (st_read_f32(f, tc, r->test_conf, (size_t)n, e) < 0) return -1;
    r->eval_epoch = atoi(ev);
    return 0;
}

int checkpoint_load(Run *r, const char *path, Error *e) {
    const NetcNet *net = r->net;
    StFile f;
    if (st_open(&f, path, e) < 0) return -1;
    const char *kind = st_meta(&f, "netc.kind"), *who = st_meta(&f, "netc.net");
    int rc = -1;
    if (!kind || strcmp(kind, "checkpoint") != 0) {
        errorf(e, "%s is not a netc checkpoint", path);
        error_hint(e, "resume from the run folder's last.ckpt; to start from weights use --weights FILE");
        goto out;
    }
    if (!who || strcmp(who, net->name) != 0) {
        errorf(e, "%s is a checkpoint of net '%s', not '%s'", path, who ? who : "?", net->name);
        error_hint(e, "resume it with that net's trainer (generated/%s)", who ? who : "?");
        goto out;
    }
    if (model_load_weights(r->model, path, e) < 0) goto out;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetcTensor *t = &net->tensors[i];
        if (!t->trainable) continue;
        for (int pass = 1; pass <= 2; pass++) {
            float *dst = pass == 1 ? r->opt.m : r->opt.v;
            if (!dst) continue;
            char name[512];
            snprintf(name, sizeof name, "opt.%c.%s", pass == 1 ? 'm' : 'v', t->name);
            const StTensor *ft = st_find(&f, name);
            if (!ft) {
                errorf(e, "%s: no optimiser state '%s'", path, name);
                error_hint(e, "was the run started with another optimizer? resume with the same settings");
                goto out;
            }
            if (st_read_f32(&f, ft, dst + t->offset, (size_t)t->size, e) < 0) goto out;
        }
    }
    const char *pos = st_meta(&f, "position"), *part = st_meta(&f, "partial");
    const char *norm = st_meta(&f, "norm"), *rows = st_meta(&f, "epochs");
    if (!pos || sscanf(pos, "%d %d %ld %ld", &r->epoch, &r->batch, &r->step, &r->opt.t) != 4) {
        bad_meta(e, path, "position");
        goto out;
    }
    if (!part || sscanf(part, "%ld %la %ld %ld %la", &r->train_m.n, &r->train_m.loss_sum, &r->train_m.top1, &r->train_m.top5,
                        &r->part_seconds) != 5) {
        bad_meta(e, path, "partial");
        goto out;
    }
    if (!norm || sscanf(norm, "%a %a %a %a %a %a", &r->mean[0], &r->mean[1], &r->mean[2], &r->std[0], &r->std[1], &r->std[2]) != 6) {
        bad_meta(e, path, "norm");
        goto out;
    }
    r->n_rows = 0;
    for (const char *p = rows ? rows : ""; *p;) {
        EpochRow w = {.val_loss = -1, .val_top1 = -1, .val_top5 = -1}; /* checkpoints before val_split end at images/s */
        float lr;
        const char *nl = strchr(p, '\n');
        char *line = strndup(p, nl ? (size_t)(nl - p) : strlen(p)); /* a short line must not read on into the next */
        int got = sscanf(line, "%d %a %la %la %la %la %la %la %la %la %la %la %la %la", &w.epoch, &lr, &w.train_loss, &w.train_top1,
                         &w.train_top5, &w.test_loss, &w.test_top1, &w.test_top5, &w.test_mean_class, &w.seconds,
                         &w.images_per_sec, &w.val_loss, &w.val_top1, &w.val_top5);
        free(line);
        if (got != 11 && got != 14) {
            bad_meta(e, path, "epochs");
            goto out;
        }
        w.lr = lr;
        if (r->n_rows == r->cap_rows) {
            r->cap_rows = r->cap_rows ? 2 * r->cap_rows : 64;
            r->rows = xrealloc(r->rows, sizeof(EpochRow) * (size_t)r->cap_rows);
        }
        r->rows[r->n_rows++] = w;
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (r->n_rows != r->epoch) {
        bad_meta(e, path, "epochs");
        goto out;
    }
    const char *clock = st_meta(&f, "clock"); /* start and wall time so far (older checkpoints have none) */
    long long started;
    if (clock && sscanf(clock, "%lld %la", &started, &r->wall_before) == 2) r->started = (time_t)started;
    if (restore_report_state(r, &f, e) < 0) goto out;
    rc = 0;
out:
    st_close(&f);
    return rc;
}
