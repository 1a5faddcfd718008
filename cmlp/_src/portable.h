/* What the compilers cmlp supports (GCC, Clang, MSVC) spell differently: the target
 * architecture, inlining, alignment of locals, prefetches. */
#ifndef CMLP_PORTABLE_H
#define CMLP_PORTABLE_H

/* Included here, before any unit switches its target, so that only cmlp's own functions
 * are compiled for an instruction set. */
#include <stddef.h> /* ptrdiff_t */
#include <stdint.h> /* int32_t */
#include <string.h> /* memcpy, strcmp */

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define CMLP_X86 1
#else
#define CMLP_X86 0
#endif

/* SSE2 is the x86-64 baseline; NEON (with double lanes) the arm64 one. */
#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define CMLP_SSE2 1
#else
#define CMLP_SSE2 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define CMLP_NEON 1
#else
#define CMLP_NEON 0
#endif

#ifdef _MSC_VER
#define CMLP_INLINE __inline
#define CMLP_ALIGN64 __declspec(align(64))
#else
#define CMLP_INLINE inline
#define CMLP_ALIGN64 __attribute__((aligned(64)))
#endif

/* Prefetch for reading into all cache levels (L1) or into L2 only. Never faults. */
#if defined(_MSC_VER) && CMLP_X86
#include <xmmintrin.h>
#define CMLP_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define CMLP_PREFETCH_L2(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)
#elif defined(__GNUC__) || defined(__clang__)
#define CMLP_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#define CMLP_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2)
#else
#define CMLP_PREFETCH(p) ((void)(p))
#define CMLP_PREFETCH_L2(p) ((void)(p))
#endif

#endif
