"""
Predicting from Cython without the GIL
======================================

``cmlp/inference.pxd`` is cmlp's public Cython API: a C extension predicts with a
:class:`cmlp.inference.Model` without the GIL, from as many threads as it likes. This
example writes a small extension (the same as ``tests/downstream`` in the repository),
compiles it against the installed cmlp, and predicts with it from several Python threads at
once, each of which releases the GIL inside the extension.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import matplotlib.pyplot as plt
import numpy as np

import cmlp
from cmlp import Network
from cmlp.datasets import load_sample
from cmlp.inference import Model

# %%
# The extension: one function that predicts probabilities with the GIL released.

PYX = '''
from cmlp cimport inference as ci

ci.import_inference()  # checks the installed cmlp's ABI version, like numpy's import_array

def predict_proba(model, const float[:, ::1] X, float[:, ::1] out):
    cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
    cdef int status
    with nogil:
        status = ci.cmlp_predict_proba_f32(m, &X[0, 0], X.shape[0], &out[0, 0])
    if status != ci.CMLP_OK:
        raise ValueError(f"cmlp status {status}")
'''

SETUP = f'''
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize(
    [Extension("nogil_predict", ["nogil_predict.pyx"], include_dirs=[{cmlp.get_include()!r}])],
    # where cmlp/inference.pxd is found (needed for an editable install of cmlp)
    include_path=[{os.path.dirname(os.path.dirname(cmlp.__file__))!r}],
    compiler_directives={{"language_level": 3, "boundscheck": False, "wraparound": False}},
    quiet=True,
))
'''

build = tempfile.mkdtemp()
with open(os.path.join(build, "nogil_predict.pyx"), "w") as file:
    file.write(textwrap.dedent(PYX))
with open(os.path.join(build, "setup.py"), "w") as file:
    file.write(SETUP)
subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=build,
               check=True, capture_output=True)
sys.path.insert(0, build)
import nogil_predict  # noqa: E402

# %%
# A network trained briefly, frozen into a Model, and the extension's probabilities
# compared with cmlp's:

X, y = load_sample()
net = Network([784, 128, 10], seed=0)
net.fit(X[:8000], y[:8000], epochs=3, learning_rate=1e-3, batch_size=64, optimizer="adam")
model = Model(net)

out = np.empty((2000, 10), dtype=np.float32)
nogil_predict.predict_proba(model, X[8000:], out)
print(f"largest difference from Network.predict_proba: "
      f"{np.abs(out - net.predict_proba(X[8000:])).max():.1e}")

# %%
# Many threads at once: each thread predicts its own share of 20,000 rows into its own
# slice of the output. The GIL is released inside the extension, so on a machine with free
# cores the threads run side by side.

rows = np.ascontiguousarray(np.tile(X, (2, 1)))
outputs = np.empty((len(rows), 10), dtype=np.float32)


def predict_share(bounds):
    start, stop = bounds
    nogil_predict.predict_proba(model, rows[start:stop], outputs[start:stop])


thread_counts = [1, 2, 4]
rates = []
for n_threads in thread_counts:
    edges = np.linspace(0, len(rows), n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        start = time.perf_counter()
        for _ in range(3):
            list(pool.map(predict_share, zip(edges[:-1], edges[1:])))
        rates.append(3 * len(rows) / (time.perf_counter() - start))
    assert np.array_equal(outputs[:10000], outputs[10000:])  # a row's bits never change
print(f"this machine has {os.cpu_count()} CPUs")
for n_threads, rate in zip(thread_counts, rates):
    print(f"{n_threads} thread(s): {rate:,.0f} rows/s")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.bar([str(n) for n in thread_counts], rates)
ax.set_xlabel("Python threads calling the extension")
ax.set_ylabel("rows predicted per second")
fig.tight_layout()
