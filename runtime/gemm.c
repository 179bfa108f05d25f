/* gemm.c: netc_sgemm, split across OpenMP threads (see gemm.h). */
#include "gemm.h"

#include <omp.h>

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

const char *netc_blas_core(void) { return openblas_get_corename(); }

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
