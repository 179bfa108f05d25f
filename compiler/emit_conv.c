/* emit_conv.c: convolution and linear layers, the layers that are matrix
 * products.
 *
 * Activations are channel-major, [c][cap][h][w], so the images of one
 * channel sit side by side and a convolution over a chunk of images is ONE
 * sgemm: im2col lays the chunk out as a [C*KH*KW] x [images*OH*OW] matrix
 * and out[:, chunk] = weight . col. A 1x1 stride-1 convolution needs no
 * im2col at all: the input already is that matrix. A linear layer is one
 * sgemm over the batch. im2col and col2im run on OpenMP threads (one output
 * row, or input channel, each: never two threads on one value); sgemm runs
 * on the same OpenMP pool, called from outside any parallel region. */
#include "emit.h"
#include "pool.h"

/* col holds at most this many floats; chunks of images are sized to fit. */
#define COL_FLOATS (1L << 22)

long conv_chunk(const Net *net, const Layer *l) {
    const Shape in = net->layers[l->in[0]].out;
    long per_image = in.c * l->conv.kh * l->conv.kw * l->out.h * l->out.w;
    long ch = COL_FLOATS / (per_image > 0 ? per_image : 1);
    return ch < 1 ? 1 : ch > 4096 ? 4096 : ch;
}

/* ---- im2col and col2im ---------------------------------------------------------- */

static void emit_row_open(Emitter *e, const ConvSpec *c, bool by_channel) {
    if (by_channel) /* col2im: one thread per input channel, so no two threads add into one value */
        emit(e, "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++)\n"
                "        for (int r = c * $KHKW; r < (c + 1) * $KHKW; r++) {\n");
    else
        emit(e, "#pragma omp parallel for schedule(static)\n"
                "    for (int r = 0; r < $CK; r++) { /* one row of col: input channel c, kernel tap (ky, kx) */\n"
                "            int c = r / $KHKW;\n");
    emit(e, "            int ky = r % $KHKW / $KW, kx = r % $KW;\n"
            "            $COLCONSTfloat *d = col + (long)r * bc * $OHW;\n");
    if (c->pw || c->ph)
        emit(e, "            /* output columns whose input column is inside the image, not in the padding */\n"
                "            int lo = netc_clamp(netc_ceildiv($PW - kx, $SW), 0, $OW);\n"
                "            int hi = netc_clamp(netc_floordiv($W - 1 + $PW - kx, $SW) + 1, lo, $OW);\n");
    emit(e, "            for (int b = 0; b < bc; b++) {\n"
            "                $INCONSTfloat *x = in + ((long)c * cap + b0 + b) * $HW;\n"
            "                for (int oy = 0; oy < $OH; oy++) {\n");
}

static void emit_row_close(Emitter *e) {
    emit(e, "                }\n"
            "            }\n"
            "        }\n"
            "}\n\n");
}

static void emit_im2col(Emitter *e, const ConvSpec *c) {
    ev_str(e, "COLCONST", ""), ev_str(e, "INCONST", "const ");
    emit(e, "/* $NAME: im2col of images [b0, b0 + bc). col[c][ky][kx][b][oy][ox] = in[c][b0 + b][$IY][$IX],\n"
            " * 0 in the padding */\n"
            "static void $ID_im2col(float *restrict col, const float *restrict in, int b0, int bc, int cap) {\n");
    emit_row_open(e, c, false);
    if (c->pw || c->ph)
        emit(e, "                    int iy = $IY;\n"
                "                    float *dr = d + ((long)b * $OH + oy) * $OW;\n"
                "                    if (iy < 0 || iy >= $H) {\n"
                "                        memset(dr, 0, sizeof(float) * $OW);\n"
                "                        continue;\n"
                "                    }\n"
                "                    const float *row = x + iy * $W + $KXP;\n"
                "                    for (int ox = 0; ox < lo; ox++) dr[ox] = 0.0f;\n"
                "                    for (int ox = lo; ox < hi; ox++) dr[ox] = row[$OXS];\n"
                "                    for (int ox = hi; ox < $OW; ox++) dr[ox] = 0.0f;\n");
    else
        emit(e, "                    const float *row = x + ($IY) * $W + kx;\n"
                "                    float *dr = d + ((long)b * $OH + oy) * $OW;\n"
                "                    for (int ox = 0; ox < $OW; ox++) dr[ox] = row[$OXS];\n");
    emit_row_close(e);
}

static void emit_col2im(Emitter *e, const ConvSpec *c, bool acc) {
    ev_str(e, "COLCONST", "const "), ev_str(e, "INCONST", "");
    emit(e, "/* $NAME: col2im, the adjoint of im2col: in[c][b0 + b][$IY][$IX] += col[c][ky][kx][b][oy][ox] */\n"
            "static void $ID_col2im(float *restrict in, const float *restrict col, int b0, int bc, int cap) {\n");
    if (!acc)
        emit(e, "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++) memset(in + ((long)c * cap + b0) * $HW, 0, sizeof(float) * bc * $HW);\n");
    emit_row_open(e, c, true);
    if (c->pw || c->ph)
        emit(e, "                    int iy = $IY;\n"
                "                    if (iy < 0 || iy >= $H) continue;\n"
                "                    const float *dr = d + ((long)b * $OH + oy) * $OW;\n"
                "                    float *row = x + iy * $W + $KXP;\n"
                "                    for (int ox = lo; ox < hi; ox++) row[$OXS] += dr[ox];\n");
    else
        emit(e, "                    float *row = x + ($IY) * $W + kx;\n"
                "                    const float *dr = d + ((long)b * $OH + oy) * $OW;\n"
                "                    for (int ox = 0; ox < $OW; ox++) row[$OXS] += dr[ox];\n");
    emit_row_close(e);
}

/* ---- convolution ------------------------------------------------------------------ */

static void conv_vars(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    const Shape in = e->net->layers[l->in[0]].out;
    long cg = in.c / c->groups;
    ev_int(e, "KH", c->kh), ev_int(e, "KW", c->kw), ev_int(e, "KHKW", c->kh * c->kw);
    ev_int(e, "SH", c->sh), ev_int(e, "SW", c->sw);
    ev_int(e, "PH", c->ph), ev_int(e, "PW", c->pw);
    ev_int(e, "G", c->groups), ev_int(e, "CG", cg), ev_int(e, "OCG", c->out / c->groups);
    ev_int(e, "CK", in.c * c->kh * c->kw);
    ev_int(e, "KG", cg * c->kh * c->kw); /* the inner dimension of one group's product */
    ev_int(e, "CH", conv_chunk(e->net, l));
    ev_str(e, "IY", affine("oy", c->sh, -c->ph)), ev_str(e, "IX", affine("ox", c->sw, -c->pw));
    ev_str(e, "IY", pool_printf("%s + ky", affine("oy", c->sh, -c->ph)));
    ev_str(e, "IX", pool_printf("%s + kx", affine("ox", c->sw, -c->pw)));
    ev_str(e, "OXS", affine("ox", c->sw, 0));
    ev_str(e, "KXP", affine("kx", 1, -c->pw));
    ev_str(e, "BIASARG", c->bias ? ", const float *bias" : "");
    ev_str(e, "BIASDOC", c->bias ? pool_printf(", bias [%ld]", c->out) : "");
    ev_str(e, "GROUPSDOC", c->groups > 1 ? pool_printf(", %ld groups", c->groups) : "");
}

/* bias[o] added to every value of output channel o */
static void emit_bias_add(Emitter *e) {
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        float *y = out + (long)o * cap * $OHW;\n"
            "        for (long i = 0; i < (long)n * $OHW; i++) y[i] += bias[o];\n"
            "    }\n");
}

/* dbias[o] = the sum of output channel o's gradient */
static void emit_bias_grad(Emitter *e) {
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        const float *dy = dout + (long)o * cap * $OHW;\n"
            "        float s = 0.0f;\n"
            "        for (long i = 0; i < (long)n * $OHW; i++) s += dy[i];\n"
            "        dbias[o] = s;\n"
            "    }\n");
}

/* One product per group: M x N = (M x K) . (K x N), with the group's offsets. */
static void emit_gemm(Emitter *e, const char *ta, const char *tb, const char *m, const char *nn, const char *k, const char *a,
                      const char *lda, const char *b, const char *ldb, const char *beta, const char *c, const char *ldc,
                      const char *indent) {
    ev_str(e, "TA", ta), ev_str(e, "TB", tb), ev_str(e, "GM", m), ev_str(e, "GN", nn), ev_str(e, "GK", k);
    ev_str(e, "GA", a), ev_str(e, "LDA", lda), ev_str(e, "GB", b), ev_str(e, "LDB", ldb), ev_str(e, "GBETA", beta);
    ev_str(e, "GC", c), ev_str(e, "LDC", ldc), ev_str(e, "IND", indent);
    emit(e, "$INDcblas_sgemm(CblasRowMajor, $TA, $TB, $GM, $GN, $GK, 1.0f, $GA, $LDA, $GB, $LDB, $GBETA, $GC, $LDC);\n");
}

/* "x + g * step" when grouped, "x" when not */
static const char *goff(const ConvSpec *c, const char *x, const char *step) {
    return c->groups == 1 ? x : pool_printf("%s + g * %s", x, step);
}

static void emit_group_loop(Emitter *e, const ConvSpec *c, const char *indent) {
    if (c->groups > 1) {
        ev_str(e, "IND", indent);
        emit(e, "$INDfor (int g = 0; g < $G; g++)\n");
    }
}

static void emit_conv_forward(Emitter *e, const Layer *l, bool pw) {
    const ConvSpec *c = &l->conv;
    const char *ind = c->groups > 1 ? "            " : "        ";
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$CG][$KH][$KW]$BIASDOC$GROUPSDOC\n");
    if (pw) {
        emit(e, " *   1x1, stride 1: out = weight . in, one sgemm for the batch */\n"
                "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap) {\n");
        emit_group_loop(e, c, "    ");
        emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$OCG", "n * $OHW", "$KG", goff(c, "weight", "$OCG * $KG"), "$KG",
                  goff(c, "in", "$KG * cap * $HW"), "cap * $HW", "0.0f", goff(c, "out", "$OCG * cap * $OHW"), "cap * $OHW",
                  c->groups > 1 ? "        " : "    ");
    } else {
        emit(e, " *   per chunk of up to $CH images: im2col, then out[:, chunk] = weight . col */\n"
                "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap, float *col) {\n"
                "    for (int b0 = 0; b0 < n; b0 += $CH) {\n"
                "        int bc = n - b0 < $CH ? n - b0 : $CH;\n"
                "        $ID_im2col(col, in, b0, bc, cap);\n");
        emit_group_loop(e, c, "        ");
        emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$OCG", "bc * $OHW", "$KG", goff(c, "weight", "$OCG * $KG"), "$KG",
                  goff(c, "col", "$KG * bc * $OHW"), "bc * $OHW", "0.0f",
                  goff(c, "out + (long)b0 * $OHW", "$OCG * cap * $OHW"), "cap * $OHW", ind);
        emit(e, "    }\n");
    }
    if (c->bias) emit_bias_add(e);
    emit(e, "}\n\n");
}

static void emit_conv_backward(Emitter *e, const Layer *l, bool pw) {
    const ConvSpec *c = &l->conv;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, acc = l->grad_accumulate[0];
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? (c->bias ? "float *dweight, float *dbias, " : "float *dweight, ") : "");
    ev_str(e, "XARG", dw ? "const float *in, " : "");
    ev_str(e, "WARG", din ? "const float *weight, " : "");
    ev_str(e, "SCRATCHARG", pw ? "" : ", float *col");
    ev_int(e, "COLSIZE", conv_chunk(e->net, l) * (e->net->layers[l->in[0]].out.c * c->kh * c->kw * l->out.h * l->out.w));
    emit(e, "/* $NAME backward:");
    if (dw) emit(e, " dweight = dout . col^T");
    if (c->bias && dw) emit(e, ", dbias = sums of dout");
    if (din) emit(e, pw ? (acc ? ", din += weight^T . dout" : ", din = weight^T . dout")
                        : (acc ? ", din += col2im(weight^T . dout)" : ", din = col2im(weight^T . dout)"));
    emit(e, " */\n"
            "static void $ID_backward($DINARG$DWARGconst float *dout, $XARG$WARGint n, int cap$SCRATCHARG) {\n");
    if (pw) {
        if (dw) {
            emit_group_loop(e, c, "    ");
            emit_gemm(e, "CblasNoTrans", "CblasTrans", "$OCG", "$KG", "n * $OHW", goff(c, "dout", "$OCG * cap * $OHW"),
                      "cap * $OHW", goff(c, "in", "$KG * cap * $HW"), "cap * $HW", "0.0f", goff(c, "dweight", "$OCG * $KG"), "$KG",
                      c->groups > 1 ? "        " : "    ");
        }
        if (din) {
            emit_group_loop(e, c, "    ");
            emit_gemm(e, "CblasTrans", "CblasNoTrans", "$KG", "n * $HW", "$OCG", goff(c, "weight", "$OCG * $KG"), "$KG",
                      goff(c, "dout", "$OCG * cap * $OHW"), "cap * $OHW", acc ? "1.0f" : "0.0f",
                      goff(c, "din", "$KG * cap * $HW"), "cap * $HW", c->groups > 1 ? "        " : "    ");
        }
    } else {
        const char *ind = c->groups > 1 ? "            " : "        ";
        if (din) emit(e, "    float *dcol = col + $COLSIZE;\n");
        emit(e, "    for (int b0 = 0; b0 < n; b0 += $CH) {\n"
                "        int bc = n - b0 < $CH ? n - b0 : $CH;\n");
        if (dw) {
            emit(e, "        $ID_im2col(col, in, b0, bc, cap);\n");
            emit_group_loop(e, c, "        ");
            emit_gemm(e, "CblasNoTrans", "CblasTrans", "$OCG", "$KG", "bc * $OHW", goff(c, "dout + (long)b0 * $OHW", "$OCG * cap * $OHW"),
                      "cap * $OHW", goff(c, "col", "$KG * bc * $OHW"), "bc * $OHW", "b0 ? 1.0f : 0.0f",
                      goff(c, "dweight", "$OCG * $KG"), "$KG", ind);
        }
        if (din) {
            emit_group_loop(e, c, "        ");
            emit_gemm(e, "CblasTrans", "CblasNoTrans", "$KG", "bc * $OHW", "$OCG", goff(c, "weight", "$OCG * $KG"), "$KG",
                      goff(c, "dout + (long)b0 * $OHW", "$OCG * cap * $OHW"), "cap * $OHW", "0.0f", goff(c, "dcol", "$KG * bc * $OHW"),
                      "bc * $OHW", ind);
            emit(e, "        $ID_col2im(din, dcol, b0, bc, cap);\n");
        }
        emit(e, "    }\n");
    }
    if (dw && c->bias) emit_bias_grad(e);
    emit(e, "}\n\n");
}

/* ---- linear (and a conv whose kernel covers its whole input) ------------------------------ */

/* x[k][b] = in[c][b][hw] with k = c * HW + hw: the batch as the columns of a matrix */
static void emit_gather(Emitter *e, bool scatter, bool acc) {
    if (!scatter)
        emit(e, "/* $NAME: the input as a [$K][n] matrix, x[c * $HW + i][b] = in[c][b][i] */\n"
                "static void $ID_gather(float *restrict x, const float *restrict in, int n, int cap) {\n"
                "#pragma omp parallel for schedule(static)\n"
                "    for (int c = 0; c < $C; c++)\n"
                "        for (int b = 0; b < n; b++)\n"
                "            for (int i = 0; i < $HW; i++) x[((long)c * $HW + i) * n + b] = in[((long)c * cap + b) * $HW + i];\n"
                "}\n\n");
    else
        emit(e, acc ? "/* $NAME: the adjoint of gather, in[c][b][i] += x[c * $HW + i][b] */\n"
                      "static void $ID_scatter(float *restrict in, const float *restrict x, int n, int cap) {\n"
                      "#pragma omp parallel for schedule(static)\n"
                      "    for (int c = 0; c < $C; c++)\n"
                      "        for (int b = 0; b < n; b++)\n"
                      "            for (int i = 0; i < $HW; i++) in[((long)c * cap + b) * $HW + i] += x[((long)c * $HW + i) * n + b];\n"
                      "}\n\n"
                    : "/* $NAME: the adjoint of gather, in[c][b][i] = x[c * $HW + i][b] */\n"
                      "static void $ID_scatter(float *restrict in, const float *restrict x, int n, int cap) {\n"
                      "#pragma omp parallel for schedule(static)\n"
                      "    for (int c = 0; c < $C; c++)\n"
                      "        for (int b = 0; b < n; b++)\n"
                      "            for (int i = 0; i < $HW; i++) in[((long)c * cap + b) * $HW + i] = x[((long)c * $HW + i) * n + b];\n"
                      "}\n\n");
}

/* out[O][n] = weight[O][K] . x[K][n]: a linear layer, or a conv whose kernel
 * covers its whole unpadded input (the same product in conv's clothes). */
static void emit_matmul(Emitter *e, const Layer *l, long o, bool bias, const char *wdoc) {
    const Shape in = e->net->layers[l->in[0]].out;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, acc = l->grad_accumulate[0];
    bool gather = in.h * in.w > 1; /* a 1x1 input already is the [K][cap] matrix */
    ev_int(e, "K", in.c * in.h * in.w);
    ev_int(e, "O", o);
    ev_str(e, "WDOC", wdoc);
    ev_str(e, "BIASARG", bias ? ", const float *bias" : "");
    ev_str(e, "BIASDOC", bias ? pool_printf(", bias [%ld]", o) : "");
    ev_str(e, "SCRATCHARG", gather ? ", float *x" : "");
    if (gather) emit_gather(e, false, false);
    if (gather && l->run_backward && din) emit_gather(e, true, acc);
    emit(e, "/* $NAME: $DESC\n"
            " *   in [$C][cap][$H][$W] -> out [$O][cap], weight $WDOC$BIASDOC; one sgemm for the batch */\n"
            "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap$SCRATCHARG) {\n");
    if (gather) emit(e, "    $ID_gather(x, in, n, cap);\n");
    if (bias)
        emit(e, "    for (int k = 0; k < $O; k++)\n"
                "        for (int b = 0; b < n; b++) out[(long)k * cap + b] = bias[k];\n");
    emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$O", "n", "$K", "weight", "$K", gather ? "x" : "in", gather ? "n" : "cap",
              bias ? "1.0f" : "0.0f", "out", "cap", "    ");
    emit(e, "}\n\n");
    if (!l->run_backward) return;
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? (bias ? "float *dweight, float *dbias, " : "float *dweight, ") : "");
    ev_str(e, "XARG", dw ? "const float *in, " : "");
    ev_str(e, "WARG", din ? "const float *weight, " : "");
    emit(e, "/* $NAME backward: dweight = dout . x^T, dbias = sums of dout, din (+)= weight^T . dout */\n"
            "static void $ID_backward($DINARG$DWARGconst float *dout, $XARG$WARGint n, int cap$SCRATCHARG) {\n");
    if (dw) {
        if (gather) emit(e, "    $ID_gather(x, in, n, cap);\n");
        emit_gemm(e, "CblasNoTrans", "CblasTrans", "$O", "$K", "n", "dout", "cap", gather ? "x" : "in", gather ? "n" : "cap", "0.0f",
                  "dweight", "$K", "    ");
        if (bias)
            emit(e, "    for (int k = 0; k < $O; k++) {\n"
                    "        float s = 0.0f;\n"
                    "        for (int b = 0; b < n; b++) s += dout[(long)k * cap + b];\n"
                    "        dbias[k] = s;\n"
                    "    }\n");
    }
    if (din) {
        if (gather) {
            emit_gemm(e, "CblasTrans", "CblasNoTrans", "$K", "n", "$O", "weight", "$K", "dout", "cap", "0.0f", "x", "n", "    ");
            emit(e, "    $ID_scatter(din, x, n, cap);\n");
        } else {
            emit_gemm(e, "CblasTrans", "CblasNoTrans", "$K", "n", "$O", "weight", "$K", "dout", "cap", acc ? "1.0f" : "0.0f", "din",
                      "cap", "    ");
        }
    }
    emit(e, "}\n\n");
}

void emit_conv(Emitter *e, const Layer *l) {
    Shape in = e->net->layers[l->in[0]].out;
    if (conv_is_full(e->net, l)) {
        emit_matmul(e, l, l->conv.out, l->conv.bias, pool_printf("[%ld][%ld][%ld][%ld]", l->conv.out, in.c, in.h, in.w));
        return;
    }
    conv_vars(e, l);
    bool pw = conv_is_pointwise(l), din = e->net->layers[l->in[0]].needs_grad;
    if (!pw) emit_im2col(e, &l->conv);
    if (!pw && l->run_backward && din) emit_col2im(e, &l->conv, l->grad_accumulate[0]);
    emit_conv_forward(e, l, pw);
    if (l->run_backward) emit_conv_backward(e, l, pw);
}

void emit_linear(Emitter *e, const Layer *l) {
    Shape in = e->net->layers[l->in[0]].out;
    emit_matmul(e, l, l->linear.out, l->linear.bias, pool_printf("[%ld][%ld]", l->linear.out, in.c * in.h * in.w));
}
