/* relu.c: "relu", max(x, 0); "relu slope S", the leaky relu (x below 0
 * becomes S * x; Darknet's leaky is 0.1). When it is the one reader of a
 * conv, linear or batch norm layer, the plan fuses it into that layer, which
 * applies it as it writes its output (and its backward as it first reads
 * its output's gradient); otherwise it runs in place where it can. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static void relu_init(Layer *l) { RELU(l)->slope = 0; }

static int opt_slope(Cursor *c, Layer *l) { return want_float(c, "slope", 0, 1, &RELU(l)->slope); }

static const KindOption relu_options[] = {{"slope", opt_slope, false}, {"from", kopt_from, false}, {NULL}};

/* one max per value; a leaky relu also multiplies */
static int relu_shape(Net *net, Layer *l) {
    l->out = in_shape(net, l);
    l->flops = (double)shape_volume(l->out) * (RELU(l)->slope ? 2 : 1);
    return 0;
}

static void relu_json(const Layer *l, FILE *f) { fprintf(f, ", \"slope\": %.9g", RELU(l)->slope); }

/* ---- the trainer ------------------------------------------------------------------------ */

static const char *relu_words(const Layer *l) { return RELU(l)->slope ? "leaky relu" : "relu"; }

static void relu_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    if (l->fused_away) {
        f->forward_note = pool_printf("/* %s: %s, fused into %s */", l->name, relu_words(l), s->name);
        f->backward_note = pool_printf("/* %s: %s, fused into %s's backward */", l->name, relu_words(l), s->name);
        return;
    }
    fn_init(&f->forward, l, "forward");
    if (l->in_place) fn_param(&f->forward, "float *x", arg_act(l));
    else fn_param(&f->forward, "float *restrict out", arg_act(l)), fn_param(&f->forward, "const float *restrict in", arg_act(s));
    fn_n_cap(&f->forward);
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    if (l->in_place) fn_param(&f->backward, "float *restrict d", arg_grad(l));
    else fn_param(&f->backward, "float *restrict din", arg_grad(s)), fn_param(&f->backward, "const float *restrict dout", arg_grad(l));
    fn_param(&f->backward, "const float *restrict y", arg_act(l));
    fn_n_cap(&f->backward);
}

static void relu_define(Emitter *e, const Layer *l, const LayerFns *f) {
    if (l->fused_away) return; /* its producer applies it */
    float slope = RELU(l)->slope;
    ev_acc(e, l, 0);
    ev_str(e, "RELU", slope ? pool_printf("leaky relu, slope %g", slope) : "relu");
    emit(e, l->in_place ? "/* $NAME: $RELU, in place on [$OC][cap][$OH][$OW] */\n" : "/* $NAME: $RELU, [$OC][cap][$OH][$OW] */\n");
    fn_define(e, &f->forward);
    emit(e, value_loop);
    ev_str(e, "FX", l->in_place ? pool_printf("x[k] = %s", relu_select(slope, "x[k]", "x[k]"))
                                : pool_printf("out[k] = %s", relu_select(slope, "in[k]", "in[k]")));
    emit(e, "            $FX;\n"
            "        }\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, l->in_place ? "/* $NAME backward, in place: the gradient passes where the output is positive" : "/* $NAME backward: the gradient passes where the output is positive");
    emit(e, slope ? ", else times the slope */\n" : " */\n");
    fn_define(e, &f->backward);
    emit(e, value_loop);
    ev_str(e, "DX", l->in_place ? pool_printf("d[k] = %s", relu_select(slope, "y[k]", "d[k]"))
                                : pool_printf("din[k] $ACC %s", relu_select(slope, "y[k]", "dout[k]")));
    emit(e, "            $DX;\n"
            "        }\n"
            "}\n\n");
}

static const TrainEmit relu_train = {relu_fns, relu_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* Applied by the kernel that writes its input where it can (deploy.c);
 * otherwise a pass of its own, in place if it is its input's last reader. */
static int relu_deploy_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    dl->act = DEPLOY_RELU, dl->slope = RELU(l)->slope;
    if (!dl->how) dl->how = "a pass of its own";
    deploy_need(d, "scale");
    return 0;
}

static void relu_deploy_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_scale(%ld, %ld, %s, %s, NULL, NULL, %s);\n", l->out.c, l->out.h * l->out.w, deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]), deploy_act_args(deploy_layer(d, l)));
}

/* int8: bytes at the input's scale, clamped at its zero point (a leaky relu's negative side
 * scaled by a multiplier). */

static int relu_int8_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    dl->act = DEPLOY_RELU, dl->slope = RELU(l)->slope;
    if (!dl->how) dl->how = "a pass of its own";
    deploy_need(d, "qconvert");
    return 0;
}

static void relu_int8_define(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "static const NnQOut %s = {%s};\n", deploy_name(d, l), deploy_qout(d, l));
}

static void relu_int8_forward(Deploy *d, const Layer *l) {
    const Layer *s = &deploy_net_of(d)->layers[l->in[0]];
    fprintf(deploy_file(d), "    nn_requantize(%lld, %s, %s, %d, 1 << 30, 1, &%s); /* the same scale: x 2^30 2^(1 - 31) */\n",
            (long long)l->act, deploy_out(d, l), deploy_out(d, s), deploy_q(d, s).zp, deploy_name(d, l));
}

static const DeployInt8 relu_int8 = {
    .same_scale = deploy_same_scale_always,
    .prepare = relu_int8_prepare,
    .define = relu_int8_define,
    .forward = relu_int8_forward,
};

static const DeployEmit relu_deploy = {
    .in_place = true,
    .prepare = relu_deploy_prepare,
    .forward = relu_deploy_forward,
    .int8 = &relu_int8,
};

const Kind kind_relu = {
    .name = "relu",
    .usage = "relu [slope S]",
    .spec_size = sizeof(ReluSpec),
    .init = relu_init,
    .options = relu_options,
    .shape = relu_shape,
    .json = relu_json,
    .in_place = true,
    .fusable = true,
    .train = &relu_train,
    .deploy = &relu_deploy,
};
