/* concat.c: "concat A B ...", joined along depth. Where its inputs feed
 * nothing else, the plan has them write straight into their slices of its
 * output (activations are channel-major, so each input's channels are one
 * block), and it costs nothing, forward or backward. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static const KindOption concat_options[] = {{NULL}};

/* The inputs of concat and add must agree on width and height (and, for
 * add, depth); the field is the widest of theirs. */
int join_shape(Net *net, Layer *l) {
    const Layer *first = &net->layers[l->in[0]];
    Shape s = first->out;
    bool cat = l->kind == &kind_concat;
    l->rf = first->rf, l->rf_stride = first->rf_stride;
    for (int j = 1; j < l->n_in; j++) {
        const Layer *o = &net->layers[l->in[j]];
        bool same_hw = o->out.h == s.h && o->out.w == s.w;
        if (!same_hw || (!cat && o->out.c != first->out.c)) {
            const char *hint = cat ? "concat joins along depth; the inputs must have the same width and height (pad the larger kernel: pad 1 for 3x3)"
                                   : "add needs inputs of the same size and depth";
            diag_error(l->in_loc[j], hint, "%s: cannot %s %s (%s) and %s (%s): %s", l->name, l->kind->name, first->name,
                       shape_str(first->out), o->name, shape_str(o->out),
                       same_hw ? "their depths differ" : "their widths and heights do not match");
            return -1;
        }
        if (cat) s.c += o->out.c;
        if (o->rf > l->rf) l->rf = o->rf;
    }
    l->out = s;
    l->flops = cat ? 0 : (double)shape_volume(s) * (l->n_in - 1);
    return 0;
}

/* "float *din0, float *din2, " for the inputs that need a gradient */
void join_backward_params(const Emitter *e, const Layer *l, Fn *f) {
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &e->net->layers[l->in[j]];
        if (s->needs_grad) fn_param(f, pool_printf("float *din%d", j), arg_grad(s));
    }
    fn_param(f, "const float *dout", arg_grad(l));
    fn_n_cap(f);
}

void join_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    fn_init(&f->forward, l, "forward");
    fn_param(&f->forward, "float *out", arg_act(l));
    for (int j = 0; j < l->n_in; j++) fn_param(&f->forward, pool_printf("const float *in%d", j), arg_act(&e->net->layers[l->in[j]]));
    fn_n_cap(&f->forward);
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    join_backward_params(e, l, &f->backward);
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void concat_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    if (l->concat_in_place) {
        f->forward_note = pool_printf("/* %s: concat, its inputs were written into their slices of it */", l->name);
        f->backward_note = pool_printf("/* %s: concat, its gradient's slices are its inputs' gradients */", l->name);
        return;
    }
    join_fns(e, l, f);
}

/* input j is channels [off_j, off_j + c_j) of the output */
static void concat_define(Emitter *e, const Layer *l, const LayerFns *f) {
    const Net *net = e->net;
    if (l->concat_in_place) return; /* the plan put each input straight into its slice: nothing to do */
    emit(e, "/* $NAME: $DESC\n"
            " *   ");
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        fprintf(e->f, "%s%s [%ld][cap][%ld][%ld]", j ? " + " : "", s->name, s->out.c, s->out.h, s->out.w);
    }
    emit(e, " -> [$OC][cap][$OH][$OW] */\n");
    fn_define(e, &f->forward);
    long off = 0;
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        ev_int(e, "J", j), ev_int(e, "OFF", off), ev_int(e, "CJ", s->out.c);
        emit(e, "    for (int c = 0; c < $CJ; c++)\n"
                "        memcpy(out + ((long)($OFF + c) * cap) * $OHW, in$J + (long)c * cap * $OHW, sizeof(float) * n * $OHW);\n");
        off += s->out.c;
    }
    emit(e, "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward: each input's slice of the output's gradient */\n");
    fn_define(e, &f->backward);
    off = 0;
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        ev_int(e, "J", j), ev_int(e, "OFF", off), ev_int(e, "CJ", s->out.c);
        off += s->out.c;
        if (!s->needs_grad) continue;
        if (l->grad_accumulate[j])
            emit(e, "    for (int c = 0; c < $CJ; c++)\n"
                    "        for (long i = 0; i < (long)n * $OHW; i++)\n"
                    "            din$J[(long)c * cap * $OHW + i] += dout[((long)($OFF + c) * cap) * $OHW + i];\n");
        else
            emit(e, "    for (int c = 0; c < $CJ; c++)\n"
                    "        memcpy(din$J + (long)c * cap * $OHW, dout + ((long)($OFF + c) * cap) * $OHW, sizeof(float) * n * $OHW);\n");
    }
    emit(e, "}\n\n");
}

static const TrainEmit concat_train = {concat_fns, concat_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* Inputs the plan could not put into their slices (deploy.c) are copied there. */
static void concat_deploy_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    int64_t off = 0;
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        if (!deploy_in_slice(d, s, l))
            fprintf(deploy_file(d), "    memcpy(%s + %lld, %s, sizeof(float) * %lld);\n", deploy_out(d, l), (long long)off,
                    deploy_out(d, s), (long long)s->act);
        off += s->act;
    }
}

/* int8: the inputs the plan could not put into their slices are brought to the concat's scale
 * as they are copied (its zero point and relu-free clamp in its NnQOut). */
static int concat_int8_prepare(Deploy *d, const Layer *l) {
    (void)l;
    deploy_need(d, "qconvert");
    return 0;
}

static void concat_int8_define(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "static const NnQOut %s = {.zp = %d};\n", deploy_name(d, l), deploy_layer(d, l)->qzp);
}

static void concat_int8_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    DeployQ out = deploy_q(d, l);
    int64_t off = 0;
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        DeployQ q = deploy_q(d, s);
        int32_t m, sh;
        deploy_multiplier((double)q.scale / out.scale, &m, &sh);
        if (deploy_in_slice(d, s, l)) {
        } else if (q.scale == out.scale && q.zp == out.zp)
            fprintf(deploy_file(d), "    memcpy(%s + %lld, %s, %lld);\n", deploy_out(d, l), (long long)off, deploy_out(d, s), (long long)s->act);
        else
            fprintf(deploy_file(d), "    nn_requantize(%lld, %s + %lld, %s, %d, %ld, %ld, &%s);\n", (long long)s->act, deploy_out(d, l),
                    (long long)off, deploy_out(d, s), q.zp, (long)m, (long)sh, deploy_name(d, l));
        off += s->act;
    }
}

static const DeployInt8 concat_int8 = {
    .prepare = concat_int8_prepare,
    .define = concat_int8_define,
    .forward = concat_int8_forward,
};

static const DeployEmit concat_deploy = {
    .slices = true,
    .forward = concat_deploy_forward,
    .int8 = &concat_int8,
};

const Kind kind_concat = {
    .name = "concat",
    .usage = "concat A B ...",
    .options = concat_options,
    .joins = true,
    .shape = join_shape,
    .slices = true,
    .train = &concat_train,
    .deploy = &concat_deploy,
};
