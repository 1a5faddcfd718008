"""The public Cython/C API (cmlp/inference.pxd, cmlp_inference.h): an extension built here
against it predicts like Network, reports bad calls by status, and refuses to import against
a cmlp of another ABI version. (tests/test_downstream.py builds a whole package with pip.)"""
import ctypes
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pytest.importorskip("Cython")

import cmlp
from cmlp import Network
from cmlp.inference import Model

pytestmark = [pytest.mark.slow, pytest.mark.build]  # compiles an extension (~1 min)

SOURCE = textwrap.dedent("""
    # cython: language_level=3
    from libc.stdint cimport int64_t
    from cmlp cimport inference as ci

    ci.import_inference()

    CODES = dict(OK=ci.CMLP_OK, NONFINITE_INPUT=ci.CMLP_NONFINITE_INPUT,
                 WRONG_DTYPE=ci.CMLP_WRONG_DTYPE, BAD_ARGUMENT=ci.CMLP_BAD_ARGUMENT,
                 NOT_A_CLASSIFIER=ci.CMLP_NOT_A_CLASSIFIER, MULTILABEL=ci.CMLP_MULTILABEL)

    def reimport():
        ci.import_inference()

    def describe(model):
        cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
        return (ci.cmlp_model_dtype(m), ci.cmlp_model_n_features(m),
                ci.cmlp_model_n_classes(m))

    def proba32(model, const float[:, ::1] X, float[:, ::1] out):
        cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
        cdef int status
        with nogil:
            status = ci.cmlp_predict_proba_f32(m, &X[0, 0], X.shape[0], &out[0, 0])
        return status

    def labels64(model, const double[:, ::1] X, int64_t[::1] out):
        cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
        cdef int status
        with nogil:
            status = ci.cmlp_predict_f64(m, &X[0, 0], X.shape[0], &out[0])
        return status

    def negative_rows(model, const double[:, ::1] X, double[:, ::1] out):
        cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
        return ci.cmlp_predict_proba_f64(m, &X[0, 0], -1, &out[0, 0])
""")

SETUP = textwrap.dedent("""
    import os, sys
    import cmlp
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    setup(ext_modules=cythonize(
              [Extension("embedder", ["embedder.pyx"], include_dirs=[cmlp.get_include()])],
              include_path=[os.path.dirname(os.path.dirname(cmlp.__file__))]),
          script_args=["build_ext", "--inplace"])
""")


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("embedder")
    (tmp_path / "embedder.pyx").write_text(SOURCE)
    (tmp_path / "setup.py").write_text(SETUP)
    build = subprocess.run([sys.executable, "setup.py"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import embedder
    finally:
        sys.path.remove(str(tmp_path))
    return embedder


def test_an_extension_predicts_like_network(embedder):
    net32 = Network([30, 20, 4], dtype="float32", seed=0)
    X = np.random.default_rng(0).normal(size=(50, 30)).astype(np.float32)
    out = np.empty((50, 4), np.float32)
    assert embedder.proba32(Model(net32), X, out) == embedder.CODES["OK"]
    assert_allclose(out, net32.predict_proba(X), rtol=1e-5, atol=1e-7)
    assert embedder.describe(Model(net32)) == (0, 30, 4)

    net64 = Network([30, 20, 4], dtype="float64", seed=0)
    labels = np.empty(50, np.int64)
    assert embedder.labels64(Model(net64), X.astype(np.float64), labels) == 0
    assert_array_equal(labels, net64.predict(X.astype(np.float64)))


def test_an_int8_model_goes_through_the_same_functions(embedder):
    """A quantized model takes float32 through cmlp_predict_proba_f32, whatever the
    network's dtype, and gives what Model.predict_proba gives."""
    net64 = Network([30, 20, 4], dtype="float64", seed=0)
    model = Model(net64, quantize="int8")
    X = np.random.default_rng(0).normal(size=(50, 30)).astype(np.float32)
    out = np.empty((50, 4), np.float32)
    assert embedder.proba32(model, X, out) == embedder.CODES["OK"]
    assert_array_equal(out, model.predict_proba(X))
    assert embedder.describe(model) == (0, 30, 4)
    assert embedder.labels64(model, X.astype(np.float64), np.empty(50, np.int64)) == \
        embedder.CODES["WRONG_DTYPE"]


def test_one_logistic_unit_gives_labels_by_threshold(embedder):
    net = Network([30, 8, 1], loss="binary_cross_entropy", dtype="float64", seed=0)
    X = np.random.default_rng(1).normal(size=(200, 30))
    proba = net.predict_proba(X)[:, 0]
    net.biases[-1][...] -= np.log(np.median(proba) / (1 - np.median(proba)))  # both classes
    proba = net.predict_proba(X)[:, 0]
    labels = np.full(200, -1, np.int64)
    assert embedder.labels64(Model(net), X, labels) == embedder.CODES["OK"]
    assert 0 < labels.sum() < 200
    assert_array_equal(labels, proba > 0.5)  # scikit-learn's threshold
    assert_array_equal(labels, net.predict(X)[:, 0])
    assert embedder.describe(Model(net)) == (1, 30, 1)
    out = np.empty((200, 1), np.float32)
    net32 = Network([30, 8, 1], loss="binary_cross_entropy", dtype="float32", seed=0)
    assert embedder.proba32(Model(net32), X.astype(np.float32), out) == embedder.CODES["OK"]
    assert_allclose(out, net32.predict_proba(X.astype(np.float32)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss, code", [("binary_cross_entropy", "MULTILABEL"),
                                        ("squared_error", "NOT_A_CLASSIFIER"),
                                        ("poisson", "NOT_A_CLASSIFIER")])
def test_models_without_one_label_per_row_say_why(embedder, loss, code):
    model = Model(Network([5, 4, 3], loss=loss, dtype="float64", seed=0))
    labels = np.full(2, -7, np.int64)
    assert embedder.labels64(model, np.ones((2, 5)), labels) == embedder.CODES[code]
    assert_array_equal(labels, -7)  # nothing written
    assert embedder.CODES["MULTILABEL"] != embedder.CODES["NOT_A_CLASSIFIER"]


def test_bad_calls_return_a_status(embedder):
    model32 = Model(Network([3, 4, 2], dtype="float32", seed=0))
    X = np.ones((2, 3), np.float32)
    X[1, 2] = np.inf
    assert embedder.proba32(model32, X, np.empty((2, 2), np.float32)) == \
        embedder.CODES["NONFINITE_INPUT"]
    assert embedder.labels64(model32, np.ones((2, 3)), np.empty(2, np.int64)) == \
        embedder.CODES["WRONG_DTYPE"]
    model64 = Model(Network([3, 4, 2], dtype="float64", seed=0))
    assert embedder.negative_rows(model64, np.ones((1, 3)), np.empty((1, 2))) == \
        embedder.CODES["BAD_ARGUMENT"]
    with pytest.raises(TypeError, match="cmlp.inference.Model"):
        embedder.describe(Network([3, 4, 2]))


class _Table(ctypes.Structure):  # the head of cmlp_inference_api
    _fields_ = [("abi_version", ctypes.c_uint), ("api_version", ctypes.c_uint)]


@pytest.mark.parametrize("abi, api, message", [
    (2, 1, "built against cmlp inference ABI version 1, but the installed cmlp has ABI "
           "version 2"),
    (1, 0, "needs cmlp inference API version 1 or later"),
])
def test_an_extension_refuses_another_abi_version(embedder, monkeypatch, abi, api, message):
    table = _Table(abi, api)
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    name = ctypes.c_char_p(b"cmlp.inference._C_API")
    fake = types.ModuleType("cmlp.inference")
    fake._C_API = new_capsule(ctypes.addressof(table), name, None)
    monkeypatch.setitem(sys.modules, "cmlp.inference", fake)
    with pytest.raises(ImportError, match=message):
        embedder.reimport()
    monkeypatch.undo()
    embedder.reimport()  # the real one again


def test_get_include_holds_the_header():
    assert os.path.isfile(os.path.join(cmlp.get_include(), "cmlp_inference.h"))
