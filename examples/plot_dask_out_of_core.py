"""
Out-of-core training with Dask
==============================

:meth:`cmlp.sklearn.MLPClassifier.partial_fit` trains on one block of rows at a time, so
data larger than memory can stream through it. Dask-ML's
:class:`~dask_ml.wrappers.Incremental` hands it the blocks of a dask array one after the
other, on one machine or on a ``distributed`` cluster; in practice the array would come from
``da.from_zarr`` or ``dd.read_parquet`` rather than from memory as here.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from dask_ml.wrappers import Incremental

from cmlp.datasets import load_sample
from cmlp.sklearn import MLPClassifier

X, y = load_sample()
X_test, y_test = X[8000:], y[8000:]
X_blocks = da.from_array(X[:8000], chunks=(1000, 784))  # 8 blocks of 1,000 rows
y_blocks = da.from_array(y[:8000], chunks=1000)

model = Incremental(MLPClassifier(hidden_layer_sizes=(128,), random_state=0),
                    scoring="accuracy")
accuracy = []
for epoch in range(5):  # each fit call is one pass: one partial_fit per block
    model.fit(X_blocks, y_blocks, classes=np.arange(10))
    accuracy.append(model.score(X_test, y_test))
    print(f"pass {epoch + 1}: held-out accuracy {accuracy[-1]:.4f}")

# %%
# Without Dask, ``pandas.read_csv(path, chunksize=10_000)`` feeds ``partial_fit`` the same
# way from a CSV file of any size.

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(np.arange(1, len(accuracy) + 1), accuracy, marker="o")
ax.set_xlabel("pass over the blocks")
ax.set_ylabel("held-out accuracy")
fig.tight_layout()
