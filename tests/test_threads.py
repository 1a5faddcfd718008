"""How many threads cmlp runs (cmlp._threads): the CPUs the process may use, the OpenMP
settings scikit-learn honours, an upper bound, and one thread in a forked child."""
import multiprocessing
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cmlp import Network, _kernels, _threads

needs_openmp = pytest.mark.skipif(not _kernels.openmp_enabled(), reason="built without OpenMP")


def _openmp_runtime_is_libgomp():
    # in a fresh process that loads cmlp alone: here scikit-learn's wheel may have loaded
    # its own libgomp beside a Clang build's libomp
    code = ("import cmlp, threadpoolctl; print(any('libgomp' in lib.get('filepath', '') "
            "for lib in threadpoolctl.threadpool_info() if lib['internal_api'] == 'openmp'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


# OMP_DISPLAY_ENV at load time is libgomp's; a Clang build links LLVM's libomp instead.
needs_libgomp = pytest.mark.skipif(not _openmp_runtime_is_libgomp(),
                                   reason="cmlp's OpenMP runtime is not libgomp")
needs_two_cpus = pytest.mark.skipif(_threads.usable_cpus() < 2, reason="needs 2 usable CPUs")


def _default_threads_in_child(env=None, before=""):
    code = before + "\nfrom cmlp import Network\nprint(Network([3, 2])._kernel_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})), timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@needs_openmp
@needs_two_cpus
def test_default_threads_honour_omp_num_threads():
    assert _default_threads_in_child({"OMP_NUM_THREADS": "1"}) == 1
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", "from cmlp import Network, _threads; "
                          "print(Network([3, 2])._kernel_threads(), _threads.usable_cpus())"],
                         capture_output=True, text=True, env=env, timeout=60)
    threads, cpus = map(int, out.stdout.split())
    assert threads == cpus


@needs_openmp
@needs_two_cpus
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity masks here")
def test_default_threads_follow_the_affinity_mask():
    """As under `taskset -c 0`: one CPU allowed, one thread (old main: os.cpu_count())."""
    first = min(os.sched_getaffinity(0))
    before = f"import os; os.sched_setaffinity(0, {{{first}}})"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", before + "\nfrom cmlp import Network\n"
                          "print(Network([3, 2])._kernel_threads())"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 1


@needs_openmp
@needs_two_cpus
def test_default_threads_honour_threadpoolctl_openmp_limit():
    from threadpoolctl import threadpool_limits

    net = Network([3, 2])
    with threadpool_limits(limits=1, user_api="openmp"):
        assert net._kernel_threads() == 1
    assert Network([3, 2], n_threads=2)._kernel_threads() == 2  # an explicit count stays


def test_n_threads_has_an_upper_bound():
    limit = _threads.max_threads()
    assert Network([3, 2], n_threads=limit).n_threads == limit
    with pytest.raises(ValueError, match=f"n_threads={limit + 1} .* at most {limit}"):
        Network([3, 2], n_threads=limit + 1)
    with pytest.raises(ValueError, match="n_threads=5000"):
        Network([3, 2], n_threads=5000)


def test_cli_refuses_too_many_threads(capsys):
    from cmlp.cli import main

    assert main(["train", "--threads", "100000", "--epochs", "1"]) == 2
    assert "n_threads=100000" in capsys.readouterr().err


def _predict_in_child(queue):
    rng = np.random.default_rng(0)
    X = rng.random((4000, 784), dtype=np.float32)
    net = Network([784, 64, 10], seed=0, n_threads=2)
    net.fit(X[:512], rng.integers(0, 10, 512), epochs=1, learning_rate=0.01, batch_size=64)
    queue.put((net._kernel_threads(), net.predict_proba(X).sum()))


@needs_openmp
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_child_forked_after_two_threads_ran_does_not_hang():
    """Old main: the child's first parallel region waits for ever on libgomp's dead pool."""
    rng = np.random.default_rng(0)
    X = rng.random((4000, 784), dtype=np.float32)
    net = Network([784, 64, 10], seed=0, n_threads=2)
    net.predict_proba(X)  # the parent's OpenMP pool now has two threads
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        child = context.Process(target=_predict_in_child, args=(queue,))
        child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child hung in cmlp")
    assert child.exitcode == 0
    threads, total = queue.get(timeout=10)
    assert threads == 1  # fell back to one thread
    np.testing.assert_allclose(total, 4000, rtol=1e-4)
    assert net._kernel_threads() == 2  # the parent keeps its threads


@needs_openmp
@needs_libgomp
@pytest.mark.parametrize("user_env, expected", [({}, "PASSIVE"),
                                                 ({"OMP_WAIT_POLICY": "active"}, "ACTIVE")])
def test_threads_sleep_at_barriers_unless_the_user_chose(user_env, expected):
    """libgomp prints its settings at start with OMP_DISPLAY_ENV; cmlp sets the passive
    wait policy (see cmlp/_wait_policy.py) only while loading, and only by default."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(user_env, OMP_DISPLAY_ENV="true")
    out = subprocess.run([sys.executable, "-c", "import os, cmlp; "
                          "print(os.environ.get('OMP_WAIT_POLICY'))"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"OMP_WAIT_POLICY = '{expected}'" in out.stderr
    assert out.stdout.strip() == str(user_env.get("OMP_WAIT_POLICY"))  # env left as it was


def _fit_in_child(net, X, y, queue):
    try:
        net.fit(X[:64], y[:64], epochs=1, learning_rate=0.01)
        queue.put("fitted")
    except Exception as error:
        queue.put(repr(error))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_does_not_inherit_the_parents_calls_in_progress():
    """A prediction running in another thread of the parent at fork time does not exist in
    the child: the child may train its copy (old main: RuntimeError, 1 call predicting)."""
    import threading
    import time

    rng = np.random.default_rng(0)
    X, y = rng.random((30000, 784), dtype=np.float32), rng.integers(0, 10, 30000)
    net = Network([784, 512, 10], seed=0, n_threads=1)
    reader = threading.Thread(target=lambda: [net.predict_proba(X) for _ in range(5)])
    reader.start()
    deadline = time.perf_counter() + 10
    while not net._guard._readers and time.perf_counter() < deadline:
        time.sleep(0.001)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        child = context.Process(target=_fit_in_child, args=(net, X, y, queue))
        child.start()
    try:
        assert queue.get(timeout=60) == "fitted"
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
        reader.join()
