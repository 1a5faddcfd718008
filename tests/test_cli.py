"""The `cmlp` command end to end, each run in a subprocess (`python -m cmlp ...`).

The subprocesses import the same cmlp as this test process (its parent directory goes first
on PYTHONPATH), so the tests exercise the tree under test whether or not it is installed.
"""
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cmlp
from cmlp import Network
from cmlp.cli import Progress
from cmlp.datasets import load_sample
from cmlp.metrics import confusion_matrix, precision_recall

# Most tests here run `python -m cmlp` in a subprocess (a few seconds each);
# tests/test_cli_first_hour.py runs the command line in-process for the quick run.
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

PACKAGE_PARENT = Path(cmlp.__file__).resolve().parent.parent
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_ROWS = 300  # rows in the small CSV files the tests write


def run_cli(*args, cwd, timeout=120, python_prefix=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("CMLP_DEBUG", None)
    command = [sys.executable, *python_prefix]
    if not python_prefix:
        command += ["-m", "cmlp"]
    return subprocess.run(command + [str(a) for a in args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def value_after(label, text):
    match = re.search(rf"^{label}: ([0-9.]+)", text, re.MULTILINE)
    assert match, f"no '{label}:' line in:\n{text}"
    return float(match.group(1))


# --------------------------------------------------------------------------------------
# data and a trained model shared by the tests of this module


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def sample_rows():
    X, y = load_sample()
    rows = np.random.default_rng(7).choice(len(X), N_ROWS, replace=False)
    return X[rows], y[rows]


@pytest.fixture(scope="module")
def csv_files(workdir, sample_rows):
    """A labelled CSV (Kaggle 'MNIST in CSV' header) and a pixels-only one (Kaggle test.csv)."""
    X, y = sample_rows
    pixels = np.rint(X * 255).astype(np.int64)
    labelled = workdir / "labelled.csv"
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    np.savetxt(labelled, np.column_stack([y, pixels]), fmt="%d", delimiter=",",
               header=header, comments="")
    unlabelled = workdir / "pixels.csv"
    np.savetxt(unlabelled, pixels, fmt="%d", delimiter=",",
               header=",".join(f"pixel{i}" for i in range(784)), comments="")
    return labelled, unlabelled


@pytest.fixture(scope="module")
def trained(workdir):
    """`cmlp train` with a short run and --save; returns (model path, the run's stdout)."""
    model = workdir / "model.npz"
    result = run_cli("train", "--epochs", 25, "--hidden", 32, "--seed", 3, "--dev-size", 500,
                     "--save", model, cwd=workdir)
    assert_ok(result)
    assert model.is_file()
    return model, result.stdout


# --------------------------------------------------------------------------------------
# train, evaluate, predict


def test_default_train_is_the_notebook_run(tmp_path):
    result = run_cli("train", cwd=tmp_path)
    assert_ok(result)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    pattern = re.compile(r"^Iteration: +(\d+)  loss: (\d+\.\d{4})  accuracy: (0\.\d{4}|1\.0000)$")
    progress = [pattern.match(line) for line in lines if line.startswith("Iteration")]
    assert all(progress), [line for line in lines if line.startswith("Iteration")][:3]
    # every 10 iterations from 0 to 990, as the notebook printed them
    assert [int(m.group(1)) for m in progress] == list(range(0, 1000, 10))
    accuracies = [float(m.group(3)) for m in progress]
    assert accuracies[-1] > accuracies[0] + 0.5
    assert "784-10-10" in lines[0] and "9,000 rows" in lines[0] and "1,000 dev rows" in lines[0]
    assert value_after("Dev accuracy", result.stdout) >= 0.86
    assert 0.86 <= value_after("Training accuracy", result.stdout) <= 1
    assert re.search(r"^Time: [0-9.]+ s for 1,000 iterations", result.stdout, re.MULTILINE)


def test_train_prints_epochs_and_saves_a_loadable_model(trained):
    model, stdout = trained
    assert [line.split()[1] for line in stdout.splitlines() if line.startswith("Iteration")] \
        == ["0", "10", "20"]
    assert "784-32-10" in stdout
    assert f"Saved the model to {model}" in stdout
    network = Network.load(model)
    assert network.layer_sizes == [784, 32, 10]
    assert 0.5 < value_after("Dev accuracy", stdout) <= 1


def test_train_with_test_set_prints_test_accuracy(tmp_path, csv_files):
    labelled, _ = csv_files
    result = run_cli("train", "--train", labelled, "--test", labelled, "--epochs", 3,
                     "--batch-size", 50, "--optimizer", "adam", "--lr", 0.01, "--dev-size", 50,
                     "--early-stopping", "--patience", 2, cwd=tmp_path)
    assert_ok(result)
    epochs = [line for line in result.stdout.splitlines() if line.startswith("Epoch:")]
    assert len(epochs) == 3 and "dev_accuracy" in epochs[0]  # --print-every 1 by default
    assert "Early stopping" in result.stdout
    assert 0 <= value_after("Test accuracy", result.stdout) <= 1


def test_train_with_dropout_max_norm_and_augmentation(tmp_path, csv_files):
    labelled, _ = csv_files
    result = run_cli("train", "--train", labelled, "--hidden", 40, "--epochs", 2,
                     "--batch-size", 25, "--optimizer", "adam", "--lr", 0.003, "--dev-size", 50,
                     "--dropout", 0.1, 0.3, "--max-norm", 2, "--augment", "elastic",
                     "--save", "model.npz", cwd=tmp_path)
    assert_ok(result)
    network = Network.load(tmp_path / "model.npz")
    assert max(np.sqrt((network.weights[0] ** 2).sum(axis=0))) <= 2 * (1 + 1e-6)
    assert 0 <= value_after("Dev accuracy", result.stdout) <= 1


def test_evaluate_reports_accuracy_per_class_scores_and_confusion(trained, csv_files,
                                                                  sample_rows):
    model, _ = trained
    labelled, _ = csv_files
    result = run_cli("evaluate", model, "--test", labelled, cwd=model.parent)
    assert_ok(result)
    X, y = sample_rows
    network = Network.load(model)
    assert value_after("Accuracy", result.stdout) == pytest.approx(network.score(X, y),
                                                                   abs=6e-5)
    lines = result.stdout.splitlines()
    table = lines[lines.index("Class  Precision  Recall  Support") + 1:][:10]
    cm = confusion_matrix(y, network.predict(X), 10)
    precision, recall = precision_recall(cm)
    for k, line in enumerate(table):
        fields = line.split()
        assert fields[0] == str(k)
        assert int(fields[3]) == np.sum(y == k)
        if fields[2] != "-":
            assert float(fields[2]) == pytest.approx(recall[k], abs=6e-5)
        if fields[1] != "-":
            assert float(fields[1]) == pytest.approx(precision[k], abs=6e-5)
    start = next(i for i, line in enumerate(lines) if line.startswith("true\\pred"))
    printed = np.array([[int(v) for v in line.split()[1:]] for line in lines[start + 1:start + 11]])
    np.testing.assert_array_equal(printed, cm)
    assert printed.sum() == N_ROWS


@pytest.mark.parametrize("which", ["pixels", "labelled"])
def test_predict_writes_a_kaggle_submission(trained, csv_files, sample_rows, which):
    model, _ = trained
    images = csv_files[0] if which == "labelled" else csv_files[1]
    out = model.parent / f"predictions-{which}.csv"
    result = run_cli("predict", model, images, "--out", out, cwd=model.parent)
    assert_ok(result)
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "ImageId,Label"
    rows = np.array([[int(v) for v in line.split(",")] for line in lines[1:]])
    assert rows.shape == (N_ROWS, 2)
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, N_ROWS + 1))
    assert set(rows[:, 1]) <= set(range(10))
    X, _ = sample_rows
    np.testing.assert_array_equal(rows[:, 1], Network.load(model).predict(X))
    assert ("Accuracy against the labels" in result.stdout) == (which == "labelled")


def test_predict_to_standard_output(trained, csv_files):
    model, _ = trained
    result = run_cli("predict", model, csv_files[1], cwd=model.parent)
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == N_ROWS + 1


# --------------------------------------------------------------------------------------
# plots


def check_png(path):
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[-12:-8] == b"\x00\x00\x00\x00" and data[-8:-4] == b"IEND", f"{path} is truncated"
    from matplotlib.image import imread  # decodes every chunk: a full validity check
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 0.01  # not a blank canvas


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="matplotlib (the cmlp[plot] extra) is not "
                                                "installed")
def test_train_and_evaluate_write_plots(trained, csv_files, tmp_path):
    labelled, _ = csv_files
    result = run_cli("train", "--epochs", 12, "--dev-size", 2000, "--plot", tmp_path / "train",
                     cwd=tmp_path)
    assert_ok(result)
    assert "dev_accuracy" in result.stdout  # the curves need the dev set every epoch
    for name in ("training_curves.png", "confusion_matrix.png", "misclassified.png"):
        check_png(tmp_path / "train" / name)
    model, _ = trained
    result = run_cli("evaluate", model, "--test", labelled, "--plot", tmp_path / "evaluate",
                     cwd=tmp_path)
    assert_ok(result)
    assert sorted(p.name for p in (tmp_path / "evaluate").iterdir()) == \
        ["confusion_matrix.png", "misclassified.png"]
    for name in ("confusion_matrix.png", "misclassified.png"):
        check_png(tmp_path / "evaluate" / name)


def test_plot_without_matplotlib_fails_early_with_the_install_hint(tmp_path):
    # sys.modules[name] = None makes `import name` raise ImportError: matplotlib "missing".
    code = ("import sys; sys.modules['matplotlib'] = None; from cmlp.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    result = run_cli("train", "--plot", tmp_path / "plots", python_prefix=("-c", code),
                     cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert 'pip install "cmlp[plot]"' in result.stderr
    assert "Iteration" not in result.stdout  # refused before training, not after
    assert not (tmp_path / "plots").exists()


# --------------------------------------------------------------------------------------
# user errors: one line on stderr, non-zero exit, no traceback


@pytest.fixture(scope="module")
def bad_files(workdir, csv_files):
    labelled, _ = csv_files
    lines = labelled.read_text().splitlines()
    fields = lines[2].split(",")
    fields[5] = "oops"
    malformed = workdir / "malformed.csv"
    malformed.write_text("\n".join(lines[:2] + [",".join(fields)] + lines[3:]) + "\n")
    not_a_model = workdir / "not-a-model.npz"
    not_a_model.write_text("this is not a network\n")
    return {"malformed": malformed, "not_a_model": not_a_model, "labelled": labelled,
            "pixels": csv_files[1]}


USER_ERRORS = {
    "unknown option": (["train", "--bogus"], r"cmlp train: error: unrecognized arguments"),
    "bad option value": (["train", "--epochs", "0"], r"--epochs: must be a positive integer"),
    "unknown command": (["frobnicate"], r"invalid choice"),
    "missing train file": (["train", "--train", "missing.csv"], r"missing\.csv"),
    "malformed train CSV": (["train", "--train", "{malformed}"],
                            r"malformed\.csv'?: row 2 .*'oops'"),
    "malformed predict CSV": (["predict", "{model}", "{malformed}"], r"'oops'"),
    "non-model file": (["evaluate", "{not_a_model}", "--test", "{labelled}"],
                       r"not-a-model\.npz.*not a .*cmlp model"),
    "missing model": (["predict", "missing.npz", "{pixels}"], r"missing\.npz"),
    "unlabelled evaluate": (["evaluate", "{model}", "--test", "{pixels}"],
                            r"no label column"),
    "option without its mode": (["train", "--nesterov"], r"--nesterov needs"),
    "dropout rate of 1": (["train", "--dropout", "1"], r"--dropout: must be in \[0, 1\)"),
    "dropout rates for other layers": (["train", "--train", "{labelled}", "--dev-size", "50",
                                        "--dropout", "0.1", "0.2", "0.3"], r"dropout has 3 rates; expected 2"),
    "augment of non-images": (["train", "--train", "{labelled}", "--augment", "rotate"],
                              r"--augment: invalid choice"),
}


@pytest.mark.parametrize("case", list(USER_ERRORS))
def test_user_error_is_one_line_and_exit_2(case, bad_files, trained, tmp_path):
    args, message = USER_ERRORS[case]
    paths = dict(bad_files, model=trained[0])
    result = run_cli(*[a.format(**paths) for a in args], cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("cmlp")
    assert re.search(message, result.stderr), result.stderr
    assert result.stdout == ""


def test_divergence_exits_1_with_one_line(tmp_path):
    result = run_cli("train", "--lr", "1e38", "--epochs", 5, "--dev-size", 100, cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "diverged" in result.stderr


# --------------------------------------------------------------------------------------
# in-process pieces: progress output and metrics


class FakeTerminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def history_after(epochs):
    return {"loss": [1.0 / (e + 1) for e in range(epochs)],
            "accuracy": [e / 10 for e in range(epochs)]}


def test_progress_lines_every_n_and_a_bar_only_on_a_terminal():
    for terminal in (False, True):
        out, err = io.StringIO(), FakeTerminal() if terminal else io.StringIO()
        progress = Progress(5, 2, "Epoch", out=out, bar_stream=err)
        for epoch in range(5):
            progress(epoch, history_after(epoch + 1))
        progress.clear()
        assert [line.split()[1] for line in out.getvalue().splitlines()] == ["0", "2", "4"]
        assert out.getvalue().splitlines()[1] == "Epoch:     2  loss: 0.3333  accuracy: 0.2000"
        if terminal:
            bar = err.getvalue()
            assert "5/5" in bar and "100%" in bar and "\r" in bar
            assert bar.endswith("\r\x1b[K")  # erased at the end
        else:
            assert err.getvalue() == ""  # plain lines only when not a terminal


def test_progress_every_zero_prints_nothing():
    out = io.StringIO()
    progress = Progress(3, 0, "Iteration", out=out, bar=False)
    for epoch in range(3):
        progress(epoch, history_after(epoch + 1))
    assert out.getvalue() == ""


def test_confusion_matrix_and_precision_recall():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 1])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [0, 1, 0]])
    precision, recall = precision_recall(cm)
    np.testing.assert_allclose(precision[:2], [1 / 2, 2 / 4])
    assert np.isnan(precision[2])  # never predicted: undefined, not 0
    np.testing.assert_allclose(recall, [1 / 2, 2 / 3, 0])
