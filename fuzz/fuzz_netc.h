/* fuzz_netc.h: one .net text through netc's front end, as a fuzzer sees it.
 *
 * netc_fuzz_one() runs what compile() in compiler/main.c runs, minus the file
 * system and the C compiler: parse, elaborate, shapes, the report in its
 * three formats, plan, emit. The data-folder and pretrained-file checks are
 * left out (they read paths the input names). Messages go to `out`; the C
 * code and reports go to `sink`. Everything it allocates is freed before it
 * returns, so millions of inputs run in one process without growing.
 *
 * Used by fuzz/fuzz_netc.c (libFuzzer) and tests/test_fuzz_regress.c (every
 * input the fuzzer ever crashed on, replayed in `make test`). */
#ifndef NETC_FUZZ_NETC_H
#define NETC_FUZZ_NETC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The name the input is compiled as (messages start with it). */
#define NETC_FUZZ_FILE "fuzz.net"

/* 0 if the input compiled to C, -1 if the front end refused it after
 * printing an error to `out`; -2 if it refused without one, -3 if it printed
 * an error but went on (both bugs). */
int netc_fuzz_one(const uint8_t *data, size_t size, FILE *out, FILE *sink);

#endif
