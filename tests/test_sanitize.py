"""`ucfast.sanitize` / `ucfast sanitize`: outputs against ucfast.score and ucfast.select, the input
formats, model formats, bad inputs, resume checks and bounded memory."""
import csv
import io
import json
import os
import tarfile
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import ucfast
import ucfast.models
from ucfast.cli import main
from ucfast.data.folder import ImageFolder
from ucfast.sanitize import JobLocked, JobMismatch
from ucfast.sanitize.job import JobDir

MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.2, 0.3)
FAST = dict(denoisers=("median",), mean=MEAN, std=STD, batch_size=16, chunk_size=32, workers=0, progress=False)


def make_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """[n, size, size, 3] uint8: smooth blobs plus noise, so models and denoisers see some structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0, 255, (n, 1, 1, 3)) * (0.5 + 0.5 * np.sin(6 * (yy + rng.uniform(0, 1, (n, 1, 1))))[..., None])
    return np.clip(base + rng.normal(0, 25, (n, size, size, 3)), 0, 255).astype(np.uint8)


def make_folder(root, n: int, size: int = 16, classes: int = 3, ext: str = "jpg", seed: int = 0) -> np.ndarray:
    """root/c<k>/<i>.<ext> with image i in class i % classes; returns the arrays in dataset order."""
    images = make_images(n, size, seed)
    order = []
    for i in range(n):
        folder = os.path.join(root, f"c{i % classes}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(images[i]).save(os.path.join(folder, f"{i:05d}.{ext}"), quality=90)
        order.append((i % classes, i))
    return images[[i for _, i in sorted(order)]]


def make_checkpoint(path, classes: int = 3, seed: int = 0, scale: float = 3.0) -> str:
    torch.manual_seed(seed)
    model = ucfast.models.build("cnn", classes)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)  # sharper logits, so the softmax moves measurably
    torch.save(model.state_dict(), path)
    return str(path)


def load_cnn(path, classes: int = 3) -> torch.nn.Module:
    model = ucfast.models.build("cnn", classes)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def files_equal(a, b, names):
    for name in names:
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            assert fa.read() == fb.read(), f"{name} differs between {a} and {b}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sanitize")
    make_folder(root / "folder", 120)
    return root, make_checkpoint(root / "cnn.pt")


def test_outputs_match_score_and_select(data, tmp_path):
    root, ckpt = data
    result = ucfast.sanitize(root / "folder", out=tmp_path / "out", arch="cnn", checkpoint=ckpt, ratio=0.1, **FAST)
    out = result.out
    ds = ImageFolder(root / "folder")
    want = ucfast.score(DataLoader(ds, batch_size=16, collate_fn=lambda b: ds.collate(b)[:3]), load_cnn(ckpt),
                        mean=MEAN, std=STD, denoisers=("median",), progress=False)
    scores = np.load(os.path.join(out, "scores.npy"))
    assert scores.dtype == np.float32 and scores.shape == (120,)
    np.testing.assert_array_equal(scores, want.total)
    np.testing.assert_array_equal(np.load(os.path.join(out, "scores_median.npy")), want.components["median"])
    np.testing.assert_array_equal(np.load(os.path.join(out, "predictions.npy")), want.pred)
    np.testing.assert_array_equal(np.load(os.path.join(out, "labels.npy")), want.label)
    sel = ucfast.select(want, ratio=0.1)
    np.testing.assert_array_equal(result.removed, sel.removed)
    assert result.report["selection"]["cutoff"] == sel.threshold
    assert result.report["counts"] == {"samples": 120, "scored": 120, "kept": 108, "removed": 12, "unreadable": 0}

    with open(os.path.join(out, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == list(ds.paths)
    assert [int(r["index"]) for r in rows if r["status"] == "removed"] == sel.removed.tolist()
    assert np.float32(rows[5]["score"]) == scores[5]
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["id"] == "path" and manifest["removed"] == [ds.paths[i] for i in sel.removed]
    assert len(manifest["kept"]) == 108 and manifest["unreadable"] == []
    with open(os.path.join(out, "histogram.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["settings"]["denoisers"] == ["median"] and report["model"]["sha256"]
    assert "run.json" not in report["files"]["byte_identical"]
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["images_scored_now"] == 120 and run["images_per_s"] > 0


def test_default_median_and_nlm(tmp_path):
    make_folder(tmp_path / "d", 12, size=16, classes=2)
    ckpt = make_checkpoint(tmp_path / "m.pt", classes=2)
    result = ucfast.sanitize(tmp_path / "d", out=tmp_path / "out", arch="cnn", checkpoint=ckpt, threshold=0.0,
                             mean=MEAN, std=STD, batch_size=8, workers=0, progress=False)
    ds = ImageFolder(tmp_path / "d")
    want = ucfast.score(DataLoader(ds, batch_size=8, collate_fn=lambda b: ds.collate(b)[:3]), load_cnn(ckpt, 2),
                        mean=MEAN, std=STD, progress=False)
    np.testing.assert_array_equal(result.scores, want.total)
    for name in ("median", "nlm"):
        np.testing.assert_array_equal(np.load(os.path.join(result.out, f"scores_{name}.npy")), want.components[name])
    assert result.report["counts"]["removed"] == 12  # threshold 0: every score is >= 0


def test_rerun_reuses_chunks_and_selects_again(data, tmp_path):
    root, ckpt = data
    first = ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, ratio=0.1, **FAST)
    again = ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, threshold=0.01,
                            per_class=True, **FAST)
    assert again.run["chunks_reused"] == again.run["chunks"] == 4 and again.run["images_scored_now"] == 0
    np.testing.assert_array_equal(first.scores, again.scores)
    z = again.report["selection"]
    assert z["method"] == "threshold=0.01, per_class" and z["ranked"] == "per-class robust z-score"


def test_changed_model_setting_or_data_is_refused(data, tmp_path):
    root, ckpt = data
    ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, **FAST)
    other = make_checkpoint(tmp_path.parent / "other.pt", seed=1)
    with pytest.raises(JobMismatch, match="(?s)the model changed.*Refusing to mix results"):
        ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=other, **FAST)
    with pytest.raises(JobMismatch, match="setting 'batch_size' changed: the job has 16, this run has 8"):
        ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, **dict(FAST, batch_size=8))
    with pytest.raises(JobMismatch, match="setting 'denoisers' changed"):
        ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt,
                        **dict(FAST, denoisers=("median", "bitdepth")))
    data2 = tmp_path.parent / "data2"
    make_folder(data2, 121)
    with pytest.raises(JobMismatch, match="the dataset changed"):
        ucfast.sanitize(data2, out=tmp_path, arch="cnn", checkpoint=ckpt, **FAST)
    again = ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, **FAST)  # not locked out
    assert again.run["chunks_reused"] == again.run["chunks"]


def test_a_second_writer_is_refused(data, tmp_path):
    root, ckpt = data
    job = JobDir(tmp_path)
    job.create()
    job.lock()
    try:
        with pytest.raises(JobLocked, match="another ucfast sanitize is writing to"):
            ucfast.sanitize(root / "folder", out=tmp_path, arch="cnn", checkpoint=ckpt, **FAST)
    finally:
        job.unlock()


@pytest.fixture
def broken(tmp_path):
    make_folder(tmp_path / "d", 30, classes=2)
    good = (tmp_path / "d" / "c0" / "00000.jpg").read_bytes()
    (tmp_path / "d" / "c0" / "00002.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "d" / "c1" / "00003.jpg").write_bytes(b"this is no JPEG")  # corrupt
    os.makedirs(tmp_path / "d" / "c2")  # empty class
    return tmp_path / "d", make_checkpoint(tmp_path / "m.pt", classes=3)


def test_bad_images_fail_by_default_naming_the_path(broken, tmp_path, capsys):
    folder, ckpt = broken
    code = main(["sanitize", str(folder), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o1"),
                 "--denoisers", "median", "--no-progress"])
    assert code == 1 and "class folders without images" in capsys.readouterr().err
    os.rmdir(folder / "c2")
    code = main(["sanitize", str(folder), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o2"),
                 "--denoisers", "median", "--no-progress", "--workers", "1", "--num-classes", "3", "--ratio", "0.1"])
    err = capsys.readouterr().err
    assert code == 1 and f"cannot read image {folder / 'c0' / '00002.jpg'}" in err and "--on-error skip" in err


def test_bad_images_skipped_are_reported_never_scored(broken, tmp_path):
    folder, ckpt = broken
    result = ucfast.sanitize(folder, out=tmp_path / "out", arch="cnn", checkpoint=ckpt, ratio=0.25,
                             on_error="skip", **dict(FAST, batch_size=4, chunk_size=8, workers=1))
    ds = ImageFolder(folder, on_error="skip")
    bad = [ds.paths.relative(i) for i in range(len(ds))].index(os.path.join("c0", "00002.jpg"))
    corrupt = [ds.paths.relative(i) for i in range(len(ds))].index(os.path.join("c1", "00003.jpg"))
    rep = result.report
    assert rep["counts"] == {"samples": 30, "scored": 28, "unreadable": 2, "removed": 7, "kept": 21}
    assert [(u["index"], u["id"]) for u in rep["unreadable"]] == [(bad, ds.paths[bad]), (corrupt, ds.paths[corrupt])]
    assert "truncated" in rep["unreadable"][0]["error"].lower()
    assert rep["dataset"]["empty_class_folders"] == [str(folder / "c2")]
    assert np.isnan(result.scores[[bad, corrupt]]).all() and np.isfinite(np.delete(result.scores, [bad, corrupt])).all()
    assert result.status[bad] == result.status[corrupt] == 2
    assert np.load(os.path.join(result.out, "predictions.npy"))[bad] == -1
    with open(os.path.join(result.out, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    assert rows[bad]["status"] == "unreadable" and rows[bad]["score"] == ""
    with open(os.path.join(result.out, "manifest.json")) as f:
        assert json.load(f)["unreadable"] == [ds.paths[bad], ds.paths[corrupt]]


def _write_shards(folder, images, labels, per_shard):
    os.makedirs(folder)
    for s, start in enumerate(range(0, len(images), per_shard)):
        with tarfile.open(os.path.join(folder, f"shard-{s:04d}.tar"), "w") as tf:
            for i in range(start, min(start + per_shard, len(images))):
                png = io.BytesIO()
                Image.fromarray(images[i]).save(png, format="PNG")
                for ext, payload in (("png", png.getvalue()), ("cls", str(int(labels[i])).encode())):
                    info = tarfile.TarInfo(f"sample{i:05d}.{ext}")
                    info.size = len(payload)
                    tf.addfile(info, io.BytesIO(payload))


def test_folder_shards_and_npz_give_the_same_scores(tmp_path):
    images = make_folder(tmp_path / "folder", 45, size=12, ext="png")  # PNG: lossless, same pixels everywhere
    labels = ImageFolder(tmp_path / "folder").labels
    _write_shards(tmp_path / "shards", images, labels, per_shard=20)
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    ckpt = make_checkpoint(tmp_path / "m.pt")
    outs = {}
    for name, data in (("folder", tmp_path / "folder"), ("shards", tmp_path / "shards"),
                       ("npz", tmp_path / "data.npz")):
        outs[name] = ucfast.sanitize(data, out=tmp_path / f"out_{name}", arch="cnn", checkpoint=ckpt, ratio=0.2,
                                     **dict(FAST, batch_size=4, chunk_size=8))
    assert outs["shards"].report["dataset"]["kind"] == "shards" and outs["shards"].run["chunks"] == 7  # 3+3+1
    files_equal(outs["folder"].out, outs["shards"].out, ["scores.npy", "scores_median.npy", "predictions.npy",
                                                         "labels.npy", "status.npy"])
    files_equal(outs["folder"].out, outs["npz"].out, ["scores.npy", "predictions.npy", "labels.npy", "status.npy"])
    with open(os.path.join(outs["shards"].out, "manifest.csv")) as f:
        row = list(csv.DictReader(f))[21]
    assert row["id"] == "shard-0001.tar:sample00021"
    assert json.load(open(os.path.join(outs["npz"].out, "manifest.json")))["id"] == "index"


def test_torchscript_and_export_files(data, tmp_path):
    root, ckpt = data
    model = load_cnn(ckpt)
    example = torch.rand(4, 3, 16, 16)
    torch.jit.save(torch.jit.trace(model, example), tmp_path / "model.ts")
    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({0: batch},)), tmp_path / "model.pt2")
    base = ucfast.sanitize(root / "folder", out=tmp_path / "sd", arch="cnn", checkpoint=ckpt, **FAST)
    for name in ("model.ts", "model.pt2"):
        got = ucfast.sanitize(root / "folder", out=tmp_path / name.replace(".", "_"), checkpoint=tmp_path / name,
                              **FAST)
        assert got.report["model"]["format"] == {"model.ts": "torchscript", "model.pt2": "export"}[name]
        np.testing.assert_allclose(got.scores, base.scores, rtol=1e-4, atol=1e-6)


def test_module_given_in_python(data, tmp_path):
    root, ckpt = data
    model = load_cnn(ckpt).train()
    got = ucfast.sanitize(root / "folder", out=tmp_path, model=model, **FAST)
    base = ucfast.sanitize(root / "folder", out=tmp_path / "sd", arch="cnn", checkpoint=ckpt, **FAST)
    np.testing.assert_array_equal(got.scores, base.scores)
    assert model.training and got.report["model"]["format"] == "module"


@pytest.mark.parametrize("args, code, message", [
    (["{data}/nope", "--arch", "cnn", "--checkpoint", "{ckpt}"], 1, "data: '.*nope' does not exist"),
    (["{data}/folder", "--arch", "vgg99", "--checkpoint", "{ckpt}"], 1, "arch: unknown model 'vgg99'"),
    (["{data}/folder", "--checkpoint", "{ckpt}"], 1, "is a state dict: name its architecture"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{data}/none.pt"], 1, "checkpoint .*none.pt.* does not exist"),
    (["{data}/folder", "--arch", "resnet18", "--checkpoint", "{ckpt}"], 1, "does not fit architecture 'resnet18'"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{ckpt}", "--ratio", "0.1", "--threshold", "1"], 2,
     "argument --threshold: not allowed with argument --ratio"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{ckpt}", "--ratio", "1.5"], 1, r"ratio must be a fraction"),
    (["{data}/folder", "--arch", "cnn"], 2, "the following arguments are required: --checkpoint"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{ckpt}", "--denoisers", "gauss"], 1, "unknown denoiser"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{ckpt}", "--device", "cuda"], 1, "CUDA is not available"),
    (["{data}/folder", "--arch", "cnn", "--checkpoint", "{data}/pickled.pt"], 1, "weights_only=True"),
])
def test_cli_bad_inputs(data, tmp_path, capsys, args, code, message):
    import re

    root, ckpt = data
    if not (root / "pickled.pt").exists():
        torch.save({"model": load_cnn(ckpt), "epoch": 3}, root / "pickled.pt")
    argv = ["sanitize"] + [a.format(data=root, ckpt=ckpt) for a in args] + ["--out", str(tmp_path / "o")]
    if code == 2:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    else:
        assert main(argv + ["--no-progress"]) == code
    assert re.search(message, capsys.readouterr().err)


def test_cli_run_prints_a_summary(data, tmp_path, capsys):
    root, ckpt = data
    code = main(["sanitize", str(root / "folder"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path),
                 "--ratio", "0.05", "--denoisers", "median", "--batch-size", "32", "--no-progress",
                 "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))])
    out = capsys.readouterr().out
    assert code == 0 and "scored 120 of 120 samples" in out and "removed 6, kept 114 (ratio=0.05" in out


def _peak_bytes(folder, ckpt, out) -> int:
    tracemalloc.start()
    try:
        ucfast.sanitize(folder, out=out, arch="cnn", checkpoint=ckpt, ratio=0.1,
                        **dict(FAST, batch_size=20, chunk_size=100))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_for_ten_times_the_data(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.pt")
    make_folder(tmp_path / "small", 100, size=32)
    make_folder(tmp_path / "large", 1000, size=32, seed=1)
    ucfast.sanitize(tmp_path / "small", out=tmp_path / "warm", arch="cnn", checkpoint=ckpt, ratio=0.1,
                    **FAST)  # first-call caches and lazy imports, outside the measurement
    small = _peak_bytes(tmp_path / "small", ckpt, tmp_path / "o1")
    large = _peak_bytes(tmp_path / "large", ckpt, tmp_path / "o2")
    # The batch pool is 20 images; holding the 900 extra 32 x 32 images anywhere would add 2.7 MB,
    # while the O(N) bookkeeping (paths, labels, scores) costs tens of bytes per sample.
    assert large - small < 900 * 200, (small, large)
