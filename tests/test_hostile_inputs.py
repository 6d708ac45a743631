"""Issue 13: the cases a hostile test found silently wrong, too late or as raw tracebacks in score,
select and sanitize; one test (or more) per numbered item of the issue."""
import json
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

import ucfast
import ucfast.models
from ucfast.cli import main
from ucfast.cli.sanitize import _summary
from ucfast.data.folder import ImageFolder, decode
from ucfast.images import check_images
from ucfast.sanitize import JobLocked, JobMismatch
from ucfast.sanitize.settings import default_chunk_size
from tests.crash import killed, run_in_child
from tests.test_sanitize import FAST, files_equal, load_cnn, make_checkpoint, make_folder
from tests.test_select import scores


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    make_folder(root / "folder", 48)
    return root, make_checkpoint(root / "cnn.pt")


def loader(n=8, size=16, labels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.zeros(n, dtype=torch.int64) if labels is None else torch.as_tensor(labels)
    return [(images, labels)]


def cnn(classes=3):
    torch.manual_seed(0)
    return ucfast.models.build("cnn", classes).eval()


SCORE = dict(denoisers=("median",), mean=0.5, std=0.25, progress=False, features=False)


def test_item01_a_symlink_loop_in_the_tree_is_refused(tmp_path):
    make_folder(tmp_path / "d", 12, classes=2)
    os.symlink("..", tmp_path / "d" / "c0" / "loop")
    with pytest.raises(ValueError, match=r"c0/loop leads to folder .* again \(a symbolic link loop"):
        ImageFolder(tmp_path / "d")


def test_item01_a_link_to_a_folder_outside_the_tree_is_followed(tmp_path):
    make_folder(tmp_path / "elsewhere", 4, classes=1)
    make_folder(tmp_path / "d", 6, classes=2)
    os.symlink(tmp_path / "elsewhere" / "c0", tmp_path / "d" / "c1" / "more")
    assert len(ImageFolder(tmp_path / "d")) == 10


def _bmp_folder(root, n=12):
    make_folder(root, n, classes=2, ext="bmp")  # BMP: the same size whatever the pixels
    return root / "c0" / "00000.bmp"


def test_item02_resume_refuses_an_image_edited_in_place_at_the_same_size(small, tmp_path):
    _, ckpt = small
    edited = _bmp_folder(tmp_path / "d")
    ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", arch="cnn", checkpoint=ckpt, ratio=0.2, **FAST)
    size = edited.stat().st_size
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(edited)
    os.utime(edited, ns=(time.time_ns(), edited.stat().st_mtime_ns + 10**9))
    assert edited.stat().st_size == size
    with pytest.raises(JobMismatch, match="the dataset changed: its fingerprint \\(file names, sizes and modification"):
        ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", arch="cnn", checkpoint=ckpt, ratio=0.2, **FAST)


def test_item02_verify_sees_an_edit_that_kept_size_and_modification_time(small, tmp_path):
    _, ckpt = small
    edited = _bmp_folder(tmp_path / "d")
    run = dict(FAST, arch="cnn", checkpoint=ckpt, ratio=0.2, verify=True)
    ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", **run)
    assert ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", **run).run["chunks_reused"] == 1
    before = edited.stat()
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(edited)
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(JobMismatch, match="the dataset changed"):
        ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", **run)
    with pytest.raises(JobMismatch, match="dataset setting 'verified' changed: the job has True, this run has False"):
        ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", **dict(run, verify=False))


class Slow(torch.nn.Module):
    """A model that takes `delay` seconds per forward, so the DataLoader worker waits idle for work."""

    def __init__(self, model, delay: float):
        super().__init__()
        self.model, self.delay = model, delay

    def forward(self, x):
        time.sleep(self.delay)
        return self.model(x)


def test_item03_a_killed_job_with_a_worker_does_not_lock_out_its_immediate_rerun(small, tmp_path):
    root, ckpt = small
    run = dict(FAST, ratio=0.1, batch_size=4, chunk_size=8)
    status, message = run_in_child(root / "folder", "batch:2", out=tmp_path / "o", model=Slow(load_cnn(ckpt), 0.3),
                                   **dict(run, workers=1))
    assert killed(status), message
    try:
        again = ucfast.sanitize(root / "folder", out=tmp_path / "o", model=Slow(load_cnn(ckpt), 0.0), **run)
    except JobLocked as e:
        pytest.fail(f"the killed job's DataLoader worker still holds the lock: {e}")
    assert again.run["resumed"]


def test_item04_a_one_class_model_is_refused():
    model = torch.nn.Sequential(cnn(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="the model has 1 output .* UltraClean needs K >= 2"):
        ucfast.score(loader(), model, **SCORE)
    assert ucfast.score(loader(), model, space="logits", **SCORE).total.shape == (8,)


def test_item04_nan_logits_are_refused_naming_the_batch():
    class NanAt(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], 3)
            out[1] = float("nan")
            return out

    with pytest.raises(ValueError, match=r"batch 0, dataset indices \[1\]: the model gave NaN or Inf logits"):
        ucfast.score(loader(), NanAt(), **SCORE)


def test_item04_select_and_metrics_refuse_non_finite_values():
    bad = scores([0.1, float("nan"), 0.3, 0.2])
    with pytest.raises(ValueError, match="scores hold 1 NaN or Inf values \\(first at dataset position 1"):
        ucfast.select(bad, ratio=0.5)
    with pytest.raises(ValueError, match="NaN or Inf entries"):
        ucfast.metrics.detection(bad, np.array([0, 1, 0, 0], bool))


def test_item05_mean_and_std_in_0_255_units_are_refused():
    with pytest.raises(ValueError, match=r"mean must be in 0..1 units .* divide by 255: mean=\(0.4914"):
        ucfast.score(loader(), cnn(), **dict(SCORE, mean=(125.3, 123.0, 113.9)))
    with pytest.raises(ValueError, match="std must be in 0..1 units"):
        ucfast.sanitize("x", out="y", std=63.0, checkpoint="c", arch="cnn")


def test_item05_labels_outside_the_model_classes_are_refused(tmp_path):
    for labels in ([0] * 7 + [99], [-1] + [0] * 7):
        with pytest.raises(ValueError, match=r"batch 0: labels \[(99|-1)\] are not classes of the model.* K = 3"):
            ucfast.score(loader(labels=labels), cnn(), **SCORE)
    make_folder(tmp_path / "d", 16, classes=4)
    with pytest.raises(ValueError, match=r"labels \[3\] are not classes of the model, whose logits have K = 3"):
        ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", model=cnn(), ratio=0.2, **FAST)
    path = tmp_path / "neg.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 3), np.uint8), labels=np.array([0, -1, 1, 2]))
    with pytest.raises(ValueError, match="labels 'labels' must be class indices >= 0, got 1 negative"):
        ucfast.sanitize(path, out=tmp_path / "o2", model=cnn(), ratio=0.5, **FAST)


def test_item05_defaulted_mean_std_are_reported_and_far_statistics_warned(small, tmp_path, capsys):
    root, ckpt = small
    assert main(["sanitize", str(root / "folder"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o"),
                 "--ratio", "0.1", "--denoisers", "median", "--workers", "0", "--no-progress"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["settings"]["defaulted"] == ["mean", "std"]
    assert "note: --mean and --std not given" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="the first batch's pixels, normalised with mean=.* are mean/std the model's"):
        ucfast.score(loader(), cnn(), **dict(SCORE, mean=0.9, std=0.01))


def test_item06_selection_arguments():
    s = scores(np.linspace(0, 1, 300), label=np.arange(300) % 3)
    for classes in ([0.5], "10", []):
        with pytest.raises(ValueError, match="classes must be a class index or a non-empty list of them"):
            ucfast.select(s, ratio=0.1, classes=classes)
    with pytest.raises(ValueError, match=r"ratio=0.001 of 300 candidate samples removes floor\(0.3\) = 0"):
        ucfast.select(s, ratio=0.001)
    assert ucfast.select(s, ratio=np.float32(0.1), classes=[np.int64(1)]).removed.size == 10
    assert ucfast.select(s, threshold=np.float64(0.99)).removed.size == 3


def test_item07_a_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    wide = (np.arange(256, dtype=np.uint32).reshape(16, 16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    got = decode(str(tmp_path / "g16.png"))
    assert got.shape == (3, 16, 16)
    np.testing.assert_array_equal(got[0].numpy(), np.arange(256).reshape(16, 16))


def test_item07_an_ambiguous_channels_last_batch_is_refused():
    with pytest.raises(ValueError, match=r"shape \(2, 3, 16, 3\) is ambiguous.* permute a channels-last batch"):
        check_images(torch.zeros(2, 3, 16, 3, dtype=torch.uint8))
    assert check_images(torch.zeros(2, 3, 1, 1, dtype=torch.uint8)).shape == (2, 3, 1, 1)
    assert check_images(torch.zeros(2, 1, 3, 3, dtype=torch.uint8)).shape == (2, 3, 3, 3)


def test_item08_an_out_holding_another_tools_files_is_refused_without_force(small, tmp_path, capsys):
    root, ckpt = small
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "report.json").write_text('{"tool": "other"}')
    argv = ["sanitize", str(root / "folder"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o"),
            "--ratio", "0.1", "--denoisers", "median", "--workers", "0", "--no-progress"]
    assert main(argv) == 1
    assert "holds files no ucfast sanitize job wrote (report.json)" in capsys.readouterr().err
    assert (tmp_path / "o" / "report.json").read_text() == '{"tool": "other"}'
    assert main(argv + ["--force"]) == 0
    assert main(argv) == 0  # a job's own folder resumes without --force


def test_item09_classes_absent_from_the_labels_fail_before_scoring(small, tmp_path, capsys):
    root, ckpt = small
    assert main(["sanitize", str(root / "folder"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o"),
                 "--ratio", "0.1", "--classes", "7", "--no-progress"]) == 1
    assert "classes [7] do not occur among the labels [0, 1, 2]" in capsys.readouterr().err
    assert os.listdir(tmp_path / "o" / ".ucfast" / "chunks") == []


def test_item09_a_file_name_that_is_not_utf8_is_refused_when_the_tree_opens(small, tmp_path):
    root, ckpt = small
    make_folder(tmp_path / "d", 6, classes=2)
    os.rename(tmp_path / "d" / "c1" / "00001.jpg", os.fsencode(tmp_path / "d" / "c1") + b"/caf\xe9.jpg")
    with pytest.raises(ValueError, match=r"the name b'.*/c1/caf\\xe9.jpg' is not valid UTF-8"):
        ucfast.sanitize(tmp_path / "d", out=tmp_path / "o", arch="cnn", checkpoint=ckpt, ratio=0.2, **FAST)
    assert not (tmp_path / "o" / ".ucfast" / "job.json").exists()


def test_item10_a_batch_too_large_for_memory_is_refused_before_denoising(monkeypatch):
    monkeypatch.setattr(ucfast.images, "available_memory", lambda device: 1 << 20)
    with pytest.raises(MemoryError, match=r"a batch of 8 images of 64 x 64 pixels with 2 variants needs about .*"
                                          r"--batch-size.*--resize/--crop"):
        ucfast.score(loader(size=64), cnn(), **SCORE)


def test_item11_a_fixed_batch_export_is_refused_naming_the_fix(small, tmp_path):
    root, ckpt = small
    model = load_cnn(ckpt)
    torch.export.save(torch.export.export(model, (torch.zeros(2, 3, 16, 16),)), tmp_path / "fixed.pt2")
    with pytest.raises(ValueError, match=r"traced at the fixed input shape \[2, 3, 16, 16\].*dynamic_shapes"):
        ucfast.sanitize(root / "folder", out=tmp_path / "o", checkpoint=tmp_path / "fixed.pt2", ratio=0.1, **FAST)


def test_item11_meta_models_and_missing_cuda_are_named():
    with torch.device("meta"):
        meta = ucfast.models.build("cnn", 3)
    with pytest.raises(ValueError, match="parameters are on the meta device and hold no weights"):
        ucfast.score(loader(), meta, **SCORE)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for, but CUDA is not available here"):
            ucfast.score(loader(), cnn(), device="cuda", **SCORE)


def test_item11_a_one_channel_model_scores_grey_images():
    torch.manual_seed(0)
    grey = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 3))
    rgb = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), *list(grey)[1:])
    with torch.no_grad():
        rgb[0].weight.copy_(grey[0].weight.repeat(1, 3, 1, 1) / 3)
        rgb[0].bias.copy_(grey[0].bias)
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8, generator=g)
    batch = [(images, torch.zeros(8, dtype=torch.int64))]
    got = ucfast.score(batch, grey, **SCORE)
    want = ucfast.score(batch, rgb, **SCORE)
    assert got.settings["model_input"].startswith("grey")
    np.testing.assert_allclose(got.total, want.total, atol=1e-5)


def test_item12_a_full_disk_names_the_file_leaves_no_temporaries_and_resumes(small, tmp_path):
    root, ckpt = small
    run = dict(FAST, arch="cnn", checkpoint=ckpt, ratio=0.1)
    want = ucfast.sanitize(root / "folder", out=tmp_path / "ref", **run)
    chunks = tmp_path / "ref" / ".ucfast" / "chunks"
    limit = max(os.path.getsize(chunks / n) for n in os.listdir(chunks)) + 64  # chunks fit, the merge does not
    assert limit < max(os.path.getsize(tmp_path / "ref" / n) for n in want.report["files"]["byte_identical"])
    status, message = run_in_child(root / "folder", limit_bytes=limit, out=tmp_path / "o", **run)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, message
    assert "[Errno 27]" in message and str(tmp_path / "o") in message, message
    left = sorted(os.listdir(tmp_path / "o"))
    assert not [n for n in left if ".tmp-" in n], left
    assert "report.json" not in left and "manifest.csv" not in left, left
    again = ucfast.sanitize(root / "folder", out=tmp_path / "o", **run)
    assert again.run["chunks_reused"] == again.run["chunks"]
    files_equal(want.out, again.out, want.report["files"]["byte_identical"])


def test_item13_every_file_unreadable_fails_and_writes_no_outputs(small, tmp_path, capsys):
    _, ckpt = small
    for i in range(6):
        os.makedirs(tmp_path / "d" / f"c{i % 3}", exist_ok=True)
        (tmp_path / "d" / f"c{i % 3}" / f"{i}.jpg").write_bytes(b"not an image")
    assert main(["sanitize", str(tmp_path / "d"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(tmp_path / "o"),
                 "--ratio", "0.5", "--on-error", "skip", "--workers", "0", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "none of the 6 samples" in err and "nothing was scored" in err and "0.jpg" in err
    assert not (tmp_path / "o" / "report.json").exists()


def test_item13_the_summary_names_only_the_files_written(small, tmp_path):
    root, ckpt = small
    result = ucfast.sanitize(root / "folder", out=tmp_path / "o", arch="cnn", checkpoint=ckpt, ratio=0.1, **FAST)
    result.report["histogram"] = "not written: matplotlib is not importable"
    assert "histogram.png" not in _summary(result)


def test_item14_the_default_chunk_lets_a_kill_keep_most_of_the_work(small, tmp_path):
    assert default_chunk_size(3000, 64) == 128 and 3000 / 128 > 20
    assert default_chunk_size(1_281_167, 256) == 16 * 256 and default_chunk_size(10, 64) == 64
    root, ckpt = small
    run = dict(FAST, arch="cnn", checkpoint=ckpt, ratio=0.1, batch_size=4, chunk_size=None)
    status, message = run_in_child(root / "folder", "batch:8", out=tmp_path / "o", **run)
    assert killed(status), message
    assert len(os.listdir(tmp_path / "o" / ".ucfast" / "chunks")) >= 6
    done = ucfast.sanitize(root / "folder", out=tmp_path / "o", **run)
    assert done.report["settings"]["chunk_size"] == 4 and done.run["chunks_reused"] >= 6
