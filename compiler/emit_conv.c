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
#include <string.h>

#include "emit.h"
#include "pool.h"

/* col holds at most this many floats; chunks of images are sized to fit. */
#define COL_FLOATS (1L << 21)

/* Does the input gradient come from a convolution of dout (whose im2col is
 * bigger than the input's)? Not where no input gradient is needed: a first
 * layer's chunks are sized by its own im2col alone. */
static bool dx_by_conv_here(const Net *net, const Layer *l) {
    return conv_dx_by_conv(net, l) && net->layers[l->in[0]].needs_grad && l->run_backward;
}

long conv_chunk(const Net *net, const Layer *l) {
    const Shape in = net->layers[l->in[0]].out;
    long per_image = in.c * l->conv.kh * l->conv.kw * l->out.h * l->out.w;
    long per_image_dy = l->conv.out * l->conv.kh * l->conv.kw * in.h * in.w; /* the gradient's im2col */
    if (dx_by_conv_here(net, l) && per_image_dy > per_image) per_image = per_image_dy;
    long ch = COL_FLOATS / (per_image > 0 ? per_image : 1);
    return ch < 1 ? 1 : ch > 4096 ? 4096 : ch;
}

/* Floats of one chunk's im2col (of the input, or of dout when that is bigger). */
long conv_col_floats(const Net *net, const Layer *l) {
    const Shape in = net->layers[l->in[0]].out;
    long kk = l->conv.kh * l->conv.kw, per = in.c * kk * l->out.h * l->out.w;
    if (dx_by_conv_here(net, l) && l->conv.out * kk * in.h * in.w > per) per = l->conv.out * kk * in.h * in.w;
    return conv_chunk(net, l) * per;
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
    if (!c->groups) ev_str(e, "SUF", "_dy");
    else ev_str(e, "SUF", "");
    emit(e, "/* $NAME: im2col of images [b0, b0 + bc). col[c][ky][kx][b][oy][ox] = in[c][b0 + b][$IY][$IX],\n"
            " * 0 in the padding */\n"
            "static void $ID_im2col$SUF(float *restrict col, const float *restrict in, int b0, int bc, int cap) {\n");
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

static void conv_vars(Emitter *e, const Layer *l);

/* For a stride-1 convolution, the input gradient is itself a convolution: of
 * the output gradient, padded by K-1-P, with the kernel flipped and its in and
 * out channels swapped. One im2col of dout and one well-shaped sgemm then
 * replace a thin sgemm and a col2im that scatters into memory. */
static void emit_im2col_dy(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    const Shape in = e->net->layers[l->in[0]].out;
    ConvSpec t = *c;
    t.pw = c->kw - 1 - c->pw, t.ph = c->kh - 1 - c->ph, t.sw = t.sh = 1;
    t.groups = 0; /* marks the gradient's im2col for emit_im2col */
    ev_int(e, "C", l->out.c), ev_int(e, "H", l->out.h), ev_int(e, "W", l->out.w), ev_int(e, "HW", l->out.h * l->out.w);
    ev_int(e, "OH", in.h), ev_int(e, "OW", in.w), ev_int(e, "OHW", in.h * in.w);
    ev_int(e, "CK", l->out.c * c->kh * c->kw), ev_int(e, "PH", t.ph), ev_int(e, "PW", t.pw), ev_int(e, "SH", 1), ev_int(e, "SW", 1);
    ev_str(e, "IY", pool_printf("%s + ky", affine("oy", 1, -t.ph)));
    ev_str(e, "IX", pool_printf("%s + kx", affine("ox", 1, -t.pw)));
    ev_str(e, "OXS", "ox");
    ev_str(e, "KXP", affine("kx", 1, -t.pw));
    emit(e, "/* $NAME backward's input gradient is a convolution of dout: its im2col, padded by $PH x $PW */\n");
    emit_im2col(e, &t);
    ev_layer(e, l); /* back to the layer's own geometry */
    conv_vars(e, l);
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

/* After the product: bias[o] added to output channel o, and/or the fused relu. */
static void emit_output_pass(Emitter *e, bool bias, bool relu) {
    if (!bias && !relu) return;
    ev_str(e, "OUTV", bias ? (relu ? "netc_relu(y[i] + bias[o])" : "y[i] + bias[o]") : "netc_relu(y[i])");
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        float *y = out + (long)o * cap * $OHW;\n"
            "        for (long i = 0; i < (long)n * $OHW; i++) y[i] = $OUTV;\n"
            "    }\n");
}

/* Before the products: the fused relu's backward (dout kept where the output
 * is positive) and/or dbias[o] = the sum of output channel o's gradient. */
static void emit_dout_pass(Emitter *e, bool dbias, bool relu) {
    if (!dbias && !relu) return;
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n");
    if (relu)
        emit(e, "        float *dy = dout + (long)o * cap * $OHW;\n"
                "        const float *y = out + (long)o * cap * $OHW;\n");
    else emit(e, "        const float *dy = dout + (long)o * cap * $OHW;\n");
    if (dbias) emit(e, "        float s = 0.0f;\n");
    emit(e, "        for (long i = 0; i < (long)n * $OHW; i++) {\n");
    if (relu) emit(e, "            dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;\n");
    if (dbias) emit(e, "            s += dy[i];\n");
    emit(e, "        }\n");
    if (dbias) emit(e, "        dbias[o] = s;\n");
    emit(e, "    }\n");
}

/* One product per group: M x N = (M x K) . (K x N), with the group's offsets. */
static void emit_gemm(Emitter *e, const char *ta, const char *tb, const char *m, const char *nn, const char *k, const char *a,
                      const char *lda, const char *b, const char *ldb, const char *beta, const char *c, const char *ldc,
                      const char *indent) {
    ev_str(e, "TA", ta), ev_str(e, "TB", tb), ev_str(e, "GM", m), ev_str(e, "GN", nn), ev_str(e, "GK", k);
    ev_str(e, "GA", a), ev_str(e, "LDA", lda), ev_str(e, "GB", b), ev_str(e, "LDB", ldb), ev_str(e, "GBETA", beta);
    ev_str(e, "GC", c), ev_str(e, "LDC", ldc), ev_str(e, "IND", indent);
    emit(e, "$INDnetc_sgemm($TA, $TB, $GM, $GN, $GK, $GA, $LDA, $GB, $LDB, $GBETA, $GC, $LDC);\n");
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
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
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
    emit_output_pass(e, c->bias, l->relu_fused);
    emit(e, "}\n\n");
}

/* The parameters of a matrix-product layer's backward: din where the input
 * needs a gradient, dweight (and dbias) where it trains, the input for
 * dweight, the weight for din, and the output where a relu is fused. */
static void backward_params(Emitter *e, const Layer *l, bool dw, bool din, bool bias) {
    ev_str(e, "DINARG", din ? "float *din, " : "");
    ev_str(e, "DWARG", dw ? (bias ? "float *dweight, float *dbias, " : "float *dweight, ") : "");
    ev_str(e, "XARG", dw ? "const float *in, " : "");
    ev_str(e, "WARG", din ? "const float *weight, " : "");
    ev_str(e, "DOUTARG", l->relu_fused ? "float *dout, const float *out, " : "const float *dout, ");
}

static void emit_conv_backward(Emitter *e, const Layer *l, bool pw) {
    const ConvSpec *c = &l->conv;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, acc = l->grad_accumulate[0];
    backward_params(e, l, dw, din, c->bias);
    ev_str(e, "SCRATCHARG", pw ? "" : ", float *col");
    ev_int(e, "COLSIZE", conv_col_floats(e->net, l));
    emit(e, "/* $NAME backward:");
    if (l->relu_fused) emit(e, " the relu's (dout where out > 0),");
    if (dw) emit(e, " dweight = dout . col^T");
    if (c->bias && dw) emit(e, ", dbias = sums of dout");
    if (din) emit(e, pw ? (acc ? ", din += weight^T . dout" : ", din = weight^T . dout")
                        : (acc ? ", din += col2im(weight^T . dout)" : ", din = col2im(weight^T . dout)"));
    emit(e, " */\n"
            "static void $ID_backward($DINARG$DWARG$DOUTARG$XARG$WARGint n, int cap$SCRATCHARG) {\n");
    emit_dout_pass(e, dw && c->bias, l->relu_fused);
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
        bool by_conv = conv_dx_by_conv(e->net, l);
        if (din && by_conv)
            emit(e, "    float *wt = col + $COLSIZE; /* weight with in and out swapped and the kernel flipped: [$C][$OC][$KH][$KW] */\n"
                    "    for (int c = 0; c < $C; c++)\n"
                    "        for (int o = 0; o < $OC; o++)\n"
                    "            for (int k = 0; k < $KHKW; k++) wt[(c * $OC + o) * $KHKW + k] = weight[(o * $C + c) * $KHKW + $KHKW - 1 - k];\n");
        else if (din)
            emit(e, "    float *dcol = col + $COLSIZE;\n");
        emit(e, "    for (int b0 = 0; b0 < n; b0 += $CH) {\n"
                "        int bc = n - b0 < $CH ? n - b0 : $CH;\n");
        if (dw) {
            emit(e, "        $ID_im2col(col, in, b0, bc, cap);\n");
            emit_group_loop(e, c, "        ");
            emit_gemm(e, "CblasNoTrans", "CblasTrans", "$OCG", "$KG", "bc * $OHW", goff(c, "dout + (long)b0 * $OHW", "$OCG * cap * $OHW"),
                      "cap * $OHW", goff(c, "col", "$KG * bc * $OHW"), "bc * $OHW", "b0 ? 1.0f : 0.0f",
                      goff(c, "dweight", "$OCG * $KG"), "$KG", ind);
        }
        if (din && by_conv) {
            emit(e, "        $ID_im2col_dy(col, dout, b0, bc, cap);\n");
            emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$C", "bc * $HW", "$OC * $KHKW", "wt", "$OC * $KHKW", "col", "bc * $HW",
                      acc ? "1.0f" : "0.0f", "din + (long)b0 * $HW", "cap * $HW", ind);
        } else if (din) {
            emit_group_loop(e, c, "        ");
            emit_gemm(e, "CblasTrans", "CblasNoTrans", "$KG", "bc * $OHW", "$OCG", goff(c, "weight", "$OCG * $KG"), "$KG",
                      goff(c, "dout + (long)b0 * $OHW", "$OCG * cap * $OHW"), "cap * $OHW", "0.0f", goff(c, "dcol", "$KG * bc * $OHW"),
                      "bc * $OHW", ind);
            emit(e, "        $ID_col2im(din, dcol, b0, bc, cap);\n");
        }
        emit(e, "    }\n");
    }
    emit(e, "}\n\n");
}

/* ---- a batch norm folded into its conv, for evaluation (plan.c's conv_bn_folded) ------- */

/* The folded forward's comment, signature and first lines: the batch
 * norm's scale and shift per output channel, for the rest of the body to
 * apply, and $RELU (the batch norm's fused relu). Winograd convs take their
 * scratch, direct ones none. */
static void emit_fold_head(Emitter *e, const Layer *l, const Layer *bn, const char *where) {
    ev_str(e, "BN", bn->name);
    ev_str(e, "EPS", float_lit(bn->eps));
    ev_int(e, "RELU", bn->relu_fused);
    ev_str(e, "BNRELU", bn->relu_fused ? pool_printf(" and %s", e->net->layers[bn - e->net->layers + 1].name) : "");
    ev_str(e, "WHERE", where);
    ev_str(e, "BSHIFT", l->conv.bias ? " + (bias[o] - mean[o]) * scale[o]" : " - mean[o] * scale[o]");
    ev_str(e, "COLARG", conv_is_winograd(e->net, l) ? ", float *col" : "");
    ev_str(e, "PAD", pool_printf("%*s", (int)strlen(l->id) + 25, "")); /* under the ( of "static void <id>_forward_eval(" */
    const Layer *pool = conv_pool_folded(e->net, l);
    ev_int(e, "POOL", pool ? 2 : 1);
    ev_str(e, "ANDPOOL", pool ? pool_printf(", and %s,", pool->name) : "");
    ev_str(e, "POOLWHERE", pool ? ", each 4x4 tile of outputs max-pooled 2x2 as it is stored:\n *  " : ":");
    ev_str(e, "OUTDOC", pool ? pool_printf("max2x2(relu(conv * scale + shift)), [$OC][cap][%ld][%ld],", pool->out.h, pool->out.w)
                             : "relu(conv * scale + shift),");
    emit(e, "/* $NAME, $BN$BNRELU$ANDPOOL in evaluation: the batch norm's running statistics folded into\n"
            " *   $WHERE$POOLWHERE out = $OUTDOC with no pass of its own */\n"
            "static void $ID_forward_eval(float *out, const float *in, const float *weight$BIASARG, const float *gamma,\n"
            "$PAD const float *beta, const float *mean, const float *var, int n, int cap$COLARG) {\n"
            "    float scale[$OC], shift[$OC];\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        scale[o] = gamma[o] / sqrtf(var[o] + $EPS);\n"
            "        shift[o] = beta[o]$BSHIFT;\n"
            "    }\n");
}

/* ---- Winograd: 3x3, stride 1, pad 1 ------------------------------------------------------ */

static void emit_conv_forward_wino(Emitter *e, const Layer *l) {
    ev_str(e, "EPILOGUE", pool_printf("NULL, %s, %d, 1", l->conv.bias ? "bias" : "NULL", l->relu_fused));
    ev_str(e, "EPIDOC", l->conv.bias || l->relu_fused ? pool_printf(" /* no scale; %s; %s; not pooled */",
                                                                    l->conv.bias ? "the bias as shift" : "no shift",
                                                                    l->relu_fused ? "relu" : "no relu")
                                                       : " /* no scale, shift or relu; not pooled */");
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$C][3][3]$BIASDOC\n"
            " *   by Winograd's F(4x4, 3x3) (runtime/winograd.h), $WCH images at a time */\n"
            "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap, float *col) {\n"
            "    netc_wino_forward(out, in, weight, $EPILOGUE,$EPIDOC\n"
            "                      $C, $OC, $H, $W, n, cap, $WCH, col);\n"
            "}\n\n");
    const Layer *bn = conv_bn_folded(e->net, l);
    if (!bn) return;
    emit_fold_head(e, l, bn, "the conv's output transform");
    emit(e, "    netc_wino_forward(out, in, weight, scale, shift, $RELU, $POOL, $C, $OC, $H, $W, n, cap, $WCH, col);\n"
            "}\n\n");
}

static void emit_conv_backward_wino(Emitter *e, const Layer *l) {
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad;
    backward_params(e, l, dw, din, l->conv.bias);
    ev_int(e, "ACC", l->grad_accumulate[0]);
    emit(e, "/* $NAME backward:");
    if (l->relu_fused) emit(e, " the relu's (dout where out > 0),");
    if (l->conv.bias && dw) emit(e, " dbias = sums of dout,");
    emit(e, dw && din ? " dweight and din" : dw ? " dweight" : " din");
    emit(e, l->grad_accumulate[0] && din ? " (added)" : "");
    emit(e, " by Winograd's F(4x4, 3x3) */\n"
            "static void $ID_backward($DINARG$DWARG$DOUTARG$XARG$WARGint n, int cap, float *col) {\n");
    emit_dout_pass(e, dw && l->conv.bias, l->relu_fused);
    if (dw) emit(e, "    netc_wino_backward_weight(dweight, dout, in, $C, $OC, $H, $W, n, cap, $WCH, col);\n");
    if (din) emit(e, "    netc_wino_backward_input(din, dout, weight, $C, $OC, $H, $W, n, cap, $WCH, $ACC, col);\n");
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
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$O][cap], weight $WDOC$BIASDOC; one sgemm for the batch */\n"
            "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap$SCRATCHARG) {\n");
    if (gather) emit(e, "    $ID_gather(x, in, n, cap);\n");
    emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$O", "n", "$K", "weight", "$K", gather ? "x" : "in", gather ? "n" : "cap", "0.0f",
              "out", "cap", "    ");
    ev_int(e, "OC", o), ev_int(e, "OHW", 1);
    emit_output_pass(e, bias, l->relu_fused);
    emit(e, "}\n\n");
    if (!l->run_backward) return;
    backward_params(e, l, dw, din, bias);
    ev_str(e, "RELUDOC", l->relu_fused ? " the relu's (dout where out > 0)," : "");
    emit(e, "/* $NAME backward:$RELUDOC dweight = dout . x^T, dbias = sums of dout, din (+)= weight^T . dout */\n"
            "static void $ID_backward($DINARG$DWARG$DOUTARG$XARG$WARGint n, int cap$SCRATCHARG) {\n");
    emit_dout_pass(e, dw && bias, l->relu_fused);
    if (dw) {
        if (gather) emit(e, "    $ID_gather(x, in, n, cap);\n");
        emit_gemm(e, "CblasNoTrans", "CblasTrans", "$O", "$K", "n", "dout", "cap", gather ? "x" : "in", gather ? "n" : "cap", "0.0f",
                  "dweight", "$K", "    ");
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

/* Direct forward (conv_is_direct): each strip of NETC_VW outputs of one
 * image row is a sum of $CK input strips, one weight each; the strip's sums
 * for a block of output channels stay in vector registers while each input
 * strip is loaded once per block. The last strip overlaps the one before it.
 * A padded conv first copies the input rows under the output row into a
 * zero-bordered buffer, so the strips need no bounds checks. shift (the bias,
 * or a folded batch norm's shift) starts the sums. */
static void emit_conv_direct(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    bool pad = c->pw || c->ph;
    ev_int(e, "OB", l->out.c <= 16 ? l->out.c : 16);
    ev_int(e, "ROW", e->net->layers[l->in[0]].out.w + 2 * c->pw);
    ev_str(e, "DPAD", pool_printf("%*s", (int)strlen(l->id) + 26, "")); /* under the ( of "static inline void <id>_direct(" */
    ev_str(e, "XROW", pad ? "rows[c][ky] + ox0" : "in + ((long)c * cap + b) * $HW + (oy + ky) * $W + ox0");
    emit(e, "/* $NAME: out [$OC][cap][$OH][$OW] = in [$C][cap][$H][$W] convolved with weight [$OC][$C][$KH][$KW],\n"
            " *   plus shift [$OC] (or 0 if NULL), then relu if asked; direct, no im2col (its columns would be\n"
            " *   $CK times the input): per image row, strips of NETC_VW outputs, $OB channels' sums in registers */\n"
            "static inline void $ID_direct(float *out, const float *in, const float *weight, const float *shift, int relu,\n"
            "$DPAD int n, int cap) {\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (long p = 0; p < (long)n * $OH; p++) {\n"
            "        int b = (int)(p / $OH), oy = (int)(p % $OH);\n");
    if (pad)
        emit(e, "        float rows[$C][$KH][$ROW]; /* the input rows under this output row, padded with zeros */\n"
                "        for (int c = 0; c < $C; c++)\n"
                "            for (int ky = 0; ky < $KH; ky++) {\n"
                "                int iy = oy - $PH + ky;\n"
                "                memset(rows[c][ky], 0, sizeof rows[c][ky]);\n"
                "                if (iy >= 0 && iy < $H) memcpy(rows[c][ky] + $PW, in + ((long)c * cap + b) * $HW + (long)iy * $W, sizeof(float) * $W);\n"
                "            }\n");
    emit(e, "        for (int s0 = 0; s0 < $OW; s0 += NETC_VW) {\n"
            "            int ox0 = s0 + NETC_VW <= $OW ? s0 : $OW - NETC_VW;\n"
            "            for (int o0 = 0; o0 < $OC; o0 += $OB) {\n"
            "                netc_vf acc[$OB];\n"
            "                for (int o = 0; o < $OB; o++) acc[o] = (netc_vf){0} + (shift ? shift[o0 + o] : 0.0f);\n"
            "                for (int c = 0; c < $C; c++)\n"
            "                    for (int ky = 0; ky < $KH; ky++) {\n"
            "                        const float *x = $XROW;\n"
            "                        for (int kx = 0; kx < $KW; kx++) {\n"
            "                            netc_vf xv = netc_vload(x + kx);\n"
            "                            const float *w = weight + ((long)o0 * $C + c) * $KHKW + ky * $KW + kx;\n"
            "#pragma GCC unroll 16\n"
            "                            for (int o = 0; o < $OB; o++) acc[o] += w[o * $CK] * xv;\n"
            "                        }\n"
            "                    }\n"
            "                for (int o = 0; o < $OB; o++)\n"
            "                    netc_vstore(out + ((long)(o0 + o) * cap + b) * $OHW + oy * $OW + ox0, relu ? netc_vrelu(acc[o]) : acc[o]);\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "}\n\n");
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$C][$KH][$KW]$BIASDOC */\n"
            "static void $ID_forward(float *out, const float *in, const float *weight$BIASARG, int n, int cap) {\n");
    ev_str(e, "SHIFT", c->bias ? "bias" : "NULL");
    ev_int(e, "RELU", l->relu_fused);
    emit(e, "    $ID_direct(out, in, weight, $SHIFT, $RELU, n, cap);\n"
            "}\n\n");
    const Layer *bn = conv_bn_folded(e->net, l);
    if (!bn) return;
    emit_fold_head(e, l, bn, "the kernel (scale) and the sums' start (shift)");
    emit(e, "    float w[$OC * $CK];\n"
            "    for (int k = 0; k < $OC * $CK; k++) w[k] = weight[k] * scale[k / $CK];\n"
            "    $ID_direct(out, in, w, shift, $RELU, n, cap);\n"
            "}\n\n");
}

/* Sparse backward (conv_dout_sparse): the conv's dout would be zero but at
 * the max pool's argmax, so this takes the pool's dout and argmax instead
 * (the pool's own backward is skipped) and gathers the input patch under
 * each window's maximum. One output channel per thread: nothing shared. */
static void emit_conv_backward_sparse(Emitter *e, const Layer *l) {
    const ConvSpec *c = &l->conv;
    const Layer *pool = conv_pool_reader(e->net, l);
    ev_str(e, "POOL", pool->name);
    ev_int(e, "PHW", pool->out.h * pool->out.w);
    ev_str(e, "DBARG", c->bias ? "float *dbias, " : "");
    ev_str(e, "DBSUM", c->bias ? ", dbias = sums of dout" : "");
    ev_str(e, "INB", c->ph || c->pw ? "if (iy >= 0 && iy < $H && ix >= 0 && ix < $W) " : "");
    emit(e, "/* $NAME backward, with $POOL's: dweight = dout . col^T$DBSUM, where dout is $POOL's\n"
            " *   gradient [$OC][cap][$PHW] placed at its argmax (the rest is zero): the input patches\n"
            " *   under the $PHW maxima of each image and channel, no im2col */\n"
            "static void $ID_backward(float *dweight, $DBARGconst float *dpool, const int32_t *argmax, const float *in, int n, int cap) {\n"
            "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        float dw[$CK] = {0}, s = 0.0f;\n"
            "        for (int b = 0; b < n; b++) {\n"
            "            const float *dy = dpool + ((long)o * cap + b) * $PHW;\n"
            "            const int32_t *am = argmax + ((long)o * cap + b) * $PHW;\n"
            "            for (int j = 0; j < $PHW; j++) {\n"
            "                float d = dy[j];\n"
            "                int oy = am[j] / $OW, ox = am[j] % $OW;\n"
            "                s += d;\n"
            "                for (int c = 0; c < $C; c++) {\n"
            "                    const float *x = in + ((long)c * cap + b) * $HW;\n"
            "                    for (int ky = 0; ky < $KH; ky++)\n"
            "                        for (int kx = 0; kx < $KW; kx++) {\n"
            "                            int iy = $IY, ix = $IX;\n"
            "                            $INBdw[(c * $KH + ky) * $KW + kx] += d * x[iy * $W + ix];\n"
            "                        }\n"
            "                }\n"
            "            }\n"
            "        }\n"
            "        memcpy(dweight + (long)o * $CK, dw, sizeof dw);\n");
    if (c->bias) emit(e, "        dbias[o] = s;\n");
    else emit(e, "        (void)s;\n");
    emit(e, "    }\n"
            "}\n\n");
}

void emit_conv(Emitter *e, const Layer *l) {
    Shape in = e->net->layers[l->in[0]].out;
    if (conv_is_full(e->net, l)) {
        emit_matmul(e, l, l->conv.out, l->conv.bias, pool_printf("[%ld][%ld][%ld][%ld]", l->conv.out, in.c, in.h, in.w));
        return;
    }
    conv_vars(e, l);
    bool pw = conv_is_pointwise(l), din = e->net->layers[l->in[0]].needs_grad;
    bool direct = conv_is_direct(e->net, l), sparse = l->run_backward && conv_dout_sparse(e->net, l);
    if (conv_is_winograd(e->net, l)) {
        ev_int(e, "WCH", conv_wino_chunk(e->net, l));
        emit_conv_forward_wino(e, l);
        if (l->run_backward) emit_conv_backward_wino(e, l);
        return;
    }
    if (!pw && (!direct || (l->run_backward && !l->frozen && !sparse))) emit_im2col(e, &l->conv);
    if (!pw && l->run_backward && din) {
        if (conv_dx_by_conv(e->net, l)) emit_im2col_dy(e, l);
        else emit_col2im(e, &l->conv, l->grad_accumulate[0]);
    }
    if (direct) emit_conv_direct(e, l);
    else emit_conv_forward(e, l, pw);
    if (sparse) emit_conv_backward_sparse(e, l);
    else if (l->run_backward) emit_conv_backward(e, l, pw);
}

void emit_linear(Emitter *e, const Layer *l) {
    Shape in = e->net->layers[l->in[0]].out;
    emit_matmul(e, l, l->linear.out, l->linear.bias, pool_printf("[%ld][%ld]", l->linear.out, in.c * in.h * in.w));
}
