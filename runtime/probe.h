/* probe.h: the course's Strategy A. Features from a named layer (averaged
 * over its width and height), and a linear softmax classifier trained on
 * them alone; the net's weights do not change. */
#ifndef NETC_PROBE_H
#define NETC_PROBE_H

#include "config.h"
#include "netc.h"
#include "util.h"

int cmd_probe(const NetcNet *net, Config *cfg, const char *layer, const char *weights, Error *e);

#endif
