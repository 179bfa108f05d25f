/* emit.c: writes generated/<net>.c.
 *
 * The file reads top to bottom like a hand-written trainer core: where every
 * tensor lives, one forward and one backward function per layer, the net's
 * forward and backward as straight-line calls, and the tables the runtime
 * reads (tensors, layers, settings, the shape report). */
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "netc.h"
#include "pool.h"
#include "report.h"

/* ---- layer functions ------------------------------------------------------------------ */

void emit_layer_functions(Emitter *e, const Layer *l) {
    ev_layer(e, l);
    switch (l->kind) {
    case L_CONV: emit_conv(e, l); break;
    case L_LINEAR: emit_linear(e, l); break;
    case L_MAXPOOL:
    case L_AVGPOOL: emit_pool(e, l); break;
    case L_BATCHNORM: emit_batchnorm(e, l); break;
    case L_RELU:
    case L_DROPOUT: emit_elementwise(e, l); break;
    case L_FLATTEN:
        if (!l->in_place) emit_elementwise(e, l);
        break;
    case L_CONCAT:
    case L_ADD: emit_join(e, l); break;
    case L_SOFTMAX: emit_loss(e, l); break;
    case L_INPUT:
    case L_NKINDS: break;
    }
}

/* ---- calls in the net's forward and backward ------------------------------------------- */

static const char *act(const Layer *l) { return pool_printf("ACT(A_%s)", l->id); }
static const char *grad(const Layer *l) { return pool_printf("GRAD(G_%s)", l->id); }

static const Layer *src(const Emitter *e, const Layer *l, int j) { return &e->net->layers[l->in[j]]; }

static bool has_bias(const Layer *l) { return l->bias_off >= 0 && l->kind != L_BATCHNORM; }

/* The scratch argument a conv or linear layer's forward or backward takes, or "". */
static const char *scratch_arg(const Emitter *e, const Layer *l, bool backward) {
    const Shape in = src(e, l, 0)->out;
    bool matmul = l->kind == L_LINEAR || conv_is_full(e->net, l);
    if (matmul) return in.h * in.w > 1 ? ", m->scratch" : "";
    return conv_uses_col(e->net, l, backward) ? ", m->scratch" : "";
}

void emit_forward_call(Emitter *e, const Layer *l) {
    FILE *f = e->f;
    const char *id = l->id;
    switch (l->kind) {
    case L_INPUT: break;
    case L_CONV:
    case L_LINEAR:
        fprintf(f, "    %s_forward(%s, %s, PARAM(P_%s_weight)%s, n, cap%s);\n", id, act(l), act(src(e, l, 0)), id,
                has_bias(l) ? pool_printf(", PARAM(P_%s_bias)", id) : "", scratch_arg(e, l, false));
        break;
    case L_MAXPOOL: /* the argmax only where backward will read it */
        fprintf(f, "    %s_forward(%s, INDEX(I_%s), %s, n, cap, %s);\n", id, act(l), id, act(src(e, l, 0)), l->run_backward ? "train" : "0");
        break;
    case L_AVGPOOL: fprintf(f, "    %s_forward(%s, %s, n, cap);\n", id, act(l), act(src(e, l, 0))); break;
    case L_BATCHNORM:
        fprintf(f, "    %s_forward(%s, %s, PARAM(P_%s_weight), PARAM(P_%s_bias), PARAM(P_%s_running_mean),\n"
                   "               PARAM(P_%s_running_var), SAVED(S_%s), n, cap, train, m->bn_momentum);\n",
                id, act(l), act(src(e, l, 0)), id, id, id, id, id);
        break;
    case L_RELU:
        if (l->fused_away) fprintf(f, "    /* %s: relu, fused into %s */\n", l->name, src(e, l, 0)->name);
        else if (l->in_place) fprintf(f, "    %s_forward(%s, n, cap);\n", id, act(l));
        else fprintf(f, "    %s_forward(%s, %s, n, cap);\n", id, act(l), act(src(e, l, 0)));
        break;
    case L_DROPOUT:
        if (l->in_place) fprintf(f, "    %s_forward(%s, MASK(M_%s), n, cap, train, m->seed, m->step);\n", id, act(l), id);
        else fprintf(f, "    %s_forward(%s, %s, MASK(M_%s), n, cap, train, m->seed, m->step);\n", id, act(l), act(src(e, l, 0)), id);
        break;
    case L_FLATTEN:
        if (l->in_place) fprintf(f, "    /* %s: flatten of a 1x1 input, a view of %s */\n", l->name, src(e, l, 0)->name);
        else fprintf(f, "    %s_forward(%s, %s, n, cap);\n", id, act(l), act(src(e, l, 0)));
        break;
    case L_CONCAT:
        if (l->concat_in_place) {
            fprintf(f, "    /* %s: concat, its inputs were written into their slices of it */\n", l->name);
            break;
        }
        /* fallthrough */
    case L_ADD:
        fprintf(f, "    %s_forward(%s", id, act(l));
        for (int j = 0; j < l->n_in; j++) fprintf(f, ", %s", act(src(e, l, j)));
        fprintf(f, ", n, cap);\n");
        break;
    case L_SOFTMAX:
        fprintf(f, "    m->loss = %s_forward(%s, %s, m->labels, n, cap, m->label_smoothing);\n", id, act(l), act(src(e, l, 0)));
        break;
    case L_NKINDS: break;
    }
}

void emit_backward_call(Emitter *e, const Layer *l) {
    FILE *f = e->f;
    const char *id = l->id;
    const Layer *s = l->n_in ? src(e, l, 0) : NULL;
    bool din = s && s->needs_grad, dw = !l->frozen;
    const char *dinarg = din ? pool_printf("%s, ", grad(s)) : "";
    switch (l->kind) {
    case L_CONV:
    case L_LINEAR: {
        if (l->kind == L_CONV && conv_dout_sparse(e->net, l)) { /* takes its max pool's dout and argmax */
            const Layer *pool = conv_pool_reader(e->net, l);
            fprintf(f, "    %s_backward(PGRAD(P_%s_weight), %s%s, INDEX(I_%s), %s, n, cap);\n", id, id,
                    has_bias(l) ? pool_printf("PGRAD(P_%s_bias), ", id) : "", grad(pool), pool->id, act(s));
            break;
        }
        const char *dws = dw ? pool_printf("PGRAD(P_%s_weight), %s", id, has_bias(l) ? pool_printf("PGRAD(P_%s_bias), ", id) : "") : "";
        fprintf(f, "    %s_backward(%s%s%s, %s%s%sn, cap%s);\n", id, dinarg, dws, grad(l),
                l->relu_fused ? pool_printf("%s, ", act(l)) : "", dw ? pool_printf("%s, ", act(s)) : "",
                din ? pool_printf("PARAM(P_%s_weight), ", id) : "", scratch_arg(e, l, true));
        break;
    }
    case L_MAXPOOL:
        if (s->kind == L_CONV && conv_dout_sparse(e->net, s))
            fprintf(f, "    /* %s: backward folded into %s's (its dout is this pool's, at the argmax) */\n", l->name, s->name);
        else fprintf(f, "    %s_backward(%s, %s, INDEX(I_%s), n, cap);\n", id, grad(s), grad(l), id);
        break;
    case L_AVGPOOL: fprintf(f, "    %s_backward(%s, %s, n, cap);\n", id, grad(s), grad(l)); break;
    case L_BATCHNORM:
        fprintf(f, "    %s_backward(%s%s%s, %s, %s%sSAVED(S_%s), n, cap);\n", id, dinarg,
                dw ? pool_printf("PGRAD(P_%s_weight), PGRAD(P_%s_bias), ", id, id) : "", grad(l), act(s),
                l->relu_fused ? pool_printf("%s, ", act(l)) : "", din ? pool_printf("PARAM(P_%s_weight), ", id) : "", id);
        break;
    case L_RELU:
        if (l->fused_away) fprintf(f, "    /* %s: relu, fused into %s's backward */\n", l->name, s->name);
        else if (l->in_place) fprintf(f, "    %s_backward(%s, %s, n, cap);\n", id, grad(l), act(l));
        else fprintf(f, "    %s_backward(%s, %s, %s, n, cap);\n", id, grad(s), grad(l), act(l));
        break;
    case L_DROPOUT:
        if (l->in_place) fprintf(f, "    %s_backward(%s, MASK(M_%s), n, cap);\n", id, grad(l), id);
        else fprintf(f, "    %s_backward(%s, %s, MASK(M_%s), n, cap);\n", id, grad(s), grad(l), id);
        break;
    case L_FLATTEN:
        if (l->in_place) fprintf(f, "    /* %s: flatten, its gradient is %s's */\n", l->name, s->name);
        else fprintf(f, "    %s_backward(%s, %s, n, cap);\n", id, grad(s), grad(l));
        break;
    case L_CONCAT:
        if (l->concat_in_place) {
            fprintf(f, "    /* %s: concat, its gradient's slices are its inputs' gradients */\n", l->name);
            break;
        }
        /* fallthrough */
    case L_ADD:
        fprintf(f, "    %s_backward(", id);
        for (int j = 0; j < l->n_in; j++)
            if (src(e, l, j)->needs_grad) fprintf(f, "%s, ", grad(src(e, l, j)));
        fprintf(f, "%s, n, cap);\n", grad(l));
        break;
    case L_SOFTMAX: fprintf(f, "    %s_backward(%s, %s, m->labels, n, cap, m->label_smoothing);\n", id, grad(s), act(l)); break;
    case L_INPUT:
    case L_NKINDS: break;
    }
}

/* ---- file sections ------------------------------------------------------------------------ */

static void emit_c_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n') fputs(s[1] ? "\\n\"\n    \"" : "\\n", f);
        else if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 32) fprintf(f, "\\%03o", (unsigned char)*s);
        else fputc(*s, f);
    }
    fputs("\"", f);
}

static char *report_text(const Net *net) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    report_net(net, REPORT_TABLE, mem);
    fclose(mem);
    char *s = pool_strdup(buf);
    free(buf);
    return s;
}

static void emit_header(Emitter *e) {
    const Net *net = e->net;
    FILE *f = e->f;
    fprintf(f, "/* %s.c: generated by netc %s from %s. Edit the .net file, not this one.\n *\n", net->name, NETC_VERSION,
            net->file);
    char *rep = report_text(net);
    char *save = NULL;
    for (char *line = strtok_r(rep, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) fprintf(f, " * %s\n", line);
    fprintf(f, " *\n"
               " * Layout: channel-major. A buffer holds [c][cap][h][w] for a batch of up to cap images, of which\n"
               " * the first n are in use; every other size below is a constant of this net.\n"
               " * Threads: OpenMP owns them. Loops split channels or planes across cores; netc_sgemm splits each\n"
               " * matrix product into one single-threaded OpenBLAS sgemm per thread, and the Winograd\n"
               " * convolutions (runtime/winograd.c) give each thread its own tiles or products. */\n"
               "#include \"netc_gen.h\"\n\n");
}

static void emit_offsets(Emitter *e) {
    const Net *net = e->net;
    FILE *f = e->f;
    fprintf(f, "/* Where everything lives: parameters (P_) are float offsets into m->params; activations (A_),\n"
               " * their gradients (G_), max-pool argmaxes (I_) and dropout masks (M_) are per-image offsets,\n"
               " * times cap; batch norm's batch statistics (S_) are offsets into m->saved. */\n"
               "enum {\n");
    static const char *const psuffix[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        fprintf(f, "    A_%s = %lld, /* [%ld][cap][%ld][%ld]%s */\n", l->id, (long long)l->act_off, l->out.c, l->out.h, l->out.w,
                l->in_place     ? pool_printf(", in place on %s", net->layers[l->in[0]].name)
                : l->slice_of >= 0 ? pool_printf(", channels %ld.. of %s", l->slice_c, net->layers[l->slice_of].name)
                                   : "");
        if (l->grad_off >= 0) fprintf(f, "    G_%s = %lld,\n", l->id, (long long)l->grad_off);
        int64_t offs[4] = {l->weight_off, l->bias_off, l->mean_off, l->var_off};
        for (int k = 0; k < 4; k++)
            if (offs[k] >= 0) fprintf(f, "    P_%s_%s = %lld,\n", l->id, psuffix[k], (long long)offs[k]);
        if (l->index_off >= 0) fprintf(f, "    I_%s = %lld,\n", l->id, (long long)l->index_off);
        if (l->mask_off >= 0) fprintf(f, "    M_%s = %lld,\n", l->id, (long long)l->mask_off);
        if (l->saved_off >= 0) fprintf(f, "    S_%s = %lld,\n", l->id, (long long)l->saved_off);
    }
    fprintf(f, "    SCRATCH = %lld, /* floats: im2col columns; plus %lld per image for gathered inputs */\n",
            (long long)net->scratch_floats, (long long)net->scratch_per_image);
    fprintf(f, "};\n\n");
}

/* Layers the plan turned into nothing: views, fused relus, zero-copy concats. */
static bool does_nothing(const Layer *l) {
    return l->kind == L_INPUT || l->fused_away || (l->kind == L_FLATTEN && l->in_place) || l->concat_in_place;
}

/* A conv and its batch norm (plan.c's conv_bn_folded): in training, or in an
 * evaluation that keeps every output, the two calls; in evaluation, the
 * conv's folded forward, writing the batch norm's output, or that of the
 * max pool after it (plan.c's conv_pool_folded). */
static void emit_folded_calls(Emitter *e, const Layer *l, int i) {
    FILE *f = e->f;
    const Layer *bn = &e->net->layers[i + 1], *pool = conv_pool_folded(e->net, l);
    char *calls = NULL;
    size_t len = 0;
    e->f = open_memstream(&calls, &len); /* the two calls, indented once more below */
    emit_forward_call(e, l);
    fprintf(e->f, "    PROFILE(%d, 0);\n", i);
    emit_forward_call(e, bn);
    fclose(e->f);
    e->f = f;
    fprintf(f, "    if (train || keep) {\n");
    char *save = NULL;
    for (char *line = strtok_r(calls, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) fprintf(f, "    %s\n", line);
    free(calls);
    fprintf(f, "    } else {\n"
               "        %s_forward_eval(%s, %s, PARAM(P_%s_weight)%s, PARAM(P_%s_weight), PARAM(P_%s_bias),\n"
               "        %*sPARAM(P_%s_running_mean), PARAM(P_%s_running_var), n, cap%s);\n"
               "        PROFILE(%d, 0); /* %s: folded into %s */\n"
               "    }\n",
            l->id, act(pool ? pool : bn), act(src(e, l, 0)), l->id, has_bias(l) ? pool_printf(", PARAM(P_%s_bias)", l->id) : "",
            bn->id, bn->id, (int)strlen(l->id) + 14, "", bn->id, bn->id, conv_is_winograd(e->net, l) ? ", m->scratch" : "", i, bn->name,
            l->name); /* the second line under the ( of "<id>_forward_eval(" */
}

static void emit_net_passes(Emitter *e) {
    const Net *net = e->net;
    FILE *f = e->f;
    fprintf(f, "/* The whole net, forward: n images from m->input; with labels, also the loss.\n"
               " * train = 1 uses batch statistics and dropout; 0 is evaluation. */\n"
               "static void forward(Model *m, int n, int train) {\n"
               "    const int cap = m->batch; /* images each buffer holds per channel */\n");
    bool uses_train = false;
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        uses_train |= l->kind == L_BATCHNORM || l->kind == L_DROPOUT || (l->kind == L_MAXPOOL && l->run_backward);
    }
    if (!uses_train) fprintf(f, "    (void)train; /* no batch norm, dropout or max pool to train: training and evaluation are the same */\n");
    bool folds = false;
    for (int i = 0; i < net->n; i++) folds |= net->layers[i].kind == L_CONV && conv_bn_folded(net, &net->layers[i]);
    if (folds) fprintf(f, "    const int keep = train == NETC_EVAL_ALL; /* evaluation that writes every layer's output */\n");
    if (uses_train) fprintf(f, "    train = train == NETC_TRAIN;\n");
    fprintf(f, "    PROFILE(-1, 0);\n");
    const Layer *pooled = NULL, *pooler = NULL; /* a max pool the last folded conv writes in evaluation, and that conv */
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        if (l->kind == L_CONV && conv_bn_folded(net, l)) {
            emit_folded_calls(e, l, i);
            pooled = conv_pool_folded(net, l), pooler = l;
            i++; /* the batch norm */
        } else if (l == pooled) {
            fprintf(f, "    if (train || keep) { /* in evaluation, done by %s's folded forward */\n    ", pooler->name);
            emit_forward_call(e, l);
            fprintf(f, "    }\n");
        } else emit_forward_call(e, l);
        if (!does_nothing(&net->layers[i])) fprintf(f, "    PROFILE(%d, 0);\n", i);
    }
    fprintf(f, "}\n\n");

    fprintf(f, "/* The whole net, backward, after forward(m, n, 1) with labels: the gradient of the mean loss\n"
               " * for every trainable tensor in m->grads.");
    int lowest = -1;
    for (int i = 1; i < net->n && lowest < 0; i++)
        if (net->layers[i].run_backward) lowest = i;
    if (lowest > 1) fprintf(f, " Nothing below %s is trainable, so backward stops there.", net->layers[lowest].name);
    fprintf(f, " */\nstatic void backward(Model *m, int n) {\n");
    if (lowest < 0) fprintf(f, "    (void)m, (void)n; /* nothing is trainable */\n");
    else fprintf(f, "    const int cap = m->batch;\n    PROFILE(-1, 1);\n");
    for (int i = net->n - 1; i > 0; i--)
        if (net->layers[i].run_backward) {
            emit_backward_call(e, &net->layers[i]);
            if (!does_nothing(&net->layers[i])) fprintf(f, "    PROFILE(%d, 1);\n", i);
        }
    fprintf(f, "}\n\n");
}

static void emit_tensor(FILE *f, const Layer *l, const char *suffix, int role, int ndim, const long *shape, int64_t off,
                        int64_t size, bool trainable, Init init, long fan_in, long fan_out) {
    static const char *const roles[] = {"ROLE_WEIGHT", "ROLE_BIAS", "ROLE_BN_WEIGHT", "ROLE_BN_BIAS", "ROLE_RUNNING_MEAN", "ROLE_RUNNING_VAR"};
    static const char *const inits[] = {"NINIT_KAIMING", "NINIT_XAVIER", "NINIT_GAUSSIAN", "NINIT_UNIFORM", "NINIT_PYTORCH", "NINIT_CONSTANT"};
    fprintf(f, "    {\"%s.%s\", \"%s\", ", l->name, suffix, l->name);
    if (l->load) fprintf(f, "\"%s.%s\", ", l->load, suffix);
    else fprintf(f, "NULL, ");
    fprintf(f, "%s, %d, {", roles[role], ndim);
    for (int d = 0; d < ndim; d++) fprintf(f, "%s%ld", d ? ", " : "", shape[d]);
    fprintf(f, "}, %lld, %lld, %d, %s, %s, %s, %ld, %ld},\n", (long long)off, (long long)size, trainable, float_lit(l->lr_mult),
            inits[init.kind], float_lit(init.arg), fan_in, fan_out);
}

static void emit_tables(Emitter *e) {
    const Net *net = e->net;
    FILE *f = e->f;
    fprintf(f, "/* Every tensor of the parameter arena, with PyTorch's names and layouts. */\n"
               "static const NetcTensor tensors[] = {\n");
    int ntensors = 0;
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        Shape in = l->n_in ? net->layers[l->in[0]].out : l->out;
        bool tr = !l->frozen;
        Init pt_bias = l->init.kind == INIT_PYTORCH ? l->init : l->bias_init;
        if (l->kind == L_CONV) {
            long cg = in.c / l->conv.groups, fi = cg * l->conv.kh * l->conv.kw, fo = l->conv.out * l->conv.kh * l->conv.kw;
            long ws[4] = {l->conv.out, cg, l->conv.kh, l->conv.kw}, bs[1] = {l->conv.out};
            emit_tensor(f, l, "weight", 0, 4, ws, l->weight_off, l->conv.out * fi, tr, l->init, fi, fo), ntensors++;
            if (l->conv.bias) emit_tensor(f, l, "bias", 1, 1, bs, l->bias_off, l->conv.out, tr, pt_bias, fi, fo), ntensors++;
        } else if (l->kind == L_LINEAR) {
            long k = in.c * in.h * in.w, ws[2] = {l->linear.out, k}, bs[1] = {l->linear.out};
            emit_tensor(f, l, "weight", 0, 2, ws, l->weight_off, l->linear.out * k, tr, l->init, k, l->linear.out), ntensors++;
            if (l->linear.bias) emit_tensor(f, l, "bias", 1, 1, bs, l->bias_off, l->linear.out, tr, pt_bias, k, l->linear.out), ntensors++;
        } else if (l->kind == L_BATCHNORM) {
            long cs[1] = {in.c};
            emit_tensor(f, l, "weight", 2, 1, cs, l->weight_off, in.c, tr, (Init){INIT_CONSTANT, 1}, 1, 1);
            emit_tensor(f, l, "bias", 3, 1, cs, l->bias_off, in.c, tr, (Init){INIT_CONSTANT, 0}, 1, 1);
            emit_tensor(f, l, "running_mean", 4, 1, cs, l->mean_off, in.c, false, (Init){INIT_CONSTANT, 0}, 1, 1);
            emit_tensor(f, l, "running_var", 5, 1, cs, l->var_off, in.c, false, (Init){INIT_CONSTANT, 1}, 1, 1);
            ntensors += 4;
        }
    }
    if (!ntensors) fprintf(f, "    {0},\n");
    fprintf(f, "};\n\n/* Every layer, for reports, feature extraction and the first layer's filters. */\n"
               "static const NetcLayer layers[] = {\n");
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        fprintf(f, "    {\"%s\", \"%s\", ", l->name, layer_kind_name[l->kind]);
        emit_c_string(f, l->desc);
        fprintf(f, ", %ld, %ld, %ld, A_%s, %ld, %ld, %lld, %.0f, %d, %d},\n", l->out.c, l->out.h, l->out.w, l->id, l->rf,
                l->rf_stride, (long long)l->params, l->flops, l->frozen, l->n_in ? l->in[0] : -1);
    }
    fprintf(f, "};\n\n/* The .net file's settings; the trainer's command line may override each. */\n"
               "static const char *const settings[] = {\n");
    for (int i = 0; i < net->n_settings; i++) {
        fprintf(f, "    \"%s\", ", net->settings[i].key);
        emit_c_string(f, net->settings[i].value);
        fprintf(f, ",\n");
    }
    fprintf(f, "    NULL,\n};\n\nstatic const char report[] =\n    ");
    emit_c_string(f, report_text(net));
    fprintf(f, ";\n\n");

    fprintf(f, "const NetcNet netc_%s = {\n"
               "    .abi = NETC_ABI,\n"
               "    .name = \"%s\",\n"
               "    .source = \"%s\",\n"
               "    .netc_version = NETC_VERSION,\n"
               "    .in_c = %ld, .in_h = %ld, .in_w = %ld, .classes = %d,\n"
               "    .tensors = tensors, .n_tensors = %d, .param_floats = %lld,\n"
               "    .layers = layers, .n_layers = %d,\n"
               "    .act_floats = %lld, .grad_floats = %lld, .index_ints = %lld, .mask_bytes = %lld,\n"
               "    .saved_floats = %lld, .scratch_floats = SCRATCH, .scratch_per_image = %lld,\n"
               "    .settings = settings, .report = report, .flops_forward = %.0f, .logits = A_%s,\n"
               "    .forward = forward, .backward = backward,\n"
               "};\n\n"
               "#ifndef NETC_NO_MAIN\n"
               "int main(int argc, char **argv) { return netc_main(argc, argv, &netc_%s); }\n"
               "#endif\n",
            net->name, net->name, net->file, net->input.c, net->input.h, net->input.w, net->classes, ntensors,
            (long long)net->param_floats, net->n, (long long)net->act_floats, (long long)net->grad_floats,
            (long long)net->index_ints, (long long)net->mask_bytes, (long long)net->saved_floats,
            (long long)net->scratch_per_image, net->total_flops,
            net->layers[net->layers[net->n - 1].in[0]].id, net->name);
}

int emit_net(const Net *net, FILE *f) {
    Emitter e = {.f = f, .net = net};
    emit_header(&e);
    emit_offsets(&e);
    for (int i = 0; i < net->n; i++) emit_layer_functions(&e, &net->layers[i]);
    emit_net_passes(&e);
    emit_tables(&e);
    return ferror(f) ? -1 : 0;
}
