"""ucfast: find poisoned (backdoored) samples in image training sets with UltraClean, fast."""
from . import backends, metrics, models, torch_backend  # noqa: F401  (torch_backend registers the references)
from . import kernels  # noqa: F401  (registers the Triton backend where Triton imports)
from .denoise import bitdepth, median, nlm
from .scores import Scores
from .scoring import score
from .selection import Selection, select

__version__ = "0.1.0"
__all__ = ["score", "select", "Scores", "Selection", "metrics", "models", "median", "nlm", "bitdepth",
           "backends"]
