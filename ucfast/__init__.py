"""ucfast: find poisoned (backdoored) samples in image training sets with UltraClean, fast."""
from importlib.util import find_spec as _find_spec

if _find_spec("ucfast.kernels") is None:  # setup.py maps kernels/ to ucfast.kernels when it installs ucfast
    raise ImportError(f"ucfast is imported from a source checkout that was not installed ({__path__[0]}): run"
                      " `pip install -e .` in the checkout (it builds the compiled modules and maps kernels/ to"
                      " ucfast.kernels)")

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from . import kernels  # noqa: F401,E402  (registers the Triton backend where Triton imports)
from . import metrics, models  # noqa: E402
from .ops import backends, compiled  # noqa: E402
from .ops import cpu as _cpu_backend  # noqa: F401,E402  (registers the compiled cpu backend)
from .ops import cuda as _cuda_backend  # noqa: F401,E402  (registers the compiled cuda backend)
from .ops import torch_backend as _torch_backend  # noqa: F401,E402  (registers the torch reference)
from .ops.backends import BackendUnavailable, ReferenceFallback  # noqa: E402
from . import detect  # noqa: E402
from .denoise import bitdepth, median, nlm  # noqa: E402
from .scores import Scores  # noqa: E402
from .scoring import score  # noqa: E402
from .sanitize import SanitizeSettings, sanitize  # noqa: E402
from .clean import CleanSettings, clean  # noqa: E402
from .selection import Selection, select  # noqa: E402

try:
    __version__ = _version("ucfast")
except _NotInstalled:
    __version__ = "0+unknown"

__all__ = ["score", "select", "sanitize", "SanitizeSettings", "clean", "CleanSettings", "detect", "Scores", "Selection", "metrics", "models", "median", "nlm",
           "bitdepth", "backends", "BackendUnavailable", "ReferenceFallback", "__version__"]
