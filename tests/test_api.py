"""The public API: what the package root exports, what a result records, and the engine's options."""
import dataclasses
import importlib.metadata
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ucfast
from tests import images as timg
from ucfast.ops import compiled

ROOT = Path(__file__).resolve().parents[1]
MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.2, 0.3)


def _loader(n=12, batch=5):
    x = timg.make("real", n, 17, 19, seed=3)
    return torch.utils.data.DataLoader(list(zip(x, torch.arange(n) % 4)), batch_size=batch)


def _model():
    torch.manual_seed(0)
    return ucfast.models.build("cnn", 4).eval()


def test_root_exports_what_the_readme_documents():
    for name in ("score", "select", "sanitize", "SanitizeSettings", "detect", "Scores", "Selection", "metrics",
                 "models", "median", "nlm", "bitdepth", "backends", "BackendUnavailable", "ReferenceFallback"):
        assert hasattr(ucfast, name), name
        assert name in ucfast.__all__, name
    assert ucfast.__version__ == importlib.metadata.version("ucfast")
    assert (Path(ucfast.__file__).parent / "py.typed").exists()
    assert issubclass(ucfast.BackendUnavailable, RuntimeError)


def test_public_functions_take_about_a_dozen_keywords():
    for fn in (ucfast.score, ucfast.select, ucfast.sanitize, ucfast.median, ucfast.nlm, ucfast.bitdepth):
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD]
        keywords = [p for p in params if p.kind == p.KEYWORD_ONLY]
        assert len(keywords) <= 13, (fn.__name__, len(keywords))
        assert all(p.annotation is not inspect.Parameter.empty for p in params ), fn.__name__


def test_an_uninstalled_checkout_says_to_install():
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import ucfast"
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0
    assert "pip install -e ." in done.stderr and "circular" not in done.stderr


def test_scores_record_the_backends_that_ran_and_keep_features_by_default():
    s = ucfast.score(_loader(), _model(), mean=MEAN, std=STD, progress=False)
    assert s.settings["backends"] == {"variants": "cpu", "susceptibility": "cpu"}
    assert s.settings["precision"] == "fp32" and s.settings["features"] == "input of fc"
    assert s.features is not None and s.features.shape[0] == 12 and s.features.dtype == np.float32
    plain = ucfast.score(_loader(), _model(), mean=MEAN, std=STD, progress=False, features=False, backend="torch")
    assert plain.features is None and plain.settings["backends"] == {"variants": "torch", "susceptibility": "torch"}
    np.testing.assert_allclose(plain.total, s.total, rtol=1e-5, atol=1e-7)


def test_a_model_without_a_linear_head_scores_without_features():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    s = ucfast.score(_loader(), model, progress=False)
    assert s.features is None and s.settings["features"] is None
    with pytest.raises(ValueError, match="no torch.nn.Linear"):
        ucfast.score(_loader(), model, progress=False, features=True)


def test_auto_landing_on_the_reference_warns_with_the_reason(monkeypatch):
    monkeypatch.delenv(ucfast.backends.ENV_VAR, raising=False)
    monkeypatch.setattr(compiled, "CPU_ERROR", "ucfast._cpu is not built (simulated)")
    with pytest.warns(ucfast.ReferenceFallback, match=r"slow torch reference(.|\n)*not built \(simulated\)"):
        s = ucfast.score(_loader(), _model(), mean=MEAN, std=STD, progress=False)
    assert s.settings["backends"] == {"variants": "torch", "susceptibility": "torch"}


def test_bf16_precision_writes_bf16_input_and_stays_close():
    want = ucfast.score(_loader(), _model(), mean=MEAN, std=STD, progress=False)
    got = ucfast.score(_loader(), _model(), mean=MEAN, std=STD, progress=False, precision="bf16",
                       channels_last=True)
    assert got.settings["input_dtype"] == "torch.bfloat16" and got.settings["channels_last"]
    assert np.corrcoef(got.total, want.total)[0, 1] > 0.9
    with pytest.raises(ValueError, match="precision must be one of"):
        ucfast.score(_loader(), _model(), progress=False, precision="fp8")


def test_sanitize_settings_is_the_one_configuration(tmp_path):
    cfg = ucfast.SanitizeSettings(ratio=0.1, batch_size=4)
    assert ucfast.SanitizeSettings.from_options(cfg, {"crop": 8}) == dataclasses.replace(cfg, crop=8)
    with pytest.raises(TypeError, match="unknown sanitize option.*'ration'"):
        ucfast.sanitize(str(tmp_path), out=str(tmp_path / "o"), ration=0.1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ucfast.sanitize(str(tmp_path), out=str(tmp_path / "o"), settings=cfg, batch_size=0)
    with pytest.raises(ValueError, match="ratio must be a fraction"):
        ucfast.SanitizeSettings(ratio=2.0).checked()
    a = ucfast.SanitizeSettings(workers=1).checked().fingerprint(precision="fp32")
    b = ucfast.SanitizeSettings(workers=3, ratio=0.2).checked().fingerprint(precision="fp32")
    c = ucfast.SanitizeSettings(crop=8).checked().fingerprint(precision="fp32")
    assert a["sha256"] == b["sha256"] != c["sha256"]
    assert not os.path.exists(tmp_path / "o")
