/* The kernels for x86-64 processors with AVX and FMA (not necessarily AVX2): 8 floats or 4
 * doubles a vector, 16 registers, tiles of 6 x 2 accumulators. Compiled for AVX + FMA; run
 * only where the dispatcher (simd.c) found both. */
#include "portable.h"
#include "simd_paths.h"

#if CMLP_X86
#include <immintrin.h>
#if defined(_MSC_VER) /* MSVC (and clang-cl): the unit's /arch: flag, from setup.py */
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx,fma")
#endif

#define CMLP_VEC_AVX
#define ISA avx_fma
#define VW_F32 8
#define VW_F64 4
#define TILE_VECS 2
#define SLIM_ROWS 8
#define DOT_ACCUMULATORS 12
#include "simd_isa.h"

#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#else
typedef int cmlp_no_avx_fma_here; /* a unit must declare something */
#endif
