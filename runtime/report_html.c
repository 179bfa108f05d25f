/* report_html.c: the run's report page (see report_html.h).
 *
 * Built as one string with JsonBuf, then written with write_file_atomic. The
 * plots are SVG line charts (html.h); the filter grids are PNGs and the test
 * images JPEGs (imgenc.h), inline as base64. */
#define _GNU_SOURCE
#include "report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "imgenc.h"
#include "html.h"
#include "json.h"

#define P jbuf_printf

/* ---- text ---------------------------------------------------------------------- */




static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void data_uri(JsonBuf *b, const char *mime, const uint8_t *bytes, size_t len) {
    char *b64 = base64_encode(bytes, len);
    P(b, "data:%s;base64,%s", mime, b64);
    free(b64);
}


/* ---- first-layer filters ----------------------------------------------------------- */

const NetcTensor *report_first_conv(const NetcNet *net) {
    for (int i = 0; i < net->n_layers; i++) {
        if (strcmp(net->layers[i].kind, "conv") != 0) continue;
        for (int j = 0; j < net->n_tensors; j++) {
            const NetcTensor *t = &net->tensors[j];
            if (t->role == ROLE_WEIGHT && t->ndim == 4 && strcmp(t->layer, net->layers[i].name) == 0) return t;
        }
    }
    return NULL;
}

/* The filters [O][I][kh][kw] as one image: a grid of tiles, each filter
 * stretched to 0..255 from its own minimum to maximum (all channels
 * together, so colours keep their balance); colour when I == 3, in RGB order
 * whatever order the net was fed; the mean over channels otherwise. */
static void filter_grid(JsonBuf *b, const NetcTensor *t, const float *w, int bgr, const char *alt) {
    int O = t->shape[0], I = t->shape[1], kh = t->shape[2], kw = t->shape[3];
    /* a grid about 3:2 wide with few empty places: 6 -> 3x2, 10 -> 5x2, 64 -> 8x8, 96 -> 12x8 */
    int cols = 1;
    double best = INFINITY;
    for (int c = 1; c <= O; c++) {
        int r = (O + c - 1) / c;
        double score = (double)(r * c - O) + 4 * fabs(log((double)c / r / 1.5));
        if (score < best - 1e-9) best = score, cols = c;
    }
    int rows = (O + cols - 1) / cols;
    int gw = cols * (kw + 1) + 1, gh = rows * (kh + 1) + 1;
    uint8_t *img = xmalloc((size_t)gw * (size_t)gh * 3);
    memset(img, 255, (size_t)gw * (size_t)gh * 3);
    for (int o = 0; o < O; o++) {
        const float *f = w + (long)o * I * kh * kw;
        float lo = INFINITY, hi = -INFINITY;
        for (long i = 0; i < (long)I * kh * kw; i++) lo = fminf(lo, f[i]), hi = fmaxf(hi, f[i]);
        float scale = hi > lo ? 255.0f / (hi - lo) : 0;
        int x0 = 1 + (o % cols) * (kw + 1), y0 = 1 + (o / cols) * (kh + 1);
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++) {
                uint8_t *px = img + ((size_t)(y0 + y) * (size_t)gw + (size_t)(x0 + x)) * 3;
                for (int ch = 0; ch < 3; ch++) {
                    float v;
                    if (I == 3) v = f[((bgr ? 2 - ch : ch) * kh + y) * kw + x];
                    else {
                        v = 0;
                        for (int i = 0; i < I; i++) v += f[(i * kh + y) * kw + x];
                        v /= (float)I;
                    }
                    px[ch] = scale > 0 ? (uint8_t)lrintf((v - lo) * scale) : 128;
                }
            }
    }
    size_t len;
    uint8_t *png = png_encode(img, gw, gh, 3, &len);
    int zoom = (int)fmax(1, fmin(16, floor(400.0 / gw)));
    P(b, "<img class=\"filters\" width=\"%d\" height=\"%d\" alt=\"%s\" src=\"", gw * zoom, gh * zoom, alt);
    data_uri(b, "image/png", png, len);
    jbuf_puts(b, "\"/>");
    free(png), free(img);
}

/* ---- page sections ------------------------------------------------------------------ */

static const EpochRow *last_evaluated(const Run *r) {
    for (int i = r->n_rows - 1; i >= 0; i--)
        if (r->rows[i].test_top1 >= 0) return &r->rows[i];
    return NULL;
}

static void kpi(JsonBuf *b, const char *cls, const char *value, const char *label) {
    P(b, "<div class=\"kpi %s\"><div class=\"v\">%s</div><div class=\"l\">%s</div></div>\n", cls, value, label);
}

static void header(JsonBuf *b, const Run *r) {
    const NetcNet *net = r->net;
    const EpochRow *ev = last_evaluated(r), *last = r->n_rows ? &r->rows[r->n_rows - 1] : NULL;
    char when[64], v[64], l[160], t[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    jbuf_puts(b, "<header><div class=\"wrap\">\n<div class=\"brand\">netc training report</div>\n<h1>");
    html_esc(b, net->name);
    jbuf_puts(b, "</h1>\n<div class=\"sub\">");
    html_esc(b, net->source);
    if (r->epoch >= r->cfg.epochs) P(b, " &#183; finished, %d epoch%s", r->n_rows, r->n_rows == 1 ? "" : "s");
    else if (run_finished(r)) P(b, " &#183; stopped early after epoch %d of %d (early_stop %d)", r->n_rows, r->cfg.epochs, r->cfg.early_stop);
    else if (r->running) P(b, " &#183; training: epoch %d of %d", r->epoch + 1, r->cfg.epochs);
    else if (r->failed) P(b, " &#183; stopped by an error in epoch %d (see the trainer's output)", r->epoch + 1);
    else if (r->batch > 0) P(b, " &#183; stopped in epoch %d after %d batch%s", r->epoch + 1, r->batch, r->batch == 1 ? "" : "es");
    else P(b, " &#183; stopped after epoch %d of %d", r->epoch, r->cfg.epochs);
    jbuf_puts(b, " &#183; run folder <code>");
    html_esc(b, r->out);
    P(b, "</code> &#183; updated %s</div>\n<div class=\"kpis\">\n", when);
    if (ev) {
        snprintf(v, sizeof v, "%.2f%%", ev->test_top1);
        snprintf(l, sizeof l, "test top-1%s, epoch %d of %d", ev == last && run_finished(r) ? " (final)" : "", ev->epoch,
                 r->cfg.epochs);
        kpi(b, "main", v, l);
        snprintf(v, sizeof v, "%.2f%%", ev->test_top5);
        kpi(b, "", v, "test top-5");
        snprintf(v, sizeof v, "%.2f%%", ev->test_mean_class);
        kpi(b, "", v, "mean per-class top-1");
    } else {
        kpi(b, "main", "&#8211;", r->have_test ? "test top-1: not evaluated yet" : r->cfg.test ? "test top-1: no test set"
                                                                                               : "test top-1: not measured (test off)");
    }
    int best = run_best_epoch(r);
    if (r->have_val && best) {
        snprintf(v, sizeof v, "%.2f%%", r->rows[best - 1].val_top1);
        snprintf(l, sizeof l, "best validation top-1, epoch %d (best.ckpt)", best);
        kpi(b, "val", v, l);
    }
    if (last) {
        snprintf(v, sizeof v, "%.4f", last->train_loss);
        snprintf(l, sizeof l, "train loss, epoch %d", last->epoch);
        kpi(b, "", v, l);
    }
    snprintf(v, sizeof v, "%d / %d", r->n_rows, r->cfg.epochs);
    kpi(b, "", v, "epochs");
    double secs = 0, imgs = 0;
    for (int i = 0; i < r->n_rows; i++) secs += r->rows[i].seconds, imgs += r->rows[i].seconds * r->rows[i].images_per_sec;
    if (secs > 0) {
        snprintf(l, sizeof l, "training, %.0f images/s", imgs / secs);
        kpi(b, "", html_duration(secs, t, sizeof t), l);
    }
    jbuf_puts(b, "</div>\n<nav><a href=\"#curves\">curves</a><a href=\"#epochs\">epochs</a><a href=\"#filters\">filters</a>"
                 "<a href=\"#confusion\">confusion</a><a href=\"#mistakes\">mistakes</a><a href=\"#speed\">speed</a>"
                 "<a href=\"#network\">network</a><a href=\"#settings\">settings</a></nav>\n</div></header>\n");
}

static void curves(JsonBuf *b, const Run *r) {
    int n = r->n_rows, x_max = r->cfg.epochs > n ? r->cfg.epochs : n;
    double *y = xmalloc(sizeof(double) * 9 * (size_t)(n ? n : 1));
    double *tr[3] = {y, y + n, y + 2 * n}, *va[3] = {y + 3 * n, y + 4 * n, y + 5 * n}, *te[3] = {y + 6 * n, y + 7 * n, y + 8 * n};
    for (int i = 0; i < n; i++) {
        const EpochRow *w = &r->rows[i];
        bool t = w->test_top1 >= 0, v = w->val_top1 >= 0;
        tr[0][i] = w->train_loss, tr[1][i] = w->train_top1, tr[2][i] = w->train_top5;
        va[0][i] = v ? w->val_loss : NAN, va[1][i] = v ? w->val_top1 : NAN, va[2][i] = v ? w->val_top5 : NAN;
        te[0][i] = t ? w->test_loss : NAN, te[1][i] = t ? w->test_top1 : NAN, te[2][i] = t ? w->test_top5 : NAN;
    }
    jbuf_puts(b, "<section id=\"curves\"><h2>Training curves</h2>\n<p class=\"note\">Per epoch: the training figures are "
                 "the running averages over the epoch's batches (with augmentation and dropout)");
    if (r->have_val) P(b, "; the validation figures one pass over the %d training images held out (val_split %g, never trained on)",
                       r->val.n, r->cfg.val_split);
    jbuf_puts(b, "; the test figures one pass over the whole test set at the epoch's end. Hover a point for its value.</p>\n"
                 "<div class=\"plots\">\n");
    static const char *const metric[] = {"loss", "top1", "top5"}, *const title[] = {"Loss", "Top-1 accuracy", "Top-5 accuracy"};
    static const char *const ytitle[] = {"cross-entropy", "top-1 (%)", "top-5 (%)"}, *const unit[] = {"", "%", "%"};
    for (int k = 0; k < 3; k++) {
        HtmlSeries s[3];
        int ns = 0;
        s[ns++] = (HtmlSeries){"train", "train", tr[k]};
        if (r->have_val) s[ns++] = (HtmlSeries){"validation", "val", va[k]};
        if (r->have_test) s[ns++] = (HtmlSeries){"test", "test", te[k]};
        html_plot(b, metric[k], title[k], ytitle[k], unit[k], n, x_max, s, ns, k ? 100 : 0, k ? 2 : 4, true);
    }
    jbuf_puts(b, "</div></section>\n");
    free(y);
}

/* The numbers of metrics.csv, one row per epoch. */
static void epoch_table(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<section id=\"epochs\"><h2>Epochs</h2>\n<p class=\"note\">The same numbers as <code>metrics.csv</code> "
                 "in the run folder, rounded. Seconds and images per second count training only, not evaluation.</p>\n");
    if (!r->n_rows) {
        jbuf_puts(b, "<p class=\"empty\">No epoch has finished yet.</p></section>\n");
        return;
    }
    jbuf_puts(b, "<div class=\"scroll tall\"><table class=\"epochs\">\n<thead><tr><th>epoch</th><th>lr</th>"
                 "<th>train loss</th><th>train top-1</th><th>train top-5</th>");
    if (r->have_val) jbuf_puts(b, "<th>val loss</th><th>val top-1</th><th>val top-5</th>");
    jbuf_puts(b, "<th>test loss</th><th>test top-1</th><th>test top-5</th><th>mean/class</th><th>seconds</th><th>images/s</th>"
                 "</tr></thead>\n<tbody>\n");
    int best_epoch = run_best_epoch(r);
    for (int i = 0; i < r->n_rows; i++) {
        const EpochRow *w = &r->rows[i];
        P(b, "<tr%s><td>%d</td><td>%.5g</td><td>%.4f</td><td>%.2f</td><td>%.2f</td>", w->epoch == best_epoch ? " class=\"best\"" : "",
          w->epoch, w->lr, w->train_loss, w->train_top1, w->train_top5);
        if (r->have_val && w->val_top1 >= 0)
            P(b, "<td>%.4f</td><td class=\"vhi\">%.2f</td><td>%.2f</td>", w->val_loss, w->val_top1, w->val_top5);
        else if (r->have_val) jbuf_puts(b, "<td></td><td></td><td></td>");
        if (w->test_top1 >= 0)
            P(b, "<td>%.4f</td><td class=\"hi\">%.2f</td><td>%.2f</td><td>%.2f</td>", w->test_loss, w->test_top1, w->test_top5,
              w->test_mean_class);
        else jbuf_puts(b, "<td></td><td></td><td></td><td></td>");
        P(b, "<td>%.1f</td><td>%.0f</td></tr>\n", w->seconds, w->images_per_sec);
    }
    P(b, "</tbody></table></div>\n<p class=\"note\">Accuracies in percent. Highlighted: epoch %d, %s, saved as "
         "<code>best.ckpt</code> (chosen without looking at the test set).</p></section>\n",
      best_epoch, r->have_val ? "the best validation top-1" : "the lowest training loss");
}

static void filters(JsonBuf *b, const Run *r) {
    const NetcTensor *t = report_first_conv(r->net);
    jbuf_puts(b, "<section id=\"filters\"><h2>First-layer filters</h2>\n");
    if (!t) {
        jbuf_puts(b, "<p class=\"empty\">This net has no convolution.</p></section>\n");
        return;
    }
    int bgr = t->shape[1] == 3 && r->cfg.channels == CH_BGR;
    P(b, "<p class=\"note\">The %d filters of <code>", t->shape[0]);
    html_esc(b, t->layer);
    P(b, "</code> (%dx%d, %d input channel%s%s), each stretched from its smallest to its largest weight; %s.%s</p>\n", t->shape[2],
      t->shape[3], t->shape[1], t->shape[1] == 1 ? "" : "s", bgr ? ", shown in RGB order" : "",
      t->shape[1] == 3 ? "in colour, as the input" : t->shape[1] == 1 ? "gray, as the input" : "the mean over the input channels",
      t->trainable ? "" : " This layer is frozen: its weights do not change.");
    jbuf_puts(b, "<div class=\"filters\">\n<figure><figcaption>before training</figcaption>");
    if (r->first_filters) filter_grid(b, t, r->first_filters, bgr, "filters before training");
    else jbuf_puts(b, "<p class=\"empty\">not recorded (the run was resumed from an older checkpoint)</p>");
    P(b, "</figure>\n<figure><figcaption>%s</figcaption>", r->n_rows ? "after training" : "now (no epoch yet)");
    filter_grid(b, t, r->model->params + t->offset, bgr, "filters after training");
    jbuf_puts(b, "</figure>\n");
    if (r->first_filters && r->n_rows) {
        const float *a = r->model->params + t->offset;
        double d = 0, n0 = 0;
        for (long i = 0; i < t->size; i++) d += (a[i] - r->first_filters[i]) * (a[i] - r->first_filters[i]), n0 += r->first_filters[i] * r->first_filters[i];
        P(b, "<p class=\"note moved\">After %d epoch%s the filters have moved by %.1f%% of their initial size (relative L2 "
             "distance).</p>\n",
          r->n_rows, r->n_rows == 1 ? "" : "s", n0 > 0 ? 100 * sqrt(d / n0) : 0);
    }
    jbuf_puts(b, "</div></section>\n");
}

/* The confusion matrix of the last evaluation, from its predictions. */
static long *confusion(const Run *r) {
    int K = r->net->classes;
    long *cm = xcalloc((size_t)K * (size_t)K, sizeof(long));
    for (int i = 0; i < r->test.n; i++) {
        int t = r->test.labels[i], p = r->test_pred[i];
        if (t >= 0 && t < K && p >= 0 && p < K) cm[(long)t * K + p]++;
    }
    return cm;
}

static const char *class_name(const Run *r, int k) {
    return k >= 0 && k < r->test.n_classes ? r->test.class_names[k] : "?";
}

/* A sequential blue scale for f in 0..1 (ColorBrewer's Blues, interpolated). */
static void heat(double f, int rgb[3]) {
    static const int stops[][3] = {{255, 255, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    double x = fmin(fmax(f, 0), 1) * 4;
    int i = x >= 4 ? 3 : (int)x;
    double u = x - i;
    for (int c = 0; c < 3; c++) rgb[c] = (int)lrint(stops[i][c] + u * (stops[i + 1][c] - stops[i][c]));
}

static void confusion_section(JsonBuf *b, const Run *r) {
    int K = r->net->classes;
    jbuf_puts(b, "<section id=\"confusion\"><h2>Test set: confusion matrix and per-class accuracy</h2>\n");
    if (!r->test_pred) {
        P(b, "<p class=\"empty\">%s</p></section>\n", r->have_test ? "The test set has not been evaluated yet." : "This run has no test set.");
        return;
    }
    long *cm = confusion(r);
    P(b, "<p class=\"note\">Epoch %d, %d test images. Row: the true class; column: the predicted one. A cell's colour is its "
         "share of the row; the diagonal holds the correct predictions.</p>\n<div class=\"cmwrap\">\n",
      r->eval_epoch, r->test.n);
    size_t longest = 4;
    for (int k = 0; k < K; k++) longest = strlen(class_name(r, k)) > longest ? strlen(class_name(r, k)) : longest;
    double cell = K <= 20 ? 28 : fmax(10, 560.0 / K), lw = 7.2 * (double)longest + 30, th = 0.72 * 7.2 * (double)longest + 34;
    double W = lw + K * cell + th * 0.75, H = th + K * cell + 8;
    P(b, "<svg class=\"confusion\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
         "aria-label=\"confusion matrix\">\n",
      W, H, W, H);
    P(b, "<text class=\"atitle\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">predicted class</text>\n", lw + K * cell / 2);
    P(b, "<text class=\"atitle\" transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">true class</text>\n",
      th + K * cell / 2);
    for (int k = 0; k < K; k++) {
        P(b, "<text class=\"clabel row\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", lw - 6, th + (k + 0.5) * cell + 4);
        html_esc(b, class_name(r, k));
        P(b, "</text>\n<text class=\"clabel col\" transform=\"translate(%.1f %.1f) rotate(-45)\">", lw + (k + 0.5) * cell + 3, th - 6);
        html_esc(b, class_name(r, k));
        jbuf_puts(b, "</text>\n");
    }
    for (int t = 0; t < K; t++) {
        long row = 0;
        for (int p = 0; p < K; p++) row += cm[(long)t * K + p];
        for (int p = 0; p < K; p++) {
            long c = cm[(long)t * K + p];
            double f = row ? (double)c / row : 0;
            int rgb[3];
            heat(f, rgb);
            P(b, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%02x%02x%02x\"/>", lw + p * cell,
              th + t * cell, cell, cell, rgb[0], rgb[1], rgb[2]);
            if (c && cell >= 18)
                P(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"%s\">%ld</text>", lw + (p + 0.5) * cell,
                  th + (t + 0.5) * cell + 4, f > 0.5 ? "on-dark" : "on-light", c);
            jbuf_puts(b, "<title>true ");
            html_esc(b, class_name(r, t));
            jbuf_puts(b, ", predicted ");
            html_esc(b, class_name(r, p));
            P(b, ": %ld of %ld (%.1f%%)</title></g>\n", c, row, 100 * f);
        }
    }
    for (int k = 0; k < K; k++) /* outlined last, so no neighbour's edge covers them */
        P(b, "<rect class=\"diag\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", lw + k * cell + 0.5,
          th + k * cell + 0.5, cell - 1, cell - 1);
    P(b, "\n<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n</svg>\n", lw, th, K * cell, K * cell);

    /* per-class accuracy, with the class each is most often mistaken for ("confused with") */
    jbuf_puts(b, "<div class=\"scroll\"><table class=\"perclass\">\n<thead><tr><th class=\"l\">class</th>"
                 "<th class=\"l\" colspan=\"2\">top-1</th><th>correct</th><th class=\"l\">confused with</th></tr></thead>\n"
                 "<tbody>\n");
    double sum = 0;
    long right = 0;
    for (int t = 0; t < K; t++) {
        long row = 0, worst = 0;
        int wp = -1;
        for (int p = 0; p < K; p++) {
            row += cm[(long)t * K + p];
            if (p != t && cm[(long)t * K + p] > worst) worst = cm[(long)t * K + p], wp = p;
        }
        double acc = row ? 100.0 * cm[(long)t * K + t] / row : 0;
        sum += acc, right += cm[(long)t * K + t];
        jbuf_puts(b, "<tr><td class=\"l\">");
        html_esc(b, class_name(r, t));
        P(b, "</td><td>%.1f%%</td><td><div class=\"bar\"><span style=\"width:%.1f%%\"></span></div></td><td>%ld / %ld</td>"
             "<td class=\"l muted\">",
          acc, acc, cm[(long)t * K + t], row);
        if (wp >= 0) {
            html_esc(b, class_name(r, wp));
            P(b, " (%ld)", worst);
        }
        jbuf_puts(b, "</td></tr>\n");
    }
    P(b, "</tbody><tfoot><tr><td class=\"l\">mean</td><td>%.1f%%</td><td></td><td>%ld / %d</td><td></td></tr></tfoot>"
         "</table></div>\n</div></section>\n",
      K ? sum / K : 0, right, r->test.n);
    free(cm);
}

/* Test images the net got wrong, the most confident mistakes first, at most
 * one per true class until every class has had its turn (so one confused
 * pair does not fill the page). */
static int pick_mistakes(const Run *r, int *out, int max) {
    int n = 0, K = r->net->classes;
    int *taken = xcalloc((size_t)K, sizeof(int));
    char *used = xcalloc((size_t)r->test.n + 1, 1);
    for (int round = 1; n < max; round++) {
        int added = 0;
        for (;;) {
            int best = -1;
            for (int i = 0; i < r->test.n; i++) {
                int t = r->test.labels[i];
                if (used[i] || r->test_pred[i] == t || t < 0 || t >= K || taken[t] >= round) continue;
                if (best < 0 || r->test_conf[i] > r->test_conf[best]) best = i;
            }
            if (best < 0 || n == max) break;
            used[best] = 1, taken[r->test.labels[best]]++, out[n++] = best, added++;
        }
        if (!added) break;
    }
    free(taken), free(used);
    return n;
}

static void thumbnail(JsonBuf *b, const Dataset *ds, int i) {
    const uint8_t *px = ds->pixels + (size_t)i * (size_t)ds->w * (size_t)ds->h * (size_t)ds->c;
    int w = ds->w, h = ds->h, maxside = 192;
    uint8_t *small = NULL;
    if (w > maxside || h > maxside) {
        int nw = w >= h ? maxside : (int)lrint((double)w * maxside / h), nh = h >= w ? maxside : (int)lrint((double)h * maxside / w);
        small = xmalloc((size_t)nw * (size_t)nh * (size_t)ds->c);
        if (image_resize(px, w, h, ds->c, small, nw, nh) == 0) px = small, w = nw, h = nh;
    }
    size_t len = 0;
    uint8_t *jpg = jpeg_encode(px, w, h, ds->c, 88, &len);
    P(b, "<img width=\"%d\" height=\"%d\" alt=\"", w, h);
    html_esc(b, base_name(ds->paths[i]));
    jbuf_puts(b, "\" src=\"");
    if (jpg) data_uri(b, "image/jpeg", jpg, len);
    jbuf_puts(b, "\"/>");
    free(jpg), free(small);
}

static void mistakes(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<section id=\"mistakes\"><h2>Misclassified test images</h2>\n");
    if (!r->test_pred) {
        jbuf_puts(b, "<p class=\"empty\">No evaluation yet.</p></section>\n");
        return;
    }
    int pick[REPORT_MISTAKES];
    int n = pick_mistakes(r, pick, REPORT_MISTAKES);
    if (!n) {
        jbuf_puts(b, "<p class=\"empty\">None: every test image is classified correctly.</p></section>\n");
        return;
    }
    P(b, "<p class=\"note\">The most confident mistakes of epoch %d, one per true class first; as the net sees them "
         "(cached at %dx%d%s, before cropping), with the probability it gave its wrong answer.</p>\n<div class=\"mis\">\n",
      r->eval_epoch, r->test.w, r->test.h, r->test.c == 1 ? ", gray" : "");
    for (int k = 0; k < n; k++) {
        int i = pick[k];
        jbuf_puts(b, "<figure class=\"mistake\"><div class=\"thumb\" title=\"");
        html_esc(b, r->test.paths[i]);
        jbuf_puts(b, "\">");
        thumbnail(b, &r->test, i);
        jbuf_puts(b, "</div><figcaption><div class=\"truth\"><span>true</span>");
        html_esc(b, class_name(r, r->test.labels[i]));
        jbuf_puts(b, "</div><div class=\"pred\"><span>predicted</span>");
        html_esc(b, class_name(r, r->test_pred[i]));
        P(b, " <b>%.0f%%</b></div><div class=\"file\">", 100.0 * r->test_conf[i]);
        html_esc(b, base_name(r->test.paths[i]));
        jbuf_puts(b, "</div></figcaption></figure>\n");
    }
    jbuf_puts(b, "</div></section>\n");
}

static void speed(JsonBuf *b, const Run *r) {
    int n = r->n_rows;
    jbuf_puts(b, "<section id=\"speed\"><h2>Speed</h2>\n");
    if (!n) {
        jbuf_puts(b, "<p class=\"empty\">No epoch has finished yet.</p></section>\n");
        return;
    }
    double secs = 0, imgs = 0, *ips = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) {
        secs += r->rows[i].seconds, imgs += r->rows[i].seconds * r->rows[i].images_per_sec;
        ips[i] = r->rows[i].images_per_sec;
    }
    char t[64];
    P(b, "<p class=\"note\">Training only (forward, backward, update and augmentation), on %d thread%s. ", r->cfg.threads,
      r->cfg.threads == 1 ? "" : "s");
    P(b, "Mean %.1f s per epoch, %.0f images per second; %s in all over %d epoch%s.</p>\n", secs / n, secs > 0 ? imgs / secs : 0,
      html_duration(secs, t, sizeof t), n, n == 1 ? "" : "s");
    jbuf_puts(b, "<div class=\"plots\">\n");
    double fastest = 0, slowest = INFINITY;
    for (int i = 0; i < n; i++) fastest = fmax(fastest, ips[i]), slowest = fmin(slowest, ips[i]);
    P(b, "<dl class=\"figures\"><dt>per epoch</dt><dd>%.1f s</dd><dt>images per second</dt><dd>%.0f</dd>"
         "<dt>slowest, fastest epoch</dt><dd>%.0f, %.0f images/s</dd><dt>training in all</dt><dd>%s</dd>"
         "<dt>batch</dt><dd>%d images</dd></dl>\n",
      secs / n, secs > 0 ? imgs / secs : 0, slowest, fastest, t, r->cfg.batch);
    HtmlSeries s[] = {{"images/s", "speed", ips}};
    int x_max = r->cfg.epochs > n ? r->cfg.epochs : n;
    html_plot(b, "speed", "Training images per second", "images / s", " images/s", n, x_max, s, 1, 0, 0, true);
    double *sec = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) sec[i] = r->rows[i].seconds;
    HtmlSeries s2[] = {{"seconds", "speed", sec}};
    html_plot(b, "seconds", "Seconds per epoch", "seconds", " s", n, x_max, s2, 1, 0, 1, true);
    jbuf_puts(b, "</div></section>\n");
    free(ips), free(sec);
}

static void network(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<section id=\"network\"><h2>Network</h2>\n<p class=\"note\">The shape report, as <code>netc</code> printed it.</p>\n<pre>");
    html_esc(b, r->net->report);
    jbuf_puts(b, "</pre></section>\n");
}

static void info_row(JsonBuf *b, const char *key, const char *value_html) {
    P(b, "<tr><th class=\"l\">%s</th><td class=\"l\">%s</td></tr>\n", key, value_html);
}

static void settings(JsonBuf *b, const Run *r) {
    const Config *c = &r->cfg;
    const NetcNet *net = r->net;
    jbuf_puts(b, "<section id=\"settings\"><h2>Run settings</h2>\n<div class=\"cols\">\n<div>\n<h3>Run</h3>\n<table class=\"kv\">\n");
    JsonBuf v = {0};
#define ROW(key, ...)                     \
    do {                                  \
        v.len = 0;                        \
        if (v.data) v.data[0] = 0;        \
        __VA_ARGS__;                      \
        info_row(b, key, v.data ? v.data : ""); \
    } while (0)
    ROW("net", html_esc(&v, net->name), jbuf_puts(&v, " ("), html_esc(&v, net->source), jbuf_puts(&v, ")"));
    ROW("netc version", P(&v, "%s (trainer generated by %s)", NETC_VERSION, net->netc_version));
    ROW("run folder", jbuf_puts(&v, "<code>"), html_esc(&v, r->out), jbuf_puts(&v, "</code>"));
    char n1[32], n2[32];
    ROW("training data", jbuf_puts(&v, "<code>"), html_esc(&v, c->data),
        P(&v, "/train</code>: %s images, %d classes%s", html_grouped(r->train.n + r->val.n, n1, sizeof n1), r->train.n_classes,
          r->train.n_skipped ? " (some files skipped: not images, or unreadable)" : ""));
    if (r->have_val)
        ROW("validation", P(&v, "%s of them held out, %s trained on (val_split %g of each class, val_fold %d, chosen by seed %llu; "
                                "never augmented)",
                            html_grouped(r->val.n, n1, sizeof n1), html_grouped(r->train.n, n2, sizeof n2), c->val_split,
                            c->val_fold, (unsigned long long)c->seed));
    if (r->have_test)
        ROW("test data", jbuf_puts(&v, "<code>"), html_esc(&v, c->data),
            P(&v, "/test</code>: %s images%s", html_grouped(r->test.n, n2, sizeof n2), r->test.n_skipped ? " (some files skipped: not images, or unreadable)" : ""));
    ROW("image cache", P(&v, "%dx%d, %d channel%s, decoded once; the net's input is %dx%dx%d", r->train.w, r->train.h, r->train.c,
                         r->train.c == 1 ? "" : "s", net->in_w, net->in_h, net->in_c));
    ROW("normalisation", P(&v, "mean %.4g %.4g %.4g, std %.4g %.4g %.4g%s", r->mean[0], r->mean[1], r->mean[2], r->std[0], r->std[1],
                           r->std[2], c->normalize_auto ? " (from the training images)" : ""));
    ROW("threads", P(&v, "%d (OpenMP; OpenBLAS runs inside it)", c->threads));
    ROW("checkpoints", P(&v, "<code>last.ckpt</code> (every epoch), <code>best.ckpt</code> (%s), ",
                         r->have_val ? "best validation top-1" : "lowest training loss"),
        jbuf_puts(&v, "<code>weights.safetensors</code>; continue with <code>train --resume "),
        html_esc(&v, r->out), jbuf_puts(&v, "</code>"));
#undef ROW
    jbuf_free(&v);
    jbuf_puts(b, "</table>\n");

    /* every setting, by section; bold where it differs from the built-in default. Two
     * columns: the run, preprocessing and augmentation; training (the longest) */
    Config def;
    config_defaults(&def);
    static const char *const sections[][2] = {
        {"train", "Training and optimiser"}, {"preprocess", "Preprocessing"}, {"augment", "Augmentation"}};
    static const int order[] = {1, 2, 0};
    for (int o = 0; o < 3; o++) {
        int s = order[o];
        if (s == 0) jbuf_puts(b, "</div>\n<div>\n");
        P(b, "<h3>%s</h3>\n<table class=\"kv settings\">\n", sections[s][1]);
        for (int i = 0; i < config_nkeys; i++) {
            const ConfigKey *k = &config_keys[i];
            if (strcmp(k->section, sections[s][0]) != 0) continue;
            char val[1100], dv[1100];
            config_format(c, k->key, val, sizeof val);
            config_format(&def, k->key, dv, sizeof dv);
            bool changed = strcmp(val, dv) != 0 && strcmp(k->key, "out") != 0 && strcmp(k->key, "threads") != 0;
            P(b, "<tr%s><th class=\"l\">%s</th><td class=\"l\">", changed ? " class=\"set\"" : "", k->key);
            if (val[0]) html_esc(b, val);
            else jbuf_puts(b, "<span class=\"muted\">(none)</span>");
            jbuf_puts(b, "</td><td class=\"l muted\">");
            html_esc(b, k->help);
            jbuf_puts(b, "</td></tr>\n");
        }
        jbuf_puts(b, "</table>\n");
    }
    jbuf_puts(b, "</div>\n");
    jbuf_puts(b, "</div>\n<p class=\"note\">Bold: set by the .net file or the command line (differs from netc's default).</p>\n"
                 "</section>\n");
}


static void page(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<meta name=\"generator\" content=\"netc " NETC_VERSION "\"/>\n");
    if (report_live(r)) /* reload while training, so the curves can be watched; the last write has none */
        P(b, "<meta http-equiv=\"refresh\" content=\"%d\"/>\n", REPORT_RELOAD_SECONDS);
    jbuf_puts(b, "<title>");
    html_esc(b, r->net->name);
    const EpochRow *ev = last_evaluated(r);
    if (ev) P(b, " &#8212; %.1f%% test top-1", ev->test_top1);
    P(b, " &#8212; netc report</title>\n<style>\n%s</style>\n</head>\n<body>\n", html_css);
    header(b, r);
    jbuf_puts(b, "<main>\n");
    curves(b, r);
    epoch_table(b, r);
    filters(b, r);
    confusion_section(b, r);
    mistakes(b, r);
    speed(b, r);
    network(b, r);
    settings(b, r);
    jbuf_puts(b, "</main>\n<footer>Written by the netc trainer after every epoch. One self-contained file: no scripts, "
                 "fonts or images from the network.</footer>\n</body>\n</html>\n");
}

bool report_live(const Run *r) { return r->running && !run_finished(r); }

int report_html_write(const Run *r, Error *e) {
    JsonBuf b = {0};
    page(&b, r);
    char path[1200];
    snprintf(path, sizeof path, "%s/report.html", r->out);
    int rc = write_file_atomic(path, b.data, b.len, e);
    jbuf_free(&b);
    return rc;
}
