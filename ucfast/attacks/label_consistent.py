"""Label-consistent backdoor (Turner et al. 2019), clean-label.

Target-class images are first made hard to classify with a PGD attack (L-inf ball of `eps` pixel
values, `steps` signed-gradient steps of `step_size`) against a surrogate model, so the model
must lean on the trigger to fit them; then the 3 x 3 corner pattern is added at reduced
amplitude: trigger pixels become clip(x + a) where the pattern is white and clip(x - a) where it
is black, a = 64 (in 0..255 units). corners="all" stamps all four corners, as Turner et al. do so
the trigger survives flips; "one" only the bottom-right. Labels are unchanged. The test-time
trigger uses `test_amplitude` (default 255, the full pattern).

The surrogate is a model given as `surrogate` (taking images normalised with mean/std), or a
small CNN trained here on the clean dataset for `surrogate_epochs`.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .badnets import PATTERN
from .base import PoisonedDataset, as_uint8_batch, to_uint8

CORNERS = ("all", "one")


class LabelConsistent(PoisonedDataset):
    """Label-consistent: PGD-perturbed target-class images with a faint corner trigger, labels kept."""

    name = "lc"
    clean_label = True

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, eps: float = 16.0,
                 steps: int = 10, step_size: float = 3.0, amplitude: float = 64.0, test_amplitude: float = 255.0,
                 corners: str = "all", surrogate: torch.nn.Module | None = None, mean=None, std=None,
                 surrogate_epochs: int = 4, device=None, progress: bool = False):
        if corners not in CORNERS:
            raise ValueError(f"corners must be one of {CORNERS}, got {corners!r}")
        for arg, value in (("eps", eps), ("step_size", step_size)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{arg} must be a non-negative number (0..255 pixel units), got {value!r}")
        for arg, value in (("amplitude", amplitude), ("test_amplitude", test_amplitude)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 255:
                raise ValueError(f"{arg} must be a number in (0, 255], got {value!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.eps, self.steps, self.step_size = float(eps), steps, float(step_size)
        self.amplitude, self.test_amplitude, self.corners = float(amplitude), float(test_amplitude), corners
        self._perturbed = self._adversarial(surrogate, mean, std, surrogate_epochs, device, progress)

    def _adversarial(self, surrogate, mean, std, epochs, device, progress) -> torch.Tensor:
        """PGD-perturbed copies of the chosen images, uint8 [P, 3, H, W]."""
        from .. import models, train
        from ..data.arrays import batches, stats

        if mean is None or std is None:
            mean, std = stats(self.dataset)
        if surrogate is None:
            surrogate = models.build("cnn", self.num_classes)
            train.fit(surrogate, self.dataset, epochs=epochs, mean=mean, std=std, seed=self.seed, device=device,
                      progress=progress)
        dev = next(surrogate.parameters()).device
        m = torch.as_tensor(mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        was_training = surrogate.training
        surrogate.eval()
        parts = []
        try:
            for images, labels, _ in batches(self.dataset, 256, indices=self.poison_indices):
                x0 = as_uint8_batch(images).to(dev).float()
                y = labels.to(dev)
                delta = torch.zeros_like(x0)
                for _ in range(self.steps):
                    delta.requires_grad_(True)
                    loss = F.cross_entropy(surrogate(((x0 + delta) / 255.0 - m) / s), y)
                    (grad,) = torch.autograd.grad(loss, delta)
                    with torch.no_grad():
                        delta = (delta + self.step_size * grad.sign()).clamp_(-self.eps, self.eps)
                        delta = (x0 + delta).clamp_(0, 255) - x0
                parts.append(to_uint8((x0 + delta).detach()).cpu())
        finally:
            surrogate.train(was_training)
        return torch.cat(parts)

    def trigger(self, images: torch.Tensor, amplitude: float) -> torch.Tensor:
        """The corner pattern added at `amplitude` to uint8 [B, 3, H, W] images."""
        b, _, h, w = images.shape
        ph, pw = PATTERN.shape
        if h < ph or w < pw:
            raise ValueError(f"images of {h} x {w} are smaller than the {ph} x {pw} trigger")
        sign = torch.zeros((h, w))
        signed = PATTERN.float() / 255 * 2 - 1  # +1 white, -1 black
        places = [(h - ph, w - pw)] if self.corners == "one" else [(0, 0), (0, w - pw), (h - ph, 0), (h - ph, w - pw)]
        for r, c in places:
            sign[r:r + ph, c:c + pw] = signed
        return to_uint8(images.float() + amplitude * sign)

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        return self.trigger(self._perturbed[ranks], self.amplitude)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        out = self.trigger(batch, self.test_amplitude)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "eps": self.eps, "steps": self.steps, "amplitude": self.amplitude,
                "test_amplitude": self.test_amplitude, "corners": self.corners}
