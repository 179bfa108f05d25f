/* plan.c: the memory plan and the gradient flow.
 *
 * Lays every tensor out once: parameters in one arena, each layer's output
 * and its gradient in per-image slices of two more. Decides which layers run
 * in place (relu, dropout, flatten share their input's buffer when nothing
 * else reads it), which layers backward must visit, and, where several
 * layers read one output, which of them writes its gradient first (=) and
 * which add to it (+=), so no gradient buffer ever needs clearing. */
#include <string.h>

#include "net.h"
#include "pool.h"

/* A C identifier for every layer, unique even if "a.b" and "a_b" both exist. */
static void assign_ids(Net *net) {
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        char *id = pool_strdup(l->name);
        for (char *p = id; *p; p++)
            if (*p == '.') *p = '_';
        for (int k = 2;; k++) {
            bool clash = false;
            for (int j = 0; j < i; j++) clash |= strcmp(net->layers[j].id, id) == 0;
            if (!clash) break;
            id = pool_printf("%s_%d", l->id ? l->id : id, k);
        }
        l->id = id;
    }
}

bool conv_is_pointwise(const Layer *l) {
    const ConvSpec *c = &l->conv;
    return c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0;
}

bool conv_is_full(const Net *net, const Layer *l) {
    const ConvSpec *c = &l->conv;
    Shape in = net->layers[l->in[0]].out;
    return c->groups == 1 && c->pw == 0 && c->ph == 0 && c->kw == in.w && c->kh == in.h;
}

/* Per-thread scratch of a conv layer: im2col columns, their gradient, and a
 * private copy of the weight gradient (summed over threads in a fixed order). */
static int64_t conv_scratch(const Net *net, const Layer *l) {
    if (conv_is_full(net, l)) return 0;
    Shape in = net->layers[l->in[0]].out;
    int64_t col = conv_is_pointwise(l) ? 0 : in.c * l->conv.kh * l->conv.kw * l->out.h * l->out.w;
    int64_t dcol = net->layers[l->in[0]].needs_grad ? col : 0;
    int64_t dw = l->needs_grad && !l->frozen ? l->params : 0;
    return col + dcol + dw;
}

static int64_t param_slot(Net *net, int64_t n) {
    int64_t off = net->param_floats;
    net->param_floats += n;
    return off;
}

static void plan_params(Net *net, Layer *l) {
    l->weight_off = l->bias_off = l->mean_off = l->var_off = -1;
    Shape in = net->layers[l->in[0]].out;
    switch (l->kind) {
    case L_CONV:
        l->weight_off = param_slot(net, l->conv.out * (in.c / l->conv.groups) * l->conv.kh * l->conv.kw);
        if (l->conv.bias) l->bias_off = param_slot(net, l->conv.out);
        break;
    case L_LINEAR:
        l->weight_off = param_slot(net, l->linear.out * in.c * in.h * in.w);
        if (l->linear.bias) l->bias_off = param_slot(net, l->linear.out);
        break;
    case L_BATCHNORM:
        l->weight_off = param_slot(net, in.c);
        l->bias_off = param_slot(net, in.c);
        l->mean_off = param_slot(net, in.c);
        l->var_off = param_slot(net, in.c);
        break;
    default:
        break;
    }
}

void plan_net(Net *net) {
    assign_ids(net);

    /* backward visits a layer only if the loss depends on it and something
     * trainable lies at or below it */
    net->layers[net->n - 1].reaches_loss = true;
    for (int i = net->n - 1; i >= 0; i--)
        if (net->layers[i].reaches_loss)
            for (int j = 0; j < net->layers[i].n_in; j++) net->layers[net->layers[i].in[j]].reaches_loss = true;
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        l->needs_grad = l->needs_grad && l->reaches_loss;
        l->run_backward = l->needs_grad && l->kind != L_INPUT;
    }

    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        const Layer *src = i ? &net->layers[l->in[0]] : NULL;
        plan_params(net, l);
        /* in place: relu and dropout overwrite a buffer only they read (never
         * the input batch); flatten changes nothing in NCHW, so it is a view */
        l->in_place = l->kind == L_FLATTEN ||
                      (src && src->n_users == 1 && src->kind != L_INPUT && (l->kind == L_RELU || l->kind == L_DROPOUT));
        if (l->in_place) {
            l->act_off = src->act_off;
        } else {
            l->act_off = net->act_floats;
            net->act_floats += l->act;
        }
        l->grad_off = -1;
        if (l->needs_grad) {
            if (l->in_place && src->grad_off >= 0) l->grad_off = src->grad_off;
            else l->grad_off = net->grad_floats, net->grad_floats += l->act;
        }
        l->index_off = l->mask_off = l->saved_off = -1;
        if (l->kind == L_MAXPOOL) l->index_off = net->index_ints, net->index_ints += l->act;
        if (l->kind == L_DROPOUT) l->mask_off = net->mask_bytes, net->mask_bytes += l->act;
        if (l->kind == L_BATCHNORM) l->saved_off = net->saved_floats, net->saved_floats += 2 * l->out.c;
        if (l->kind == L_CONV) {
            int64_t s = conv_scratch(net, l);
            if (s > net->scratch_floats) net->scratch_floats = s;
        }
    }

    /* first writer of each gradient buffer (in backward order) assigns, later ones add */
    bool *written = pool_alloc(sizeof(bool) * (size_t)(net->grad_floats + 1));
    for (int i = net->n - 1; i > 0; i--) {
        Layer *l = &net->layers[i];
        if (!l->run_backward) continue;
        if (l->in_place) continue; /* transforms its own (shared) buffer */
        for (int j = 0; j < l->n_in; j++) {
            const Layer *src = &net->layers[l->in[j]];
            if (src->grad_off < 0) continue;
            l->grad_accumulate[j] = written[src->grad_off];
            written[src->grad_off] = true;
        }
    }
}

void dump_net(const Net *net, FILE *f) {
    fprintf(f, "# net %s: %d layers, input %ldx%ldx%ld\n", net->name, net->n, net->input.w, net->input.h, net->input.c);
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        fprintf(f, "%3d %-20s %-9s <-", i, l->name, layer_kind_name[l->kind]);
        for (int j = 0; j < l->n_in; j++) fprintf(f, " %s%s", net->layers[l->in[j]].name, l->grad_accumulate[j] ? "(+=)" : "");
        fprintf(f, "  out %ldx%ldx%ld", l->out.w, l->out.h, l->out.c);
        if (l->id) {
            fprintf(f, "  act@%lld", (long long)l->act_off);
            if (l->grad_off >= 0) fprintf(f, " grad@%lld", (long long)l->grad_off);
            if (l->in_place) fprintf(f, " in-place");
            if (l->weight_off >= 0) fprintf(f, " w@%lld", (long long)l->weight_off);
            if (l->bias_off >= 0) fprintf(f, " b@%lld", (long long)l->bias_off);
            fprintf(f, "%s", l->run_backward ? " backward" : "");
        }
        if (l->frozen) fprintf(f, " frozen");
        if (l->load) fprintf(f, " load=%s", l->load);
        if (l->lr_mult != 1) fprintf(f, " lr_mult=%g", l->lr_mult);
        fputc('\n', f);
    }
    if (net->layers[0].id)
        fprintf(f, "# per image: %lld activation floats, %lld gradient floats, %lld argmax ints, %lld mask bytes; "
                   "%lld parameter floats, %lld saved floats, %lld scratch floats per thread\n",
                (long long)net->act_floats, (long long)net->grad_floats, (long long)net->index_ints, (long long)net->mask_bytes,
                (long long)net->param_floats, (long long)net->saved_floats, (long long)net->scratch_floats);
}
