"""A user's script, type-checked by mypy in CI (`python -m mypy`, see pyproject.toml).

It uses the public API as the documentation shows it; mypy must accept it with the
package's annotations and the stub of the compiled inference module. It also runs:
tests/test_typing.py executes it.
"""
from typing import Dict, List

import numpy as np

import cmlp
from cmlp import Network
from cmlp.datasets import load_sample
from cmlp.inference import Model

X, y = load_sample()
net = Network([784, 16, 10], dtype="float32", seed=0)
history: Dict[str, List[float]] = net.fit(X[:2000], y[:2000], epochs=2, learning_rate=0.1,
                                          batch_size=64)
accuracy: float = net.score(X[2000:3000], y[2000:3000])
proba: np.ndarray = net.predict_proba(X[:5])
labels: np.ndarray = net.predict(X[:5])

model = Model(net)
n_classes: int = model.n_classes
same: np.ndarray = model.predict(X[:5])
include: str = cmlp.get_include()
assert np.array_equal(labels, same)
print(f"{accuracy:.3f} {n_classes} {history['loss'][-1]:.3f} {proba.shape} {include != ''}")
