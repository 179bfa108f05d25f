/* lrn.c: "lrn SIZE" with alpha, beta and k, local response normalisation
 * across channels as PyTorch's LocalResponseNorm (and Caffe's, and the
 * original AlexNet's with size 5, alpha 1e-4, beta 0.75, k 2):
 *
 *   y_c = x_c * d_c^-beta,  d_c = k + alpha / size * sum of x_j^2 over j in c - size/2 .. c + (size-1)/2
 *
 * (channels outside 0..C-1 count as zeros). Defaults as PyTorch's: alpha
 * 1e-4, beta 0.75, k 1. Backward:
 *
 *   dx_j = dy_j d_j^-beta - 2 alpha beta / size * x_j * sum over the c whose window holds j of dy_c x_c d_c^(-beta-1)
 *
 * Nothing is kept from forward: backward recomputes d from the input. Both
 * run over one image and a strip of pixels at a time, stepping through the
 * channels with the last SIZE channels' terms in a ring, so every value is
 * read a few times from cache, not from memory. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

typedef struct {
    long size;
    float alpha, beta, k;
} LrnSpec;

extern const Kind kind_lrn;
static LrnSpec *lrn(const Layer *l) { return (LrnSpec *)spec_of(l, &kind_lrn); }

static void lrn_init(Layer *l) {
    LrnSpec *s = lrn(l);
    s->alpha = 1e-4f, s->beta = 0.75f, s->k = 1.0f;
}

enum { MAX_LRN_SIZE = 255 };

static int lrn_args(Cursor *c, Layer *l) {
    const Arg *a = arg_peek(c);
    if (!a || a->kind != ARG_NUMBER) {
        diag_error(a ? a->loc : arg_here(c), "e.g. lrn 5 (AlexNet's: lrn 5 alpha 0.0001 beta 0.75 k 2)",
                   "%s: lrn needs its window size, the number of channels each value is normalised over", arg_who(c));
        return -1;
    }
    l->size_loc = a->loc;
    return want_int(c, "the window size", 1, MAX_LRN_SIZE, &lrn(l)->size);
}

static int opt_alpha(Cursor *c, Layer *l) { return want_float(c, "alpha", 0, 1e6, &lrn(l)->alpha); }
static int opt_beta(Cursor *c, Layer *l) { return want_float(c, "beta", 0, 100, &lrn(l)->beta); }
static int opt_k(Cursor *c, Layer *l) { return want_float(c, "k", 1e-9, 1e6, &lrn(l)->k); }

static const KindOption lrn_options[] = {
    {"alpha", opt_alpha, false}, {"beta", opt_beta, false}, {"k", opt_k, false}, {"from", kopt_from, false}, {NULL}};

/* Per value: the window's sum of squares (a multiply-add per channel, 2 *
 * size), k + alpha / size * sum (a multiply-add), the power and the product
 * (one each): 2 * size + 4. */
static int lrn_shape(Net *net, Layer *l) {
    l->out = in_shape(net, l);
    l->flops = (double)shape_volume(l->out) * (double)(2 * lrn(l)->size + 4);
    return 0;
}

static void lrn_json(const Layer *l, FILE *f) {
    const LrnSpec *s = lrn(l);
    fprintf(f, ", \"window\": %ld, \"alpha\": %.9g, \"beta\": %.9g, \"k\": %.9g", s->size, s->alpha, s->beta, s->k);
}

/* ---- the trainer ------------------------------------------------------------------------ */

/* the usual forward and backward; backward recomputes from the input */
static void lrn_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    fns_unary(e, l, f);
    if (l->run_backward) fn_param(&f->backward, "const float *in", arg_act(&e->net->layers[l->in[0]]));
}

/* The strip of pixels one task takes: its rings (2 x SIZE strips) fit in 32 KB of stack. */
static long lrn_strip(const Layer *l) {
    long hw = l->out.h * l->out.w, strip = 4096 / lrn(l)->size;
    if (strip > 256) strip = 256;
    return strip < hw ? strip : hw;
}

static void lrn_define(Emitter *e, const Layer *l, const LayerFns *f) {
    const LrnSpec *s = lrn(l);
    long strip = lrn_strip(l), hw = l->out.h * l->out.w;
    ev_int(e, "SIZE", s->size);
    ev_int(e, "LO", s->size / 2);
    ev_int(e, "HI", s->size - 1 - s->size / 2);
    ev_int(e, "STRIP", strip);
    ev_int(e, "NSTRIP", (hw + strip - 1) / strip);
    ev_str(e, "K", float_lit(s->k));
    ev_str(e, "AN", float_lit((double)s->alpha / (double)s->size));
    ev_str(e, "COEF", float_lit(2.0 * s->alpha * s->beta / (double)s->size));
    ev_str(e, "BETA", float_lit(s->beta));
    /* d^-beta: for AlexNet's 0.75 two square roots, which vectorise; else powf */
    ev_str(e, "POW", s->beta == 0.75f ? "1.0f / (sqrtf(d) * sqrtf(sqrtf(d)))"
                     : s->beta == 0.5f ? "1.0f / sqrtf(d)"
                     : s->beta == 1.0f ? "1.0f / d"
                                       : "powf(d, -$BETA)");
    emit(e, "/* $NAME's denominator to the power -beta: d = k + alpha / size * (the window's sum of squares) */\n"
            "static inline float $ID_scale(float sum) {\n"
            "    float d = $K + $AN * sum;\n"
            "    return $POW;\n"
            "}\n\n");
    /* a task's image b and strip [i0, i0 + len), and the window's sums of squares for channel c */
    static const char strip_open[] =
        "#pragma omp parallel for schedule(static)\n"
        "    for (long p = 0; p < (long)n * $NSTRIP; p++) {\n"
        "        int b = (int)(p / $NSTRIP), i0 = (int)(p % $NSTRIP) * $STRIP, len = netc_min($HW - i0, $STRIP);\n";
    static const char window_sums[] =
        "$WI    float sum[$STRIP];\n"
        "$WI    for (int i = 0; i < len; i++) sum[i] = 0.0f;\n"
        "$WI    for (int j = netc_max(c - $LO, 0); j <= netc_min(c + $HI, $C - 1); j++) {\n"
        "$WI        const float *xj = in + ((long)j * cap + b) * $HW + i0;\n"
        "$WI        for (int i = 0; i < len; i++) sum[i] += xj[i] * xj[i];\n"
        "$WI    }\n";
    emit(e, "/* $NAME: $DESC, [$C][cap][$H][$W]\n"
            " *   y_c = x_c * (k + alpha / $SIZE * sum of x_j^2, j from c - $LO to c + $HI)^-beta, per image and pixel;\n"
            " *   one image and $STRIP pixels a task, channel after channel */\n");
    fn_define(e, &f->forward);
    emit(e, strip_open);
    emit(e, "        for (int c = 0; c < $C; c++) {\n");
    ev_str(e, "WI", "        ");
    emit(e, window_sums);
    emit(e, "            const float *x = in + ((long)c * cap + b) * $HW + i0;\n"
            "            float *y = out + ((long)c * cap + b) * $HW + i0;\n"
            "            for (int i = 0; i < len; i++) y[i] = x[i] * $ID_scale(sum[i]);\n"
            "        }\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    ev_acc(e, l, 0);
    emit(e, "/* $NAME backward: dx_j $ACC dy_j d_j^-beta - 2 alpha beta / $SIZE * x_j * sum of t_c over c from j - $HI to\n"
            " *   j + $LO, where t_c = dy_c x_c d_c^(-beta-1). d is recomputed from the input; the last $SIZE channels'\n"
            " *   t and d^-beta stay in two rings, so channel j's gradient is written once channel j + $LO's t is known */\n");
    fn_define(e, &f->backward);
    emit(e, strip_open);
    emit(e, "        float t[$SIZE][$STRIP], q[$SIZE][$STRIP]; /* channel c's t and d^-beta in row c % $SIZE */\n"
            "        memset(t, 0, sizeof t);\n"
            "        for (int c = 0; c < $C + $LO; c++) {\n"
            "            float *tc = t[c % $SIZE], *qc = q[c % $SIZE];\n"
            "            if (c < $C) {\n");
    ev_str(e, "WI", "            ");
    emit(e, window_sums);
    emit(e, "                const float *x = in + ((long)c * cap + b) * $HW + i0, *dy = dout + ((long)c * cap + b) * $HW + i0;\n"
            "                for (int i = 0; i < len; i++) {\n"
            "                    qc[i] = $ID_scale(sum[i]);\n"
            "                    tc[i] = dy[i] * x[i] * qc[i] / ($K + $AN * sum[i]);\n"
            "                }\n"
            "            } else {\n"
            "                for (int i = 0; i < len; i++) tc[i] = 0.0f; /* channels past the last are zeros */\n"
            "            }\n"
            "            int j = c - $LO; /* every t in channel j's sum is in the ring now */\n"
            "            if (j < 0) continue;\n"
            "            const float *x = in + ((long)j * cap + b) * $HW + i0, *dy = dout + ((long)j * cap + b) * $HW + i0;\n"
            "            float *dx = din + ((long)j * cap + b) * $HW + i0;\n"
            "            for (int i = 0; i < len; i++) {\n"
            "                float ts = 0.0f;\n"
            "                for (int r = 0; r < $SIZE; r++) ts += t[r][i];\n"
            "                dx[i] $ACC dy[i] * q[j % $SIZE][i] - $COEF * x[i] * ts;\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "}\n\n");
}

static const TrainEmit lrn_train = {lrn_fns, lrn_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

static int lrn_deploy_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    dl->how = "each channel's window of squares summed a plane at a time";
    dl->scratch = l->out.h * l->out.w * (int64_t)sizeof(float);
    deploy_need(d, "lrn");
    return 0;
}

static void lrn_deploy_define(Deploy *d, const Layer *l) {
    const LrnSpec *s = lrn(l);
    fprintf(deploy_file(d), "static const NnLrn %s = {.c = %ld, .hw = %ld, .size = %ld, .alpha = %s, .beta = %s, .k = %s%s};\n",
            deploy_name(d, l), l->out.c, l->out.h * l->out.w, s->size, float_lit(s->alpha), float_lit(s->beta),
            float_lit(s->k), deploy_act_fields(deploy_layer(d, l)));
}

static void lrn_deploy_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_lrn(&%s, %s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]), deploy_scratch(d));
}

static const DeployEmit lrn_deploy = {
    .act = true,
    .prepare = lrn_deploy_prepare,
    .define = lrn_deploy_define,
    .forward = lrn_deploy_forward,
};

const Kind kind_lrn = {
    .name = "lrn",
    .usage = "lrn SIZE",
    .spec_size = sizeof(LrnSpec),
    .init = lrn_init,
    .args = lrn_args,
    .options = lrn_options,
    .shape = lrn_shape,
    .json = lrn_json,
    .train = &lrn_train,
    .deploy = &lrn_deploy,
};
