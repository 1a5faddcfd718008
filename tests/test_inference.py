"""Prediction: Network.predict*, the frozen cmlp.inference.Model, out=, threads, state."""
import copy
import os
import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cmlp
from cmlp import Network, reference
from cmlp import _inference, _kernels, _workspace
from cmlp.inference import API_VERSION, ABI_VERSION, Model

TOL = {"float32": dict(rtol=2e-5, atol=1e-6), "float64": dict(rtol=1e-11, atol=1e-14)}
SHAPES = [
    [784, 128, 10],      # a wide first layer and a narrow last one
    [784, 10, 10],       # a narrow first layer
    [30, 300, 7],        # wider than a tile panel
    [70, 5],             # no hidden layer
    [100, 64, 33, 80, 10],
]


def _reference_proba(net, X):
    as64 = lambda arrays: [a.astype(np.float64) for a in arrays]
    return reference.forward(as64(net.weights), as64(net.biases), X.astype(np.float64),
                             net.activation, net.loss)[-1]


def _data(n, n_features, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_features)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("sizes", SHAPES, ids=lambda s: "-".join(map(str, s)))
def test_network_and_model_match_the_reference(sizes, activation, dtype):
    net = Network(sizes, dtype=dtype, seed=3, activation=activation)
    model = Model(net)
    for n in (1, 7, 8, 129, 300):
        X = _data(n, sizes[0], dtype, seed=n)
        expected = _reference_proba(net, X)
        proba = net.predict_proba(X)
        assert proba.dtype == dtype and proba.shape == (n, sizes[-1])
        assert_allclose(proba, expected, **TOL[dtype])
        assert_allclose(model.predict_proba(X), expected, **TOL[dtype])
        assert_array_equal(net.predict(X), proba.argmax(axis=1))
        assert_array_equal(model.predict(X), model.predict_proba(X).argmax(axis=1))
        assert_array_equal(model.predict_proba(X), proba)  # the same kernels, the same bits


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_thread_count_does_not_change_a_bit(dtype):
    net = Network([50, 40, 10], dtype=dtype, seed=0)
    model = Model(net)
    X = _data(1000, 50, dtype)
    one = model.predict_proba(X, n_threads=1)
    for n_threads in (2, 3, 8):
        assert_array_equal(model.predict_proba(X, n_threads=n_threads), one)
        assert_array_equal(model.predict(X, n_threads=n_threads), one.argmax(axis=1))
    for n_threads in (1, 2, 3):
        assert_array_equal(Network.predict_proba(_with_threads(net, n_threads), X), one)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[3, 100, 1], [784, 10, 10], [784, 128, 10], [100, 64, 2],
                                   [20, 50, 30, 5], [9, 200, 17, 3]],
                         ids=lambda s: "-".join(map(str, s)))
def test_a_rows_prediction_does_not_depend_on_the_rows_beside_it(simd_path, sizes, dtype):
    # scikit-learn's check_methods_subset_invariance, bit for bit: one row alone, a slice,
    # and the whole batch (over 2 threads) give each row the same values
    regression = sizes[-1] == 1
    net = Network(sizes, dtype=dtype, seed=1, n_threads=2, activation="tanh",
                  loss="squared_error" if regression else "cross_entropy")
    predict = net.predict if regression else net.predict_proba
    X = _data(2 * _inference.PARALLEL_MIN_ROWS + 13, sizes[0], dtype)
    whole = predict(X)
    for i in (0, 1, 5, 6, 7, 12, len(X) - 1):
        assert_array_equal(predict(X[i:i + 1]), whole[i:i + 1], err_msg=f"row {i}")
    assert_array_equal(predict(X[3:17]), whole[3:17])
    model = Model(net)
    assert_array_equal((model.predict if regression else model.predict_proba)(X[5:6]),
                       whole[5:6])


def _with_threads(net, n_threads):
    net.n_threads = n_threads
    return net


def test_out_is_filled_and_returned():
    net = Network([20, 16, 4], dtype="float64", seed=0)
    X = _data(9, 20, "float64")
    out = np.full((9, 4), np.nan)
    assert net.predict_proba(X, out) is out
    assert_array_equal(out, net.predict_proba(X))
    labels = np.full(9, -1, dtype=np.int64)
    assert net.predict(X, out=labels) is labels
    assert_array_equal(labels, out.argmax(axis=1))
    model = Model(net)
    assert model.predict_proba(X, out=out) is out
    assert model.predict(X, out=labels) is labels


@pytest.mark.parametrize("bad, message", [
    (np.empty((9, 4), np.float32), "float64"),
    (np.empty((9, 5)), r"shape \(9, 4\)"),
    (np.empty((4, 9)).T, "non-contiguous"),
    ([[0.0] * 4] * 9, "list"),
])
def test_a_bad_out_is_refused(bad, message):
    net = Network([20, 16, 4], dtype="float64", seed=0)
    with pytest.raises(ValueError, match=message):
        net.predict_proba(_data(9, 20, "float64"), bad)


def test_a_read_only_or_overlapping_out_is_refused():
    net = Network([4, 3, 4], dtype="float64", seed=0)
    X = _data(5, 4, "float64")
    frozen = np.empty((5, 4))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        net.predict_proba(X, frozen)
    with pytest.raises(ValueError, match="overlap"):
        net.predict_proba(X, X)
    with pytest.raises(ValueError, match="int64"):
        net.predict(X, out=np.empty(5, dtype=np.int32))


def test_bad_input_is_named():
    net = Network([6, 5, 3], dtype="float32", seed=0)
    X = _data(300, 6, "float32")
    X[257, 4] = np.nan
    for predict in (net.predict_proba, net.predict, Model(net).predict_proba):
        with pytest.raises(ValueError, match="row 257, column 4"):
            predict(X)
    with pytest.raises(ValueError, match="features per row"):
        net.predict_proba(X[:, :5])
    with pytest.raises(ValueError, match="empty"):
        Model(net).predict(X[:0])


def test_other_input_types_are_converted():
    net = Network([3, 4, 2], dtype="float32", seed=0)
    X = _data(6, 3, "float64")
    expected = net.predict_proba(X.astype(np.float32))
    assert_array_equal(net.predict_proba(X.tolist()), expected)
    assert_array_equal(net.predict_proba(np.asfortranarray(X)), expected)
    assert_array_equal(net.predict_proba(X), expected)


def test_overflowing_weights_raise_floating_point_error():
    net = Network([4, 3, 2], dtype="float32", seed=0)
    net.weights[1][...] = np.float32(3e38)
    net.weights[0][...] = np.float32(3e38)
    for predict in (net.predict_proba, net.predict, Model(net).predict):
        with pytest.raises(FloatingPointError, match=r"overflowed \(first at row 0\)"):
            predict(np.ones((2, 4), np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 200])
def test_writes_through_the_weight_views_count_at_once(n, dtype):
    # a Network packs its narrow layers again only when their weights changed: any change,
    # down to one weight's last bit, in any narrow layer, must count at the next call
    net = Network([784, 10, 10], dtype=dtype, seed=0)
    X = _data(n, 784, dtype)
    before = net.predict_proba(X)
    net.weights[0][...] *= 2
    net.biases[-1][...] += 1
    after = net.predict_proba(X)
    assert not np.allclose(before, after)
    assert_allclose(after, _reference_proba(net, X), **TOL[dtype])
    for layer, (row, column) in ((0, (783, 9)), (1, (0, 0)), (0, (0, 0))):
        W = net.weights[layer]
        W[row, column] = np.nextafter(W[row, column], np.inf)
        assert_array_equal(net.predict_proba(X), Model(net).predict_proba(X))
    kept = net.weights[0].copy()  # there and back: the weights packed last are not reused
    net.weights[0][...] = 0
    zeroed = net.predict_proba(X)
    assert_array_equal(zeroed, Model(net).predict_proba(X))
    net.weights[0][...] = kept
    restored = net.predict_proba(X)
    assert not np.array_equal(restored, zeroed)
    assert_array_equal(restored, Model(net).predict_proba(X))


def test_a_model_is_a_frozen_copy():
    net = Network([10, 8, 3], dtype="float32", seed=0)
    X = _data(40, 10, "float32")
    model = Model(net)
    before = model.predict_proba(X)
    net.fit(X, np.arange(40) % 3, epochs=3, learning_rate=0.5)
    assert not np.allclose(net.predict_proba(X), before)
    assert_array_equal(model.predict_proba(X), before)
    assert not model.params.flags.writeable
    assert (model.n_features, model.n_classes, model.dtype) == (10, 3, np.float32)
    assert model.layer_sizes == (10, 8, 3) and model.activation == "relu"
    with pytest.raises(TypeError, match="cmlp.Network"):
        Model("not a network")


def test_copies_and_pickles_predict_with_their_own_weights():
    net = Network([12, 9, 3], dtype="float64", seed=0)
    X = _data(20, 12, "float64")
    expected = net.predict_proba(X)  # makes the cached predictor that copies carry along
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert_array_equal(other.predict_proba(X), expected)
        other.weights[0][...] = 0
        assert not np.allclose(other.predict_proba(X), expected)
        assert_array_equal(net.predict_proba(X), expected)
    model = Model(net)
    again = pickle.loads(pickle.dumps(model))
    assert_array_equal(again.predict_proba(X), expected)
    assert not again.params.flags.writeable


def test_many_threads_get_what_a_lone_call_gets():
    net = Network([784, 64, 10], dtype="float32", seed=1, n_threads=2)
    model = Model(net)
    rng = np.random.default_rng(0)
    batches = [_data(n, 784, "float32", seed=i) for i, n in enumerate((1, 7, 100, 700) * 2)]
    expected = [net.predict_proba(X) for X in batches]
    expected_model = [model.predict_proba(X) for X in batches]
    failures = []

    def worker(seed):
        order = np.random.default_rng(seed).permutation(len(batches) * 3) % len(batches)
        for i in order:
            if not np.array_equal(net.predict_proba(batches[i]), expected[i]):
                failures.append(("network", i))
            if not np.array_equal(model.predict(batches[i]), expected_model[i].argmax(1)):
                failures.append(("model", i))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert rng is not None


def test_prediction_changes_no_process_wide_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [(lib["internal_api"], lib["num_threads"])
              for lib in threadpoolctl.threadpool_info()]
    simd = _kernels.simd_path()
    net = Network([784, 300, 10], dtype="float32", seed=0, n_threads=2)
    X = _data(2000, 784, "float32")
    threads = [threading.Thread(target=net.predict_proba, args=(X,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = [(lib["internal_api"], lib["num_threads"])
             for lib in threadpoolctl.threadpool_info()]
    assert after == before
    assert _kernels.simd_path() == simd
    assert _kernels.use_tile_products() == _workspace.TILE_LIMITS  # the defaults, untouched


def test_the_c_api_is_exported_with_its_versions():
    import cmlp.inference

    assert (ABI_VERSION, API_VERSION) == (1, 1)
    assert type(cmlp.inference._C_API).__name__ == "PyCapsule"
    assert "cmlp.inference._C_API" in repr(cmlp.inference._C_API)
    header = os.path.join(cmlp.get_include(), "cmlp_inference.h")
    with open(header) as f:
        text = f.read()
    assert f"#define CMLP_INFERENCE_ABI_VERSION {ABI_VERSION}" in text
    assert f"#define CMLP_INFERENCE_API_VERSION {API_VERSION}" in text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_regression_network_predicts_its_values(dtype):
    net = Network([784, 12, 3], dtype=dtype, activation="tanh", loss="squared_error", seed=0)
    model = Model(net)
    X = _data(300, 784, dtype)
    expected = _reference_proba(net, X)  # the identity output
    assert_allclose(net.predict(X), expected, **TOL[dtype])
    assert_allclose(model.predict(X, n_threads=2), expected, **TOL[dtype])
    out = np.empty((300, 3), dtype)
    assert net.predict(X, out) is out
    with pytest.raises(TypeError, match="use predict"):
        model.predict_proba(X)
    net.weights[-1][...] = np.finfo(dtype).max
    with pytest.raises(FloatingPointError, match="overflowed"):
        net.predict(X)


def _c_api():
    """The capsule's table through ctypes: the C API as an extension calls it."""
    import ctypes

    import cmlp.inference

    class Table(ctypes.Structure):  # cmlp_inference_api, API version 1
        _fields_ = [("abi_version", ctypes.c_uint), ("api_version", ctypes.c_uint),
                    ("model_from_object", ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object))]
        _fields_ += [(name, ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p))
                     for name in ("model_dtype", "model_n_features", "model_n_classes")]
        _fields_ += [(name, ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                             ctypes.c_ssize_t, ctypes.c_void_p))
                     for name in ("predict_proba_f32", "predict_proba_f64", "predict_f32",
                                  "predict_f64")]

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.cast(get(cmlp.inference._C_API, b"cmlp.inference._C_API"),
                       ctypes.POINTER(Table)).contents


def _c_labels(table, model, X):
    labels = np.full(X.shape[0], -7, np.int64)
    call = table.predict_f64 if X.dtype == np.float64 else table.predict_f32
    status = call(table.model_from_object(model), X.ctypes.data, X.shape[0],
                  labels.ctypes.data)
    return status, labels


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_c_api_labels_one_logistic_unit_by_its_threshold(dtype):
    net = Network([6, 5, 1], loss="binary_cross_entropy", dtype=dtype, seed=0)
    X = _data(400, 6, dtype)
    median = np.median(net.predict_proba(X)[:, 0])
    net.biases[-1][...] -= np.log(median / (1 - median))  # rows on both sides of 0.5
    table, model = _c_api(), Model(net)
    assert table.model_n_classes(table.model_from_object(model)) == 1
    status, labels = _c_labels(table, model, X)
    assert status == 0  # CMLP_OK
    assert 0 < labels.sum() < 400
    assert_array_equal(labels, net.predict_proba(X)[:, 0] > 0.5)
    assert_array_equal(labels, net.predict(X)[:, 0])


@pytest.mark.parametrize("loss, status", [("binary_cross_entropy", -6),  # CMLP_MULTILABEL
                                          ("squared_error", -5),  # CMLP_NOT_A_CLASSIFIER
                                          ("poisson", -5)])
def test_the_c_api_refuses_labels_where_a_row_has_none(loss, status):
    header = os.path.join(cmlp.get_include(), "cmlp_inference.h")
    with open(header) as f:
        text = f.read()
    name = "CMLP_MULTILABEL" if loss == "binary_cross_entropy" else "CMLP_NOT_A_CLASSIFIER"
    assert f"#define {name} {status} " in text
    table = _c_api()
    model = Model(Network([6, 5, 3], loss=loss, dtype="float64", seed=0))
    got, labels = _c_labels(table, model, _data(4, 6, "float64"))
    assert got == status
    assert_array_equal(labels, -7)  # nothing written
