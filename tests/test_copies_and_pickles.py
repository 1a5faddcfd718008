"""Copies and pickles: a frozen Model travels by every route (pickle protocols 0-5 with
in-band, out-of-band and read-only buffers, cloudpickle, joblib's memory maps, loky worker
processes), and a Network is never copied from the middle of another thread's fit."""
import copy
import pickle
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cmlp import Network
from cmlp.inference import Model


def _model_and_rows(dtype="float32", sizes=(20, 16, 4)):
    net = Network(list(sizes), dtype=dtype, seed=3)
    X = np.random.default_rng(1).random((33, sizes[0])).astype(dtype)
    return Model(net), X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_model_survives_every_pickle_protocol(protocol, dtype):
    model, X = _model_and_rows(dtype)
    again = pickle.loads(pickle.dumps(model, protocol=protocol))
    assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert_array_equal(again.predict(X), model.predict(X))
    assert not again.params.flags.writeable
    assert repr(again) == repr(model)


@pytest.mark.skipif(pickle.HIGHEST_PROTOCOL < 5, reason="pickle protocol 5 is Python 3.8+")
@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
def test_model_survives_protocol_5_out_of_band_buffers(read_only):
    model, X = _model_and_rows()
    buffers = []
    data = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
    assert buffers, "numpy hands its arrays out of band under protocol 5"
    given = [bytes(b.raw()) if read_only else bytearray(b.raw()) for b in buffers]
    again = pickle.loads(data, buffers=given)
    assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert not again.params.flags.writeable


def test_model_survives_cloudpickle():
    cloudpickle = pytest.importorskip("cloudpickle")  # loky's (dask's, ray's) pickler
    model, X = _model_and_rows()
    again = cloudpickle.loads(cloudpickle.dumps(model))
    assert_array_equal(again.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("mmap_mode", [None, "r", "c"])
def test_model_survives_joblib_dump_and_load(tmp_path, mmap_mode):
    joblib = pytest.importorskip("joblib")
    model, X = _model_and_rows("float64", (300, 40, 10))  # big enough to be memory-mapped
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    again = joblib.load(path, mmap_mode=mmap_mode)
    assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert not again.params.flags.writeable
    if mmap_mode is not None:
        assert isinstance(again.params.base, np.memmap) or isinstance(again.params, np.memmap)


def test_network_survives_joblib_memory_map(tmp_path):
    joblib = pytest.importorskip("joblib")
    net = Network([300, 40, 10], seed=0)
    X = np.random.default_rng(0).random((7, 300)).astype(np.float32)
    joblib.dump(net, tmp_path / "net.joblib")
    again = joblib.load(tmp_path / "net.joblib", mmap_mode="r")
    assert_array_equal(again.predict_proba(X), net.predict_proba(X))
    again.fit(X, np.arange(7) % 10, epochs=1, learning_rate=0.1)  # its own, writable copy


def _predict_chunk(model, X):
    return model.predict_proba(X)


@pytest.mark.subprocess
def test_model_travels_to_loky_workers():
    joblib = pytest.importorskip("joblib")
    model, X = _model_and_rows()
    chunks = np.array_split(X, 3)
    results = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_predict_chunk)(model, chunk) for chunk in chunks)
    assert_array_equal(np.concatenate(results), model.predict_proba(X))


def test_a_pickled_model_with_the_wrong_number_of_parameters_is_refused():
    from cmlp._inference import _rebuild

    with pytest.raises(ValueError, match="expected"):
        _rebuild(np.zeros(7, np.float32), (20, 16, 4), "relu", "cross_entropy", True)


# --- copies of a Network while another thread trains it ---


class _Stop(Exception):
    pass


def _training(net, X, y, stop):
    """A thread fitting net until stop is set (its callback raises then)."""
    def callback(epoch, history):
        if stop.is_set():
            raise _Stop

    def run():
        try:
            net.fit(X, y, epochs=10**6, learning_rate=1e-3, batch_size=32, callback=callback)
        except _Stop:
            pass

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.perf_counter() + 20
    while net._guard._writer is None and time.perf_counter() < deadline:
        time.sleep(0.0005)
    assert net._guard._writer is not None, "fit did not start"
    return thread


COPIES = {
    "pickle": lambda net: pickle.dumps(net),
    "pickle-5": lambda net: pickle.dumps(net, protocol=pickle.HIGHEST_PROTOCOL),
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
}


@pytest.mark.parametrize("how", COPIES)
def test_copying_a_network_during_another_threads_fit_raises(how):
    rng = np.random.default_rng(0)
    X, y = rng.random((2000, 64), dtype=np.float32), rng.integers(0, 10, 2000)
    net = Network([64, 256, 10], seed=0, n_threads=1)
    stop = threading.Event()
    thread = _training(net, X, y, stop)
    try:
        raised = 0
        for _ in range(50):
            writer = net._guard._writer
            try:
                COPIES[how](net)
            except RuntimeError as error:
                assert "training" in str(error)
                raised += 1
                continue
            # Only allowed if fit was not running for the whole attempt (it always is).
            assert writer is None or net._guard._writer is None, "a copy taken mid-fit"
        assert raised == 50
    finally:
        stop.set()
        thread.join()
    # Once fit has returned, copies work and hold the network's weights.
    for make in COPIES.values():
        made = make(net)
        other = pickle.loads(made) if isinstance(made, bytes) else made
        assert_array_equal(other._params, net._params)


def test_the_training_thread_may_copy_its_network_in_a_callback():
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 8), dtype=np.float32), rng.integers(0, 3, 64)
    net = Network([8, 6, 3], seed=0)
    snapshots = []
    net.fit(X, y, epochs=3, learning_rate=0.1,
            callback=lambda epoch, history: snapshots.append(copy.deepcopy(net)))
    assert len(snapshots) == 3
    assert_array_equal(snapshots[-1]._params, net._params)
    assert not np.array_equal(snapshots[0]._params, net._params)


def test_copies_own_their_weights():
    net = Network([8, 6, 3], seed=0)
    for other in (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert not np.shares_memory(other._params, net._params)
        other.weights[0][...] = 0
        assert np.abs(net.weights[0]).sum() > 0
