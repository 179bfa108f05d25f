/* netc_vec.h: the vector width, one constant per instruction set, and the
 * vector type the runtime's kernels and the generated code are written in
 * (GCC's vector extensions: the same source is AVX-512, AVX2 or NEON code).
 *
 *   NETC_VW  floats per vector register: 16 with AVX-512, 8 with AVX2, 4 with
 *            NEON (and SSE, or any other target, where the compiler splits or
 *            scalarises as it must)
 *   NETC_ISA the instruction set's name, as make ISA= and netc --isa spell it */
#ifndef NETC_VEC_H
#define NETC_VEC_H

#include <string.h>

#if defined(__AVX512F__)
#define NETC_VW 16
#define NETC_ISA_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define NETC_VW 8
#define NETC_ISA_NAME "avx2"
#elif defined(__aarch64__)
#define NETC_VW 4
#define NETC_ISA_NAME "aarch64"
#else
#define NETC_VW 4
#define NETC_ISA_NAME "generic"
#endif

typedef float netc_vf __attribute__((vector_size(4 * NETC_VW)));
typedef int netc_vi __attribute__((vector_size(4 * NETC_VW))); /* lane masks and shuffle indices */

static inline netc_vf netc_vload(const float *p) { /* unaligned */
    netc_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void netc_vstore(float *p, netc_vf v) { memcpy(p, &v, sizeof v); } /* unaligned */
/* relu on a vector, NaN to 0 as netc_relu: the compare's mask keeps positive lanes */
static inline netc_vf netc_vrelu(netc_vf v) { return (netc_vf)((netc_vi)v & (v > 0.0f)); }

#endif
