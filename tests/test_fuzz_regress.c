/* test_fuzz_regress.c: the fuzzer's finds, replayed.
 *
 * Every file in tests/fuzz_regress/ goes through netc_fuzz_one() (the entry
 * point `make fuzz` drives: parse, elaborate, shapes, report, plan, emit) in
 * a child process of its own, with a time limit. Each must end in one of two
 * ways: compiled, or refused with an error that names the file; never a
 * crash, a sanitizer report (make test-asan), a hang, or a refusal without a
 * message. A file NAME.expect beside NAME.net holds lines the messages must
 * contain ("compiles" if it must compile), so a regression's exact
 * diagnostic is checked too. The shipped and test nets must compile through
 * the same entry point. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define NETC_FUZZ_NO_MAIN
#include "../fuzz/fuzz_netc.c"
#include "util.h"

#define REGRESS_DIR "tests/fuzz_regress"
enum { TIME_LIMIT = 30 }; /* seconds per input; the slowest takes well under one */

typedef struct {
    int rc;       /* netc_fuzz_one's result, or 100 + signal, or -100 on timeout */
    char *output; /* what it printed (malloc'd) */
} Outcome;

/* Runs one input in a child, its messages into a temporary file. */
static Outcome run_one(const char *path) {
    Outcome o = {-99, NULL};
    Error e;
    size_t len;
    char *text = read_file(path, &len, &e);
    if (!text) fail_msg("%s", e.msg);
    char tmp[] = "/tmp/netc_fuzz_regress_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(TIME_LIMIT);
        dup2(fd, 2); /* sanitizer reports too */
        FILE *out = fdopen(fd, "w"), *sink = fopen("/dev/null", "w");
        int rc = netc_fuzz_one((const uint8_t *)text, len, out, sink);
        fclose(out), fclose(sink);
        free(text);
        _exit(rc == 0 ? 0 : -rc);
    }
    free(text);
    int status;
    while (waitpid(pid, &status, 0) < 0) assert_int_equal(errno, EINTR);
    if (WIFEXITED(status)) o.rc = -WEXITSTATUS(status);
    else o.rc = WTERMSIG(status) == SIGALRM ? -100 : 100 + WTERMSIG(status);
    o.output = read_file(tmp, &len, &e);
    if (!o.output) o.output = strdup("");
    close(fd);
    unlink(tmp);
    return o;
}

/* NAME.expect for NAME.net, or NULL */
static char *expectations(const char *net_path) {
    char path[1024];
    snprintf(path, sizeof path, "%.*s.expect", (int)(strlen(net_path) - 4), net_path);
    if (access(path, F_OK) != 0) return NULL;
    Error e;
    char *text = read_file(path, NULL, &e);
    if (!text) fail_msg("%s", e.msg);
    return text;
}

/* Checks one input; returns 1 if it compiled. */
static int check_input(const char *path, int must_compile) {
    Outcome o = run_one(path);
    int ok = 1;
    if (o.rc == -100) print_error("%s: still running after %d s (a hang?)\n", path, TIME_LIMIT), ok = 0;
    else if (o.rc >= 100) print_error("%s: killed by signal %d\n", path, o.rc - 100), ok = 0;
    else if (o.rc == -2) print_error("%s: refused without an error message\n", path), ok = 0;
    else if (o.rc == -3) print_error("%s: compiled, but printed an error\n", path), ok = 0;
    else if (o.rc != 0 && o.rc != -1) print_error("%s: exit %d\n", path, -o.rc), ok = 0;
    else if (o.rc == -1 && !strstr(o.output, NETC_FUZZ_FILE ":")) print_error("%s: the error does not name the file\n", path), ok = 0;
    else if (o.rc == -1 && !strstr(o.output, "error: ")) print_error("%s: refused, but no \"error: \" line\n", path), ok = 0;
    else if (must_compile && o.rc != 0) print_error("%s: does not compile\n", path), ok = 0;
    char *want = must_compile ? NULL : expectations(path);
    if (ok && want) {
        char *save = NULL;
        for (char *line = strtok_r(want, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (strcmp(line, "compiles") == 0 ? o.rc != 0 : !strstr(o.output, line)) {
                print_error("%s: expected \"%s\"\n", path, line);
                ok = 0;
            }
        }
    }
    if (!ok) print_error("--- its output:\n%s---\n", o.output);
    int compiled = o.rc == 0;
    free(want);
    free(o.output);
    assert_true(ok);
    return compiled;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }
static int is_net(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".net") == 0;
}

/* Checks every .net file of dir; returns how many there were. */
static int check_dir(const char *dir, int must_compile, int *compiled) {
    struct dirent **list;
    int n = scandir(dir, &list, is_net, by_name);
    if (n < 0) fail_msg("cannot read %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        *compiled += check_input(path, must_compile);
        free(list[i]);
    }
    free(list);
    return n;
}

static void regressions_end_in_a_message(void **state) {
    (void)state;
    int compiled = 0, n = check_dir(REGRESS_DIR, 0, &compiled);
    print_message("%d inputs of %s: %d compiled, %d refused with a message\n", n, REGRESS_DIR, compiled, n - compiled);
    assert_true(n >= 10);
}

static void shipped_nets_compile(void **state) {
    (void)state;
    static const char *const dirs[] = {"nets", "nets/ablation", "tests/nets", "tests/report"};
    int compiled = 0, n = 0;
    for (int i = 0; i < 4; i++) n += check_dir(dirs[i], 1, &compiled);
    assert_int_equal(compiled, n);
    assert_true(n >= 15);
}

/* The harness itself can fail: a silent refusal and a crash are caught. */
static void the_check_can_fail(void **state) {
    (void)state;
    /* an input that compiles produces C and no error */
    const char *good = "input 8x8x1\nfc: linear -> 15\nloss: softmax\n";
    char *msg = NULL, *code = NULL;
    size_t ml = 0, cl = 0;
    FILE *out = open_memstream(&msg, &ml), *sink = open_memstream(&code, &cl);
    assert_int_equal(netc_fuzz_one((const uint8_t *)good, strlen(good), out, sink), 0);
    fclose(out), fclose(sink);
    assert_null(strstr(msg, "error"));
    assert_non_null(strstr(code, "fc_forward"));
    free(msg), free(code);
    /* one that does not names the file, line and column */
    const char *bad = "input 8x8x1\nfc: linear -> 15\nloss: softmax oops\n";
    msg = NULL, ml = 0;
    out = open_memstream(&msg, &ml), sink = fopen("/dev/null", "w");
    assert_int_equal(netc_fuzz_one((const uint8_t *)bad, strlen(bad), out, sink), -1);
    fclose(out), fclose(sink);
    assert_non_null(strstr(msg, NETC_FUZZ_FILE ":3:15: error: "));
    free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_check_can_fail),
        cmocka_unit_test(shipped_nets_compile),
        cmocka_unit_test(regressions_end_in_a_message),
    };
    return cmocka_run_group_tests_name("fuzzer regressions", tests, NULL, NULL);
}
