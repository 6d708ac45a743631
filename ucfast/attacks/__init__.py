"""Backdoor attacks as dataset wrappers that record the ground truth: `ucfast.attacks.build`.

    attack = ucfast.attacks.build("badnets", train_set, target=0, rate=0.1, seed=0)
    attack[i]               -> (image uint8 [3, H, W], label), poisoned where attack.poison_mask[i]
    attack.poison_mask      -> bool [N], the ground truth for ucfast.metrics.detection
    attack.test_set(test)   -> the triggered non-target test images, for the attack success rate
    attack.apply_trigger(x) -> uint8 images with the test-time trigger

`rate` is the share of the whole training set that is poisoned; clean-label attacks (sig, lc)
draw those samples from the target class, dirty-label ones (badnets, blended, wanet) from the
other classes and relabel them to `target`. noise-blend and wave are dirty-label global triggers
that survive the median and NLM filters (poisoned samples become the least susceptible).
"""
from __future__ import annotations

from .badnets import PATTERN, BadNets
from .base import PoisonedDataset
from .blended import Blended
from .label_consistent import LabelConsistent
from .noise_blend import NoiseBlend
from .sig import SIG
from .wanet import WaNet
from .wave import Wave

ATTACKS = {"badnets": BadNets, "blended": Blended, "sig": SIG, "lc": LabelConsistent, "wanet": WaNet,
           "noise-blend": NoiseBlend, "wave": Wave}
_ALIASES = {"label-consistent": "lc", "label_consistent": "lc", "blend": "blended", "noise_blend": "noise-blend"}


def build(name: str, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, **options) -> PoisonedDataset:
    """The poisoned view of `dataset` under attack `name` (see ATTACKS; options go to its class)."""
    if not isinstance(name, str):
        raise TypeError(f"attack name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {sorted(ATTACKS)}")
    return ATTACKS[key](dataset, target=target, rate=rate, seed=seed, **options)


__all__ = ["build", "ATTACKS", "PoisonedDataset", "BadNets", "Blended", "SIG", "LabelConsistent", "WaNet", "NoiseBlend",
           "Wave", "PATTERN"]
