"""The command line a newcomer meets: defaults that fit the method, a bar that moves during a
long epoch, a line while data loads, --save on Ctrl-C, `cmlp fetch` and `--train mnist`
against a local mirror, predict on unlabelled IDX images. In-process (cmlp.cli.main)."""
import gzip
import http.server
import io
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cmlp
from cmlp import Network, cli, datasets
from cmlp.cli import Progress, main, method_defaults

SAMPLE_DIR = Path(cmlp.__file__).parent / "data"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"


class FakeTerminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# --------------------------------------------------------------------------------------
# defaults by method


def test_defaults_fit_the_method_and_are_printed(capsys):
    assert method_defaults(None, "sgd") == (1000, 0.11)  # the notebook's run, unchanged
    assert method_defaults(128, "adam") == (10, 0.001)
    assert method_defaults(64, "momentum") == (10, 0.05)
    status, out, _ = run(["train", "--hidden", 8, "--batch-size", 500, "--optimizer", "adam",
                          "--dev-size", 9000, "--print-every", 0], capsys)
    assert status == 0
    assert "Mini-batches of 500, adam, learning rate 0.001, 10 epochs" in out
    assert "Defaults for mini-batches of 500 with adam: --epochs 10 --lr 0.001" in out
    assert "for 10 epochs" in out

    status, out, _ = run(["train", "--hidden", 8, "--batch-size", 500, "--optimizer", "adam",
                          "--epochs", 2, "--dev-size", 9000, "--print-every", 0], capsys)
    assert "Defaults for mini-batches of 500 with adam: --lr 0.001 " in out
    assert "for 2 epochs" in out


def test_the_notebook_run_prints_no_defaults_line(capsys):
    status, out, _ = run(["train", "--epochs", 5, "--print-every", 0], capsys)
    assert status == 0 and "Defaults" not in out
    assert "learning rate 0.11, 5 iterations" in out


# --------------------------------------------------------------------------------------
# progress


def _elapsed_seconds(frame):
    minutes, seconds = frame.split(" elapsed")[0].split()[-1].split(":")
    return 60 * int(minutes) + int(seconds)


def test_the_bar_moves_and_time_runs_during_a_long_epoch():
    """Between two callbacks (a compiled epoch holds no GIL) the ticker redraws the bar: the
    elapsed time and the position inside the epoch advance, examples/s is shown."""
    bar = FakeTerminal()
    progress = Progress(4, 0, "Epoch", rows=60000, bar_stream=bar, out=io.StringIO(),
                        tick=0.02)
    progress.start()
    time.sleep(0.3)
    progress(0, {"loss": [0.5], "accuracy": [0.8]})  # epoch 0 took ~0.3 s
    drawn = len(bar.getvalue())
    time.sleep(1.2)  # most of epoch 1, with no callback
    during = bar.getvalue()[drawn:]
    progress.stop()
    frames = [f for f in during.split("\r") if "epoch" in f]
    assert len(frames) >= 10, during  # redrawn while the epoch ran
    positions = [int(f.split("%")[0].split()[-1]) for f in frames]
    assert positions[0] < positions[-1] and 25 <= positions[0] and positions[-1] <= 50
    # The frames span more than a second, so the whole seconds shown must advance (by
    # more than one on a loaded machine, where sleep overruns).
    first, last = (_elapsed_seconds(f) for f in (frames[0], frames[-1]))
    assert first <= 1 and last >= first + 1, (frames[0], frames[-1])
    assert "k ex/s" in frames[-1]  # 60,000 rows in ~0.3 s
    assert bar.getvalue().endswith("\r\x1b[K")  # erased at the end


def test_the_bar_counts_the_rows_of_the_first_epoch():
    """With the network's count (Network.epoch_progress) the bar moves inside the first
    epoch too, before any epoch has ended to estimate from."""
    bar = FakeTerminal()
    rows = [0]
    progress = Progress(4, 0, "Epoch", rows=60000, bar_stream=bar, out=io.StringIO(),
                        tick=0.02, inside=lambda: (rows[0], 60000))
    progress.start()
    for done in (15000, 30000):
        rows[0] = done
        time.sleep(0.2)
    progress.stop()
    frames = [f for f in bar.getvalue().split("\r") if "epoch" in f]
    positions = [int(f.split("%")[0].split()[-1]) for f in frames]
    # 15,000 and 30,000 of 60,000 rows in the first of 4 epochs: 6% and 12%.
    assert positions[0] == 0 and 6 in positions and positions[-1] == 12, positions
    assert "ex/s" in frames[-1] and "?:??" not in frames[-1]


def test_no_ticker_and_no_bar_off_a_terminal():
    err = io.StringIO()
    progress = Progress(3, 1, "Epoch", rows=10, bar_stream=err, out=io.StringIO(), tick=0.01)
    progress.start()
    time.sleep(0.1)
    progress.stop()
    assert err.getvalue() == "" and progress._ticker is None


def test_a_line_while_data_loads_on_a_terminal_only(monkeypatch, tmp_path, capsys):
    model = tmp_path / "m.npz"
    Network([784, 10], seed=0).save(model)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["evaluate", str(model)]) == 0
    assert terminal.getvalue().startswith("Loading the bundled sample...")
    assert terminal.getvalue().endswith("\r\x1b[K")  # erased once loaded
    monkeypatch.undo()
    status, _, err = run(["evaluate", model], capsys)
    assert status == 0 and err == ""  # logs and pipes get results only


# --------------------------------------------------------------------------------------
# Ctrl-C with --save


def test_ctrl_c_with_save_writes_the_finished_epochs(monkeypatch, tmp_path, capsys):
    calls = []
    original = Progress.__call__

    def interrupted_after_four(self, epoch, history):
        original(self, epoch, history)
        calls.append(epoch)
        if epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "__call__", interrupted_after_four)
    saved = tmp_path / "interrupted.npz"
    status, out, err = run(["train", "--epochs", 100, "--save", saved, "--print-every", 0],
                           capsys)
    assert status == 130 and calls == [0, 1, 2, 3]
    assert err.strip() == (f"cmlp train: interrupted; saved the model to {saved}: 4 finished "
                           "iterations, and the completed updates of the next")
    monkeypatch.undo()

    # Full batch: the weights are exactly those of a run of 4 iterations.
    run(["train", "--epochs", 4, "--save", tmp_path / "four.npz", "--print-every", 0], capsys)
    np.testing.assert_array_equal(Network.load(saved)._params,
                                  Network.load(tmp_path / "four.npz")._params)


def test_ctrl_c_before_any_epoch_writes_nothing(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Network, "fit", interrupted)
    saved = tmp_path / "none.npz"
    status, _, err = run(["train", "--save", saved], capsys)
    assert status == 130 and not saved.exists()
    assert f"nothing was written to {saved}" in err


# --------------------------------------------------------------------------------------
# predict on unlabelled IDX images


def test_predict_on_an_idx_directory_without_labels(tmp_path, capsys):
    model = tmp_path / "m.npz"
    net = Network([784, 10], seed=0)
    net.save(model)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLE_DIR / TEST_IMAGES, images / TEST_IMAGES)
    status, out, err = run(["predict", model, images], capsys)
    assert status == 0, err
    lines = out.splitlines()
    X, _ = datasets.load_sample()
    assert lines[0] == "ImageId,Label" and len(lines) == 10001
    assert [int(line.split(",")[1]) for line in lines[1:6]] == net.predict(X[:5]).tolist()


def test_evaluate_needs_the_labels_and_names_only_the_missing_file(tmp_path, capsys):
    model = tmp_path / "m.npz"
    Network([784, 10], seed=0).save(model)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLE_DIR / TEST_IMAGES, images / TEST_IMAGES)
    status, _, err = run(["evaluate", model, "--test", images], capsys)
    assert status == 2 and len(err.splitlines()) == 1
    assert "t10k-labels-idx1-ubyte" in err and "t10k-images" not in err

    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run(["predict", model, empty], capsys)
    assert status == 2 and "t10k-images-idx3-ubyte" in err and "t10k-labels" not in err


# --------------------------------------------------------------------------------------
# cmlp fetch and --train mnist, against a mirror on 127.0.0.1


class _Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.server.files.get(self.path.strip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(mnist_dir):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    server.files = {p.name: p.read_bytes() for p in Path(mnist_dir).glob("*.gz")}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_fetch_downloads_and_checks_mnist(mirror, tmp_path, capsys):
    target = tmp_path / "mnist"
    status, out, err = run(["fetch", "--dir", target, "--mirror", mirror], capsys)
    assert status == 0, err
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TEST_IMAGES,
         "t10k-labels-idx1-ubyte.gz"])
    assert f"MNIST is in {target} (md5 checked)" in out

    # A damaged mirror: the md5 check refuses the file, nothing is left behind.
    bad = tmp_path / "bad"
    status, _, err = run(["fetch", "--dir", bad, "--mirror", mirror + "missing/"], capsys)
    assert status == 2 and "could not download" in err
    assert not any(bad.iterdir())


@pytest.mark.slow
def test_train_mnist_downloads_into_the_cache_when_missing(mirror, monkeypatch, tmp_path,
                                                           capsys):
    monkeypatch.setenv("CMLP_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (mirror,))
    monkeypatch.chdir(tmp_path)  # "mnist" names a folder ./mnist where there is one
    status, out, err = run(["train", "--train", "mnist", "--test", "mnist", "--hidden", 16,
                            "--batch-size", 1000, "--epochs", 1, "--dev-size", 0,
                            "--print-every", 0], capsys)
    assert status == 0, err
    assert "downloading it" in err and (tmp_path / "data" / TEST_IMAGES).is_file()
    assert "on 60,000 rows of the MNIST train files" in out
    assert float(out.split("Test accuracy: ")[1].split()[0]) > 0.8
