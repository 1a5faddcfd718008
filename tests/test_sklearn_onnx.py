"""ONNX for cmlp.sklearn's estimators: their own to_onnx (labels, not indices), and
pipelines converted by skl2onnx with the converters cmlp registers, run by onnxruntime."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pytest.importorskip("sklearn")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.datasets import load_iris, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from cmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

X, y = load_iris(return_X_y=True)
NAMES = np.array(["setosa", "versicolor", "virginica"])[y]


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["indices", "strings", "binary", "multilabel"])
def test_classifier_to_onnx_gives_labels_and_probabilities(tmp_path, dtype, target):
    targets = {"indices": y + 3, "strings": NAMES, "binary": NAMES == "setosa",
               "multilabel": np.c_[y == 0, y > 0, X[:, 0] > 5.8].astype(int)}[target]
    clf = _fit(MLPClassifier(n_threads=1, max_iter=60, random_state=0, dtype=dtype),
               X, targets)
    model = clf.to_onnx(tmp_path / "clf.onnx")
    assert (tmp_path / "clf.onnx").stat().st_size > 0
    Xd = X.astype(dtype)
    label, proba = _run(model, Xd)
    assert_array_equal(label, clf.predict(Xd))
    assert_allclose(proba, clf.predict_proba(Xd), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_to_onnx_gives_predict(loss):
    reg = _fit(MLPRegressor(n_threads=1, loss=loss, max_iter=40, random_state=0), X[:, :2],
               X[:, 2:])
    (values,) = _run(reg.to_onnx(), X[:, :2])
    assert values.shape == (len(X), 2)
    assert_allclose(values, reg.predict(X[:, :2]), rtol=1e-10)


@pytest.mark.parametrize("labels", ["indices", "strings"])
def test_a_pipeline_converts_with_skl2onnx_and_agrees_with_onnxruntime(labels):
    skl2onnx = pytest.importorskip("skl2onnx")
    targets = y if labels == "indices" else NAMES
    pipe = _fit(make_pipeline(StandardScaler(), MLPClassifier(n_threads=1, max_iter=80,
                                                              random_state=0)), X, targets)
    X32 = X.astype(np.float32)
    model = skl2onnx.to_onnx(pipe, X32[:1], options={"zipmap": False})
    label, proba = _run(model, X32)
    assert_array_equal(label, pipe.predict(X))  # every label
    assert_allclose(proba, pipe.predict_proba(X), atol=1e-5)
    # the default ZipMap output too, as for scikit-learn's classifiers
    label, maps = _run(skl2onnx.to_onnx(pipe, X32[:1]), X32)
    assert_array_equal(label, pipe.predict(X))
    assert set(maps[0]) == set(pipe.classes_.tolist())
    reg = _fit(make_pipeline(StandardScaler(), MLPRegressor(n_threads=1, max_iter=30,
                                                            random_state=0)), X[:, :3], X[:, 3])
    (values,) = _run(skl2onnx.to_onnx(reg, X[:1, :3]), X[:, :3])
    assert_allclose(values.ravel(), reg.predict(X[:, :3]), rtol=1e-10)
