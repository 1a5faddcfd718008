"""
A scikit-learn pipeline with grid search
========================================

:class:`cmlp.sklearn.MLPClassifier` takes scikit-learn's ``MLPClassifier`` parameters and
stands wherever it stands: here in a :class:`~sklearn.pipeline.Pipeline` behind a PCA,
tuned by :class:`~sklearn.model_selection.GridSearchCV` over the PCA's width and the L2
penalty ``alpha``, with 3-fold cross-validation.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from cmlp.datasets import load_sample
from cmlp.sklearn import MLPClassifier

X, y = load_sample()
X_train, X_test, y_train, y_test = train_test_split(
    X[:4000], y[:4000], test_size=0.25, random_state=0)

pipeline = Pipeline([
    ("pca", PCA(random_state=0)),
    ("mlp", MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0,
                          n_threads=1)),
])
grid = {"pca__n_components": [20, 50, 100], "mlp__alpha": [1e-4, 1e-2, 1.0]}
search = GridSearchCV(pipeline, grid, cv=3)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.4f}, "
      f"held-out accuracy {search.score(X_test, y_test):.4f}")

# %%
# The mean cross-validated accuracy of each pair of parameters:

scores = search.cv_results_["mean_test_score"].reshape(
    len(grid["pca__n_components"]), len(grid["mlp__alpha"]))
fig, ax = plt.subplots(figsize=(5, 3.5))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(grid["mlp__alpha"])), [str(a) for a in grid["mlp__alpha"]])
ax.set_yticks(range(len(grid["pca__n_components"])), grid["pca__n_components"])
ax.set_xlabel("alpha (L2 penalty)")
ax.set_ylabel("PCA components")
for (row, column), value in np.ndenumerate(scores):
    ax.text(column, row, f"{value:.3f}", ha="center", va="center", color="white")
fig.colorbar(image, label="mean accuracy")
fig.tight_layout()
