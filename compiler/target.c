/* target.c: the instruction sets netc builds trainers for (see target.h). */
#include "target.h"

#include <string.h>

#include "pool.h"

#if defined(__aarch64__)
#define HOST_TRIPLET "aarch64-linux-gnu"
#else
#define HOST_TRIPLET "x86_64-linux-gnu"
#endif

static const Target targets[] = {
    {"avx2", "-march=x86-64-v3", "x86_64-linux-gnu", NULL, 8},    /* AVX2 and FMA: Haswell, Zen 1 to 3 */
    {"avx512", "-march=x86-64-v4", "x86_64-linux-gnu", NULL, 16}, /* AVX-512 F, BW, DQ, VL: Skylake-X, Zen 4 */
    {"aarch64", "-march=armv8-a", "aarch64-linux-gnu", "aarch64-linux-gnu-gcc", 4}, /* NEON */
};

/* native: this machine's instructions, and the width the runtime's
 * kernels will find in the compiler's macros under -march=native */
static Target native = {"native", "-march=native", HOST_TRIPLET, NULL, 0};

static int native_width(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2")) return 8;
#endif
    return 4; /* NEON, SSE */
}

const Target *target_find(const char *name) {
    if (strcmp(name, "native") == 0) {
        if (!native.vector_floats) native.vector_floats = native_width();
        return &native;
    }
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(name, targets[i].name) == 0) return &targets[i];
    return NULL;
}

const char *target_names(void) { return "native, avx2, avx512, aarch64"; }

const char *target_build_dir(const Target *t) { return strcmp(t->name, "native") == 0 ? "build" : pool_printf("build-%s", t->name); }
