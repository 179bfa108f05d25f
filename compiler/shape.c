/* shape.c: the shape pass.
 *
 * Walks the layers in order and works out, for one image, by each layer's
 * kind (kind.h): each output's depth, height and width; the receptive field
 * (size and stride, in input pixels); its tensors, and from them its
 * parameters; forward FLOPs (a multiply-add counts 2); activation floats.
 * An impossible layer is reported with its name, the sizes involved and, where
 * there is one, the smallest change that would make it fit. The helpers the
 * kinds' rules share are here too. */
#include <stdlib.h>
#include <string.h>

#include "kind.h"
#include "net.h"
#include "pool.h"
#include "report.h"

/* Limits that keep every size the generated code computes inside 32 bits. */
#define MAX_FLOATS 2147483647LL

const char *shape_str(Shape s) { return pool_printf("%ldx%ldx%ld", s.w, s.h, s.c); }

int64_t shape_mul(int64_t a, int64_t b) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r) || r > (1LL << 62)) return -1;
    return r;
}

int64_t shape_volume(Shape s) { return shape_mul(shape_mul(s.c, s.h), s.w); }

/* Output side of a sliding window, PyTorch's rule (ceil: a last partial
 * window counts, unless it would start in the right padding). */
long window_out(long in, long k, long s, long p, bool ceil_mode) {
    long span = in + 2 * p - k;
    long o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* A kernel or window against its (padded) input, both axes. */
int check_window(const Layer *l, Shape in, long kw, long kh, long pw, long ph, const char *what) {
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

int check_pad(const Layer *l, long kw, long kh, long pw, long ph) {
    if (2 * pw <= kw && 2 * ph <= kh) return 0;
    diag_error(l->kind_loc, pool_printf("pad %ld is the most a %ldx%ld window allows", kw / 2, kw, kh),
               "%s: pad %ldx%ld is more than half the %ldx%ld window", l->name, pw, ph, kw, kh);
    return -1;
}

/* Receptive field after a window of k with stride s on an input whose field is
 * (rf, jump): each step of the window moves `jump` input pixels. */
void rf_window(Net *net, Layer *l, long kw, long kh, long sw) {
    const Layer *src = &net->layers[l->in[0]];
    long k = kw > kh ? kw : kh;
    l->rf = src->rf + (double)(k - 1) * src->rf_stride;
    l->rf_stride = src->rf_stride * (double)sw;
}

void rf_whole(Net *net, Layer *l) {
    Shape in = in_shape(net, l);
    rf_window(net, l, in.w, in.h, 1);
}

/* A layer's shape, receptive field and tensors, by its kind's rules; params
 * and buffers are its tensors' sizes. */
static int shape_layer(Net *net, Layer *l) {
    const Layer *src = &net->layers[l->in[0]];
    l->rf = src->rf, l->rf_stride = src->rf_stride;
    if (l->kind->shape(net, l) < 0) return -1;
    if (l->kind->rf) l->kind->rf(net, l);
    if (!l->kind->tensors) return 0;
    Tensor t[MAX_TENSORS];
    int n = l->kind->tensors(net, l, t);
    l->tensors = pool_alloc(sizeof(Tensor) * (size_t)n);
    l->n_tensors = n;
    for (int i = 0; i < n; i++) {
        l->tensors[i] = t[i];
        bool stat = t[i].role == ROLE_RUNNING_MEAN || t[i].role == ROLE_RUNNING_VAR;
        int64_t *sum = stat ? &l->buffers : &l->params;
        if (*sum >= 0) *sum = t[i].numel < 0 || *sum + t[i].numel > (1LL << 62) ? -1 : *sum + t[i].numel;
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
        l->act = shape_volume(l->out);
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
