/* emit.h: shared by the C emitter's files.
 *
 * Code is written from templates: lines of C in which $NAME (capitals and
 * digits) is replaced by a value set for the layer at hand. Each op's
 * emitter decides *which* lines to write (bias or not, = or +=, padding or
 * not); the templates say *what* they are, in plain C. */
#ifndef NETC_EMIT_H
#define NETC_EMIT_H

#include <stdio.h>

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

/* Per-op emitters: the layer's functions (definitions), and its calls inside
 * the net's forward and backward functions. */
void emit_layer_functions(Emitter *e, const Layer *l);
void emit_forward_call(Emitter *e, const Layer *l);
void emit_backward_call(Emitter *e, const Layer *l);

/* conv.c-side helpers */
void emit_conv(Emitter *e, const Layer *l);
void emit_linear(Emitter *e, const Layer *l);
void emit_pool(Emitter *e, const Layer *l);
void emit_batchnorm(Emitter *e, const Layer *l);
void emit_elementwise(Emitter *e, const Layer *l); /* relu, dropout */
void emit_join(Emitter *e, const Layer *l);        /* concat, add */
void emit_loss(Emitter *e, const Layer *l);

#endif
