/* FN(lane_sums): the lane sums of VW vectors as one vector, for one instruction set and
 * element type (included by narrow_impl.h, with its T, VW, VEC, LANES and FN). */

/* SHUFFLE2(a, b, i...): the lanes of a then b, end to end, picked by constant indices */
#ifdef __clang__
#define SHUFFLE2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE2(a, b, ...) __builtin_shuffle(a, b, (LANES){__VA_ARGS__})
#endif

/* EVEN_h, ODD_h: in a and b end to end, cut in blocks of h lanes, the even and the odd
 * blocks; their sum adds the two halves of each block of 2h lanes. */
#if VW == 16
#define EVEN_8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define ODD_8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define EVEN_4 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27
#define ODD_4 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31
#define EVEN_2 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29
#define ODD_2 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31
#define EVEN_1 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD_1 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#elif VW == 8
#define EVEN_4 0, 1, 2, 3, 8, 9, 10, 11
#define ODD_4 4, 5, 6, 7, 12, 13, 14, 15
#define EVEN_2 0, 1, 4, 5, 8, 9, 12, 13
#define ODD_2 2, 3, 6, 7, 10, 11, 14, 15
#define EVEN_1 0, 2, 4, 6, 8, 10, 12, 14
#define ODD_1 1, 3, 5, 7, 9, 11, 13, 15
#elif VW == 4
#define EVEN_2 0, 1, 4, 5
#define ODD_2 2, 3, 6, 7
#define EVEN_1 0, 2, 4, 6
#define ODD_1 1, 3, 5, 7
#elif VW == 2
#define EVEN_1 0, 2
#define ODD_1 1, 3
#else
#error "lane_sums_impl.h: VW must be 2, 4, 8 or 16"
#endif

/* v[0 .. h) = pairs of v[0 .. 2h) with each block of 2h lanes folded to h */
#define FOLD(v, h)                                                                           \
    for (int i = 0; i < h; i++)                                                             \
        v[i] = SHUFFLE2(v[2 * i], v[2 * i + 1], EVEN_##h) +                                  \
               SHUFFLE2(v[2 * i], v[2 * i + 1], ODD_##h);

/* Lane i of the result = the sum of v[i]'s lanes. Each step halves the number of vectors
 * and the width of the blocks, so VW sums cost VW - 1 adds and twice as many shuffles,
 * not log2(VW) of each per sum. v is overwritten. */
TARGET static inline VEC FN(lane_sums)(VEC *v) {
#if VW >= 16
    FOLD(v, 8)
#endif
#if VW >= 8
    FOLD(v, 4)
#endif
#if VW >= 4
    FOLD(v, 2)
#endif
    FOLD(v, 1)
    return v[0];
}

#undef FOLD
#undef SHUFFLE2
#undef EVEN_8
#undef ODD_8
#undef EVEN_4
#undef ODD_4
#undef EVEN_2
#undef ODD_2
#undef EVEN_1
#undef ODD_1
