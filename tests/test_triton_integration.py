"""The Triton backend inside torch and ucfast: torch.compile through the scoring step, and backend choice.

`ucfast.scoring.score_batch` (variants op -> model -> susceptibility op) must trace as one graph, the
two custom ops opaque in it through their fake implementations. Asking for backend="triton" where it
cannot run is an error that says why; `auto` takes Triton on CUDA when the compiled CUDA backend is absent.
"""
import pytest
import torch
from torch._dynamo.backends.debugging import aot_eager

import ucfast
from tests import images as timg
from ucfast import backends, ops
from ucfast.engine import score_batch

pytest.importorskip("triton")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
DENOISERS = ("median", "bitdepth")


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 5)).eval().to(DEVICE)


@pytest.mark.parametrize("channels_last", [False, True])
def test_compile_traces_score_batch_in_one_graph(channels_last):
    model = _model()
    x = timg.make("random", 2, 6, 7, seed=1).to(DEVICE)
    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return aot_eager(gm, example_inputs)

    torch._dynamo.reset()
    step = torch.compile(score_batch, fullgraph=True, backend=record)
    kwargs = {"space": "softmax", "distance": "kl", "amplify": 1.5, "channels_last": channels_last}
    with torch.inference_mode():  # as ucfast.score runs it
        got = step(model, x, DENOISERS, MEAN, STD, backend="triton", **kwargs)
        eager = score_batch(model, x, DENOISERS, MEAN, STD, backend="triton", **kwargs)
        want = score_batch(model, x, DENOISERS, MEAN, STD, backend="torch", **kwargs)
    assert len(graphs) == 1
    targets = {node.target for node in graphs[0].graph.nodes if node.op == "call_function"}
    assert {torch.ops.ucfast.variants.default, torch.ops.ucfast.susceptibility.default} <= targets
    for g, e, w in zip(got, eager, want):
        assert torch.equal(g, e)
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def _loader():
    x = timg.make("random", 3, 5, 5, seed=2)
    return [(x, torch.zeros(3, dtype=torch.int64))]


def test_triton_without_gpu_or_interpreter_is_an_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    model = _model().cpu()
    with pytest.raises(backends.BackendUnavailable, match=r"backend='triton'.*\n  triton: .*TRITON_INTERPRET"):
        ucfast.score(_loader(), model, denoisers=DENOISERS, backend="triton", device="cpu", progress=False)
    with pytest.raises(backends.BackendUnavailable, match="not CUDA"):
        ops.susceptibility(torch.zeros(4, 3), 2, "softmax", "l1", "triton")


def test_triton_not_importable_is_an_error(monkeypatch):
    from ucfast.kernels import runtime

    monkeypatch.setattr(runtime, "triton_import_error", lambda: "ModuleNotFoundError: No module named 'triton'")
    with pytest.raises(backends.BackendUnavailable, match="triton: triton is not importable"):
        ucfast.score(_loader(), _model(), denoisers=DENOISERS, backend="triton", progress=False)


def test_auto_takes_triton_on_cuda_without_the_compiled_cuda_backend(monkeypatch):
    cuda = torch.device("cuda")  # the reasons look at the device only: no GPU needed to ask
    logits = torch.zeros(4, 3)
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    for op, args in (("susceptibility", (logits, 2, "softmax", "l1")),
                     ("variants", (x, ("median",), 1.0, MEAN, STD, torch.bfloat16, True))):
        monkeypatch.delitem(backends._REGISTRY[op], "cuda", raising=False)
        assert backends.resolve(op, "auto", cuda, *args)[0] == "triton", op
