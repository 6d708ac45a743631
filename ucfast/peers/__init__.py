"""Peer detectors, as their authors run them, on the penultimate features of `ucfast.Scores`.

    result = ucfast.peers.scan(scores)          # or spectral_signatures, activation_clustering
    result.values    # [N] float64, higher = more suspect, aligned with scores (one global ranking)
    result.removed   # [N] bool, the peer's own removal rule as its authors set it
    result.info      # settings and per-class statistics

spectral.py               Spectral Signatures (Tran, Li, Madry 2018): top singular direction per class
activation_clustering.py  Activation Clustering (Chen et al. 2018): 2-means per class, the small cluster
scan.py                   SCAn (Tang et al. 2021): two-component decomposition, untangling, J* > e^2

They need `ucfast.score(..., features=True)` and use numpy only.
"""
from ._base import PeerResult
from .activation_clustering import activation_clustering
from .scan import scan
from .spectral import spectral_signatures

PEERS = {"spectral_signatures": spectral_signatures, "activation_clustering": activation_clustering, "scan": scan}

__all__ = ["spectral_signatures", "activation_clustering", "scan", "PeerResult", "PEERS"]
