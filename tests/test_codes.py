"""The kernels' codes (cmlp/_codes.pxd) and the Python names they stand for stay together."""
import pathlib
import re

import numpy as np
import pytest

from cmlp import Network, reference
from cmlp._codes import Activation, Loss, OptimizerKind
from cmlp.optimizers import OPTIMIZERS, OptimizerState

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "cmlp"


def test_every_activation_and_loss_name_is_an_enum_member_in_order():
    assert tuple(member.name.lower() for member in Activation) == reference.ACTIVATIONS
    assert tuple(member.name.lower() for member in Loss) == reference.LOSSES
    assert [int(member) for member in Activation] == list(range(len(Activation)))
    assert [int(member) for member in Loss] == list(range(len(Loss)))


@pytest.mark.parametrize("name,nesterov,kind", [
    ("sgd", False, OptimizerKind.SGD), ("momentum", False, OptimizerKind.MOMENTUM),
    ("momentum", True, OptimizerKind.NESTEROV), ("adam", False, OptimizerKind.ADAM)])
def test_optimizer_state_carries_its_kind_code(name, nesterov, kind):
    assert name in OPTIMIZERS
    state = OptimizerState(name, 10, np.float64, nesterov=nesterov)
    assert state.config.kind == kind


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_network_hands_the_kernels_its_activation_code(activation):
    net = Network([4, 3, 2], activation=activation, seed=0)
    assert net._activation_code() == Activation[activation.upper()]


def test_no_module_writes_the_codes_out_again():
    # The codes were once copied into several modules; they live in _codes.pxd alone now.
    pattern = re.compile(r"^\s*(RELU|TANH|CROSS_ENTROPY|SQUARED_ERROR|SGD|ADAM)\s*=\s*\d",
                         re.MULTILINE)
    sources = [p for p in PACKAGE.glob("*.py*") if p.name != "_codes.pxd"]
    assert [p.name for p in sources if pattern.search(p.read_text())] == []
