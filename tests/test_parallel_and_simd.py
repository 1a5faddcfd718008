"""The SIMD kernels (narrow layers, tile products) and the thread split, each against the
numpy reference.

Every instruction-set path the CPU supports is forced in turn; the shapes cross the
kernels' tile edges (rows not a multiple of 2, 6 or 12, outputs not a multiple of 6 or 4 or
of any vector width, inputs not a multiple of any vector width or of the tile product's
256-row chunks) and the row blocks each thread works in.
"""
import os
import platform

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, _kernels, _workspace, reference

TOL = {"float32": {"rtol": 2e-4, "atol": 2e-6}, "float64": {"rtol": 1e-10, "atol": 1e-13}}
NARROW_SHAPES = [
    (1, [64, 1, 2]),            # smallest narrow layer, one row
    (3, [65, 3, 4]),            # K = 65: one past every vector width
    (257, [784, 10, 10]),       # the notebook's net; two full 120-row blocks and a partial one
    (131, [100, 13, 7]),        # 13 outputs: tiles of 6, 6 and 1
    (130, [77, 16, 5, 3]),      # 16 outputs, then a second narrow-sized but small layer
    (40, [200, 64, 11, 4]),     # a narrow layer (64 -> 11) that is not the first
]


def _problem(sizes, n, dtype, n_threads=None, seed=0):
    net = Network(sizes, dtype=dtype, seed=seed, n_threads=n_threads)
    rng = np.random.default_rng(seed + 1)
    for b in net.biases:
        b[...] = rng.normal(0, 0.1, b.shape)
    X = rng.uniform(0, 1, (n, sizes[0])).astype(dtype)
    return net, X, rng.integers(0, sizes[-1], n)


def _check_against_reference(net, X, y, dtype):
    W = [w.astype(np.float64) for w in net.weights]
    b = [v.astype(np.float64) for v in net.biases]
    loss, grad_weights, grad_biases = net.gradients(X, y, l2=0.01)
    ref_loss, ref_weights, ref_biases = reference.gradients(W, b, X.astype(np.float64), y,
                                                            l2=0.01)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    for got, expected in zip(grad_weights + grad_biases, ref_weights + ref_biases):
        assert_allclose(got, expected, **TOL[dtype])
    assert_allclose(net.predict_proba(X), reference.forward(W, b, X.astype(np.float64))[-1],
                    **TOL[dtype])


# (m, n, k) of C = op(A) B for the tile product
TILE_SHAPES = [(1, 1, 1), (7, 5, 3), (13, 77, 50), (32, 128, 784), (25, 200, 300),
               (6, 64, 257), (300, 33, 2), (12, 16, 0)]


@pytest.fixture
def tiles_everywhere():
    previous = _kernels.use_tile_products(10**6, 10**6)
    yield
    _kernels.use_tile_products(*previous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m, n, k", TILE_SHAPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_every_simd_path_tile_product_matches_numpy(simd_path, tiles_everywhere, dtype, m, n,
                                                    k, trans_a, accumulate):
    rng = np.random.default_rng(m * 1000 + n + k)
    # A is stored with a wider row than it uses, so a wrong stride shows
    stored = rng.standard_normal((k, m + 3) if trans_a else (m, k + 3)).astype(dtype)
    A = stored[:, :m] if trans_a else stored[:, :k]
    B = rng.standard_normal((k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = (A.T if trans_a else A).astype(np.float64) @ B.astype(np.float64)
    if accumulate:
        expected += C
    _kernels.tile_product(stored, B, C, trans_a, accumulate)
    # sums of k products of unit normals: rounding grows with k, a wrong term is off by ~1
    assert_allclose(C, expected, rtol=TOL[dtype]["rtol"],
                    atol=8 * np.finfo(dtype).eps * max(k, 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m, n, k", [(7, 5, 3), (13, 77, 50), (17, 130, 300), (9, 16, 784),
                                     (25, 200, 2), (3, 70, 300), (5, 33, 20), (23, 9, 64),
                                     (41, 100, 3), (19, 3, 1), (29, 17, 5), (8, 300, 7),
                                     (13, 31, 600)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_a_rows_product_does_not_depend_on_the_rows_beside_it(simd_path, tiles_everywhere,
                                                              dtype, m, n, k,
                                                              trans_a, accumulate):
    # whole tiles, the 4-, 2- and 1-row tiles below them, a lone row across all columns
    # and the last columns (< a vector) sum every value in one order
    rng = np.random.default_rng(m + n + k)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    start = rng.standard_normal((m, n)).astype(dtype)
    whole = start.copy()
    _kernels.tile_product(A, B, whole, trans_a, accumulate)
    for i in range(m):
        row = start[i:i + 1].copy()
        a = np.ascontiguousarray(A[:, i:i + 1] if trans_a else A[i:i + 1])
        _kernels.tile_product(a, B, row, trans_a, accumulate)
        np.testing.assert_array_equal(row, whole[i:i + 1], err_msg=f"row {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", [(300, [50, 70, 9]), (37, [784, 128, 33, 10]),
                                      (256, [20, 129, 7]), (100, [40, 257, 200, 3]),
                                      (600, [30, 300, 6])])
@pytest.mark.parametrize("limits", [_workspace.TILE_LIMITS, (0, 0)], ids=["tiles", "blas"])
def test_tile_and_blas_products_match_reference(simd_path, dtype, n, sizes, limits):
    previous = _kernels.use_tile_products(*limits)
    try:
        net, X, y = _problem(sizes, n, dtype)
        _check_against_reference(net, X, y, dtype)
    finally:
        _kernels.use_tile_products(*previous)


def test_narrow_layers_are_detected():
    assert _workspace.narrow_layer(784, 10)
    assert not _workspace.narrow_layer(784, 128)
    assert not _workspace.narrow_layer(10, 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", NARROW_SHAPES)
def test_every_simd_path_matches_reference(simd_path, dtype, n, sizes):
    assert _kernels.simd_path() == simd_path
    net, X, y = _problem(sizes, n, dtype)
    _check_against_reference(net, X, y, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_outputs", range(1, 17))
def test_every_narrow_width_matches_reference(simd_path, dtype, n_outputs):
    # The forward kernel takes the outputs in groups of up to 4 or 8, each with its own row
    # tile; 29 rows end in a partial tile for all of them, and 67 inputs in a partial vector.
    assert _workspace.narrow_layer(67, n_outputs)
    net, X, y = _problem([67, n_outputs, 3], 29, dtype)
    _check_against_reference(net, X, y, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("n, sizes", [(1, [5, 4, 3]), (2, [784, 10, 10]),
                                      (301, [784, 10, 10]), (97, [30, 50, 20, 4])])
def test_thread_counts_match_reference(dtype, n_threads, n, sizes):
    net, X, y = _problem(sizes, n, dtype, n_threads=n_threads)
    _check_against_reference(net, X, y, dtype)


def test_the_generic_path_uses_the_targets_baseline_vector_unit():
    # CI's arm64 stage builds once as shipped (NEON) and once with CMLP_SCALAR_KERNELS, and
    # says which it expects through CMLP_EXPECT_BASELINE.
    expected = os.environ.get("CMLP_EXPECT_BASELINE") or {
        "x86_64": "sse2", "amd64": "sse2", "aarch64": "neon", "arm64": "neon",
    }.get(platform.machine().lower(), "scalar")
    assert _kernels.simd_baseline() == expected


def test_unknown_simd_path_is_refused():
    with pytest.raises(ValueError, match="not available"):
        _kernels.select_simd_path("neon-9000")


@pytest.mark.parametrize("batch_size", [None, 50])
def test_thread_count_gives_reproducible_training(batch_size):
    net, X, y = _problem([784, 10, 10], 300, "float32", n_threads=2)
    histories, weights = [], []
    for _ in range(2):
        net, _, _ = _problem([784, 10, 10], 300, "float32", n_threads=2)
        histories.append(net.fit(X, y, epochs=4, learning_rate=0.1,
                                 batch_size=batch_size)["loss"])
        weights.append(net.weights[0].copy())
    assert histories[0] == histories[1]
    assert np.array_equal(weights[0], weights[1])


@pytest.mark.parametrize("n_classes", [3, 10, 17])
def test_vectorised_softmax_exp_matches_numpy(simd_path, n_classes):
    """float32 softmax exps run on cmlp's own vector exp: logits through an identity layer
    (logits = inputs), first where float32 rounding of the inputs is negligible, then across
    the whole range down to where exp underflows."""
    rng = np.random.default_rng(n_classes)
    net = Network([n_classes, n_classes], dtype="float32", seed=0)
    net.weights[0][...] = np.eye(n_classes)
    net.biases[0][...] = 0
    # |z| <= 16 after the max shift: input rounding is <= 1e-6 relative, so 2e-6 catches
    # any wrong polynomial term or range reduction.
    narrow = rng.uniform(-8, 8, (53, n_classes)).astype(np.float32)
    assert_allclose(net.predict_proba(narrow), reference.softmax(narrow.astype(np.float64)),
                    rtol=2e-6, atol=1e-37)
    # Up to |z| = 130, the float32 shift alone rounds z by |z| * 6e-8, which exp turns
    # into that relative error.
    wide = rng.uniform(-100, 30, (53, n_classes)).astype(np.float32)
    wide[0] = np.linspace(-95, 0, n_classes)  # one row sweeping the whole exp range
    assert_allclose(net.predict_proba(wide), reference.softmax(wide.astype(np.float64)),
                    rtol=2e-5, atol=1e-37)


@pytest.mark.skipif(np.float32(1e-30) * np.float32(1e-10) == 0,
                    reason="this process already flushes denormals")
@pytest.mark.parametrize("n_threads, batch_size", [(1, None), (2, None), (2, 16)])
def test_kernels_flush_denormals_and_restore_the_callers_mode(n_threads, batch_size):
    """Inside the kernels denormal floats are flushed to zero (Intel cores run ~100x slower
    on them); the caller's floating-point mode is left as it was."""
    assert _kernels.denormal_product(1e-30, 1e-10) == 0
    net, X, y = _problem([20, 9, 3], 64, "float32", n_threads=n_threads)
    net.fit(X, y, epochs=2, learning_rate=0.1, batch_size=batch_size, optimizer="adam")
    net.predict_proba(X)
    assert np.float32(1e-30) * np.float32(1e-10) > 0
