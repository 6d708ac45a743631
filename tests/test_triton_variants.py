"""The Triton variants kernel and the Triton median/nlm/bitdepth ops against the references.

Denoised pixels are compared bit for bit (through the kernel's pixels output), the normalised model
input within float tolerance. Outputs are poisoned first (NaN, or 77 for uint8 pixels alongside a
NaN model output written under the same mask) so an unwritten element fails. Without a GPU the
kernels run in Triton's interpreter (tests/conftest.py), which is slow: NLM shapes stay tiny.
"""
import math

import pytest
import torch

import ucfast
from tests import images as timg
from tests.oracles import opencv_nlm, per_image
from ucfast import backends, ops
from ucfast.images import to_uint8
from ucfast.reference import variants as ref
from ucfast.reference.bitdepth import bitdepth as ref_bitdepth
from ucfast.reference.median import median as ref_median
from ucfast.reference.nlm import nlm as ref_nlm

triton = pytest.importorskip("triton")
from ucfast.kernels import variants as tv  # noqa: E402  (after the skip: needs Triton)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
REF_DENOISE = {"median": ref_median, "nlm": ref_nlm, "bitdepth": ref_bitdepth}


def _tol(dtype):
    return {torch.float32: (1e-5, 1e-5), torch.bfloat16: (1.6e-2, 1e-2), torch.float16: (1e-3, 1e-3)}[dtype]


def _run(images, names, *, dtype=torch.float32, channels_last=False, amplify=1.0, mean=MEAN, std=STD,
         max_block=tv.MAX_BLOCK, tile=None):
    """The kernel's model input and denoised pixels, written into poisoned buffers."""
    n, _, h, w = images.shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = torch.full(((1 + len(names)) * n, 3, h, w), math.nan, dtype=dtype, device=images.device)
    out = out.contiguous(memory_format=fmt)
    pixels = torch.full((len(names), n, 3, h, w), 77, dtype=torch.uint8, device=images.device)
    got = tv.variants(images, tuple(names), amplify, mean, std, dtype, channels_last, out=out, pixels=pixels,
                      max_block=max_block, tile=tile)
    assert got is out
    return out, pixels


def _check(images, names, out, pixels, *, dtype=torch.float32, channels_last=False, amplify=1.0, mean=MEAN,
           std=STD):
    u8 = to_uint8(images.cpu()).contiguous()
    for i, name in enumerate(names):
        assert torch.equal(pixels[i].cpu(), REF_DENOISE[name](u8)), f"{name} pixels differ from the reference"
    want = ref.variants(images.cpu(), tuple(names), amplify, mean, std, dtype, channels_last)
    assert out.dtype == want.dtype and out.shape == want.shape
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert not out.isnan().any(), "unwritten output elements"
    rtol, atol = _tol(dtype)
    torch.testing.assert_close(out.cpu().float(), want.float(), rtol=rtol, atol=atol)


def _images(kind, n, h, w, dtype="uint8", lay="contiguous", seed=0):
    x = timg.make(kind, n, h, w, seed=seed)
    x = timg.as_float(x) if dtype == "float" else x
    return timg.layout(x, lay).to(DEVICE)


@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (32, 32), (33, 47)])
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("dtype", ["uint8", "float"])
def test_median_bitdepth_sizes_batches(h, w, n, dtype):
    x = _images("random", n, h, w, dtype, seed=h * w + n)
    names = ("median", "bitdepth")
    out, pixels = _run(x, names)
    _check(x, names, out, pixels)


@pytest.mark.parametrize("out_dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("lay", ["contiguous", "noncontiguous", "channels_last"])
def test_output_dtypes_formats_input_layouts(out_dtype, channels_last, lay):
    x = _images("smoothed", 3, 7, 13, lay=lay, seed=1)
    names = ("bitdepth", "median")
    out, pixels = _run(x, names, dtype=out_dtype, channels_last=channels_last, amplify=1.7)
    _check(x, names, out, pixels, dtype=out_dtype, channels_last=channels_last, amplify=1.7)


def test_many_small_tiles():
    x = _images("real", 2, 33, 47, "float", seed=2)
    out, pixels = _run(x, ("median", "bitdepth"), max_block=64)
    _check(x, ("median", "bitdepth"), out, pixels)


def test_float_inputs_round_half_to_even():
    # k/255 and the midpoints (k + 1/2)/255 in float32: to_uint8 rounds x * 255 half to even.
    v = torch.cat([torch.arange(256) / 255.0, (torch.arange(255) + 0.5) / 255.0, torch.tensor([0.5])])
    x = torch.stack([v, v.flip(0), v.roll(7)]).view(1, 3, 16, 32).to(DEVICE)
    out, pixels = _run(x, ("median", "bitdepth"))
    _check(x, ("median", "bitdepth"), out, pixels)


@pytest.mark.parametrize("h,w,n", [(1, 1, 1), (7, 13, 3), (33, 47, 1), (32, 32, 0)])
def test_nlm_pixels_exact(h, w, n):
    x = _images("smoothed", n, h, w, seed=h + w)
    out, pixels = _run(x, ("nlm",))
    _check(x, ("nlm",), out, pixels)


def test_nlm_equals_opencv_across_tiles():
    x = _images("real", 1, 7, 13, seed=3)
    out, pixels = _run(x, ("median", "nlm"), tile=(4, 7))  # 2 x 2 tiles, the last ones partial
    _check(x, ("median", "nlm"), out, pixels)
    assert torch.equal(pixels[1].cpu(), per_image(opencv_nlm, x.cpu()))


def test_all_denoisers_float_channels_last_bf16():
    x = _images("real", 1, 5, 9, "float", "channels_last", seed=4)
    names = ("nlm", "bitdepth", "median")
    out, pixels = _run(x, names, dtype=torch.bfloat16, channels_last=True, amplify=2.5)
    _check(x, names, out, pixels, dtype=torch.bfloat16, channels_last=True, amplify=2.5)


def test_registered_denoisers_match_torch_backend():
    x = _images("smoothed", 2, 6, 7, seed=5)
    for fn, kwargs in ((ucfast.median, {}), (ucfast.bitdepth, {"levels": 3}), (ucfast.bitdepth, {}),
                       (ucfast.nlm, {"h": 10.0, "h_color": 3.0, "template": 5, "search": 9})):
        got = fn(x, backend="triton", **kwargs)
        assert got.is_contiguous() and torch.equal(got.cpu(), fn(x.cpu(), backend="torch", **kwargs)), fn.__name__
    grey = x[:, :1].expand(-1, 3, -1, -1)  # stride 0 over channels: read in place
    assert torch.equal(ops.median(grey, "triton").cpu(), ref_median(grey.cpu().contiguous()))


def test_registered_variants_grey_expanded_input():
    x = _images("random", 2, 4, 5, seed=6)[:, :1].expand(-1, 3, -1, -1)
    got = ops.variants(x, "median,bitdepth", 1.0, list(MEAN), list(STD), torch.float32, False, "triton")
    want = ref.variants(x.cpu(), ("median", "bitdepth"), 1.0, MEAN, STD)
    torch.testing.assert_close(got.cpu(), want)


def test_triton_backend_available_here():
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8, device=DEVICE)
    assert backends.available("median", x.device, x)["triton"] == []
    assert backends.available("variants", x.device, x, ("median",), 1.0, MEAN, STD, torch.float32, False)["triton"] == []


def test_reasons_name_bad_arguments():
    x = torch.zeros(1, 3, 2, 2, dtype=torch.int32, device=DEVICE)
    why = backends.available("variants", x.device, x, ("median",), 1.0, MEAN, STD, torch.float64, False)["triton"]
    assert any("uint8 or float" in r for r in why) and any("model dtype" in r for r in why)
    assert any("uint8" in r for r in backends.available("median", x.device, x)["triton"])
    y = torch.zeros(1, 3, 2, 2, dtype=torch.uint8, device=DEVICE)
    assert any("template" in r for r in backends.available("nlm", y.device, y, 5.0, 5.0, 23, 13)["triton"])
    with pytest.raises(backends.BackendUnavailable, match="triton: .*model dtype"):
        ops.variants(y, "median", 1.0, list(MEAN), list(STD), torch.float64, False, "triton")


def test_reasons_without_interpreter_on_cpu(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    why = backends.available("median", x.device, x)["triton"]
    assert len(why) == 1 and "TRITON_INTERPRET" in why[0] and "not CUDA" in why[0]


def test_reasons_without_triton(monkeypatch):
    from ucfast.kernels import runtime

    monkeypatch.setattr(runtime, "triton_import_error", lambda: "ModuleNotFoundError: No module named 'triton'")
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8, device=DEVICE)
    logits = torch.zeros(2, 3, device=DEVICE)
    calls = {"median": (x,), "bitdepth": (x, 4), "nlm": (x, 5.0, 5.0, 7, 13),
             "variants": (x, ("median",), 1.0, MEAN, STD, torch.float32, False),
             "susceptibility": (logits, 2, "softmax", "l1")}
    for op, args in calls.items():
        why = backends.available(op, x.device, *args)["triton"]
        assert why == ["triton is not importable (ModuleNotFoundError: No module named 'triton')"], op


def test_import_without_triton_installed():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch, ucfast\n"
        "from ucfast import backends\n"
        "x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)\n"
        "why = backends.available('median', x.device, x)['triton']\n"
        "assert len(why) == 1 and why[0].startswith('triton is not importable'), why\n"
        "assert ucfast.median(x, backend='auto').shape == x.shape\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_autotune_configs_fit_sm90_registers():
    from ucfast.kernels.runtime import keep_configs

    configs = [triton.Config({}, num_warps=w) for w in (2, 4, 8, 16)]

    def warps(lanes, most):
        return [c.num_warps for c in keep_configs(configs, lanes, most)]

    assert warps(4096, 16) == [8, 16] and warps(64, 16) == [2]
    assert warps(16, 4) == [2]  # fewer lanes than threads: the fewest warps
    assert warps(1 << 16, 2) == [16]  # more than any config holds: the most warps
    nlm = tv._configs_without_spills(configs[1:], {}, SLOT_NLM=2, BLOCK=1024, BLOCK_E=2048)
    assert [(c.num_warps, c.maxnreg) for c in nlm] == [(16, 128)]
    plain = tv._configs_without_spills(configs[1:], {}, SLOT_NLM=0, BLOCK=1024, BLOCK_E=1)
    assert [(c.num_warps, c.maxnreg) for c in plain] == [(8, None), (16, None)]


def test_opcheck_variants():
    x = _images("random", 2, 5, 6, seed=7)
    args = (x, "median,bitdepth", 1.5, list(MEAN), list(STD), torch.bfloat16, True, "triton")
    torch.library.opcheck(ops.variants, args)


@pytest.mark.gpu
@pytest.mark.parametrize("h,w", [(224, 224), (32, 32), (237, 111)])
def test_gpu_large_images_exact(h, w):
    x = _images("real", 4, h, w, seed=h)
    names = ("median", "nlm", "bitdepth")
    out, pixels = _run(x, names, dtype=torch.bfloat16, channels_last=True)
    _check(x, names, out, pixels, dtype=torch.bfloat16, channels_last=True)
