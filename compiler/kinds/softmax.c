/* softmax.c: "softmax", the loss: softmax and cross-entropy over the
 * classes, with optional label smoothing. Exactly one, last; the layer it
 * reads gives the logits and must be 1x1xN. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static const KindOption softmax_options[] = {{"from", kopt_from, false}, {NULL}};

static int softmax_shape(Net *net, Layer *l) {
    const Layer *src = &net->layers[l->in[0]];
    Shape in = src->out;
    l->out = in;
    l->flops = 3.0 * (double)in.c;
    if (in.h != 1 || in.w != 1) {
        const char *hint;
        const Layer *k = src; /* the conv before any relu, dropout or batch norm */
        while (k->kind == &kind_relu || k->kind == &kind_dropout || k->kind == &kind_batchnorm) k = &net->layers[k->in[0]];
        Shape sin = net->layers[k->in[0]].out;
        if (k->kind == &kind_conv)
            hint = pool_printf("give %s a %ldx%ld kernel%s (its input is %ldx%ld), or put \"avgpool global\" before the loss",
                               k->name, sin.w, sin.h, CONV(k)->pw || CONV(k)->ph ? " and no pad" : "", sin.w, sin.h);
        else
            hint = "reduce the data to 1x1 before the loss: avgpool global, or a linear layer";
        diag_error(src->loc, hint, "%s: the classifier must end at 1x1xN, but %s outputs %s", l->name, src->name, shape_str(in));
        return -1;
    }
    net->classes = (int)in.c;
    return 0;
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void softmax_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    fn_init(&f->forward, l, "forward");
    f->forward.type = "float";
    f->forward.result = "m->loss";
    fn_param(&f->forward, "float *probs", arg_act(l));
    fn_param(&f->forward, "const float *logits", arg_act(s));
    fn_param(&f->forward, "const int *labels", "m->labels");
    fn_n_cap(&f->forward);
    fn_param(&f->forward, "float smoothing", "m->label_smoothing");
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    fn_param(&f->backward, "float *dlogits", arg_grad(s));
    fn_param(&f->backward, "const float *probs", arg_act(l));
    fn_param(&f->backward, "const int *labels", "m->labels");
    fn_n_cap(&f->backward);
    fn_param(&f->backward, "int total", "m->batch_images ? m->batch_images : n");
    fn_param(&f->backward, "float smoothing", "m->label_smoothing");
}

static void softmax_define(Emitter *e, const Layer *l, const LayerFns *f) {
    ev_int(e, "K", l->out.c);
    emit(e, "/* $NAME: softmax and cross-entropy over $K classes, with optional label smoothing\n"
            " *   logits [$K][cap] -> probs [n][$K] (row-major, for the runtime); returns the mean loss (0 without labels) */\n");
    fn_define(e, &f->forward);
    emit(e, "    double total = 0.0;\n"
            "    for (int b = 0; b < n; b++) {\n"
            "        float *p = probs + (long)b * $K;\n"
            "        float top = logits[b];\n"
            "        for (int k = 1; k < $K; k++) top = fmaxf(top, logits[(long)k * cap + b]);\n"
            "        double sum = 0.0;\n"
            "        for (int k = 0; k < $K; k++) sum += p[k] = expf(logits[(long)k * cap + b] - top);\n"
            "        for (int k = 0; k < $K; k++) p[k] = (float)(p[k] / sum);\n"
            "        if (!labels) continue;\n"
            "        /* -sum_k t_k log p_k, with t = (1 - smoothing) one-hot + smoothing / $K */\n"
            "        double logz = top + log(sum);\n"
            "        for (int k = 0; k < $K; k++) {\n"
            "            double t = smoothing / $K + (k == labels[b] ? 1.0 - smoothing : 0.0);\n"
            "            total += t * (logz - logits[(long)k * cap + b]);\n"
            "        }\n"
            "    }\n"
            "    return (float)(total / n);\n"
            "}\n\n");
    if (!l->run_backward) return;
    ev_acc(e, l, 0);
    emit(e, "/* $NAME backward: dlogits $ACC (probs - targets) / total, the gradient of the mean loss over total\n"
            " * images: these n, or in data-parallel training the step's whole batch, of which they are a share */\n");
    fn_define(e, &f->backward);
    emit(e, "    for (int b = 0; b < n; b++)\n"
            "        for (int k = 0; k < $K; k++) {\n"
            "            float t = smoothing / $K + (k == labels[b] ? 1.0f - smoothing : 0.0f);\n"
            "            dlogits[(long)k * cap + b] $ACC (probs[(long)b * $K + k] - t) / (float)total;\n"
            "        }\n"
            "}\n\n");
}

static const TrainEmit softmax_train = {softmax_fns, softmax_define};

/* ---- netc --deploy: forward returns its input, the logits; predict applies it ------------------ */

static const DeployEmit softmax_deploy = {.output = true};

const Kind kind_softmax = {
    .name = "softmax",
    .usage = "softmax",
    .options = softmax_options,
    .loss = true,
    .shape = softmax_shape,
    .train = &softmax_train,
    .deploy = &softmax_deploy,
};
