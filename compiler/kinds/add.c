/* add.c: "add A B ...", the element-wise sum of inputs of one shape (a
 * residual connection). */
#include <math.h>

#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

int join_shape(Net *net, Layer *l);                                    /* concat.c */
void join_fns(const Emitter *e, const Layer *l, LayerFns *f);          /* concat.c */

static const KindOption add_options[] = {{NULL}};

static void add_define(Emitter *e, const Layer *l, const LayerFns *f) {
    const Net *net = e->net;
    char *sum = pool_strdup("in0[k]");
    for (int j = 1; j < l->n_in; j++) sum = pool_printf("%s + in%d[k]", sum, j);
    ev_str(e, "SUM", sum);
    emit(e, "/* $NAME: $DESC, [$OC][cap][$OH][$OW] */\n");
    fn_define(e, &f->forward);
    emit(e, value_loop);
    emit(e, "            out[k] = $SUM;\n"
            "        }\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward: each input gets the output's gradient */\n");
    fn_define(e, &f->backward);
    emit(e, value_loop);
    for (int j = 0; j < l->n_in; j++) {
        if (!net->layers[l->in[j]].needs_grad) continue;
        ev_int(e, "J", j);
        ev_acc(e, l, j);
        emit(e, "            din$J[k] $ACC dout[k];\n");
    }
    emit(e, "        }\n"
            "}\n\n");
}

static const TrainEmit add_train = {join_fns, add_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

static int add_deploy_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    if (!dl->how) dl->how = "a sum";
    deploy_need(d, "add");
    return 0;
}

static void add_deploy_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    FILE *f = deploy_file(d);
    fprintf(f, "    {\n        const float *in[%d] = {", l->n_in);
    for (int j = 0; j < l->n_in; j++) fprintf(f, "%s%s", j ? ", " : "", deploy_out(d, &net->layers[l->in[j]]));
    fprintf(f, "};\n        nn_add(%lld, %s, in, %d, %s);\n    }\n", (long long)l->act, deploy_out(d, l), l->n_in,
            deploy_act_args(deploy_layer(d, l)));
}

/* int8: as TFLite adds bytes of different scales (deploy/nnq.c's nn_qadd): each input, less
 * its zero point and shifted left 20 bits, to twice the largest input scale; the sum to the
 * output's scale. */
static int add_int8_prepare(Deploy *d, const Layer *l) {
    DeployLayer *dl = deploy_layer(d, l);
    if (!dl->how) dl->how = "a sum";
    deploy_need(d, "qadd");
    return 0;
}

static void add_int8_define(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    double top = 0;
    for (int j = 0; j < l->n_in; j++) top = fmax(top, deploy_q(d, &net->layers[l->in[j]]).scale);
    char *zp = "", *mult = "", *shift = "";
    for (int j = 0; j < l->n_in; j++) {
        DeployQ q = deploy_q(d, &net->layers[l->in[j]]);
        int32_t m, s;
        deploy_multiplier(q.scale / (2 * top), &m, &s);
        const char *sep = j ? ", " : "";
        zp = pool_printf("%s%s%d", zp, sep, q.zp), mult = pool_printf("%s%s%ld", mult, sep, (long)m), shift = pool_printf("%s%s%ld", shift, sep, (long)s);
    }
    int32_t m, s;
    deploy_multiplier(2 * top / ((double)(1 << 20) * deploy_layer(d, l)->qscale), &m, &s);
    fprintf(deploy_file(d), "static const NnQAdd %s = {.n = %lld, .k = %d, .zp = {%s}, .mult = {%s}, .shift = {%s},\n"
                            "    .out_mult = %ld, .out_shift = %ld, .q = {%s}};\n",
            deploy_name(d, l), (long long)l->act, l->n_in, zp, mult, shift, (long)m, (long)s, deploy_qout(d, l));
}

static void add_int8_forward(Deploy *d, const Layer *l) {
    const Net *net = deploy_net_of(d);
    FILE *f = deploy_file(d);
    fprintf(f, "    {\n        const uint8_t *in[%d] = {", l->n_in);
    for (int j = 0; j < l->n_in; j++) fprintf(f, "%s%s", j ? ", " : "", deploy_out(d, &net->layers[l->in[j]]));
    fprintf(f, "};\n        nn_qadd(&%s, %s, in);\n    }\n", deploy_name(d, l), deploy_out(d, l));
}

static const DeployInt8 add_int8 = {
    .prepare = add_int8_prepare,
    .define = add_int8_define,
    .forward = add_int8_forward,
};

static const DeployEmit add_deploy = {
    .act = true,
    .in_place = true,
    .prepare = add_deploy_prepare,
    .forward = add_deploy_forward,
    .int8 = &add_int8,
};

const Kind kind_add = {
    .name = "add",
    .usage = "add A B ...",
    .options = add_options,
    .joins = true,
    .shape = join_shape,
    .train = &add_train,
    .deploy = &add_deploy,
};
