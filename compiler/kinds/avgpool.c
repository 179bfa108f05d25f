/* avgpool.c: "avgpool KxK" with stride (default: the window), pad and ceil,
 * as PyTorch's AvgPool2d (the divisor counts padding, count_include_pad, but
 * not what lies beyond it in ceil mode); "avgpool global", the mean of each
 * channel. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

/* ---- the trainer ------------------------------------------------------------------------ */

static void emit_global_avgpool(Emitter *e, const Layer *l, const LayerFns *f) {
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$C][cap]: the mean of each plane */\n");
    fn_define(e, &f->forward);
    emit(e, plane_loop);
    emit(e, "        out[plane] = (float)(netc_sum(in + plane * $HW, $HW) / $HW);\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    ev_acc(e, l, 0);
    emit(e, "/* $NAME backward: every input value gets 1/$HW of its plane's gradient */\n");
    fn_define(e, &f->backward);
    emit(e, plane_loop);
    emit(e, "        float g = dout[plane] * (1.0f / $HW);\n"
            "        for (int i = 0; i < $HW; i++) din[plane * $HW + i] $ACC g;\n"
            "    }\n"
            "}\n\n");
}

/* The window of output (oy, ox), PyTorch's rule: the divisor counts padding
 * (count_include_pad) but not what lies beyond it in ceil mode. */
static const char avg_window[] =
    "                int y0 = $Y0, y1 = netc_min(y0 + $KH, $H + $PH);\n"
    "                int x0 = $X0, x1 = netc_min(x0 + $KW, $W + $PW);\n"
    "                float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));\n"
    "                y0 = netc_max(y0, 0), x0 = netc_max(x0, 0), y1 = netc_min(y1, $H), x1 = netc_min(x1, $W);\n";

static void avgpool_define(Emitter *e, const Layer *l, const LayerFns *f) {
    pool_vars(e, l);
    if (POOL(l)->global) {
        emit_global_avgpool(e, l, f);
        return;
    }
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW] */\n");
    fn_define(e, &f->forward);
    emit(e, plane_loop);
    emit(e, "        const float *x = in + plane * $HW;\n"
            "        float *y = out + plane * $OHW;\n"
            "        for (int oy = 0; oy < $OH; oy++)\n"
            "            for (int ox = 0; ox < $OW; ox++) {\n");
    emit(e, avg_window);
    emit(e, "                float s = 0.0f;\n"
            "                for (int iy = y0; iy < y1; iy++)\n"
            "                    for (int ix = x0; ix < x1; ix++) s += x[iy * $W + ix];\n"
            "                y[oy * $OW + ox] = s * inv;\n"
            "            }\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward: each output's gradient spread evenly over its window */\n");
    fn_define(e, &f->backward);
    emit(e, plane_loop);
    emit(e, "        float *dx = din + plane * $HW;\n"
            "        const float *dy = dout + plane * $OHW;\n");
    if (!l->grad_accumulate[0]) emit(e, "        memset(dx, 0, sizeof(float) * $HW);\n");
    emit(e, "        for (int oy = 0; oy < $OH; oy++)\n"
            "            for (int ox = 0; ox < $OW; ox++) {\n");
    emit(e, avg_window);
    emit(e, "                float g = dy[oy * $OW + ox] * inv;\n"
            "                for (int iy = y0; iy < y1; iy++)\n"
            "                    for (int ix = x0; ix < x1; ix++) dx[iy * $W + ix] += g;\n"
            "            }\n"
            "    }\n"
            "}\n\n");
}

static const TrainEmit avgpool_train = {fns_unary, avgpool_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* maxpool.c */
void pool_deploy_define(Deploy *d, const Layer *l);
void pool_int8_define(Deploy *d, const Layer *l);
bool pool_same_scale(const Layer *l);

static int avgpool_deploy_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = POOL(l)->global ? "the mean of each channel" : "the mean of each window";
    deploy_need(d, POOL(l)->global ? "gap" : "avgpool");
    return 0;
}

static void avgpool_deploy_define(Deploy *d, const Layer *l) {
    if (!POOL(l)->global) pool_deploy_define(d, l);
}

static void avgpool_deploy_forward(Deploy *d, const Layer *l) {
    const Layer *s = &deploy_net_of(d)->layers[l->in[0]];
    if (POOL(l)->global)
        fprintf(deploy_file(d), "    nn_global_avgpool(%ld, %ld, %s, %s, %s);\n", s->out.c, s->out.h * s->out.w, deploy_out(d, l),
                deploy_out(d, s), deploy_act_args(deploy_layer(d, l)));
    else fprintf(deploy_file(d), "    nn_avgpool(&%s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l), deploy_out(d, s));
}

/* int8: a window's rounded mean of bytes at the input's scale; a global
 * pool's sums requantised to a scale of its own (a mean's range is narrower
 * than its input's). */
static int avgpool_int8_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = POOL(l)->global ? "the mean of each channel" : "the mean of each window";
    deploy_need(d, POOL(l)->global ? "qgap" : "qpool");
    return 0;
}

static void avgpool_int8_define(Deploy *d, const Layer *l) {
    if (!POOL(l)->global) {
        pool_int8_define(d, l);
        return;
    }
    const Layer *s = &deploy_net_of(d)->layers[l->in[0]];
    DeployQ in = deploy_q(d, s);
    long hw = s->out.h * s->out.w;
    int32_t mult, shift;
    deploy_multiplier((double)in.scale / ((double)hw * deploy_layer(d, l)->qscale), &mult, &shift);
    fprintf(deploy_file(d), "static const NnQGap %s = {.c = %ld, .hw = %ld, .in_zp = %d, .mult = %ld, .shift = %ld, .q = {%s}};\n",
            deploy_name(d, l), s->out.c, hw, in.zp, (long)mult, (long)shift, deploy_qout(d, l));
}

static void avgpool_int8_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_q%s(&%s, %s, %s);\n", POOL(l)->global ? "gap" : "avgpool", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]));
}

static const DeployInt8 avgpool_int8 = {
    .same_scale = pool_same_scale,
    .prepare = avgpool_int8_prepare,
    .define = avgpool_int8_define,
    .forward = avgpool_int8_forward,
};

static const DeployEmit avgpool_deploy = {
    .act = true,
    .prepare = avgpool_deploy_prepare,
    .define = avgpool_deploy_define,
    .forward = avgpool_deploy_forward,
    .int8 = &avgpool_int8,
};

const Kind kind_avgpool = {
    .name = "avgpool",
    .usage = "avgpool KxK, avgpool global",
    .spec_size = sizeof(PoolSpec),
    .args = pool_args,
    .options = pool_options,
    .shape = pool_shape,
    .rf = pool_rf,
    .json = pool_json,
    .train = &avgpool_train,
    .deploy = &avgpool_deploy,
};
