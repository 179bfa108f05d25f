/* flatten.c: "flatten", [C][H][W] -> [C*H*W][1][1] in PyTorch's order. Of a
 * 1x1 input it is a view (the plan gives it its input's buffer); otherwise
 * it moves values, since activations are [c][cap][h][w]. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static const KindOption flatten_options[] = {{"from", kopt_from, false}, {NULL}};

static int flatten_shape(Net *net, Layer *l) {
    l->out = (Shape){shape_volume(in_shape(net, l)), 1, 1};
    return 0;
}

static bool flatten_view(const Net *net, const Layer *l) {
    Shape in = in_shape(net, l);
    return in.h * in.w == 1;
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void flatten_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    if (l->in_place) {
        f->forward_note = pool_printf("/* %s: flatten of a 1x1 input, a view of %s */", l->name, s->name);
        f->backward_note = pool_printf("/* %s: flatten, its gradient is %s's */", l->name, s->name);
        return;
    }
    fns_unary(e, l, f);
}

static void flatten_define(Emitter *e, const Layer *l, const LayerFns *f) {
    if (l->in_place) return;
    ev_acc(e, l, 0);
    emit(e, "/* $NAME: flatten, [$C][cap][$H][$W] -> [$OC][cap] */\n");
    fn_define(e, &f->forward);
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++)\n"
            "        for (int b = 0; b < n; b++)\n"
            "            for (int i = 0; i < $HW; i++) out[((long)c * $HW + i) * cap + b] = in[((long)c * cap + b) * $HW + i];\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward: the values back where they came from */\n");
    fn_define(e, &f->backward);
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++)\n"
            "        for (int b = 0; b < n; b++)\n"
            "            for (int i = 0; i < $HW; i++) din[((long)c * cap + b) * $HW + i] $ACC dout[((long)c * $HW + i) * cap + b];\n"
            "}\n\n");
}

static const TrainEmit flatten_train = {flatten_fns, flatten_define};

/* ---- netc --deploy: a view ([c][h][w] is already flat, in PyTorch's order) -------------------- */

static const DeployEmit flatten_deploy = {.identity = true};

const Kind kind_flatten = {
    .name = "flatten",
    .usage = "flatten",
    .options = flatten_options,
    .shape = flatten_shape,
    .rf = rf_whole,
    .view = flatten_view,
    .train = &flatten_train,
    .deploy = &flatten_deploy,
};
