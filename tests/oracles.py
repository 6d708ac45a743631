"""The oracles the tests trust: scipy, OpenCV and the UltraClean authors' per-sample loop.

Benchmarks import the authors' loop from here rather than writing it twice.
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage
import torch


def scipy_median(img_hwc: np.ndarray) -> np.ndarray:
    """The authors' median: size (2, 2, 3), mode reflect, on an H x W x 3 uint8 image."""
    return scipy.ndimage.median_filter(img_hwc, size=(2, 2, 3), mode="reflect")


def opencv_nlm(img_hwc: np.ndarray, h=5, h_color=5, template=7, search=13) -> np.ndarray:
    """The authors' NLM: cv2.fastNlMeansDenoisingColored on an H x W x 3 uint8 image."""
    return cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(img_hwc), None, h, h_color, template, search)


def per_image(fn, images_nchw: torch.Tensor) -> torch.Tensor:
    """Apply an H x W x 3 numpy oracle to each image of an N x 3 x H x W uint8 batch."""
    out = [torch.from_numpy(fn(img.permute(1, 2, 0).contiguous().numpy())).permute(2, 0, 1) for img in images_nchw]
    return torch.stack(out) if out else torch.empty_like(images_nchw.contiguous())


def authors_scores(images_nchw: torch.Tensor, model: torch.nn.Module, mean, std, space: str = "softmax"):
    """UltraClean as published: one image at a time on the CPU, scipy median and OpenCV NLM,
    three batch-1 forwards, L1 between outputs. Returns (total [N], {"median": [N], "nlm": [N]})."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def out(img_hwc: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(img_hwc).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        logits = model((x - m) / s)[0].double()  # double after the model: the oracle's own rounding stays small
        return torch.softmax(logits, 0) if space == "softmax" else logits

    was_training = model.training
    model.eval()
    med, nlm = [], []
    with torch.no_grad():
        for img in images_nchw:
            hwc = img.permute(1, 2, 0).contiguous().numpy()
            p = out(hwc)
            med.append(float((p - out(scipy_median(hwc))).abs().sum()))
            nlm.append(float((p - out(opencv_nlm(hwc))).abs().sum()))
    model.train(was_training)
    med, nlm = np.asarray(med), np.asarray(nlm)
    return med + nlm, {"median": med, "nlm": nlm}
