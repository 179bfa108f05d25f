/* plan.c: the memory plan and the gradient flow.
 *
 * Lays every tensor out once: parameters in one arena, each layer's output
 * and its gradient in per-image slices of two more (layout [c][cap][h][w],
 * so an offset of k floats per image is k * cap floats in the arena). Decides
 * which layers share buffers:
 *   - relu and dropout run in place when nothing else reads their input;
 *   - flatten of a 1x1 input is a view;
 *   - a concat whose inputs feed nothing else gets them written straight into
 *     its slices (channel-major layout makes each input's channels one block),
 *     so it costs nothing, forward or backward.
 * A relu running in place on a conv, linear or batch norm layer is fused into
 * it: the producer applies max(0, .) while it writes its output and masks its
 * output gradient while it first reads it, saving two passes over memory.
 * Then it decides which layers backward must visit, and where several layers
 * read one output, which writes its gradient first (=) and which add (+=),
 * so no gradient buffer ever needs clearing. Each kind's own decisions (a
 * conv's algorithm, what it folds) are its kind's choose and plan hooks
 * (kind.h), stored in its spec; the emitters only read them. */
#include <string.h>

#include "kind.h"
#include "net.h"
#include "pool.h"

/* A C identifier for every layer, unique even if "a.b" and "a_b" both exist. */
static void assign_ids(Net *net) {
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        char *base = pool_strdup(l->name), *id = base;
        for (char *p = base; *p; p++)
            if (*p == '.') *p = '_';
        for (int k = 2;; k++) {
            bool clash = false;
            for (int j = 0; j < i; j++) clash |= strcmp(net->layers[j].id, id) == 0;
            if (!clash) break;
            id = pool_printf("%s_%d", base, k);
        }
        l->id = id;
    }
}

/* Each tensor's place in the parameter arena, in layer order. */
static void plan_params(Net *net, Layer *l) {
    for (int t = 0; t < l->n_tensors; t++) {
        l->tensors[t].off = net->param_floats;
        net->param_floats += l->tensors[t].numel;
    }
}

/* May a layer overwrite layer i's buffer? Only if it is i's one reader, and
 * the same holds all the way down a chain of views sharing that buffer (a
 * flatten's input may have other readers), and the buffer is not the input. */
static bool sole_reader(const Net *net, int i) {
    for (;; i = net->layers[i].in[0]) {
        const Layer *s = &net->layers[i];
        if (s->n_users != 1 || s->kind == &kind_input) return false;
        if (!s->in_place) return true;
    }
}

/* The layer whose buffer an in-place chain ends at. */
static int root_of(const Net *net, int i) {
    while (net->layers[i].in_place) i = net->layers[i].in[0];
    return i;
}

/* Can concat l have its inputs written straight into its slices? Each input
 * (and the in-place chain under it) must feed only this concat. */
static bool concat_can_slice(const Net *net, const Layer *l) {
    for (int j = 0; j < l->n_in; j++) {
        for (int i = l->in[j];; i = net->layers[i].in[0]) {
            const Layer *s = &net->layers[i];
            if (s->n_users != 1 || s->kind == &kind_input || s->slice_of >= 0) return false;
            for (int k = 0; k < j; k++)
                if (root_of(net, l->in[k]) == root_of(net, l->in[j])) return false;
            if (!s->in_place) break;
        }
    }
    return true;
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
        l->run_backward = l->needs_grad && l->kind != &kind_input;
        l->slice_of = l->eval_by = l->backward_by = l->fused_relu = -1;
    }

    for (int i = 0; i < net->n; i++) plan_params(net, &net->layers[i]);
    for (int i = 1; i < net->n; i++)
        if (net->layers[i].kind->choose) net->layers[i].kind->choose(net, &net->layers[i]);
    /* who shares whose buffer */
    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (l->kind->view) l->in_place = l->kind->view(net, l);
        else l->in_place = l->kind->in_place && sole_reader(net, l->in[0]);
        if (l->kind->slices && concat_can_slice(net, l)) {
            l->concat_in_place = true;
            long off = 0;
            for (int j = 0; j < l->n_in; j++) {
                Layer *root = &net->layers[root_of(net, l->in[j])];
                root->slice_of = i, root->slice_c = off;
                off += net->layers[l->in[j]].out.c;
            }
        }
    }

    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i], *src = &net->layers[l->in[0]];
        float slope = l->kind == &kind_relu ? RELU(l)->slope : 0;
        if (l->kind->fusable && l->in_place && !src->in_place && !src->relu_fused && src->kind->fuses_relu &&
            src->kind->fuses_relu(net, src, slope)) {
            l->fused_away = src->relu_fused = true;
            src->fused_relu = i, src->relu_slope = slope;
        }
    }

    /* offsets: own buffers first, then slices, then in-place aliases (in file order) */
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        l->act_off = l->grad_off = -1;
        if (l->in_place || l->slice_of >= 0) continue;
        l->act_off = net->act_floats, net->act_floats += l->act;
        if (l->needs_grad) l->grad_off = net->grad_floats, net->grad_floats += l->act;
    }
    for (int i = net->n - 1; i >= 0; i--) { /* outer concats first: a slice may hold a concat's slices */
        Layer *l = &net->layers[i];
        if (l->slice_of < 0) continue;
        const Layer *cat = &net->layers[l->slice_of];
        l->act_off = cat->act_off + l->slice_c * l->out.h * l->out.w;
        if (l->needs_grad && cat->grad_off >= 0) l->grad_off = cat->grad_off + l->slice_c * l->out.h * l->out.w;
    }
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (!l->in_place) continue;
        const Layer *src = &net->layers[l->in[0]];
        l->act_off = src->act_off;
        l->grad_off = l->needs_grad ? src->grad_off : -1;
    }

    /* argmaxes, masks and batch statistics; then each kind's decisions, and the scratch they need */
    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        l->index_off = l->mask_off = l->saved_off = -1;
        int64_t index = 0, mask = 0, saved = 0;
        if (l->kind->buffers) l->kind->buffers(net, l, &index, &mask, &saved);
        if (index) l->index_off = net->index_ints, net->index_ints += index;
        if (mask) l->mask_off = net->mask_bytes, net->mask_bytes += mask;
        if (saved) l->saved_off = net->saved_floats, net->saved_floats += saved;
    }
    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (l->kind->plan) l->kind->plan(net, l);
        if (l->scratch_floats > net->scratch_floats) net->scratch_floats = l->scratch_floats;
        if (l->scratch_per_image > net->scratch_per_image) net->scratch_per_image = l->scratch_per_image;
    }

    /* first writer of each gradient buffer (in backward order) assigns, later ones add */
    bool *written = pool_alloc(sizeof(bool) * (size_t)(net->grad_floats + 1));
    for (int i = net->n - 1; i > 0; i--) {
        Layer *l = &net->layers[i];
        if (!l->run_backward || l->in_place || l->concat_in_place) continue; /* these transform or share buffers */
        /* (a fused relu's producer reads its gradient from the shared buffer, as the relu would have) */
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
        fprintf(f, "%3d %-20s %-9s <-", i, l->name, l->kind->name);
        for (int j = 0; j < l->n_in; j++) fprintf(f, " %s%s", net->layers[l->in[j]].name, l->grad_accumulate[j] ? "(+=)" : "");
        fprintf(f, "  out %ldx%ldx%ld", l->out.w, l->out.h, l->out.c);
        if (l->id) {
            fprintf(f, "  act@%lld", (long long)l->act_off);
            if (l->grad_off >= 0) fprintf(f, " grad@%lld", (long long)l->grad_off);
            if (l->in_place) fprintf(f, " in-place");
            if (l->slice_of >= 0) fprintf(f, " slice-of-%s", net->layers[l->slice_of].name);
            if (l->concat_in_place) fprintf(f, " zero-copy");
            if (l->relu_fused) fprintf(f, " +relu");
            if (l->fused_away) fprintf(f, " fused");
            if (l->kind->plan_text) fprintf(f, "%s", l->kind->plan_text(net, l));
            if (l->scratch_floats) fprintf(f, " scratch %lld", (long long)l->scratch_floats);
            if (l->scratch_per_image) fprintf(f, " scratch %lld/image", (long long)l->scratch_per_image);
            if (l->n_tensors > 0) fprintf(f, " w@%lld", (long long)l->tensors[0].off);
            if (l->n_tensors > 1) fprintf(f, " b@%lld", (long long)l->tensors[1].off);
            fprintf(f, "%s", l->run_backward ? " backward" : "");
        }
        if (l->frozen) fprintf(f, " frozen");
        if (l->load) fprintf(f, " load=%s", l->load);
        if (l->lr_mult != 1) fprintf(f, " lr_mult=%g", l->lr_mult);
        fputc('\n', f);
    }
    if (net->layers[0].id)
        fprintf(f, "# per image: %lld activation floats, %lld gradient floats, %lld argmax ints, %lld mask bytes, "
                   "%lld scratch floats; %lld parameter floats, %lld saved floats, %lld scratch floats\n",
                (long long)net->act_floats, (long long)net->grad_floats, (long long)net->index_ints, (long long)net->mask_bytes,
                (long long)net->scratch_per_image, (long long)net->param_floats, (long long)net->saved_floats,
                (long long)net->scratch_floats);
}
