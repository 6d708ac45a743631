"""`Scores`: per-sample susceptibility aligned with dataset positions, with save/load."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Scores:
    """Scores of N samples, sorted by dataset position.

    total[i], components[name][i], pred[i], label[i] and features[i] belong to dataset position
    index[i]; when the whole dataset was scored, index is 0..N-1 and entry i is dataset item i.
    features, when scoring was asked for them (`ucfast.score(..., features=True)`), are the
    penultimate-layer activations of the original images; otherwise None.
    """

    total: np.ndarray  # [N] float32
    components: dict[str, np.ndarray]  # {denoiser: [N] float32}
    pred: np.ndarray  # [N] int64, argmax on the original image
    label: np.ndarray  # [N] int64
    index: np.ndarray  # [N] int64, dataset positions, ascending
    settings: dict = field(default_factory=dict)
    features: np.ndarray | None = None  # [N, D] float32, or None

    def __len__(self) -> int:
        return int(self.total.shape[0])

    def __repr__(self) -> str:
        parts = ", ".join(self.components)
        feats = "" if self.features is None else f", features={self.features.shape[1]}-d"
        return f"Scores(n={len(self)}, components=[{parts}]{feats}, settings={self.settings})"

    def save(self, path) -> None:
        """Write an .npz holding every array and the settings."""
        arrays = {"total": self.total, "pred": self.pred, "label": self.label, "index": self.index}
        arrays.update({f"component/{k}": v for k, v in self.components.items()})
        if self.features is not None:
            arrays["features"] = self.features
        arrays["settings"] = np.frombuffer(json.dumps(self.settings).encode(), dtype=np.uint8)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> "Scores":
        """Read what `save` wrote."""
        with np.load(path) as z:
            components = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("component/")}
            settings = json.loads(z["settings"].tobytes().decode()) if "settings" in z.files else {}
            features = z["features"] if "features" in z.files else None
            return cls(z["total"], components, z["pred"], z["label"], z["index"], settings, features)
