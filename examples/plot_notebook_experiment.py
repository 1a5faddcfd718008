"""
The notebook's experiment
=========================

cmlp grew out of a from-scratch numpy notebook: a 784-10-10 network trained by full-batch
gradient descent at learning rate 0.11 for 1,000 iterations, 1,000 rows held out as a dev
set. This is that run, on the bundled sample, and what ``cmlp train`` does with no options.
"""

import matplotlib.pyplot as plt
import numpy as np

from cmlp import Network
from cmlp.datasets import load_sample

X, y = load_sample()  # (10000, 784) float32 in [0, 1], int64 labels
order = np.random.default_rng(0).permutation(len(X))
dev, train = order[:1000], order[1000:]

net = Network([784, 10, 10], seed=0, init="uniform")  # the notebook's uniform(-0.5, 0.5)
history = net.fit(X[train], y[train], epochs=1000, learning_rate=0.11, batch_size=None)
print(f"training accuracy {history['accuracy'][-1]:.4f}")
print(f"dev accuracy      {net.score(X[dev], y[dev]):.4f}")

# %%
# He initialisation, cmlp's default, reaches a better network from the same start:

he = Network([784, 10, 10], seed=0)
he_history = he.fit(X[train], y[train], epochs=1000, learning_rate=0.11)
print(f"dev accuracy with He initialisation {he.score(X[dev], y[dev]):.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history["accuracy"], label="uniform(-0.5, 0.5), the notebook's")
ax.plot(he_history["accuracy"], label="He (cmlp's default)")
ax.set_xlabel("iteration")
ax.set_ylabel("training accuracy")
ax.set_ylim(0, 1)
ax.legend()
fig.tight_layout()
