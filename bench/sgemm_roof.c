/* sgemm_roof.c: what OpenBLAS's sgemm reaches on this machine, the roof the
 * benchmark measures netc's layers against. Prints GFLOP/s of the best of
 * five 2048 x 2048 x 2048 products on the OpenMP pool (OMP_NUM_THREADS),
 * OpenBLAS's kernels, and the kernels OpenBLAS had chosen where
 * netc_blas_fix_core replaced them (as every netc trainer does), else "-". */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"

int main(int argc, char **argv) {
    netc_blas_fix_core(argv);
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) return 1;
    for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 13) / 13.0f, b[i] = (float)(i % 7) / 7.0f;
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = omp_get_wtime() - t0;
        if (r > 0 && dt < best) best = dt; /* the first call warms up */
    }
    printf("%.1f %s %s\n", 2.0 * n * n * (double)n / best / 1e9, netc_blas_core(), netc_blas_fallback() ? netc_blas_fallback() : "-");
    free(a), free(b), free(c);
    return 0;
}
