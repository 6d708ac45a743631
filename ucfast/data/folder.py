"""`ImageFolder`: a class per sub-folder (root/<class>/**/<image>), images decoded with PIL.

Classes are the sorted sub-folder names and files are walked in sorted order, as torchvision's
ImageFolder does, so labels and dataset positions match a model trained on the same tree. Items
are (uint8 [3, H, W] tensor, label, index). Decoding problems are never scored as something else:
with on_error="raise" an unreadable, corrupt or truncated file raises `ImageReadError` naming its
path; with on_error="skip" the item's image is an `Unreadable` record (path and reason) that
`collate` moves out of the batch into its `failed` list. Empty class folders raise with "raise"
and are listed in `empty_classes` (their label index kept) with "skip".

Paths are kept compactly (one byte buffer plus offsets), so a tree of 10^8 files costs a few
bytes per file rather than a Python string each. Links are followed, but a folder reached twice (a
link loop such as class_0/loop -> .., or two links to one folder) and a file name that is not valid
UTF-8 are refused when the tree is opened, naming the path. 16-bit images are scaled to 8 bits
(value / 257, rounded), not clipped.

The fingerprint covers the class names, every image's relative path, size and modification time
(ns) and, with verify=True, the sha256 of its content.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .fingerprint import file_stamp

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
ON_ERROR = ("raise", "skip")
SKIP_HINT = "(on_error='skip', CLI --on-error skip, goes on without it)"


class ImageReadError(OSError):
    """An image file that cannot be decoded (missing, unreadable, corrupt or truncated)."""


class Unreadable(NamedTuple):
    """Stands in for the image of a sample that could not be decoded (on_error="skip")."""

    path: str
    error: str


class Batch(NamedTuple):
    """A collated batch: the decodable samples, and the ones that were not."""

    images: torch.Tensor | list  # [B, 3, H, W] uint8 (a list of tensors when decode=False)
    labels: torch.Tensor  # [B] int64
    indices: torch.Tensor  # [B] int64 dataset positions
    failed: list  # [(index, path, error)] in dataset order


class Paths(Sequence):
    """A read-only sequence of path strings stored as one UTF-8 buffer with offsets."""

    def __init__(self, prefix: str, buffer: np.ndarray, offsets: np.ndarray):
        self.prefix = prefix  # joined in front of every stored relative path
        self._buffer = buffer  # [total bytes] uint8
        self._offsets = offsets  # [N + 1] int64

    def __len__(self) -> int:
        return int(self._offsets.shape[0]) - 1

    def relative(self, i: int) -> str:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"path index {i} out of range for {n} paths")
        i %= n
        return self._buffer[self._offsets[i]:self._offsets[i + 1]].tobytes().decode("utf-8", "surrogateescape")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rel = self.relative(int(i))
        return os.path.join(self.prefix, rel) if self.prefix else rel


def check_size(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be None or a positive integer (pixels), got {value!r}")
    return int(value)


def reading_options(resize, crop, on_error: str, decode) -> tuple[int | None, int | None, str, bool]:
    """The checked (resize, crop, on_error, decode) options that every image reader takes."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    return check_size(resize, "resize"), check_size(crop, "crop"), on_error, bool(decode)


def resized_shape(h: int, w: int, resize: int) -> tuple[int, int]:
    """(height, width) after scaling the shorter side to `resize` (torchvision's rule)."""
    if w <= h:
        return int(resize * h / w), resize
    return resize, int(resize * w / h)


def center_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Centre crop of an H x W x C array to crop x crop, zero-padding a smaller image (torchvision's rule)."""
    h, w = image.shape[:2]
    if crop > h or crop > w:
        top, left = (crop - h) // 2 if crop > h else 0, (crop - w) // 2 if crop > w else 0
        bottom, right = (crop - h + 1) // 2 if crop > h else 0, (crop - w + 1) // 2 if crop > w else 0
        image = np.pad(image, ((top, bottom), (left, right), (0, 0)))
        h, w = image.shape[:2]
    y, x = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    return image[y:y + crop, x:x + crop]


def resize_crop(image: Image.Image, resize: int | None, crop: int | None) -> np.ndarray:
    """PIL image -> H x W x 3 uint8 array: shorter side to `resize` (bilinear), then centre `crop`."""
    if resize is not None:
        w, h = image.size
        nh, nw = resized_shape(h, w, resize)
        if (nh, nw) != (h, w):
            image = image.resize((nw, nh), Image.BILINEAR)
    array = np.asarray(image)
    return center_crop(array, crop) if crop is not None else array


def resize_crop_tensor(image: torch.Tensor, resize: int | None, crop: int | None) -> torch.Tensor:
    """The same transform on a uint8 [3, H, W] tensor on any device (antialiased bilinear; not bit-equal to PIL)."""
    if resize is not None:
        h, w = image.shape[-2:]
        size = resized_shape(h, w, resize)
        if size != (h, w):
            scaled = torch.nn.functional.interpolate(image[None].float(), size=size, mode="bilinear",
                                                     antialias=True, align_corners=False)
            image = scaled[0].round_().clamp_(0, 255).to(torch.uint8)
    if crop is not None:
        h, w = image.shape[-2:]
        if crop > h or crop > w:
            pad = ((crop - w) // 2 if crop > w else 0, (crop - w + 1) // 2 if crop > w else 0,
                   (crop - h) // 2 if crop > h else 0, (crop - h + 1) // 2 if crop > h else 0)
            image = torch.nn.functional.pad(image, pad)
            h, w = image.shape[-2:]
        y, x = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
        image = image[:, y:y + crop, x:x + crop]
    return image.contiguous()


WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # PIL's modes of 16-bit (and 32-bit) grey images


def to_rgb(im: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of a decoded image; 16-bit grey is scaled by 1/257 (65535 -> 255), where PIL's
    own convert("RGB") would clip every value above 255 to white."""
    if im.mode in WIDE_MODES:
        wide = np.asarray(im).astype(np.float64)
        grey = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return im.convert("RGB")


def decode(source, resize: int | None = None, crop: int | None = None) -> torch.Tensor:
    """A path or encoded bytes -> uint8 [3, H, W]; raises ImageReadError with the reason."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source) as im:
            im.load()  # decodes now, so truncation raises here
            array = resize_crop(to_rgb(im), resize, crop)
    except UnidentifiedImageError:
        raise ImageReadError("not a recognised image file (corrupt, empty or another format)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{type(e).__name__}: {e}") from None
    return torch.from_numpy(array.transpose(2, 0, 1).copy())  # [3, H, W], owning its memory


def is_jpeg(data: torch.Tensor) -> bool:
    """Whether encoded bytes (1-D uint8) start with the JPEG SOI marker."""
    return data.numel() >= 3 and int(data[0]) == 0xFF and int(data[1]) == 0xD8 and int(data[2]) == 0xFF


def collate_items(items, size_hint) -> Batch:
    """Stack (image | Unreadable, label, index) items; unreadable ones go to `failed`."""
    good = [(img, lab, idx) for img, lab, idx in items if not isinstance(img, Unreadable)]
    failed = [(int(idx), img.path, img.error) for img, lab, idx in items if isinstance(img, Unreadable)]
    labels = torch.tensor([lab for _, lab, _ in good], dtype=torch.int64)
    indices = torch.tensor([idx for _, _, idx in good], dtype=torch.int64)
    images = [img for img, _, _ in good]
    if images and all(img.dim() == 3 for img in images):
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) > 1:
            (a, ia), (b, ib) = [next((tuple(img.shape), int(idx)) for img, _, idx in good if tuple(img.shape) == s)
                                for s in sorted(shapes)[:2]]
            raise ValueError(
                f"images in one batch differ in size: {size_hint(ia)} is {a[1]}x{a[2]}, {size_hint(ib)} is"
                f" {b[1]}x{b[2]}; give resize= and/or crop= (CLI --resize/--crop) to bring them to one size"
            )
        images = torch.stack(images)
    elif not images:
        images = torch.empty((0, 3, 0, 0), dtype=torch.uint8)
    return Batch(images, labels, indices, failed)


def _utf8(path: str, name: str) -> bytes:
    """`name` as UTF-8, or a ValueError naming `path` when the file system gave bytes that are not UTF-8."""
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        raise ValueError(f"ImageFolder: the name {raw!r} is not valid UTF-8, so it cannot be written to the manifest;"
                         " rename it (e.g. convmv -f latin1 -t utf8)") from None


class ImageFolder(torch.utils.data.Dataset):
    """root/<class>/**/<image> -> (uint8 [3, H, W], label, index).

    resize: scale the shorter side to this many pixels (bilinear); crop: centre crop to crop x crop
    (zero-padded when smaller), the usual Resize(256) + CenterCrop(224) pair. on_error: "raise" or
    "skip" (see the module doc). verify: the fingerprint hashes every file's content too. decode=False yields JPEG files as encoded bytes (1-D uint8) for
    decoding on the GPU; other formats are still decoded here.
    """

    def __init__(self, root, *, resize: int | None = None, crop: int | None = None, on_error: str = "raise",
                 extensions: Sequence[str] = EXTENSIONS, decode: bool = True, verify: bool = False):
        self.resize, self.crop, self.on_error, self.decode = reading_options(resize, crop, on_error, decode)
        self.verify = bool(verify)
        self.extensions = tuple(e.lower() for e in extensions)
        root = os.fspath(root)
        if not os.path.exists(root):
            raise FileNotFoundError(f"ImageFolder root {root!r} does not exist")
        if not os.path.isdir(root):
            raise NotADirectoryError(f"ImageFolder root {root!r} is not a folder (expected root/<class>/<image>)")
        self.root = os.path.abspath(root)
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise ValueError(f"ImageFolder root {self.root!r} has no class sub-folders (expected root/<class>/<image>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self._scan()
        if self.empty_classes and on_error == "raise":
            raise ValueError(
                f"class folders without images: {self.empty_classes}; pass on_error='skip' (CLI --on-error skip)"
                " to go on with them empty (their label index is kept)"
            )
        if len(self) == 0:
            raise ValueError(f"ImageFolder root {self.root!r} holds no image files with extensions {self.extensions}")

    def _walk(self, top: str, seen: dict):
        """os.walk(top) following links, refusing a folder reached twice (`seen`: (st_dev, st_ino) -> path)."""
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames.sort()
            for d in dirnames:
                path = os.path.join(dirpath, d)
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # a dangling link: os.walk does not descend into it
                first = seen.setdefault((st.st_dev, st.st_ino), path)
                if first != path:
                    raise ValueError(
                        f"ImageFolder: {path} leads to folder {first} again (a symbolic link loop or a second link"
                        " to one folder), so its images would be counted twice; remove the link or point it"
                        " at a folder outside the tree")
            yield dirpath, filenames

    def _scan(self) -> None:
        chunks, lengths, labels, sizes, self.empty_classes, self.ignored = [], [], [], [], [], []
        digest = hashlib.sha256()
        st = os.stat(self.root)
        seen = {(st.st_dev, st.st_ino): self.root}
        for label, name in enumerate(self.classes):
            digest.update(b"class\0" + _utf8(os.path.join(self.root, name), name) + b"\0")
            top = os.path.join(self.root, name)
            st = os.stat(top)
            seen.setdefault((st.st_dev, st.st_ino), top)
            found = 0
            for dirpath, filenames in self._walk(top, seen):
                rel_dir = os.path.relpath(dirpath, self.root)
                for fname in sorted(filenames):
                    rel = os.path.join(rel_dir, fname)
                    if not fname.lower().endswith(self.extensions):
                        self.ignored.append(rel)
                        continue
                    full = os.path.join(dirpath, fname)
                    try:
                        st = os.stat(full)
                    except OSError:
                        st = None  # a dangling link or a file we may not stat: reported when read
                    size = st.st_size if st is not None else -1
                    encoded = _utf8(full, rel)
                    digest.update(encoded + b"\0" + file_stamp(full, self.verify, st) + b"\0")
                    chunks.append(encoded)
                    lengths.append(len(encoded))
                    sizes.append(size)
                    found += 1
            if found == 0:
                self.empty_classes.append(os.path.join(self.root, name))
            labels.append(np.full(found, label, dtype=np.int64))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
        self.paths = Paths(self.root, np.frombuffer(b"".join(chunks), dtype=np.uint8), offsets)
        self.labels = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.fingerprint = digest.hexdigest()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        index = int(index)
        path = self.paths[index]
        label = int(self.labels[index])
        try:
            if not self.decode and path.lower().endswith((".jpg", ".jpeg")):
                with open(path, "rb") as f:
                    data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
                if is_jpeg(data):
                    return data, label, index
                image = decode(data.numpy().tobytes(), self.resize, self.crop)
            else:
                image = decode(path, self.resize, self.crop)
        except ImageReadError as e:
            if self.on_error == "raise":
                raise ImageReadError(f"cannot read image {path}: {e} {SKIP_HINT}") from None
            return Unreadable(path, str(e)), label, index
        except OSError as e:  # open() of a missing or unreadable file
            if self.on_error == "raise":
                raise ImageReadError(f"cannot read image {path}: {type(e).__name__}: {e.strerror or e}"
                                     f" {SKIP_HINT}") from None
            return Unreadable(path, f"{type(e).__name__}: {e.strerror or e}"), label, index
        return image, label, index

    def collate(self, items) -> Batch:
        """DataLoader collate_fn: a `Batch`, unreadable samples moved to `failed`."""
        return collate_items(items, lambda i: self.paths[i])

    def __repr__(self) -> str:
        return (f"ImageFolder(root={self.root!r}, samples={len(self)}, classes={len(self.classes)},"
                f" resize={self.resize}, crop={self.crop}, on_error={self.on_error!r})")
