"""ucfast: find poisoned (backdoored) samples in image training sets with UltraClean, fast."""
from . import backends, metrics, models, torch_backend  # noqa: F401  (torch_backend registers the references)
from . import kernels  # noqa: F401  (registers the Triton backend where Triton imports)
from . import compiled  # noqa: F401  (registers the compiled cpu and cuda backends)
from .denoise import bitdepth, median, nlm
from .scores import Scores
from .scoring import score
from .sanitize import sanitize
from .selection import Selection, select

__version__ = "0.1.0"
__all__ = ["score", "select", "sanitize", "Scores", "Selection", "metrics", "models", "median", "nlm", "bitdepth",
           "backends"]
