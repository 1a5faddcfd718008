"""The typed settings a training call hands the kernels (cmlp/_settings.pyx)."""
import copy
import pickle

import numpy as np
import pytest

from cmlp import Network
from cmlp._codes import OptimizerKind
from cmlp._settings import DropoutPlan, OptimizerSettings
from cmlp.dropout import epoch_plan
from cmlp.optimizers import OptimizerState


def test_optimizer_settings_survive_pickle_and_copy_with_their_step():
    settings = OptimizerSettings(OptimizerKind.ADAM, learning_rate=0.01, momentum=0.5,
                                 beta1=0.8, beta2=0.99, epsilon=1e-7, step=41)
    for clone in (pickle.loads(pickle.dumps(settings)), copy.deepcopy(settings)):
        assert clone is not settings
        assert repr(clone) == repr(settings)
        assert (clone.kind, clone.step, clone.beta1) == (OptimizerKind.ADAM, 41, 0.8)


def test_a_pickled_optimizer_state_goes_on_counting_its_steps():
    X = np.random.default_rng(0).random((64, 6), dtype=np.float32)
    y = np.arange(64) % 3
    net = Network([6, 5, 3], seed=0, n_threads=1)
    state = OptimizerState("adam", net.n_params, net.dtype)
    net.fit(X, y, epochs=1, batch_size=16, learning_rate=0.01, optimizer=state)
    assert state.config.step == 4
    restored = pickle.loads(pickle.dumps(state))
    net.fit(X, y, epochs=1, batch_size=16, learning_rate=0.01, optimizer=restored)
    assert (restored.config.step, state.config.step) == (8, 4)


def test_a_dropout_plan_refuses_mismatched_or_mistyped_arrays():
    with pytest.raises(ValueError, match="2 dropout thresholds but 3 scales"):
        DropoutPlan(np.zeros(2, np.uint32), np.ones(3), 0, 0)
    with pytest.raises(ValueError, match="dtype mismatch"):
        DropoutPlan(np.zeros(2, np.int64), np.ones(2), 0, 0)


def test_an_epoch_plan_holds_the_thresholds_and_scales_of_its_rates():
    plan = epoch_plan([0.0, 0.5], seed=-1, epoch=3)
    assert plan.thresholds.tolist() == [0, 2**31] and plan.scales.tolist() == [1.0, 2.0]
    assert (plan.seed, plan.epoch) == (2**64 - 1, 3)
    assert epoch_plan([0.0, 0.0], seed=1, epoch=0) is None
