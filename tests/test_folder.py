"""`ucfast.data.folder.ImageFolder`: layout, labels, transforms, and how bad files are reported."""
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ucfast.data.folder import ImageFolder, ImageReadError, Unreadable, center_crop, resize_crop, resize_crop_tensor


def _save(path, array, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


@pytest.fixture
def tree(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    layout = {"cat": ["b.png", "a.jpg", "sub/c.JPEG"], "ant": ["z.png"], "dog": ["x.png", "notes.txt"]}
    for cls, names in layout.items():
        for name in names:
            path = tmp_path / cls / name
            if name.endswith(".txt"):
                path.write_text("not an image")
                continue
            a = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
            _save(str(path), a)
            arrays[f"{cls}/{name}"] = a
    return tmp_path, arrays


def test_classes_labels_paths_and_pixels(tree):
    root, arrays = tree
    ds = ImageFolder(root)
    assert ds.classes == ["ant", "cat", "dog"]
    rel = [os.path.relpath(p, root) for p in ds.paths]
    assert rel == ["ant/z.png", "cat/a.jpg", "cat/b.png", "cat/sub/c.JPEG", "dog/x.png"]
    np.testing.assert_array_equal(ds.labels, [0, 1, 1, 1, 2])
    assert ds.ignored == [os.path.join("dog", "notes.txt")]
    img, label, index = ds[2]
    assert img.dtype == torch.uint8 and img.shape == (3, 12, 10) and img.is_contiguous()
    np.testing.assert_array_equal(img.permute(1, 2, 0).numpy(), arrays["cat/b.png"])  # PNG is lossless
    assert (label, index) == (1, 2)
    assert len(ds) == 5 and ds.paths[-1] == os.path.join(str(root), "dog", "x.png") and ds.paths[1:3] == ds.paths[1:3]


def test_resize_and_center_crop_follow_torchvision_rules():
    a = np.arange(6 * 9 * 3, dtype=np.uint8).reshape(6, 9, 3)
    out = resize_crop(Image.fromarray(a), 4, None)
    assert out.shape == (4, 6, 3)  # shorter side 6 -> 4, longer int(4 * 9 / 6) = 6
    np.testing.assert_array_equal(out, np.asarray(Image.fromarray(a).resize((6, 4), Image.BILINEAR)))
    np.testing.assert_array_equal(center_crop(a, 4), a[1:5, 2:6])  # round((6-4)/2)=1, round((9-4)/2)=2
    padded = center_crop(a, 8)
    assert padded.shape == (8, 8, 3)
    np.testing.assert_array_equal(padded[1:7, :], a[:, 0:8])  # 2 rows of padding split 1/1, width cropped
    assert padded[0].max() == 0 and padded[7].max() == 0


def test_resize_crop_gives_one_size(tree):
    root, _ = tree
    ds = ImageFolder(root, resize=9, crop=7)
    assert {tuple(ds[i][0].shape) for i in range(len(ds))} == {(3, 7, 7)}


def test_collate_stacks_and_reports_mixed_sizes(tmp_path):
    _save(str(tmp_path / "a" / "0.png"), np.zeros((8, 8, 3), np.uint8))
    _save(str(tmp_path / "a" / "1.png"), np.zeros((9, 8, 3), np.uint8))
    ds = ImageFolder(tmp_path)
    with pytest.raises(ValueError, match=r"differ in size.*0\.png is 8x8.*1\.png is 9x8.*resize"):
        ds.collate([ds[0], ds[1]])
    batch = ds.collate([ds[0], ds[0]])
    assert batch.images.shape == (2, 3, 8, 8) and batch.failed == []


@pytest.fixture
def broken(tmp_path):
    rng = np.random.default_rng(1)
    good = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    _save(str(tmp_path / "a" / "good.jpg"), good)
    data = (tmp_path / "a" / "good.jpg").read_bytes()
    (tmp_path / "a" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    os.symlink(str(tmp_path / "nowhere.jpg"), str(tmp_path / "a" / "missing.jpg"))
    os.makedirs(tmp_path / "b")
    _save(str(tmp_path / "c" / "good.png"), good)
    return tmp_path


def test_empty_class_folder_raises_or_is_listed(broken):
    with pytest.raises(ValueError, match=r"class folders without images.*'.*/b'.*on_error='skip'"):
        ImageFolder(broken)
    ds = ImageFolder(broken, on_error="skip")
    assert ds.classes == ["a", "b", "c"] and ds.empty_classes == [str(broken / "b")]
    assert ds.labels.tolist() == [0, 0, 0, 0, 0, 2]  # label of "c" stays 2


@pytest.mark.parametrize("name, reason", [
    ("truncated.jpg", "(?i)truncated"),
    ("corrupt.png", "OSError|SyntaxError|not a recognised"),
    ("empty.jpg", "not a recognised image"),
    ("missing.jpg", "No such file"),
])
def test_bad_files_are_reported_by_path(broken, name, reason):
    ds = ImageFolder(broken, on_error="skip")
    i = [os.path.basename(p) for p in ds.paths].index(name)
    image, label, index = ds[i]
    assert isinstance(image, Unreadable) and image.path == ds.paths[i] and index == i
    assert re.search(reason, image.error)


def test_bad_files_raise_with_path_when_asked(broken):
    os.rmdir(broken / "b")
    ds = ImageFolder(broken)
    for i, path in enumerate(ds.paths):
        if os.path.basename(path) == "good.jpg" or path.endswith("good.png"):
            assert ds[i][0].shape == (3, 16, 16)
            continue
        with pytest.raises(ImageReadError, match=f"cannot read image {path}"):
            ds[i]


def test_collate_moves_unreadable_samples_out_of_the_batch(broken):
    ds = ImageFolder(broken, on_error="skip")
    batch = ds.collate([ds[i] for i in range(len(ds))])
    kept = [os.path.basename(ds.paths[i]) for i in batch.indices.tolist()]
    assert kept == ["good.jpg", "good.png"] and batch.images.shape == (2, 3, 16, 16)
    assert batch.labels.tolist() == [0, 2]
    assert sorted(os.path.basename(p) for _, p, _ in batch.failed) == [
        "corrupt.png", "empty.jpg", "missing.jpg", "truncated.jpg"]


def test_bad_root_and_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no class sub-folders"):
        ImageFolder(tmp_path)
    os.makedirs(tmp_path / "a")
    with pytest.raises(ValueError, match="on_error must be one of"):
        ImageFolder(tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match="crop must be None or a positive integer"):
        ImageFolder(tmp_path, crop=0)


def test_fingerprint_follows_file_list_and_sizes(tree):
    root, _ = tree
    first = ImageFolder(root).fingerprint
    assert ImageFolder(root).fingerprint == first
    with open(root / "ant" / "z.png", "ab") as f:
        f.write(b"\0")
    assert ImageFolder(root).fingerprint != first


def test_raw_jpeg_bytes_for_gpu_decoding(tree):
    root, _ = tree
    ds = ImageFolder(root, decode=False)
    raw, label, index = ds[1]  # cat/a.jpg
    assert raw.dim() == 1 and raw.dtype == torch.uint8 and raw[:2].tolist() == [0xFF, 0xD8]
    assert ds[0][0].shape == (3, 12, 10)  # PNG is still decoded here


def test_tensor_resize_crop_matches_the_pil_path_closely():
    rng = np.random.default_rng(2)
    a = np.clip(rng.normal(128, 40, (30, 45, 3)), 0, 255).astype(np.uint8)
    want = resize_crop(Image.fromarray(a), 20, 16)  # [16, 16, 3]
    got = resize_crop_tensor(torch.from_numpy(a).permute(2, 0, 1).contiguous(), 20, 16)
    assert got.dtype == torch.uint8 and got.shape == (3, 16, 16)
    diff = np.abs(got.permute(1, 2, 0).numpy().astype(int) - want.astype(int))
    assert diff.mean() < 3 and diff.max() < 40
    padded = resize_crop_tensor(torch.from_numpy(a).permute(2, 0, 1).contiguous(), None, 40)
    np.testing.assert_array_equal(padded.permute(1, 2, 0).numpy(), center_crop(a, 40))
