/* target.h: the instruction sets netc builds trainers for (netc --isa).
 *
 * One table says, per ISA, the C compiler's flags, where its OpenBLAS
 * (OpenMP build) and runtime library are, and the vector width the
 * runtime's kernels use (runtime/netc_vec.h picks the same width from the
 * compiler's predefined macros). The plan reads the width where a kernel or
 * fold choice differs per ISA; nothing else in the compiler does. */
#ifndef NETC_TARGET_H
#define NETC_TARGET_H

typedef struct {
    const char *name;    /* as --isa and make ISA= spell it */
    const char *march;   /* the C compiler's target flags */
    const char *triplet; /* Debian's multiarch folder: OpenBLAS's OpenMP build is in /usr/lib/<triplet>/openblas-openmp */
    const char *cc;      /* the C compiler if --cc and $CC are not given: a cross compiler, or NULL (cc) */
    int vector_floats;   /* floats per vector register: 16 AVX-512, 8 AVX2, 4 NEON (NETC_VW) */
} Target;

/* The target called name (native: the machine netc runs on), or NULL. */
const Target *target_find(const char *name);

/* "native, avx2, avx512, aarch64": for messages */
const char *target_names(void);

/* The runtime library's folder in netc's source tree for target t: build
 * for native, build-<name> for the others (make ISA=<name>). */
const char *target_build_dir(const Target *t);

#endif
