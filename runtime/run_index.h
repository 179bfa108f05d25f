/* run_index.h: the page that compares the runs of one folder.
 *
 * Every train writes <out>/run.json (what the run is: net, settings, status,
 * validation top-1 per epoch, test top-1, time) and then rebuilds
 * <folder>/index.html, where <folder> holds the run folder (runs/ by
 * default): one row per run found there, with the settings that differ among
 * runs of the same net, best validation and test top-1, time and a link to
 * its report.html, and the validation curves of all runs in one plot, as
 * Visdom shows a course's students. While any run there is training the page
 * reloads itself.
 *
 * Several trainers may share a folder: each rebuilds the page from every
 * run.json under a lock (flock on <folder>/.netc-index.lock), and writes it
 * atomically, so the page is never half-written and the last writer's page
 * holds every run's last state. Folders that are not runs (no run.json) are
 * named in a note; a run.json that cannot be read is a row saying why. A run
 * whose trainer died (killed, machine rebooted) shows as stopped: its status
 * says training, but its process is gone. */
#ifndef NETC_RUN_INDEX_H
#define NETC_RUN_INDEX_H

#include "train.h"

/* Writes r's run.json, then the index of the folder that holds r->out (none
 * when that is the current folder or /). */
int run_index_update(const Run *r, Error *e);

/* The folder an index for run folder `out` goes in, into buf; 0 if none. */
int run_index_folder(const char *out, char *buf, size_t len);

#endif
