"""`ucfast sanitize --reference`: a trusted clean set scored by the job's model and given to the
detector, as `ucfast.select(scores, reference=ucfast.score(trusted, model))` does; resumable on its
own, refused before any scoring where the selection would not use it."""
import json
import os

import numpy as np
import pytest
from torch.utils.data import DataLoader

import ucfast
from ucfast.cli import main
from ucfast.data.npz import NpzImages
from ucfast.sanitize.select import REMOVED

from .test_sanitize import load_cnn, make_images
from .test_sanitize_select import CLASSES, _cli, _scores_of
from .test_sanitize_select import oversized  # noqa: F401  (the module-scoped fixture)

PER_CLASS_REFERENCE = 4


@pytest.fixture(scope="module")
def trusted(tmp_path_factory, oversized):
    """The oversized data (test_sanitize_select) and a reference .npz: PER_CLASS_REFERENCE new images of
    every class, drawn as the data's genuine images are."""
    root, ckpt = oversized
    images = make_images(CLASSES * PER_CLASS_REFERENCE, 16, seed=7)
    path = tmp_path_factory.mktemp("reference") / "trusted.npz"
    np.savez(path, images=images, labels=np.arange(images.shape[0]) % CLASSES)
    return root, ckpt, path


def _library_reference(path, ckpt) -> ucfast.Scores:
    ds = NpzImages(str(path))
    loader = DataLoader(ds, batch_size=64, collate_fn=lambda b: ds.collate(b)[:3])
    return ucfast.score(loader, load_cnn(ckpt, CLASSES), denoisers=("median",), progress=False)


def test_the_job_removes_what_select_with_the_reference_removes(trusted, tmp_path):
    root, ckpt, path = trusted
    report = _cli(root, ckpt, tmp_path, "--reference", str(path))
    want = ucfast.select(_scores_of(tmp_path), reference=_library_reference(path, ckpt))
    status = np.load(tmp_path / "status.npy")
    np.testing.assert_array_equal(np.flatnonzero(status == REMOVED), want.removed)
    assert report["selection"]["assumptions"] == json.loads(json.dumps(want.assumptions))
    assert report["selection"]["assumptions"]["reference_samples"] == CLASSES * PER_CLASS_REFERENCE
    assert report["reference"] == {"kind": "npz", "path": str(path), "samples": CLASSES * PER_CLASS_REFERENCE,
                                   "fingerprint": report["reference"]["fingerprint"],
                                   "scored": CLASSES * PER_CLASS_REFERENCE}
    assert report["settings"]["reference"] == str(path)


def test_a_rerun_keeps_the_data_s_chunks_and_scores_a_new_reference_anew(trusted, tmp_path):
    root, ckpt, path = trusted
    _cli(root, ckpt, tmp_path)
    other = tmp_path.parent / f"{tmp_path.name}-other.npz"
    with np.load(path) as z:
        np.savez(other, images=z["images"][::2], labels=z["labels"][::2])
    for reference, samples in ((path, CLASSES * PER_CLASS_REFERENCE), (other, CLASSES * PER_CLASS_REFERENCE // 2),
                               (path, CLASSES * PER_CLASS_REFERENCE)):
        report = _cli(root, ckpt, tmp_path, "--reference", str(reference))
        with open(tmp_path / "run.json") as f:
            assert json.load(f)["chunks_scored_now"] == 0  # the data's chunks: the reference is not in job.json
        assert report["reference"]["samples"] == samples
    held = sorted(n for n in os.listdir(tmp_path / ".ucfast") if n.startswith("reference-"))
    assert len([n for n in held if not n.endswith(".npz")]) == 2  # one scored folder per reference, kept


@pytest.mark.parametrize("extra, message", [
    (dict(ratio=0.1), "not by the paper's cut"),
    (dict(method="ultraclean", threshold=0.1), "not by the paper's cut"),
    (dict(features=False), "penultimate features"),
    (dict(cuda_graphs=True), "cuda_graphs"),
    (dict(reference=3), "path of a trusted clean data set"),
])
def test_a_reference_the_selection_would_not_use_is_refused_before_the_data_opens(trusted, tmp_path, extra,
                                                                                     message):
    root, ckpt, path = trusted
    options = dict(dict(reference=str(path)), **extra)
    with pytest.raises(ValueError, match=message):
        ucfast.sanitize(root / "data.npz", out=tmp_path / "out", arch="cnn", checkpoint=ckpt, **options)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("labels, message", [
    (np.full(8, 99), r"labels \[99\] that no sample of the data has"),
    (None, "8 of 8 samples .* have no label"),
])
def test_a_reference_of_other_classes_is_refused_before_anything_is_scored(trusted, tmp_path, labels, message):
    root, ckpt, _ = trusted
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=make_images(8, 16, seed=3), **({} if labels is None else dict(labels=labels)))
    with pytest.raises(ValueError, match=message):
        ucfast.sanitize(root / "data.npz", out=tmp_path / "out", arch="cnn", checkpoint=ckpt, reference=str(bad),
                        denoisers=("median",), workers=0, progress=False)
    assert not os.listdir(tmp_path / "out" / ".ucfast" / "chunks")


def test_a_missing_reference_is_named(trusted, tmp_path, capsys):
    root, ckpt, _ = trusted
    code = main(["sanitize", str(root / "data.npz"), "--arch", "cnn", "--checkpoint", ckpt, "--out",
                 str(tmp_path / "out"), "--reference", str(tmp_path / "nowhere.npz"), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "reference: " in err and "nowhere.npz" in err
    assert not (tmp_path / "out").exists()


def test_clean_refuses_a_reference_with_the_paper_s_cut_before_the_data_opens(tmp_path):
    with pytest.raises(ValueError, match="not by the paper's cut"):
        ucfast.clean(tmp_path / "missing", out=tmp_path / "out", reference=str(tmp_path / "ref.npz"), ratio=0.1)
    with pytest.raises(FileNotFoundError, match="reference: .*ref.npz"):
        ucfast.CleanSettings(reference=str(tmp_path / "ref.npz")).checked()
    np.savez(tmp_path / "ref.npz", images=make_images(2, 16, seed=1), labels=np.zeros(2, np.int64))
    assert ucfast.CleanSettings(reference=str(tmp_path / "ref.npz")).checked().reference == str(tmp_path / "ref.npz")
