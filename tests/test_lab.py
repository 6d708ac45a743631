"""The integer Lab conversion against cv2.cvtColor over all 2^24 inputs, exactly, and its tables."""
import cv2
import numpy as np
import pytest
import torch

from tests import images as timg
from tests.oracles import per_image
from ucfast.reference import lab

CHUNK_ROWS = 1024  # 2^24 values as a 4096 x 4096 image, converted a quarter at a time


def _all_triples() -> torch.Tensor:
    """Every (c0, c1, c2) byte triple once, as a [1, 3, 4096, 4096] uint8 image."""
    v = torch.arange(1 << 24, dtype=torch.int32)
    return torch.stack([v & 255, (v >> 8) & 255, v >> 16]).to(torch.uint8).view(1, 3, 4096, 4096)


@pytest.fixture(scope="module")
def all_triples():
    return _all_triples()


def _mismatches(fn, code, x: torch.Tensor) -> int:
    """Pixels of the [1, 3, H, W] image x where fn differs from cv2.cvtColor(code), chunk by chunk."""
    bad = 0
    for start in range(0, x.shape[2], CHUNK_ROWS):
        chunk = x[:, :, start:start + CHUNK_ROWS]
        want = cv2.cvtColor(chunk[0].permute(1, 2, 0).contiguous().numpy(), code)
        got = fn(chunk)[0].permute(1, 2, 0).numpy()
        bad += int((got != want).any(-1).sum())
    return bad


def test_lbgr_to_lab_equals_opencv_on_every_colour(all_triples):
    assert _mismatches(lab.lbgr_to_lab, cv2.COLOR_LBGR2Lab, all_triples) == 0


def test_lab_to_lbgr_equals_opencv_on_every_lab_triple(all_triples):
    assert _mismatches(lab.lab_to_lbgr, cv2.COLOR_Lab2LBGR, all_triples) == 0


@pytest.mark.parametrize("lay", ["contiguous", "noncontiguous", "channels_last"])
@pytest.mark.parametrize("n", [0, 1, 3])
def test_conversions_take_any_layout_and_batch(lay, n):
    x = timg.make("real", n, 7, 13, seed=n)
    for fn, code in ((lab.lbgr_to_lab, cv2.COLOR_LBGR2Lab), (lab.lab_to_lbgr, cv2.COLOR_Lab2LBGR)):
        got = fn(timg.layout(x, lay))
        assert got.dtype == torch.uint8
        assert torch.equal(got, per_image(lambda img: cv2.cvtColor(img, code), x))


def test_cube_root_table_construction():
    tab = lab.cbrt_table()
    i = torch.arange(lab.CBRT_TABLE_SIZE, dtype=torch.float64)
    x = i / 2040
    plain = torch.where(x < 216 / 24389, x * 841 / 108 + 16 / 116, x.pow(1 / 3))
    plain = torch.round(plain * 32768).to(torch.int32)  # the float64 transcription
    assert tab.shape == (3072,) and tab.dtype == torch.int32
    assert int(tab[0]) == 4520 and bool((tab[1:] >= tab[:-1]).all())
    # In float32 (softfloat) 2^15 * f(x) is an exact tie at these two entries; cvRound takes the even side.
    assert torch.nonzero(tab != plain).flatten().tolist() == [49, 628]
    assert int(tab[49]) == 9454 and int(tab[628]) == 22126


def test_softfloat_cbrt_truncates_where_rounding_would_change_the_table():
    # Entries 324 and 2079 need OpenCV's truncating cube root, not a correctly rounded one.
    step = np.float32(1) / np.float32(2040)
    for i in (324, 2079):
        x = step * np.float32(i)
        rounded = np.float32(np.cbrt(np.float64(x)))
        assert lab._softfloat_cbrt(x) < rounded
        assert round(float(np.float32(32768) * rounded)) != int(lab.cbrt_table()[i])


def test_matrices_match_the_spec():
    assert lab.forward_matrix().tolist() == [[778, 1541, 1777], [296, 2929, 871], [3575, 448, 73]]
    # The spec lists rows by output channel 2, 1, 0.
    assert lab.inverse_matrix().tolist()[::-1] == [[12615, -6296, -2223], [-3773, 7684, 185], [217, -836, 4715]]


def test_inverse_tables_ranges():
    y, fy = lab.l_to_y_f_tables()
    assert int(y[0]) == 0 and int(y[255]) == lab.BASE and int(fy[0]) == 2260 and int(fy[255]) == lab.BASE
    xz = lab.ab_to_xz_table()
    assert int(xz.min()) == -1335 and int(xz.max()) == 88231
