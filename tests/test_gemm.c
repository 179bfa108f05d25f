/* test_gemm.c: OpenBLAS's kernels as every trainer gets them (runtime/gemm.h).
 *
 * OpenBLAS picks its kernels by the CPU's model when it loads; a model newer
 * than the library gets its generic SSE3 kernels. netc_blas_fix_core runs the
 * program again with the kernels of the CPU's vector width. These tests run
 * this program afresh (so OpenBLAS loads under the environment given) with
 * --print-core: it calls netc_blas_fix_core as a trainer's main does, then
 * prints the kernels OpenBLAS runs and those it had chosen ("-" if kept). On
 * a CPU OpenBLAS knows, the first test checks its own choice; on one it does
 * not (the Intel Xeon of model 207 this was written on: Prescott), the fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gemm.h"

/* This program run afresh with --print-core, OPENBLAS_CORETYPE set to
 * `coretype` (or unset): what it printed, "CORE FALLBACK". */
static void run_fresh(const char *coretype, char *out, size_t size) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        unsetenv("NETC_BLAS_FALLBACK");
        if (coretype) setenv("OPENBLAS_CORETYPE", coretype, 1);
        else unsetenv("OPENBLAS_CORETYPE");
        char *argv[] = {"test_gemm", "--print-core", NULL};
        execv("/proc/self/exe", argv);
        _exit(99);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd[0], out + n, size - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int cpu_has_avx2(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* With no OPENBLAS_CORETYPE, a CPU with AVX2 runs kernels with AVX2 or AVX-512. */
static void kernels_use_the_cpus_vectors(void **state) {
    (void)state;
#if !defined(__x86_64__)
    /* netc_blas_fix_core acts on x86 only, and under qemu-user /proc/self/exe
     * is the emulator, so no fresh process here: in this one it must change nothing */
    char *argv[] = {"test_gemm", NULL};
    netc_blas_fix_core(argv);
    assert_null(netc_blas_fallback());
    print_message("OpenBLAS's kernels: %s (not x86: left as chosen)\n", netc_blas_core());
    return;
#endif
    char out[256], core[64], fallback[64];
    run_fresh(NULL, out, sizeof out);
    assert_int_equal(sscanf(out, "%63s %63s", core, fallback), 2);
    print_message("OpenBLAS's kernels: %s (it had chosen: %s)\n", core, fallback);
    if (!cpu_has_avx2()) {
        assert_string_equal(fallback, "-"); /* nothing to fix */
        return;
    }
    const char *vector_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    int found = 0;
    for (size_t i = 0; i < sizeof vector_cores / sizeof *vector_cores; i++) found |= strcasecmp(core, vector_cores[i]) == 0;
    assert_true(found);
}

/* A kernel type the user set is kept, even a slow one. */
static void the_users_choice_is_kept(void **state) {
    (void)state;
#if !defined(__x86_64__)
    skip(); /* x86's kernel names; and a fresh process cannot run under qemu-user (above) */
#endif
    char out[256];
    run_fresh("Prescott", out, sizeof out);
    assert_string_equal(out, "Prescott -\n");
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--print-core") == 0) {
        netc_blas_fix_core(argv);
        printf("%s %s\n", netc_blas_core(), netc_blas_fallback() ? netc_blas_fallback() : "-");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernels_use_the_cpus_vectors),
        cmocka_unit_test(the_users_choice_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
