"""The suspect model of a sanitize job: an architecture name plus a state-dict checkpoint (loaded
with weights_only=True), a TorchScript file, a torch.export (.pt2) file, or a module given in Python.

The job records the model's sha256 (of the checkpoint file, or of a given module's state dict) so
a resumed run with another model is refused.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile

import torch

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
PREFIXES = ("module.", "_orig_mod.")


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def module_sha256(module: torch.nn.Module) -> str:
    """A digest of a module's state dict: names, dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            digest.update(f"{name} {t.dtype} {tuple(t.shape)}\0".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def archive_format(path: str) -> str:
    """'torchscript', 'export' or 'state_dict' from the checkpoint's archive layout."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
            return "export"
        if any("/code/" in n or n.startswith("code/") for n in names):
            return "torchscript"
    return "state_dict"


def _unwrap(state, path: str) -> dict:
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        out = dict(state)
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix):]: v for k, v in out.items()}
        return out
    if isinstance(state, dict):
        for key in WRAPPER_KEYS:
            if isinstance(state.get(key), dict):
                return _unwrap(state[key], path)
    raise ValueError(
        f"checkpoint {path} holds no state dict (a dict of tensors, or one under {WRAPPER_KEYS});"
        f" got {type(state).__name__}{' with keys ' + str(sorted(state)[:8]) if isinstance(state, dict) else ''}"
    )


def infer_num_classes(state: dict, path: str) -> int:
    """Output size of the last 2-D weight in the state dict (the classifier)."""
    for name in reversed(list(state)):
        t = state[name]
        if name.endswith("weight") and t.dim() == 2 and t.dtype.is_floating_point:
            return int(t.shape[0])
    raise ValueError(f"cannot tell the number of classes from checkpoint {path}; give num_classes (CLI --num-classes)")


def build_arch(arch: str, num_classes: int) -> tuple[torch.nn.Module, str]:
    """An untrained `arch` with `num_classes` outputs from ucfast.models (torchvision names where it imports)."""
    from .. import models

    try:
        model = models.build(arch, num_classes)
    except (ValueError, TypeError) as e:
        raise ValueError(f"arch: {e}") from None
    return model, "ucfast.models" if arch.lower() in models.MODELS else "torchvision.models"


def fixed_batch(program) -> tuple | None:
    """The input shape of a torch.export program traced at a fixed batch size (dim 0 an int), else None."""
    inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in inputs:
            shape = getattr(node.meta.get("val"), "shape", None)
            if shape is not None and len(shape) and isinstance(shape[0], int):
                return tuple(int(d) if isinstance(d, int) else str(d) for d in shape)
            return None
    return None


def load_model(arch: str | None, checkpoint, *, num_classes: int | None = None,
               batch: int | None = None) -> tuple[torch.nn.Module, dict]:
    """(model on the CPU in eval mode, info for the job and the report). `batch`: the rows of one
    forward (batch size x variants); a torch.export file traced at another fixed batch is refused."""
    if checkpoint is None:
        raise ValueError("checkpoint is required (CLI --checkpoint): a state dict saved with torch.save, a TorchScript"
                         " file or a torch.export .pt2 file")
    path = os.path.abspath(os.fspath(checkpoint))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist or is not a file")
    info = {"checkpoint": path, "sha256": file_sha256(path), "format": archive_format(path), "arch": arch}
    if info["format"] == "torchscript":
        model = torch.jit.load(path, map_location="cpu")
        info["source"] = "torch.jit"
    elif info["format"] == "export":
        program = torch.export.load(path)
        shape = fixed_batch(program)
        if shape is not None and batch is not None:
            raise ValueError(
                f"checkpoint {path} is a torch.export program traced at the fixed input shape {list(shape)}, but"
                f" ucfast runs {batch} rows per forward (batch size x variants, fewer in the last batch); export it"
                " with a dynamic batch: torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("
                "'batch')},))")
        model = program.module()
        info["source"] = "torch.export"
    else:
        if arch is None:
            raise ValueError(f"checkpoint {path} is a state dict: name its architecture with arch= (CLI --arch)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
            raise ValueError(
                f"checkpoint {path} cannot be loaded with weights_only=True ({type(e).__name__}: {str(e)[:300]});"
                " save the weights alone with torch.save(model.state_dict(), path), or script/export the model"
            ) from None
        state = _unwrap(state, path)
        k = num_classes if num_classes is not None else infer_num_classes(state, path)
        model, info["source"] = build_arch(arch, k)
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as e:
            raise ValueError(f"checkpoint {path} does not fit architecture {arch!r} with {k} classes: {e}") from None
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"checkpoint {path} does not fit architecture {arch!r} with {k} classes: missing keys"
                f" {result.missing_keys[:6]}{' ...' if len(result.missing_keys) > 6 else ''}, unexpected keys"
                f" {result.unexpected_keys[:6]}{' ...' if len(result.unexpected_keys) > 6 else ''}"
            )
        info["num_classes"] = k
    if isinstance(model, torch.nn.Module):
        try:
            model.eval()
        except NotImplementedError:  # torch.export modules have no train/eval switch
            pass
    return model, info


def module_info(model: torch.nn.Module) -> dict:
    """Info for a model given in Python (not loaded from a file)."""
    return {"checkpoint": None, "sha256": module_sha256(model), "format": "module", "arch": type(model).__name__,
            "source": "python"}
