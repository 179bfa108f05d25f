/* deploy.c: netc --deploy's pass (see deploy.h): the weights file, what
 * runs and where every output lives, the arena plan; deploy_emit.c writes
 * the files from what it decides.
 *
 * Decisions, in layer order (the order forward runs them):
 *   - a dropout or flatten is its input (nothing runs), the loss's input is
 *     the logits;
 *   - a batch norm right after a conv or linear layer that nothing else
 *     reads folds into its weights;
 *   - a relu is applied by the kernel that writes its input as it stores,
 *     where nothing else reads the values before it; otherwise it runs in
 *     place if it is the last to read its input;
 *   - an add may write over an input it is the last to read;
 *   - a concat's inputs are written straight into its slices where they can
 *     be (each the sole owner of its buffer, not the net's input, once).
 * Every buffer then lives from the layer that first writes it to the last
 * that reads it (through every alias), and deploy_plan.c places them. */
#include "deploy.h"

#include <stdlib.h>
#include <string.h>

#include "deploy_int.h"
#include "kind.h"
#include "pool.h"
#include "safetensors.h"
#include "weights_meta.h"

const Net *deploy_net_of(const Deploy *d) { return d->net; }
DeployLayer *deploy_layer(Deploy *d, const Layer *l) { return &d->dl[l - d->net->layers]; }
FILE *deploy_file(Deploy *d) { return d->f; }

/* ---- the weights file ---------------------------------------------------------------------- */

/* "conv1.weight" for layer conv1's tensor "weight" */
static const char *tensor_name(const Layer *l, const char *suffix) { return pool_printf("%s.%s", l->name, suffix); }

float *deploy_tensor(Deploy *d, const Layer *l, const char *suffix) {
    for (int t = 0; t < l->n_tensors; t++) {
        if (strcmp(l->tensors[t].suffix, suffix) != 0) continue;
        const StTensor *st = st_find(&d->st, tensor_name(l, suffix));
        float *v = pool_alloc(sizeof(float) * (size_t)l->tensors[t].numel);
        Error e;
        if (!st || st_read_f32(&d->st, st, v, (size_t)l->tensors[t].numel, &e) < 0) abort(); /* load_weights checked them */
        return v;
    }
    return NULL;
}

/* Every tensor of the net is in the file with its shape, and finite: else
 * the file holds another net's weights (say which, if its metadata does). */
static int check_tensors(Deploy *d) {
    const Net *net = d->net;
    const char *path = d->o->weights, *other = st_meta(&d->st, "netc.net");
    int missing = 0, shown = 0;
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const Tensor *want = &l->tensors[t];
            const char *name = tensor_name(l, want->suffix);
            const StTensor *st = st_find(&d->st, name);
            bool same = st && st->ndim == want->ndim;
            for (int k = 0; same && k < want->ndim; k++) same = st->shape[k] == want->shape[k];
            if (same) continue;
            missing++;
            if (shown++ >= 3) continue;
            char have[128] = "the file has no such tensor", need[128];
            int64_t shape[4];
            for (int k = 0; k < want->ndim; k++) shape[k] = want->shape[k];
            st_shape_str(shape, want->ndim, need, sizeof need);
            if (st) {
                char shape_str[112];
                st_shape_str(st->shape, st->ndim, shape_str, sizeof shape_str);
                snprintf(have, sizeof have, "the file's is %s", shape_str);
            }
            fprintf(stderr, "netc: %s: %s (layer %s): the net needs %s, %s\n", path, name, l->name, need, have);
        }
    }
    if (!missing) return 0;
    fprintf(stderr, "netc: %s: %d tensor%s of %s missing or of another shape: these are the weights of %s\n", path, missing,
            missing == 1 ? "" : "s", net->name, other && strcmp(other, net->name) ? pool_printf("'%s'", other) : "another net");
    fprintf(stderr, "  HINT: deploy a net with the weights its own trainer wrote: %s train writes runs/%s/weights.safetensors\n",
            net->name, net->name);
    return -1;
}

/* Settings, normalisation and class names, as the trainer's test and predict read them. */
static int read_context(Deploy *d) {
    const Net *net = d->net;
    Error e;
    config_defaults(&d->cfg);
    for (int i = 0; i < net->n_settings; i++)
        if (config_set(&d->cfg, net->settings[i].key, net->settings[i].value, &e) < 0) {
            fprintf(stderr, "netc: %s: %s\n", net->file, e.msg);
            return -1;
        }
    char **classes = NULL;
    int has_norm = weights_meta(d->o->weights, d->mean, d->std, &classes, &d->n_classes, &e);
    d->classes = classes;
    if (has_norm < 0 || checkpoint_apply_settings(&d->cfg, d->o->weights, &e) < 0) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return -1;
    }
    if (!has_norm || d->n_classes == 0) {
        fprintf(stderr, "netc: %s has no %s in its metadata: it was not written by a trainer's train\n", d->o->weights,
                has_norm ? "class names" : "normalisation");
        fprintf(stderr, "  HINT: deploy the weights.safetensors of a run folder (runs/%s/weights.safetensors)\n", net->name);
        return -1;
    }
    if (d->n_classes != net->classes) {
        fprintf(stderr, "netc: %s names %d classes, but %s outputs %d\n  HINT: these are the weights of another net\n",
                d->o->weights, d->n_classes, net->name, net->classes);
        return -1;
    }
    d->resize_w = d->cfg.resize_w ? d->cfg.resize_w : (int)net->input.w;
    d->resize_h = d->cfg.resize_h ? d->cfg.resize_h : (int)net->input.h;
    if (d->resize_w < net->input.w || d->resize_h < net->input.h) {
        fprintf(stderr, "netc: %s: resize %dx%d is smaller than the input %ldx%ld\n", d->o->weights, d->resize_w, d->resize_h,
                net->input.w, net->input.h);
        return -1;
    }
    return 0;
}

/* ---- what runs, and where outputs live ---------------------------------------------------- */

static const DeployEmit *kind_of(const Deploy *d, int i) { return d->net->layers[i].kind->deploy; }

int deploy_owner(const Deploy *d, int i) {
    while (d->dl[i].alias >= 0) i = d->dl[i].alias;
    return i;
}
#define owner deploy_owner

/* The layer whose kernel writes layer i's values, or -1 (a concat's slices, the input). */
static int writer(const Deploy *d, int i) {
    while (!d->dl[i].runs) {
        if (d->dl[i].alias < 0) return -1;
        i = d->dl[i].alias;
    }
    return i;
}

static int top(const Deploy *d, int i);

/* Nothing reads buffer o (or the concat it is a slice of) after step `step`,
 * and it is not the net's input. */
static bool dies_at(const Deploy *d, int o, int step) {
    int t = top(d, o);
    if (t == 0) return false;
    for (int y = 1; y < step; y++)
        if (top(d, y) == t && d->dl[y].last_use > step) return false;
    return true;
}

/* Between layer i's input p and the layer writing it, nothing else reads the values. */
static bool sole_path(const Deploy *d, int p, int w) {
    for (int x = p;; x = d->dl[x].alias) {
        if (d->net->layers[x].n_users != 1) return false;
        if (x == w) return true;
    }
}

/* int8: a relu after max pool w is better applied by the layer writing the
 * pool's input, where nothing else reads it: then the pool's input is the
 * relu's output, whose bytes all go to its positive side. Returns that
 * layer, or w. */
static int before_max(const Deploy *d, int w, float slope) {
    const DeployInt8 *q = kind_of(d, w)->int8;
    if (!q || !q->monotone || slope < 0) return w;
    int p = d->net->layers[w].in[0], w2 = writer(d, p);
    return w2 > 0 && kind_of(d, w2)->act && d->dl[w2].act == DEPLOY_LINEAR && sole_path(d, p, w2) ? w2 : w;
}

static void decide_concat(Deploy *d, int i) {
    const Layer *l = &d->net->layers[i];
    DeployLayer *dl = &d->dl[i];
    int64_t off = 0, plane = l->out.h * l->out.w * (int64_t)sizeof(float);
    int copied = 0;
    for (int j = 0; j < l->n_in; j++) {
        const Layer *s = &d->net->layers[l->in[j]];
        int o = owner(d, l->in[j]);
        bool twice = false;
        for (int k = 0; k < j; k++) twice |= owner(d, l->in[k]) == o;
        if (o == 0 || twice || d->dl[o].slice_of >= 0 || d->net->layers[o].act != s->act) copied++;
        else d->dl[o].slice_of = i, d->dl[o].slice_off = off;
        off += s->out.c * plane;
    }
    dl->runs = copied > 0;
    dl->how = copied ? pool_printf("copies %d of its %d inputs", copied, l->n_in) : "its inputs are written into its slices";
}

static int decide(Deploy *d) {
    Net *net = d->net;
    for (int i = 0; i < net->n; i++) {
        d->dl[i] = (DeployLayer){.runs = i > 0, .alias = -1, .slice_of = -1, .relu = -1, .fold_bn = -1, .last_use = i};
        if (i && !net->layers[i].kind->deploy) {
            diag_error(net->layers[i].kind_loc, "netc --deploy knows conv, linear, pooling, relu, batchnorm, dropout, flatten, concat and add",
                       "%s: %s layers cannot be deployed yet", net->layers[i].name, net->layers[i].kind->name);
            return -1;
        }
    }
    for (int i = 1; i < net->n; i++)
        for (int j = 0; j < net->layers[i].n_in; j++) d->dl[net->layers[i].in[j]].last_use = i;

    for (int i = 1; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        const DeployEmit *k = kind_of(d, i);
        DeployLayer *dl = &d->dl[i];
        int p = l->in[0], w = writer(d, p);
        if (k->identity || k->output) {
            dl->runs = false, dl->alias = p;
            dl->how = k->output ? "its input is the logits" : "the identity in evaluation";
        } else if (k->folds && w == p && kind_of(d, p)->absorbs_bn && net->layers[p].n_users == 1 &&
                   d->dl[p].fold_bn < 0 && d->dl[p].act == DEPLOY_LINEAR) {
            d->dl[p].fold_bn = i;
            dl->runs = false, dl->alias = p, dl->how = pool_printf("folded into %s", net->layers[p].name);
        } else if (l->kind->fusable && w > 0 && kind_of(d, w)->act && d->dl[w].act == DEPLOY_LINEAR && sole_path(d, p, w)) {
            int by = d->o->int8 ? before_max(d, w, RELU(l)->slope) : w;
            d->dl[by].act = DEPLOY_RELU, d->dl[by].slope = RELU(l)->slope, d->dl[by].relu = i;
            dl->runs = false, dl->alias = p, dl->how = pool_printf("applied by %s as it stores", net->layers[by].name);
            if (by != w) dl->how = pool_printf("%s (before %s: a relu and a max commute)", dl->how, net->layers[w].name);
        } else if (k->slices) {
            decide_concat(d, i);
        } else if (k->in_place) {
            for (int j = 0; j < l->n_in && dl->alias < 0; j++)
                if (dies_at(d, owner(d, l->in[j]), i)) dl->alias = l->in[j], dl->how = pool_printf("in place on %s", net->layers[l->in[j]].name);
        }
    }
    return 0;
}

/* ---- the arena -------------------------------------------------------------------------- */

/* The layer whose buffer (its own, not a concat's slice) holds layer i's output. */
static int top(const Deploy *d, int i) {
    i = owner(d, i);
    while (d->dl[i].slice_of >= 0) i = owner(d, d->dl[i].slice_of);
    return i;
}

/* Bytes per value of the buffer layer t owns: a float, or in the int8 net a byte. */
static int64_t elem(const Deploy *d, int t) { return d->int8 && d->dl[t].bytes ? 1 : (int64_t)sizeof(float); }

void deploy_plan_arena(Deploy *d) {
    const Net *net = d->net;
    d->buf_of = pool_alloc(sizeof(int) * (size_t)net->n);
    d->bufs = pool_alloc(sizeof(ArenaBuf) * (size_t)(net->n + d->n_temps));
    d->n_bufs = 0;
    d->unplanned = d->scratch_bytes = 0;
    for (int i = 0; i < net->n; i++) d->buf_of[i] = -1;
    for (int i = 0; i < net->n; i++) {
        int t = top(d, i);
        if (d->buf_of[t] < 0) {
            d->buf_of[t] = d->n_bufs;
            d->bufs[d->n_bufs++] = (ArenaBuf){net->layers[t].act * elem(d, t), i, i, -1};
        }
        ArenaBuf *b = &d->bufs[d->buf_of[t]];
        if (i < b->first) b->first = i;
        if (d->dl[i].last_use > b->last) b->last = d->dl[i].last_use;
        d->unplanned += net->layers[i].act * elem(d, t);
        if (d->dl[i].scratch > d->scratch_bytes) d->scratch_bytes = d->dl[i].scratch;
    }
    for (int k = 0; d->int8 && k < d->n_temps; k++) { /* int8: conversions, for the step that reads them */
        DeployTemp *t = &d->temps[k];
        t->buf = d->n_bufs;
        d->bufs[d->n_bufs++] = (ArenaBuf){t->n * (t->to_bytes ? 1 : (int64_t)sizeof(float)), t->step, t->step, -1};
        d->unplanned += d->bufs[t->buf].bytes;
    }
    d->act_bytes = arena_plan(d->bufs, d->n_bufs, DEPLOY_ALIGN);
    d->bound_bytes = arena_lower_bound(d->bufs, d->n_bufs, DEPLOY_ALIGN);
    d->scratch_bytes = (d->scratch_bytes + DEPLOY_ALIGN - 1) / DEPLOY_ALIGN * DEPLOY_ALIGN;
    /* predict's own: the crop of the resized image (bytes), then the logits and one pass's probabilities */
    int64_t window = net->input.w * net->input.h * net->input.c;
    window = (window + DEPLOY_ALIGN - 1) / DEPLOY_ALIGN * DEPLOY_ALIGN;
    d->image_bytes = window + (int64_t)(2 * net->classes * sizeof(float) + DEPLOY_ALIGN - 1) / DEPLOY_ALIGN * DEPLOY_ALIGN;
}

int64_t deploy_at(const Deploy *d, int i) {
    i = owner(d, i);
    if (d->buf_of[i] >= 0) return d->bufs[d->buf_of[i]].offset;
    return deploy_at(d, d->dl[i].slice_of) + d->dl[i].slice_off / (int64_t)sizeof(float) * elem(d, top(d, i)); /* slice_off: in floats' bytes */
}

bool deploy_in_slice(const Deploy *d, const Layer *s, const Layer *cat) {
    return d->dl[owner(d, (int)(s - d->net->layers))].slice_of == (int)(cat - d->net->layers);
}

void deploy_fold(Deploy *d, const Layer *l, float *w, float **b, long oc, long per_out) {
    int bn = deploy_layer(d, l)->fold_bn;
    if (bn < 0) return;
    const Layer *n = &d->net->layers[bn];
    if (!*b) *b = pool_alloc(sizeof(float) * (size_t)oc); /* zeros */
    deploy_fold_bn(w, *b, oc, per_out, deploy_tensor(d, n, "weight"), deploy_tensor(d, n, "bias"), deploy_tensor(d, n, "running_mean"),
                   deploy_tensor(d, n, "running_var"), BATCHNORM(n)->eps);
}

/* ---- the pass ------------------------------------------------------------------------------ */

/* Every layer that runs prepares its weights and kernels: its int8 side in
 * the int8 net, else its float side (again from the start for the int8 net,
 * after the float net's calibration). */
static int prepare(Deploy *d) {
    memset(d->need, 0, sizeof d->need);
    deploy_need(d, "softmax"); /* predict's */
    if (d->int8) deploy_need(d, "qconvert"); /* the float input to bytes, at least */
    for (int i = 1; i < d->net->n; i++) {
        DeployLayer *dl = &d->dl[i];
        const Layer *l = &d->net->layers[i];
        if (!dl->runs) continue;
        dl->w = dl->b = NULL, dl->nw = dl->scratch = 0, dl->algo = 0;
        int (*prep)(Deploy *, const Layer *) = d->int8 && dl->q ? kind_of(d, i)->int8->prepare : kind_of(d, i)->prepare;
        if (prep && prep(d, l) < 0) return -1;
    }
    return 0;
}

int deploy_net(Net *net, const DeployOptions *o) {
    Deploy *d = pool_alloc(sizeof *d);
    d->net = net, d->o = o;
    d->dl = pool_alloc(sizeof(DeployLayer) * (size_t)net->n);
    Error e;
    if (st_open(&d->st, o->weights, &e) < 0) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return -1;
    }
    int rc = -1;
    d->emitting = -1;
    if (check_tensors(d) < 0 || read_context(d) < 0 || decide(d) < 0) goto out;
    if (o->int8 && deploy_quant_decide(d) < 0) goto out;
    if (prepare(d) < 0) goto out;
    deploy_plan_arena(d);
    if (o->int8) { /* the float net, run on training images, gives every output's range; then the int8 net */
        if (deploy_calibrate(d) < 0 || deploy_quant_params(d) < 0) goto out;
        d->int8 = true;
        if (prepare(d) < 0) goto out;
        deploy_plan_arena(d);
        if (o->dump_quant) deploy_quant_dump(d, stdout);
    }
    rc = deploy_write(d);
    if (rc == 0 && o->int8 && o->quantize_report) rc = deploy_quant_report(d);
out:
    deploy_quant_cleanup(d);
    for (int i = 0; i < d->n_classes; i++) free(d->classes[i]);
    free(d->classes);
    st_close(&d->st);
    return rc;
}
