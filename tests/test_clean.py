"""`ucfast clean` as a user runs it, in subprocesses, on a generated poisoned 32 x 32 folder (BadNets on the
synthetic set, written by `ucfast.clean.write_poisoned`): one uninterrupted run; torchrun with two gloo
ranks gives the same manifest (and weights); kill -9 in every stage, each followed by a rerun, gives the
same outputs; the training input reads folders, tar shards and .npz alike; and the pieces that decide
determinism (the sampler, the per-sample augmentation)."""
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
import torch

import ucfast
from tests.test_sanitize_dist import _env
from ucfast.clean import write_poisoned
from ucfast.clean.loader import GlobalBatches, TrainItems
from ucfast.clean.transforms import Augment, crop_box
from ucfast.sanitize.sources import open_source

ARGS = ["--arch", "cnn", "--epochs", "6", "--retrain", "--retrain-epochs", "2", "--batch-size", "32",
        "--micro-batch", "16", "--chunk-size", "64", "--denoisers", "median", "--workers", "0", "--no-progress"]


def clean_cmd(data, out, *extra):
    return [sys.executable, "-m", "ucfast", "clean", str(data), "--out", str(out), *ARGS, *extra]


def run(cmd, timeout=240):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def weights(path):
    return torch.load(path, weights_only=True)


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The poisoned folder and one uninterrupted single-process run to compare against."""
    root = tmp_path_factory.mktemp("clean")
    write_poisoned(root / "data", dataset="synthetic", attack="badnets", rate=0.1, n_train=600, n_test=160)
    done = run(clean_cmd(root / "data" / "train", root / "single"))
    assert done.returncode == 0, done.stderr[-3000:]
    return root, root / "single"


def test_an_uninterrupted_run_reports_every_stage(job):
    root, single = job
    with open(single / "report.json") as f:
        report = json.load(f)
    assert set(report["stages"]) == {"stats", "train", "score", "evaluate", "retrain", "evaluate-clean"}
    r = report["results"]
    assert r["samples"] == 600 and r["removed"] + r["kept"] == 600
    assert all(0 <= r[k] <= 1 for k in ("ca_before", "asr_before", "ca_after", "asr_after"))
    assert report["detection"]["poisoned"] == 60 and report["detection"]["poisoned_removed"] >= 54
    assert report["selection"]["algorithm"] == "auto"
    assert report["data"]["attack"]["attack"] == "badnets"
    for name in ("manifest.csv", "manifest.json", "suspect.pt", "clean.pt", "histogram.png", "roc.png"):
        assert (single / name).is_file(), name
    removed = json.loads((single / "manifest.json").read_text())["removed"]
    assert len(removed) == r["removed"]
    assert report["stages"]["retrain"]["result"]["samples"] == r["kept"]


def test_torchrun_two_ranks_gives_the_same_manifest(job):
    root, single = job
    out = root / "dist"
    done = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ucfast",
                "clean", str(root / "data" / "train"), "--out", str(out), *ARGS])
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-3000:]
    assert done.stdout.count("outputs in") == 1  # rank 0 alone prints the summary
    assert (out / "manifest.json").read_bytes() == (single / "manifest.json").read_bytes()
    assert same_weights(single / "suspect.pt", out / "suspect.pt")
    with open(out / "report.json") as f:
        assert json.load(f)["run"]["world_size"] == 2


def _kill_when(proc, ready, deadline_s=180):
    deadline = time.time() + deadline_s
    while time.time() < deadline and proc.poll() is None:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def test_kill_9_in_every_stage_then_rerun_gives_the_same_outputs(job):
    root, single = job
    out = root / "killed"
    state = out / ".clean"
    chunks = out / "score" / ".ucfast" / "chunks"
    stages = [
        ("train", lambda: (state / "train-state.pt").exists()),
        ("score", lambda: chunks.exists() and any(n.endswith(".npz") for n in os.listdir(chunks))),
        ("retrain", lambda: (state / "retrain-state.pt").exists()),
    ]
    for stage, ready in stages:
        proc = subprocess.Popen(clean_cmd(root / "data" / "train", out, "--checkpoint-minutes", "0"), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _kill_when(proc, ready), f"the run ended before it could be killed in {stage}"
        assert not (state / f"{stage}.json").exists(), f"{stage} had finished when it was killed"
    done = run(clean_cmd(root / "data" / "train", out))
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "report.json") as f:
        reused = {k: v["reused_from_earlier_run"] for k, v in json.load(f)["stages"].items()}
    assert reused["train"] and reused["score"] and not reused["evaluate-clean"]
    for name in ("manifest.json", "manifest.csv"):
        assert (out / name).read_bytes() == (single / name).read_bytes(), name
    assert same_weights(single / "suspect.pt", out / "suspect.pt")
    assert same_weights(single / "clean.pt", out / "clean.pt")


def test_a_rerun_with_other_settings_is_refused(job):
    root, single = job
    done = run(clean_cmd(root / "data" / "train", single, "--seed", "1"))
    assert done.returncode == 1
    assert "does not match" in done.stderr and "seed: 0 -> 1" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--micro-batch", "5"], "micro_batch (5) must divide the per-process batch"),
    (["--warmup", "2"], "warmup must be a number >= 0.0 and <= 1.0, got 2.0"),
])
def test_user_errors_name_the_argument(tmp_path, job, extra, message):
    root, _ = job
    done = run(clean_cmd(root / "data" / "train", tmp_path / "out", *extra))
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_settings_are_checked_before_the_data_opens(tmp_path):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        ucfast.clean(tmp_path / "missing", out=tmp_path / "out", optimizer="lamb")
    with pytest.raises(TypeError, match="unknown clean option"):
        ucfast.clean(tmp_path / "missing", out=tmp_path / "out", epoch=3)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("world", [1, 2, 4])
def test_the_ranks_share_every_global_batch(world):
    data = list(range(103))
    full = list(GlobalBatches(data, num_replicas=1, rank=0, seed=3, global_batch=16))
    shares = [list(GlobalBatches(data, num_replicas=world, rank=r, seed=3, global_batch=16)) for r in range(world)]
    local = 16 // world
    for step in range(len(full) // 16):
        together = [i for r in range(world) for i in shares[r][step * local:(step + 1) * local]]
        assert together == full[step * 16:(step + 1) * 16]
    resumed = GlobalBatches(data, num_replicas=world, rank=world - 1, seed=3, global_batch=16)
    resumed.skip = 2 * local
    assert list(resumed) == shares[-1][2 * local:] and len(resumed) == len(shares[-1]) - 2 * local


@pytest.mark.parametrize("kind, size, shape", [("crop-flip", None, (3, 32, 32)),
                                               ("resized-crop-flip", 24, (3, 24, 24))])
def test_augmentation_depends_on_seed_epoch_and_position_only(kind, size, shape):
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    aug = Augment(kind, size, seed=5)
    out = aug(image, 1, 7)
    assert out.shape == shape and out.dtype == torch.uint8
    assert torch.equal(out, Augment(kind, size, seed=5)(image, 1, 7))
    assert any(not torch.equal(out, aug(image, e, 7)) for e in range(2, 6))


def test_random_resized_crop_box_stays_inside():
    rng = np.random.default_rng(0)
    for h, w in [(7, 300), (300, 7), (64, 48), (1, 1)]:
        for _ in range(50):
            top, left, ch, cw = crop_box(h, w, rng)
            assert 0 <= top and 0 <= left and 0 < ch and 0 < cw and top + ch <= h and left + cw <= w


def test_the_training_input_reads_folders_shards_and_npz_alike(job, tmp_path):
    root, _ = job
    folder = open_source(root / "data" / "train")
    picks = np.arange(0, len(folder), 37)
    shard = tmp_path / "shard-0000.tar"
    with tarfile.open(shard, "w") as tf:
        for i in range(len(folder)):
            tf.add(folder.dataset.paths[i], arcname=f"{i:06d}.png")
            label = str(int(folder.labels[i])).encode()
            info = tarfile.TarInfo(f"{i:06d}.cls")
            info.size = len(label)
            tf.addfile(info, io.BytesIO(label))
    arrays = tmp_path / "train.npz"
    images = torch.stack([folder.dataset[i][0] for i in range(len(folder))])
    np.savez(arrays, images=images.numpy(), labels=folder.labels)
    aug = Augment("crop-flip", None, seed=2)
    expected = [TrainItems(folder, picks, aug)[k] for k in range(picks.size)]
    for source in (open_source(shard), open_source(arrays)):
        items = TrainItems(source, picks, aug)
        for k in range(picks.size):
            image, label, index = items[k]
            assert torch.equal(image, expected[k][0]) and label == expected[k][1] and index == expected[k][2]


def test_the_sidecar_names_each_triggered_file_s_intended_label(tmp_path):
    from ucfast.clean import read_sidecar
    from ucfast.clean.evaluate import attack_success_rate

    sidecar = read_sidecar(write_poisoned(tmp_path / "data", dataset="synthetic", attack="all-to-all", rate=0.2,
                                          n_train=200, n_test=40))
    triggered = open_source(sidecar.triggered)
    true = np.array([int(triggered.dataset.paths.relative(i).split(os.sep)[0]) for i in range(len(triggered))])
    wanted = sidecar.intended_of(triggered)
    assert np.array_equal(wanted, (true + 1) % 10)
    assert attack_success_rate(wanted, wanted) == 1.0 and attack_success_rate(true, wanted) == 0.0
