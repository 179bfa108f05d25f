/* emit_conv.c: convolution and linear layers, the layers that are matrix
 * products.
 *
 * A convolution runs per image: im2col lays the input out as a [C*KH*KW] x
 * [OH*OW] matrix and one sgemm per group multiplies the weights into it
 * (a 1x1 stride-1 convolution needs no im2col: the input already is that
 * matrix). Images are split across threads; sgemm runs on its caller's
 * thread. Weight gradients are summed per thread and then added up in
 * thread order, so a run is reproducible for a given thread count.
 * A linear layer is one sgemm over the whole batch, threaded by OpenBLAS. */
#include "emit.h"
#include "pool.h"

static void emit_matmul(Emitter *e, const Layer *l, long o, bool bias, const char *wdoc);

static bool pointwise(const ConvSpec *c) { return c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0; }

/* The input-position loops shared by im2col and col2im. */
static void emit_col_loops_open(Emitter *e, const ConvSpec *c) {
    emit(e, "    for (int c = 0; c < $C; c++)\n"
            "        for (int ky = 0; ky < $KH; ky++)\n"
            "            for (int kx = 0; kx < $KW; kx++) {\n"
            "                $COLCONSTfloat *d = col + (long)((c * $KH + ky) * $KW + kx) * $OHW;\n");
    if (c->pw || c->ph)
        emit(e, "                /* output columns whose input column is inside the image, not in the padding */\n"
                "                int lo = netc_clamp(netc_ceildiv($PW - kx, $SW), 0, $OW);\n"
                "                int hi = netc_clamp(netc_floordiv($W - 1 + $PW - kx, $SW) + 1, lo, $OW);\n");
    emit(e, "                for (int oy = 0; oy < $OH; oy++) {\n");
}

static void emit_im2col(Emitter *e, const ConvSpec *c) {
    ev_str(e, "COLCONST", "");
    emit(e, "/* $NAME: im2col. col[c][ky][kx][oy][ox] = in[c][$IY][$IX], 0 in the padding */\n"
            "static void $ID_im2col(float *restrict col, const float *restrict x) {\n");
    emit_col_loops_open(e, c);
    if (c->pw || c->ph)
        emit(e, "                    int iy = $IY;\n"
                "                    float *dr = d + oy * $OW;\n"
                "                    if (iy < 0 || iy >= $H) {\n"
                "                        memset(dr, 0, sizeof(float) * $OW);\n"
                "                        continue;\n"
                "                    }\n"
                "                    const float *row = x + (c * $H + iy) * $W + $KXP;\n"
                "                    for (int ox = 0; ox < lo; ox++) dr[ox] = 0.0f;\n"
                "                    for (int ox = lo; ox < hi; ox++) dr[ox] = row[$OXS];\n"
                "                    for (int ox = hi; ox < $OW; ox++) dr[ox] = 0.0f;\n");
    else
        emit(e, "                    const float *row = x + (c * $H + $IY) * $W + kx;\n"
                "                    for (int ox = 0; ox < $OW; ox++) d[oy * $OW + ox] = row[$OXS];\n");
    emit(e, "                }\n"
            "            }\n"
            "}\n\n");
}

static void emit_col2im(Emitter *e, const ConvSpec *c) {
    ev_str(e, "COLCONST", "const ");
    emit(e, "/* $NAME: col2im, the adjoint of im2col: in[c][$IY][$IX] += col[c][ky][kx][oy][ox] */\n"
            "static void $ID_col2im(float *restrict dx, const float *restrict col) {\n");
    emit_col_loops_open(e, c);
    if (c->pw || c->ph)
        emit(e, "                    int iy = $IY;\n"
                "                    if (iy < 0 || iy >= $H) continue;\n"
                "                    const float *dr = d + oy * $OW;\n"
                "                    float *row = dx + (c * $H + iy) * $W + $KXP;\n"
                "                    for (int ox = lo; ox < hi; ox++) row[$OXS] += dr[ox];\n");
    else
        emit(e, "                    float *row = dx + (c * $H + $IY) * $W + kx;\n"
                "                    for (int ox = 0; ox < $OW; ox++) row[$OXS] += d[oy * $OW + ox];\n");
    emit(e, "                }\n"
            "            }\n"
            "}\n\n");
}

/* y[g] (+)= W[g] . col[g] for each group */
static void emit_forward_gemm(Emitter *e, const ConvSpec *c) {
    if (c->groups == 1)
        emit(e, "        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, $OC, $OHW, $CGK, 1.0f, weight, $CGK, col, $OHW,\n"
                "                    $BETA, y, $OHW);\n");
    else
        emit(e, "        for (int g = 0; g < $G; g++)\n"
                "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, $OCG, $OHW, $CGK, 1.0f, weight + g * $OCG * $CGK, $CGK,\n"
                "                        col + (long)g * $CGK * $OHW, $OHW, $BETA, y + (long)g * $OCG * $OHW, $OHW);\n");
}

static void conv_vars(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    const Shape in = e->net->layers[l->in[0]].out;
    long cg = in.c / c->groups;
    ev_int(e, "KH", c->kh), ev_int(e, "KW", c->kw);
    ev_int(e, "SH", c->sh), ev_int(e, "SW", c->sw);
    ev_int(e, "PH", c->ph), ev_int(e, "PW", c->pw);
    ev_int(e, "G", c->groups), ev_int(e, "CG", cg), ev_int(e, "OCG", c->out / c->groups);
    ev_int(e, "CGK", cg * c->kh * c->kw);
    ev_int(e, "WSIZE", c->out * cg * c->kh * c->kw);
    ev_int(e, "PARAMS", l->params);
    ev_int(e, "COL", pointwise(c) ? 0 : in.c * c->kh * c->kw * l->out.h * l->out.w);
    ev_str(e, "IY", pool_printf("%s + ky", affine("oy", c->sh, -c->ph)));
    ev_str(e, "IX", pool_printf("%s + kx", affine("ox", c->sw, -c->pw)));
    ev_str(e, "OXS", affine("ox", c->sw, 0));
    ev_str(e, "KXP", affine("kx", 1, -c->pw));
    ev_str(e, "BETA", c->bias ? "1.0f" : "0.0f");
    ev_str(e, "BIASARG", c->bias ? ", const float *bias" : "");
    ev_str(e, "BIASDOC", c->bias ? pool_printf(", bias [%ld]", c->out) : "");
    ev_str(e, "GROUPSDOC", c->groups > 1 ? pool_printf(", %ld groups", c->groups) : "");
}

static void emit_conv_forward(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    emit(e, "/* $NAME: $DESC\n"
            " *   in $INSHAPE -> out $OUTSHAPE, weight [$OC][$CG][$KH][$KW]$BIASDOC$GROUPSDOC */\n");
    emit(e, pointwise(c) ? "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n) {\n"
                         : "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, float *scratch) {\n");
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int b = 0; b < n; b++) {\n"
            "        float *y = out + (long)b * $OUTIMG;\n");
    if (pointwise(c))
        emit(e, "        const float *col = in + (long)b * $INIMG; /* 1x1, stride 1: the input is the column matrix */\n");
    else
        emit(e, "        float *col = scratch + (long)omp_get_thread_num() * SCRATCH_PER_THREAD;\n"
                "        $ID_im2col(col, in + (long)b * $INIMG);\n");
    if (c->bias)
        emit(e, "        for (int o = 0; o < $OC; o++)\n"
                "            for (int i = 0; i < $OHW; i++) y[o * $OHW + i] = bias[o];\n");
    emit_forward_gemm(e, c);
    emit(e, "    }\n"
            "}\n\n");
}

static void emit_conv_backward(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, pw = pointwise(c);
    bool acc = l->grad_accumulate[0];
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? (c->bias ? "float *dweight, float *dbias, " : "float *dweight, ") : "");
    ev_str(e, "XARG", dw ? "const float *in, " : "");
    ev_str(e, "WARG", din ? "const float *weight, " : "");
    ev_str(e, "DINBETA", acc ? "1.0f" : "0.0f");
    ev_int(e, "DCOLOFF", pw ? 0 : c->kh * c->kw * e->net->layers[l->in[0]].out.c * l->out.h * l->out.w);
    ev_int(e, "DWOFF", pw ? 0 : (din ? 2 : 1) * c->kh * c->kw * e->net->layers[l->in[0]].out.c * l->out.h * l->out.w);
    emit(e, "/* $NAME backward:");
    if (dw) emit(e, " weight gradient = sum over images of dout . col^T");
    if (dw && din) emit(e, ";\n *   ");
    if (din) emit(e, acc ? " din += im2col^T(weight^T . dout)" : " din = im2col^T(weight^T . dout)");
    bool scratch = dw || !pw;
    ev_str(e, "SCRATCHARG", scratch ? ", float *scratch" : "");
    emit(e, " */\n"
            "static void $ID_backward($DINARG$DWARGconst float *dout, $XARG$WARGint n$SCRATCHARG) {\n"
            "#pragma omp parallel\n"
            "    {\n");
    if (scratch)
        emit(e, "        float *mine = scratch + (long)omp_get_thread_num() * SCRATCH_PER_THREAD;\n");
    if (!pw && dw) emit(e, "        float *col = mine;\n");
    if (!pw && din) emit(e, "        float *dcol = mine + $DCOLOFF;\n");
    if (dw)
        emit(e, "        float *dw = mine + $DWOFF; /* this thread's share of the weight (and bias) gradient */\n"
                "        memset(dw, 0, sizeof(float) * $PARAMS);\n");
    emit(e, "#pragma omp for schedule(static)\n"
            "        for (int b = 0; b < n; b++) {\n"
            "            const float *dy = dout + (long)b * $OUTIMG;\n");
    if (dw) {
        emit(e, pw ? "            const float *col = in + (long)b * $INIMG;\n" : "            $ID_im2col(col, in + (long)b * $INIMG);\n");
        if (c->groups == 1)
            emit(e, "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, $OC, $CGK, $OHW, 1.0f, dy, $OHW, col, $OHW, 1.0f, dw,\n"
                    "                        $CGK);\n");
        else
            emit(e, "            for (int g = 0; g < $G; g++)\n"
                    "                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, $OCG, $CGK, $OHW, 1.0f, dy + (long)g * $OCG * $OHW, $OHW,\n"
                    "                            col + (long)g * $CGK * $OHW, $OHW, 1.0f, dw + g * $OCG * $CGK, $CGK);\n");
        if (c->bias)
            emit(e, "            for (int o = 0; o < $OC; o++) {\n"
                    "                float s = 0.0f;\n"
                    "                for (int i = 0; i < $OHW; i++) s += dy[o * $OHW + i];\n"
                    "                dw[$WSIZE + o] += s;\n"
                    "            }\n");
    }
    if (din) {
        emit(e, "            float *dx = din + (long)b * $INIMG;\n");
        if (pw) {
            ev_str(e, "DST", "dx");
            ev_str(e, "GBETA", acc ? "1.0f" : "0.0f");
        } else {
            ev_str(e, "DST", "dcol");
            ev_str(e, "GBETA", "0.0f");
        }
        if (c->groups == 1)
            emit(e, "            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, $CGK, $OHW, $OC, 1.0f, weight, $CGK, dy, $OHW, $GBETA,\n"
                    "                        $DST, $OHW);\n");
        else
            emit(e, "            for (int g = 0; g < $G; g++)\n"
                    "                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, $CGK, $OHW, $OCG, 1.0f, weight + g * $OCG * $CGK, $CGK,\n"
                    "                            dy + (long)g * $OCG * $OHW, $OHW, $GBETA, $DST + (long)g * $CGK * $OHW, $OHW);\n");
        if (!pw) {
            if (!acc) emit(e, "            memset(dx, 0, sizeof(float) * $INIMG);\n");
            emit(e, "            $ID_col2im(dx, dcol);\n");
        }
    }
    emit(e, "        }\n");
    if (dw) {
        emit(e, "        /* add the threads' shares in thread order: the same bits for the same thread count */\n"
                "        int nt = omp_get_num_threads();\n"
                "#pragma omp for schedule(static)\n"
                "        for (long i = 0; i < $PARAMS; i++) {\n"
                "            float s = 0.0f;\n"
                "            for (int u = 0; u < nt; u++) s += scratch[(long)u * SCRATCH_PER_THREAD + $DWOFF + i];\n");
        emit(e, c->bias ? "            if (i < $WSIZE) dweight[i] = s;\n"
                          "            else dbias[i - $WSIZE] = s;\n"
                        : "            dweight[i] = s;\n");
        emit(e, "        }\n");
    }
    emit(e, "    }\n"
            "}\n\n");
}

void emit_conv(Emitter *e, const Layer *l) {
    if (conv_is_full(e->net, l)) { /* the kernel covers the input: a linear layer in conv's clothes */
        Shape in = e->net->layers[l->in[0]].out;
        emit_matmul(e, l, l->conv.out, l->conv.bias, pool_printf("[%ld][%ld][%ld][%ld]", l->conv.out, in.c, in.h, in.w));
        return;
    }
    conv_vars(e, l);
    bool pw = pointwise(&l->conv);
    bool din = e->net->layers[l->in[0]].needs_grad;
    if (!pw) emit_im2col(e, &l->conv);
    if (!pw && l->run_backward && din) emit_col2im(e, &l->conv);
    emit_conv_forward(e, l);
    if (l->run_backward) emit_conv_backward(e, l);
}

/* out[n][O] = in[n][K] . weight^T: a linear layer, or a conv whose kernel covers its whole input. */
static void emit_matmul(Emitter *e, const Layer *l, long o, bool bias, const char *wdoc) {
    const Shape in = e->net->layers[l->in[0]].out;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad;
    ev_int(e, "K", in.c * in.h * in.w);
    ev_int(e, "O", o);
    ev_str(e, "WDOC", wdoc);
    ev_str(e, "BIASARG", bias ? ", const float *bias" : "");
    ev_str(e, "BIASDOC", bias ? pool_printf(", bias [%ld]", o) : "");
    ev_str(e, "BETA", bias ? "1.0f" : "0.0f");
    emit(e, "/* $NAME: $DESC\n"
            " *   in $INSHAPE -> out [n][$O], weight $WDOC$BIASDOC;\n"
            " *   one sgemm for the whole batch: out[n][$O] = in[n][$K] . weight^T */\n"
            "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n) {\n");
    if (bias)
        emit(e, "    for (int b = 0; b < n; b++) memcpy(out + (long)b * $O, bias, sizeof(float) * $O);\n");
    emit(e, "    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, $O, $K, 1.0f, in, $K, weight, $K, $BETA, out, $O);\n"
            "}\n\n");
    if (!l->run_backward) return;
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? (bias ? "float *dweight, float *dbias, " : "float *dweight, ") : "");
    ev_str(e, "XARG", dw ? "const float *in, " : "");
    ev_str(e, "WARG", din ? "const float *weight, " : "");
    ev_str(e, "DINBETA", l->grad_accumulate[0] ? "1.0f" : "0.0f");
    emit(e, "/* $NAME backward: dweight = dout^T . in, dbias = column sums of dout, din (+)= dout . weight */\n"
            "static void $ID_backward($DINARG$DWARGconst float *dout, $XARG$WARGint n) {\n");
    if (dw) {
        emit(e, "    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, $O, $K, n, 1.0f, dout, $O, in, $K, 0.0f, dweight, $K);\n");
        if (bias)
            emit(e, "    for (int o = 0; o < $O; o++) {\n"
                    "        float s = 0.0f;\n"
                    "        for (int b = 0; b < n; b++) s += dout[(long)b * $O + o];\n"
                    "        dbias[o] = s;\n"
                    "    }\n");
    }
    if (din)
        emit(e, "    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, $K, $O, 1.0f, dout, $O, weight, $K, $DINBETA, din, $K);\n");
    emit(e, "}\n\n");
}

void emit_linear(Emitter *e, const Layer *l) {
    Shape in = e->net->layers[l->in[0]].out;
    emit_matmul(e, l, l->linear.out, l->linear.bias, pool_printf("[%ld][%ld]", l->linear.out, in.c * in.h * in.w));
}
