/* probe.h: the course's Strategy A. Features from a named layer (averaged
 * over its width and height), and a linear softmax classifier trained on
 * them alone; the net's weights do not change. */
#ifndef NETC_PROBE_H
#define NETC_PROBE_H

#include "config.h"
#include "netc.h"
#include "util.h"

int cmd_probe(const NetcNet *net, Config *cfg, const char *layer, const char *weights, Error *e);

/* init_head probe: before fine-tuning, the classifier (the layer with weights
 * just below the loss, reading a 1x1 input) is set to a linear classifier
 * fitted on its input's features of the training images, the
 * standardisation folded into its weights and bias ("linear probe, then
 * fine-tune": the new head starts good, so fine-tuning does not have to
 * drag it there through the pretrained layers). */
struct Run;
int probe_init_head(struct Run *r, Error *e);

#endif
