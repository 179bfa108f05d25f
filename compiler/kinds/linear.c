/* linear.c: "linear -> N" (or "fc"), as PyTorch's Linear; a spatial input
 * is flattened first, in PyTorch's order. One sgemm over the batch; its
 * trainer's emitter is emit_conv.c's, shared with convs whose kernel covers
 * their whole input. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

static const char *const linear_aliases[] = {"fc", NULL};

static void linear_init(Layer *l) { LINEAR(l)->bias = true; }

static int linear_args(Cursor *c, Layer *l) { return want_outputs(c, "linear -> 4096", &LINEAR(l)->out); }

static int opt_bias(Cursor *c, Layer *l) { return want_onoff(c, "bias", &LINEAR(l)->bias); }

static const KindOption linear_options[] = {{"bias", opt_bias, true},      {"init", kopt_init, true},
                                            {"bias_init", kopt_bias_init, true}, {"load", kopt_load, true},
                                            {"frozen", kopt_frozen, true},  {"lr_mult", kopt_lr_mult, true},
                                            {"from", kopt_from, false},     {NULL}};

/* a multiply-add per weight */
static int linear_shape(Net *net, Layer *l) {
    l->out = (Shape){LINEAR(l)->out, 1, 1};
    l->flops = 2.0 * (double)shape_volume(in_shape(net, l)) * (double)LINEAR(l)->out;
    return 0;
}

/* weight [out][in], bias [out] */
static int linear_tensors(const Net *net, const Layer *l, Tensor *t) {
    const LinearSpec *s = LINEAR(l);
    Shape in = in_shape(net, l);
    long k = in.c * in.h * in.w, ws[2] = {s->out, k}, bs[1] = {s->out};
    tensor_set(&t[0], "weight", ROLE_WEIGHT, 2, ws, l->init, k, s->out);
    if (!s->bias) return 1;
    tensor_set(&t[1], "bias", ROLE_BIAS, 1, bs, l->init.kind == INIT_PYTORCH ? l->init : l->bias_init, k, s->out);
    return 2;
}

static const char *linear_fits(const Layer *l, const int64_t *s, int ndim) {
    (void)l;
    if (ndim != 2) return NULL;
    return pool_printf("the file's weights fit linear -> %lld on %lld inputs", (long long)s[0], (long long)s[1]);
}

static void linear_json(const Layer *l, FILE *f) {
    fprintf(f, ", \"out\": %ld, \"bias\": %s", LINEAR(l)->out, LINEAR(l)->bias ? "true" : "false");
}

static bool linear_fuses_relu(const Net *net, const Layer *l, float slope) {
    (void)net, (void)l, (void)slope;
    return true;
}

static void linear_plan(Net *net, Layer *l) {
    Shape in = in_shape(net, l);
    if (in.h * in.w > 1) l->scratch_per_image = in.c * in.h * in.w; /* the input gathered as a [K][n] matrix */
}

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* One image: a register-blocked matrix-vector product (nn_linear) over the
 * input as it lies, [c][h][w] being PyTorch's flatten order. */
static int linear_deploy_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    Shape in = in_shape(deploy_net_of(d), l);
    long k = in.c * in.h * in.w;
    dl->w = deploy_tensor(d, l, "weight"), dl->b = deploy_tensor(d, l, "bias"), dl->nw = LINEAR(l)->out * k;
    deploy_fold(d, l, dl->w, &dl->b, LINEAR(l)->out, k);
    dl->how = "a matrix-vector product";
    deploy_need(d, "linear");
    return 0;
}

static void linear_deploy_define(Deploy *d, const Layer *l) {
    const DeployLayer *dl = deploy_layer(d, l);
    Shape in = in_shape(deploy_net_of(d), l);
    long out = LINEAR(l)->out;
    deploy_array(d, pool_printf("%s_weight", deploy_name(d, l)), dl->w, dl->nw, pool_printf("[%ld][%ld]", out, in.c * in.h * in.w));
    if (dl->b) deploy_array(d, pool_printf("%s_bias", deploy_name(d, l)), dl->b, out, pool_printf("[%ld]", out));
}

static void linear_deploy_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    const DeployLayer *dl = deploy_layer(d, l);
    Shape in = in_shape(net, l);
    const char *name = deploy_name(d, l);
    fprintf(deploy_file(d), "    nn_linear(%ld, %ld, %s, %s, %s_weight, %s, %s);\n", in.c * in.h * in.w, LINEAR(l)->out,
            deploy_out(d, l), deploy_out(d, &net->layers[l->in[0]]), name, dl->b ? pool_printf("%s_bias", name) : "NULL",
            deploy_act_args(dl));
}

/* int8: the same product on bytes (nn_qlinear), as a conv's arrays (kinds/conv.c). */
static int linear_int8_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    Shape in = in_shape(deploy_net_of(d), l);
    long k = in.c * in.h * in.w;
    float *w = deploy_tensor(d, l, "weight"), *b = deploy_tensor(d, l, "bias");
    deploy_fold(d, l, w, &b, LINEAR(l)->out, k);
    deploy_qlayer(d, l, w, b, LINEAR(l)->out, k);
    dl->how = "a matrix-vector product";
    deploy_need(d, "qlinear");
    return 0;
}

static void linear_int8_define(Deploy *d, const Layer *l) {
    Shape in = in_shape(deploy_net_of(d), l);
    long out = LINEAR(l)->out, k = in.c * in.h * in.w;
    fprintf(deploy_file(d), "static const NnQLinear %s = {.in = %ld, .out = %ld, .in_zp = %d, .q = {%s}};\n", deploy_name(d, l), k, out,
            deploy_q(d, &deploy_net_of(d)->layers[l->in[0]]).zp, deploy_qout(d, l));
    deploy_qsums_define(d, l, out, pool_printf("[%ld][%ld]", out, k));
}

static void linear_int8_forward(Deploy *d, const Layer *l) {
    const char *name = deploy_name(d, l);
    fprintf(deploy_file(d), "    nn_qlinear(&%s, %s, %s, %s_weight, %s);\n", name, deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]), name, deploy_qsums_args(d, l));
}

static const DeployInt8 linear_int8 = {
    .to_float = true,
    .prepare = linear_int8_prepare,
    .define = linear_int8_define,
    .forward = linear_int8_forward,
};

static const DeployEmit linear_deploy = {
    .act = true,
    .absorbs_bn = true,
    .prepare = linear_deploy_prepare,
    .define = linear_deploy_define,
    .forward = linear_deploy_forward,
    .int8 = &linear_int8,
};

const Kind kind_linear = {
    .name = "linear",
    .aliases = linear_aliases,
    .usage = "linear -> N (or fc)",
    .spec_size = sizeof(LinearSpec),
    .init = linear_init,
    .args = linear_args,
    .options = linear_options,
    .shape = linear_shape,
    .rf = rf_whole,
    .tensors = linear_tensors,
    .fits = linear_fits,
    .json = linear_json,
    .fuses_relu = linear_fuses_relu,
    .plan = linear_plan,
    .train = &train_linear,
    .deploy = &linear_deploy,
};
