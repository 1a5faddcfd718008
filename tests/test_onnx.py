"""ONNX export: onnx.checker accepts the graph and onnxruntime computes cmlp's probabilities
(float32 within 1e-5, float64 within 1e-12) for every activation and depth."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cmlp import Network

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = {"float32": 1e-5, "float64": 1e-12}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("sizes", [[12, 3], [784, 10, 10], [20, 16, 8, 5], [30, 64, 32, 16, 4]],
                         ids=lambda s: "-".join(map(str, s)))
def test_onnxruntime_gives_cmlps_probabilities(tmp_path, sizes, activation, dtype):
    net = Network(sizes, dtype=dtype, activation=activation, seed=1)
    rng = np.random.default_rng(0)
    for W, b in zip(net.weights, net.biases):  # biases that matter, not zeros
        b[...] = rng.normal(scale=0.5, size=b.shape)
    path = net.to_onnx(tmp_path / "net.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    X = rng.normal(size=(37, sizes[0])).astype(dtype)
    probabilities, labels = _session(path).run(None, {"X": X})
    assert probabilities.dtype == dtype and labels.dtype == np.int64
    assert_allclose(probabilities, net.predict_proba(X), rtol=0, atol=TOL[dtype])
    assert_array_equal(labels, probabilities.argmax(axis=1))
    single, _ = _session(path).run(None, {"X": X[:1]})  # the batch dimension is free
    assert_allclose(single, net.predict_proba(X[:1]), rtol=0, atol=TOL[dtype])


def test_the_graph_uses_standard_operators_and_states_its_opset(tmp_path):
    net = Network([8, 6, 3], activation="tanh", seed=0)
    model = onnx.load(net.to_onnx(tmp_path / "a.onnx"))
    assert [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")] == [17]
    assert [node.op_type for node in model.graph.node] == [
        "Gemm", "Tanh", "Gemm", "Softmax", "ArgMax"]
    props = {p.key: p.value for p in model.metadata_props}
    assert props == {"cmlp.layer_sizes": "8,6,3", "cmlp.activation": "tanh",
                     "cmlp.loss": "cross_entropy"}
    older = onnx.load(net.to_onnx(tmp_path / "b.onnx", opset=13))
    assert older.opset_import[0].version == 13
    X = np.ones((2, 8), np.float32)
    assert_allclose(_session(tmp_path / "b.onnx").run(["probabilities"], {"X": X})[0],
                    net.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("opset", [12, 10_000, "17", True])
def test_a_bad_opset_is_refused(tmp_path, opset):
    with pytest.raises(ValueError, match="opset must be an integer from 13"):
        Network([4, 2]).to_onnx(tmp_path / "x.onnx", opset=opset)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_regression_network_exports_its_values(tmp_path, dtype):
    net = Network([6, 5, 4, 2], dtype=dtype, activation="identity", loss="squared_error",
                  seed=0)
    X = np.random.default_rng(0).normal(size=(9, 6)).astype(dtype)
    (values,) = _session(net.to_onnx(tmp_path / "r.onnx")).run(None, {"X": X})
    assert_allclose(values, net.predict(X), rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logistic_and_poisson_networks_export_their_outputs(tmp_path, dtype):
    X = np.random.default_rng(0).normal(size=(40, 6)).astype(dtype)
    multilabel = Network([6, 9, 4], dtype=dtype, seed=0, loss="binary_cross_entropy")
    proba, label = _session(multilabel.to_onnx(tmp_path / "m.onnx")).run(None, {"X": X})
    assert_allclose(proba, multilabel.predict_proba(X), rtol=1e-5, atol=1e-7)
    assert_array_equal(label, multilabel.predict(X))
    counts = Network([6, 9, 2], dtype=dtype, seed=0, loss="poisson")
    (values,) = _session(counts.to_onnx(tmp_path / "p.onnx")).run(None, {"X": X})
    assert_allclose(values, counts.predict(X), rtol=1e-5)
