"""int8 inference: Model(network, quantize="int8") against the float model, a numpy
statement of the scheme (cmlp/_int8.py), and itself on every instruction-set path."""
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cmlp import Network, _inference
from cmlp._int8 import quantize_params
from cmlp.datasets import load_sample
from cmlp.inference import Model

PATHS = [p for p in ("vnni512", "avx2", "generic") if _inference.int8_available(p)]


@pytest.fixture
def int8_path(request):
    _inference.select_int8_path(request.param)
    yield request.param
    _inference.select_int8_path("auto")


def numpy_int8(net, X):
    """The scheme of cmlp/_int8.py in numpy, float32 steps in the kernels' order."""
    f32 = np.float32
    layers = quantize_params(net._params, net.layer_sizes)
    x = np.asarray(X, dtype=f32)
    for l, layer in enumerate(layers):
        lo = np.minimum(x.min(axis=1), f32(0))
        hi = np.maximum(x.max(axis=1), f32(0))
        span = (hi - lo).astype(f32)
        ok = span > 0
        scale = np.where(ok, span / f32(255), f32(1)).astype(f32)
        inverse = np.where(ok, f32(255) / np.where(ok, span, f32(1)), f32(0)).astype(f32)
        zero = np.clip(np.rint(-lo * inverse), 0, 255).astype(np.int64)
        q = np.clip(np.rint(x * inverse[:, None]) + zero[:, None], 0, 255).astype(np.int64)
        n_out = layer["fan_out"]
        acc = q @ layer["Wq"].astype(np.int64)
        centred = (acc - zero[:, None] * layer["colsum"][:n_out]).astype(f32)
        y = centred * (scale[:, None] * layer["scale"][:n_out]) + layer["bias"][:n_out]
        if l < len(layers) - 1:
            y = {"relu": np.maximum(y, f32(0)), "tanh": np.tanh(y),
                 "logistic": f32(1) / (f32(1) + np.exp(-y)), "identity": y}[net.activation]
        x = y.astype(f32)
    if net.is_classifier:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        x = e / e.sum(axis=1, keepdims=True)
    return x


@pytest.fixture(scope="module")
def mnist_net():
    X, y = load_sample()
    net = Network([784, 64, 10], seed=0)
    net.fit(X[:5000], y[:5000], epochs=3, batch_size=64, optimizer="adam",
            learning_rate=1e-3)
    return net, X, y


def test_int8_predicts_like_the_float_model_on_mnist(mnist_net):
    """Labels agree on all but a few of the 10,000 test images; no probability moves by more
    than a few hundredths (the quantization error of the logits, about 1% of their range)."""
    net, X, y = mnist_net
    model = Model(net, quantize="int8")
    p_int8, p_float = model.predict_proba(X), net.predict_proba(X)
    agreement = np.mean(p_int8.argmax(axis=1) == p_float.argmax(axis=1))
    error = np.abs(p_int8 - p_float).max()
    print(f"int8 vs float32: label agreement {agreement:.4f}, max |dp| {error:.4f}, accuracy "
          f"{np.mean(model.predict(X) == y):.4f} vs {net.score(X, y):.4f}")
    assert agreement >= 0.995
    assert error < 0.1
    assert_allclose(p_int8.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("int8_path", PATHS, indirect=True)
def test_int8_computes_the_numpy_statement_of_the_scheme(mnist_net, int8_path):
    net, X, _ = mnist_net
    expected = numpy_int8(net, X)
    got = Model(net, quantize="int8").predict_proba(X)
    # float32 steps in the same order; exp and tanh of libm and numpy may differ in the
    # last bit, which can move a row's quantization by one step at most.
    close = np.all(np.abs(got - expected) <= 1e-5, axis=1)
    assert np.mean(close) >= 0.995
    assert_allclose(got, expected, atol=2e-3)


SHAPES = [([5, 3, 2], "relu"), ([37, 130, 50, 11], "tanh"), ([4, 17, 1], "logistic"),
          ([100, 16, 16, 16, 16], "identity"), ([784, 64, 10], "relu"),
          ([2100, 200, 10], "relu")]  # several column strips; inputs in two chunks (VNNI)


@pytest.mark.parametrize("sizes, activation", SHAPES)
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
@pytest.mark.parametrize("rows", [1, 3, 4, 5, 6, 7, 12, 63, 64, 130])
def test_every_int8_path_gives_the_bits_of_the_generic_one(sizes, activation, loss, rows):
    """Exact int32 sums on every path, and the float steps in one shared unit: the same
    bits. Rows around the 4- and 6-row tiles and the 64-row blocks; widths not multiples of
    4/16."""
    if loss == "cross_entropy" and sizes[-1] < 2:
        pytest.skip("a classifier has at least two outputs")
    net = Network(sizes, seed=3, activation=activation, loss=loss)
    X = np.random.default_rng(rows).normal(size=(rows, sizes[0])).astype(np.float32)
    X[:, ::3] = np.maximum(X[:, ::3], 0)  # some zeros, as ReLU inputs have
    model = Model(net, quantize="int8")
    results = {}
    try:
        for path in PATHS:
            _inference.select_int8_path(path)
            results[path] = model.outputs(X)
            one_by_one = np.concatenate([model.outputs(X[i:i + 1]) for i in range(rows)])
            assert_array_equal(one_by_one, results[path], err_msg=f"{path}: rows interact")
    finally:
        _inference.select_int8_path("auto")
    for path in PATHS:
        assert_array_equal(results[path], results["generic"], err_msg=path)


def test_the_fastest_path_is_chosen():
    from cmlp.inference import int8_path
    assert int8_path() == PATHS[0]
    with pytest.raises(ValueError, match="not available"):
        _inference.select_int8_path("sse9")


def test_a_quantized_model_pickles_to_the_same_predictions(mnist_net):
    net, X, _ = mnist_net
    model = Model(net, quantize="int8")
    copy = pickle.loads(pickle.dumps(model))
    assert copy.quantize == "int8" and repr(copy) == repr(model)
    assert "quantize='int8'" in repr(model)
    assert_array_equal(copy.predict_proba(X[:500]), model.predict_proba(X[:500]))
    plain = pickle.loads(pickle.dumps(Model(net)))
    assert plain.quantize is None


def test_float64_networks_quantize_and_take_float32():
    net = Network([6, 8, 3], dtype="float64", seed=0)
    model = Model(net, quantize="int8")
    assert model.dtype == np.float32
    X = np.random.default_rng(0).random((9, 6))
    p = model.predict_proba(X)  # float64 inputs are converted
    assert p.dtype == np.float32
    assert_array_equal(model.predict(X), p.argmax(axis=1))
    assert_allclose(p, net.predict_proba(X), atol=0.05)


def test_threads_give_the_same_bits(mnist_net):
    net, X, _ = mnist_net
    model = Model(net, quantize="int8")
    assert_array_equal(model.predict_proba(X, n_threads=2), model.predict_proba(X))


def test_bad_input_raises():
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="quantize must be None or 'int8'"):
        Model(net, quantize="int4")
    model = Model(net, quantize="int8")
    X = np.ones((2, 3), np.float32)
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict_proba(X)
    with pytest.raises(ValueError):
        model.predict_proba(np.ones((2, 4), np.float32))
    bad = Network([3, 2], seed=0)
    bad.weights[0][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        Model(bad, quantize="int8")


def test_threads_share_one_quantized_model(mnist_net):
    """Python threads predicting with one int8 model at once (the GIL released) get what
    one thread gets: each call's work memory is its own."""
    from concurrent.futures import ThreadPoolExecutor

    net, X, _ = mnist_net
    model = Model(net, quantize="int8")
    chunks = [X[i:i + 300] for i in range(0, 3000, 300)]
    expected = [model.predict_proba(c) for c in chunks]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            got = list(pool.map(model.predict_proba, chunks))
            for a, b in zip(got, expected):
                assert_array_equal(a, b)


@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error", "binary_cross_entropy",
                                  "poisson"])
def test_an_int8_model_of_every_loss_keeps_its_output_layer(loss):
    """The int8 kernels take every loss's output (softmax, identity, logistic, exp): the
    quantized outputs stay near the float model's, in the output's own range."""
    net = Network([20, 16, 3], seed=0, loss=loss)
    X = np.random.default_rng(0).normal(size=(50, 20)).astype(np.float32)
    exact = Model(net).outputs(X)
    quantized = Model(net, quantize="int8").outputs(X)
    assert_allclose(quantized, exact, rtol=0.05, atol=0.02)
    if loss in ("cross_entropy", "binary_cross_entropy"):
        assert ((quantized > 0) & (quantized < 1)).all()
    if loss == "poisson":
        assert (quantized > 0).all()
