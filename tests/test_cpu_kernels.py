"""The compiled CPU backend (ucfast._cpu) exactly against scipy, OpenCV and the references.

Shapes hit every code path (1 x 1, 2 x 2, odd, non-powers of two, batch 0, 1, 5), inputs are uint8
and float in contiguous, non-contiguous and channels_last layouts, images random, smoothed and real.
"""
import numpy as np
import pytest
import scipy.ndimage
import torch

import ucfast
from tests import images as timg
from tests.oracles import opencv_nlm, per_image, scipy_median
from ucfast import backends, compiled, ops
from ucfast.ops import cpu as cpu_backend
from ucfast.reference import bitdepth as ref_bitdepth
from ucfast.reference import median as ref_median
from ucfast.reference import nlm as ref_nlm
from ucfast.reference import susceptibility as ref_susceptibility
from ucfast.reference import variants as ref_variants

SIZES = [(1, 1), (2, 2), (7, 13), (32, 32), (237, 111)]
KINDS = ["random", "smoothed", "real"]
LAYOUTS = ["contiguous", "noncontiguous", "channels_last"]
CPU = torch.device("cpu")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def batch(kind, h, w, seed=0):
    return timg.make(kind, 1 if h * w > 5000 else 5, h, w, seed=seed + h * w)


def test_cpu_module_is_built():
    assert compiled.CPU_ERROR is None, compiled.CPU_ERROR


@pytest.mark.parametrize("op", compiled.OPS)
def test_auto_picks_cpu_on_the_cpu(op, monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    args = {"median": (x,), "median_kxk": (x, 3), "nlm": (x, 5.0, 5.0, 7, 13), "bitdepth": (x, 4),
            "variants": (x, ("median",), 1.0, MEAN, STD, torch.float32, False),
            "susceptibility": (torch.zeros(4, 10), 2, "softmax", "l1")}[op]
    name, _ = backends.resolve(op, "auto", CPU, *args)
    assert name == "cpu"


def test_missing_module_is_listed_with_its_reason(monkeypatch):
    monkeypatch.setattr(compiled, "CPU_ERROR", "the compiled module ucfast._cpu is not built (simulated)")
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(backends.BackendUnavailable) as err:
        backends.resolve("nlm", "cpu", CPU, x, 5.0, 5.0, 7, 13)
    assert "cpu: the compiled module ucfast._cpu is not built (simulated)" in str(err.value)
    assert backends.resolve("nlm", "auto", CPU, x, 5.0, 5.0, 7, 13)[0] == "torch"


def test_cpu_backend_refuses_other_devices_and_dtypes():
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    assert "the cpu backend runs on CPU tensors" in " ".join(
        backends.available("median", torch.device("meta"), x)["cpu"])
    assert "uint8" in " ".join(backends.available("median", CPU, x.float())["cpu"])
    assert "unsupported model dtype" in " ".join(
        backends.available("variants", CPU, x, ("median",), 1.0, MEAN, STD, torch.int32, False)["cpu"])


# ---- median ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_median_equals_scipy(kind, h, w):
    x = batch(kind, h, w)
    got = ucfast.median(x, backend="cpu")
    assert torch.equal(got, per_image(scipy_median, x))
    assert torch.equal(got, ref_median.median(x))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (7, 13), (32, 32)])
def test_median_kxk_equals_scipy_per_channel(k, h, w):
    x = timg.make("random", 3, h, w, seed=k)
    want = per_image(lambda im: scipy.ndimage.median_filter(im, size=(k, k, 1), mode="reflect"), x)
    assert torch.equal(ucfast.median(x, k=k, backend="cpu"), want)


# ---- nlm ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_nlm_equals_opencv(kind, h, w):
    x = batch(kind, h, w)
    got = ucfast.nlm(x, backend="cpu")
    assert torch.equal(got, per_image(opencv_nlm, x))
    if h * w <= 32 * 32:
        assert torch.equal(got, ref_nlm.nlm(x))


@pytest.mark.parametrize("h,h_color,template,search", [(3.0, 10.0, 5, 9), (12.5, 2.0, 3, 21), (5.0, 5.0, 1, 3),
                                                        (30.0, 30.0, 9, 7)])
def test_nlm_other_parameters_equal_opencv(h, h_color, template, search):
    x = torch.cat([timg.make("smoothed", 2, 29, 41, seed=3), timg.make("real", 2, 29, 41, seed=4)])
    got = ucfast.nlm(x, h=h, h_color=h_color, template=template, search=search, backend="cpu")
    want = per_image(lambda im: opencv_nlm(im, h, h_color, template, search), x)
    assert torch.equal(got, want)


@pytest.mark.skipif(not timg.have_fashion(), reason="Fashion-MNIST is not installed")
def test_denoisers_equal_oracles_on_fashion_mnist():
    x = timg.make("fashion", 16, 28, 28)
    assert torch.equal(ucfast.median(x, backend="cpu"), per_image(scipy_median, x))
    assert torch.equal(ucfast.nlm(x, backend="cpu"), per_image(opencv_nlm, x))


# ---- public API: batches, layouts, dtypes ----------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 5])
@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("dtype", ["uint8", "float"])
@pytest.mark.parametrize("denoiser", ["median", "nlm"])
def test_public_denoisers_batches_layouts_dtypes(denoiser, n, lay, dtype):
    x = timg.make("real", n, 7, 13, seed=n)
    want = per_image(scipy_median if denoiser == "median" else opencv_nlm, x)
    arg = timg.layout(x if dtype == "uint8" else timg.as_float(x), lay)
    got = getattr(ucfast, denoiser)(arg, backend="cpu")
    assert got.shape == x.shape and got.is_contiguous()
    if dtype == "uint8":
        assert got.dtype == torch.uint8 and torch.equal(got, want)
    else:
        assert got.dtype == torch.float32 and torch.equal(got, want.float() / 255.0)


@pytest.mark.parametrize("lay", LAYOUTS)
def test_kernels_read_strided_pixels(lay):
    # The ops hand the backends contiguous pixels; the kernels also take any strides directly.
    x = timg.make("smoothed", 3, 19, 23, seed=7)
    arg = timg.layout(x, lay)
    assert torch.equal(cpu_backend.median(arg), ref_median.median(x))
    assert torch.equal(cpu_backend.nlm(arg, 5.0, 5.0, 7, 13), per_image(opencv_nlm, x))
    assert torch.equal(cpu_backend.bitdepth(arg, 4), ref_bitdepth.bitdepth(x, 4))


# ---- bitdepth -------------------------------------------------------------------------------------

@pytest.mark.parametrize("levels", [2, 4, 7, 256])
def test_bitdepth_equals_reference(levels):
    every = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16).contiguous()
    x = torch.cat([every, timg.make("real", 2, 16, 16)])
    assert torch.equal(ucfast.bitdepth(x, levels=levels, backend="cpu"), ref_bitdepth.bitdepth(x, levels))


# ---- variants -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("source", ["uint8", "float", "uint8-channels_last", "float-noncontiguous", "half"])
def test_variants_equal_reference(source, dtype, channels_last):
    x = timg.make("real", 5, 19, 23, seed=11)
    images = {"uint8": x, "float": timg.as_float(x), "uint8-channels_last": timg.layout(x, "channels_last"),
              "float-noncontiguous": timg.layout(timg.as_float(x), "noncontiguous"),
              "half": timg.as_float(x).half()}[source]
    args = (("median", "nlm", "bitdepth"), 1.0, MEAN, STD, dtype, channels_last)
    got = ops.variants(images, "median,nlm,bitdepth", 1.0, list(MEAN), list(STD), dtype, channels_last, "cpu")
    want = ref_variants.variants(images, *args)
    assert got.shape == want.shape and got.dtype == want.dtype and got.stride() == want.stride()
    assert torch.equal(got, want)


@pytest.mark.parametrize("amplify", [0.3, 0.5, 2.5, -0.7])
def test_variants_amplification_equals_reference(amplify):
    x = timg.make("smoothed", 4, 17, 31, seed=5)
    args = (("median", "nlm"), amplify, MEAN, STD, torch.float32, False)
    got = ops.variants(x, "median,nlm", amplify, list(MEAN), list(STD), torch.float32, False, "cpu")
    # torch.lerp is one fused multiply-add on CPUs with FMA (as the kernel computes it); allow one rounding.
    torch.testing.assert_close(got, ref_variants.variants(x, *args), rtol=0, atol=5e-6)


def test_variants_write_every_element():
    x = timg.make("random", 3, 9, 10, seed=2)
    out = torch.full((9, 3, 9, 10), float("nan"))
    denoised = [cpu_backend.median(x), cpu_backend.nlm(x, 5.0, 5.0, 7, 13)]
    compiled._cpu.variants(x.data_ptr(), 0, x.stride(), [d.data_ptr() for d in denoised], out.data_ptr(), 1,
                           out.stride(), 3, 9, 10, 1.0, list(MEAN), list(STD), 2)
    assert not out.isnan().any()
    assert torch.equal(out, ref_variants.variants(x, ("median", "nlm"), 1.0, MEAN, STD))


def test_variants_empty_batch():
    x = torch.zeros(0, 3, 8, 8, dtype=torch.uint8)
    got = cpu_backend.variants(x, ("median", "nlm"), 1.0, MEAN, STD, torch.bfloat16, True)
    assert got.shape == (0, 3, 8, 8) and got.dtype == torch.bfloat16


# ---- susceptibility -------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 10, 1000, 21841])
@pytest.mark.parametrize("space,distance", [("softmax", "l1"), ("softmax", "l2"), ("softmax", "kl"),
                                            ("logits", "l1"), ("logits", "l2")])
def test_susceptibility_matches_reference(k, space, distance):
    torch.manual_seed(k)
    v, b = 3, 6
    z = torch.randn(v * b, k) * 4
    z[v * b - 1] = z[b - 1]  # a variant identical to its original: distance 0
    got = ops.susceptibility(z, v, space, distance, "cpu")
    want = ref_susceptibility.susceptibility(z, v, space, distance)
    for g, r in zip(got[:2], want[:2]):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, r, rtol=2e-4, atol=1e-6)
    assert torch.equal(got[2], want[2])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_susceptibility_other_dtypes_and_strides(dtype):
    torch.manual_seed(0)
    z = (torch.randn(40, 2 * 4) * 3).to(dtype)[:, ::2]  # [V*B, K] = [40, 4], column stride 2
    got = cpu_backend.susceptibility(z, 4, "softmax", "l1")
    want = ref_susceptibility.susceptibility(z, 4, "softmax", "l1")
    torch.testing.assert_close(got[0], want[0], rtol=2e-4, atol=1e-6)
    torch.testing.assert_close(got[1], want[1], rtol=2e-4, atol=1e-6)
    assert torch.equal(got[2], want[2])


def test_susceptibility_prediction_takes_the_first_maximum():
    z = torch.tensor([[1.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert int(cpu_backend.susceptibility(z, 2, "logits", "l1")[2][0]) == 1


def test_susceptibility_rejects_bad_settings():
    z = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="space must be one of"):
        cpu_backend.susceptibility(z, 2, "probs", "l1")
    with pytest.raises(ValueError, match="needs space='softmax'"):
        cpu_backend.susceptibility(z, 2, "logits", "kl")
    with pytest.raises(ValueError, match="logits must be"):
        cpu_backend.susceptibility(z, 3, "softmax", "l1")


# ---- torch.library --------------------------------------------------------------------------------

@pytest.mark.parametrize("op,args", [
    ("median", lambda x: (x, "cpu")),
    ("nlm", lambda x: (x, 5.0, 5.0, 7, 13, "cpu")),
    ("variants", lambda x: (x, "median,nlm", 1.0, list(MEAN), list(STD), torch.float32, False, "cpu")),
])
def test_opcheck_with_the_cpu_backend(op, args):
    x = timg.make("real", 2, 9, 11)
    torch.library.opcheck(getattr(ops, op), args(x), test_utils=("test_schema", "test_faketensor"))


def test_numpy_input_through_public_api():
    x = timg.make("real", 2, 12, 12)
    got = ucfast.nlm(x.numpy(), backend="cpu")
    assert np.array_equal(got.numpy(), per_image(opencv_nlm, x).numpy())
