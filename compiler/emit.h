/* emit.h: shared by the trainer's emitters (generated/<net>.c).
 *
 * Code is written from templates: lines of C in which $NAME (capitals and
 * digits) is replaced by a value set for the layer at hand. Each kind's
 * emitter decides *which* lines to write (bias or not, = or +=, padding or
 * not); the templates say *what* they are, in plain C.
 *
 * Every layer's functions that the net's forward and backward call are
 * declared once as a `Fn`: a name and a list of parameters, each with its
 * declaration and the argument the call passes. fn_define prints the
 * definition's first line from it, fn_call the call: the two cannot
 * disagree. */
#ifndef NETC_EMIT_H
#define NETC_EMIT_H

#include <stdio.h>

#include "kind.h"
#include "net.h"

typedef struct {
    const char *name;
    const char *value; /* pool-allocated: any length (an add of 16 inputs needs long argument lists) */
} EmitVar;

typedef struct {
    FILE *f;
    const Net *net;
    EmitVar vars[96];
    int nvars;
} Emitter;

void ev_clear(Emitter *e);
void ev_str(Emitter *e, const char *name, const char *value);
void ev_int(Emitter *e, const char *name, long long value);
/* Writes tmpl with every $NAME replaced; an unknown name is a bug in netc. */
void emit(Emitter *e, const char *tmpl);

/* A float literal that is one in C: "2.0f", "1e-05f". */
const char *float_lit(double v);

/* "oy * 2 - 1 + ky" without the "* 1", "- 0" noise. */
const char *affine(const char *var, long mul, long add);

/* Sets the variables every layer template uses: ID, NAME, DESC, in/out sizes. */
void ev_layer(Emitter *e, const Layer *l);

/* ---- a layer's functions and their calls ---------------------------------------------- */

#define MAX_PARAMS (MAX_INPUTS + 8)

typedef struct {
    const char *decl; /* "const float *in" */
    const char *arg;  /* "ACT(A_conv1)" */
} Param;

typedef struct {
    const char *name;   /* "conv1_forward"; NULL: no such function */
    const char *type;   /* its return type: "void", or "float" (the loss) */
    const char *result; /* where a call puts what it returns ("m->loss"), or NULL */
    Param p[MAX_PARAMS];
    int n;
} Fn;

/* What the net's forward and backward do for one layer: call its forward
 * (and backward), and in evaluation its `eval` forward where the plan folded
 * the layers after it into it (a conv's batch norm); or, where the plan left
 * it nothing to do (a fused relu, a view, a zero-copy concat), say so in a
 * comment ("relu1: relu, fused into conv1"). */
typedef struct {
    Fn forward, backward, eval;
    const char *forward_note, *backward_note;
} LayerFns;

void fn_init(Fn *f, const Layer *l, const char *what); /* "<id>_<what>", returning void, no parameters */
void fn_param(Fn *f, const char *decl, const char *arg);
void fn_define(Emitter *e, const Fn *f); /* "static void conv1_forward(float *out, ...) {\n" */
void fn_call(Emitter *e, const Fn *f, const char *indent); /* "<indent>conv1_forward(ACT(A_conv1), ...);\n" */

/* Arguments the calls pass: a layer's output and its gradient, a tensor of
 * its ("weight"), that tensor's gradient. */
const char *arg_act(const Layer *l);
const char *arg_grad(const Layer *l);
const char *arg_param(const Layer *l, const char *suffix);
const char *arg_pgrad(const Layer *l, const char *suffix);
void fn_n_cap(Fn *f); /* the "int n, int cap" every layer function ends with */
/* forward(out, in, n, cap) and backward(din, dout, n, cap): a layer that reads one input and keeps nothing */
void fns_unary(const Emitter *e, const Layer *l, LayerFns *f);

/* The trainer's emitter of one kind. */
typedef struct TrainEmit {
    /* the functions the net's passes call, with their parameters */
    void (*fns)(const Emitter *e, const Layer *l, LayerFns *f);
    /* their definitions (and helpers they call), each first line by fn_define(f->...) */
    void (*define)(Emitter *e, const Layer *l, const LayerFns *f);
} TrainEmit;

/* conv's and linear's, in emit_conv.c (they share the matrix products) */
extern const TrainEmit train_conv, train_linear;

/* ---- helpers the kinds' emitters share ------------------------------------------------- */

/* "=" or "+=" into input j's gradient, as the plan decided: $ACC */
void ev_acc(Emitter *e, const Layer *l, int j);
/* A relu the plan fused into l, applied to v (netc_relu(v), or leaky), and
 * its backward: dy where y > 0, else 0 (or slope * dy). */
const char *fused_relu(const Layer *l, const char *v);
const char *fused_relu_grad(const Layer *l, const char *y, const char *dy);
/* "test > 0.0f ? v : 0.0f", or "... : slope * v" */
const char *relu_select(float slope, const char *test, const char *v);

/* a pooling layer's window: $KH, $KW, $PH, $PW, $SW, $Y0 ("oy * 2 - 1"), $X0 (maxpool.c) */
void pool_vars(Emitter *e, const Layer *l);

/* for every plane (channel c of image b) of a [C][cap][..] tensor, split across threads */
extern const char plane_loop[];
/* for every valid value (n images of each channel), split across threads by channel */
extern const char value_loop[];

#endif
