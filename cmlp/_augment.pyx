"""The compiled part of cmlp.augment: every image of a batch resampled through its own
affine map plus an optional displacement field, bilinearly, on several threads."""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport floor
from libc.stdint cimport int64_t


cdef inline floating _pixel(const floating* img, int h, int w, int i, int j) noexcept nogil:
    if i < 0 or i >= h or j < 0 or j >= w:
        return 0
    return img[i * w + j]


cdef void _warp_one(const floating* src, floating* dst, int h, int w, const double* m,
                    const float* dy, const float* dx) noexcept nogil:
    """dst[i, j] = src at (m[0] i + m[1] j + m[2] + dy[i, j], m[3] i + m[4] j + m[5] + dx[i, j]),
    bilinear, 0 outside (dy, dx: NULL for none)."""
    cdef int i, j, i0, j0
    cdef double y, x, fy, fx
    cdef Py_ssize_t p
    for i in range(h):
        for j in range(w):
            p = i * w + j
            y = m[0] * i + m[1] * j + m[2]
            x = m[3] * i + m[4] * j + m[5]
            if dy != NULL:
                y = y + dy[p]
                x = x + dx[p]
            i0 = <int> floor(y)
            j0 = <int> floor(x)
            fy = y - i0
            fx = x - j0
            if i0 >= 0 and i0 + 1 < h and j0 >= 0 and j0 + 1 < w:  # inside: no checks
                dst[p] = <floating> (
                    (1 - fy) * ((1 - fx) * src[i0 * w + j0] + fx * src[i0 * w + j0 + 1])
                    + fy * ((1 - fx) * src[(i0 + 1) * w + j0] + fx * src[(i0 + 1) * w + j0 + 1]))
            else:
                dst[p] = <floating> (
                    (1 - fy) * ((1 - fx) * _pixel(src, h, w, i0, j0)
                                + fx * _pixel(src, h, w, i0, j0 + 1))
                    + fy * ((1 - fx) * _pixel(src, h, w, i0 + 1, j0)
                            + fx * _pixel(src, h, w, i0 + 1, j0 + 1)))


def warp(const floating[:, ::1] X, const int64_t[::1] rows, const double[:, ::1] maps,
         const float[:, :, ::1] fields, const int64_t[::1] field_of, floating[:, ::1] out,
         int h, int w, int n_threads):
    """out[r] = image X[rows[r]] (h x w, row-major) warped by maps[r] (2 x 3, output pixel
    (i, j, 1) to source position (y, x)) plus displacement field field_of[r] of fields
    ((k, 2, h * w): dy then dx; field_of[r] < 0 for none). Sizes are the caller's to check."""
    cdef Py_ssize_t r, n = out.shape[0]
    cdef Py_ssize_t f
    with nogil:
        for r in prange(n, num_threads=n_threads, schedule="static"):
            f = field_of[r]
            _warp_one(&X[rows[r], 0], &out[r, 0], h, w, &maps[r, 0],
                      &fields[f, 0, 0] if f >= 0 else NULL,
                      &fields[f, 1, 0] if f >= 0 else NULL)
