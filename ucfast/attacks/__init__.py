"""Backdoor attacks as dataset wrappers that record the ground truth: `ucfast.attacks.build`.

    attack = ucfast.attacks.build("badnets", train_set, target=0, rate=0.1, seed=0)
    attack[i]               -> (image uint8 [3, H, W], label), poisoned where attack.poison_mask[i]
    attack.poison_mask      -> bool [N], the payload: the ground truth for ucfast.metrics.detection
    attack.cover_mask       -> bool [N], cover samples: triggered but with their true labels
    attack.test_set(test)   -> TriggeredSet: the triggered source-class test images, true labels,
                               and `intended` (the label the attack wants each one predicted as)
    attack.apply_trigger(x) -> uint8 images with the test-time trigger

`rate` is the share of the whole training set in the payload; clean-label attacks (sig, lc)
draw those samples from the target class, dirty-label ones (badnets, blended, wanet) from the
other classes and relabel them to `target`. noise-blend and wave are dirty-label global triggers
that survive the median and NLM filters (poisoned samples become the least susceptible).

Attacks made to defeat latent-separation defences add `cover_rate` (default: rate) cover samples:
adap-blend and adap-patch (Qi et al. 2023: partial blend pieces, subsets of four patches, weaker
in training than at test time) and tact (Tang et al. 2021: payload only from `sources`, the ASR
measured on those classes). all-to-all relabels every class y to (y + 1) % K; two-targets plants
two triggers for `target` and `second_target`.
"""
from __future__ import annotations

from .adap_blend import AdaptiveBlend
from .adap_patch import AdaptivePatch
from .all_to_all import AllToAll
from .badnets import PATTERN, BadNets
from .base import PoisonedDataset, TriggeredSet
from .blended import Blended
from .label_consistent import LabelConsistent
from .noise_blend import NoiseBlend
from .sig import SIG
from .tact import TaCT
from .two_targets import TwoTargets
from .wanet import WaNet
from .wave import Wave

ATTACKS = {"badnets": BadNets, "blended": Blended, "sig": SIG, "lc": LabelConsistent, "wanet": WaNet,
           "noise-blend": NoiseBlend, "wave": Wave, "adap-blend": AdaptiveBlend, "adap-patch": AdaptivePatch,
           "tact": TaCT, "all-to-all": AllToAll, "two-targets": TwoTargets}
_ALIASES = {"label-consistent": "lc", "label_consistent": "lc", "blend": "blended", "noise_blend": "noise-blend",
            "adaptive-blend": "adap-blend", "adap_blend": "adap-blend", "adaptive-patch": "adap-patch",
            "adap_patch": "adap-patch", "all_to_all": "all-to-all", "two_targets": "two-targets"}


def build(name: str, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, **options) -> PoisonedDataset:
    """The poisoned view of `dataset` under attack `name` (see ATTACKS; options go to its class)."""
    if not isinstance(name, str):
        raise TypeError(f"attack name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {sorted(ATTACKS)}")
    return ATTACKS[key](dataset, target=target, rate=rate, seed=seed, **options)


__all__ = ["build", "ATTACKS", "PoisonedDataset", "TriggeredSet", "BadNets", "Blended", "SIG", "LabelConsistent",
           "WaNet", "NoiseBlend", "Wave", "AdaptiveBlend", "AdaptivePatch", "TaCT", "AllToAll", "TwoTargets", "PATTERN"]
