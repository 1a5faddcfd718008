"""
ONNX export served by onnxruntime
=================================

:meth:`cmlp.Network.to_onnx` writes a standard ONNX graph (a ``Gemm`` per layer, the
activations, ``Softmax`` and ``ArgMax``), which any ONNX runtime can serve without cmlp.
Here onnxruntime runs it and its probabilities are compared with cmlp's own.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime

from cmlp import Network
from cmlp.datasets import load_sample

X, y = load_sample()
net = Network([784, 64, 10], seed=0)
net.fit(X[:8000], y[:8000], epochs=5, learning_rate=1e-3, batch_size=64, optimizer="adam")

directory = tempfile.mkdtemp()
path = os.path.join(directory, "digits.onnx")
net.to_onnx(path)

session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.shape, i.type) for i in session.get_inputs()])
print("outputs:", [o.name for o in session.get_outputs()])
input_name = session.get_inputs()[0].name
probabilities, labels = session.run(["probabilities", "label"], {input_name: X[8000:]})

difference = np.abs(probabilities - net.predict_proba(X[8000:])).max()
print(f"largest difference from cmlp's probabilities: {difference:.2e}")
print(f"labels that agree: {np.mean(labels == net.predict(X[8000:])):.4f}")
print(f"onnxruntime's accuracy: {np.mean(labels == y[8000:]):.4f}")

# %%
# A few test digits with the label onnxruntime gives them:

fig, axes = plt.subplots(1, 8, figsize=(9, 1.6))
for ax, image, label in zip(axes, X[8000:8008], labels[:8]):
    ax.imshow(image.reshape(28, 28), cmap="gray_r")
    ax.set_title(str(label))
    ax.set_axis_off()
fig.tight_layout()
