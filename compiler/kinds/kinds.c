/* kinds.c: every layer kind a .net file can name, one line each, in the
 * order hints and the fuzz dictionary list them. A new kind is a file in
 * this folder defining `const Kind kind_<name>` (kind.h), and a line here. */
#include "kind.h"

extern const Kind kind_lrn, kind_resize;

const Kind *const kind_table[] = {
    &kind_conv,      /* conv.c */
    &kind_linear,    /* linear.c */
    &kind_maxpool,   /* maxpool.c */
    &kind_avgpool,   /* avgpool.c */
    &kind_relu,      /* relu.c */
    &kind_dropout,   /* dropout.c */
    &kind_batchnorm, /* batchnorm.c */
    &kind_lrn,       /* lrn.c */
    &kind_resize,    /* resize.c */
    &kind_flatten,   /* flatten.c */
    &kind_concat,    /* concat.c */
    &kind_add,       /* add.c */
    &kind_softmax,   /* softmax.c */
};
const int kind_count = sizeof kind_table / sizeof kind_table[0];
