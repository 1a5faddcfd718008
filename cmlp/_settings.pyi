# Internal compiled module (cmlp/_settings.pyx): typed as Any for mypy over the package; not
# shipped in the wheel and not part of the public API.
from typing import Any

def __getattr__(name: str) -> Any: ...
