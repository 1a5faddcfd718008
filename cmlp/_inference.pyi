# Type stub of the compiled module cmlp._inference, whose public names cmlp.inference
# re-exports (Model, ABI_VERSION, API_VERSION). Kept beside the .pyx: a change to Model's
# Python-visible signatures changes this file too (mypy in CI reads it).
from typing import Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from cmlp.network import Network

ABI_VERSION: int
API_VERSION: int
_C_API: Any  # a PyCapsule: the C function table of cmlp_inference.h

class Model:
    dtype: np.dtype[Any]
    layer_sizes: Tuple[int, ...]
    activation: str
    loss: str
    quantize: Optional[str]
    def __init__(self, network: Network, *, quantize: Optional[str] = ...) -> None: ...
    @property
    def n_features(self) -> int: ...
    @property
    def n_classes(self) -> int: ...
    @property
    def params(self) -> npt.NDArray[np.floating[Any]]: ...
    def predict_proba(
        self,
        X: npt.ArrayLike,
        out: Optional[npt.NDArray[np.floating[Any]]] = ...,
        *,
        n_threads: int = ...,
    ) -> npt.NDArray[np.floating[Any]]: ...
    def predict(
        self,
        X: npt.ArrayLike,
        out: Optional[npt.NDArray[Any]] = ...,
        *,
        n_threads: int = ...,
    ) -> npt.NDArray[Any]: ...
    def outputs(
        self,
        X: npt.ArrayLike,
        out: Optional[npt.NDArray[np.floating[Any]]] = ...,
        *,
        n_threads: int = ...,
    ) -> npt.NDArray[np.floating[Any]]: ...

def int8_path() -> str: ...
def int8_available(name: str) -> bool: ...
def select_int8_path(name: str) -> None: ...
