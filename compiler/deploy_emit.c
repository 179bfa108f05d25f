/* deploy_emit.c: the files netc --deploy writes (see deploy.h), from what
 * deploy.c decided: <net>.c, <net>.h, predict.c and a Makefile (and the
 * weights' own file with --weights-file), each written to a temporary name
 * and renamed once all are whole.
 *
 * <net>.c reads top to bottom: what it is and how each layer runs; the
 * kernels it uses (deploy/nn.c's sections) and the trainer's preprocessing
 * (runtime/preprocess.c), copied as they stand; where every buffer lives;
 * one descriptor per layer; forward as straight-line calls; predict; and
 * last the weights, so the code is not lost below them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy_int.h"
#include "emit.h"
#include "kind.h"
#include "netc.h"
#include "pool.h"
#include "preprocess.h"
#include "report.h"
#include "util.h"

/* ---- helpers for the kinds ------------------------------------------------------------------ */

const char *deploy_name(const Deploy *d, const Layer *l) {
    (void)d;
    static const char *const taken[] = {"input", "arena", "logits", "probs", "pixels", "width", "height", "channels", "crop", "err", NULL};
    for (int i = 0; taken[i]; i++)
        if (strcmp(l->id, taken[i]) == 0) return pool_printf("%s_layer", l->id);
    if (strncmp(l->id, "nn_", 3) == 0 || strncmp(l->id, "pp_", 3) == 0 || strncmp(l->id, "NN_", 3) == 0 || strncmp(l->id, "PP_", 3) == 0)
        return pool_printf("layer_%s", l->id);
    return l->id;
}

const char *deploy_out(Deploy *d, const Layer *l) {
    int i = (int)(l - d->net->layers), o = deploy_owner(d, i);
    for (int k = 0; d->int8 && k < d->n_temps; k++) /* an input the layer being written reads converted */
        if (d->temps[k].step == d->emitting && d->temps[k].from == i)
            return pool_printf("%s(T_%s_%s)", d->temps[k].to_bytes ? "QACT" : "ACT", d->net->layers[d->emitting].id, l->id);
    if (o == 0) return "input";
    return pool_printf("%s(A_%s)", d->int8 && d->dl[o].bytes ? "QACT" : "ACT", d->net->layers[o].id);
}

const char *deploy_act_fields(const DeployLayer *dl) {
    if (dl->act != DEPLOY_RELU) return "";
    return dl->slope ? pool_printf(", .act = NN_RELU, .slope = %s", float_lit(dl->slope)) : ", .act = NN_RELU";
}

const char *deploy_act_args(const DeployLayer *dl) {
    return dl->act == DEPLOY_RELU ? pool_printf("NN_RELU, %s", float_lit(dl->slope)) : "NN_LINEAR, 0.0f";
}

const char *deploy_scratch(Deploy *d) {
    (void)d;
    return "ACT(SCRATCH)";
}

static const char *const type_name[] = {"float", "int8_t", "int32_t"};
static const int type_size[] = {4, 1, 4};

const char *deploy_array_of(Deploy *d, DeployType t, const char *name, const void *v, int64_t n, const char *layout) {
    POOL_PUSH(d->arrays, d->n_arrays, d->cap_arrays, ((DeployArray){name, t, v, n, d->weight_floats}));
    d->weight_floats += (n * type_size[t] + 3) / 4; /* every array starts at a word */
    d->weight_count[t] += n;
    if (d->o->weights_file && t == DEPLOY_F32)
        fprintf(d->f, "#define %s WEIGHTS(%lld) /* %lld floats: %s */\n", name, (long long)(d->arrays[d->n_arrays - 1].offset),
                (long long)n, layout);
    else if (d->o->weights_file)
        fprintf(d->f, "#define %s ((const %s *)WEIGHTS(%lld)) /* %lld: %s */\n", name, type_name[t],
                (long long)(d->arrays[d->n_arrays - 1].offset), (long long)n, layout);
    else fprintf(d->f, "static const %s %s[%lld]; /* %s */\n", type_name[t], name, (long long)n, layout);
    return name;
}

const char *deploy_array(Deploy *d, const char *name, const float *v, int64_t n, const char *layout) {
    return deploy_array_of(d, DEPLOY_F32, name, v, n, layout);
}

/* The weights' bytes in the C file (each array's, without padding). */
int64_t deploy_weight_bytes(const Deploy *d) {
    return d->weight_count[DEPLOY_F32] * 4 + d->weight_count[DEPLOY_I8] + d->weight_count[DEPLOY_I32] * 4;
}

/* ---- deploy/nn.c's sections ------------------------------------------------------------------ */

/* Sections start at "/" "* ---- nn:NAME (needs A B) ----" lines. */
typedef struct {
    const char *name, *needs, *text;
    size_t len;
} Section;

/* The sections of one file, after those already in s[0 .. *count). */
static void scan_sections(const char *text, Section *s, int *count, int cap) {
    const char *tag = "/* ---- nn:", *p = strstr(text, tag);
    while (p && *count < cap) {
        const char *next = strstr(p + 1, tag), *name = p + strlen(tag), *end = strpbrk(name, " -");
        const char *line_end = strchr(p, '\n'), *needs = strstr(name, "(needs ");
        Section *x = &s[(*count)++];
        x->name = pool_printf("%.*s", (int)(end - name), name);
        x->needs = needs && needs < line_end ? pool_printf("%.*s", (int)(strchr(needs, ')') - needs - 7), needs + 7) : "";
        x->text = p;
        x->len = next ? (size_t)(next - p) : strlen(p);
        p = next;
    }
}

/* deploy/nn.c's sections, then deploy/nnq.c's (the int8 kernels, which build on nn.c's). */
static Section *sections(int *n) {
    static Section s[64];
    static int count = -1;
    if (count >= 0) return *n = count, s;
    count = 0;
    scan_sections(embed_nn_c, s, &count, 64);
    scan_sections(embed_nnq_c, s, &count, 64);
    return *n = count, s;
}

void deploy_need(Deploy *d, const char *name) {
    int n;
    Section *s = sections(&n);
    for (int i = 0; i < n; i++) {
        if (strcmp(s[i].name, name) != 0) continue;
        if (d->need[i]) return;
        d->need[i] = 1;
        char *needs = pool_strdup(s[i].needs), *save = NULL;
        for (char *t = strtok_r(needs, " ", &save); t; t = strtok_r(NULL, " ", &save)) deploy_need(d, t);
        return;
    }
    fprintf(stderr, "netc: internal error: deploy/nn.c has no section '%s'\n", name);
    abort();
}

/* A file netc carries, without its own #include lines for files inlined beside it. */
static void copy_text(FILE *f, const char *text, size_t len) {
    const char *end = text + len;
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = nl ? (size_t)(nl - text + 1) : (size_t)(end - text);
        bool local = strncmp(text, "#include \"", 10) == 0;
        if (!local) fwrite(text, 1, n, f);
        text += n;
    }
}

/* ---- <net>.c ---------------------------------------------------------------------------------- */

static const char *upper(const char *s) {
    char *u = pool_strdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    return u;
}

/* The input's channel order: gray for one channel, whatever the setting says. */
static const char *order_name(const Deploy *d) {
    int order = d->net->input.c == 1 ? PP_GRAY : d->cfg.channels;
    return order == PP_BGR ? "bgr" : order == PP_RGB ? "rgb" : "gray";
}

static void write_overview(Deploy *d, FILE *f) {
    const Net *net = d->net;
    fprintf(f, " *   %-22s %-30s %s\n", "layer", "", "runs as");
    for (int i = 1; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        const DeployLayer *dl = &d->dl[i];
        const char *how = dl->how ? dl->how : "";
        if (dl->runs && dl->relu >= 0) how = pool_printf("%s, then %s", how, net->layers[dl->relu].name);
        if (dl->runs && dl->fold_bn >= 0) how = pool_printf("%s, %s folded in", how, net->layers[dl->fold_bn].name);
        if (d->int8 && (dl->runs || l->kind->deploy->slices) && !l->kind->deploy->output) {
            how = pool_printf("%s %s", dl->q ? "int8:" : "float:", how);
            if (dl->bytes) how = pool_printf("%s; out: scale %.4g, zero point %d", how, (double)dl->qscale, dl->qzp);
        }
        fprintf(f, " *   %-22s %-30s %s\n", l->name, l->desc, how);
    }
}

/* What an int8 net is, for its file's first comment. */
static void write_int8_note(Deploy *d, FILE *f) {
    int floats = 0;
    for (int i = 1; i < d->net->n; i++) floats += d->dl[i].runs && !d->dl[i].q && !d->net->layers[i].kind->deploy->output;
    fprintf(f, " * int8 (--quantize int8): weights are signed bytes, one scale per output channel; activations\n"
               " * are bytes, each tensor's q standing for scale * (q - zero point), its range calibrated by netc\n"
               " * on %d training images (%s). Sums are int32, brought to the next tensor's scale by\n"
               " * fixed-point multipliers; floats only at the input, quantised as the first layer reads it,\n"
               " * and the logits%s.\n"
               " *\n",
            d->n_calibrated, d->o->calibration ? d->o->calibration : DEPLOY_CALIBRATION,
            floats ? pool_printf(", and in the %d layer%s marked float, between conversions", floats, floats == 1 ? "" : "s") : "");
}

static void write_arena_enum(Deploy *d, FILE *f) {
    const Net *net = d->net;
    fprintf(f, "/* Where everything lives: byte offsets in the caller's arena. A buffer holds one layer's\n"
               " * output [channels][height][width] (and the outputs that alias it) from the layer that\n"
               " * writes it to the last that reads it; buffers whose lives do not meet share bytes. */\n"
               "enum {\n");
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        const DeployLayer *dl = &d->dl[i];
        if (dl->alias >= 0 || (!dl->runs && i > 0 && !l->kind->deploy->slices)) continue;
        const char *shape = pool_printf("[%ld][%ld][%ld]", l->out.c, l->out.h, l->out.w);
        if (d->buf_of[i] >= 0) {
            const ArenaBuf *b = &d->bufs[d->buf_of[i]];
            fprintf(f, "    A_%s = %lld, /* %s, %s to %s */\n", l->id, (long long)b->offset, shape, net->layers[b->first].name,
                    net->layers[b->last].name);
        } else {
            const Layer *cat = &net->layers[dl->slice_of];
            fprintf(f, "    A_%s = %lld, /* %s: channels %lld.. of %s */\n", l->id, (long long)deploy_at(d, i), shape,
                    (long long)(dl->slice_off / (l->out.h * l->out.w * (int64_t)sizeof(float))), cat->name);
        }
    }
    for (int k = 0; d->int8 && k < d->n_temps; k++) {
        const DeployTemp *t = &d->temps[k];
        fprintf(f, "    T_%s_%s = %lld, /* %s's output as %s, for %s */\n", net->layers[t->step].id, net->layers[t->from].id,
                (long long)d->bufs[t->buf].offset, net->layers[t->from].name, t->to_bytes ? "bytes" : "floats", net->layers[t->step].name);
    }
    fprintf(f, "    SCRATCH = %lld, /* %s_THREADS x %lld bytes: the kernels' own */\n", (long long)d->act_bytes,
            upper(net->name), (long long)d->scratch_bytes);
    fprintf(f, "};\n"
               "#define ACT(off) ((float *)((char *)arena + (off)))\n");
    if (d->int8) fprintf(f, "#define QACT(off) ((uint8_t *)arena + (off))\n");
    if (d->o->weights_file) fprintf(f, "#define WEIGHTS(at) ((const float *)weights + (at))\n");
    fprintf(f, "\n");
}

/* int8: layer i's inputs of the other type, converted into its buffers for them. */
static void write_conversions(Deploy *d, FILE *f, int i) {
    for (int k = 0; k < d->n_temps; k++) {
        const DeployTemp *t = &d->temps[k];
        if (t->step != i) continue;
        const Layer *from = &d->net->layers[t->from];
        DeployQ q = deploy_q(d, from);
        const char *to = deploy_out(d, from);
        d->emitting = -1;
        const char *src = deploy_out(d, from);
        d->emitting = i;
        if (t->to_bytes)
            fprintf(f, "    nn_quantize(%lld, %s, %s, %s, %d); /* 1 / scale, zero point */\n", (long long)t->n, to, src,
                    float_lit(1 / q.scale), q.zp);
        else fprintf(f, "    nn_dequantize(%lld, %s, %s, %s, %d);\n", (long long)t->n, to, src, float_lit(q.scale), q.zp);
    }
}

/* The calibration's and report's builds: layer i's output, to the program that builds them. */
static void write_tap(Deploy *d, FILE *f, int i) {
    const Layer *l = &d->net->layers[i];
    const DeployLayer *dl = &d->dl[i];
    bool bytes = d->int8 && dl->bytes;
    fprintf(f, "    netc_tap(%d, %s, %lld, %s, %d);\n", i, deploy_out(d, l), (long long)l->act, bytes ? float_lit(dl->qscale) : "0.0f",
            bytes ? dl->qzp : 0);
}

static void write_forward(Deploy *d, FILE *f) {
    const Net *net = d->net;
    const char *u = upper(net->name);
    fprintf(f, "/* The net on one image: input [%ld][%ld][%ld] (normalised as predict does), logits [%d]. */\n"
               "void %s_forward(const float *input, void *arena, float *logits) {\n",
            net->input.c, net->input.h, net->input.w, net->classes, net->name);
    if (d->o->weights_file) fprintf(f, "    const void *weights = (const char *)arena + %s_WEIGHTS_AT + 64; /* past the file's header */\n", u);
    if (d->taps) write_tap(d, f, 0);
    int out = -1;
    for (int i = 1; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        const DeployLayer *dl = &d->dl[i];
        if (l->kind->deploy->output) out = i;
        if (!dl->runs) {
            if (l->kind->deploy->output) continue;
            fprintf(f, "    /* %s: %s, %s */\n", l->name, l->desc, dl->how);
            if (d->taps && deploy_value(d, i) == i) write_tap(d, f, i);
            continue;
        }
        fprintf(f, "    /* %s: %s, %s", l->name, l->desc, dl->how);
        if (dl->fold_bn >= 0) fprintf(f, ", %s folded in", net->layers[dl->fold_bn].name);
        if (dl->relu >= 0) fprintf(f, ", then %s", net->layers[dl->relu].name);
        fprintf(f, " */\n");
        d->emitting = i;
        if (d->int8) write_conversions(d, f, i);
        (d->int8 && dl->q ? l->kind->deploy->int8->forward : l->kind->deploy->forward)(d, l);
        d->emitting = -1;
        if (d->taps) write_tap(d, f, i);
    }
    const Layer *lg = &net->layers[net->layers[out].in[0]];
    if (d->int8 && d->dl[deploy_value(d, (int)(lg - net->layers))].bytes) {
        DeployQ q = deploy_q(d, lg);
        fprintf(f, "    nn_dequantize(%d, logits, %s, %s, %d);\n}\n\n", net->classes, deploy_out(d, lg), float_lit(q.scale), q.zp);
    } else fprintf(f, "    memcpy(logits, %s, sizeof(float) * %d);\n}\n\n", deploy_out(d, lg), net->classes);
}

static void write_table(Deploy *d, FILE *f) {
    float table[3][256];
    pp_table(table, d->cfg.range, d->mean, d->std); /* the trainer's own function, so the same floats */
    int in_c = (int)d->net->input.c;
    fprintf(f, "/* Each byte's value in each input channel, (byte * %g / 255 - mean) / std with mean %s and std %s:\n"
               " * pp_table's, as the trainer evaluates with. */\n"
               "static const float norm_table[3][256] = {\n",
            (double)d->cfg.range,
            pool_printf("%s %s %s", float_lit(d->mean[0]), float_lit(d->mean[1]), float_lit(d->mean[2])),
            pool_printf("%s %s %s", float_lit(d->std[0]), float_lit(d->std[1]), float_lit(d->std[2])));
    for (int k = 0; k < 3; k++) {
        fprintf(f, "    {");
        for (int b = 0; b < 256; b++) {
            if (k >= in_c) { /* unused: zeros */
                fprintf(f, "0");
                break;
            }
            fprintf(f, "%s%s%s", b ? "," : "", b % 8 ? " " : "\n        ", float_lit(table[k][b]));
        }
        fprintf(f, "%s},\n", k < in_c ? "\n    " : "");
    }
    fprintf(f, "};\n\n");
}

static void write_predict(Deploy *d, FILE *f) {
    const Net *net = d->net;
    const char *n = net->name, *u = upper(n);
    int64_t crop = net->input.w * net->input.h * net->input.c;
    crop = (crop + DEPLOY_ALIGN - 1) / DEPLOY_ALIGN * DEPLOY_ALIGN;
    write_table(d, f);
    fprintf(f, "/* The image as the trainer's test and predict see it: resized to %dx%d, the centre %ldx%ld cut\n"
               " * from that, %s, normalised; then forward and the softmax%s. */\n",
            d->resize_w, d->resize_h, net->input.w, net->input.h, order_name(d),
            d->cfg.tta ? ", averaged with the image's mirror's" : "");
    fprintf(f, "int %s_predict(const uint8_t *pixels, int width, int height, int channels, void *arena, float *probs) {\n"
               "    uint8_t *crop = (uint8_t *)arena + %s_IMAGE_AT;\n"
               "    float *input = ACT(A_%s), *logits = (float *)(crop + %lld), *mirrored = logits + %s_CLASSES;\n"
               "    int err;\n"
               "    if (!arena || (uintptr_t)arena %% %s_ARENA_ALIGN) return %s_EARENA;\n"
               "    if (!pixels || !probs) return %s_EARG;\n"
               "    err = pp_check(width, height, channels, %s_RESIZE_WIDTH, %s_RESIZE_HEIGHT);\n"
               "    if (err) return err;\n"
               "    pp_resize(pixels, width, height, channels, crop, %s_RESIZE_WIDTH, %s_RESIZE_HEIGHT, %ld,\n"
               "              pp_crop_origin(%s_RESIZE_WIDTH, %ld), pp_crop_origin(%s_RESIZE_HEIGHT, %ld), %ld, %ld);\n"
               "    pp_input(crop, %ld, %ld, %ld, %ld, %ld, PP_%s, norm_table, 0, input, %ld);\n"
               "    %s_forward(input, arena, logits);\n"
               "    nn_softmax(%s_CLASSES, probs, logits);\n",
            n, u, net->layers[0].id, (long long)crop, u, u, u, u, u, u, u, u, net->input.c, u, net->input.w, u, net->input.h,
            net->input.w, net->input.h, net->input.w, net->input.h,
            net->input.w * net->input.c, net->input.c, net->input.c, upper(order_name(d)), net->input.w * net->input.h, n, u);
    if (d->cfg.tta)
        fprintf(f, "    /* the mirror image, as the trainer's flip averaging (tta flip) */\n"
                   "    pp_input(crop, %ld, %ld, %ld, %ld, %ld, PP_%s, norm_table, 1, input, %ld);\n"
                   "    %s_forward(input, arena, logits);\n"
                   "    nn_softmax(%s_CLASSES, mirrored, logits);\n"
                   "    for (int k = 0; k < %s_CLASSES; k++) probs[k] = 0.5f * (probs[k] + mirrored[k]);\n",
                net->input.w, net->input.h, net->input.w * net->input.c, net->input.c, net->input.c,
                upper(order_name(d)), net->input.w * net->input.h, n, u, u);
    else fprintf(f, "    (void)mirrored;\n");
    fprintf(f, "    return %s_OK;\n}\n\n", u);
    fprintf(f, "const char *%s_strerror(int err) {\n"
               "    return err == %s_EARENA ? \"the arena is NULL or not aligned for floats\"%s\n"
               "           : pp_strerror(err);\n"
               "}\n\n",
            n, u, d->o->weights_file ? pool_printf("\n           : err == %s_EWEIGHTS ? \"the arena does not hold %s.weights, whole, at %s_WEIGHTS_AT\"", u, n, u) : "");
    if (d->o->weights_file)
        fprintf(f, "/* The file's header: \"netc-weights 1\", the net's name at byte 16, the float count at 56. */\n"
                   "int %s_check_weights(const void *arena) {\n"
                   "    const char *head = (const char *)arena + %s_WEIGHTS_AT;\n"
                   "    uint64_t n;\n"
                   "    memcpy(&n, head + 56, 8);\n"
                   "    return strcmp(head, \"netc-weights 1\") == 0 && strncmp(head + 16, \"%s\", 40) == 0 && n == %lldu\n"
                   "               ? %s_OK : %s_EWEIGHTS;\n"
                   "}\n\n",
                n, u, n, (long long)d->weight_floats, u, u);
    fprintf(f, "const char *%s_class_name(int k) {\n"
               "    static const char *const names[%s_CLASSES] = %s_CLASS_NAMES;\n"
               "    return k >= 0 && k < %s_CLASSES ? names[k] : \"?\";\n"
               "}\n\n",
            n, u, u, u);
}

static void write_values(Deploy *d, FILE *f) {
    if (d->o->weights_file) return;
    fprintf(f, "/* ---- weights ------------------------------------------------------------------------------ */\n\n");
    for (int a = 0; a < d->n_arrays; a++) {
        const DeployArray *x = &d->arrays[a];
        int per_line = x->type == DEPLOY_I8 ? 16 : 8;
        fprintf(f, "static const %s %s[%lld] = {", type_name[x->type], x->name, (long long)x->n);
        for (int64_t i = 0; i < x->n; i++) {
            fprintf(f, "%s", i % per_line ? ", " : i ? ",\n    " : "\n    ");
            if (x->type == DEPLOY_F32) fprintf(f, "%s", float_lit(((const float *)x->v)[i]));
            else if (x->type == DEPLOY_I8) fprintf(f, "%d", ((const int8_t *)x->v)[i]);
            else fprintf(f, "%ld", (long)((const int32_t *)x->v)[i]);
        }
        fprintf(f, "\n};\n\n");
    }
}

static void write_c(Deploy *d, FILE *f) {
    const Net *net = d->net;
    const char *u = upper(net->name);
    fprintf(f, "/* %s.c: %s (%s) as plain C, generated by netc %s --deploy from %s.\n"
               " * Edit the .net file and run netc again, not this file.\n"
               " *\n"
               " * C99 with the C library and libm; no allocation, no writable globals: the caller's arena\n"
               " * holds every activation, the kernels' scratch and predict's image (%s.h says how big).\n"
               " * Batch norms are folded into the convs before them, dropout is gone, relus are applied\n"
               " * by the layer below them as it stores. One thread, or %s_THREADS with -fopenmp.\n"
               " *\n",
            net->name, net->name, net->file, NETC_VERSION, d->o->weights, net->name, u);
    if (d->int8) write_int8_note(d, f);
    write_overview(d, f);
    fprintf(f, " */\n#include \"%s.h\"\n\n#define NN_THREADS %s_THREADS\n\n", net->name, u);
    if (d->taps) fprintf(f, "/* netc's calibration: every layer's output (bytes: at scale, zero point; floats: scale 0) */\n"
                            "void netc_tap(int layer, const void *values, long n, float scale, int zero_point);\n\n");
    fprintf(f, "/* ==== kernels: the parts of netc's deploy/nn.c%s this net uses ==== */\n\n", d->int8 ? " and nnq.c" : "");
    int ns;
    Section *s = sections(&ns);
    for (int i = 0; i < ns; i++)
        if (i == 0 || d->need[i]) copy_text(f, s[i].text, s[i].len);
    fprintf(f, "/* ==== preprocessing: netc's runtime/preprocess.h and preprocess.c, which the trainer's test\n"
               " * and predict run ==== */\n\n"
               "#define PP_API static NN_UNUSED\n");
    copy_text(f, embed_preprocess_h, strlen(embed_preprocess_h));
    copy_text(f, embed_preprocess_c, strlen(embed_preprocess_c));
    fprintf(f, "\n/* ==== the net ==== */\n\n");
    write_arena_enum(d, f);
    for (int i = 1; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        if (!d->dl[i].runs) continue;
        void (*define)(Deploy *, const Layer *) = d->int8 && d->dl[i].q ? l->kind->deploy->int8->define : l->kind->deploy->define;
        if (!define) continue;
        fprintf(f, "/* %s: %s */\n", l->name, l->desc);
        define(d, l);
        fprintf(f, "\n");
    }
    write_forward(d, f);
    write_predict(d, f);
    write_values(d, f);
}

/* ---- <net>.h ---------------------------------------------------------------------------------- */

static const char *c_string(const char *s) {
    char *out = pool_alloc(strlen(s) * 4 + 3), *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') *o++ = '\\', *o++ = (char)*p;
        else if (*p < 0x20 || *p == 0x7f) o += sprintf(o, "\\%03o", *p);
        else *o++ = (char)*p;
    }
    *o++ = '"';
    return out;
}

static void write_h(Deploy *d, FILE *f) {
    const Net *net = d->net;
    const char *n = net->name, *u = upper(n);
    fprintf(f, "/* %s.h: %s (%s) as plain C, generated by netc %s --deploy from %s.\n"
               " *\n"
               " *     static float arena[%s_ARENA_BYTES / sizeof(float)];\n"
               " *     float probs[%s_CLASSES];\n"
               " *     int err = %s_predict(pixels, width, height, 3, arena, probs);\n"
               " *     if (err) puts(%s_strerror(err));\n"
               " *\n"
               " * predict resizes, crops, converts and normalises the image exactly as the trainer's test\n"
               " * and predict do, then runs the net; forward runs it on an input already prepared. All\n"
               " * memory is the caller's arena: %s_ARENA_BYTES, aligned for floats. Compile %s.c with\n"
               " * -fopenmp and -D%s_THREADS=N (here too) for N threads. */\n"
               "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n",
            n, n, net->file, NETC_VERSION, d->o->weights, u, u, n, n, u, n, u, u, u);
    fprintf(f, "/* The net's input: [channels][height][width] floats, channels in this order */\n"
               "#define %s_INPUT_WIDTH %ld\n#define %s_INPUT_HEIGHT %ld\n#define %s_INPUT_CHANNELS %ld\n"
               "#define %s_INPUT_ORDER \"%s\"\n\n",
            u, net->input.w, u, net->input.h, u, net->input.c, u, order_name(d));
    fprintf(f, "/* predict's preprocessing, the trainer's: the image resized to this size (area averaging\n"
               " * to shrink, bilinear to enlarge, exact integer arithmetic), the centre of the input's size\n"
               " * cut from it, each value (byte * %g / 255 - mean) / std; images under half this size on a\n"
               " * side are refused. With TTA_FLIP the probabilities are averaged with the mirror image's. */\n"
               "#define %s_RESIZE_WIDTH %d\n#define %s_RESIZE_HEIGHT %d\n#define %s_TTA_FLIP %d\n\n",
            (double)d->cfg.range, u, d->resize_w, u, d->resize_h, u, d->cfg.tta ? 1 : 0);
    fprintf(f, "#define %s_CLASSES %d\n#define %s_CLASS_NAMES {", u, net->classes, u);
    for (int k = 0; k < d->n_classes; k++) fprintf(f, "%s%s", k ? ", " : "", c_string(d->classes[k]));
    fprintf(f, "}\n\n");
    fprintf(f, "/* Memory. Activations are planned: each buffer reused once the layers that read it are done\n"
               " * (%lld bytes if each layer's output had its own). Scratch is per thread; IMAGE is predict's\n"
               " * crop of the image and its logits. */\n"
               "#ifndef %s_THREADS\n#define %s_THREADS 1\n#endif\n"
               "#define %s_ACTIVATION_BYTES %lld\n#define %s_SCRATCH_BYTES %lld\n#define %s_IMAGE_BYTES %lld\n"
               "#define %s_IMAGE_AT (%s_ACTIVATION_BYTES + %s_THREADS * %s_SCRATCH_BYTES)\n",
            (long long)d->unplanned, u, u, u, (long long)d->act_bytes, u, (long long)d->scratch_bytes, u, (long long)d->image_bytes, u, u,
            u, u);
    if (d->o->weights_file)
        fprintf(f, "/* The weights are not in %s.c: load %s.weights (%s_WEIGHT_BYTES) into the arena at\n"
                   " * %s_WEIGHTS_AT before the first call, and check them with %s_check_weights. */\n"
                   "#define %s_WEIGHTS_AT (%s_IMAGE_AT + %s_IMAGE_BYTES)\n"
                   "#define %s_ARENA_BYTES (%s_WEIGHTS_AT + %s_WEIGHT_BYTES)\n",
                n, n, u, u, n, u, u, u, u, u, u);
    else fprintf(f, "#define %s_ARENA_BYTES (%s_IMAGE_AT + %s_IMAGE_BYTES)\n", u, u, u);
    fprintf(f, "#define %s_ARENA_ALIGN %d\n/* The weights, %s */\n#define %s_WEIGHT_BYTES %lld\n\n", u, (int)sizeof(float),
            d->o->weights_file ? pool_printf("in %s.weights (with a header of 64 bytes)", n) : pool_printf("static const arrays in %s.c", n), u,
            (long long)(d->o->weights_file ? d->weight_floats * (int64_t)sizeof(float) + 64 : deploy_weight_bytes(d)));
    fprintf(f, "/* Errors: 0 is success */\n"
               "enum { %s_OK = 0, %s_EARG = -1, %s_ECHANNELS = -2, %s_ESMALL = -3, %s_ELARGE = -4, %s_EARENA = -5%s };\n\n",
            u, u, u, u, u, u, d->o->weights_file ? pool_printf(", %s_EWEIGHTS = -6", u) : "");
    fprintf(f, "/* pixels: height rows of width pixels of `channels` bytes, 1 (gray), 3 (RGB) or 4 (RGBA).\n"
               " * probs: %s_CLASSES probabilities. Returns %s_OK or an error (%s_strerror). */\n"
               "int %s_predict(const uint8_t *pixels, int width, int height, int channels, void *arena, float *probs);\n"
               "/* input: [%ld][%ld][%ld], normalised; logits: %s_CLASSES floats, before the softmax. */\n"
               "void %s_forward(const float *input, void *arena, float *logits);\n"
               "const char *%s_strerror(int err);\n"
               "const char *%s_class_name(int k);\n",
            u, u, n, n, net->input.c, net->input.h, net->input.w, u, n, n, n);
    if (d->o->weights_file)
        fprintf(f, "/* %s_OK if the arena holds %s.weights at %s_WEIGHTS_AT (this net's, whole), else %s_EWEIGHTS. */\n"
                   "int %s_check_weights(const void *arena);\n",
                u, n, u, u, n);
    fprintf(f, "\n#endif\n");
}

/* ---- the other files --------------------------------------------------------------------------- */

/* tmpl with $NET and $UNET replaced */
static void write_template(FILE *f, const char *tmpl, const char *net) {
    const char *u = upper(net);
    for (const char *p = tmpl; *p; p++) {
        if (strncmp(p, "$UNET", 5) == 0) fputs(u, f), p += 4;
        else if (strncmp(p, "$NET", 4) == 0) fputs(net, f), p += 3;
        else fputc(*p, f);
    }
}

static void write_predict_c(Deploy *d, FILE *f) {
    const char *mark = "/* @jpeg */\n", *at = strstr(embed_predict_c, mark);
    write_template(f, pool_printf("%.*s", (int)(at - embed_predict_c), embed_predict_c), d->net->name);
    fprintf(f, "/* ---- decoding: netc's runtime/jpeg.c and pngread.c, as the trainer decodes ---- */\n\n");
    copy_text(f, embed_preprocess_h, strlen(embed_preprocess_h)); /* for pp_luma */
    copy_text(f, embed_jpeg_h, strlen(embed_jpeg_h));
    copy_text(f, embed_jpeg_c, strlen(embed_jpeg_c));
    copy_text(f, embed_pngread_h, strlen(embed_pngread_h));
    copy_text(f, embed_pngread_c, strlen(embed_pngread_c));
    write_template(f, at + strlen(mark), d->net->name);
}

/* <net>.weights: a header (magic, the net's name, the float count) and the arrays, in the order the code reads them. */
static int write_weights(Deploy *d, FILE *f) {
    char head[64] = "netc-weights 1";
    snprintf(head + 16, 40, "%s", d->net->name);
    uint64_t n = (uint64_t)d->weight_floats;
    memcpy(head + 56, &n, 8);
    if (fwrite(head, 1, 64, f) != 64) return -1;
    for (int a = 0; a < d->n_arrays; a++) {
        const DeployArray *x = &d->arrays[a];
        size_t bytes = (size_t)x->n * (size_t)type_size[x->type], pad = (4 - bytes % 4) % 4;
        if (fwrite(x->v, 1, bytes, f) != bytes || fwrite("\0\0\0", 1, pad, f) != pad) return -1;
    }
    return 0;
}

typedef struct {
    const char *name;
    void (*write)(Deploy *d, FILE *f);
} OutFile;

int deploy_write(Deploy *d) {
    const Net *net = d->net;
    const char *dir = d->o->out_dir ? d->o->out_dir : pool_printf("deploy/%s", net->name);
    Error e;
    if (make_dirs(dir, &e) < 0) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return -1;
    }
    if (d->act_bytes + d->scratch_bytes > INT32_MAX) { /* the arena's offsets are an enum's, int */
        fprintf(stderr, "netc: %s's activations need %s: too large to deploy\n", net->name, fmt_bytes((double)d->act_bytes));
        return -1;
    }
    d->n_arrays = 0, d->weight_floats = 0; /* registered again by each write */
    memset(d->weight_count, 0, sizeof d->weight_count);
    /* <net>.c first: its layers' define() registers the arrays the header and the weights file count */
    const OutFile files[] = {{pool_printf("%s.c", net->name), write_c}, {pool_printf("%s.h", net->name), write_h},
                             {"predict.c", write_predict_c}};
    const int nf = 3 + 1 + (d->o->weights_file ? 1 : 0);
    const char *paths[5], *tmps[5];
    int rc = 0, done = 0;
    for (int i = 0; i < nf && rc == 0; i++, done++) {
        const char *name = i < 3 ? files[i].name : i == 3 ? "Makefile" : pool_printf("%s.weights", net->name);
        paths[i] = pool_printf("%s/%s", dir, name), tmps[i] = pool_printf("%s.tmp", paths[i]);
        FILE *f = fopen(tmps[i], "wb");
        if (!f) {
            fprintf(stderr, "netc: cannot write %s: %s\n", tmps[i], strerror(errno));
            rc = -1;
            break;
        }
        d->f = f;
        if (i < 3) files[i].write(d, f);
        else if (i == 3) write_template(f, embed_deploy_mk, net->name);
        else if (write_weights(d, f) < 0) rc = -1;
        if (ferror(f) || fclose(f) != 0) rc = -1;
        if (rc) fprintf(stderr, "netc: cannot write %s: %s\n", tmps[i], strerror(errno));
    }
    for (int i = 0; i < done; i++) {
        if (rc == 0 && rename(tmps[i], paths[i]) != 0) {
            fprintf(stderr, "netc: cannot write %s: %s\n", paths[i], strerror(errno));
            rc = -1;
        }
        if (rc) unlink(tmps[i]);
    }
    if (rc || d->o->quiet) return rc;
    printf("\ndeployed %s%s to %s/: %s.h, %s.c, predict.c, Makefile%s\n", net->name, d->int8 ? " (int8)" : "", dir, net->name,
           net->name, d->o->weights_file ? pool_printf(", %s.weights", net->name) : "");
    const char *where = d->o->weights_file ? pool_printf(", in %s.weights", net->name) : ", static const in the C file";
    if (d->int8)
        printf("  weights     %s (%s int8 weights, %s int32 biases and multipliers, %s floats%s); float: %s\n",
               fmt_bytes((double)deploy_weight_bytes(d)), fmt_thousands(d->weight_count[DEPLOY_I8]),
               fmt_thousands(d->weight_count[DEPLOY_I32]), fmt_thousands(d->weight_count[DEPLOY_F32]), where,
               fmt_bytes((double)d->float_weight_bytes));
    else printf("  weights     %s (%s floats%s)\n", fmt_bytes(4.0 * (double)d->weight_floats), fmt_thousands(d->weight_floats), where);
    printf("  arena       %s: activations %s planned (%s unplanned, at least %s live at once), scratch %s a thread, image %s%s\n",
           fmt_bytes((double)(d->act_bytes + d->scratch_bytes + d->image_bytes)), fmt_bytes((double)d->act_bytes),
           fmt_bytes((double)d->unplanned), fmt_bytes((double)d->bound_bytes), fmt_bytes((double)d->scratch_bytes),
           fmt_bytes((double)d->image_bytes), d->int8 ? pool_printf("; float: %s", fmt_bytes((double)d->float_arena_bytes)) : "");
    printf("  build       make -C %s, then %s/predict IMAGE... or --test DIR\n", dir, dir);
    return 0;
}
