/* profile.h: where a training step's time goes, layer by layer. */
#ifndef NETC_PROFILE_H
#define NETC_PROFILE_H

#include "config.h"
#include "netc.h"
#include "util.h"

/* Times `iters` training steps (forward, backward, optimiser) and
 * evaluation passes on random data of one batch, and prints a table. */
int cmd_profile(const NetcNet *net, Config *cfg, int iters, Error *e);

#endif
