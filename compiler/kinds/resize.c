/* resize.c: "resize WxH", each plane resampled to W x H by bilinear
 * interpolation, as PyTorch's F.interpolate(size=(H, W), mode="bilinear",
 * align_corners=False) and nn.Upsample(mode="bilinear"):
 *
 *   output pixel o of a side of `in` pixels made `out` falls at
 *   x = (o + 0.5) * in / out - 0.5 (0 if less) and mixes input pixels
 *   i0 = floor(x) and i0 + 1 (i0 alone at the far edge) by weights
 *   1 - (x - i0) and x - i0; a side that keeps its size is copied.
 *
 * Rows and columns are separable, so an output value is
 *   r.w0 * (c.w0 * x[r.i0][c.i0] + c.w1 * x[r.i0][c.i1]) + r.w1 * (the same on row r.i1)
 * and its gradient goes back to the same four pixels with the same weights.
 * There is no antialiasing (PyTorch's default too): a shrink past half
 * skips pixels. The taps of every output row and column are worked out
 * here, in float as PyTorch does, and written into the code as tables: the
 * trainer's, and a deployed net's (with int8, in fixed point on bytes). */
#include <math.h>

#include "deploy.h"
#include "emit.h"
#include "kind.h"
#include "pool.h"

typedef struct {
    long w, h; /* the output's sides */
} ResizeSpec;

extern const Kind kind_resize;
static ResizeSpec *rs(const Layer *l) { return (ResizeSpec *)spec_of(l, &kind_resize); }

/* PyTorch's taps (aten's compute_source_index_and_lambda, in float): `volatile`
 * keeps the compiler from fusing the multiply and subtract into one rounding,
 * so the tables are the same whatever machine netc runs on. */
ResizeTap *resize_taps(long in, long out) {
    ResizeTap *t = pool_alloc(sizeof(ResizeTap) * (size_t)out);
    float ratio = (float)in / (float)out;
    for (long o = 0; o < out; o++) {
        if (in == out) {
            t[o] = (ResizeTap){o, o, 1.0f, 0.0f};
            continue;
        }
        volatile float scaled = ratio * ((float)o + 0.5f);
        float x = scaled - 0.5f;
        if (x < 0.0f) x = 0.0f;
        long i0 = (long)x;
        float w1 = fminf(fmaxf(x - (float)i0, 0.0f), 1.0f);
        t[o] = (ResizeTap){i0, i0 < in - 1 ? i0 + 1 : i0, 1.0f - w1, w1};
    }
    return t;
}

long resize_qweight(float w) { return lrintf(w * (float)RESIZE_QONE); }

static int resize_args(Cursor *c, Layer *l) {
    const Arg *a = arg_peek(c);
    if (!a || (a->kind != ARG_NUMBER && a->kind != ARG_SIZE)) {
        diag_error(a ? a->loc : arg_here(c), "e.g. resize 291x291 (width x height), or resize 64 for 64x64",
                   "%s: resize needs the size to resize to", arg_who(c));
        return -1;
    }
    l->size_loc = a->loc;
    return want_size2(c, "the size", 1, &rs(l)->w, &rs(l)->h);
}

static const KindOption resize_options[] = {{"from", kopt_from, false}, {NULL}};

/* Per value, the code's six multiplies and three adds. */
static int resize_shape(Net *net, Layer *l) {
    l->out = (Shape){in_shape(net, l).c, rs(l)->h, rs(l)->w};
    l->flops = (double)shape_volume(l->out) * 9;
    return 0;
}

/* Each output value reads two neighbouring pixels a side (one where the side
 * keeps its size); neighbouring outputs are in / out input pixels apart. */
static void resize_rf(Net *net, Layer *l) {
    const Layer *src = &net->layers[l->in[0]];
    Shape in = in_shape(net, l);
    bool same = in.w == l->out.w && in.h == l->out.h;
    l->rf = src->rf + (same ? 0 : src->rf_stride);
    l->rf_stride = src->rf_stride * (double)in.w / (double)l->out.w;
}

static void resize_json(const Layer *l, FILE *f) { fprintf(f, ", \"mode\": \"bilinear\", \"align_corners\": false"); }

/* Writes taps as C initialisers, four to a line: {i0, i1, w0, w1}, the
 * weights as floats or (q) in int8's fixed point. */
static void write_taps(FILE *f, const ResizeTap *t, long n, bool q) {
    for (long o = 0; o < n; o++) {
        if (o % 4 == 0) fprintf(f, "    ");
        if (q) {
            long w1 = resize_qweight(t[o].w1);
            fprintf(f, "{%ld, %ld, %ld, %ld},", t[o].i0, t[o].i1, RESIZE_QONE - w1, w1);
        } else fprintf(f, "{%ld, %ld, %s, %s},", t[o].i0, t[o].i1, float_lit(t[o].w0), float_lit(t[o].w1));
        fprintf(f, o % 4 == 3 || o == n - 1 ? "\n" : " ");
    }
}

/* Do rows and columns have the same taps (a square made a square)? Then one table serves both. */
static bool one_table(const Net *net, const Layer *l) {
    Shape in = in_shape(net, l);
    return in.w == in.h && l->out.w == l->out.h;
}

/* The tables a layer's code reads: <id>_cols, and <id>_rows unless one_table. */
static void define_taps(FILE *f, const Net *net, const Layer *l, const char *id, const char *type, bool q) {
    Shape in = in_shape(net, l);
    fprintf(f, "static const %s %s_cols[%ld] = {\n", type, id, l->out.w);
    write_taps(f, resize_taps(in.w, l->out.w), l->out.w, q);
    fprintf(f, "};\n");
    if (!one_table(net, l)) {
        fprintf(f, "static const %s %s_rows[%ld] = {\n", type, id, l->out.h);
        write_taps(f, resize_taps(in.h, l->out.h), l->out.h, q);
        fprintf(f, "};\n");
    }
}

static const char *rows_of(const Net *net, const Layer *l, const char *id) {
    return pool_printf("%s_%s", id, one_table(net, l) ? "cols" : "rows");
}

/* ---- the trainer ------------------------------------------------------------------------ */

static void resize_define(Emitter *e, const Layer *l, const LayerFns *f) {
    ev_str(e, "ROWS", rows_of(e->net, l, l->id));
    emit(e, "/* $NAME: $DESC: each output pixel mixes two input rows and two columns, tap r of $ROWS and\n"
            " *   c of $ID_cols: {first pixel, second pixel, its weight, the second's} (PyTorch's bilinear taps) */\n");
    define_taps(e->f, e->net, l, l->id, "NetcTap", false);
    emit(e, "\n/* $NAME: in [$C][cap][$H][$W] -> out [$C][cap][$OH][$OW] */\n");
    fn_define(e, &f->forward);
    emit(e, plane_loop);
    emit(e, "        const float *x = in + plane * $HW;\n"
            "        float *y = out + plane * $OHW;\n"
            "        for (int oy = 0; oy < $OH; oy++) {\n"
            "            const NetcTap r = $ROWS[oy];\n"
            "            const float *x0 = x + r.i0 * $W, *x1 = x + r.i1 * $W;\n"
            "            for (int ox = 0; ox < $OW; ox++) {\n"
            "                const NetcTap c = $ID_cols[ox];\n"
            "                y[oy * $OW + ox] = r.w0 * (c.w0 * x0[c.i0] + c.w1 * x0[c.i1]) + r.w1 * (c.w0 * x1[c.i0] + c.w1 * x1[c.i1]);\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "}\n\n");
    if (!l->run_backward) return;
    emit(e, "/* $NAME backward: each output's gradient back to its four pixels, by the same weights */\n");
    fn_define(e, &f->backward);
    emit(e, plane_loop);
    emit(e, "        float *dx = din + plane * $HW;\n"
            "        const float *dy = dout + plane * $OHW;\n");
    if (!l->grad_accumulate[0]) emit(e, "        memset(dx, 0, sizeof(float) * $HW);\n");
    emit(e, "        for (int oy = 0; oy < $OH; oy++) {\n"
            "            const NetcTap r = $ROWS[oy];\n"
            "            float *dx0 = dx + r.i0 * $W, *dx1 = dx + r.i1 * $W;\n"
            "            for (int ox = 0; ox < $OW; ox++) {\n"
            "                const NetcTap c = $ID_cols[ox];\n"
            "                float g0 = r.w0 * dy[oy * $OW + ox], g1 = r.w1 * dy[oy * $OW + ox];\n"
            "                dx0[c.i0] += c.w0 * g0, dx0[c.i1] += c.w1 * g0;\n"
            "                dx1[c.i0] += c.w0 * g1, dx1[c.i1] += c.w1 * g1;\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "}\n\n");
}

static const TrainEmit resize_train = {fns_unary, resize_define};

/* ---- netc --deploy ------------------------------------------------------------------------ */

/* The tables (named after the layer's descriptor) and the descriptor's sizes and table fields. */
static const char *resize_deploy_tables(Deploy *d, const Layer *l, const char *type, bool q) {
    const Net *net = deploy_net_of(d);
    const char *name = deploy_name(d, l);
    Shape in = in_shape(net, l);
    define_taps(deploy_file(d), net, l, name, type, q);
    return pool_printf(".c = %ld, .h = %ld, .w = %ld, .oh = %ld, .ow = %ld, .rows = %s, .cols = %s_cols", in.c, in.h, in.w,
                       l->out.h, l->out.w, rows_of(net, l, name), name);
}

static int resize_deploy_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = "bilinear, each output pixel from four input pixels";
    deploy_need(d, "resize");
    return 0;
}

static void resize_deploy_define(Deploy *d, const Layer *l) {
    const char *fields = resize_deploy_tables(d, l, "NnTap", false);
    fprintf(deploy_file(d), "static const NnResize %s = {%s%s};\n", deploy_name(d, l), fields, deploy_act_fields(deploy_layer(d, l)));
}

static void resize_deploy_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_resize(&%s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]));
}

/* int8: the same taps on bytes, at the input's scale and zero point. */
static int resize_int8_prepare(Deploy *d, const Layer *l) {
    deploy_layer(d, l)->how = "bilinear on bytes, each output from four input bytes";
    deploy_need(d, "qresize");
    return 0;
}

static void resize_int8_define(Deploy *d, const Layer *l) {
    const char *fields = resize_deploy_tables(d, l, "NnQTap", true);
    fprintf(deploy_file(d), "static const NnQResize %s = {%s, .q = {%s}};\n", deploy_name(d, l), fields, deploy_qout(d, l));
}

static void resize_int8_forward(Deploy *d, const Layer *l) {
    fprintf(deploy_file(d), "    nn_qresize(&%s, %s, %s);\n", deploy_name(d, l), deploy_out(d, l),
            deploy_out(d, &deploy_net_of(d)->layers[l->in[0]]));
}

static const DeployInt8 resize_int8 = {
    .same_scale = deploy_same_scale_always,
    .prepare = resize_int8_prepare,
    .define = resize_int8_define,
    .forward = resize_int8_forward,
};

static const DeployEmit resize_deploy = {
    .act = true,
    .int8 = &resize_int8,
    .prepare = resize_deploy_prepare,
    .define = resize_deploy_define,
    .forward = resize_deploy_forward,
};

const Kind kind_resize = {
    .name = "resize",
    .usage = "resize WxH",
    .spec_size = sizeof(ResizeSpec),
    .args = resize_args,
    .options = resize_options,
    .shape = resize_shape,
    .rf = resize_rf,
    .json = resize_json,
    .train = &resize_train,
    .deploy = &resize_deploy,
};
