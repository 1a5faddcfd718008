"""cmlp's public inference API: a trained network frozen for prediction.

    from cmlp.inference import Model
    model = Model(network)              # an immutable copy of the weights
    model.predict_proba(X)              # or model.predict(X, out=labels)
    int8 = Model(network, quantize="int8")  # int8 weights and inputs, float32 in and out

The same model is reachable without the GIL from Cython (``from cmlp cimport inference``,
cmlp/inference.pxd) and from C (``#include "cmlp_inference.h"``, the functions exported in
the capsule ``cmlp.inference._C_API``); ``cmlp.get_include()`` gives the include directory.
ABI_VERSION changes when the compiled interface changes incompatibly (an extension built
against another refuses to import); API_VERSION counts functions added since.
"""
from cmlp._inference import _C_API, ABI_VERSION, API_VERSION, Model, int8_path

__all__ = ["Model", "ABI_VERSION", "API_VERSION", "int8_path"]
