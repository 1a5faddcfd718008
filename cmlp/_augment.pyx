"""The compiled part of cmlp.augment: every image of a batch resampled through its own
affine map plus an optional displacement field, bilinearly, on several threads."""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t

import numpy as np

# Source images are copied into a frame with this many rows and columns of zeros around
# them; source positions are clamped into the frame, so the four pixels of a bilinear
# sample can be read without a bounds check (the clamped ones read zeros, as they should).
cdef enum:
    BORDER = 2


cdef void _warp_one(const floating* src, float* frame, floating* dst, int h, int w,
                    const double* m, const float* dy, const float* dx) noexcept nogil:
    """dst[i, j] = src at (m[0] i + m[1] j + m[2] + dy[i, j], m[3] i + m[4] j + m[5] + dx[i, j]),
    bilinear, 0 outside (dy, dx: NULL for none). frame: (h + 2 BORDER) x (w + 2 BORDER)
    floats whose border is zero."""
    cdef int i, j, i0, j0, fw = w + 2 * BORDER
    cdef float y, x, fy, fx, y_row, x_row
    cdef float m1 = <float> m[1], m4 = <float> m[4]
    cdef const float* f
    cdef floating* out
    for i in range(h):
        for j in range(w):
            frame[(i + BORDER) * fw + j + BORDER] = <float> src[i * w + j]
    for i in range(h):
        # positions shifted by BORDER, so that they are >= 0 after clamping
        y_row = <float> (m[0] * i + m[2] + BORDER)
        x_row = <float> (m[3] * i + m[5] + BORDER)
        out = dst + i * w
        for j in range(w):
            y = y_row + m1 * j
            x = x_row + m4 * j
            if dy != NULL:
                y = y + dy[i * w + j]
                x = x + dx[i * w + j]
            # clamped to [0, h + BORDER]: every pixel read is in the frame
            y = min(max(y, <float> 0), <float> (h + BORDER))
            x = min(max(x, <float> 0), <float> (w + BORDER))
            i0 = <int> y  # y >= 0: truncation is floor
            j0 = <int> x
            fy = y - i0
            fx = x - j0
            f = frame + i0 * fw + j0
            out[j] = <floating> ((1 - fy) * ((1 - fx) * f[0] + fx * f[1])
                                 + fy * ((1 - fx) * f[fw] + fx * f[fw + 1]))


def warp(const floating[:, ::1] X, const int64_t[::1] rows, const double[:, ::1] maps,
         const float[:, :, ::1] fields, const int64_t[::1] field_of, floating[:, ::1] out,
         int h, int w, int n_threads):
    """out[r] = image X[rows[r]] (h x w, row-major) warped by maps[r] (2 x 3, output pixel
    (i, j, 1) to source position (y, x)) plus displacement field field_of[r] of fields
    ((k, 2, h * w): dy then dx; field_of[r] < 0 for none). Sizes are the caller's to check."""
    cdef Py_ssize_t r, n = out.shape[0], f
    cdef float[:, ::1] frames = np.zeros((n_threads, (h + 2 * BORDER) * (w + 2 * BORDER)),
                                         dtype=np.float32)  # one per thread
    with nogil:
        for r in prange(n, num_threads=n_threads, schedule="static"):
            f = field_of[r]
            _warp_one(&X[rows[r], 0], &frames[threadid(), 0], &out[r, 0], h, w, &maps[r, 0],
                      &fields[f, 0, 0] if f >= 0 else NULL,
                      &fields[f, 1, 0] if f >= 0 else NULL)
