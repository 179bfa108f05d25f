/* fuzz_netc.c: a libFuzzer target for netc's front end (see fuzz_netc.h).
 *
 *   make fuzz FUZZ_SECONDS=600
 *
 * builds it with clang -fsanitize=fuzzer,address,undefined and runs it on the
 * shipped and test nets as seeds, with the language's words as its dictionary
 * (fuzz/netc.dict, and the kinds, options and settings fuzz/dict.c takes from
 * netc's own tables).
 * Every input it finds that crashes, leaks, hangs or trips UBSan belongs in
 * tests/fuzz_regress/ once fixed. */
#include "fuzz_netc.h"

#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"
#include "net.h"
#include "pool.h"
#include "report.h"

int netc_fuzz_one(const uint8_t *data, size_t size, FILE *out, FILE *sink) {
    /* as read_file() gives it: a copy with a NUL after the last byte */
    char *text = malloc(size + 1);
    if (!text) return -1;
    memcpy(text, data, size);
    text[size] = 0;
    FILE *saved = diag_out;
    diag_out = out;
    int errors = diag_errors, rc = -1;
    Ast ast;
    Net net;
    if (parse_net(NETC_FUZZ_FILE, text, size, &ast) == 0) {
        ast_dump(&ast, sink);
        if (elab_net(&ast, &net) == 0 && shape_net(&net) == 0) {
            report_net(&net, REPORT_TABLE, sink);
            report_net(&net, REPORT_CSV, sink);
            report_net(&net, REPORT_JSON, sink);
            plan_net(&net);
            dump_net(&net, sink);
            rc = emit_net(&net, sink) < 0 ? -1 : 0;
        }
    }
    /* a refusal always says why, and success prints no error */
    if (rc < 0 && diag_errors == errors) rc = -2;
    if (rc == 0 && diag_errors != errors) rc = -3;
    fflush(out);
    diag_out = saved;
    pool_free_all();
    free(text);
    return rc;
}

#ifndef NETC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    int rc = netc_fuzz_one(data, size, null, null);
    if (rc < -1) { /* as much a bug as a crash */
        fprintf(stderr, "netc_fuzz_one: %s\n", rc == -2 ? "refused without an error message" : "compiled but printed an error");
        abort();
    }
    return 0;
}
#endif
