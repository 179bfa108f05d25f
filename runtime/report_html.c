/* report_html.c: the run's report page (see report_html.h).
 *
 * Built as one string with JsonBuf, then written with write_file_atomic. The
 * plots are drawn here, in SVG, by a small line-chart routine (nice ticks,
 * grid, legend, a marker with a tooltip per point); the filter grids are PNGs
 * and the test images JPEGs (imgenc.h), inline as base64. */
#define _GNU_SOURCE
#include "report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "imgenc.h"
#include "json.h"

#define P jbuf_printf

/* ---- text ---------------------------------------------------------------------- */

/* HTML/XML-escaped text; bytes that are not UTF-8 (a Latin-1 file name) become '?'. */
static void esc(JsonBuf *b, const char *s) {
    int utf8 = json_utf8_valid(s, strlen(s));
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '&') jbuf_puts(b, "&amp;");
        else if (ch == '<') jbuf_puts(b, "&lt;");
        else if (ch == '>') jbuf_puts(b, "&gt;");
        else if (ch == '"') jbuf_puts(b, "&quot;");
        else if (ch == '\'') jbuf_puts(b, "&#39;");
        else if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F || (ch >= 0x80 && !utf8)) jbuf_puts(b, "?");
        else jbuf_add(b, s, 1);
    }
}

/* 12345 -> "12,345" */
static const char *grouped(long v, char *buf, size_t len) {
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v < 0 ? -v : v);
    size_t n = strlen(digits), k = 0;
    if (v < 0 && k + 1 < len) buf[k++] = '-';
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    return buf;
}

/* 75.3 -> "1 min 15 s" */
static const char *duration(double s, char *buf, size_t len) {
    if (s < 60) snprintf(buf, len, "%.1f s", s);
    else if (s < 3600) snprintf(buf, len, "%d min %d s", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, len, "%d h %d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void data_uri(JsonBuf *b, const char *mime, const uint8_t *bytes, size_t len) {
    char *b64 = base64_encode(bytes, len);
    P(b, "data:%s;base64,%s", mime, b64);
    free(b64);
}

/* ---- line plots ---------------------------------------------------------------- */

typedef struct {
    const char *label, *cls; /* legend text; CSS class: train | test | speed */
    const double *y;         /* one per epoch; NAN: no value that epoch */
} Series;

/* 1, 2 or 5 times a power of ten, near range / target. */
static double nice_step(double range, int target) {
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int step_decimals(double step) { return step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9); }

#define PW 370.0 /* plot size in SVG units (about CSS pixels; the viewBox scales it to its box) */
#define PH 240.0
#define PL 54.0  /* margins: left (tick labels, y title), right, top (legend), bottom (ticks, x title) */
#define PR 12.0
#define PT 30.0
#define PB 42.0

/* A line chart of per-epoch values against epochs 0..x_max. y runs from 0 to a
 * nice number above the largest value (at most y_cap if y_cap > 0). */
static void plot_svg(JsonBuf *b, const char *metric, const char *title, const char *ytitle, const char *unit, int n,
                     int x_max, const Series *s, int ns, double y_cap, int value_decimals) {
    double ymax = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i]) && s[k].y[i] > ymax) ymax = s[k].y[i];
    if (ymax <= 0) ymax = y_cap > 0 ? y_cap : 1;
    double ystep = nice_step(ymax, 5), yhi = ceil(ymax / ystep - 1e-9) * ystep;
    if (y_cap > 0 && yhi > y_cap) yhi = y_cap;
    if (x_max < 1) x_max = 1;
    int xstep = (int)fmax(1, round(nice_step(x_max, 8)));
    double iw = PW - PL - PR, ih = PH - PT - PB;
#define X(x) (PL + (double)(x) / x_max * iw)
#define Y(y) (PT + (1 - (y) / yhi) * ih)
    P(b, "<figure><figcaption>%s</figcaption>\n", title);
    P(b, "<svg class=\"plot\" data-metric=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s per epoch\">\n", metric,
      PW, PH, title);
    /* grid and y ticks */
    int yd = step_decimals(ystep);
    for (int i = 0; i * ystep <= yhi + 1e-9 * ystep; i++) {
        double v = i * ystep, y = Y(v);
        P(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PL, y, PW - PR, y);
        P(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", PL - 6, y + 4, yd, v);
    }
    /* x ticks */
    for (int x = 0; x <= x_max; x += xstep) {
        P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", X(x), PT + ih, X(x), PT + ih + 5);
        P(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", X(x), PT + ih + 18, x);
    }
    P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PL, PT, PL, PT + ih);
    P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PL, PT + ih, PW - PR, PT + ih);
    P(b, "<text class=\"atitle\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n", PL + iw / 2, PH - 6);
    P(b, "<text class=\"atitle\" transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", PT + ih / 2,
      ytitle);
    /* the series: a line through the epochs that have a value, a marker on each */
    for (int k = 0; k < ns; k++) {
        P(b, "<g class=\"series %s\" data-series=\"%s\">", s[k].cls, s[k].label);
        jbuf_puts(b, "<polyline points=\"");
        int pts = 0;
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i])) P(b, "%s%.1f,%.1f", pts++ ? " " : "", X(i + 1), Y(fmin(s[k].y[i], yhi)));
        jbuf_puts(b, "\"/>\n");
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i]))
                P(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>%s, epoch %d: %.*f%s</title></circle>\n", X(i + 1),
                  Y(fmin(s[k].y[i], yhi)), n > 60 ? "1.5" : "2.8", s[k].label, i + 1, value_decimals, s[k].y[i], unit);
        jbuf_puts(b, "</g>\n");
    }
    /* legend, above the plot area on the right */
    double lx = PW - PR;
    for (int k = ns - 1; k >= 0; k--) lx -= 26 + 7.2 * (double)strlen(s[k].label) + 12;
    for (int k = 0; k < ns; k++) {
        P(b, "<g class=\"legend %s\"><line x1=\"%.1f\" y1=\"12\" x2=\"%.1f\" y2=\"12\"/><circle cx=\"%.1f\" cy=\"12\" r=\"2.8\"/>"
             "<text x=\"%.1f\" y=\"16\">%s</text></g>\n",
          s[k].cls, lx, lx + 20, lx + 10, lx + 26, s[k].label);
        lx += 26 + 7.2 * (double)strlen(s[k].label) + 12;
    }
    jbuf_puts(b, "</svg></figure>\n");
#undef X
#undef Y
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
    esc(b, net->name);
    jbuf_puts(b, "</h1>\n<div class=\"sub\">");
    esc(b, net->source);
    if (r->epoch >= r->cfg.epochs) P(b, " &#183; finished, %d epoch%s", r->n_rows, r->n_rows == 1 ? "" : "s");
    else if (run_finished(r)) P(b, " &#183; stopped early after epoch %d of %d (early_stop %d)", r->n_rows, r->cfg.epochs, r->cfg.early_stop);
    else if (r->running) P(b, " &#183; training: epoch %d of %d", r->epoch + 1, r->cfg.epochs);
    else if (r->failed) P(b, " &#183; stopped by an error in epoch %d (see the trainer's output)", r->epoch + 1);
    else if (r->batch > 0) P(b, " &#183; stopped in epoch %d after %d batch%s", r->epoch + 1, r->batch, r->batch == 1 ? "" : "es");
    else P(b, " &#183; stopped after epoch %d of %d", r->epoch, r->cfg.epochs);
    jbuf_puts(b, " &#183; run folder <code>");
    esc(b, r->out);
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
        kpi(b, "", duration(secs, t, sizeof t), l);
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
        Series s[3];
        int ns = 0;
        s[ns++] = (Series){"train", "train", tr[k]};
        if (r->have_val) s[ns++] = (Series){"validation", "val", va[k]};
        if (r->have_test) s[ns++] = (Series){"test", "test", te[k]};
        plot_svg(b, metric[k], title[k], ytitle[k], unit[k], n, x_max, s, ns, k ? 100 : 0, k ? 2 : 4);
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
    esc(b, t->layer);
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
        esc(b, class_name(r, k));
        P(b, "</text>\n<text class=\"clabel col\" transform=\"translate(%.1f %.1f) rotate(-45)\">", lw + (k + 0.5) * cell + 3, th - 6);
        esc(b, class_name(r, k));
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
            esc(b, class_name(r, t));
            jbuf_puts(b, ", predicted ");
            esc(b, class_name(r, p));
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
        esc(b, class_name(r, t));
        P(b, "</td><td>%.1f%%</td><td><div class=\"bar\"><span style=\"width:%.1f%%\"></span></div></td><td>%ld / %ld</td>"
             "<td class=\"l muted\">",
          acc, acc, cm[(long)t * K + t], row);
        if (wp >= 0) {
            esc(b, class_name(r, wp));
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
    esc(b, base_name(ds->paths[i]));
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
        esc(b, r->test.paths[i]);
        jbuf_puts(b, "\">");
        thumbnail(b, &r->test, i);
        jbuf_puts(b, "</div><figcaption><div class=\"truth\"><span>true</span>");
        esc(b, class_name(r, r->test.labels[i]));
        jbuf_puts(b, "</div><div class=\"pred\"><span>predicted</span>");
        esc(b, class_name(r, r->test_pred[i]));
        P(b, " <b>%.0f%%</b></div><div class=\"file\">", 100.0 * r->test_conf[i]);
        esc(b, base_name(r->test.paths[i]));
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
      duration(secs, t, sizeof t), n, n == 1 ? "" : "s");
    jbuf_puts(b, "<div class=\"plots\">\n");
    double fastest = 0, slowest = INFINITY;
    for (int i = 0; i < n; i++) fastest = fmax(fastest, ips[i]), slowest = fmin(slowest, ips[i]);
    P(b, "<dl class=\"figures\"><dt>per epoch</dt><dd>%.1f s</dd><dt>images per second</dt><dd>%.0f</dd>"
         "<dt>slowest, fastest epoch</dt><dd>%.0f, %.0f images/s</dd><dt>training in all</dt><dd>%s</dd>"
         "<dt>batch</dt><dd>%d images</dd></dl>\n",
      secs / n, secs > 0 ? imgs / secs : 0, slowest, fastest, t, r->cfg.batch);
    Series s[] = {{"images/s", "speed", ips}};
    plot_svg(b, "speed", "Training images per second", "images / s", " images/s", n, r->cfg.epochs > n ? r->cfg.epochs : n, s, 1,
             0, 0);
    double *sec = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) sec[i] = r->rows[i].seconds;
    Series s2[] = {{"seconds", "speed", sec}};
    plot_svg(b, "seconds", "Seconds per epoch", "seconds", " s", n, r->cfg.epochs > n ? r->cfg.epochs : n, s2, 1, 0, 1);
    jbuf_puts(b, "</div></section>\n");
    free(ips), free(sec);
}

static void network(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<section id=\"network\"><h2>Network</h2>\n<p class=\"note\">The shape report, as <code>netc</code> printed it.</p>\n<pre>");
    esc(b, r->net->report);
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
    ROW("net", esc(&v, net->name), jbuf_puts(&v, " ("), esc(&v, net->source), jbuf_puts(&v, ")"));
    ROW("netc version", P(&v, "%s (trainer generated by %s)", NETC_VERSION, net->netc_version));
    ROW("run folder", jbuf_puts(&v, "<code>"), esc(&v, r->out), jbuf_puts(&v, "</code>"));
    char n1[32], n2[32];
    ROW("training data", jbuf_puts(&v, "<code>"), esc(&v, c->data),
        P(&v, "/train</code>: %s images, %d classes%s", grouped(r->train.n + r->val.n, n1, sizeof n1), r->train.n_classes,
          r->train.n_skipped ? " (some files unreadable, skipped)" : ""));
    if (r->have_val)
        ROW("validation", P(&v, "%s of them held out, %s trained on (val_split %g of each class, chosen by seed %llu; never augmented)",
                            grouped(r->val.n, n1, sizeof n1), grouped(r->train.n, n2, sizeof n2), c->val_split,
                            (unsigned long long)c->seed));
    if (r->have_test)
        ROW("test data", jbuf_puts(&v, "<code>"), esc(&v, c->data),
            P(&v, "/test</code>: %s images%s", grouped(r->test.n, n2, sizeof n2), r->test.n_skipped ? " (some files unreadable, skipped)" : ""));
    ROW("image cache", P(&v, "%dx%d, %d channel%s, decoded once; the net's input is %dx%dx%d", r->train.w, r->train.h, r->train.c,
                         r->train.c == 1 ? "" : "s", net->in_w, net->in_h, net->in_c));
    ROW("normalisation", P(&v, "mean %.4g %.4g %.4g, std %.4g %.4g %.4g%s", r->mean[0], r->mean[1], r->mean[2], r->std[0], r->std[1],
                           r->std[2], c->normalize_auto ? " (from the training images)" : ""));
    ROW("threads", P(&v, "%d (OpenMP; OpenBLAS runs inside it)", c->threads));
    ROW("checkpoints", P(&v, "<code>last.ckpt</code> (every epoch), <code>best.ckpt</code> (%s), ",
                         r->have_val ? "best validation top-1" : "lowest training loss"),
        jbuf_puts(&v, "<code>weights.safetensors</code>; continue with <code>train --resume "),
        esc(&v, r->out), jbuf_puts(&v, "</code>"));
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
            if (val[0]) esc(b, val);
            else jbuf_puts(b, "<span class=\"muted\">(none)</span>");
            jbuf_puts(b, "</td><td class=\"l muted\">");
            esc(b, k->help);
            jbuf_puts(b, "</td></tr>\n");
        }
        jbuf_puts(b, "</table>\n");
    }
    jbuf_puts(b, "</div>\n");
    jbuf_puts(b, "</div>\n<p class=\"note\">Bold: set by the .net file or the command line (differs from netc's default).</p>\n"
                 "</section>\n");
}

static const char css[] =
    ":root{--ink:#1f2328;--muted:#656d76;--line:#d8dee4;--soft:#eef1f4;--bg:#f5f7f9;--card:#fff;"
    "--train:#2563eb;--val:#7c3aed;--test:#e8590c;--speed:#0f766e;--accent:#0f5260}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'Helvetica Neue',Arial,'Noto Sans','Liberation Sans',sans-serif;-webkit-font-smoothing:antialiased}\n"
    "code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace}\n"
    "code{font-size:.88em;background:var(--soft);padding:1px 5px;border-radius:4px}\n"
    ".wrap,main{max-width:1280px;margin:0 auto;padding:0 28px}\n"
    "header{background:linear-gradient(160deg,#0b1f2a,#123845);color:#f1f5f9;padding:26px 0 0}\n"
    "header .brand{font-size:12px;letter-spacing:.12em;text-transform:uppercase;color:#7dd3c8;font-weight:600}\n"
    "header h1{margin:2px 0 0;font-size:34px;font-weight:700;letter-spacing:-.02em}\n"
    "header .sub{color:#a9b8c3;font-size:14px;margin-top:2px}\n"
    "header code{background:rgba(255,255,255,.1);color:#e2e8f0}\n"
    ".kpis{display:flex;flex-wrap:wrap;gap:12px;margin:22px 0 18px}\n"
    ".kpi{flex:1 1 150px;background:rgba(255,255,255,.07);border:1px solid rgba(255,255,255,.09);border-radius:12px;padding:12px 16px}\n"
    ".kpi .v{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".kpi.main{flex:2 1 260px}.kpi.main .v{font-size:46px;line-height:1.1;color:#5eead4}.kpi.val .v{color:#c4b5fd}\n"
    ".kpi .l{font-size:12px;color:#a9b8c3;margin-top:2px}\n"
    "nav{display:flex;gap:4px;flex-wrap:wrap;padding-bottom:10px}\n"
    "nav a{color:#cbd5e1;text-decoration:none;font-size:13px;padding:4px 10px;border-radius:6px}\n"
    "nav a:hover{background:rgba(255,255,255,.1);color:#fff}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:22px 26px;margin:22px 0;"
    "box-shadow:0 1px 2px rgba(16,24,40,.04)}\n"
    "h2{font-size:20px;margin:0 0 4px;letter-spacing:-.01em}\n"
    "h3{font-size:14px;margin:18px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}\n"
    ".note{color:var(--muted);font-size:13.5px;margin:0 0 16px;max-width:80ch}\n"
    ".empty{color:var(--muted);font-style:italic}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:18px 26px}\n"
    "figure{margin:0}\n"
    "figcaption{font-weight:600;font-size:14px;margin-bottom:6px}\n"
    "svg text{font-family:inherit}\n"
    ".plot{width:100%;height:auto;display:block;overflow:visible}\n"
    ".plot .grid{stroke:#e8ecf0;stroke-width:1}\n"
    ".plot .axis{stroke:#8c959f;stroke-width:1}\n"
    ".plot .tick{font-size:11.5px;fill:#57606a}\n"
    ".atitle{font-size:12px;fill:#57606a;font-weight:600}\n"
    ".series polyline{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}\n"
    ".series circle{stroke:#fff;stroke-width:1}\n"
    ".legend line{stroke-width:2.2}.legend circle{stroke:#fff;stroke-width:1}\n"
    ".legend text{font-size:12.5px;fill:var(--ink)}\n"
    ".train polyline,.train line{stroke:var(--train)}.train circle{fill:var(--train)}\n"
    ".test polyline,.test line{stroke:var(--test)}.test circle{fill:var(--test)}\n"
    ".val polyline,.val line{stroke:var(--val)}.val circle{fill:var(--val)}\n"
    ".speed polyline,.speed line{stroke:var(--speed)}.speed circle{fill:var(--speed)}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13.5px}\n"
    "th,td{padding:5px 10px;text-align:right;border-bottom:1px solid var(--soft);vertical-align:top}\n"
    "thead th{color:var(--muted);font-weight:600;font-size:12.5px;border-bottom:1px solid var(--line);background:#fff;"
    "position:sticky;top:0;white-space:nowrap}\n"
    "tfoot td{font-weight:650;border-top:1px solid var(--line);border-bottom:0}\n"
    ".l{text-align:left}.muted{color:var(--muted)}\n"
    ".scroll{overflow-x:auto}.tall{max-height:460px;overflow-y:auto}\n"
    "table.epochs{width:100%}\n"
    "table.epochs td.hi{font-weight:650;color:var(--test)}table.epochs td.vhi{font-weight:650;color:var(--val)}\n"
    "table.epochs tr.best td{background:#f0fdfa}\n"
    ".filters{display:flex;gap:14px 48px;flex-wrap:wrap;align-items:flex-start}\n"
    ".filters img{image-rendering:pixelated;image-rendering:crisp-edges;display:block;border-radius:4px;"
    "box-shadow:0 0 0 1px var(--line)}\n"
    ".filters .moved{flex-basis:100%;margin:0}\n"
    ".cmwrap{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}\n"
    ".cmwrap>.scroll{flex:1 1 500px;min-width:0}\n"
    "table.perclass td{white-space:nowrap}\n"
    "table.perclass td:nth-child(2){padding-right:2px}table.perclass td:nth-child(3){padding-left:4px}\n"
    ".confusion{max-width:100%;height:auto}\n"
    ".confusion .clabel{font-size:12px;fill:var(--ink)}\n"
    ".confusion text.on-dark{fill:#fff;font-size:11px;font-weight:600}\n"
    ".confusion text.on-light{fill:#24292f;font-size:11px}\n"
    ".confusion rect{stroke:#fff;stroke-width:1}\n"
    ".confusion rect.diag{fill:none;stroke:#e8590c;stroke-width:1.5}\n"
    ".confusion rect.frame{fill:none;stroke:#afb8c1}\n"
    ".bar{width:72px;height:8px;background:var(--soft);border-radius:4px;margin-top:6px;overflow:hidden}\n"
    ".bar span{display:block;height:100%;background:var(--accent);border-radius:4px}\n"
    ".mis{display:grid;grid-template-columns:repeat(6,1fr);gap:18px}\n"
    "@media (max-width:900px){.mis{grid-template-columns:repeat(3,1fr)}}\n"
    ".mistake .thumb{aspect-ratio:1;background:var(--soft);border-radius:10px;overflow:hidden}\n"
    ".mistake img{width:100%;height:100%;object-fit:cover;display:block}\n"
    ".mistake figcaption{font-weight:400;font-size:13px;margin-top:6px;line-height:1.35}\n"
    ".mistake span{display:block;color:var(--muted);font-size:10.5px;text-transform:uppercase;letter-spacing:.06em;margin-top:3px}\n"
    ".mistake .truth{font-weight:600}.mistake .pred{color:#b42318}.mistake .pred b{font-weight:650}\n"
    ".mistake .file{color:var(--muted);font-size:11.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
    "dl.figures{margin:28px 0 0;display:grid;grid-template-columns:auto 1fr;gap:10px 18px;align-content:start}\n"
    "dl.figures dt{color:var(--muted);font-size:13px;padding-top:3px}\n"
    "dl.figures dd{margin:0;font-size:16px;font-weight:650;font-variant-numeric:tabular-nums}\n"
    "pre{font-size:12.5px;line-height:1.45;background:#f6f8fa;border:1px solid var(--soft);padding:14px 16px;"
    "border-radius:10px;overflow-x:auto;margin:0}\n"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:10px 34px}\n"
    "table.kv{width:100%}\n"
    "table.kv th{font-weight:600;white-space:nowrap;width:1%;padding-left:0}\n"
    "table.kv td{font-size:13px}\n"
    "table.settings td:nth-child(2){font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;"
    "font-size:12.5px;overflow-wrap:anywhere;max-width:15em}\n"
    "table.settings tr.set th,table.settings tr.set td:nth-child(2){font-weight:700;color:var(--accent)}\n"
    "footer{color:var(--muted);font-size:12.5px;text-align:center;padding:8px 0 36px}\n"
    "@media print{header{background:#fff;color:#000}section{break-inside:avoid;box-shadow:none}}\n";

static void page(JsonBuf *b, const Run *r) {
    jbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<meta name=\"generator\" content=\"netc " NETC_VERSION "\"/>\n");
    if (report_live(r)) /* reload while training, so the curves can be watched; the last write has none */
        P(b, "<meta http-equiv=\"refresh\" content=\"%d\"/>\n", REPORT_RELOAD_SECONDS);
    jbuf_puts(b, "<title>");
    esc(b, r->net->name);
    const EpochRow *ev = last_evaluated(r);
    if (ev) P(b, " &#8212; %.1f%% test top-1", ev->test_top1);
    P(b, " &#8212; netc report</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
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
