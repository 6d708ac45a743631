"""The compiled CUDA backend (ucfast._cuda) exactly against scipy, OpenCV and the references.

Marked `gpu`: tests/conftest.py skips them without a CUDA GPU; they also skip where ucfast._cuda was
not built (tests/test_build.py makes that an error wherever nvcc is on PATH). Denoised pixels are
compared bit for bit with the CPU oracles. The variants kernel follows torch's float32 arithmetic on
a GPU, so its model input is compared bit for bit with the reference run on the same GPU. Outputs
the tests allocate are poisoned first, so an unwritten element fails.
"""
import pytest
import torch

import ucfast
from tests import images as timg
from tests.oracles import opencv_nlm, per_image, scipy_median
from ucfast import backends, compiled, ops
from ucfast.ops import cuda as cuda_backend
from ucfast.ops.denoisers import BITDEPTH_LEVELS, DENOISERS, NLM, bitdepth_table
from ucfast.reference import bitdepth as ref_bitdepth
from ucfast.reference import median as ref_median
from ucfast.reference import susceptibility as ref_susceptibility
from ucfast.reference import variants as ref_variants

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(compiled.CUDA_ERROR is not None, reason=f"{compiled.CUDA_ERROR}")]

SIZES = [(1, 1), (2, 2), (7, 13), (32, 32), (33, 65), (237, 111)]
KINDS = ["random", "smoothed", "real"]
LAYOUTS = ["contiguous", "noncontiguous", "channels_last"]
CUDA = torch.device("cuda")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def batch(kind, h, w, seed=0):
    return timg.make(kind, 1 if h * w > 5000 else 5, h, w, seed=seed + h * w)


def on_gpu(x, lay="contiguous"):
    """`x` on the GPU in layout `lay` (non-contiguous: every other column of a wider tensor)."""
    if lay == "noncontiguous":
        wide = torch.zeros(x.shape[:3] + (2 * x.shape[3],), dtype=x.dtype, device=CUDA)
        wide[..., ::2] = x.to(CUDA)
        return wide[..., ::2]
    return timg.layout(x, lay).to(CUDA)


@pytest.mark.parametrize("op", compiled.OPS)
def test_auto_picks_cuda_on_a_gpu(op, monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8, device=CUDA)
    args = {"median": (x,), "median_kxk": (x, 3), "nlm": (x, 5.0, 5.0, 7, 13), "bitdepth": (x, 4),
            "variants": (x, ("median",), 1.0, MEAN, STD, torch.float32, False),
            "susceptibility": (torch.zeros(4, 10, device=CUDA), 2, "softmax", "l1")}[op]
    assert backends.resolve(op, "auto", CUDA, *args)[0] == "cuda"
    assert backends.available(op, CUDA)["cuda"] == []


def test_cuda_backend_refuses_cpu_tensors_and_says_why():
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(backends.BackendUnavailable, match="cuda: the input is on cpu, not on a CUDA device"):
        ucfast.median(x, backend="cuda")


def test_module_sees_the_gpu_torch_sees():
    assert compiled._cuda.device_count() == torch.cuda.device_count()
    major, minor = torch.cuda.get_device_capability()
    built = compiled.build_info()["cuda"]["archs"].split(",")
    assert any(int(a) <= 10 * major + minor for a in built), f"no architecture of {built} runs on sm_{major}{minor}"


# ---- median ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_median_equals_scipy(kind, h, w):
    x = batch(kind, h, w)
    got = ucfast.median(on_gpu(x), backend="cuda")
    assert got.device.type == "cuda"
    assert torch.equal(got.cpu(), per_image(scipy_median, x))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (7, 13), (32, 32)])
def test_median_kxk_equals_reference(k, h, w):
    x = timg.make("random", 3, h, w, seed=k)
    got = ucfast.median(on_gpu(x), k=k, backend="cuda")
    assert torch.equal(got.cpu(), ref_median.median_kxk(x, k))


# ---- nlm ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", SIZES + [(224, 224)])
@pytest.mark.parametrize("kind", KINDS)
def test_nlm_equals_opencv(kind, h, w):
    x = batch(kind, h, w)
    got = ucfast.nlm(on_gpu(x), backend="cuda")
    assert torch.equal(got.cpu(), per_image(opencv_nlm, x))


@pytest.mark.parametrize("h,h_color,template,search", [(3.0, 10.0, 5, 9), (12.5, 2.0, 3, 21), (5.0, 5.0, 1, 3),
                                                        (30.0, 30.0, 9, 7)])
def test_nlm_other_parameters_equal_opencv(h, h_color, template, search):
    x = torch.cat([timg.make("smoothed", 2, 29, 41, seed=3), timg.make("real", 2, 29, 41, seed=4)])
    got = ucfast.nlm(on_gpu(x), h=h, h_color=h_color, template=template, search=search, backend="cuda")
    want = per_image(lambda im: opencv_nlm(im, h, h_color, template, search), x)
    assert torch.equal(got.cpu(), want)


def test_nlm_more_images_than_one_grid_holds():
    x = timg.make("random", 65537, 2, 3, seed=9)  # the launcher splits the batch into grids of 65535 images
    assert torch.equal(ucfast.nlm(on_gpu(x), backend="cuda").cpu(), per_image(opencv_nlm, x))


# ---- public API: batches, layouts, dtypes ----------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 5])
@pytest.mark.parametrize("lay", LAYOUTS)
@pytest.mark.parametrize("dtype", ["uint8", "float"])
@pytest.mark.parametrize("denoiser", ["median", "nlm"])
def test_public_denoisers_batches_layouts_dtypes(denoiser, n, lay, dtype):
    x = timg.make("real", n, 7, 13, seed=n)
    want = per_image(scipy_median if denoiser == "median" else opencv_nlm, x)
    arg = on_gpu(x if dtype == "uint8" else timg.as_float(x), lay)
    got = getattr(ucfast, denoiser)(arg, backend="cuda")
    assert got.shape == x.shape and got.is_contiguous() and got.device.type == "cuda"
    if dtype == "uint8":
        assert got.dtype == torch.uint8 and torch.equal(got.cpu(), want)
    else:
        assert got.dtype == torch.float32 and torch.equal(got.cpu(), want.float() / 255.0)


@pytest.mark.parametrize("lay", LAYOUTS)
def test_kernels_read_strided_pixels(lay):
    x = timg.make("smoothed", 3, 19, 23, seed=7)
    arg = on_gpu(x, lay)
    assert torch.equal(cuda_backend.median(arg).cpu(), ref_median.median(x))
    assert torch.equal(cuda_backend.nlm(arg, 5.0, 5.0, 7, 13).cpu(), per_image(opencv_nlm, x))
    assert torch.equal(cuda_backend.bitdepth(arg, 4).cpu(), ref_bitdepth.bitdepth(x, 4))


@pytest.mark.parametrize("levels", [2, 4, 7, 256])
def test_bitdepth_equals_reference(levels):
    every = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16).contiguous()
    x = torch.cat([every, timg.make("real", 2, 16, 16)])
    assert torch.equal(ucfast.bitdepth(on_gpu(x), levels=levels, backend="cuda").cpu(),
                       ref_bitdepth.bitdepth(x, levels))


# ---- variants -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("source", ["uint8", "float", "uint8-channels_last", "float-noncontiguous", "half"])
def test_variants_equal_reference_on_the_gpu(source, dtype, channels_last):
    x = timg.make("real", 5, 19, 23, seed=11)
    images = {"uint8": on_gpu(x), "float": on_gpu(timg.as_float(x)), "uint8-channels_last": on_gpu(x, "channels_last"),
              "float-noncontiguous": on_gpu(timg.as_float(x), "noncontiguous"),
              "half": on_gpu(timg.as_float(x).half())}[source]
    args = (("median", "nlm", "bitdepth"), 1.0, MEAN, STD, dtype, channels_last)
    got = ops.variants(images, "median,nlm,bitdepth", 1.0, list(MEAN), list(STD), dtype, channels_last, "cuda")
    want = ref_variants.variants(images, *args)
    assert got.shape == want.shape and got.dtype == want.dtype and got.stride() == want.stride()
    assert torch.equal(got, want)


@pytest.mark.parametrize("amplify", [0.3, 0.5, 2.5, -0.7])
def test_variants_amplification_equals_reference_on_the_gpu(amplify):
    x = on_gpu(timg.make("smoothed", 4, 17, 31, seed=5))
    got = ops.variants(x, "median,nlm", amplify, list(MEAN), list(STD), torch.float32, False, "cuda")
    want = ref_variants.variants(x, ("median", "nlm"), amplify, MEAN, STD, torch.float32, False)
    assert torch.equal(got, want)


def fused(x, names, out, amplify=1.0, mean=MEAN, std=STD):
    """One call of the fused kernel into `out` (preallocated, e.g. NaN-filled), as ucfast/ops/cuda.py makes it."""
    args, _keep = compiled.nlm_args(x, *NLM.astuple())
    table = bitdepth_table(BITDEPTH_LEVELS, x.device)
    b, _, h, w = x.shape
    codes = [DENOISERS.index(n) for n in names]
    compiled._cuda.variants(x.data_ptr(), compiled.DTYPE_CODES[x.dtype], x.stride(), codes, out.data_ptr(),
                            compiled.DTYPE_CODES[out.dtype], out.stride(), b, h, w, amplify, list(mean), list(std),
                            bitdepth=table.data_ptr(), device=torch.cuda.current_device(),
                            stream=torch.cuda.current_stream().cuda_stream, **args)
    return out


def poisoned(shape, dtype, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.full(shape, float("nan"), dtype=dtype, device=CUDA).contiguous(memory_format=fmt)


@pytest.mark.parametrize("h,w", SIZES + [(224, 224), (31, 33)])
@pytest.mark.parametrize("source", ["uint8", "float"])
def test_fused_variants_every_size_into_a_poisoned_output(h, w, source):
    x = batch("real", h, w, seed=1)
    x = on_gpu(x if source == "uint8" else timg.as_float(x))
    names = ("median", "nlm", "bitdepth")
    out = fused(x, names, poisoned((4 * x.shape[0], 3, h, w), torch.float32, False))
    assert not out.isnan().any()
    assert torch.equal(out, ref_variants.variants(x, names, 1.0, MEAN, STD, torch.float32, False))


@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_variants_batches_dtypes_formats(n, dtype, channels_last):
    x = on_gpu(timg.make("smoothed", n, 37, 29, seed=n))
    names = ("median", "nlm")
    out = fused(x, names, poisoned((3 * n, 3, 37, 29), dtype, channels_last))
    want = ref_variants.variants(x, names, 1.0, MEAN, STD, dtype, channels_last)
    assert not out.isnan().any()
    assert out.stride() == want.stride() and torch.equal(out, want)


@pytest.mark.parametrize("names", [("median",), ("nlm",), ("bitdepth",), ("nlm", "median"),
                                   ("bitdepth", "nlm", "median")])
@pytest.mark.parametrize("amplify", [1.0, 0.3, 2.5])
def test_fused_variants_any_denoisers_in_any_order(names, amplify):
    x = on_gpu(timg.make("real", 3, 45, 70, seed=4), "channels_last")
    out = fused(x, names, poisoned(((1 + len(names)) * 3, 3, 45, 70), torch.bfloat16, True), amplify=amplify)
    assert torch.equal(out, ref_variants.variants(x, names, amplify, MEAN, STD, torch.bfloat16, True))


def test_fused_variants_more_images_than_one_grid_holds():
    x = on_gpu(timg.make("random", 65537, 2, 3, seed=9))
    out = fused(x, ("median", "nlm"), poisoned((3 * 65537, 3, 2, 3), torch.float32, False))
    assert torch.equal(out, ref_variants.variants(x, ("median", "nlm"), 1.0, MEAN, STD, torch.float32, False))


def test_variants_is_one_launch(monkeypatch):
    x = on_gpu(timg.make("real", 2, 32, 32))
    calls = []

    class Recorder:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(module, name)

    module = compiled._cuda
    monkeypatch.setattr(compiled, "_cuda", Recorder())
    cuda_backend.variants(x, ("median", "nlm", "bitdepth"), 1.0, MEAN, STD, torch.bfloat16, True)
    assert calls == ["variants"]
    monkeypatch.undo()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        cuda_backend.variants(x, ("median", "nlm", "bitdepth"), 1.0, MEAN, STD, torch.bfloat16, True)
        torch.cuda.synchronize()
    kernels = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA and "ucfast" in e.name]
    assert len(kernels) == 1 and "variants_kernel" in kernels[0], kernels


def test_variants_empty_batch():
    x = torch.zeros(0, 3, 8, 8, dtype=torch.uint8, device=CUDA)
    got = cuda_backend.variants(x, ("median", "nlm"), 1.0, MEAN, STD, torch.bfloat16, True)
    assert got.shape == (0, 3, 8, 8) and got.dtype == torch.bfloat16 and got.device.type == "cuda"


def test_variants_kernel_names_a_bad_argument():
    x = on_gpu(timg.make("random", 1, 4, 4))
    with pytest.raises(ValueError, match="argument 'std' must be positive"):
        fused(x, ("median",), torch.empty(2, 3, 4, 4, device=CUDA), std=[0.2, 0.0, 0.2])
    with pytest.raises(ValueError, match="argument 'denoisers' must be codes without repeats"):
        fused(x, ("median", "median"), torch.empty(3, 3, 4, 4, device=CUDA))


# ---- susceptibility -------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 10, 1000, 21841])
@pytest.mark.parametrize("space,distance", [("softmax", "l1"), ("softmax", "l2"), ("softmax", "kl"),
                                            ("logits", "l1"), ("logits", "l2")])
def test_susceptibility_matches_reference(k, space, distance):
    torch.manual_seed(k)
    v, b = 3, 6
    z = torch.randn(v * b, k) * 4
    z[v * b - 1] = z[b - 1]  # a variant identical to its original: distance 0
    got = ops.susceptibility(z.to(CUDA), v, space, distance, "cuda")
    want = ref_susceptibility.susceptibility(z, v, space, distance)
    for g, r in zip(got[:2], want[:2]):
        assert g.dtype == torch.float32 and g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), r, rtol=2e-4, atol=1e-6)
    assert torch.equal(got[2].cpu(), want[2])


# K on each side of every switch of the lanes per sample (4, 8, 16, 32 lanes, a block); B not a multiple of
# the samples a block holds, so some lanes have no sample.
GROUP_KS = [1, 5, 32, 33, 64, 65, 128, 129, 4096, 4097]


@pytest.mark.parametrize("k", GROUP_KS)
@pytest.mark.parametrize("v,b", [(2, 1), (3, 67), (8, 5)])
def test_susceptibility_every_group_size_into_poisoned_outputs(k, v, b):
    torch.manual_seed(k + b)
    z = (torch.randn(v * b, k) * 4).to(CUDA)
    total, dist = (torch.full(shape, float("nan"), device=CUDA) for shape in ((b,), (v - 1, b)))
    pred = torch.full((b,), -1, dtype=torch.int64, device=CUDA)
    compiled._cuda.susceptibility(z.data_ptr(), compiled.DTYPE_CODES[z.dtype], z.stride(0), v, b, k, 0, 0,
                                  total.data_ptr(), dist.data_ptr(), pred.data_ptr(), torch.cuda.current_device(),
                                  torch.cuda.current_stream().cuda_stream)
    want = ref_susceptibility.susceptibility(z.cpu(), v, "softmax", "l1")
    torch.testing.assert_close(total.cpu(), want[0], rtol=2e-4, atol=1e-6)
    torch.testing.assert_close(dist.cpu(), want[1], rtol=2e-4, atol=1e-6)
    assert torch.equal(pred.cpu(), want[2])


@pytest.mark.parametrize("k", [10, 100, 1000, 5000])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("space,distance", [("softmax", "kl"), ("logits", "l2")])
def test_susceptibility_groups_half_dtypes(k, dtype, space, distance):
    torch.manual_seed(k)
    z = (torch.randn(3 * 70, k) * 3).to(dtype)
    got = ops.susceptibility(z.to(CUDA), 3, space, distance, "cuda")
    want = ref_susceptibility.susceptibility(z, 3, space, distance)
    torch.testing.assert_close(got[0].cpu(), want[0], rtol=2e-4, atol=1e-6)
    torch.testing.assert_close(got[1].cpu(), want[1], rtol=2e-4, atol=1e-6)
    assert torch.equal(got[2].cpu(), want[2])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_susceptibility_half_dtypes_and_row_stride(dtype):
    torch.manual_seed(0)
    z = (torch.randn(40, 12) * 3).to(dtype)[:, :7]  # [V*B, K] = [40, 7], row stride 12
    got = cuda_backend.susceptibility(z.to(CUDA), 4, "softmax", "l1")
    want = ref_susceptibility.susceptibility(z, 4, "softmax", "l1")
    torch.testing.assert_close(got[0].cpu(), want[0], rtol=2e-4, atol=1e-6)
    torch.testing.assert_close(got[1].cpu(), want[1], rtol=2e-4, atol=1e-6)
    assert torch.equal(got[2].cpu(), want[2])


def test_susceptibility_float64_is_refused_with_its_reason():
    z = torch.zeros(4, 3, dtype=torch.float64, device=CUDA)
    assert "unsupported logits dtype torch.float64" in " ".join(
        backends.available("susceptibility", CUDA, z, 2, "softmax", "l1")["cuda"])


def test_susceptibility_prediction_takes_the_first_maximum():
    z = torch.tensor([[1.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]], device=CUDA)
    assert int(cuda_backend.susceptibility(z, 2, "logits", "l1")[2][0]) == 1


# ---- torch.library, streams -----------------------------------------------------------------------

@pytest.mark.parametrize("op,args", [
    ("median", lambda x: (x, "cuda")),
    ("nlm", lambda x: (x, 5.0, 5.0, 7, 13, "cuda")),
    ("variants", lambda x: (x, "median,nlm", 1.0, list(MEAN), list(STD), torch.float32, False, "cuda")),
])
def test_opcheck_with_the_cuda_backend(op, args):
    x = on_gpu(timg.make("real", 2, 9, 11))
    torch.library.opcheck(getattr(ops, op), args(x), test_utils=("test_schema", "test_faketensor"))


def test_kernels_run_on_the_current_stream():
    x = timg.make("real", 8, 64, 64, seed=3)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        got = ucfast.nlm(on_gpu(x), backend="cuda")
    stream.synchronize()
    assert torch.equal(got.cpu(), per_image(opencv_nlm, x))
