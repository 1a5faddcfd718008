/* The SIMD kernels of one instruction set, for float and for double. simd.c includes this
 * once per instruction set, after defining
 *   TARGET              the function attribute that enables the set (or nothing)
 *   ISA                 its name in the kernels' names (generic, avx_fma, avx512)
 *   VW_F32, VW_F64      lanes of a vector of floats, of doubles
 *   TILE_VECS, SLIM_ROWS   tile shapes of the tile product: 6 x TILE_VECS vectors, and
 *                          SLIM_ROWS x 1 for a last panel one vector wide (see tiles_impl.h)
 *   DOT_ACCUMULATORS    vector accumulators of the narrow forward tiles (narrow_impl.h)
 * and undefines them all again. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUFFIX) /* a kernel's name for this set and element type */
#define VEC FN(vec)
#define UVEC FN(uvec)
#define LANES FN(lanes)
/* VEC; UVEC with element alignment for unaligned loads and stores; LANES, integers of T's
 * size in VEC's shape (shuffle masks, bit tricks) */
#define VECTOR_TYPES(LANE_INT)                                                          \
    typedef T VEC __attribute__((vector_size(VW * sizeof(T))));                          \
    typedef T UVEC __attribute__((vector_size(VW * sizeof(T)), aligned(sizeof(T))));     \
    typedef LANE_INT LANES __attribute__((vector_size(VW * sizeof(T))));
#define TILE_ROWS 6
#define TILE_DEPTH 256
#define PREFETCH_AHEAD 128 /* values ahead in a row that the narrow forward kernel prefetches */

#define CMLP_F32
#define T float
#define VW VW_F32
#define SUFFIX CAT(ISA, f32)
VECTOR_TYPES(int32_t)
#include "narrow_impl.h"
#include "tiles_impl.h"
#undef CMLP_F32
#undef T
#undef VW
#undef SUFFIX

#define T double
#define VW VW_F64
#define SUFFIX CAT(ISA, f64)
VECTOR_TYPES(int64_t)
#include "narrow_impl.h"
#include "tiles_impl.h"
#undef T
#undef VW
#undef SUFFIX

#undef TILE_ROWS
#undef TILE_DEPTH
#undef PREFETCH_AHEAD
#undef VECTOR_TYPES
#undef VEC
#undef UVEC
#undef LANES
#undef FN
#undef CAT
#undef CAT_
#undef TARGET
#undef ISA
#undef VW_F32
#undef VW_F64
#undef TILE_VECS
#undef SLIM_ROWS
#undef DOT_ACCUMULATORS
