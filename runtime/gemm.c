/* gemm.c: netc_sgemm, split across OpenMP threads (see gemm.h). */
#include "gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

const char *netc_blas_core(void) { return openblas_get_corename(); }

#if defined(__x86_64__)
/* OpenBLAS's x86 kernels with AVX2 or AVX-512 sgemm */
static const char *const vector_cores[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", NULL};

void netc_blas_fix_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice, or this process is the re-run */
    const char *core = openblas_get_corename();
    for (int i = 0; vector_cores[i]; i++)
        if (strcasecmp(core, vector_cores[i]) == 0) return;
    __builtin_cpu_init();
    const char *want = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
                           ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "Haswell"
                                                                                         : NULL;
    if (!want) return; /* an old CPU: OpenBLAS's choice is right */
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("NETC_BLAS_FALLBACK", core, 1); /* what OpenBLAS had chosen, for netc_blas_fallback */
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"), unsetenv("NETC_BLAS_FALLBACK"); /* no exec: go on, with the slow kernels */
}
#else
void netc_blas_fix_core(char **argv) { (void)argv; }
#endif

const char *netc_blas_fallback(void) { return getenv("NETC_BLAS_FALLBACK"); }

void netc_blas_single_thread(void) {
    int threads = omp_get_max_threads();
    openblas_set_num_threads(1); /* in OpenBLAS's OpenMP build this also sets OpenMP's count ... */
    omp_set_num_threads(threads); /* ... which is ours to keep */
}

/* Below this many multiply-adds a product is not worth splitting. */
#define SPLIT_MIN (1L << 18)

void netc_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads == 1 || (long)M * N * K < SPLIT_MIN || (M < 32 && N < 32)) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int by_cols = N >= M; /* split the longer side of C */
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int len = by_cols ? N : M;
        /* block edges on multiples of 16 values, the width of a vector register */
        int lo = (int)((long)len * t / T) & ~15, hi = t == T - 1 ? len : (int)((long)len * (t + 1) / T) & ~15;
        if (hi > lo) {
            if (by_cols)
                cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, 1.0f, A, lda, tb == CblasNoTrans ? B + lo : B + (long)lo * ldb,
                            ldb, beta, C + lo, ldc);
            else
                cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, 1.0f, ta == CblasNoTrans ? A + (long)lo * lda : A + lo, lda, B,
                            ldb, beta, C + (long)lo * ldc, ldc);
        }
    }
}
