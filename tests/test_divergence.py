"""Training that diverges leaves usable weights, and prediction never returns NaN silently."""
import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cmlp import Network, TrainingDiverged
from cmlp.datasets import load_sample


@pytest.fixture(scope="module")
def sample():
    X, y = load_sample()
    return X[:2000], y[:2000]


@pytest.mark.parametrize("learning_rate, batch_size", [(1e6, None), (1e10, None), (1e10, 100)])
def test_weights_restored_after_divergence_predict_finite_probabilities(
        sample, learning_rate, batch_size):
    """On the old main the "last finite" weights (max |w| ~ 1e17-1e19 here) gave NaN
    probabilities: their loss was finite only because it is measured before the update."""
    X, y = sample
    net = Network([784, 64, 10], seed=0, n_threads=1)
    with pytest.raises(TrainingDiverged, match="restored to those"):
        net.fit(X, y, epochs=20, learning_rate=learning_rate, batch_size=batch_size)
    proba = net.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("value", [3e38, -3e38])
def test_predict_proba_raises_instead_of_returning_nan(value):
    net = Network([784, 64, 10], seed=0)
    X = np.zeros((4, 784), np.float32)
    X[2] = value  # finite in float32, but the logits overflow
    for call in (net.predict_proba, net.predict, lambda X: net.score(X, np.zeros(4, int))):
        with pytest.raises(FloatingPointError, match=r"overflowed \(first at row 2\)"):
            call(X)


def test_predict_proba_raises_for_weights_near_the_float32_maximum():
    net = Network([5, 4, 3], seed=0)
    net.weights[0][...] = 3e38
    with pytest.raises(FloatingPointError, match="weights reach 3e\\+38"):
        net.predict_proba(np.ones((2, 5)))


CHILD = textwrap.dedent("""
    import json, os, signal, threading
    import numpy as np
    from cmlp import Network

    signal.signal(signal.SIGINT, signal.default_int_handler)  # not SIG_IGN, as `cmd &` has it
    rng = np.random.default_rng(0)
    X = rng.random((1_000_000, 20), dtype=np.float32)
    y = rng.integers(0, 3, len(X))
    net = Network([20, 16, 3], seed=0, n_threads=1)
    # NaN within the first batches of an epoch of a million: the signal comes mid-epoch.
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        net.fit(X, y, epochs=1, learning_rate=1e20, batch_size=1)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    print(json.dumps({"outcome": outcome,
                      "finite": bool(np.isfinite(net._params).all()),
                      "proba": bool(np.isfinite(net._proba(X[:1000])).all())}))
""")


@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_during_a_diverging_epoch_leaves_finite_usable_weights():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"outcome": "interrupted", "finite": True, "proba": True}, report
