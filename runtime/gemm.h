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

/* OpenBLAS picks its kernels by the CPU's model when it loads, and a model
 * newer than the library (Debian 12's 0.3.21 on an Intel Xeon of model 207,
 * Emerald Rapids) gets its generic SSE3 kernels, "Prescott": sgemm 3 to 4x
 * slower than the CPU's AVX-512 allows. Where OpenBLAS chose kernels without
 * AVX2 on an x86 CPU that has AVX2 and FMA (or AVX-512), this runs the
 * program again (execv of /proc/self/exe with the same argv) with
 * OPENBLAS_CORETYPE set to the kernels for its vector width: Haswell for
 * AVX2, SkylakeX for AVX-512. Call it first in main, before any thread or MPI
 * starts. Does nothing where OPENBLAS_CORETYPE is set (the user's choice,
 * or the re-run), where OpenBLAS's choice has AVX2 kernels, on other CPUs,
 * and if the exec fails. */
void netc_blas_fix_core(char **argv);

/* The kernels OpenBLAS had chosen before netc_blas_fix_core replaced them, or NULL. */
const char *netc_blas_fallback(void);

#endif
