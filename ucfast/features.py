"""Penultimate features from the scoring forward: a hook that keeps the rows of the original images."""
from __future__ import annotations

import torch


class FeatureCapture:
    """A forward hook that keeps, per batch, the features of the original images: the first `rows`
    rows of a layer's [V*B, ...] activations in the scoring forward, flattened to [B, D], left on the
    device (the engine copies them to the host with the batch's scores). features=True / "auto" hooks
    the input of the model's last `torch.nn.Linear` (the classifier head); a module name hooks that
    module's output.
    """

    def __init__(self, model, features):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"features={features!r} needs model to be a torch.nn.Module (to hook a layer),"
                            f" got {type(model).__name__}")
        if features is True or features == "auto":
            heads = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
            if not heads:
                raise ValueError(f"features={features!r} hooks the input of the classifier head (the model's last"
                                 " torch.nn.Linear) but the model has no torch.nn.Linear; pass features=<module name>"
                                 " or features=False")
            self.layer, self.module = heads[-1]
            self.head = True
            self.where = f"input of {self.layer}"
        elif isinstance(features, str):
            try:
                self.module = model.get_submodule(features)
            except AttributeError:
                names = [name for name, _ in model.named_modules() if name]
                raise ValueError(f"features={features!r} names no module of the model; module names:"
                                 f" {names[:40]}{' ...' if len(names) > 40 else ''}") from None
            self.layer = features
            self.head = False
            self.where = f"output of {self.layer}"
        else:
            raise ValueError(f"features must be False, True, 'auto' or a module name, got {features!r}")
        self.rows = 0
        self.batch = None
        self.handle = None

    @classmethod
    def resolve(cls, model, features) -> "FeatureCapture | None":
        """The capture `features` asks for: None for False; for "auto", None when the model has no
        torch.nn.Linear head to hook (or is not a module); True or a module name must be found."""
        if features is False or features is None:
            return None
        if features == "auto" and (not isinstance(model, torch.nn.Module)
                                   or not any(isinstance(m, torch.nn.Linear) for m in model.modules())):
            return None
        return cls(model, features)

    def open(self) -> None:
        """Register the hook (`close` removes it)."""
        if self.head:
            self.handle = self.module.register_forward_pre_hook(lambda _m, args: self._keep(args[0]))
        else:
            self.handle = self.module.register_forward_hook(lambda _m, _args, out: self._keep(out))

    def _keep(self, x) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] < self.rows:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"features: the {self.where} must be a tensor with at least {self.rows} rows, got {got}")
        self.batch = x[:self.rows].reshape(self.rows, -1)  # [B, D] on the device

    def take(self) -> torch.Tensor:
        """The features the last forward captured (rows of the original images)."""
        if self.batch is None:
            raise ValueError(f"features: the {self.where} did not run in the model's forward")
        out, self.batch = self.batch, None
        return out

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
