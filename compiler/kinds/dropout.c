/* dropout.c: "dropout P" (P defaults to 0.5). In training each value is
 * kept with probability 1 - P and scaled by 1 / (1 - P), so evaluation is
 * the identity. Image b's mask comes from rng_for(seed, step, layer << 32 |
 * first + b), so a run is reproducible and tools/torch_ref.py can make the
 * same masks; first is where the n images start in the step's whole batch
 * when processes share it (runtime/dist.h), so the masks are those one
 * process would draw. */
#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

typedef struct {
    float p; /* probability of dropping */
} DropoutSpec;

static void dropout_init(Layer *l) { ((DropoutSpec *)l->spec)->p = 0.5f; }

static int dropout_args(Cursor *c, Layer *l) {
    const Arg *a = arg_peek(c);
    if (a && a->kind == ARG_NUMBER) return want_float(c, "the dropout probability", 0, 0.999, &((DropoutSpec *)l->spec)->p);
    return 0;
}

static const KindOption dropout_options[] = {{"from", kopt_from, false}, {NULL}};

static int dropout_shape(Net *net, Layer *l) {
    l->out = in_shape(net, l);
    l->flops = (double)shape_volume(l->out);
    return 0;
}

static void dropout_json(const Layer *l, FILE *f) { fprintf(f, ", \"p\": %.9g", ((DropoutSpec *)l->spec)->p); }

static void dropout_buffers(const Net *net, const Layer *l, int64_t *index_ints, int64_t *mask_bytes, int64_t *saved_floats) {
    (void)net, (void)index_ints, (void)saved_floats;
    *mask_bytes = l->act; /* one byte per value: kept or not */
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void dropout_fns(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    const char *mask = pool_printf("MASK(M_%s)", l->id);
    fn_init(&f->forward, l, "forward");
    if (l->in_place) fn_param(&f->forward, "float *x", arg_act(l));
    else fn_param(&f->forward, "float *out", arg_act(l)), fn_param(&f->forward, "const float *in", arg_act(s));
    fn_param(&f->forward, "uint8_t *mask", mask);
    fn_n_cap(&f->forward);
    fn_param(&f->forward, "int train", "train");
    fn_param(&f->forward, "uint64_t seed", "m->seed");
    fn_param(&f->forward, "long step", "m->step");
    fn_param(&f->forward, "int first", "m->first_image");
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    if (l->in_place) fn_param(&f->backward, "float *restrict d", arg_grad(l));
    else fn_param(&f->backward, "float *restrict din", arg_grad(s)), fn_param(&f->backward, "const float *restrict dout", arg_grad(l));
    fn_param(&f->backward, "const uint8_t *restrict mask", mask);
    fn_n_cap(&f->backward);
}

static void dropout_define(Emitter *e, const Layer *l, const LayerFns *f) {
    float p = ((DropoutSpec *)l->spec)->p;
    ev_acc(e, l, 0);
    ev_str(e, "P", float_lit(p));
    ev_str(e, "SCALE", float_lit(1.0 / (1.0 - p)));
    ev_int(e, "LAYER", (long long)(l - e->net->layers));
    emit(e, "/* $NAME: $DESC, [$OC][cap][$OH][$OW]; image b's mask from rng_for(seed, step, $LAYER << 32 | first + b),\n"
            " * first: where these n images start in the step's whole batch (data-parallel training; else 0) */\n");
    fn_define(e, &f->forward);
    emit(e, l->in_place ? "    if (!train) return; /* evaluation: the identity */\n"
                        : "    if (!train) {\n"
                          "        for (int c = 0; c < $OC; c++)\n"
                          "            memcpy(out + (long)c * cap * $OHW, in + (long)c * cap * $OHW, sizeof(float) * n * $OHW);\n"
                          "        return;\n"
                          "    }\n");
    emit(e, "#pragma omp parallel for schedule(static)\n"
            "    for (int b = 0; b < n; b++) {\n"
            "        Rng r = rng_for(seed, (uint64_t)step, (uint64_t)$LAYER << 32 | (uint64_t)(first + b));\n"
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
                        : "/* $NAME backward: the kept units' gradients, scaled */\n");
    fn_define(e, &f->backward);
    emit(e, value_loop);
    emit(e, l->in_place ? "            d[k] = mask[k] ? d[k] * $SCALE : 0.0f;\n" : "            din[k] $ACC mask[k] ? dout[k] * $SCALE : 0.0f;\n");
    emit(e, "        }\n"
            "}\n\n");
}

static const TrainEmit dropout_train = {dropout_fns, dropout_define};

/* ---- netc --deploy: the identity ------------------------------------------------------------ */

static const DeployEmit dropout_deploy = {.identity = true};

const Kind kind_dropout = {
    .name = "dropout",
    .usage = "dropout P",
    .spec_size = sizeof(DropoutSpec),
    .init = dropout_init,
    .args = dropout_args,
    .options = dropout_options,
    .shape = dropout_shape,
    .json = dropout_json,
    .in_place = true,
    .buffers = dropout_buffers,
    .train = &dropout_train,
    .deploy = &dropout_deploy,
};
