/* emit_ops.c: the layers that are not matrix products: pooling, batch norm,
 * relu, dropout, flatten, concat, add and the softmax loss.
 *
 * Layout: [c][cap][h][w]. A "plane" is one channel of one image; channel c's
 * n images are n * h * w contiguous floats starting at c * cap * h * w.
 * Loops are split across threads by plane or by channel; every size in
 * them is a constant. */
#include "emit.h"
#include "pool.h"

/* "=" or "+=" into an input's gradient, as the plan decided */
static void ev_acc(Emitter *e, const Layer *l, int j) { ev_str(e, "ACC", l->grad_accumulate[j] ? "+=" : "="); }

/* for every plane (channel c of image b) of an [C][cap][..] tensor, split across threads */
static const char plane_loop[] =
    "#pragma omp parallel for schedule(static)\n"
    "    for (long p = 0; p < (long)$C * n; p++) {\n"
    "        long plane = p / n * cap + p % n; /* channel p / n, image p % n */\n";

/* ---- pooling ----------------------------------------------------------------------- */

static void emit_maxpool(Emitter *e, const Layer *l) {
    const PoolSpec *p = &l->pool;
    const Shape in = e->net->layers[l->in[0]].out;
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
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW]; $ARGDOC */\n"
            "static void $ID_forward(float *out, int32_t *argmax, const float *in, int n, int cap, int train) {\n");
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
    const Layer *below = &e->net->layers[l->in[0]];
    if (!l->run_backward || (below->kind == L_CONV && conv_dout_sparse(e->net, below))) return; /* folded into the conv's */
    emit(e, "/* $NAME backward: each output's gradient goes to its window's argmax */\n"
            "static void $ID_backward(float *din, const float *dout, const int32_t *argmax, int n, int cap) {\n");
    emit(e, plane_loop);
    emit(e, "        float *dx = din + plane * $HW;\n"
            "        const float *dy = dout + plane * $OHW;\n"
            "        const int32_t *am = argmax + plane * $OHW;\n");
    if (!l->grad_accumulate[0]) emit(e, "        memset(dx, 0, sizeof(float) * $HW);\n");
    emit(e, "        for (int o = 0; o < $OHW; o++) dx[am[o]] += dy[o];\n"
            "    }\n"
            "}\n\n");
}

static void emit_global_avgpool(Emitter *e, const Layer *l) {
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$C][cap]: the mean of each plane */\n"
            "static void $ID_forward(float *out, const float *in, int n, int cap) {\n");
    emit(e, plane_loop);
    emit(e, "        out[plane] = (float)(netc_sum(in + plane * $HW, $HW) / $HW);\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    ev_acc(e, l, 0);
    emit(e, "/* $NAME backward: every input value gets 1/$HW of its plane's gradient */\n"
            "static void $ID_backward(float *din, const float *dout, int n, int cap) {\n");
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

static void emit_avgpool(Emitter *e, const Layer *l) {
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW] */\n"
            "static void $ID_forward(float *out, const float *in, int n, int cap) {\n");
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
    emit(e, "/* $NAME backward: each output's gradient spread evenly over its window */\n"
            "static void $ID_backward(float *din, const float *dout, int n, int cap) {\n");
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

void emit_pool(Emitter *e, const Layer *l) {
    const PoolSpec *p = &l->pool;
    ev_int(e, "KH", p->kh), ev_int(e, "KW", p->kw), ev_int(e, "PH", p->ph), ev_int(e, "PW", p->pw), ev_int(e, "SW", p->sw);
    ev_str(e, "Y0", affine("oy", p->sh, -p->ph));
    ev_str(e, "X0", affine("ox", p->sw, -p->pw));
    if (l->kind == L_MAXPOOL) emit_maxpool(e, l);
    else if (p->global) emit_global_avgpool(e, l);
    else emit_avgpool(e, l);
}

/* ---- batch norm --------------------------------------------------------------------- */

void emit_batchnorm(Emitter *e, const Layer *l) {
    ev_str(e, "EPS", float_lit(l->eps));
    ev_str(e, "BNOUT", l->relu_fused ? "netc_relu((x[i] - mean) * scale + shift)" : "(x[i] - mean) * scale + shift");
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out, per channel: gamma [$C], beta [$C], running mean and var [$C]\n"
            " *   training: normalise with the batch's statistics (kept in saved[2][$C] for backward) and\n"
            " *   update the running ones; evaluation: normalise with the running statistics */\n"
            "static void $ID_forward(float *out, const float *in, const float *gamma, const float *beta, float *running_mean,\n"
            "                        float *running_var, float *saved, int n, int cap, int train, float momentum) {\n"
            "    const long count = (long)n * $HW; /* channel c's values: count floats from c * cap * $HW */\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++) {\n"
            "        const float *x = in + (long)c * cap * $HW;\n"
            "        float *y = out + (long)c * cap * $HW;\n"
            "        float mean, invstd;\n"
            "        if (train) {\n"
            "            mean = (float)(netc_sum(x, count) / (double)count);\n"
            "            float var = (float)(netc_sum_sq_dev(x, count, mean) / (double)count);\n"
            "            invstd = 1.0f / sqrtf(var + $EPS);\n"
            "            saved[c] = mean, saved[$C + c] = invstd;\n"
            "            /* the running variance is unbiased, as in PyTorch */\n"
            "            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;\n"
            "            running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var * (float)count / (float)netc_max(count - 1, 1);\n"
            "        } else {\n"
            "            mean = running_mean[c];\n"
            "            invstd = 1.0f / sqrtf(running_var[c] + $EPS);\n"
            "        }\n"
            "        float scale = gamma[c] * invstd, shift = beta[c];\n"
            "        for (long i = 0; i < count; i++) y[i] = $BNOUT;\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad;
    ev_acc(e, l, 0);
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? "float *dgamma, float *dbeta, " : "");
    ev_str(e, "GAMMAARG", din ? "const float *gamma, " : "");
    if (l->relu_fused) {
        ev_str(e, "OUTARG", "const float *out, ");
        ev_str(e, "DYDOC", " (dy: the relu's gradient, where the output is positive)");
        ev_str(e, "YO", "yo");
        ev_str(e, "DY", "(yo[i] > 0.0f ? dy[i] : 0.0f)");
    } else {
        ev_str(e, "OUTARG", "");
        ev_str(e, "DYDOC", "");
        ev_str(e, "YO", "NULL");
        ev_str(e, "DY", "dy[i]");
    }
    emit(e, "/* $NAME backward$DYDOC: dgamma = sum dy * xhat, dbeta = sum dy,\n"
            " *   din $ACC gamma * invstd / N * (N dy - sum dy - xhat * sum dy * xhat) */\n"
            "static void $ID_backward($DINARG$DWARGconst float *dout, const float *in, $OUTARG$GAMMAARGconst float *saved, int n,\n"
            "                         int cap) {\n"
            "    const long count = (long)n * $HW;\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (int c = 0; c < $C; c++) {\n"
            "        const float *x = in + (long)c * cap * $HW, *dy = dout + (long)c * cap * $HW;\n");
    if (l->relu_fused) emit(e, "        const float *yo = out + (long)c * cap * $HW;\n");
    emit(e, "        float mean = saved[c], invstd = saved[$C + c];\n"
            "        double sdy, sdyx;\n"
            "        netc_dy_sums(dy, $YO, x, count, mean, &sdy, &sdyx);\n"
            "        sdyx *= invstd;\n");
    if (dw) emit(e, "        dgamma[c] = (float)sdyx, dbeta[c] = (float)sdy;\n");
    if (din)
        emit(e, "        float *dx = din + (long)c * cap * $HW;\n"
                "        float k = gamma[c] * invstd / (float)count, mdy = (float)sdy, mdyx = (float)sdyx;\n"
                "        for (long i = 0; i < count; i++) dx[i] $ACC k * ((float)count * $DY - mdy - (x[i] - mean) * invstd * mdyx);\n");
    emit(e, "    }\n"
            "}\n\n");
}

/* ---- relu, dropout and flatten ---------------------------------------------------------- */

/* for every valid value (n images of each channel), split across threads by
 * channel; the inner loop runs over contiguous values */
static const char value_loop[] =
    "#pragma omp parallel for schedule(static)\n"
    "    for (long c = 0; c < $OC; c++)\n"
    "        for (long k = c * cap * $OHW; k < (c * cap + n) * $OHW; k++) {\n";

void emit_elementwise(Emitter *e, const Layer *l) {
    ev_acc(e, l, 0);
    if (l->fused_away) return; /* its producer applies it */
    if (l->kind == L_RELU) {
        emit(e, l->in_place ? "/* $NAME: relu, in place on [$OC][cap][$OH][$OW] */\n"
                              "static void $ID_forward(float *x, int n, int cap) {\n"
                            : "/* $NAME: relu, [$OC][cap][$OH][$OW] */\n"
                              "static void $ID_forward(float *restrict out, const float *restrict in, int n, int cap) {\n");
        emit(e, value_loop);
        emit(e, l->in_place ? "            x[k] = x[k] > 0.0f ? x[k] : 0.0f;\n" : "            out[k] = in[k] > 0.0f ? in[k] : 0.0f;\n");
        emit(e, "        }\n"
                "}\n\n");
        if (!l->run_backward) return;
        emit(e, l->in_place ? "/* $NAME backward, in place: the gradient passes where the output is positive */\n"
                              "static void $ID_backward(float *restrict d, const float *restrict y, int n, int cap) {\n"
                            : "/* $NAME backward: the gradient passes where the output is positive */\n"
                              "static void $ID_backward(float *restrict din, const float *restrict dout, const float *restrict y, int n, int cap) {\n");
        emit(e, value_loop);
        emit(e, l->in_place ? "            d[k] = y[k] > 0.0f ? d[k] : 0.0f;\n" : "            din[k] $ACC y[k] > 0.0f ? dout[k] : 0.0f;\n");
        emit(e, "        }\n"
                "}\n\n");
        return;
    }
    if (l->kind == L_FLATTEN) { /* not a view: [C][cap][H][W] -> [C*H*W][cap] moves values */
        emit(e, "/* $NAME: flatten, [$C][cap][$H][$W] -> [$OC][cap] */\n"
                "static void $ID_forward(float *out, const float *in, int n, int cap) {\n"
                "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++)\n"
                "        for (int b = 0; b < n; b++)\n"
                "            for (int i = 0; i < $HW; i++) out[((long)c * $HW + i) * cap + b] = in[((long)c * cap + b) * $HW + i];\n"
                "}\n\n");
        if (!l->run_backward) return;
        emit(e, "/* $NAME backward: the values back where they came from */\n"
                "static void $ID_backward(float *din, const float *dout, int n, int cap) {\n"
                "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++)\n"
                "        for (int b = 0; b < n; b++)\n"
                "            for (int i = 0; i < $HW; i++) din[((long)c * cap + b) * $HW + i] $ACC dout[((long)c * $HW + i) * cap + b];\n"
                "}\n\n");
        return;
    }
    /* dropout: keep with probability 1-p and scale by 1/(1-p), so evaluation needs nothing */
    ev_str(e, "P", float_lit(l->p));
    ev_str(e, "SCALE", float_lit(1.0 / (1.0 - l->p)));
    ev_int(e, "LAYER", (long long)(l - e->net->layers));
    emit(e, "/* $NAME: $DESC, [$OC][cap][$OH][$OW]; image b's mask from rng_for(seed, step, $LAYER << 32 | b) */\n");
    emit(e, l->in_place ? "static void $ID_forward(float *x, uint8_t *mask, int n, int cap, int train, uint64_t seed, long step) {\n"
                          "    if (!train) return; /* evaluation: the identity */\n"
                        : "static void $ID_forward(float *out, const float *in, uint8_t *mask, int n, int cap, int train, uint64_t seed,\n"
                          "                        long step) {\n"
                          "    if (!train) {\n"
                          "        for (int c = 0; c < $OC; c++)\n"
                          "            memcpy(out + (long)c * cap * $OHW, in + (long)c * cap * $OHW, sizeof(float) * n * $OHW);\n"
                          "        return;\n"
                          "    }\n");
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int b = 0; b < n; b++) {\n"
            "        Rng r = rng_for(seed, (uint64_t)step, (uint64_t)$LAYER << 32 | (uint64_t)b);\n"
            "        for (long c = 0; c < $OC; c++)\n"
            "            for (long i = (c * cap + b) * $OHW; i < (c * cap + b + 1) * $OHW; i++) {\n"
            "                mask[i] = rng_uniform(&r) >= $P;\n");
    emit(e, l->in_place ? "                x[i] = mask[i] ? x[i] * $SCALE : 0.0f;\n"
                        : "                out[i] = mask[i] ? in[i] * $SCALE : 0.0f;\n");
    emit(e, "            }\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, l->in_place ? "/* $NAME backward, in place: the kept units' gradients, scaled */\n"
                          "static void $ID_backward(float *restrict d, const uint8_t *restrict mask, int n, int cap) {\n"
                        : "/* $NAME backward: the kept units' gradients, scaled */\n"
                          "static void $ID_backward(float *restrict din, const float *restrict dout, const uint8_t *restrict mask, int n, int cap) {\n");
    emit(e, value_loop);
    emit(e, l->in_place ? "            d[k] = mask[k] ? d[k] * $SCALE : 0.0f;\n" : "            din[k] $ACC mask[k] ? dout[k] * $SCALE : 0.0f;\n");
    emit(e, "        }\n"
            "}\n\n");
}

/* ---- concat and add ---------------------------------------------------------------------- */

static bool concat_copies(const Layer *l) { return !l->concat_in_place; }

void emit_join(Emitter *e, const Layer *l) {
    const Net *net = e->net;
    char *args = pool_strdup(""), *dargs = pool_strdup("");
    for (int j = 0; j < l->n_in; j++) {
        args = pool_printf("%s, const float *in%d", args, j);
        if (net->layers[l->in[j]].needs_grad) dargs = pool_printf("%sfloat *din%d, ", dargs, j);
    }
    ev_str(e, "INARGS", args);
    ev_str(e, "DINARGS", dargs);
    if (l->kind == L_ADD) {
        char *sum = pool_strdup("in0[k]");
        for (int j = 1; j < l->n_in; j++) sum = pool_printf("%s + in%d[k]", sum, j);
        ev_str(e, "SUM", sum);
        emit(e, "/* $NAME: $DESC, [$OC][cap][$OH][$OW] */\n"
                "static void $ID_forward(float *out$INARGS, int n, int cap) {\n");
        emit(e, value_loop);
        emit(e, "            out[k] = $SUM;\n"
                "        }\n"
                "}\n\n");
        if (!l->run_backward) return;
        emit(e, "/* $NAME backward: each input gets the output's gradient */\n"
                "static void $ID_backward($DINARGSconst float *dout, int n, int cap) {\n");
        emit(e, value_loop);
        for (int j = 0; j < l->n_in; j++) {
            if (!net->layers[l->in[j]].needs_grad) continue;
            ev_int(e, "J", j);
            ev_acc(e, l, j);
            emit(e, "            din$J[k] $ACC dout[k];\n");
        }
        emit(e, "        }\n"
                "}\n\n");
        return;
    }
    if (!concat_copies(l)) return; /* the plan put each input straight into its slice: nothing to do */
    /* concat along depth: input j is channels [off_j, off_j + c_j) of the output */
    emit(e, "/* $NAME: $DESC\n"
            " *   ");
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &net->layers[l->in[j]];
        fprintf(e->f, "%s%s [%ld][cap][%ld][%ld]", j ? " + " : "", s->name, s->out.c, s->out.h, s->out.w);
    }
    emit(e, " -> [$OC][cap][$OH][$OW] */\n"
            "static void $ID_forward(float *out$INARGS, int n, int cap) {\n");
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
    emit(e, "/* $NAME backward: each input's slice of the output's gradient */\n"
            "static void $ID_backward($DINARGSconst float *dout, int n, int cap) {\n");
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

/* ---- the loss ------------------------------------------------------------------------------ */

void emit_loss(Emitter *e, const Layer *l) {
    ev_int(e, "K", l->out.c);
    emit(e, "/* $NAME: softmax and cross-entropy over $K classes, with optional label smoothing\n"
            " *   logits [$K][cap] -> probs [n][$K] (row-major, for the runtime); returns the mean loss (0 without labels) */\n"
            "static float $ID_forward(float *probs, const float *logits, const int *labels, int n, int cap, float smoothing) {\n"
            "    double total = 0.0;\n"
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
    emit(e, "/* $NAME backward: dlogits $ACC (probs - targets) / n */\n"
            "static void $ID_backward(float *dlogits, const float *probs, const int *labels, int n, int cap, float smoothing) {\n"
            "    for (int b = 0; b < n; b++)\n"
            "        for (int k = 0; k < $K; k++) {\n"
            "            float t = smoothing / $K + (k == labels[b] ? 1.0f - smoothing : 0.0f);\n"
            "            dlogits[(long)k * cap + b] $ACC (probs[(long)b * $K + k] - t) / (float)n;\n"
            "        }\n"
            "}\n\n");
}
