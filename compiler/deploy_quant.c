/* deploy_quant.c: netc --deploy --quantize int8 (see deploy.h and deploy/nnq.c).
 *
 * The scheme. Weights: int8 per output channel, symmetric (-127..127, the
 * scale the channel's largest magnitude over 127), after batch norm folding.
 * Activations: bytes with a scale and zero point per tensor (asymmetric
 * uint8), because the two kinds of tensor a net has want different things:
 * after a relu a tensor is never negative, and a zero point of 0 gives all
 * 256 values to its positive side where a symmetric int8 would waste the
 * sign bit; the normalised input and the outputs of layers without a relu
 * are signed and uneven, and the zero point puts 0 where their range needs
 * it. Bytes times signed bytes is also what x86's integer dot products take
 * (AVX512-VNNI's vpdpbusd; AVX2 widens both to 16 bits, as its vpmaddubsw
 * would saturate). Sums are int32, requantised by a fixed-point multiplier
 * and shift per output channel (gemmlowp's rounding). Float only at the
 * net's input (quantised as the first int8 layer reads it) and its output
 * (the layer that writes the logits gives floats).
 *
 * The passes, after deploy.c's decisions (which move a relu after a max pool
 * to the layer before the pool, so the pool's input is the relu's output):
 *   deploy_quant_decide  which layers run int8 (those whose kind has an int8
 *                        side, not named by --float), which outputs are bytes,
 *                        and the conversions where a float layer and an int8
 *                        one meet;
 *   deploy_calibrate     (deploy_calib.c) the float net run on training images,
 *                        each tensor's range recorded;
 *   deploy_quant_params  a scale and zero point per tensor from its range;
 * then the kinds' int8 sides prepare their weights with the helpers below. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_int.h"
#include "kind.h"
#include "pool.h"
#include "util.h"

bool deploy_same_scale_always(const Layer *l) { return (void)l, true; }

/* ---- which layers run int8 -------------------------------------------------------------- */

/* The layer whose output layer i's is (following what does not run: a
 * dropout, a fused relu, a folded batch norm); a concat is its own. */
int deploy_value(const Deploy *d, int i) {
    while (i > 0 && !d->dl[i].runs && !d->net->layers[i].kind->deploy->slices) i = d->dl[i].alias;
    return i;
}

/* --float A,B: the layers named, as flags; -1 if one is not a layer of the net. */
static int float_layers(Deploy *d, bool *keep) {
    const Net *net = d->net;
    if (!d->o->float_layers) return 0;
    char *list = pool_strdup(d->o->float_layers), *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int i = layer_index(net, name);
        if (i > 0) {
            keep[i] = true;
            continue;
        }
        const char *best = NULL;
        int bestd = 3;
        for (int j = 1; j < net->n; j++) {
            int dist = edit_distance(name, net->layers[j].name);
            if (dist < bestd) bestd = dist, best = net->layers[j].name;
        }
        fprintf(stderr, "netc: --float %s: %s has no layer '%s'%s\n", d->o->float_layers, net->name, name,
                best ? pool_printf(" (did you mean '%s'?)", best) : "");
        fprintf(stderr, "  HINT: name layers as netc's report does (a block's as BLOCK.LAYER: %s), separated by commas\n",
                net->layers[net->n > 2 ? 2 : 1].name);
        return -1;
    }
    return 0;
}

/* A concat whose input o's buffer can no longer be its slice copies it. */
static void unslice(Deploy *d, int o) {
    int cat = d->dl[o].slice_of;
    d->dl[o].slice_of = -1;
    DeployLayer *c = &d->dl[cat];
    int copied = 0;
    for (int j = 0; j < d->net->layers[cat].n_in; j++) copied += !deploy_in_slice(d, &d->net->layers[d->net->layers[cat].in[j]], &d->net->layers[cat]);
    c->runs = true;
    c->how = pool_printf("copies %d of its %d inputs", copied, d->net->layers[cat].n_in);
}

int deploy_quant_decide(Deploy *d) {
    const Net *net = d->net;
    bool *keep = pool_alloc(sizeof(bool) * (size_t)net->n);
    if (float_layers(d, keep) < 0) return -1;
    for (int i = 1; i < net->n; i++) {
        DeployLayer *dl = &d->dl[i];
        const DeployEmit *k = net->layers[i].kind->deploy;
        if (dl->runs || k->slices) {
            dl->q = k->int8 && !keep[i];
            dl->bytes = dl->q;
        } else {
            dl->q = d->dl[dl->alias].q;
            dl->bytes = d->dl[dl->alias].bytes;
        }
    }
    /* the logits: floats from the layer that writes them where it can (else dequantised at the end) */
    for (int i = 1; i < net->n; i++) {
        if (!net->layers[i].kind->deploy->output) continue;
        int v = deploy_value(d, net->layers[i].in[0]);
        if (d->dl[v].q && d->dl[v].act == DEPLOY_LINEAR && net->layers[v].kind->deploy->int8->to_float) {
            d->dl[v].qfloat = true;
            for (int j = v; j < net->n; j++)
                if (deploy_value(d, j) == v) d->dl[j].bytes = false;
        }
    }
    /* a concat's slices are written by layers of its own type, at its scale */
    for (int i = 1; i < net->n; i++) {
        int cat = d->dl[i].slice_of;
        if (cat < 0) continue;
        const DeployInt8 *q = net->layers[i].kind->deploy->int8;
        if (d->dl[i].bytes != d->dl[cat].bytes || (d->dl[i].q && q->same_scale && q->same_scale(&net->layers[i]))) unslice(d, i);
    }
    /* writing over an input of the other type cannot be done in place */
    for (int i = 1; i < net->n; i++) {
        DeployLayer *dl = &d->dl[i];
        if (dl->runs && dl->alias >= 0 && d->dl[deploy_owner(d, dl->alias)].bytes != dl->bytes) {
            dl->alias = -1;
            dl->how = pool_printf("%s (not in place: its input is %s)", dl->how ? dl->how : "runs", dl->bytes ? "floats" : "bytes");
        }
    }
    /* conversions where a layer reads an output of the other type */
    for (int i = 1; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        if (!d->dl[i].runs || l->kind->deploy->output) continue;
        for (int j = 0; j < l->n_in; j++) {
            int v = deploy_value(d, l->in[j]);
            if (d->dl[v].bytes == d->dl[i].q) continue;
            DeployTemp t = {.step = i, .from = l->in[j], .to_bytes = d->dl[i].q, .n = net->layers[l->in[j]].act, .buf = -1};
            POOL_PUSH(d->temps, d->n_temps, d->cap_temps, t);
        }
    }
    return 0;
}

/* ---- scales from the calibration's statistics -------------------------------------------- */

/* The value below which a fraction p of the recorded values lie. */
static double quantile(const DeployStats *s, double p) {
    double want = p * (double)s->count, seen = 0;
    for (int b = 0; b < DEPLOY_BINS; b++) {
        if (seen + s->hist[b] >= want) {
            double f = s->hist[b] > 0 ? (want - seen) / s->hist[b] : 0;
            return s->lo + (b + f) * s->width;
        }
        seen += s->hist[b];
    }
    return s->max;
}

/* The expected squared error of quantising the recorded values to 256 steps over [lo, hi]:
 * a quarter-step rounding error inside (uniform: step^2 / 12), the distance to the edge outside. */
static double clip_error(const DeployStats *s, double lo, double hi) {
    double step = (hi - lo) / 255, err = 0;
    for (int b = 0; b < DEPLOY_BINS; b++) {
        if (!s->hist[b]) continue;
        double x = s->lo + (b + 0.5) * s->width;
        double e = x < lo ? (lo - x) * (lo - x) : x > hi ? (x - hi) * (x - hi) : step * step / 12;
        err += s->hist[b] * e;
    }
    return err;
}

/* The range of a tensor's values to quantise: all of it (minmax), all but
 * the rarest 0.01% at each end (percentile), or the clip that makes the
 * expected squared error least (mse). Always holds 0, so zero is a byte. */
static void choose_range(const DeployStats *s, const char *method, double *lo, double *hi) {
    *lo = fmin(s->min, 0), *hi = fmax(s->max, 0);
    if (s->count == 0 || strcmp(method, "minmax") == 0) return;
    if (strcmp(method, "percentile") == 0) {
        if (s->min < 0) *lo = fmin(quantile(s, 1e-4), 0);
        *hi = fmax(quantile(s, 1 - 1e-4), 0);
        return;
    }
    double best = clip_error(s, *lo, *hi), blo = *lo, bhi = *hi;
    for (int t = 1; t < 200; t++) { /* shrink both ends together, down to 1% of the range */
        double f = 1 - t * 0.99 / 200, l = *lo * f, h = *hi * f, e = clip_error(s, l, h);
        if (e < best) best = e, blo = l, bhi = h;
    }
    *lo = blo, *hi = bhi;
}

static void set_params(DeployLayer *dl, double lo, double hi) {
    if (hi - lo < 1e-8) hi = lo + 1e-8;
    dl->qscale = (float)((hi - lo) / 255);
    long zp = lround(-lo / dl->qscale);
    dl->qzp = (int)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
}

int deploy_quant_params(Deploy *d) {
    const Net *net = d->net;
    const char *method = d->o->calibration ? d->o->calibration : DEPLOY_CALIBRATION;
    /* each output from its own range */
    for (int i = 0; i < net->n; i++) {
        if (deploy_value(d, i) != i || !d->stats[i].count) continue;
        double lo, hi;
        choose_range(&d->stats[i], method, &lo, &hi);
        set_params(&d->dl[i], lo, hi);
    }
    /* a concat's slices at its scale; a max pool's or a relu's output at its input's */
    for (int i = 1; i < net->n; i++) {
        int v = deploy_value(d, i), o = deploy_owner(d, i);
        if (v != i) {
            d->dl[i].qscale = d->dl[v].qscale, d->dl[i].qzp = d->dl[v].qzp;
            continue;
        }
        if (d->dl[o].slice_of >= 0) {
            const DeployLayer *c = &d->dl[d->dl[o].slice_of];
            d->dl[i].qscale = c->qscale, d->dl[i].qzp = c->qzp;
        } else if (d->dl[i].q && net->layers[i].kind->deploy->int8->same_scale && net->layers[i].kind->deploy->int8->same_scale(&net->layers[i])) {
            const DeployLayer *in = &d->dl[deploy_value(d, net->layers[i].in[0])];
            d->dl[i].qscale = in->qscale, d->dl[i].qzp = in->qzp;
        }
    }
    for (int i = 0; i < net->n; i++) /* the aliases again: their values may have moved above */
        if (deploy_value(d, i) != i) d->dl[i].qscale = d->dl[deploy_value(d, i)].qscale, d->dl[i].qzp = d->dl[deploy_value(d, i)].qzp;
    return 0;
}

/* ---- helpers for the kinds' int8 sides ----------------------------------------------------- */

DeployQ deploy_q(const Deploy *d, const Layer *l) {
    const DeployLayer *dl = &d->dl[deploy_value(d, (int)(l - d->net->layers))];
    return (DeployQ){dl->qscale, dl->qzp};
}

void deploy_multiplier(double real, int32_t *mult, int32_t *shift) {
    int e;
    double m = frexp(real, &e); /* real = m 2^e, m in [0.5, 1) */
    int64_t q = llround(m * 2147483648.0);
    if (real <= 0) {
        *mult = 0, *shift = 0;
        return;
    }
    if (q == ((int64_t)1 << 31)) q /= 2, e++;
    if (e < -31) q = 0, e = 0; /* smaller than any sum can show */
    if (e > 30) e = 30;        /* not reached by a real net: a saturating multiply */
    *mult = (int32_t)q, *shift = e;
}

const char *deploy_qout(Deploy *d, const Layer *l) {
    const DeployLayer *dl = deploy_layer(d, l);
    int lo = dl->act == DEPLOY_RELU ? dl->qzp : 0;
    if (dl->act == DEPLOY_RELU && dl->slope != 0) {
        int32_t m, s;
        deploy_multiplier(dl->slope, &m, &s);
        return pool_printf(".zp = %d, .lo = 0, .neg_mult = %ld, .neg_shift = %ld", dl->qzp, (long)m, (long)s);
    }
    return pool_printf(".zp = %d, .lo = %d", dl->qzp, lo);
}

int8_t *deploy_qweights(const float *w, long oc, long per_out, float *scale) {
    int8_t *q = pool_alloc((size_t)(oc * per_out));
    for (long o = 0; o < oc; o++) {
        float big = 0;
        for (long k = 0; k < per_out; k++) big = fmaxf(big, fabsf(w[o * per_out + k]));
        scale[o] = big > 0 ? big / 127 : 1;
        for (long k = 0; k < per_out; k++) {
            long v = lround(w[o * per_out + k] / scale[o]);
            q[o * per_out + k] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
        }
    }
    return q;
}

void deploy_qlayer(Deploy *d, const Layer *l, const float *w, const float *b, long oc, long per_out) {
    DeployLayer *dl = deploy_layer(d, l);
    DeployQ in = deploy_q(d, &d->net->layers[l->in[0]]);
    float *ws = pool_alloc(sizeof(float) * (size_t)oc);
    dl->qw = deploy_qweights(w, oc, per_out, ws), dl->nqw = oc * per_out, dl->qws = ws;
    dl->qb = pool_alloc(sizeof(int32_t) * (size_t)oc);
    if (dl->qfloat) dl->qfs = pool_alloc(sizeof(float) * (size_t)oc);
    else dl->qrq = pool_alloc(2 * sizeof(int32_t) * (size_t)oc);
    for (long o = 0; o < oc; o++) {
        double unit = (double)in.scale * ws[o]; /* a sum's step, in real terms */
        int64_t sum = 0;
        for (long k = 0; k < per_out; k++) sum += dl->qw[o * per_out + k];
        int64_t bias = (b ? llround(b[o] / unit) : 0) - (int64_t)in.zp * sum;
        dl->qb[o] = (int32_t)(bias > INT32_MAX ? INT32_MAX : bias < INT32_MIN ? INT32_MIN : bias);
        if (dl->qfloat) dl->qfs[o] = (float)unit;
        else deploy_multiplier(unit / dl->qscale, &dl->qrq[2 * o], &dl->qrq[2 * o + 1]);
    }
}

long deploy_qconv_packed(long oc, long cg, long kh, long kw, long groups) {
    long og = oc / groups, blocks = (og + DEPLOY_MR - 1) / DEPLOY_MR, k4 = (cg * kh * kw + 3) / 4;
    return groups * blocks * k4 * DEPLOY_MR * 4;
}

int8_t *deploy_qpack_conv(const int8_t *w, long oc, long cg, long kh, long kw, long groups) {
    long og = oc / groups, blocks = (og + DEPLOY_MR - 1) / DEPLOY_MR, K = cg * kh * kw, k4 = (K + 3) / 4;
    int8_t *p = pool_alloc((size_t)deploy_qconv_packed(oc, cg, kh, kw, groups)); /* zeroed */
    for (long g = 0; g < groups; g++)
        for (long o = 0; o < og; o++) {
            long block = g * blocks + o / DEPLOY_MR, row = o % DEPLOY_MR;
            for (long k = 0; k < K; k++) p[((block * k4 + k / 4) * DEPLOY_MR + row) * 4 + k % 4] = w[(g * og + o) * K + k];
        }
    return p;
}

/* ---- -d quant ------------------------------------------------------------------------------ */

/* The int8 net's state once its layers are prepared: every tensor's scale,
 * zero point and clamp, beside the range calibration saw, and every layer
 * of sums' weight scales, biases and multipliers per output channel. Scales
 * print with 9 digits, which read back as the same float (tests read them). */
void deploy_quant_dump(const Deploy *d, FILE *f) {
    const Net *net = d->net;
    fprintf(f, "-d quant: %s as int8 (calibration %s on %d training images). A tensor's byte q stands for scale x (q - zp);\n"
               "a layer storing bytes clamps them to lo..255 (lo = zp: its relu). Output channel o's weight w stands for wscale[o] x w;\n"
               "its sums are requantised by mult x 2^(shift - 31), or are the logits times step.\n",
            net->name, d->o->calibration ? d->o->calibration : DEPLOY_CALIBRATION, d->n_calibrated);
    fprintf(f, "  %-22s %-5s %-50s %s\n", "layer", "runs", "output", "calibrated range");
    for (int i = 0; i < net->n; i++) {
        const DeployLayer *dl = &d->dl[i];
        const Layer *l = &net->layers[i];
        const char *name = i ? l->name : "input", *runs = i == 0 ? "" : dl->q ? "int8" : "float", *out = "floats";
        int v = deploy_value(d, i);
        bool converted = false;
        for (int k = 0; k < d->n_temps; k++) converted |= d->temps[k].to_bytes && deploy_value(d, d->temps[k].from) == v;
        if (i && l->kind->deploy->output) continue;
        if (v != i) {
            fprintf(f, "  %-22s %-5s %s's\n", name, "", net->layers[v].name);
            continue;
        }
        if (dl->bytes || converted) {
            int lo = dl->bytes && dl->act == DEPLOY_RELU ? dl->qzp : 0;
            out = pool_printf("%s scale %.9g zp %d lo %d%s", dl->bytes ? "bytes" : "floats, read as", (double)dl->qscale, dl->qzp, lo,
                              dl->bytes && dl->act == DEPLOY_RELU && dl->slope != 0 ? pool_printf(" slope %g", (double)dl->slope) : "");
        }
        const DeployStats *s = d->stats ? &d->stats[i] : NULL;
        fprintf(f, "  %-22s %-5s %-50s %s\n", name, runs, out, s && s->count ? pool_printf("%.9g .. %.9g", s->min, s->max) : "");
        if (!dl->q || !dl->qws || !dl->qb) continue;
        for (long o = 0; o < l->out.c; o++) {
            fprintf(f, "    %s[%ld] wscale %.9g bias %ld", name, o, (double)dl->qws[o], (long)dl->qb[o]);
            if (dl->qfloat) fprintf(f, " step %.9g\n", (double)dl->qfs[o]);
            else fprintf(f, " mult %ld shift %ld\n", (long)dl->qrq[2 * o], (long)dl->qrq[2 * o + 1]);
        }
    }
}
