/* shape.c: the shape pass.
 *
 * Walks the layers in order and works out, for one image: each output's depth,
 * height and width; the receptive field (size and stride, in input pixels);
 * parameters; forward FLOPs (a multiply-add counts 2); activation floats.
 * An impossible layer is reported with its name, the sizes involved and, where
 * there is one, the smallest change that would make it fit. */
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "pool.h"
#include "report.h"

/* Limits that keep every size the generated code computes inside 32 bits. */
#define MAX_FLOATS 2147483647LL

static const char *shape_str(Shape s) { return pool_printf("%ldx%ldx%ld", s.w, s.h, s.c); }

/* a * b, or -1 if it does not fit in 62 bits */
static int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r) || r > (1LL << 62)) return -1;
    return r;
}

static int64_t volume(Shape s) { return mul(mul(s.c, s.h), s.w); }

/* Output side of a sliding window, PyTorch's rule (ceil: a last partial
 * window counts, unless it would start in the right padding). */
static long window_out(long in, long k, long s, long p, bool ceil_mode) {
    long span = in + 2 * p - k;
    long o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* A kernel or window against its (padded) input, both axes. */
static int check_window(const Layer *l, Shape in, long kw, long kh, long pw, long ph, const char *what) {
    if (in.w + 2 * pw >= kw && in.h + 2 * ph >= kh) return 0;
    const char *padded = pw || ph ? pool_printf(" (padded %ldx%ld)", in.w + 2 * pw, in.h + 2 * ph) : "";
    long need_w = kw - in.w, need_h = kh - in.h;
    long need = (need_w > need_h ? need_w : need_h);
    const char *hint = pool_printf("use a %s of at most %ldx%ld, or pad the input (pad %ld)", what, in.w + 2 * pw,
                                   in.h + 2 * ph, (need + 1) / 2);
    diag_error(l->size_loc.line ? l->size_loc : l->kind_loc, hint, "%s: input %ldx%ld%s is smaller than its %ldx%ld %s",
               l->name, in.w, in.h, padded, kw, kh, what);
    return -1;
}

static int check_pad(const Layer *l, long kw, long kh, long pw, long ph) {
    if (2 * pw <= kw && 2 * ph <= kh) return 0;
    diag_error(l->kind_loc, pool_printf("pad %ld is the most a %ldx%ld window allows", kw / 2, kw, kh),
               "%s: pad %ldx%ld is more than half the %ldx%ld window", l->name, pw, ph, kw, kh);
    return -1;
}

static int shape_conv(Layer *l, Shape in) {
    ConvSpec *c = &l->conv;
    if (in.c % c->groups || c->out % c->groups) {
        long a = in.c, b = c->out; /* the groups that fit divide gcd(in, out) */
        while (b) {
            long t = a % b;
            a = b, b = t;
        }
        char *fits = pool_strdup("");
        int shown = 0;
        for (long g = 1; g <= a && shown < 6; g++)
            if (a % g == 0) fits = pool_printf("%s%s%ld", fits, shown++ ? ", " : "", g);
        diag_error(l->kind_loc, pool_printf("groups must divide both %ld and %ld: groups %s", in.c, c->out, fits),
                   "%s: %ld groups do not divide its %ld %s channels", l->name, c->groups,
                   in.c % c->groups ? in.c : c->out, in.c % c->groups ? "input" : "output");
        return -1;
    }
    if (check_window(l, in, c->kw, c->kh, c->pw, c->ph, "kernel") < 0) return -1;
    l->out = (Shape){c->out, window_out(in.h, c->kh, c->sh, c->ph, false), window_out(in.w, c->kw, c->sw, c->pw, false)};
    int64_t per_out = mul(mul(in.c / c->groups, c->kh), c->kw); /* multiply-adds per output value */
    l->params = mul(c->out, per_out);
    if (l->params >= 0 && c->bias) l->params += c->out;
    l->flops = 2.0 * (double)per_out * (double)volume(l->out);
    return 0;
}

static int shape_pool(Layer *l, Shape in) {
    PoolSpec *p = &l->pool;
    if (p->global) {
        p->kw = in.w, p->kh = in.h, p->sw = p->sh = 1, p->pw = p->ph = 0;
    } else {
        if (check_pad(l, p->kw, p->kh, p->pw, p->ph) < 0) return -1;
        if (check_window(l, in, p->kw, p->kh, p->pw, p->ph, "window") < 0) return -1;
    }
    l->out = (Shape){in.c, window_out(in.h, p->kh, p->sh, p->ph, p->ceil), window_out(in.w, p->kw, p->sw, p->pw, p->ceil)};
    l->flops = (double)volume(l->out) * (double)(p->kw * p->kh);
    return 0;
}

/* Receptive field after a window of k with stride s on an input whose field is
 * (rf, jump): each step of the window moves `jump` input pixels. */
static void rf_window(Layer *l, const Layer *src, long kw, long kh, long sw) {
    long k = kw > kh ? kw : kh;
    l->rf = src->rf + (k - 1) * src->rf_stride;
    l->rf_stride = src->rf_stride * sw;
}

static int shape_join(Net *net, Layer *l) {
    const Layer *first = &net->layers[l->in[0]];
    Shape s = first->out;
    l->rf = first->rf, l->rf_stride = first->rf_stride;
    for (int j = 1; j < l->n_in; j++) {
        const Layer *o = &net->layers[l->in[j]];
        bool same_hw = o->out.h == s.h && o->out.w == s.w;
        if (!same_hw || (l->kind == L_ADD && o->out.c != first->out.c)) {
            const char *hint = l->kind == L_CONCAT
                                   ? "concat joins along depth; the inputs must have the same width and height (pad the larger kernel: pad 1 for 3x3)"
                                   : "add needs inputs of the same size and depth";
            diag_error(l->in_loc[j], hint, "%s: cannot %s %s (%s) and %s (%s): %s", l->name, layer_kind_name[l->kind],
                       first->name, shape_str(first->out), o->name, shape_str(o->out),
                       same_hw ? "their depths differ" : "their widths and heights do not match");
            return -1;
        }
        if (l->kind == L_CONCAT) s.c += o->out.c;
        if (o->rf > l->rf) l->rf = o->rf;
    }
    l->out = s;
    l->flops = l->kind == L_ADD ? (double)volume(s) * (l->n_in - 1) : 0;
    return 0;
}

static int shape_layer(Net *net, Layer *l) {
    const Layer *src = &net->layers[l->in[0]];
    Shape in = src->out;
    l->rf = src->rf, l->rf_stride = src->rf_stride;
    switch (l->kind) {
    case L_INPUT: break;
    case L_CONV:
        if (shape_conv(l, in) < 0) return -1;
        rf_window(l, src, l->conv.kw, l->conv.kh, l->conv.sw);
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        if (shape_pool(l, in) < 0) return -1;
        rf_window(l, src, l->pool.kw, l->pool.kh, l->pool.sw);
        break;
    case L_LINEAR: {
        int64_t n_in = volume(in);
        l->out = (Shape){l->linear.out, 1, 1};
        l->params = mul(n_in, l->linear.out);
        if (l->params >= 0 && l->linear.bias) l->params += l->linear.out;
        l->flops = 2.0 * (double)n_in * (double)l->linear.out;
        rf_window(l, src, in.w, in.h, 1); /* it sees the whole input */
        break;
    }
    case L_FLATTEN:
        l->out = (Shape){volume(in), 1, 1};
        rf_window(l, src, in.w, in.h, 1);
        break;
    case L_BATCHNORM:
        l->out = in;
        l->params = 2 * in.c;
        l->buffers = 2 * in.c;
        l->flops = 2.0 * (double)volume(in);
        break;
    case L_RELU:
    case L_DROPOUT:
        l->out = in;
        l->flops = (double)volume(in);
        break;
    case L_CONCAT:
    case L_ADD:
        return shape_join(net, l);
    case L_SOFTMAX:
        l->out = in;
        l->flops = 3.0 * (double)in.c;
        if (in.h != 1 || in.w != 1) {
            const char *hint;
            const Layer *k = src; /* the conv before any relu, dropout or batch norm */
            while (k->kind == L_RELU || k->kind == L_DROPOUT || k->kind == L_BATCHNORM) k = &net->layers[k->in[0]];
            Shape sin = net->layers[k->in[0]].out;
            if (k->kind == L_CONV)
                hint = pool_printf("give %s a %ldx%ld kernel%s (its input is %ldx%ld), or put \"avgpool global\" before the loss",
                                   k->name, sin.w, sin.h, k->conv.pw || k->conv.ph ? " and no pad" : "", sin.w, sin.h);
            else
                hint = "reduce the data to 1x1 before the loss: avgpool global, or a linear layer";
            diag_error(src->loc, hint, "%s: the classifier must end at 1x1xN, but %s outputs %s", l->name, src->name, shape_str(in));
            return -1;
        }
        net->classes = (int)in.c;
        break;
    default:
        break;
    }
    return 0;
}

int shape_net(Net *net) {
    Layer *input = &net->layers[0];
    input->out = net->input;
    input->rf = input->rf_stride = 1;
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (i > 0 && shape_layer(net, l) < 0) return -1;
        l->act = volume(l->out);
        if (l->out.h < 1 || l->out.w < 1) { /* cannot happen after check_window; kept as a guard */
            diag_error(l->kind_loc, NULL, "%s: output would be empty", l->name);
            return -1;
        }
        if (l->act < 0 || l->act > MAX_FLOATS || l->params < 0 || l->params > MAX_FLOATS) {
            bool p = l->params < 0 || l->params > MAX_FLOATS;
            diag_error(l->kind_loc, "make the layer smaller: fewer channels, a smaller kernel or input",
                       "%s: %s %s is more than netc can hold (at most %s floats per %s)", l->name,
                       p ? "parameter count" : "output", p ? (l->params < 0 ? "beyond 2^62" : fmt_thousands(l->params)) : shape_str(l->out),
                       fmt_thousands(MAX_FLOATS), p ? "layer" : "image");
            return -1;
        }
        net->total_params += l->params;
        net->total_buffers += l->buffers;
        net->total_flops += l->flops;
        if (__builtin_add_overflow(net->total_act, l->act, &net->total_act) || net->total_act > MAX_FLOATS ||
            net->total_params > MAX_FLOATS) {
            bool p = net->total_params > MAX_FLOATS;
            diag_error(l->kind_loc, "make the net smaller: fewer channels, or smaller inputs to its largest layers",
                       "%s: with this layer the net has %s %s, more than netc can hold (at most %s)", l->name,
                       fmt_thousands(p ? net->total_params : net->total_act), p ? "parameters" : "activation floats per image",
                       fmt_thousands(MAX_FLOATS));
            return -1;
        }
        for (int j = 0; j < l->n_in; j++) net->layers[l->in[j]].n_users++;
    }
    /* which layers backward must reach: any with trainable weights at or below them */
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        l->needs_grad = l->params > 0 && !l->frozen;
        for (int j = 0; j < l->n_in; j++) l->needs_grad |= net->layers[l->in[j]].needs_grad;
    }
    for (int i = 1; i < net->n - 1; i++)
        if (net->layers[i].n_users == 0)
            diag_warning(net->layers[i].loc, "read it with \"from\", or remove it", "%s: its output is never used", net->layers[i].name);
    return 0;
}
