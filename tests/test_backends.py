"""Backend dispatch: explicit choice, environment override, and errors that list every reason."""
import pytest
import torch

import ucfast
from ucfast import backends


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        ucfast.median(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), backend="fastest")


def test_env_var_overrides_auto(monkeypatch):
    monkeypatch.setenv(backends.ENV_VAR, "torch")
    assert backends.requested("auto") == "torch"
    assert backends.requested("cpu") == "cpu"
    monkeypatch.setenv(backends.ENV_VAR, "bogus")
    with pytest.raises(ValueError, match="UCFAST_BACKEND"):
        backends.requested("auto")


def test_unavailable_backend_lists_why():
    backends.register("test_only_op", "torch", lambda x: x, lambda device, x: ["it is a test"])
    with pytest.raises(backends.BackendUnavailable) as err:
        backends.resolve("test_only_op", "auto", torch.device("cpu"), torch.zeros(1))
    text = str(err.value)
    assert "torch: it is a test" in text and "cpu: no cpu implementation of test_only_op" in text


def test_torch_backend_runs_every_op():
    for op in ("median", "median_kxk", "nlm", "bitdepth", "variants", "susceptibility"):
        assert backends.available(op, torch.device("cpu"))["torch"] == []
