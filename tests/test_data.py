"""`ucfast.data`: the embedded synthetic set, Fashion-MNIST, CIFAR pickles, npz, folders, bad paths."""
import gzip
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ucfast import data
from ucfast.data import fashion

FASHION_ROOT = fashion.DEFAULT_ROOT


def test_synthetic_is_deterministic_rgb_32_balanced():
    a = data.build("synthetic", split="train", n=120, seed=5)
    b = data.build("synthetic", split="train", n=120, seed=5)
    assert a.images.shape == (120, 3, 32, 32) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert np.bincount(a.labels.numpy(), minlength=10).tolist() == [12] * 10
    assert a.num_classes == 10
    assert not torch.equal(a.images, data.build("synthetic", split="train", n=120, seed=6).images)
    test = data.build("synthetic", split="test", n=120, seed=5)
    assert not torch.equal(a.images, test.images)
    spread = a.images.float().amax(1) - a.images.float().amin(1)
    assert spread.mean() > 5  # coloured, not grey repeated to three channels
    assert a.images.float().std() > 30


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        data.synthetic("val", 10)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.synthetic("train", 0)
    with pytest.raises(ValueError, match="takes no root"):
        data.build("synthetic", "/tmp", n=10)


@pytest.mark.skipif(not os.path.isdir(FASHION_ROOT), reason="Fashion-MNIST (dataset-fashion-mnist) not installed")
def test_fashion_mnist_real_files():
    test = data.build("fashion-mnist", split="test", n=500, seed=1)
    assert len(test) == 500 and test.images.shape == (500, 3, 32, 32)
    assert torch.equal(test.images[:, 0], test.images[:, 2])  # grey repeated
    assert test.classes[0] == "T-shirt/top" and set(test.labels.tolist()) <= set(range(10))
    raw = fashion.read_idx(os.path.join(FASHION_ROOT, "t10k-labels-idx1-ubyte.gz"))
    assert raw.shape == (10000,) and np.bincount(raw).tolist() == [1000] * 10
    full = data.fashion_mnist(split="test", size=None)
    assert full.images.shape == (10000, 3, 28, 28)
    assert full.images.float().mean() > 40


def test_idx_reader_plain_and_gzip_and_torchvision_layout(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 7], dtype=np.uint8)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)

    def idx(array):
        return bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()

    (raw / "t10k-images-idx3-ubyte").write_bytes(idx(images))
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(idx(labels))
    ds = data.fashion_mnist(tmp_path, "test", size=None)
    assert torch.equal(ds.images[:, 1], torch.from_numpy(images)) and ds.labels.tolist() == [3, 7]
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx(images)[:-5])
    with pytest.raises(ValueError, match="announces shape"):
        data.fashion_mnist(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.fashion_mnist(tmp_path, "train")


def _cifar_fixture(root, name):
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder, parts, key, meta, names = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + [
            "test_batch"], "labels", "batches.meta", "label_names"
    else:
        folder, parts, key, meta, names = root / "cifar-100-python", ["train", "test"], "fine_labels", "meta", \
            "fine_label_names"
    folder.mkdir()
    written = {}
    for part in parts:
        pixels = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, 4).tolist()
        with open(folder / part, "wb") as f:
            pickle.dump({b"data": pixels, key.encode(): labels}, f)
        written[part] = (pixels, labels)
    with open(folder / meta, "wb") as f:
        pickle.dump({names: [f"c{i}" for i in range(10)]}, f)
    return folder, written


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickle_layout(tmp_path, name):
    folder, written = _cifar_fixture(tmp_path, name)
    train = data.build(name, tmp_path, "train")
    test = data.build(name.replace("cifar", "cifar-"), folder, "test")
    n_train = 20 if name == "cifar10" else 4
    assert train.images.shape == (n_train, 3, 32, 32) and len(test) == 4
    pixels, labels = written["test_batch" if name == "cifar10" else "test"]
    assert torch.equal(test.images, torch.from_numpy(pixels.reshape(4, 3, 32, 32)))
    assert test.labels.tolist() == labels and test.classes[3] == "c3"
    assert len(data.build(name, tmp_path, "train", n=3, seed=0)) == 3


def test_cifar_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.build("cifar10", tmp_path / "nowhere")
    folder, _ = _cifar_fixture(tmp_path, "cifar10")
    os.remove(folder / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.build("cifar10", tmp_path)


def test_npz_roundtrip_and_split_keys(tmp_path):
    ds = data.synthetic("train", 30, seed=0)
    path = tmp_path / "set.npz"
    data.save_npz(ds, path)
    back = data.build("npz", path)
    assert torch.equal(back.images, ds.images) and torch.equal(back.labels, ds.labels)
    assert back.classes == list(ds.classes)
    hwc = tmp_path / "splits.npz"
    grey = np.random.default_rng(0).integers(0, 256, (5, 6, 6), dtype=np.uint8)
    np.savez(hwc, test_images=grey, test_labels=np.arange(5))
    test = data.build("npz", hwc, "test")
    assert test.images.shape == (5, 3, 6, 6) and torch.equal(test.images[:, 2], torch.from_numpy(grey))
    with pytest.raises(ValueError, match=r"no image array for split 'train'.*holds \['test_images', 'test_labels'\]"):
        data.build("npz", hwc, "train")
    empty = tmp_path / "empty.npz"
    np.savez(empty, images=np.zeros((0, 3, 4, 4), np.uint8), labels=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="holds no images"):
        data.build("npz", empty)


@pytest.mark.parametrize("arrays, split, image_key, label_key", [
    (dict(images=0, labels=0), None, "images", "labels"),
    (dict(train_images=0, train_labels=0, test_images=0, test_labels=0), "train", "train_images", "train_labels"),
    (dict(x_train=0, y_train=0, x_test=0, y_test=0), "test", "x_test", "y_test"),
    (dict(x=0, y=0), "train", "x", "y"),
    (dict(data=0), None, "data", None),
])
def test_npz_key_rules_are_one_for_build_and_sanitize(tmp_path, arrays, split, image_key, label_key):
    from ucfast.data.npz import NpzImages, read_npz

    rng = np.random.default_rng(1)
    path = tmp_path / "keys.npz"
    np.savez(path, **{k: (rng.integers(0, 256, (4, 5, 5, 3), dtype=np.uint8) if k in ("images", "train_images",
                          "test_images", "x_train", "x_test", "x", "data") else np.arange(4)) for k in arrays})
    found = read_npz(path, split)
    assert (found.image_key, found.label_key, found.layout) == (image_key, label_key, "NHWC")
    if split in (None, "train"):
        source = NpzImages(str(path))
        assert (source.image_key, source.label_key) == (image_key, label_key)
        assert source.labels.tolist() == ([-1] * 4 if label_key is None else [0, 1, 2, 3])
    if label_key is None:
        with pytest.raises(ValueError, match=r"no label array for split 'train'.*holds \['data'\]"):
            data.build("npz", path, split)
    else:
        assert torch.equal(data.build("npz", path, split).labels, torch.arange(4))


def test_npz_bad_arrays_are_named(tmp_path):
    from ucfast.data.npz import read_npz

    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((4, 5, 5, 3), np.int32), labels=np.arange(4))
    with pytest.raises(ValueError, match="images 'images' must be uint8 .* got dtype int32"):
        read_npz(path)
    np.savez(path, images=np.zeros((4, 5, 5, 3), np.uint8), labels=np.arange(3))
    with pytest.raises(ValueError, match="labels 'labels' must be 4 integers, got shape \\(3,\\)"):
        read_npz(path)


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("b", "a"):
        for split in ("train", "test"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / cls / f"{i}.png")
    ds = data.build("folder", tmp_path, "test", size=8)
    assert ds.classes == ["a", "b"] and len(ds) == 4
    image, label, index = ds[3]
    assert image.shape == (3, 8, 8) and label == 1 and index == 3


@pytest.mark.parametrize("name, root, error, match", [
    ("folder", "/nonexistent/ucfast", FileNotFoundError, "does not exist"),
    ("npz", "/nonexistent/ucfast.npz", FileNotFoundError, "does not exist"),
    ("fashion-mnist", "/nonexistent/ucfast", FileNotFoundError, "is not a folder"),
    ("folder", None, ValueError, "needs root"),
    ("npz", None, ValueError, "needs root"),
    ("imagenet-21k", None, ValueError, "unknown dataset 'imagenet-21k'"),
])
def test_bad_dataset_names_and_paths(name, root, error, match):
    with pytest.raises(error, match=match):
        data.build(name, root)


def test_folder_without_images(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "notes.txt").write_text("no image")
    with pytest.raises(ValueError, match="without images|holds no image"):
        data.build("folder", tmp_path)


def test_array_dataset_layouts_and_stats():
    hwc = np.zeros((2, 4, 4, 3), np.uint8)
    hwc[..., 0] = 255
    ds = data.ArrayDataset(hwc, [0, 1])
    assert ds.images.shape == (2, 3, 4, 4) and (ds.images[:, 0] == 255).all()
    mean, std = data.stats(ds)
    assert mean == pytest.approx((1.0, 0.0, 0.0)) and max(std) < 1e-5
    floats = data.ArrayDataset(torch.full((1, 3, 2, 2), 0.5), [0])
    assert (floats.images == 128).all()
    with pytest.raises(ValueError, match="0..1"):
        data.ArrayDataset(torch.full((1, 3, 2, 2), 2.0), [0])
    with pytest.raises(ValueError, match="3 entries but there are 2 images"):
        data.ArrayDataset(hwc, [0, 1, 2])
    order = [idx.tolist() for _, _, idx in data.batches(ds, 1, shuffle=True, seed=1)]
    assert sorted(sum(order, [])) == [0, 1]
