/* maxpool.c: "maxpool KxK" with stride (default: the window), pad and ceil,
 * as PyTorch's MaxPool2d; "maxpool global", the max of each channel. Each
 * window's argmax is kept for backward. Also what both pooling kinds share:
 * their arguments, options, shape and receptive field. */
#include <string.h>

#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

/* "KxK" (the stride defaults to it, as in PyTorch) or "global" */
int pool_args(Cursor *c, Layer *l) {
    PoolSpec *p = l->spec;
    const Arg *a = arg_peek(c);
    if (a && a->kind == ARG_NAME && strcmp(a->text, "global") == 0) {
        arg_next(c);
        p->global = true;
        return 0;
    }
    l->size_loc = arg_here(c);
    if (want_size2(c, "the window", 1, &p->kw, &p->kh) < 0) return -1;
    p->sw = p->kw, p->sh = p->kh;
    return 0;
}

static int opt_stride(Cursor *c, Layer *l) { return want_size2(c, "stride", 1, &((PoolSpec *)l->spec)->sw, &((PoolSpec *)l->spec)->sh); }
static int opt_pad(Cursor *c, Layer *l) { return want_size2(c, "pad", 0, &((PoolSpec *)l->spec)->pw, &((PoolSpec *)l->spec)->ph); }
static int opt_ceil(Cursor *c, Layer *l) {
    (void)c;
    ((PoolSpec *)l->spec)->ceil = true;
    return 0;
}

const KindOption pool_options[] = {
    {"stride", opt_stride, false}, {"pad", opt_pad, false}, {"ceil", opt_ceil, false}, {"from", kopt_from, false}, {NULL}};

/* one compare (max) or add (average) per value of each window */
int pool_shape(Net *net, Layer *l) {
    PoolSpec *p = l->spec;
    Shape in = in_shape(net, l);
    if (p->global) {
        p->kw = in.w, p->kh = in.h, p->sw = p->sh = 1, p->pw = p->ph = 0;
    } else {
        if (check_pad(l, p->kw, p->kh, p->pw, p->ph) < 0) return -1;
        if (check_window(l, in, p->kw, p->kh, p->pw, p->ph, "window") < 0) return -1;
    }
    l->out = (Shape){in.c, window_out(in.h, p->kh, p->sh, p->ph, p->ceil), window_out(in.w, p->kw, p->sw, p->pw, p->ceil)};
    l->flops = (double)shape_volume(l->out) * (double)(p->kw * p->kh);
    return 0;
}

void pool_rf(Net *net, Layer *l) {
    const PoolSpec *p = l->spec;
    rf_window(net, l, p->kw, p->kh, p->sw);
}

void pool_json(const Layer *l, FILE *f) {
    const PoolSpec *p = l->spec;
    fprintf(f, ", \"kernel\": [%ld, %ld], \"stride\": [%ld, %ld], \"pad\": [%ld, %ld], \"ceil\": %s, \"global\": %s", p->kw, p->kh,
            p->sw, p->sh, p->pw, p->ph, p->ceil ? "true" : "false", p->global ? "true" : "false");
}

static void maxpool_buffers(const Net *net, const Layer *l, int64_t *index_ints, int64_t *mask_bytes, int64_t *saved_floats) {
    (void)net, (void)mask_bytes, (void)saved_floats;
    *index_ints = l->act; /* each window's argmax */
}

/* ---- the trainer ------------------------------------------------------------------------ */

void pool_vars(Emitter *e, const Layer *l) {
    const PoolSpec *p = l->spec;
    ev_int(e, "KH", p->kh), ev_int(e, "KW", p->kw), ev_int(e, "PH", p->ph), ev_int(e, "PW", p->pw), ev_int(e, "SW", p->sw);
    ev_str(e, "Y0", affine("oy", p->sh, -p->ph));
    ev_str(e, "X0", affine("ox", p->sw, -p->pw));
}

static void maxpool_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    const char *argmax = pool_printf("INDEX(I_%s)", l->id);
    fn_init(&f->forward, l, "forward");
    fn_param(&f->forward, "float *out", arg_act(l));
    fn_param(&f->forward, "int32_t *argmax", argmax);
    fn_param(&f->forward, "const float *in", arg_act(s));
    fn_n_cap(&f->forward);
    fn_param(&f->forward, "int train", l->run_backward ? "train" : "0"); /* the argmax only where backward will read it */
    if (l->backward_by >= 0) {
        f->backward_note = pool_printf("/* %s: backward folded into %s's (its dout is this pool's, at the argmax) */", l->name,
                                       e->net->layers[l->backward_by].name);
        return;
    }
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    fn_param(&f->backward, "float *din", arg_grad(s));
    fn_param(&f->backward, "const float *dout", arg_grad(l));
    fn_param(&f->backward, "const int32_t *argmax", argmax);
    fn_n_cap(&f->backward);
}

static void emit_maxpool_backward(Emitter *e, const Layer *l, const LayerFns *f) {
    if (!l->run_backward || l->backward_by >= 0) return; /* folded into the conv's */
    emit(e, "/* $NAME backward: each output's gradient goes to its window's argmax */\n");
    fn_define(e, &f->backward);
    emit(e, plane_loop);
    emit(e, "        float *dx = din + plane * $HW;\n"
            "        const float *dy = dout + plane * $OHW;\n"
            "        const int32_t *am = argmax + plane * $OHW;\n");
    if (!l->grad_accumulate[0]) emit(e, "        memset(dx, 0, sizeof(float) * $HW);\n");
    emit(e, "        for (int o = 0; o < $OHW; o++) dx[am[o]] += dy[o];\n"
            "    }\n"
            "}\n\n");
}

/* The max of each plane: in evaluation a max that vectorises, in training
 * a scan that keeps the argmax too. */
static void emit_global_maxpool(Emitter *e, const Layer *l, const LayerFns *f) {
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$C][cap]: the max of each plane; in training its argmax is kept for backward */\n");
    fn_define(e, &f->forward);
    emit(e, "    if (!train) {\n"
            "#pragma omp parallel for schedule(static)\n"
            "        for (long p = 0; p < (long)$C * n; p++) {\n"
            "            long plane = p / n * cap + p % n;\n"
            "            const float *x = in + plane * $HW;\n"
            "            float best = -INFINITY;\n"
            "            for (int i = 0; i < $HW; i++) best = netc_maxnan(best, x[i]);\n"
            "            out[plane] = best;\n"
            "        }\n"
            "        return;\n"
            "    }\n");
    emit(e, plane_loop);
    emit(e, "        const float *x = in + plane * $HW;\n"
            "        float best = -INFINITY;\n"
            "        int arg = 0;\n"
            "        for (int i = 0; i < $HW; i++)\n"
            "            if (x[i] > best || isnan(x[i])) best = x[i], arg = i; /* first max wins, as in PyTorch */\n"
            "        out[plane] = best;\n"
            "        argmax[plane] = arg;\n"
            "    }\n"
            "}\n\n");
    emit_maxpool_backward(e, l, f);
}

static void maxpool_define(Emitter *e, const Layer *l, const LayerFns *f) {
    const PoolSpec *p = l->spec;
    const Shape in = e->net->layers[l->in[0]].out;
    pool_vars(e, l);
    if (p->global) {
        emit_global_maxpool(e, l, f);
        return;
    }
    /* no window reaches outside the input: constant bounds, loops the compiler unrolls */
    bool inside = p->ph == 0 && p->pw == 0 && (l->out.h - 1) * p->sh + p->kh <= in.h && (l->out.w - 1) * p->sw + p->kw <= in.w;
    ev_str(e, "WINY", inside ? "const int y0 = $Y0, y1 = y0 + $KH;" : "int y0 = $Y0, y1 = netc_min(y0 + $KH, $H);\n"
                                                                     "            y0 = netc_max(y0, 0);");
    ev_str(e, "WINX", inside ? "const int x0 = $X0, x1 = x0 + $KW;" : "int x0 = $X0, x1 = netc_min(x0 + $KW, $W);\n"
                                                                     "                x0 = netc_max(x0, 0);");
    /* Evaluation needs no argmax. Over windows bigger than 2x2 a max-only pass is
     * faster (SimpleNet's 7x7: 2.6 -> 1.8 ms a batch); over 2x2 ones the scan with
     * the argmax is as cheap as anything. */
    bool max_only = p->kh * p->kw > 4;
    if (max_only) {
        emit(e, "/* $NAME in evaluation, where no argmax is needed: a window's max is the max of its\n"
                " *   columns' maxima; both steps are loops over whole rows, which vectorise */\n"
                "static void $ID_max(float *out, const float *in, int n, int cap) {\n");
        emit(e, plane_loop);
        emit(e, "        const float *x = in + plane * $HW;\n"
                "        float *y = out + plane * $OHW;\n"
                "        for (int oy = 0; oy < $OH; oy++) {\n"
                "            $WINY\n"
                "            float col[$W];\n"
                "            for (int ix = 0; ix < $W; ix++) col[ix] = -INFINITY;\n"
                "            for (int iy = y0; iy < y1; iy++)\n"
                "#pragma omp simd\n"
                "                for (int ix = 0; ix < $W; ix++) col[ix] = netc_maxnan(col[ix], x[iy * $W + ix]);\n"
                "            float *best = y + oy * $OW;\n"
                "            for (int ox = 0; ox < $OW; ox++) best[ox] = -INFINITY;\n"
                "            for (int kx = 0; kx < $KW; kx++) { /* outputs whose column kx is inside the input */\n"
                "                int lo = netc_clamp(netc_ceildiv($PW - kx, $SW), 0, $OW);\n"
                "                int hi = netc_clamp(netc_floordiv($W - 1 + $PW - kx, $SW) + 1, lo, $OW);\n"
                "#pragma omp simd\n"
                "                for (int ox = lo; ox < hi; ox++) best[ox] = netc_maxnan(best[ox], col[ox * $SW + kx - $PW]);\n"
                "            }\n"
                "        }\n"
                "    }\n"
                "}\n\n");
    }
    ev_str(e, "ARGDOC", max_only ? "in training each window's argmax is kept for backward" : "each window's argmax is kept for backward");
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW]; $ARGDOC */\n");
    fn_define(e, &f->forward);
    if (max_only)
        emit(e, "    if (!train) {\n"
                "        $ID_max(out, in, n, cap);\n"
                "        return;\n"
                "    }\n");
    else emit(e, "    (void)train; /* evaluation too: the argmax costs nothing here */\n");
    emit(e, plane_loop);
    emit(e, "        const float *x = in + plane * $HW;\n"
            "        float *y = out + plane * $OHW;\n"
            "        int32_t *am = argmax + plane * $OHW;\n"
            "        for (int oy = 0; oy < $OH; oy++) {\n"
            "            $WINY\n"
            "            for (int ox = 0; ox < $OW; ox++) {\n"
            "                $WINX\n"
            "                float best = -INFINITY;\n"
            "                int arg = y0 * $W + x0;\n"
            "                for (int iy = y0; iy < y1; iy++)\n"
            "                    for (int ix = x0; ix < x1; ix++) {\n"
            "                        float v = x[iy * $W + ix];\n"
            "                        if (v > best || isnan(v)) best = v, arg = iy * $W + ix; /* first max wins, as in PyTorch */\n"
            "                    }\n"
            "                y[oy * $OW + ox] = best;\n"
            "                am[oy * $OW + ox] = arg;\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "}\n\n");
    emit_maxpool_backward(e, l, f);
}

static const TrainEmit maxpool_train = {maxpool_fns, maxpool_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* A pooling layer's descriptor (max and average share it; global pooling
 * is a window over the whole input). */
static const char *pool_fields(Deploy *d, const Layer *l) {
    const PoolSpec *p = POOL(l);
    Shape in = in_shape(deploy_net_of(d), l);
    long kh = p->global ? in.h : p->kh, kw = p->global ? in.w : p->kw, sh = p->global ? 1 : p->sh, sw = p->global ? 1 : p->sw;
    return pool_printf(".c = %ld, .h = %ld, .w = %ld, .oh = %ld, .ow = %ld, .kh = %ld, .kw = %ld, .sh = %ld, .sw = %ld,\n    .ph = %ld, .pw = %ld",
                       in.c, in.h, in.w, l->out.h, l->out.w, kh, kw, sh, sw, p->ph, p->pw);
}

void pool_deploy_define(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "static const NnPool %s = {%s%s};\n", deploy_name(d, l), pool_fields(d, l), deploy_act_fields(deploy_layer(d, l)));
}

/* int8: the same windows on bytes, at the input's scale and zero point (the relu, if any, at it too). */
void pool_int8_define(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "static const NnQPool %s = {.pool = {%s}, .q = {%s}};\n", deploy_name(d, l), pool_fields(d, l), deploy_qout(d, l));
}

bool pool_same_scale(const Layer *l) { return !POOL(l)->global || l->kind == &kind_maxpool; }

static int maxpool_deploy_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = "the max of each window";
    deploy_need(d, "maxpool");
    return 0;
}

static void maxpool_deploy_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_maxpool(&%s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]));
}

static int maxpool_int8_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = "the max of each window";
    deploy_need(d, "qpool");
    return 0;
}

static void maxpool_int8_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_qmaxpool(&%s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]));
}

static const DeployInt8 maxpool_int8 = {
    .same_scale = pool_same_scale,
    .monotone = true,
    .prepare = maxpool_int8_prepare,
    .define = pool_int8_define,
    .forward = maxpool_int8_forward,
};

static const DeployEmit maxpool_deploy = {
    .act = true,
    .prepare = maxpool_deploy_prepare,
    .define = pool_deploy_define,
    .forward = maxpool_deploy_forward,
    .int8 = &maxpool_int8,
};

const Kind kind_maxpool = {
    .name = "maxpool",
    .usage = "maxpool KxK, maxpool global",
    .spec_size = sizeof(PoolSpec),
    .args = pool_args,
    .options = pool_options,
    .shape = pool_shape,
    .rf = pool_rf,
    .json = pool_json,
    .buffers = maxpool_buffers,
    .train = &maxpool_train,
    .deploy = &maxpool_deploy,
};
