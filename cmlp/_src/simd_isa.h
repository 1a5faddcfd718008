/* The SIMD kernels of one instruction set, for float and for double. Each per-set unit
 * (simd_generic.c, simd_avx_fma.c, simd_avx512.c) includes this once, after defining
 *   CMLP_VEC_...        the set's vector operations (see vec_ops.h)
 *   ISA                 its name in the kernels' names (generic, avx_fma, avx512)
 *   VW_F32, VW_F64      lanes of a vector of floats, of doubles
 *   TILE_VECS, SLIM_ROWS   tile shapes of the tile product: 6 x TILE_VECS vectors, and
 *                          SLIM_ROWS x 1 for a last panel one vector wide (see tiles_impl.h)
 *   DOT_ACCUMULATORS    vector accumulators of the narrow forward tiles (narrow_impl.h)
 * The unit is compiled for its instruction set (simd_paths.h says how); the entry points,
 * cmlp_<kernel>_<ISA>_<f32|f64>, are declared in simd_paths.h for the dispatcher (simd.c). */
#include "portable.h"
#include "simd_paths.h"

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUFFIX)     /* a kernel's name for this set and element type */
#define ENTRY(name) CAT(cmlp, FN(name)) /* an entry point's: cmlp_forward_avx512_f32 */
#define TILE_ROWS 6
#define TILE_DEPTH 256
#define PREFETCH_AHEAD 128 /* values ahead in a row that the narrow forward kernel prefetches */

#define CMLP_F32
#define T float
#define VW VW_F32
#define SUFFIX CAT(ISA, f32)
#include "vec_ops.h"
#include "narrow_impl.h"
#include "tiles_impl.h"
#include "vec_undef.h"
#undef CMLP_F32
#undef T
#undef VW
#undef SUFFIX

#define T double
#define VW VW_F64
#define SUFFIX CAT(ISA, f64)
#include "vec_ops.h"
#include "narrow_impl.h"
#include "tiles_impl.h"
#include "vec_undef.h"
#undef T
#undef VW
#undef SUFFIX
