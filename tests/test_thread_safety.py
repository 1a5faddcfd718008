"""One Network shared by many Python threads: each call gets what a lone call returns.

The kernels release the GIL, so the threads really run inside them at once; every call
borrows work buffers of its own (cmlp._pool.WorkspacePool). The shapes cover every path a
batch can take: narrow layers (784-10-10), the tile kernels (784-128-10, 784-300-10),
BLAS's wide layers (300-1040-10) and a deep network, with 1, 7, 100 and 3,000 rows. fit on
a Network that another thread is using raises RuntimeError at once (cmlp._guard).
"""
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cmlp import Network, _workspace

N_THREADS = 8
ROWS = (1, 7, 100, 3000)
SHAPES = [
    pytest.param([784, 10, 10], "float32", id="narrow-784-10-10"),
    pytest.param([784, 128, 10], "float32", id="tiles-784-128-10"),
    pytest.param([784, 300, 10], "float64", id="wide-tiles-784-300-10"),
    pytest.param([300, 1040, 10], "float64", id="blas-300-1040-10"),
    pytest.param([784, 64, 48, 32, 10], "float32", id="deep"),
]


def _data(n_features, n_classes, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((max(ROWS), n_features)).astype(dtype),
            rng.integers(0, n_classes, max(ROWS)))


def _calls(net, X, y):
    """(name, rows, function) for every method and row count."""
    calls = []
    for rows in ROWS:
        Xr, yr = X[:rows], y[:rows]
        calls += [
            ("predict_proba", rows, lambda Xr=Xr: net.predict_proba(Xr)),
            ("predict", rows, lambda Xr=Xr: net.predict(Xr)),
            ("score", rows, lambda Xr=Xr, yr=yr: net.score(Xr, yr)),
            ("gradients", rows, lambda Xr=Xr, yr=yr: net.gradients(Xr, yr, l2=1e-3)),
        ]
    return calls


def _same(a, b, blas):
    if isinstance(a, tuple):  # gradients: (loss, [dW...], [db...])
        if blas:
            # BLAS's thread count can be limited from the main thread only (threadpoolctl's
            # README): called from another thread, OpenBLAS splits a dgemm over its own
            # count and rounds some last bits otherwise (seen: 2.8e-17 on every call from
            # a worker thread; none on cmlp's own kernels): equal to rounding, not the bit
            assert_allclose(a[0], b[0], rtol=1e-12)
            for x, z in zip(a[1] + a[2], b[1] + b[2]):
                assert_allclose(x, z, rtol=1e-12, atol=1e-15)
            return
        assert a[0] == b[0]
        for x, z in zip(a[1] + a[2], b[1] + b[2]):
            assert_array_equal(x, z)
    else:
        assert_array_equal(a, b)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("sizes, dtype", SHAPES)
def test_many_threads_get_what_a_lone_call_returns(sizes, dtype, n_threads):
    net = Network(sizes, dtype=dtype, seed=3, n_threads=n_threads)
    X, y = _data(sizes[0], sizes[-1], dtype)
    # Layers wider than the tiles take have their gradients on BLAS (_kernels.product).
    blas = max(sizes[1:]) > _workspace.TILE_LIMITS[1]
    calls = _calls(net, X, y)
    expected = [function() for _, _, function in calls]
    start = threading.Barrier(N_THREADS)
    failures = []

    def worker(k):
        start.wait()
        # Every thread walks the calls in its own order, so different sizes overlap.
        order = np.random.default_rng(k).permutation(len(calls))
        try:
            for i in order:
                name, rows, function = calls[i]
                try:
                    _same(function(), expected[i], blas)
                except AssertionError:
                    failures.append((k, name, rows))
        except Exception as error:  # a crash in a thread must fail the test too
            failures.append((k, repr(error)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:10]


def _ticks_during(function):
    """How many times another Python thread ticked (every ~1 ms) while function ran."""
    ticks, done = [], threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=count)
    thread.start()
    time.sleep(0.01)
    start = time.perf_counter()
    function()
    end = time.perf_counter()
    done.set()
    thread.join()
    return sum(start < t < end for t in ticks), end - start


# Under pytest-run-parallel, four copies of the test share the GIL and two cores with the
# ticking threads of the others: a copy may see no tick through no fault of the kernels.
@pytest.mark.thread_unsafe(reason="counts another thread's GIL ticks: needs the GIL to itself")
@pytest.mark.parametrize("method", ["predict_proba", "gradients"])
def test_the_gil_is_released_while_predicting(method):
    net = Network([784, 512, 10], seed=0, n_threads=1)
    X, y = _data(784, 10, "float32")
    X = np.tile(X, (4, 1))  # 12,000 rows: some tens of milliseconds or more
    call = (lambda: net.predict_proba(X)) if method == "predict_proba" else (
        lambda: net.gradients(X, np.tile(y, 4)))
    ticks, seconds = _ticks_during(call)
    # Holding the GIL, the counter could not tick at all during the call.
    assert ticks >= 3, (ticks, seconds)


def _in_thread(function):
    """Run function in a thread; returns (thread, started event, result list)."""
    started, result = threading.Event(), []

    def run():
        started.set()
        try:
            result.append(function())
        except Exception as error:
            result.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    return thread, result


def _busy(net):
    """Wait until the guard shows a call of another thread inside net."""
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if net._guard._readers or net._guard._writer is not None:
            return True
        time.sleep(0.0005)
    return False


def test_predicting_during_fit_raises_runtime_error():
    rng = np.random.default_rng(0)
    X, y = rng.random((20000, 200), dtype=np.float32), rng.integers(0, 10, 20000)
    net = Network([200, 256, 10], seed=0, n_threads=1)
    thread, result = _in_thread(
        lambda: net.fit(X, y, epochs=3, learning_rate=0.01, batch_size=64))
    assert _busy(net)
    for call in (lambda: net.predict(X[:5]), lambda: net.predict_proba(X[:5]),
                 lambda: net.score(X[:5], y[:5]), lambda: net.gradients(X[:5], y[:5]),
                 lambda: net.fit(X[:5], y[:5], epochs=1, learning_rate=0.1)):
        with pytest.raises(RuntimeError, match="another thread|already being trained"):
            call()
    thread.join()
    assert isinstance(result[0], dict), result  # the fit itself went through
    assert np.isfinite(net.predict_proba(X[:5])).all()  # and the network is free again


def test_fit_during_a_prediction_raises_runtime_error():
    rng = np.random.default_rng(0)
    X, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    net = Network([784, 800, 10], seed=0, n_threads=1)
    thread, result = _in_thread(lambda: [net.predict_proba(X) for _ in range(3)])
    assert _busy(net)
    with pytest.raises(RuntimeError, match="predicting"):
        net.fit(X[:10], y[:10], epochs=1, learning_rate=0.1)
    thread.join()
    assert all(np.isfinite(p).all() for p in result[0])


def test_network_pickles_without_lock_or_buffers():
    import pickle

    net = Network([6, 5, 3], seed=0)
    X = np.random.default_rng(0).random((4, 6))
    net.predict(X)
    copy = pickle.loads(pickle.dumps(net))
    assert copy._guard is not net._guard and len(copy._workspaces) == 0
    assert_array_equal(copy.predict_proba(X), net.predict_proba(X))
