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
 * on the same OpenMP pool, called from outside any parallel region.
 *
 * Which algorithm a conv runs, its chunks and what it folds are the plan's
 * (kinds/conv.c, ConvSpec.plan); this file only writes them out. */
#include <string.h>

#include "emit.h"
#include "pool.h"

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

/* One output row oy of one row of col (input channel c, tap ky, kx) at dst,
 * from the input image x: its input row's values at the stride, 0 in the
 * padding. Lines start with ind. */
static void emit_col_row(Emitter *e, const ConvSpec *c, const char *ind, const char *dst) {
    ev_str(e, "RI", ind), ev_str(e, "DST", dst);
    if (c->pw || c->ph)
        emit(e, "$RIint iy = $IY;\n"
                "$RIfloat *dr = $DST;\n"
                "$RIif (iy < 0 || iy >= $H) {\n"
                "$RI    memset(dr, 0, sizeof(float) * $OW);\n"
                "$RI    continue;\n"
                "$RI}\n"
                "$RIconst float *row = x + iy * $W + $KXP;\n"
                "$RIfor (int ox = 0; ox < lo; ox++) dr[ox] = 0.0f;\n"
                "$RIfor (int ox = lo; ox < hi; ox++) dr[ox] = row[$OXS];\n"
                "$RIfor (int ox = hi; ox < $OW; ox++) dr[ox] = 0.0f;\n");
    else
        emit(e, "$RIconst float *row = x + ($IY) * $W + kx;\n"
                "$RIfloat *dr = $DST;\n"
                "$RIfor (int ox = 0; ox < $OW; ox++) dr[ox] = row[$OXS];\n");
}

static void emit_im2col(Emitter *e, const ConvSpec *c) {
    ev_str(e, "COLCONST", ""), ev_str(e, "INCONST", "const ");
    if (!c->groups) ev_str(e, "SUF", "_dy");
    else ev_str(e, "SUF", "");
    emit(e, "/* $NAME: im2col of images [b0, b0 + bc). col[c][ky][kx][b][oy][ox] = in[c][b0 + b][$IY][$IX],\n"
            " * 0 in the padding */\n"
            "static void $ID_im2col$SUF(float *restrict col, const float *restrict in, int b0, int bc, int cap) {\n");
    emit_row_open(e, c, false);
    emit_col_row(e, c, "                    ", "d + ((long)b * $OH + oy) * $OW");
    emit_row_close(e);
}

/* The tiled forward's im2col: output rows [oy0, oy0 + rows) of image b, on
 * the calling thread. col[c][ky][kx][oy - oy0][ox] = in[c][b][$IY][$IX]. */
static void emit_im2col_rows(Emitter *e, const ConvSpec *c) {
    emit(e, "/* $NAME: im2col of output rows [oy0, oy0 + rows) of image b, on this thread:\n"
            " * col[c][ky][kx][oy - oy0][ox] = in[c][b][$IY][$IX], 0 in the padding */\n"
            "static void $ID_im2col_rows(float *restrict col, const float *restrict in, int b, int oy0, int rows, int cap) {\n"
            "    for (int r = 0; r < $CK; r++) { /* one row of col: input channel c, kernel tap (ky, kx) */\n"
            "        int c = r / $KHKW, ky = r % $KHKW / $KW, kx = r % $KW;\n"
            "        float *d = col + (long)r * rows * $OW;\n"
            "        const float *x = in + ((long)c * cap + b) * $HW;\n");
    if (c->pw || c->ph)
        emit(e, "        int lo = netc_clamp(netc_ceildiv($PW - kx, $SW), 0, $OW);\n"
                "        int hi = netc_clamp(netc_floordiv($W - 1 + $PW - kx, $SW) + 1, lo, $OW);\n");
    emit(e, "        for (int oy = oy0; oy < oy0 + rows; oy++) {\n");
    emit_col_row(e, c, "            ", "d + (long)(oy - oy0) * $OW");
    emit(e, "        }\n"
            "    }\n"
            "}\n\n");
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
    const ConvSpec *c = CONV(l);
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
    const ConvSpec *c = CONV(l);
    const Shape in = e->net->layers[l->in[0]].out;
    long cg = in.c / c->groups;
    ev_int(e, "KH", c->kh), ev_int(e, "KW", c->kw), ev_int(e, "KHKW", c->kh * c->kw);
    ev_int(e, "SH", c->sh), ev_int(e, "SW", c->sw);
    ev_int(e, "PH", c->ph), ev_int(e, "PW", c->pw);
    ev_int(e, "G", c->groups), ev_int(e, "CG", cg), ev_int(e, "OCG", c->out / c->groups);
    ev_int(e, "CK", in.c * c->kh * c->kw);
    ev_int(e, "KG", cg * c->kh * c->kw); /* the inner dimension of one group's product */
    ev_int(e, "CH", c->plan.chunk);
    ev_str(e, "IY", affine("oy", c->sh, -c->ph)), ev_str(e, "IX", affine("ox", c->sw, -c->pw));
    ev_str(e, "IY", pool_printf("%s + ky", affine("oy", c->sh, -c->ph)));
    ev_str(e, "IX", pool_printf("%s + kx", affine("ox", c->sw, -c->pw)));
    ev_str(e, "OXS", affine("ox", c->sw, 0));
    ev_str(e, "KXP", affine("kx", 1, -c->pw));
    ev_str(e, "BIASDOC", c->bias ? pool_printf(", bias [%ld]", c->out) : "");
    ev_str(e, "GROUPSDOC", c->groups > 1 ? pool_printf(", %ld groups", c->groups) : "");
}

/* After the product: bias[o] added to output channel o, and/or the fused relu. */
static void emit_output_pass(Emitter *e, const Layer *l, bool bias) {
    bool relu = l->relu_fused;
    if (!bias && !relu) return;
    ev_str(e, "OUTV", bias ? (relu ? fused_relu(l, "y[i] + bias[o]") : "y[i] + bias[o]") : fused_relu(l, "y[i]"));
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        float *y = out + (long)o * cap * $OHW;\n"
            "        for (long i = 0; i < (long)n * $OHW; i++) y[i] = $OUTV;\n"
            "    }\n");
}

/* Before the products: the fused relu's backward (dout kept where the output
 * is positive) and/or dbias[o] = the sum of output channel o's gradient. */
static void emit_dout_pass(Emitter *e, const Layer *l, bool dbias) {
    bool relu = l->relu_fused;
    if (!dbias && !relu) return;
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int o = 0; o < $OC; o++) {\n");
    if (relu)
        emit(e, "        float *dy = dout + (long)o * cap * $OHW;\n"
                "        const float *y = out + (long)o * cap * $OHW;\n");
    else emit(e, "        const float *dy = dout + (long)o * cap * $OHW;\n");
    if (dbias) emit(e, "        float s = 0.0f;\n");
    emit(e, "        for (long i = 0; i < (long)n * $OHW; i++) {\n");
    if (relu) {
        ev_str(e, "DYMASK", fused_relu_grad(l, "y[i]", "dy[i]"));
        emit(e, "            dy[i] = $DYMASK;\n");
    }
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

static void emit_conv_forward(Emitter *e, const Layer *l, const LayerFns *f, bool pw) {
    const ConvSpec *c = CONV(l);
    const char *ind = c->groups > 1 ? "            " : "        ";
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$CG][$KH][$KW]$BIASDOC$GROUPSDOC\n");
    if (pw) {
        emit(e, " *   1x1, stride 1: out = weight . in, one sgemm for the batch */\n");
        fn_define(e, &f->forward);
        emit_group_loop(e, c, "    ");
        emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$OCG", "n * $OHW", "$KG", goff(c, "weight", "$OCG * $KG"), "$KG",
                  goff(c, "in", "$KG * cap * $HW"), "cap * $HW", "0.0f", goff(c, "out", "$OCG * cap * $OHW"), "cap * $OHW",
                  c->groups > 1 ? "        " : "    ");
    } else if (c->plan.tile_rows) {
        long tr = c->plan.tile_rows, tile = c->kh * c->kw * in_shape(e->net, l).c * tr * l->out.w;
        ev_int(e, "TR", tr), ev_int(e, "TILES", (l->out.h + tr - 1) / tr), ev_int(e, "TCOL", tile);
        ev_int(e, "SLOTS", c->plan.col_floats / tile);
        ev_str(e, "OUTV", c->bias ? fused_relu(l, "y[i] + bias[o]") : fused_relu(l, "y[i]"));
        emit(e, " *   per tile of $TR output rows of one image, a thread each: im2col of the tile into the thread's\n"
                " *   part of col, out[:, tile] = weight . col, then the bias, while the tile is in cache. col has\n"
                " *   room for $SLOTS tiles, so at most $SLOTS threads; each tile's product is the same whichever runs it */\n");
        fn_define(e, &f->forward);
        emit(e, "    int tiles = n * $TILES, threads = omp_get_max_threads() < $SLOTS ? omp_get_max_threads() : $SLOTS;\n"
                "#pragma omp parallel num_threads(threads)\n"
                "    {\n"
                "        float *tc = col + (long)omp_get_thread_num() * $TCOL;\n"
                "#pragma omp for schedule(dynamic)\n"
                "        for (int t = 0; t < tiles; t++) {\n"
                "            int b = t / $TILES, oy0 = t % $TILES * $TR, rows = $OH - oy0 < $TR ? $OH - oy0 : $TR;\n"
                "            $ID_im2col_rows(tc, in, b, oy0, rows, cap);\n"
                "            float *tile = out + (long)b * $OHW + oy0 * $OW;\n"
                "            netc_sgemm(CblasNoTrans, CblasNoTrans, $OC, rows * $OW, $CK, weight, $CK, tc, rows * $OW, 0.0f, tile, cap * $OHW);\n");
        if (c->bias || l->relu_fused)
            emit(e, "            for (int o = 0; o < $OC; o++) {\n"
                    "                float *y = tile + (long)o * cap * $OHW;\n"
                    "                for (int i = 0; i < rows * $OW; i++) y[i] = $OUTV;\n"
                    "            }\n");
        emit(e, "        }\n"
                "    }\n"
                "}\n\n");
        return;
    } else {
        emit(e, " *   per chunk of up to $CH images: im2col, then out[:, chunk] = weight . col */\n");
        fn_define(e, &f->forward);
        emit(e, "    for (int b0 = 0; b0 < n; b0 += $CH) {\n"
                "        int bc = n - b0 < $CH ? n - b0 : $CH;\n"
                "        $ID_im2col(col, in, b0, bc, cap);\n");
        emit_group_loop(e, c, "        ");
        emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$OCG", "bc * $OHW", "$KG", goff(c, "weight", "$OCG * $KG"), "$KG",
                  goff(c, "col", "$KG * bc * $OHW"), "bc * $OHW", "0.0f",
                  goff(c, "out + (long)b0 * $OHW", "$OCG * cap * $OHW"), "cap * $OHW", ind);
        emit(e, "    }\n");
    }
    emit_output_pass(e, l, c->bias);
    emit(e, "}\n\n");
}

/* A matrix-product layer's forward (conv, linear): out, in, weight (and
 * bias), and its scratch if it takes one. */
static void forward_fn(const Emitter *e, const Layer *l, Fn *f, bool bias, const char *scratch) {
    fn_init(f, l, "forward");
    fn_param(f, "float *out", arg_act(l));
    fn_param(f, "const float *in", arg_act(&e->net->layers[l->in[0]]));
    fn_param(f, "const float *weight", arg_param(l, "weight"));
    if (bias) fn_param(f, "const float *bias", arg_param(l, "bias"));
    fn_n_cap(f);
    if (scratch) fn_param(f, scratch, "m->scratch");
}

/* Its backward: din where the input needs a gradient, dweight (and dbias)
 * where it trains, dout (and the output where a relu is fused: dout is
 * masked in place), the input for dweight, the weight for din, scratch. */
static void backward_fn(const Emitter *e, const Layer *l, Fn *f, bool bias, const char *scratch) {
    const Layer *s = &e->net->layers[l->in[0]];
    bool dw = !l->frozen, din = s->needs_grad;
    fn_init(f, l, "backward");
    if (din) fn_param(f, "float *din", arg_grad(s));
    if (dw) fn_param(f, "float *dweight", arg_pgrad(l, "weight"));
    if (dw && bias) fn_param(f, "float *dbias", arg_pgrad(l, "bias"));
    if (l->relu_fused) fn_param(f, "float *dout", arg_grad(l)), fn_param(f, "const float *out", arg_act(l));
    else fn_param(f, "const float *dout", arg_grad(l));
    if (dw) fn_param(f, "const float *in", arg_act(s));
    if (din) fn_param(f, "const float *weight", arg_param(l, "weight"));
    fn_n_cap(f);
    if (scratch) fn_param(f, scratch, "m->scratch");
}

/* " the relu's (dout where out > 0)," in a backward's comment */
static void emit_relu_doc(Emitter *e, const Layer *l) {
    if (!l->relu_fused) return;
    emit(e, l->relu_slope ? " the leaky relu's (dout where out > 0, else slope * dout)," : " the relu's (dout where out > 0),");
}

static void emit_conv_backward(Emitter *e, const Layer *l, const LayerFns *f, bool pw) {
    const ConvSpec *c = CONV(l);
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, acc = l->grad_accumulate[0];
    ev_int(e, "COLSIZE", c->plan.col_floats);
    emit(e, "/* $NAME backward:");
    emit_relu_doc(e, l);
    if (dw) emit(e, " dweight = dout . col^T");
    if (c->bias && dw) emit(e, ", dbias = sums of dout");
    if (din) emit(e, pw ? (acc ? ", din += weight^T . dout" : ", din = weight^T . dout")
                        : (acc ? ", din += col2im(weight^T . dout)" : ", din = col2im(weight^T . dout)"));
    emit(e, " */\n");
    fn_define(e, &f->backward);
    emit_dout_pass(e, l, dw && c->bias);
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
        bool by_conv = c->plan.dx_by_conv;
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

/* ---- a batch norm folded into its conv, for evaluation (ConvPlan.fold_bn) ------------- */

/* The folded forward's parameters: the conv's, the batch norm's four
 * tensors, and the Winograd conv's scratch; it writes the batch norm's
 * output, or the max pool's after it (ConvPlan.fold_pool). */
static void eval_fn(const Emitter *e, const Layer *l, Fn *f) {
    const ConvPlan *p = &CONV(l)->plan;
    const Layer *bn = &e->net->layers[p->fold_bn];
    fn_init(f, l, "forward_eval");
    fn_param(f, "float *out", arg_act(&e->net->layers[p->fold_pool >= 0 ? p->fold_pool : p->fold_bn]));
    fn_param(f, "const float *in", arg_act(&e->net->layers[l->in[0]]));
    fn_param(f, "const float *weight", arg_param(l, "weight"));
    if (CONV(l)->bias) fn_param(f, "const float *bias", arg_param(l, "bias"));
    fn_param(f, "const float *gamma", arg_param(bn, "weight"));
    fn_param(f, "const float *beta", arg_param(bn, "bias"));
    fn_param(f, "const float *mean", arg_param(bn, "running_mean"));
    fn_param(f, "const float *var", arg_param(bn, "running_var"));
    fn_n_cap(f);
    if (p->algo == CONV_WINOGRAD) fn_param(f, "float *col", "m->scratch");
}

/* The folded forward's comment, first line and first lines of body: the
 * batch norm's scale and shift per output channel, for the rest of the
 * body to apply, and $RELU (the batch norm's fused relu). */
static void emit_fold_head(Emitter *e, const Layer *l, const LayerFns *f, const char *where) {
    const ConvPlan *p = &CONV(l)->plan;
    const Layer *bn = &e->net->layers[p->fold_bn];
    const Layer *pool = p->fold_pool >= 0 ? &e->net->layers[p->fold_pool] : NULL;
    ev_str(e, "BN", bn->name);
    ev_str(e, "EPS", float_lit(BATCHNORM(bn)->eps));
    ev_int(e, "RELU", bn->relu_fused);
    ev_str(e, "BNRELU", bn->relu_fused ? pool_printf(" and %s", e->net->layers[bn->fused_relu].name) : "");
    ev_str(e, "WHERE", where);
    ev_str(e, "BSHIFT", CONV(l)->bias ? " + (bias[o] - mean[o]) * scale[o]" : " - mean[o] * scale[o]");
    ev_int(e, "POOL", pool ? 2 : 1);
    ev_str(e, "ANDPOOL", pool ? pool_printf(", and %s,", pool->name) : "");
    ev_str(e, "POOLWHERE", pool ? ", each 4x4 tile of outputs max-pooled 2x2 as it is stored:\n *  " : ":");
    ev_str(e, "OUTDOC", pool ? pool_printf("max2x2(relu(conv * scale + shift)), [$OC][cap][%ld][%ld],", pool->out.h, pool->out.w)
                             : "relu(conv * scale + shift),");
    emit(e, "/* $NAME, $BN$BNRELU$ANDPOOL in evaluation: the batch norm's running statistics folded into\n"
            " *   $WHERE$POOLWHERE out = $OUTDOC with no pass of its own */\n");
    fn_define(e, &f->eval);
    emit(e, "    float scale[$OC], shift[$OC];\n"
            "    for (int o = 0; o < $OC; o++) {\n"
            "        scale[o] = gamma[o] / sqrtf(var[o] + $EPS);\n"
            "        shift[o] = beta[o]$BSHIFT;\n"
            "    }\n");
}

/* ---- Winograd: 3x3, stride 1, pad 1; 5x5, stride 1, pad 2 ------------------------------------ */

static void emit_conv_forward_wino(Emitter *e, const Layer *l, const LayerFns *f) {
    const ConvSpec *c = CONV(l);
    ev_str(e, "EPILOGUE", pool_printf("NULL, %s, %d, 1", c->bias ? "bias" : "NULL", l->relu_fused));
    ev_str(e, "EPIDOC", c->bias || l->relu_fused ? pool_printf(" /* no scale; %s; %s; not pooled */",
                                                              c->bias ? "the bias as shift" : "no shift",
                                                              l->relu_fused ? "relu" : "no relu")
                                                 : " /* no scale, shift or relu; not pooled */");
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$C][$KH][$KW]$BIASDOC\n"
            " *   by Winograd's $WINO (runtime/winograd.h), $WCH images at a time */\n");
    fn_define(e, &f->forward);
    emit(e, "    netc_wino_forward(out, in, weight, $EPILOGUE,$EPIDOC\n"
            "                      $KW, $C, $OC, $H, $W, n, cap, $WCH, col);\n"
            "}\n\n");
    if (c->plan.fold_bn < 0) return;
    emit_fold_head(e, l, f, "the conv's output transform");
    emit(e, "    netc_wino_forward(out, in, weight, scale, shift, $RELU, $POOL, $KW, $C, $OC, $H, $W, n, cap, $WCH, col);\n"
            "}\n\n");
}

static void emit_conv_backward_wino(Emitter *e, const Layer *l, const LayerFns *f) {
    const ConvSpec *c = CONV(l);
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad;
    ev_int(e, "ACC", l->grad_accumulate[0]);
    emit(e, "/* $NAME backward:");
    emit_relu_doc(e, l);
    if (c->bias && dw) emit(e, " dbias = sums of dout,");
    emit(e, dw && din ? " dweight and din" : dw ? " dweight" : " din");
    emit(e, l->grad_accumulate[0] && din ? " (added)" : "");
    emit(e, " by Winograd's $WINO */\n");
    fn_define(e, &f->backward);
    emit_dout_pass(e, l, dw && c->bias);
    if (dw) emit(e, "    netc_wino_backward_weight(dweight, dout, in, $KW, $C, $OC, $H, $W, n, cap, $WCH, col);\n");
    if (din) emit(e, "    netc_wino_backward_input(din, dout, weight, $KW, $C, $OC, $H, $W, n, cap, $WCH, $ACC, col);\n");
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
static void emit_matmul(Emitter *e, const Layer *l, const LayerFns *f, long o, bool bias, const char *wdoc) {
    const Shape in = e->net->layers[l->in[0]].out;
    bool dw = !l->frozen, din = e->net->layers[l->in[0]].needs_grad, acc = l->grad_accumulate[0];
    bool gather = in.h * in.w > 1; /* a 1x1 input already is the [K][cap] matrix */
    ev_int(e, "K", in.c * in.h * in.w);
    ev_int(e, "O", o);
    ev_str(e, "WDOC", wdoc);
    ev_str(e, "BIASDOC", bias ? pool_printf(", bias [%ld]", o) : "");
    if (gather) emit_gather(e, false, false);
    if (gather && l->run_backward && din) emit_gather(e, true, acc);
    emit(e, "/* $NAME: $DESC$RELUDOC\n"
            " *   in [$C][cap][$H][$W] -> out [$O][cap], weight $WDOC$BIASDOC; one sgemm for the batch */\n");
    fn_define(e, &f->forward);
    if (gather) emit(e, "    $ID_gather(x, in, n, cap);\n");
    emit_gemm(e, "CblasNoTrans", "CblasNoTrans", "$O", "n", "$K", "weight", "$K", gather ? "x" : "in", gather ? "n" : "cap", "0.0f",
              "out", "cap", "    ");
    ev_int(e, "OC", o), ev_int(e, "OHW", 1);
    emit_output_pass(e, l, bias);
    emit(e, "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward:");
    emit_relu_doc(e, l);
    emit(e, " dweight = dout . x^T, dbias = sums of dout, din (+)= weight^T . dout */\n");
    fn_define(e, &f->backward);
    emit_dout_pass(e, l, dw && bias);
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

/* Direct forward (CONV_DIRECT): each strip of NETC_VW outputs of one
 * image row is a sum of $CK input strips, one weight each; the strip's sums
 * for a block of output channels stay in vector registers while each input
 * strip is loaded once per block. The last strip overlaps the one before it.
 * A padded conv first copies the input rows under the output row into a
 * zero-bordered buffer, so the strips need no bounds checks. shift (the bias,
 * or a folded batch norm's shift) starts the sums. */
static void emit_conv_direct(Emitter *e, const Layer *l, const LayerFns *f) {
    const ConvSpec *c = CONV(l);
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
            " *   in [$C][cap][$H][$W] -> out [$OC][cap][$OH][$OW], weight [$OC][$C][$KH][$KW]$BIASDOC */\n");
    fn_define(e, &f->forward);
    ev_str(e, "SHIFT", c->bias ? "bias" : "NULL");
    ev_int(e, "RELU", l->relu_fused);
    emit(e, "    $ID_direct(out, in, weight, $SHIFT, $RELU, n, cap);\n"
            "}\n\n");
    if (c->plan.fold_bn < 0) return;
    emit_fold_head(e, l, f, "the kernel (scale) and the sums' start (shift)");
    emit(e, "    float w[$OC * $CK];\n"
            "    for (int k = 0; k < $OC * $CK; k++) w[k] = weight[k] * scale[k / $CK];\n"
            "    $ID_direct(out, in, w, shift, $RELU, n, cap);\n"
            "}\n\n");
}

/* Sparse backward (ConvPlan.sparse_pool): the conv's dout would be zero but
 * at the max pool's argmax, so this takes the pool's dout and argmax instead
 * (the pool's own backward is skipped) and gathers the input patch under
 * each window's maximum. One output channel per thread: nothing shared. */
static void sparse_backward_fn(const Emitter *e, const Layer *l, Fn *f) {
    const Layer *pool = &e->net->layers[CONV(l)->plan.sparse_pool];
    fn_init(f, l, "backward");
    fn_param(f, "float *dweight", arg_pgrad(l, "weight"));
    if (CONV(l)->bias) fn_param(f, "float *dbias", arg_pgrad(l, "bias"));
    fn_param(f, "const float *dpool", arg_grad(pool));
    fn_param(f, "const int32_t *argmax", pool_printf("INDEX(I_%s)", pool->id));
    fn_param(f, "const float *in", arg_act(&e->net->layers[l->in[0]]));
    fn_n_cap(f);
}

static void emit_conv_backward_sparse(Emitter *e, const Layer *l, const LayerFns *f) {
    const ConvSpec *c = CONV(l);
    const Layer *pool = &e->net->layers[c->plan.sparse_pool];
    ev_str(e, "POOL", pool->name);
    ev_int(e, "PHW", pool->out.h * pool->out.w);
    ev_str(e, "DBSUM", c->bias ? ", dbias = sums of dout" : "");
    ev_str(e, "INB", c->ph || c->pw ? "if (iy >= 0 && iy < $H && ix >= 0 && ix < $W) " : "");
    emit(e, "/* $NAME backward, with $POOL's: dweight = dout . col^T$DBSUM, where dout is $POOL's\n"
            " *   gradient [$OC][cap][$PHW] placed at its argmax (the rest is zero): the input patches\n"
            " *   under the $PHW maxima of each image and channel, no im2col */\n");
    fn_define(e, &f->backward);
    emit(e, "#pragma omp parallel for schedule(static)\n"
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

/* ---- the kinds' trainer emitters ------------------------------------------------------------- */

static void conv_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const ConvSpec *c = CONV(l);
    const ConvPlan *p = &c->plan;
    Shape in = in_shape(e->net, l);
    if (p->algo == CONV_MATMUL) {
        const char *x = in.h * in.w > 1 ? "float *x" : NULL; /* the gathered input */
        forward_fn(e, l, &f->forward, c->bias, x);
        if (l->run_backward) backward_fn(e, l, &f->backward, c->bias, x);
        return;
    }
    forward_fn(e, l, &f->forward, c->bias, p->col_forward ? "float *col" : NULL);
    if (p->fold_bn >= 0) eval_fn(e, l, &f->eval);
    if (!l->run_backward) return;
    if (p->sparse_pool >= 0) sparse_backward_fn(e, l, &f->backward);
    else backward_fn(e, l, &f->backward, c->bias, p->col_backward ? "float *col" : NULL);
}

static void conv_define(Emitter *e, const Layer *l, const LayerFns *f) {
    const ConvSpec *c = CONV(l);
    const ConvPlan *p = &c->plan;
    Shape in = e->net->layers[l->in[0]].out;
    if (p->algo == CONV_MATMUL) {
        emit_matmul(e, l, f, c->out, c->bias, pool_printf("[%ld][%ld][%ld][%ld]", c->out, in.c, in.h, in.w));
        return;
    }
    conv_vars(e, l);
    bool pw = p->algo == CONV_POINTWISE, din = e->net->layers[l->in[0]].needs_grad, sparse = p->sparse_pool >= 0;
    if (p->algo == CONV_WINOGRAD) {
        ev_int(e, "WCH", p->chunk);
        ev_str(e, "WINO", c->kw == 3 ? "F(4x4, 3x3)" : "F(2x2, 5x5)");
        emit_conv_forward_wino(e, l, f);
        if (l->run_backward) emit_conv_backward_wino(e, l, f);
        return;
    }
    if (p->tile_rows) emit_im2col_rows(e, c);
    if (!pw && (p->algo != CONV_DIRECT || (l->run_backward && !l->frozen && !sparse)) && (!p->tile_rows || l->run_backward))
        emit_im2col(e, c);
    if (!pw && l->run_backward && din) {
        if (p->dx_by_conv) emit_im2col_dy(e, l);
        else emit_col2im(e, c, l->grad_accumulate[0]);
    }
    if (p->algo == CONV_DIRECT) emit_conv_direct(e, l, f);
    else emit_conv_forward(e, l, f, pw);
    if (sparse) emit_conv_backward_sparse(e, l, f);
    else if (l->run_backward) emit_conv_backward(e, l, f, pw);
}

const TrainEmit train_conv = {conv_fns, conv_define};

static void linear_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    Shape in = in_shape(e->net, l);
    const char *x = in.h * in.w > 1 ? "float *x" : NULL;
    forward_fn(e, l, &f->forward, LINEAR(l)->bias, x);
    if (l->run_backward) backward_fn(e, l, &f->backward, LINEAR(l)->bias, x);
}

static void linear_define(Emitter *e, const Layer *l, const LayerFns *f) {
    Shape in = e->net->layers[l->in[0]].out;
    const LinearSpec *s = LINEAR(l);
    emit_matmul(e, l, f, s->out, s->bias, pool_printf("[%ld][%ld]", s->out, in.c * in.h * in.w));
}

const TrainEmit train_linear = {linear_fns, linear_define};
