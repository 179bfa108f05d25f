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
 * so no gradient buffer ever needs clearing. */
#include <string.h>

#include "net.h"
#include "pool.h"
#include "winograd.h"

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

bool conv_is_pointwise(const Layer *l) {
    const ConvSpec *c = &l->conv;
    return c->kw == 1 && c->kh == 1 && c->sw == 1 && c->sh == 1 && c->pw == 0 && c->ph == 0;
}

/* The input gradient as a convolution of dout needs dout's im2col, OC/C times
 * the size of col2im's columns: worth it while that ratio is small (AlexNet's
 * conv2, 64 -> 192 channels, is faster by col2im). */
bool conv_dx_by_conv(const Net *net, const Layer *l) {
    const ConvSpec *c = &l->conv;
    long in_c = net->layers[l->in[0]].out.c;
    return c->sw == 1 && c->sh == 1 && c->groups == 1 && !conv_is_pointwise(l) && 2 * c->pw < c->kw && 2 * c->ph < c->kh &&
           c->out <= 2 * in_c;
}

/* A conv with few taps per output (SimpleNet's 9x9 on one channel,
 * DeeperNet's first 3x3): straight loops over each output row beat im2col,
 * whose columns would be CK times the input, written and read once per pass,
 * and whose product is too thin (K = CK) to run near the sgemm roof. Output
 * channels go in blocks of 16, each block's sums in vector registers. */
bool conv_is_direct(const Net *net, const Layer *l) {
    const ConvSpec *c = &l->conv;
    Shape in = net->layers[l->in[0]].out;
    return c->groups == 1 && c->sw == 1 && c->sh == 1 && c->pw < c->kw && c->ph < c->kh && !conv_is_pointwise(l) &&
           !conv_is_full(net, l) && !conv_is_winograd(net, l) && in.c * c->kh * c->kw <= 128 &&
           (l->out.c <= 16 || l->out.c % 16 == 0) && l->out.w >= 16;
}

/* A 3x3, stride-1, pad-1 conv between enough channels (DeeperNet's, AlexNet's
 * conv3-5, SqueezeNet's expand3x3): Winograd's F(4x4, 3x3) does its products
 * with 4x fewer multiply-adds than im2col, forward and backward
 * (runtime/winograd.h). With a channel or two on either side the products
 * are too thin to pay for the transforms. net->no_winograd (netc
 * --no-winograd) keeps im2col, for comparisons. */
bool conv_is_winograd(const Net *net, const Layer *l) {
    const ConvSpec *c = &l->conv;
    Shape in = net->layers[l->in[0]].out;
    return !net->no_winograd && c->groups == 1 && c->kw == 3 && c->kh == 3 && c->sw == 1 && c->sh == 1 && c->pw == 1 &&
           c->ph == 1 && in.c >= 16 && c->out >= 16;
}

/* The batch norm a Winograd or direct conv's output goes to and nowhere
 * else, right after it: in evaluation its running statistics fold into the
 * conv (scale into the kernel or the output transform, shift as a bias, its
 * fused relu at the store), so it costs no pass over memory. NULL where
 * there is none. */
const Layer *conv_bn_folded(const Net *net, const Layer *l) {
    int me = (int)(l - net->layers);
    if (!(conv_is_winograd(net, l) || conv_is_direct(net, l)) || l->relu_fused || l->n_users != 1 || me + 1 >= net->n) return NULL;
    const Layer *bn = &net->layers[me + 1];
    return bn->kind == L_BATCHNORM && bn->in[0] == me ? bn : NULL;
}

/* The max pool a Winograd conv's folded forward (conv_bn_folded) writes in
 * evaluation, pooling each 4x4 tile of outputs to its 2x2 maxima as it
 * stores them: a 2x2, stride-2 pool over sides that are multiples of 4, the
 * one reader of the batch norm's output (or of its fused relu). The
 * full-size output is then never written, nor read back. NULL where there is
 * none. */
const Layer *conv_pool_folded(const Net *net, const Layer *l) {
    const Layer *bn = conv_bn_folded(net, l);
    if (!bn || !conv_is_winograd(net, l) || l->out.h % 4 || l->out.w % 4) return NULL;
    if (bn->relu_fused && bn->n_users != 1) return NULL;
    const Layer *top = bn + bn->relu_fused, *pool = conv_pool_reader(net, top); /* the fused relu, or the batch norm */
    if (!pool) return NULL;
    const PoolSpec *p = &pool->pool;
    return p->kw == 2 && p->kh == 2 && p->sw == 2 && p->sh == 2 && !p->pw && !p->ph ? pool : NULL;
}

/* Images per Winograd chunk: its transformed input and products, about 8 MB,
 * stay in the last-level cache between the transforms and the products. */
long conv_wino_chunk(const Net *net, const Layer *l) {
    Shape in = net->layers[l->in[0]].out;
    long wide = in.c > l->out.c ? in.c : l->out.c, tiles = netc_wino_tiles(in.h, in.w);
    long ch = (1L << 21) / (2 * 36 * wide * tiles);
    return ch < 1 ? 1 : ch > 4096 ? 4096 : ch;
}

/* The max pool that is a layer's one reader (a conv's, or a folded batch norm's), or NULL. */
const Layer *conv_pool_reader(const Net *net, const Layer *l) {
    int me = (int)(l - net->layers);
    if (l->n_users != 1) return NULL;
    for (int i = me + 1; i < net->n; i++) {
        const Layer *r = &net->layers[i];
        for (int j = 0; j < r->n_in; j++)
            if (r->in[j] == me) return r->kind == L_MAXPOOL && !r->pool.global ? r : NULL;
    }
    return NULL;
}

/* Is dout zero except where a max pool took its maximum? Then, when no input
 * gradient is wanted, dweight needs the input patches at those places only
 * (SimpleNet: 1 in 49). The pool must be the conv's one reader, with no relu
 * fused between. */
bool conv_dout_sparse(const Net *net, const Layer *l) {
    if (l->conv.groups != 1 || l->relu_fused || l->frozen || !l->run_backward || conv_is_winograd(net, l)) return false;
    if (net->layers[l->in[0]].needs_grad) return false;
    const Layer *pool = conv_pool_reader(net, l);
    return pool && pool->pool.kw * pool->pool.kh >= 4;
}

/* Does the conv need im2col columns in scratch, forward or backward? */
bool conv_uses_col(const Net *net, const Layer *l, bool backward) {
    if (conv_is_pointwise(l) || conv_is_full(net, l)) return false;
    if (!backward) return !conv_is_direct(net, l);
    bool din = net->layers[l->in[0]].needs_grad && l->run_backward, dw = !l->frozen && l->run_backward;
    return din || (dw && !conv_dout_sparse(net, l));
}

bool conv_is_full(const Net *net, const Layer *l) {
    const ConvSpec *c = &l->conv;
    Shape in = net->layers[l->in[0]].out;
    return c->groups == 1 && c->pw == 0 && c->ph == 0 && c->kw == in.w && c->kh == in.h;
}

/* Scratch a layer needs: im2col columns (and their gradient) per chunk, or
 * the gathered [K][n] input of a matrix product. */
static void plan_scratch(Net *net, const Layer *l) {
    Shape in = net->layers[l->in[0]].out;
    bool din = net->layers[l->in[0]].needs_grad && l->run_backward;
    bool matmul = l->kind == L_LINEAR || (l->kind == L_CONV && conv_is_full(net, l));
    if (matmul && in.h * in.w > 1) {
        if (in.c * in.h * in.w > net->scratch_per_image) net->scratch_per_image = in.c * in.h * in.w;
    } else if (l->kind == L_CONV && conv_is_winograd(net, l)) {
        int64_t need = netc_wino_scratch(in.c, l->out.c, in.h, in.w, conv_wino_chunk(net, l));
        if (need > net->scratch_floats) net->scratch_floats = need;
    } else if (l->kind == L_CONV && (conv_uses_col(net, l, false) || conv_uses_col(net, l, true))) {
        int64_t col = conv_col_floats(net, l);
        int64_t need = !din ? col : conv_dx_by_conv(net, l) ? col + l->params : 2 * col; /* + flipped weights, or dcol */
        if (need > net->scratch_floats) net->scratch_floats = need;
    }
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

/* May a layer overwrite layer i's buffer? Only if it is i's one reader, and
 * the same holds all the way down a chain of views sharing that buffer (a
 * flatten's input may have other readers), and the buffer is not the input. */
static bool sole_reader(const Net *net, int i) {
    for (;; i = net->layers[i].in[0]) {
        const Layer *s = &net->layers[i];
        if (s->n_users != 1 || s->kind == L_INPUT) return false;
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
            if (s->n_users != 1 || s->kind == L_INPUT || s->slice_of >= 0) return false;
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
        l->run_backward = l->needs_grad && l->kind != L_INPUT;
        l->slice_of = -1;
    }

    for (int i = 0; i < net->n; i++) plan_params(net, &net->layers[i]);
    /* who shares whose buffer */
    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i];
        const Layer *src = &net->layers[l->in[0]];
        if (l->kind == L_FLATTEN) l->in_place = src->out.h * src->out.w == 1;
        else l->in_place = (l->kind == L_RELU || l->kind == L_DROPOUT) && sole_reader(net, l->in[0]);
        if (l->kind == L_CONCAT && concat_can_slice(net, l)) {
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
        if (l->kind == L_RELU && l->in_place && !src->in_place && !src->relu_fused &&
            (src->kind == L_CONV || src->kind == L_LINEAR || src->kind == L_BATCHNORM))
            l->fused_away = src->relu_fused = true;
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

    for (int i = 0; i < net->n; i++) {
        Layer *l = &net->layers[i];
        l->index_off = l->mask_off = l->saved_off = -1;
        if (l->kind == L_MAXPOOL) l->index_off = net->index_ints, net->index_ints += l->act;
        if (l->kind == L_DROPOUT) l->mask_off = net->mask_bytes, net->mask_bytes += l->act;
        if (l->kind == L_BATCHNORM) l->saved_off = net->saved_floats, net->saved_floats += 2 * l->out.c;
        if (i > 0) plan_scratch(net, l);
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

/* How a conv runs, for -d plan. */
static const char *conv_algo(const Net *net, const Layer *l) {
    if (conv_is_full(net, l)) return " matmul";
    if (conv_is_pointwise(l)) return " pointwise";
    const Layer *bn = conv_bn_folded(net, l), *pool = conv_pool_folded(net, l);
    const char *folds = bn ? pool_printf(" eval-folds %s%s", bn->name, pool ? pool_printf(" and %s", pool->name) : "") : "";
    if (conv_is_winograd(net, l)) return pool_printf(" winograd(%ld images a chunk)%s", conv_wino_chunk(net, l), folds);
    const char *fwd = conv_is_direct(net, l) ? pool_printf(" direct%s", folds) : " im2col";
    return l->run_backward && conv_dout_sparse(net, l) ? pool_printf("%s sparse-backward", fwd) : fwd;
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
            if (l->slice_of >= 0) fprintf(f, " slice-of-%s", net->layers[l->slice_of].name);
            if (l->concat_in_place) fprintf(f, " zero-copy");
            if (l->relu_fused) fprintf(f, " +relu");
            if (l->fused_away) fprintf(f, " fused");
            if (l->kind == L_CONV) fprintf(f, "%s", conv_algo(net, l));
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
        fprintf(f, "# per image: %lld activation floats, %lld gradient floats, %lld argmax ints, %lld mask bytes, "
                   "%lld scratch floats; %lld parameter floats, %lld saved floats, %lld scratch floats\n",
                (long long)net->act_floats, (long long)net->grad_floats, (long long)net->index_ints, (long long)net->mask_bytes,
                (long long)net->scratch_per_image, (long long)net->param_floats, (long long)net->saved_floats,
                (long long)net->scratch_floats);
}
