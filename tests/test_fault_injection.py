"""Crash safety of `ucfast sanitize`: a 2000-image job killed (SIGKILL, through UCFAST_FAULT) 20 times
at seeded random points (while scoring, at a chunk commit, while merging, between the renames of
the outputs), twice per trial, each kill followed at once by a rerun of the same job; after every
trial each byte-identical output equals that of one uninterrupted run."""
import os

import numpy as np
import pytest
import torch

import ucfast
import ucfast.models
from tests.crash import killed, run_in_child
from tests.test_sanitize import files_equal

N, SIZE, CLASSES, BATCH, CHUNK = 2000, 16, 4, 50, 200  # 40 batches, 10 chunks
TRIALS = 10
# Where a kill can land on a fresh job and, after it, on the rerun (counts stay inside what each reaches).
FIRST = {"batch": (1, 30), "commit": (1, 8), "merge": (1, 4), "report": (1, 1)}
AFTER_SCORING = {"batch": (1, 5), "commit": (1, 2), "merge": (1, 4), "report": (1, 1)}
AFTER_MERGE = {"merge": (1, 4), "report": (1, 1)}


def plan(seed: int = 13) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)

    def pick(where):
        stage = list(where)[rng.integers(len(where))]
        lo, hi = where[stage]
        return f"{stage}:{rng.integers(lo, hi + 1)}"

    trials = []
    for _ in range(TRIALS):
        first = pick(FIRST)
        trials.append((first, pick(AFTER_SCORING if first.split(":")[0] in ("batch", "commit") else AFTER_MERGE)))
    return trials


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images, labels=np.arange(N) % CLASSES)
    torch.manual_seed(0)
    torch.save(ucfast.models.build("cnn", CLASSES).state_dict(), root / "cnn.pt")
    options = dict(arch="cnn", checkpoint=str(root / "cnn.pt"), denoisers=("median",), mean=0.5, std=0.25,
                   ratio=0.05, batch_size=BATCH, chunk_size=CHUNK, workers=0, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed children: the same arithmetic, the same bytes
    try:
        yield root / "data.npz", options, ucfast.sanitize(root / "data.npz", out=root / "reference", **options)
    finally:
        torch.set_num_threads(threads)


def test_the_plan_kills_everywhere_twenty_times():
    kills = [k for trial in plan() for k in trial]
    assert len(kills) >= 20 and {k.split(":")[0] for k in kills} == {"batch", "commit", "merge", "report"}


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_killed_twice_then_rerun_gives_byte_identical_outputs(job, tmp_path, trial):
    data, options, reference = job
    out = tmp_path / "out"
    for fault in plan()[trial]:
        workers = trial % 2  # odd trials read with a DataLoader worker, which outlives the kill
        status, message = run_in_child(data, fault, out=out, **dict(options, workers=workers))
        assert killed(status), f"{fault}: the run was not killed ({message or 'it finished'})"
    done = ucfast.sanitize(data, out=out, **options)
    assert done.run["resumed"]
    names = reference.report["files"]["byte_identical"]
    files_equal(reference.out, done.out, names)
    assert not [n for n in os.listdir(out) if ".tmp-" in n]
    assert sorted(os.listdir(out)) == sorted(os.listdir(reference.out))
