/* batchnorm.c: "batchnorm" (or "bn") with eps, as PyTorch's BatchNorm2d:
 * per channel, normalised by the batch's statistics in training (and the
 * running ones updated, momentum from the trainer's bn_momentum, unbiased
 * variance) and by the running ones in evaluation; then scaled by gamma
 * ("weight") and shifted by beta ("bias"). A relu after it may be fused in;
 * in evaluation the plan may fold it into the conv before it (conv.c).
 * In data-parallel training (runtime/dist.h) the trainer may pass a sync
 * function that sums the statistics' sums over every process's share of the
 * batch (sync_bn), as PyTorch's SyncBatchNorm does. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static const char *const bn_aliases[] = {"bn", NULL};

static void bn_init(Layer *l) { BATCHNORM(l)->eps = 1e-5f; }

static int opt_eps(Cursor *c, Layer *l) { return want_float(c, "eps", 1e-12, 1, &BATCHNORM(l)->eps); }

static const KindOption bn_options[] = {{"eps", opt_eps, false},         {"load", kopt_load, true},
                                        {"frozen", kopt_frozen, true},   {"lr_mult", kopt_lr_mult, true},
                                        {"from", kopt_from, false},      {NULL}};

/* a subtract and a multiply-add per value */
static int bn_shape(Net *net, Layer *l) {
    l->out = in_shape(net, l);
    l->flops = 2.0 * (double)shape_volume(l->out);
    return 0;
}

static int bn_tensors(const Net *net, const Layer *l, Tensor *t) {
    long c[1] = {in_shape(net, l).c};
    tensor_set(&t[0], "weight", ROLE_BN_WEIGHT, 1, c, (Init){INIT_CONSTANT, 1}, 1, 1);
    tensor_set(&t[1], "bias", ROLE_BN_BIAS, 1, c, (Init){INIT_CONSTANT, 0}, 1, 1);
    tensor_set(&t[2], "running_mean", ROLE_RUNNING_MEAN, 1, c, (Init){INIT_CONSTANT, 0}, 1, 1);
    tensor_set(&t[3], "running_var", ROLE_RUNNING_VAR, 1, c, (Init){INIT_CONSTANT, 1}, 1, 1);
    return 4;
}

static void bn_json(const Layer *l, FILE *f) { fprintf(f, ", \"eps\": %.9g", BATCHNORM(l)->eps); }

static bool bn_fuses_relu(const Net *net, const Layer *l, float slope) {
    (void)net, (void)l, (void)slope;
    return true;
}

static void bn_buffers(const Net *net, const Layer *l, int64_t *index_ints, int64_t *mask_bytes, int64_t *saved_floats) {
    (void)net, (void)index_ints, (void)mask_bytes;
    *saved_floats = 2 * l->out.c; /* the batch's mean and 1 / std, for backward */
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void bn_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    const char *saved = pool_printf("SAVED(S_%s)", l->id);
    fn_init(&f->forward, l, "forward");
    fn_param(&f->forward, "float *out", arg_act(l));
    fn_param(&f->forward, "const float *in", arg_act(s));
    fn_param(&f->forward, "const float *gamma", arg_param(l, "weight"));
    fn_param(&f->forward, "const float *beta", arg_param(l, "bias"));
    fn_param(&f->forward, "float *running_mean", arg_param(l, "running_mean"));
    fn_param(&f->forward, "float *running_var", arg_param(l, "running_var"));
    fn_param(&f->forward, "float *saved", saved);
    fn_n_cap(&f->forward);
    fn_param(&f->forward, "int train", "train");
    fn_param(&f->forward, "float momentum", "m->bn_momentum");
    fn_param(&f->forward, "NetcAllreduce sync", "m->sync_bn");
    if (!l->run_backward) return;
    bool dw = !l->frozen, din = s->needs_grad;
    Fn *b = &f->backward;
    fn_init(b, l, "backward");
    if (din) fn_param(b, "float *din", arg_grad(s));
    if (dw) fn_param(b, "float *dgamma", arg_pgrad(l, "weight")), fn_param(b, "float *dbeta", arg_pgrad(l, "bias"));
    fn_param(b, "const float *dout", arg_grad(l));
    fn_param(b, "const float *in", arg_act(s));
    if (l->relu_fused) fn_param(b, "const float *out", arg_act(l));
    if (din) fn_param(b, "const float *gamma", arg_param(l, "weight"));
    fn_param(b, "const float *saved", saved);
    fn_n_cap(b);
    if (din) fn_param(b, "NetcAllreduce sync", "m->sync_bn");
}

/* y = the normalised x of channel c (with the fused relu), from its mean and 1/std; lines start with ind, after x's */
static void emit_bn_normalise(Emitter *e, const char *ind, const char *mean, const char *invstd) {
    ev_str(e, "BI", ind), ev_str(e, "BMEAN", mean), ev_str(e, "BINV", invstd);
    emit(e, "$BIfloat *y = out + (long)c * cap * $HW;\n"
            "$BIfloat mean = $BMEAN, invstd = $BINV;\n"
            "$BIfloat scale = gamma[c] * invstd, shift = beta[c];\n"
            "$BIfor (long i = 0; i < count; i++) y[i] = $BNOUT;\n");
}

/* dx of channel c (at: its first value) from its sums mdy and mdyx and N (total); lines start with ind */
static void emit_bn_dx(Emitter *e, const Layer *l, const char *ind) {
    ev_str(e, "BI", ind);
    emit(e, "$BIconst float *x = in + at, *dy = dout + at;\n");
    if (l->relu_fused) emit(e, "$BIconst float *yo = out + at;\n");
    emit(e, "$BIfloat mean = saved[c], invstd = saved[$C + c], *dx = din + at;\n"
            "$BIfloat k = gamma[c] * invstd / (float)total;\n"
            "$BIfor (long i = 0; i < count; i++) dx[i] $ACC k * ((float)total * $DY - mdy - (x[i] - mean) * invstd * mdyx);\n");
}

static void bn_define(Emitter *e, const Layer *l, const LayerFns *f) {
    ev_str(e, "EPS", float_lit(BATCHNORM(l)->eps));
    ev_str(e, "BNOUT", l->relu_fused ? fused_relu(l, "(x[i] - mean) * scale + shift") : "(x[i] - mean) * scale + shift");
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out, per channel: gamma [$C], beta [$C], running mean and var [$C]\n"
            " *   training: normalise with the batch's statistics (kept in saved[2][$C] for backward) and\n"
            " *   update the running ones; sync (sync_bn, or NULL) sums them over every process's share of\n"
            " *   the batch; evaluation: normalise with the running statistics. In one process each\n"
            " *   channel's statistics and normalisation go in one pass of its thread, its values in cache */\n");
    fn_define(e, &f->forward);
    emit(e, "    const long count = (long)n * $HW; /* channel c's values: count floats from c * cap * $HW */\n"
            "    if (train && !sync) {\n"
            "#pragma omp parallel for schedule(static)\n"
            "        for (int c = 0; c < $C; c++) {\n"
            "            const float *x = in + (long)c * cap * $HW;\n"
            "            double sum = netc_sum(x, count), dev = netc_sum_sq_dev(x, count, (float)(sum / (double)count));\n"
            "            netc_bn_stats(saved, running_mean, running_var, c, $C, sum, dev, count, momentum, $EPS);\n");
    emit_bn_normalise(e, "            ", "saved[c]", "saved[$C + c]");
    emit(e, "        }\n"
            "        return;\n"
            "    }\n"
            "    if (train) { /* the mean of each channel, then the variance around it, over every process's values */\n"
            "        double sum[$C + 1], dev[$C];\n"
            "#pragma omp parallel for schedule(static)\n"
            "        for (int c = 0; c < $C; c++) sum[c] = netc_sum(in + (long)c * cap * $HW, count);\n"
            "        sum[$C] = (double)count;\n"
            "        sync(sum, $C + 1);\n"
            "        const long total = (long)sum[$C];\n"
            "#pragma omp parallel for schedule(static)\n"
            "        for (int c = 0; c < $C; c++)\n"
            "            dev[c] = netc_sum_sq_dev(in + (long)c * cap * $HW, count, (float)(sum[c] / (double)total));\n"
            "        sync(dev, $C);\n"
            "        for (int c = 0; c < $C; c++) netc_bn_stats(saved, running_mean, running_var, c, $C, sum[c], dev[c], total, momentum, $EPS);\n"
            "    }\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++) {\n"
            "        const float *x = in + (long)c * cap * $HW;\n");
    emit_bn_normalise(e, "        ", "train ? saved[c] : running_mean[c]", "train ? saved[$C + c] : 1.0f / sqrtf(running_var[c] + $EPS)");
    emit(e, "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad;
    ev_acc(e, l, 0);
    ev_str(e, "LEAKY", l->relu_fused && l->relu_slope ? "_leaky" : "");
    if (l->relu_fused) {
        ev_str(e, "DYDOC", pool_printf(" (dy: the %s's gradient, where the output is positive)", l->relu_slope ? "leaky relu" : "relu"));
        ev_str(e, "YO", l->relu_slope ? pool_printf("out + at, %s", float_lit(l->relu_slope)) : "out + at");
        ev_str(e, "DY", pool_printf("(%s)", fused_relu_grad(l, "yo[i]", "dy[i]")));
    } else {
        ev_str(e, "DYDOC", "");
        ev_str(e, "YO", "NULL");
        ev_str(e, "DY", "dy[i]");
    }
    emit(e, "/* $NAME backward$DYDOC: dgamma = sum dy * xhat, dbeta = sum dy,\n"
            " *   din $ACC gamma * invstd / N * (N dy - sum dy - xhat * sum dy * xhat)");
    if (din) emit(e, ",\n *   its sums and N over every process's share of the batch when sync is set (sync_bn);\n *   in one process each channel's sums and gradient in one pass of its thread, its values in cache");
    emit(e, " */\n");
    fn_define(e, &f->backward);
    emit(e, "    const long count = (long)n * $HW;\n");
    if (din) { /* one process: each channel's sums and its gradient in one pass of its thread, its values in cache */
        emit(e, "    if (!sync) {\n"
                "#pragma omp parallel for schedule(static)\n"
                "        for (int c = 0; c < $C; c++) {\n"
                "            const long at = (long)c * cap * $HW, total = count;\n"
                "            double sdy, sdyx;\n"
                "            netc_dy_sums$LEAKY(dout + at, $YO, in + at, count, saved[c], &sdy, &sdyx);\n"
                "            float mdy = (float)sdy, mdyx = (float)(sdyx * saved[$C + c]);\n");
        if (dw) emit(e, "            dgamma[c] = mdyx, dbeta[c] = mdy;\n");
        emit_bn_dx(e, l, "            ");
        emit(e, "        }\n"
                "        return;\n"
                "    }\n");
    }
    emit(e, "    double sums[2 * $C + 1]; /* per channel: sum dy, then sum dy * xhat */\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++) {\n"
            "        const long at = (long)c * cap * $HW;\n"
            "        double sdy, sdyx;\n"
            "        netc_dy_sums$LEAKY(dout + at, $YO, in + at, count, saved[c], &sdy, &sdyx);\n"
            "        sums[c] = sdy, sums[$C + c] = sdyx * saved[$C + c];\n"
            "    }\n");
    if (dw) emit(e, "    for (int c = 0; c < $C; c++) dgamma[c] = (float)sums[$C + c], dbeta[c] = (float)sums[c];\n");
    if (din) {
        emit(e, "    sums[2 * $C] = (double)count;\n"
                "    sync(sums, 2 * $C + 1); /* over every process's share of the batch */\n"
                "    const long total = (long)sums[2 * $C];\n"
                "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++) {\n"
                "        const long at = (long)c * cap * $HW;\n"
                "        float mdy = (float)sums[c], mdyx = (float)sums[$C + c];\n");
        emit_bn_dx(e, l, "        ");
        emit(e, "    }\n");
    }
    emit(e, "}\n\n");
}

static const TrainEmit bn_train = {bn_fns, bn_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* Folded into the conv or linear layer before it where that is its only
 * reader (deploy.c); otherwise a per-channel scale and shift. */
static int bn_deploy_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    long c = l->out.c;
    dl->w = pool_alloc(sizeof(float) * (size_t)c), dl->b = pool_alloc(sizeof(float) * (size_t)c), dl->nw = c;
    for (long k = 0; k < c; k++) dl->w[k] = 1;
    deploy_fold_bn(dl->w, dl->b, c, 1, deploy_tensor(d, l, "weight"), deploy_tensor(d, l, "bias"), deploy_tensor(d, l, "running_mean"),
                   deploy_tensor(d, l, "running_var"), BATCHNORM(l)->eps);
    dl->how = "a scale and shift per channel";
    deploy_need(d, "scale");
    return 0;
}

static void bn_deploy_define(Deploy *d, const Layer *l) {
    const DeployLayer *dl = deploy_layer(d, l);
    const char *name = deploy_name(d, l);
    deploy_array(d, pool_printf("%s_scale", name), dl->w, dl->nw, "gamma / sqrt(running_var + eps)");
    deploy_array(d, pool_printf("%s_shift", name), dl->b, dl->nw, "beta - running_mean * scale");
}

static void bn_deploy_forward(Deploy *d, const Layer *l) {
    const char *name = deploy_name(d, l);
    fprintf(deploy_file(d), "    nn_scale(%ld, %ld, %s, %s, %s_scale, %s_shift, %s);\n", l->out.c, l->out.h * l->out.w,
            deploy_out(d, l), deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]), name, name, deploy_act_args(deploy_layer(d, l)));
}

static const DeployEmit bn_deploy = {
    .act = true,
    .folds = true,
    .in_place = true,
    .prepare = bn_deploy_prepare,
    .define = bn_deploy_define,
    .forward = bn_deploy_forward,
};

const Kind kind_batchnorm = {
    .name = "batchnorm",
    .aliases = bn_aliases,
    .usage = "batchnorm (or bn)",
    .spec_size = sizeof(BatchNormSpec),
    .init = bn_init,
    .options = bn_options,
    .shape = bn_shape,
    .tensors = bn_tensors,
    .json = bn_json,
    .fuses_relu = bn_fuses_relu,
    .buffers = bn_buffers,
    .train = &bn_train,
    .deploy = &bn_deploy,
};
