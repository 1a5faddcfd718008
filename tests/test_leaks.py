"""No leaks: resident memory and open file descriptors stay flat over thousands of calls.

RSS comes from /proc/self/statm (Linux). Each test runs a warm-up round first (allocator
arenas, thread pools, caches), then measures RSS after the first and the second half of its
loop. Margins: the second half may add at most 8 MiB and the whole loop at most 24 MiB. The
smallest leak that would fail them: about 4 KiB per prediction (2,000 calls), 40 KiB per fit
or save/load round trip (200 each); a leaked work buffer of the sizes used here (a few
hundred kB to MBs per call) fails them many times over.
"""
import ctypes
import ctypes.util
import os

import numpy as np
import pytest

from cmlp import Network

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="RSS is read from /proc/self/statm (Linux)")

HALF_MARGIN = 8 << 20
TOTAL_MARGIN = 24 << 20


def _malloc_trim():
    """glibc's malloc_trim, or None: it hands freed heap pages back to the kernel, so memory
    freed by earlier tests cannot hide new growth by being reused while still resident."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def rss():
    if _TRIM is not None:
        _TRIM(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def assert_flat(step, n, label):
    """Run step(i) for a warm-up round, then n times; RSS must stay within the margins."""
    for i in range(min(n, 50)):
        step(i)
    start, fds = rss(), open_fds()
    for i in range(n // 2):
        step(i)
    middle = rss()
    for i in range(n // 2, n):
        step(i)
    end = rss()
    growth = (end - start) / 2**20, (end - middle) / 2**20
    assert end - middle <= HALF_MARGIN and end - start <= TOTAL_MARGIN, (
        f"{label}: RSS grew {growth[0]:.1f} MiB over {n} calls, {growth[1]:.1f} MiB in the "
        f"second half")
    assert open_fds() == fds, f"{label}: file descriptors leaked"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (600, 64)).astype(np.float32)
    y = rng.integers(0, 10, 600)
    return X, y


def test_predictions_of_varied_sizes(data):
    X, y = data
    # One thread mostly (a loaded CI machine makes thread barriers slow, not leaky); every
    # fourth call on two threads, whose per-thread buffers must be freed as well.
    nets = [Network([64, 48, 10], seed=0, n_threads=1 if k else 2) for k in range(4)]
    for net in nets:
        net.fit(X, y, epochs=1, learning_rate=0.1, batch_size=32)
    sizes = np.random.default_rng(1).integers(1, len(X) + 1, 2000)

    def step(i):
        net = nets[i % 4]
        rows = X[: sizes[i]]
        if i % 3 == 0:
            net.predict(rows)
        elif i % 3 == 1:
            net.predict_proba(rows)
        else:
            net.score(rows, y[: sizes[i]])

    assert_flat(step, len(sizes), "predictions")


def test_fits(data):
    X, y = data
    batches = [None, 1, 16, 32, 100, 512, 1000]
    optimizers = ["sgd", "momentum", "adam"]

    def step(i):
        net = Network([64, 16, 10], seed=i, dtype="float64" if i % 2 else "float32",
                      n_threads=2 if i % 4 == 0 else 1)
        net.fit(X[:200], y[:200], epochs=1, learning_rate=0.05,
                batch_size=batches[i % len(batches)], optimizer=optimizers[i % 3])

    assert_flat(step, 200, "fits")


def test_save_load_round_trips(tmp_path, data):
    X, _ = data
    net = Network([64, 48, 10], seed=0, n_threads=1)
    path = tmp_path / "m.npz"

    def step(i):
        net.save(path)
        loaded = Network.load(path)
        loaded.predict(X[:8])

    assert_flat(step, 200, "save/load")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_the_measure_sees_a_leak():
    """The harness itself: 16 KiB kept per call over 2,000 calls (31 MiB) must fail it."""
    kept = []

    def leaky(i):
        kept.append(np.ones(2048))  # 16 KiB, touched so it is resident

    with pytest.raises(AssertionError, match="RSS grew"):
        assert_flat(leaky, 2000, "leaky")
