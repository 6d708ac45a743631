"""The Triton susceptibility kernel against ucfast/reference/susceptibility.py.

Outputs are poisoned (NaN, -1) before the kernel runs. Both code paths are covered: one tile per
sample (K up to 4096 for V <= 4) and the two-pass online softmax over K in blocks (K = 21,841,
and small K with a small tile forced).
"""
import itertools

import pytest
import torch

from ucfast import backends, ops
from ucfast.reference.susceptibility import susceptibility as ref

triton = pytest.importorskip("triton")
from ucfast.kernels import susceptibility as ts  # noqa: E402  (after the skip: needs Triton)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
COMBOS = [("softmax", "l1"), ("softmax", "l2"), ("softmax", "kl"), ("logits", "l1"), ("logits", "l2")]


def _logits(rows, k, dtype, seed=0, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, k, generator=g) * scale).to(dtype).to(DEVICE)


def _run(logits, v, space, distance, **kwargs):
    b = logits.shape[0] // v
    out = (torch.full((b,), float("nan"), device=DEVICE), torch.full((v - 1, b), float("nan"), device=DEVICE),
           torch.full((b,), -1, dtype=torch.int64, device=DEVICE))
    got = ts.susceptibility(logits, v, space, distance, out=out, **kwargs)
    assert all(g is o for g, o in zip(got, out))
    return got


def _check(logits, v, space, distance, **kwargs):
    got = _run(logits, v, space, distance, **kwargs)
    want = ref(logits.cpu(), v, space, distance)
    for g, w, name in zip(got, want, ("score", "distances", "prediction")):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        if name == "prediction":
            assert torch.equal(g.cpu(), w), name
        else:
            assert not g.isnan().any(), f"unwritten or NaN {name}"
            torch.testing.assert_close(g.cpu(), w, rtol=2e-4, atol=2e-5, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("k", [2, 10, 1000])
@pytest.mark.parametrize("b", [0, 1, 5])
@pytest.mark.parametrize("v", [2, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference(k, b, v, dtype):
    logits = _logits(v * b, k, dtype, seed=k + b + v)
    for space, distance in COMBOS:
        _check(logits, v, space, distance)


@pytest.mark.parametrize("b,v,dtype", [(5, 3, torch.float32), (5, 2, torch.bfloat16), (1, 4, torch.float16),
                                       (0, 3, torch.bfloat16)])
def test_large_k_two_pass(b, v, dtype):
    logits = _logits(v * b, 21841, dtype, seed=b + v)
    for space, distance in COMBOS:
        _check(logits, v, space, distance)


@pytest.mark.parametrize("k", [ts.MAX_TILE // 4, ts.MAX_TILE // 4 + 1])
def test_single_tile_limit(k):
    # V = 3 and 4 pad to 4 rows: K = MAX_TILE / 4 is the largest single tile, one more is two passes
    # whose last block holds one column.
    for v in (3, 4):
        _check(_logits(v * 2, k, torch.bfloat16, seed=k + v), v, "softmax", "kl")
        _check(_logits(v * 2, k, torch.float16, seed=k - v), v, "logits", "l1")


@pytest.mark.parametrize("k,block_k", [(2, 1), (10, 4), (1000, 128)])
def test_two_pass_on_small_k(k, block_k):
    logits = _logits(3 * 5, k, torch.float32, seed=k)
    for space, distance in COMBOS:
        _check(logits, 3, space, distance, max_tile=1, loop_block_k=block_k)


def test_large_logits_stay_finite():
    logits = _logits(3 * 4, 1000, torch.float32, seed=1, scale=2e4).clamp(-6e4, 6e4).half()  # near fp16's largest
    for space, distance in COMBOS[:3]:
        _check(logits, 3, space, distance)
        _check(logits, 3, space, distance, max_tile=256, loop_block_k=64)


def test_argmax_ties_take_the_first():
    logits = torch.zeros(2 * 3, 50, device=DEVICE)
    logits[0, [7, 20]] = 5.0
    logits[1, [3, 40]] = 2.0
    for kwargs in ({}, {"max_tile": 1, "loop_block_k": 8}):
        assert _run(logits, 2, "softmax", "l1", **kwargs)[2].tolist() == [7, 3, 0]


def test_strided_logits():
    wide = _logits(4 * 3, 2 * 1000, torch.bfloat16, seed=2)
    _check(wide[:, ::2], 4, "softmax", "kl")
    _check(wide[:, :1000], 4, "logits", "l2")
    _check(_logits(1000, 4 * 3, torch.float32, seed=3).t(), 4, "softmax", "l1")


def test_one_variant_gives_zero_scores():
    logits = _logits(5, 10, torch.float32)
    score, dist, pred = _run(logits, 1, "softmax", "l1")
    assert score.tolist() == [0.0] * 5 and dist.shape == (0, 5)


def test_bad_arguments():
    logits = _logits(6, 10, torch.float32)
    with pytest.raises(ValueError, match="needs space='softmax'"):
        ts.susceptibility(logits, 2, "logits", "kl")
    with pytest.raises(ValueError, match=r"\[V\*B, K\] with V = num_variants = 4"):
        ts.susceptibility(logits, 4, "softmax", "l1")
    why = backends.available("susceptibility", logits.device, logits.long(), 2, "softmax", "l1")["triton"]
    assert any("float32, bfloat16, float16" in r for r in why)


def test_registered_op_and_opcheck():
    logits = _logits(3 * 4, 100, torch.bfloat16, seed=4)
    for space, distance in itertools.islice(COMBOS, 0, None, 2):
        got = ops.susceptibility(logits, 3, space, distance, "triton")
        want = ref(logits.cpu(), 3, space, distance)
        for g, w in zip(got, want):
            torch.testing.assert_close(g.cpu(), w, rtol=2e-4, atol=2e-5)
    torch.library.opcheck(ops.susceptibility, (logits, 3, "softmax", "l1", "triton"))


@pytest.mark.gpu
@pytest.mark.parametrize("k", [1000, 21841])
def test_gpu_large_batches(k):
    logits = _logits(3 * 4096, k, torch.bfloat16, seed=k)
    for space, distance in COMBOS:
        _check(logits, 3, space, distance)
