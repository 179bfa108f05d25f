/* gemm.h: the one matrix product generated code calls.
 *
 * OpenMP owns the threads: OpenBLAS is set to one thread (model_new does it),
 * and netc_sgemm splits the product itself, each thread computing its own
 * block of rows or columns of C with one single-threaded sgemm. No thread
 * ever waits inside sgemm for another, and every value of C is computed by
 * one thread in the same order, so results depend only on the thread count. */
#ifndef NETC_GEMM_H
#define NETC_GEMM_H

#include <cblas.h>

/* C (M x N, row-major, leading dimension ldc) = op(A) . op(B) + beta C */
void netc_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* Once per process: OpenBLAS single-threaded, so only OpenMP's pool runs. */
void netc_blas_single_thread(void);

/* The kernels OpenBLAS chose for this CPU at load time ("Haswell", "Zen",
 * "SkylakeX", "Cooperlake", "NeoverseN1", ...; OPENBLAS_CORETYPE overrides) */
const char *netc_blas_core(void);

#endif
