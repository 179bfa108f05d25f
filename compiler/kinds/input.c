/* input.c: the net's input, layers[0]: "input WxHxC" is a statement of its
 * own (elab.c), not a layer line, so no word names this kind. Its output is
 * the batch the runtime puts in the activation arena; it has no functions. */
#include "kind.h"

static int input_shape(Net *net, Layer *l) {
    l->out = net->input;
    return 0;
}

const Kind kind_input = {
    .name = "input",
    .usage = "input WxHxC",
    .shape = input_shape,
};
