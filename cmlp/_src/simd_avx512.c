/* The kernels for x86-64 processors with AVX-512F (FMA included): 16 floats or 8 doubles a
 * vector, 32 registers, tiles of 6 x 4 accumulators. Compiled for AVX-512F; run only where
 * the dispatcher (simd.c) found it. */
#include "portable.h"
#include "simd_paths.h"

#if CMLP_X86
#include <immintrin.h>
#if defined(_MSC_VER) /* MSVC (and clang-cl): the unit's /arch: flag, from setup.py */
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#endif

#define CMLP_VEC_AVX512
#define ISA avx512
#define VW_F32 16
#define VW_F64 8
#define TILE_VECS 4
#define SLIM_ROWS 12
#define DOT_ACCUMULATORS 24
#include "simd_isa.h"

#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#else
typedef int cmlp_no_avx512_here; /* a unit must declare something */
#endif
