/* The baseline kernels: whatever every processor of the target has. SSE2 on x86-64, NEON on
 * arm64, plain C (one lane) elsewhere, or wherever CMLP_SCALAR_KERNELS is defined (so that
 * CI can run the plain C kernels too). 16 vector registers on x86-64 (32 on arm64): tiles
 * of 6 x 2 accumulators. */
#include "portable.h"
#include "simd_paths.h"

#if CMLP_SSE2 && !defined(CMLP_SCALAR_KERNELS)
#include <emmintrin.h>
#define CMLP_VEC_SSE2
#define VW_F32 4
#define VW_F64 2
#elif CMLP_NEON && !defined(CMLP_SCALAR_KERNELS)
#include <arm_neon.h>
#define CMLP_VEC_NEON
#define VW_F32 4
#define VW_F64 2
#else
#define CMLP_VEC_SCALAR
#define VW_F32 1
#define VW_F64 1
#endif

const char *cmlp_simd_baseline(void) {
#if defined(CMLP_VEC_SSE2)
    return "sse2";
#elif defined(CMLP_VEC_NEON)
    return "neon";
#else
    return "scalar";
#endif
}
#define ISA generic
#define TILE_VECS 2
#define SLIM_ROWS 8
#define DOT_ACCUMULATORS 12
#include "simd_isa.h"
