"""Ctrl-C stops training: SIGINT sent to a subprocess that trains for ever.

The compiled epoch loops check for signals every ~50 ms (cmlp/_src/interrupt.h). Each child
reports how long KeyboardInterrupt took to arrive after the signal, and what it left: the
history of the epochs done (net.history_) and finite, usable weights. The bound asserted is
loose (the machine running the tests may be busy); the latency seen is printed.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from cmlp import Network

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process"),
              pytest.mark.slow, pytest.mark.subprocess]

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from cmlp import Network

    sizes, n, batch_size, optimizer, n_threads = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n)
    net = Network(sizes, seed=0, n_threads=n_threads)
    seen = []

    def callback(epoch, history):
        seen.append(epoch)
        if len(seen) == 1:
            print("epoch", flush=True)

    if batch_size == 0:  # a full-batch step takes longer than the test waits: no epoch ends
        print("epoch", flush=True)
    try:
        net.fit(X, y, epochs=10**9, learning_rate=1e-4, batch_size=batch_size or None,
                optimizer=optimizer, callback=callback)
    except KeyboardInterrupt:
        stopped = time.time()
        proba = net.predict_proba(X[:50])
        print(json.dumps({"stopped": stopped, "epochs_seen": len(seen),
                          "history": len(net.history_["loss"]),
                          "lengths": sorted({len(v) for v in net.history_.values()}),
                          "finite": bool(np.isfinite(net._params).all()),
                          "proba_ok": bool(np.allclose(proba.sum(axis=1), 1, atol=1e-4))}))
""")

CASES = [
    # sizes, rows, batch size (0: full batch), optimizer, threads
    pytest.param([784, 128, 10], 4000, 32, "adam", 2, id="unit-split-2-threads"),
    pytest.param([784, 64, 10], 4000, 32, "sgd", 1, id="unit-split-1-thread"),
    pytest.param([784, 300, 10], 8000, 1024, "momentum", 2, id="row-split-batches"),
    pytest.param([784, 800, 10], 60000, 0, "sgd", 2, id="full-batch-784-800-10"),
]


def _sigint_default():
    """For the children: a shell that starts a job with `&` hands it SIGINT ignored, and
    pytest's children would inherit that (Python keeps an inherited SIG_IGN)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(args, wait=0.3, timeout=30):
    """Start CHILD, send SIGINT `wait` s after its first epoch; the child's report."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_sigint_default)
    try:
        assert child.stdout.readline().strip() == "epoch", child.stderr.read()
        time.sleep(wait)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    report["latency"] = report["stopped"] - sent
    return report


@pytest.mark.parametrize("sizes, n, batch_size, optimizer, n_threads", CASES)
def test_sigint_stops_fit_quickly_and_keeps_usable_weights(sizes, n, batch_size, optimizer,
                                                           n_threads):
    report = _interrupt([sizes, n, batch_size, optimizer, n_threads])
    print(f"KeyboardInterrupt {1000 * report['latency']:.0f} ms after SIGINT")
    # Old main: the loop never looked at signals; these fits run for ever.
    assert report["latency"] < 5.0, report
    assert report["finite"] and report["proba_ok"], report
    # Epochs completed before the signal stay in net.history_, every list holding the same
    # ones: those the callback saw, or one more when Ctrl-C came between an epoch's record
    # and its callback.
    assert report["history"] - report["epochs_seen"] in (0, 1), report
    assert report["lengths"] == [report["history"]], report


def test_keyboard_interrupt_in_the_training_thread_keeps_history(monkeypatch):
    """In process: a KeyboardInterrupt from the callback (as from a signal between epochs)
    propagates, and net.history_ holds the epochs done."""
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 5)), rng.integers(0, 3, 64)
    net = Network([5, 4, 3], seed=0)

    def callback(epoch, history):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=10, learning_rate=0.1, callback=callback)
    assert len(net.history_["loss"]) == 3


def test_keyboard_interrupt_half_way_through_an_epochs_record_drops_it(monkeypatch):
    """Ctrl-C after an epoch's loss is recorded but before its validation scores: every
    list of net.history_ keeps the same epochs (the finished ones)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 5)), rng.integers(0, 3, 64)
    net = Network([5, 4, 3], seed=0)
    evaluate = net._evaluate
    calls = []

    def interrupted_evaluate(X_val, y_val):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return evaluate(X_val, y_val)

    monkeypatch.setattr(net, "_evaluate", interrupted_evaluate)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=10, learning_rate=0.1, validation_data=(X, y))
    assert {key: len(values) for key, values in net.history_.items()} == {
        key: 2 for key in net.history_}


CLI_ARGS = ["train", "--hidden", "800", "--epochs", "100000", "--print-every", "1"]


def test_cmlp_train_exits_130_on_sigint_and_saves_the_finished_epochs(tmp_path):
    model = tmp_path / "model.npz"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-m", "cmlp", *CLI_ARGS, "--save", str(model)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=tmp_path, preexec_fn=_sigint_default)
    try:
        # The first progress line: training has started.
        for line in child.stdout:
            if "Iteration" in line or "Epoch" in line:
                break
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        elapsed = time.time() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    # After the first progress line at least one iteration is done: --save writes it.
    assert "interrupted; saved the model to" in lines[0] and "finished iteration" in lines[0]
    assert "Traceback" not in err
    assert Network.load(model).layer_sizes == [784, 800, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp file left
    assert elapsed < 5.0
