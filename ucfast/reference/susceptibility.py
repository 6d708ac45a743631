"""Reference susceptibility: how far the model output moves from the original to each variant.

logits are [V*B, K] with the original images first and then one block of B per variant, the
order the variants op writes. The reference computes in float64 (softmax differences cancel, so
float32 leaves ~1e-5 relative noise on small scores); the fast kernels use float32 and are tested
against it with a tolerance. Outputs are float32.
"""
from __future__ import annotations

import torch

SPACES = ("softmax", "logits")
DISTANCES = ("l1", "l2", "kl")


def check_space_distance(space: str, distance: str) -> None:
    """The output space and distance rules every backend shares."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if distance == "kl" and space != "softmax":
        raise ValueError("distance='kl' compares probability distributions and needs space='softmax'")


def check_args(logits: torch.Tensor, num_variants: int, space: str, distance: str) -> tuple[int, int]:
    """Every backend's argument rules, with the same messages; returns (B, K)."""
    check_space_distance(space, distance)
    if logits.dim() != 2 or num_variants < 1 or logits.shape[0] % num_variants:
        raise ValueError(f"logits must be [V*B, K] with V = num_variants = {num_variants}, got shape"
                         f" {tuple(logits.shape)}")
    return logits.shape[0] // num_variants, logits.shape[1]


def susceptibility(logits: torch.Tensor, num_variants: int, space: str = "softmax", distance: str = "l1"):
    """Per-sample score [B], per-variant distances [V-1, B] and prediction [B] (argmax of the original).

    `num_variants` is V, counting the original. Distances: l1 = sum |p - q|, l2 = sqrt(sum (p - q)^2),
    kl = KL(p || q) = sum p (log p - log q) with p the original (softmax space only).
    """
    b, k = check_args(logits, num_variants, space, distance)
    z = logits.double().reshape(num_variants, b, k)  # [V, B, K]
    pred = z[0].argmax(dim=1)
    if distance == "kl":
        logp = torch.log_softmax(z, dim=2)
        dist = (logp[0].exp() * (logp[0] - logp[1:])).sum(dim=2)
    else:
        out = torch.softmax(z, dim=2) if space == "softmax" else z
        diff = out[0] - out[1:]  # [V-1, B, K]
        dist = diff.abs().sum(dim=2) if distance == "l1" else diff.square().sum(dim=2).sqrt()
    return dist.sum(dim=0).float(), dist.float(), pred
