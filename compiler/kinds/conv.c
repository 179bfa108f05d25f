/* conv.c: "conv KxK -> N" with stride, pad, groups and bias, as PyTorch's
 * Conv2d. The plan picks one of five ways to run it (ConvAlgo) and what it
 * folds in evaluation; the trainer's emitter is emit_conv.c. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"
#include "winograd.h"

static void conv_init(Layer *l) {
    ConvSpec *c = CONV(l);
    c->sw = c->sh = 1, c->groups = 1, c->bias = true;
    c->plan.fold_bn = c->plan.fold_pool = c->plan.sparse_pool = -1;
}

static int conv_args(Cursor *c, Layer *l) {
    ConvSpec *s = CONV(l);
    l->size_loc = arg_here(c);
    if (want_size2(c, "the kernel", 1, &s->kw, &s->kh) < 0) return -1;
    return want_outputs(c, "conv 3x3 -> 64", &s->out);
}

static int opt_stride(Cursor *c, Layer *l) { return want_size2(c, "stride", 1, &CONV(l)->sw, &CONV(l)->sh); }
static int opt_pad(Cursor *c, Layer *l) { return want_size2(c, "pad", 0, &CONV(l)->pw, &CONV(l)->ph); }
static int opt_groups(Cursor *c, Layer *l) { return want_int(c, "groups", 1, MAX_DEPTH, &CONV(l)->groups); }
static int opt_bias(Cursor *c, Layer *l) { return want_onoff(c, "bias", &CONV(l)->bias); }

static const KindOption conv_options[] = {
    {"stride", opt_stride, false},   {"pad", opt_pad, false},   {"groups", opt_groups, false},
    {"bias", opt_bias, true},        {"init", kopt_init, true}, {"bias_init", kopt_bias_init, true},
    {"load", kopt_load, true},       {"frozen", kopt_frozen, true}, {"lr_mult", kopt_lr_mult, true},
    {"from", kopt_from, false},      {NULL}};

/* a multiply-add (2 FLOPs) per weight a value sees */
static int conv_shape(Net *net, Layer *l) {
    ConvSpec *c = CONV(l);
    Shape in = in_shape(net, l);
    if (in.c % c->groups || c->out % c->groups) {
        long a = in.c, b = c->out; /* the groups that fit divide gcd(in, out) */
        while (b) {
            long t = a % b;
            a = b, b = t;
        }
        char *fits = pool_strdup("");
        int shown = 0;
        for (long g = 1; g <= a && shown < 6; g++)
            if (a % g == 0) fits = pool_printf("%s%s%ld", fits, shown++ ? ", " : "", g);
        diag_error(l->kind_loc, pool_printf("groups must divide both %ld and %ld: groups %s", in.c, c->out, fits),
                   "%s: %ld groups do not divide its %ld %s channels", l->name, c->groups, in.c % c->groups ? in.c : c->out,
                   in.c % c->groups ? "input" : "output");
        return -1;
    }
    if (check_window(l, in, c->kw, c->kh, c->pw, c->ph, "kernel") < 0) return -1;
    l->out = (Shape){c->out, window_out(in.h, c->kh, c->sh, c->ph, false), window_out(in.w, c->kw, c->sw, c->pw, false)};
    int64_t per_out = shape_mul(shape_mul(in.c / c->groups, c->kh), c->kw); /* multiply-adds per output value */
    l->flops = 2.0 * (double)per_out * (double)shape_volume(l->out);
    return 0;
}

static void conv_rf(Net *net, Layer *l) { rf_window(net, l, CONV(l)->kw, CONV(l)->kh, CONV(l)->sw); }

/* weight [out][in / groups][kh][kw], bias [out]; a bias starts as PyTorch's
 * when the weight does */
static int conv_tensors(const Net *net, const Layer *l, Tensor *t) {
    const ConvSpec *c = CONV(l);
    long cg = in_shape(net, l).c / c->groups, fan_in = cg * c->kh * c->kw, fan_out = c->out * c->kh * c->kw;
    long ws[4] = {c->out, cg, c->kh, c->kw}, bs[1] = {c->out};
    tensor_set(&t[0], "weight", ROLE_WEIGHT, 4, ws, l->init, fan_in, fan_out);
    if (!c->bias) return 1;
    tensor_set(&t[1], "bias", ROLE_BIAS, 1, bs, l->init.kind == INIT_PYTORCH ? l->init : l->bias_init, fan_in, fan_out);
    return 2;
}

static const char *conv_fits(const Layer *l, const int64_t *s, int ndim) {
    if (ndim != 4) return NULL;
    return pool_printf("the file's weights fit conv %lldx%lld -> %lld on %lld input channel%s%s", (long long)s[3], (long long)s[2],
                       (long long)s[0], (long long)s[1], s[1] == 1 ? "" : "s", CONV(l)->groups > 1 ? " per group" : "");
}

static void conv_json(const Layer *l, FILE *f) {
    const ConvSpec *c = CONV(l);
    fprintf(f, ", \"kernel\": [%ld, %ld], \"stride\": [%ld, %ld], \"pad\": [%ld, %ld], \"groups\": %ld, \"out\": %ld, \"bias\": %s", c->kw,
            c->kh, c->sw, c->sh, c->pw, c->ph, c->groups, c->out, c->bias ? "true" : "false");
}

/* ---- the plan: how it runs ---------------------------------------------------------------- */

/* im2col's columns hold at most this many floats; chunks of images are sized to fit. */
#define COL_FLOATS (1L << 21)
/* A tiled im2col forward's tile: about this many floats of columns, 768 KB,
 * which stay in a core's L2 cache from im2col to the product. */
#define TILE_FLOATS (3L << 16)

static bool is_pointwise(const ConvSpec *c) {
    return c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0;
}

/* Its kernel covers its whole unpadded input: a matrix product over the
 * batch, exactly like a linear layer. */
static bool is_matmul(const ConvSpec *c, Shape in) {
    return c->groups == 1 && c->pw == 0 && c->ph == 0 && c->kw == in.w && c->kh == in.h;
}

/* A 3x3, stride-1, pad-1 conv between enough channels (DeeperNet's, AlexNet's
 * conv3-5, SqueezeNet's expand3x3): Winograd's F(4x4, 3x3) does its products
 * with 4x fewer multiply-adds than im2col, forward and backward
 * (runtime/winograd.h); a 5x5, stride-1, pad-2 one (AlexNet's conv2) by
 * F(2x2, 5x5), 2.8x fewer. With a channel or two on either side the products
 * are too thin to pay for the transforms. net->no_winograd (netc
 * --no-winograd) keeps im2col, for comparisons. */
static bool is_winograd(const Net *net, const ConvSpec *c, Shape in) {
    bool k3 = c->kw == 3 && c->kh == 3 && c->pw == 1 && c->ph == 1, k5 = c->kw == 5 && c->kh == 5 && c->pw == 2 && c->ph == 2;
    return !net->no_winograd && c->groups == 1 && (k3 || k5) && c->sw == 1 && c->sh == 1 && in.c >= 16 && c->out >= 16;
}

/* A conv with few taps per output (SimpleNet's 9x9 on one channel,
 * DeeperNet's first 3x3): straight loops over each output row beat im2col,
 * whose columns would be CK times the input, written and read once per pass,
 * and whose product is too thin (K = CK) to run near the sgemm roof. Output
 * channels go in blocks of 16, each block's sums in vector registers. (Tried
 * after matmul, pointwise and Winograd.) */
static bool is_direct(const ConvSpec *c, Shape in, Shape out) {
    return c->groups == 1 && c->sw == 1 && c->sh == 1 && c->pw < c->kw && c->ph < c->kh && in.c * c->kh * c->kw <= 128 &&
           (out.c <= 16 || out.c % 16 == 0) && out.w >= 16;
}

static void conv_choose(Net *net, Layer *l) {
    ConvSpec *c = CONV(l);
    Shape in = in_shape(net, l);
    c->plan.algo = is_matmul(c, in)           ? CONV_MATMUL
                   : is_pointwise(c)          ? CONV_POINTWISE
                   : is_winograd(net, c, in)  ? CONV_WINOGRAD
                   : is_direct(c, in, l->out) ? CONV_DIRECT
                                              : CONV_IM2COL;
}

/* The relu after a Winograd or direct conv is applied by the runtime's
 * kernels (or their vector stores), which know only max(x, 0). */
static bool conv_fuses_relu(const Net *net, const Layer *l, float slope) {
    (void)net;
    ConvAlgo a = CONV(l)->plan.algo;
    return slope == 0 || (a != CONV_WINOGRAD && a != CONV_DIRECT);
}

/* The max pool that is a layer's one reader, or -1. */
static int pool_reader(const Net *net, const Layer *l) {
    int me = (int)(l - net->layers);
    if (l->n_users != 1) return -1;
    for (int i = me + 1; i < net->n; i++) {
        const Layer *r = &net->layers[i];
        for (int j = 0; j < r->n_in; j++)
            if (r->in[j] == me) return r->kind == &kind_maxpool && !POOL(r)->global ? i : -1;
    }
    return -1;
}

/* The batch norm a Winograd or direct conv's output goes to and nowhere
 * else, right after it: in evaluation its running statistics fold into the
 * conv (scale into the kernel or the output transform, shift as a bias, its
 * fused relu at the store), so it costs no pass over memory. Then, for a
 * Winograd conv, the 2x2 stride-2 max pool that is the one reader of the
 * batch norm (or of its fused relu), over sides that are multiples of 4:
 * each 4x4 tile of outputs of a 3x3 conv's F(4x4, 3x3) is pooled to its 2x2
 * maxima as it is stored, and the full-size output is never written in
 * evaluation, nor read back. */
static void plan_folds(Net *net, Layer *l) {
    ConvPlan *p = &CONV(l)->plan;
    int me = (int)(l - net->layers);
    if (!(p->algo == CONV_WINOGRAD || p->algo == CONV_DIRECT) || l->relu_fused || l->n_users != 1 || me + 1 >= net->n) return;
    Layer *bn = &net->layers[me + 1];
    if (bn->kind != &kind_batchnorm || bn->in[0] != me || (bn->relu_fused && bn->relu_slope != 0)) return;
    p->fold_bn = me + 1;
    bn->eval_by = me;
    if (p->algo != CONV_WINOGRAD || CONV(l)->kw != 3 || l->out.h % 4 || l->out.w % 4 || (bn->relu_fused && bn->n_users != 1)) return;
    int pool = pool_reader(net, bn->relu_fused ? &net->layers[bn->fused_relu] : bn); /* the fused relu's one reader, or the batch norm's */
    if (pool < 0) return;
    const PoolSpec *ps = POOL(&net->layers[pool]);
    if (ps->kw == 2 && ps->kh == 2 && ps->sw == 2 && ps->sh == 2 && !ps->pw && !ps->ph) {
        p->fold_pool = pool;
        net->layers[pool].eval_by = me;
    }
}

/* Is dout zero except where a max pool took its maximum? Then, when no input
 * gradient is wanted, dweight needs the input patches at those places only
 * (SimpleNet: 1 in 49): the conv's backward takes the pool's dout and
 * argmax, and the pool's own backward goes. The pool must be the conv's one
 * reader, with no relu fused between. */
static void plan_sparse(Net *net, Layer *l) {
    ConvPlan *p = &CONV(l)->plan;
    if (CONV(l)->groups != 1 || l->relu_fused || l->frozen || !l->run_backward || net->layers[l->in[0]].needs_grad) return;
    if (p->algo == CONV_WINOGRAD || p->algo == CONV_MATMUL) return;
    int pool = pool_reader(net, l);
    if (pool < 0 || POOL(&net->layers[pool])->kw * POOL(&net->layers[pool])->kh < 4) return;
    p->sparse_pool = pool;
    net->layers[pool].backward_by = (int)(l - net->layers);
}

static void conv_plan(Net *net, Layer *l) {
    const ConvSpec *c = CONV(l);
    ConvPlan *p = &CONV(l)->plan;
    Shape in = in_shape(net, l);
    bool din = net->layers[l->in[0]].needs_grad && l->run_backward, dw = !l->frozen && l->run_backward;
    plan_folds(net, l);
    plan_sparse(net, l);
    switch (p->algo) {
    case CONV_MATMUL:
        if (in.h * in.w > 1) l->scratch_per_image = in.c * in.h * in.w; /* the input gathered as a [K][n] matrix */
        return;
    case CONV_POINTWISE: return; /* the input is the matrix */
    case CONV_WINOGRAD: {
        /* chunks whose transformed input and products, about 8 MB, stay in the
         * last-level cache between the transforms and the products */
        long wide = in.c > c->out ? in.c : c->out, tiles = netc_wino_tiles(c->kw, in.h, in.w);
        long ch = (1L << 21) / (2 * 36 * wide * tiles);
        p->chunk = ch < 1 ? 1 : ch > 4096 ? 4096 : ch;
        p->col_forward = true, p->col_backward = din || dw;
        l->scratch_floats = netc_wino_scratch(c->kw, in.c, c->out, in.h, in.w, p->chunk);
        return;
    }
    case CONV_IM2COL:
    case CONV_DIRECT: break;
    }
    /* The input gradient as a convolution of dout needs dout's im2col, OC/C
     * times the size of col2im's columns: worth it while that ratio is small
     * (AlexNet's conv2, 64 -> 192 channels, is faster by col2im). */
    p->dx_by_conv = din && c->sw == 1 && c->sh == 1 && c->groups == 1 && 2 * c->pw < c->kw && 2 * c->ph < c->kh &&
                    c->out <= 2 * in.c;
    long kk = c->kh * c->kw, per_image = in.c * kk * l->out.h * l->out.w;
    if (p->dx_by_conv && c->out * kk * in.h * in.w > per_image) per_image = c->out * kk * in.h * in.w; /* dout's im2col */
    long ch = COL_FLOATS / (per_image > 0 ? per_image : 1);
    p->chunk = ch < 1 ? 1 : ch > 4096 ? 4096 : ch;
    p->col_floats = p->chunk * per_image;
    p->col_forward = p->algo == CONV_IM2COL;
    p->col_backward = din || (dw && p->sparse_pool < 0);
    /* One image's columns fill the chunk (AlexNet's and SqueezeNet's conv1:
     * 4.4 and 7.2 MB): the forward goes by tiles of output rows instead, each
     * thread taking one tile at a time through im2col, its product and the
     * bias, in its own part of the columns, so nothing leaves the cache
     * between them. Measured 10 to 20% faster on AlexNet's conv1 (Zen 4, both
     * ISAs); backward keeps the chunks. */
    long row_floats = in.c * kk * l->out.w;
    if (p->col_forward && p->chunk == 1 && c->groups == 1 && l->out.h > 1 && 2 * TILE_FLOATS <= p->col_floats) {
        long r = TILE_FLOATS / row_floats, tiles;
        r = r < 1 ? 1 : r > l->out.h ? l->out.h : r;
        tiles = (l->out.h + r - 1) / r;
        p->tile_rows = (l->out.h + tiles - 1) / tiles; /* as even as that many tiles go: 55 rows in 7 tiles of 8, not 6 of 9 and 1 */
    }
    if (p->col_forward || p->col_backward) /* and the flipped weights, or dcol */
        l->scratch_floats = !din ? p->col_floats : p->dx_by_conv ? p->col_floats + l->params : 2 * p->col_floats;
}

static const char *conv_plan_text(const Net *net, const Layer *l) {
    const ConvPlan *p = &CONV(l)->plan;
    const char *folds = p->fold_bn < 0 ? ""
                        : pool_printf(" eval-folds %s%s", net->layers[p->fold_bn].name,
                                      p->fold_pool < 0 ? "" : pool_printf(" and %s", net->layers[p->fold_pool].name));
    const char *chunk = pool_printf("(%ld images a chunk)", p->chunk);
    const char *s;
    switch (p->algo) {
    case CONV_MATMUL: return " matmul";
    case CONV_POINTWISE: s = " pointwise"; break;
    case CONV_WINOGRAD: return pool_printf(" winograd%s%s", chunk, folds);
    case CONV_DIRECT: s = pool_printf(" direct%s%s", folds, p->col_backward ? pool_printf(" im2col-backward%s", chunk) : ""); break;
    default:
        s = !p->tile_rows     ? pool_printf(" im2col%s", chunk)
            : l->run_backward ? pool_printf(" im2col(tiles of %ld rows; backward %ld image%s a chunk)", p->tile_rows, p->chunk,
                                            p->chunk > 1 ? "s" : "")
                              : pool_printf(" im2col(tiles of %ld rows)", p->tile_rows);
        break;
    }
    if (p->dx_by_conv) s = pool_printf("%s dx-by-conv", s);
    return p->sparse_pool >= 0 ? pool_printf("%s sparse-backward", s) : s;
}

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* How a deployed conv runs (deploy/nn.c): Winograd's F(4x4, 3x3) where a
 * 3x3 conv has enough channels and tiles to pay for its transforms (its
 * kernel grows from 9 to 36 floats); direct loops where there are few taps
 * per output and the rows are wide enough for a vector strip; else im2col
 * panels and a register-blocked product (a 1x1 conv reads its input as it
 * is). */
enum { DEPLOY_GEMM, DEPLOY_DIRECT, DEPLOY_WINOGRAD, DEPLOY_MATVEC };

static int conv_deploy_prepare(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    DeployLayer *dl = deploy_layer(d, l);
    const ConvSpec *c = CONV(l);
    Shape in = in_shape(net, l);
    long cg = in.c / c->groups, per_out = cg * c->kh * c->kw;
    float *w = deploy_tensor(d, l, "weight"), *b = deploy_tensor(d, l, "bias");
    deploy_fold(d, l, w, &b, c->out, per_out);
    dl->b = b;
    bool wino = !net->no_winograd && c->groups == 1 && c->kw == 3 && c->kh == 3 && c->sw == 1 && c->sh == 1 && c->pw == 1 &&
                c->ph == 1 && in.c >= 8 && c->out >= 8 && l->out.h >= 12 && l->out.w >= 12;
    bool direct = c->groups == 1 && c->sw == 1 && c->sh == 1 && c->pw < c->kw && c->ph < c->kh && c->kw * c->kh > 1 &&
                  per_out <= 128 && l->out.w >= DEPLOY_MAX_VW;
    if (c->groups == 1 && c->pw == 0 && c->ph == 0 && c->kw == in.w && c->kh == in.h) {
        /* the kernel covers the whole input: a linear layer ([c][h][w] is the kernel's own order) */
        dl->algo = DEPLOY_MATVEC, dl->how = "a matrix-vector product (its kernel is the whole input)";
        dl->w = w, dl->nw = c->out * per_out;
        deploy_need(d, "linear");
    } else if (wino) {
        dl->algo = DEPLOY_WINOGRAD, dl->how = "Winograd F(4x4, 3x3)";
        dl->w = deploy_pack_wino(w, c->out, in.c), dl->nw = deploy_wino_packed_floats(c->out, in.c);
        /* NN_WINO_SCRATCH at the widest panel (32 tiles) */
        dl->scratch = 36 * (in.c + (c->out + DEPLOY_MR - 1) / DEPLOY_MR * DEPLOY_MR) * 32 * (int64_t)sizeof(float);
        deploy_need(d, "winograd");
    } else if (direct) {
        dl->algo = DEPLOY_DIRECT, dl->how = "direct loops";
        dl->w = w, dl->nw = c->out * per_out;
        dl->scratch = c->pw || c->ph ? in.c * (in.h + 2 * c->ph) * (in.w + 2 * c->pw) * (int64_t)sizeof(float) : 0;
        deploy_need(d, "direct");
    } else {
        bool pointwise = c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0;
        dl->algo = DEPLOY_GEMM, dl->how = pointwise ? "a matrix product" : "im2col panels and a matrix product";
        dl->w = deploy_pack_conv(w, c->out, cg, c->kh, c->kw, c->groups);
        dl->nw = deploy_conv_packed_floats(c->out, cg, c->kh, c->kw, c->groups);
        dl->scratch = per_out * 32 * (int64_t)sizeof(float); /* NN_CONV_SCRATCH at the widest panel */
        deploy_need(d, "conv");
    }
    return 0;
}

static void conv_deploy_define(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    const DeployLayer *dl = deploy_layer(d, l);
    const ConvSpec *c = CONV(l);
    Shape in = in_shape(net, l);
    FILE *f = deploy_file(d);
    const char *name = deploy_name(d, l);
    if (dl->algo == DEPLOY_MATVEC) { /* no descriptor: nn_linear takes its sizes */
    } else if (dl->algo == DEPLOY_WINOGRAD)
        fprintf(f, "static const NnWino %s = {.c = %ld, .h = %ld, .w = %ld, .oc = %ld%s};\n", name, in.c, in.h, in.w, c->out,
                deploy_act_fields(dl));
    else
        fprintf(f,
                "static const NnConv %s = {.c = %ld, .h = %ld, .w = %ld, .oc = %ld, .oh = %ld, .ow = %ld, .kh = %ld, .kw = %ld,\n"
                "    .sh = %ld, .sw = %ld, .ph = %ld, .pw = %ld, .groups = %ld%s};\n",
                name, in.c, in.h, in.w, c->out, l->out.h, l->out.w, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->groups,
                deploy_act_fields(dl));
    const char *layout = dl->algo == DEPLOY_WINOGRAD ? "G g G^T: [36][output channels in blocks of 8][input channels][8]"
                         : dl->algo == DEPLOY_DIRECT || dl->algo == DEPLOY_MATVEC
                             ? pool_printf("[%ld][%ld][%ld][%ld]", c->out, in.c / c->groups, c->kh, c->kw)
                                                     : "[group][output channels in blocks of 8][input channel, ky, kx][8]";
    deploy_array(d, pool_printf("%s_weight", name), dl->w, dl->nw, layout);
    if (dl->b) deploy_array(d, pool_printf("%s_bias", name), dl->b, c->out, pool_printf("[%ld]", c->out));
}

static void conv_deploy_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    const DeployLayer *dl = deploy_layer(d, l);
    static const char *const kernel[] = {"nn_conv", "nn_conv_direct", "nn_wino"};
    const char *name = deploy_name(d, l);
    const Layer *s = &net->layers[l->in[0]];
    if (dl->algo == DEPLOY_MATVEC) {
        fprintf(deploy_file(d), "    nn_linear(%lld, %ld, %s, %s, %s_weight, %s, %s);\n", (long long)s->act, CONV(l)->out, deploy_out(d, l),
                deploy_out(d, s), name, dl->b ? pool_printf("%s_bias", name) : "NULL", deploy_act_args(dl));
        return;
    }
    fprintf(deploy_file(d), "    %s(&%s, %s, %s, %s_weight, %s, %s);\n", kernel[dl->algo], name, deploy_out(d, l),
            deploy_out(d, &net->layers[l->in[0]]), name, dl->b ? pool_printf("%s_bias", name) : "NULL", deploy_scratch(d));
}

/* int8 (--quantize int8): im2col panels of bytes and a matrix product of
 * bytes by signed bytes (nn_qconv, with the dot products the target has),
 * or nn_qlinear where the kernel covers the whole input. */
static bool covers_input(const Layer *l, Shape in) {
    const ConvSpec *c = CONV(l);
    return c->groups == 1 && c->pw == 0 && c->ph == 0 && c->kw == in.w && c->kh == in.h;
}

static int conv_int8_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    const ConvSpec *c = CONV(l);
    Shape in = in_shape(deploy_net_of(d), l);
    long cg = in.c / c->groups, per_out = cg * c->kh * c->kw;
    float *w = deploy_tensor(d, l, "weight"), *b = deploy_tensor(d, l, "bias");
    deploy_fold(d, l, w, &b, c->out, per_out);
    deploy_qlayer(d, l, w, b, c->out, per_out);
    if (covers_input(l, in)) {
        dl->algo = DEPLOY_MATVEC, dl->how = "a matrix-vector product (its kernel is the whole input)";
        deploy_need(d, "qlinear");
        return 0;
    }
    bool pointwise = c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0;
    dl->algo = DEPLOY_GEMM, dl->how = pointwise ? "a matrix product" : "im2col panels and a matrix product";
    dl->qw = deploy_qpack_conv(dl->qw, c->out, cg, c->kh, c->kw, c->groups);
    dl->nqw = deploy_qconv_packed(c->out, cg, c->kh, c->kw, c->groups);
    dl->scratch = (per_out + 3) / 4 * 4 * 32; /* NN_QCONV_SCRATCH at the widest panel (32 columns) */
    deploy_need(d, "qconv");
    return 0;
}

/* The arrays of an int8 layer of sums (conv, linear): weights, biases, and multipliers or float steps. */
void deploy_qsums_define(Deploy *d, const Layer *l, long oc, const char *layout) {
    const DeployLayer *dl = deploy_layer(d, l);
    const char *name = deploy_name(d, l);
    deploy_array_of(d, DEPLOY_I8, pool_printf("%s_weight", name), dl->qw, dl->nqw, layout);
    deploy_array_of(d, DEPLOY_I32, pool_printf("%s_bias", name), dl->qb, oc,
                    "the bias in steps of the sums, less the input's zero point times the channel's weights");
    if (dl->qfloat) deploy_array(d, pool_printf("%s_step", name), dl->qfs, oc, "a sum's step as a float: input scale x weight scale");
    else deploy_array_of(d, DEPLOY_I32, pool_printf("%s_requant", name), dl->qrq, 2 * oc,
                         "[][2] multiplier and shift: input scale x weight scale / output scale");
}

/* The arguments after the weights: "name_bias, name_requant, NULL" (or NULL, name_step: the logits). */
const char *deploy_qsums_args(Deploy *d, const Layer *l) {
    const char *name = deploy_name(d, l);
    return deploy_layer(d, l)->qfloat ? pool_printf("%s_bias, NULL, %s_step", name, name) : pool_printf("%s_bias, %s_requant, NULL", name, name);
}

static void conv_int8_define(Deploy *d, const Layer *l) {
    const DeployLayer *dl = deploy_layer(d, l);
    const ConvSpec *c = CONV(l);
    Shape in = in_shape(deploy_net_of(d), l);
    FILE *f = deploy_file(d);
    const char *name = deploy_name(d, l);
    int in_zp = deploy_q(d, &deploy_net_of(d)->layers[l->in[0]]).zp;
    if (dl->algo == DEPLOY_MATVEC)
        fprintf(f, "static const NnQLinear %s = {.in = %ld, .out = %ld, .in_zp = %d, .q = {%s}};\n", name, in.c * in.h * in.w, c->out, in_zp,
                deploy_qout(d, l));
    else
        fprintf(f,
                "static const NnQConv %s = {.conv = {.c = %ld, .h = %ld, .w = %ld, .oc = %ld, .oh = %ld, .ow = %ld, .kh = %ld, .kw = %ld,\n"
                "    .sh = %ld, .sw = %ld, .ph = %ld, .pw = %ld, .groups = %ld}, .in_zp = %d, .q = {%s}};\n",
                name, in.c, in.h, in.w, c->out, l->out.h, l->out.w, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->groups, in_zp,
                deploy_qout(d, l));
    deploy_qsums_define(d, l, c->out,
                        dl->algo == DEPLOY_MATVEC ? pool_printf("[%ld][%ld][%ld][%ld]", c->out, in.c, c->kh, c->kw)
                                                  : "[group][output channels in blocks of 8][(input channel, ky, kx) / 4][8][4]");
}

static void conv_int8_forward(Deploy *d, const Layer *l) {
    const DeployLayer *dl = deploy_layer(d, l);
    const char *name = deploy_name(d, l), *in = deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]);
    if (dl->algo == DEPLOY_MATVEC)
        fprintf(deploy_file(d), "    nn_qlinear(&%s, %s, %s, %s_weight, %s);\n", name, deploy_out(d, l), in, name, deploy_qsums_args(d, l));
    else
        fprintf(deploy_file(d), "    nn_qconv(&%s, %s, %s, %s_weight, %s, QACT(SCRATCH));\n", name, deploy_out(d, l), in, name,
                deploy_qsums_args(d, l));
}

static const DeployInt8 conv_int8 = {
    .to_float = true,
    .prepare = conv_int8_prepare,
    .define = conv_int8_define,
    .forward = conv_int8_forward,
};

static const DeployEmit conv_deploy = {
    .act = true,
    .absorbs_bn = true,
    .prepare = conv_deploy_prepare,
    .define = conv_deploy_define,
    .forward = conv_deploy_forward,
    .int8 = &conv_int8,
};

const Kind kind_conv = {
    .name = "conv",
    .usage = "conv KxK -> N",
    .spec_size = sizeof(ConvSpec),
    .init = conv_init,
    .args = conv_args,
    .options = conv_options,
    .shape = conv_shape,
    .rf = conv_rf,
    .tensors = conv_tensors,
    .fits = conv_fits,
    .json = conv_json,
    .fuses_relu = conv_fuses_relu,
    .choose = conv_choose,
    .plan = conv_plan,
    .plan_text = conv_plan_text,
    .train = &train_conv,
    .deploy = &conv_deploy,
};
