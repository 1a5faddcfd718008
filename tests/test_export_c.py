"""The C export (cmlp.export_c): the generated file compiles with gcc and clang in strict C99
(and under ASan + UBSan), and the compiled program predicts what Python predicts, on the
MNIST test set (the bundled sample is those 10,000 images)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cmlp import Network
from cmlp.datasets import load_sample
from cmlp.export_c import c_source, to_c
from cmlp.inference import Model

pytestmark = pytest.mark.build  # compiles the exported C

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-g"]
# The quick run (-m "not slow") compiles with gcc alone, without sanitizers.
COMPILERS = ["gcc", pytest.param("clang", marks=pytest.mark.slow)]
SANITIZED = [pytest.param(False, id="plain"),
             pytest.param(True, id="asan-ubsan", marks=pytest.mark.slow)]

# Reads rows of CMLP_REAL from argv[1] until it ends; writes each row's probabilities (or a
# regressor's values) to argv[2] and, for a classifier, each label as an int to argv[3].
DRIVER = r"""
#include <stdio.h>
#include MODEL
int main(int argc, char **argv)
{
    CMLP_REAL x[CMLP_N_FEATURES], p[CMLP_N_OUTPUTS];
    FILE *in, *out, *labels = NULL;
    if (argc < 3) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (argc > 3) labels = fopen(argv[3], "wb");
    if (in == NULL || out == NULL) return 3;
    while (fread(x, sizeof x, 1, in) == 1) {
#ifdef CMLP_PREDICT_PROBA
#ifdef CMLP_PREDICT
        int label = CMLP_PREDICT(x);
        if (labels != NULL) fwrite(&label, sizeof label, 1, labels);
#endif
        CMLP_PREDICT_PROBA(x, p);
#else
        CMLP_PREDICT_VALUES(x, p);
#endif
        fwrite(p, sizeof p, 1, out);
    }
    fclose(in);
    fclose(out);
    if (labels != NULL) fclose(labels);
    return 0;
}
"""


def compiler(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (CI installs it: .ci/run, apt_install)")
    return path


def build(tmp_path, header, cc, extra=()):
    """The driver compiled against header with cc in strict C99; its path."""
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER)
    exe = tmp_path / f"predict-{os.path.basename(cc)}-{len(extra)}"
    command = [cc, *STRICT, *extra, f'-DMODEL="{header}"', str(driver), "-o", str(exe), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True, env=_clean_env())
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr[-4000:]}"
    return exe


def _clean_env():
    """The environment without the sanitizer stage's LD_PRELOAD (libasan, for Python only)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def sanitizers_work(cc, tmp_path):
    """Whether cc links and runs a sanitized program here (some containers forbid ASan's
    memory layout)."""
    source = tmp_path / "probe.c"
    source.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "probe"
    made = subprocess.run([cc, *SANITIZE, str(source), "-o", str(exe)], capture_output=True,
                          env=_clean_env())
    return made.returncode == 0 and subprocess.run([str(exe)], env=_clean_env()).returncode == 0


def run(exe, X, dtype, n_outputs, classifier=True):
    """(outputs, labels) of the compiled program on the rows of X."""
    directory = os.path.dirname(exe)
    inputs, outputs, labels = (os.path.join(directory, name) for name in ("x", "p", "y"))
    np.ascontiguousarray(X, dtype=dtype).tofile(inputs)
    env = dict(_clean_env(), ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    command = [str(exe), inputs, outputs] + ([labels] if classifier else [])
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    probabilities = np.fromfile(outputs, dtype=dtype).reshape(len(X), n_outputs)
    return probabilities, (np.fromfile(labels, dtype=np.intc) if classifier else None)


@pytest.fixture(scope="module")
def mnist_test():
    X, y = load_sample()
    return X, y


@pytest.fixture(scope="module")
def small_mnist_nets(mnist_test):
    """A 784-32-10 network per dtype, trained shortly on the first 5,000 test images (the
    comparisons hold for any weights; trained ones make the labels meaningful)."""
    X, y = mnist_test
    nets = {}
    for dtype in ("float32", "float64"):
        net = Network([784, 32, 10], dtype=dtype, seed=0)
        net.fit(X[:5000], y[:5000], epochs=2, batch_size=64, optimizer="adam",
                learning_rate=1e-3)
        nets[dtype] = net
    return nets


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("sanitized", SANITIZED)
@pytest.mark.parametrize("variant, tolerance", [("float32", 1e-5), ("float64", 1e-12)])
def test_float_export_predicts_like_the_network_on_mnist(
        tmp_path, mnist_test, small_mnist_nets, cc, sanitized, variant, tolerance):
    cc = compiler(cc)
    if sanitized and not sanitizers_work(cc, tmp_path):
        pytest.skip(f"{cc} cannot run sanitized programs here")
    X, y = mnist_test
    net = small_mnist_nets[variant]
    header = to_c(net, tmp_path / "model.h", name="digits")
    exe = build(tmp_path, header, cc, SANITIZE if sanitized else ())
    proba, labels = run(exe, X.astype(variant), variant, 10)
    expected = net.predict_proba(X.astype(variant))
    assert_allclose(proba, expected, rtol=0, atol=tolerance)
    assert_array_equal(labels, net.predict(X.astype(variant)))


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("sanitized", SANITIZED)
def test_int8_export_computes_cmlps_int8_model_on_mnist(
        tmp_path, mnist_test, small_mnist_nets, cc, sanitized):
    """The same integers as Model(quantize="int8"): the probabilities agree to float32
    rounding of the last steps (a compiler may fuse them differently), the labels wherever
    the top two probabilities are not within that rounding of each other."""
    cc = compiler(cc)
    if sanitized and not sanitizers_work(cc, tmp_path):
        pytest.skip(f"{cc} cannot run sanitized programs here")
    X, y = mnist_test
    net = small_mnist_nets["float32"]
    header = to_c(net, tmp_path / "model.h", variant="int8", name="digits")
    exe = build(tmp_path, header, cc, SANITIZE if sanitized else ())
    proba, labels = run(exe, X, "float32", 10)
    model = Model(net, quantize="int8")
    expected = model.predict_proba(X)
    assert_allclose(proba, expected, rtol=0, atol=1e-6)
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert_array_equal(labels[clear], model.predict(X)[clear])
    assert np.mean(labels == y) >= net.score(X, y) - 0.01


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("target, needs", [("-march=native", "__AVX2__"),
                                           ("-mavx2", "avx2")])
def test_int8_export_simd_gives_the_plain_c_integers(tmp_path, mnist_test, small_mnist_nets,
                                                      cc, target, needs):
    """-march=native (AVX-512 VNNI here, where the CPU has it) and -mavx2 turn on the SIMD
    products: the same sums as plain C, so the same labels and probabilities to the rounding
    of the float steps after them."""
    cc = compiler(cc)
    probe = subprocess.run([cc, target, "-dM", "-E", "-x", "c", os.devnull],
                           capture_output=True, text=True)
    if probe.returncode != 0 or "__AVX2__" not in probe.stdout:
        pytest.skip(f"{cc} {target} does not target AVX2 here")
    if needs == "avx2" and not (os.path.exists("/proc/cpuinfo")
                                and "avx2" in open("/proc/cpuinfo").read()):
        pytest.skip("no AVX2 found in /proc/cpuinfo to run the program on")
    X, _ = mnist_test
    X = X[:2000]
    header = to_c(small_mnist_nets["float32"], tmp_path / "model.h", variant="int8")
    plain, plain_labels = run(build(tmp_path, header, cc), X, "float32", 10)
    simd_dir = tmp_path / "simd"
    simd_dir.mkdir()
    simd, simd_labels = run(build(simd_dir, header, cc, [target]), X, "float32", 10)
    assert_allclose(simd, plain, rtol=0, atol=1e-6)
    assert np.mean(simd_labels == plain_labels) >= 0.999


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
@pytest.mark.parametrize("variant", ["float32", "float64", "int8"])
def test_every_activation_and_output(tmp_path, activation, loss, variant):
    cc = compiler("gcc")
    dtype = "float64" if variant == "float64" else "float32"
    net = Network([13, 17, 9, 3], dtype=dtype, seed=1, activation=activation, loss=loss)
    X = np.random.default_rng(2).normal(size=(300, 13)).astype(dtype)
    header = to_c(net, tmp_path / "m.h", variant=variant, name="m")
    classifier = loss == "cross_entropy"
    got, labels = run(build(tmp_path, header, cc), X, dtype, 3, classifier)
    if variant == "int8":
        expected = Model(net, quantize="int8").outputs(X)
        tolerance = 1e-5
    else:
        expected = net._proba(X)
        tolerance = 1e-12 if variant == "float64" else 1e-5
    assert_allclose(got, expected, rtol=tolerance if not classifier else 0, atol=tolerance)
    if classifier and variant != "int8":
        assert_array_equal(labels, net.predict(X))


@pytest.mark.parametrize("loss, output", [("binary_cross_entropy", "logistic"),
                                          ("poisson", "exp")])
@pytest.mark.parametrize("variant", ["float64", "int8"])
def test_logistic_and_exponential_outputs(tmp_path, loss, output, variant):
    """The output layers of the binary_cross_entropy and poisson losses: the last layer's
    values through 1 / (1 + exp(-z)) or exp(z); predict_proba for the first (no labels:
    each output is a probability of its own), predict_values for the second."""
    from cmlp.reference import forward

    dtype = "float64" if variant == "float64" else "float32"
    net = Network([7, 9, 3], dtype=dtype, seed=4, activation="tanh", loss="squared_error")
    X = np.random.default_rng(5).normal(size=(200, 7)).astype(dtype)
    if variant == "int8":
        Z = Model(net, quantize="int8").outputs(X).astype(np.float64)
        tolerance = 1e-5
    else:
        Z = forward(net.weights, net.biases, X, "tanh", "squared_error")[-1]
        tolerance = 1e-12
    expected = 1 / (1 + np.exp(-Z)) if output == "logistic" else np.exp(Z)
    net.loss = loss  # the losses of cmlp's next estimators; Network reads its output from it
    source = c_source(net, variant=variant, name="m")
    assert ("m_predict_proba" in source) == (output == "logistic")
    assert "m_predict(" not in source
    header = to_c(net, tmp_path / "m.h", variant=variant, name="m")
    got, _ = run(build(tmp_path, header, compiler("gcc")), X, dtype, 3, classifier=False)
    assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_pipeline_with_standard_scaler(tmp_path):
    """The scaler runs inside the C functions: raw inputs in, the pipeline's probabilities
    out; class names from classes_."""
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cmlp.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=3.0, size=(400, 6))
    total = X[:, 0] + X[:, 1]  # three classes: a softmax output (two give one logistic unit)
    y = np.where(total > 12, "big", np.where(total > 8, "mid", "small"))
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=50, random_state=0,
                                                         dtype="float64"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    source = c_source(pipe, name="pipe")
    assert 'static const char *const pipe_class_names[3] = {\n    "big", "mid", "small"' in source
    header = to_c(pipe, tmp_path / "pipe.h", name="pipe")
    got, labels = run(build(tmp_path, header, compiler("gcc")), X, "float64", 3)
    assert_allclose(got, pipe.predict_proba(X), rtol=0, atol=1e-12)
    assert_array_equal(pipe.classes_[labels], pipe.predict(X))

    regressor = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor.fit(X, X[:, :2].sum(axis=1))
    header = to_c(regressor, tmp_path / "reg.h", name="reg", variant="float32")
    reg_dir = tmp_path / "reg"
    reg_dir.mkdir()
    got, _ = run(build(reg_dir, header, compiler("gcc")), X.astype(np.float32), "float32", 1,
                 classifier=False)
    assert_allclose(got[:, 0], regressor.predict(X.astype(np.float32)), rtol=1e-5, atol=1e-4)


def test_one_program_takes_two_models(tmp_path):
    """Names are prefixed: two models live in one program; the aliases name the first."""
    a = to_c(Network([4, 3, 2], seed=0), tmp_path / "a.h", name="first")
    b = to_c(Network([4, 5, 3], seed=1), tmp_path / "b.h", name="second", variant="int8")
    source = tmp_path / "both.c"
    source.write_text(f'#include "{a}"\n#include "{b}"\n'
                      "int main(void) { float x[4] = {1, 2, 3, 4}, p[CMLP_N_OUTPUTS], q[3];\n"
                      "    CMLP_PREDICT_PROBA(x, p); second_predict_proba(x, q);\n"
                      "    return CMLP_N_OUTPUTS == 2 && p[0] + p[1] > 0.99f && "
                      "q[0] + q[1] + q[2] > 0.99f ? 0 : 1; }\n")
    exe = tmp_path / "both"
    made = subprocess.run([compiler("gcc"), *STRICT, str(source), "-o", str(exe), "-lm"],
                          capture_output=True, text=True, env=_clean_env())
    assert made.returncode == 0, made.stderr
    assert subprocess.run([str(exe)]).returncode == 0


@pytest.mark.parametrize("kwargs, error, message", [
    ({"variant": "int4"}, ValueError, "variant must be one of"),
    ({"name": "2fast"}, ValueError, "name must be a C identifier"),
    ({"name": "a-b"}, ValueError, "name must be a C identifier"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        to_c(Network([3, 2], seed=0), tmp_path / "m.h", **kwargs)
    assert not os.path.exists(tmp_path / "m.h")


def test_unsupported_models_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot export a dict"):
        to_c({}, tmp_path / "m.h")
    odd = Network([3, 2], seed=0)
    odd.loss = "hinge"
    with pytest.raises(ValueError, match="cannot export a 'hinge' network"):
        to_c(odd, tmp_path / "m.h")
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from cmlp.sklearn import MLPClassifier
    with pytest.raises(ValueError, match="MinMaxScaler"):
        to_c(make_pipeline(MinMaxScaler(), MLPClassifier()), tmp_path / "m.h")
    net = Network([3, 2], seed=0)
    net.weights[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        to_c(net, tmp_path / "m.h")
    assert not os.listdir(tmp_path)


@pytest.mark.subprocess
def test_cli_export_c(tmp_path):
    model = tmp_path / "model.npz"
    Network([6, 5, 3], seed=0).save(model)
    out = tmp_path / "model.h"
    command = [sys.executable, "-m", "cmlp", "export-c", str(model), "-o", str(out),
               "--variant", "int8", "--name", "tiny"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "tiny_predict_proba" in out.read_text() and str(out) in result.stdout
    bad = subprocess.run([sys.executable, "-m", "cmlp", "export-c", str(tmp_path / "nope.npz"),
                          "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "not found" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("hidden, epochs", [([128], 4), ([800, 800], 3)])
def test_int8_accuracy_on_mnist(tmp_path, mnist_dir, hidden, epochs):
    """784-128-10 and 784-800-800-10 trained on the 60,000 MNIST training images: int8
    (cmlp's Model and the exported C) loses at most 0.3 points of test accuracy."""
    from cmlp.datasets import load_idx

    X, y = load_idx(mnist_dir / "train-images-idx3-ubyte.gz",
                    mnist_dir / "train-labels-idx1-ubyte.gz")
    X_test, y_test = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz",
                              mnist_dir / "t10k-labels-idx1-ubyte.gz")
    net = Network([784, *hidden, 10], seed=0)
    net.fit(X, y, epochs=epochs, batch_size=128, optimizer="adam", learning_rate=1e-3)
    float_accuracy = net.score(X_test, y_test)
    int8 = Model(net, quantize="int8")
    int8_accuracy = float(np.mean(int8.predict(X_test) == y_test))
    header = to_c(net, tmp_path / "m.h", variant="int8")
    _, labels = run(build(tmp_path, header, compiler("gcc")), X_test, "float32", 10)
    c_accuracy = float(np.mean(labels == y_test))
    print(f"784-{'-'.join(map(str, hidden))}-10: float32 {float_accuracy:.4f}, "
          f"int8 Model {int8_accuracy:.4f}, int8 C {c_accuracy:.4f}")
    assert float_accuracy - int8_accuracy <= 0.003
    assert float_accuracy - c_accuracy <= 0.003


def test_the_guides_example_program(tmp_path, mnist_test, small_mnist_nets):
    """docs/guide/export_c.rst's classify.c, compiled as printed, against a float32 and an
    int8 export: it prints each row's label as Python predicts it."""
    guide = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "guide", "export_c.rst")
    if not os.path.exists(guide):
        pytest.skip("docs/ is not in this source tree")
    text = open(guide).read()
    block = text.split("/* classify.c:")[1].split("\n\n.. code:: console")[0]
    program = tmp_path / "classify.c"
    program.write_text("/* classify.c:" + "\n".join(line[3:] for line in block.splitlines()))
    X, _ = mnist_test
    pixels = np.rint(X[:300] * 255).astype(int)
    rows = "".join(",".join(map(str, row)) + "\n" for row in pixels)
    net = small_mnist_nets["float32"]
    for variant in ("float32", "int8"):
        header = to_c(net, tmp_path / f"{variant}.h", name="digits", variant=variant)
        exe = tmp_path / f"classify-{variant}"
        made = subprocess.run([compiler("gcc"), *STRICT, f'-DMODEL="{header}"', str(program),
                               "-o", str(exe), "-lm"], capture_output=True, text=True,
                              env=_clean_env())
        assert made.returncode == 0, made.stderr
        out = subprocess.run([str(exe)], input=rows, capture_output=True, text=True, check=True)
        labels = np.array([int(line.split()[0]) for line in out.stdout.splitlines()])
        model = net if variant == "float32" else Model(net, quantize="int8")
        expected = model.predict((pixels / 255.0).astype(np.float32))
        assert len(labels) == 300
        assert np.mean(labels == expected) >= 0.99  # pixel / 255 in double, then rounded
