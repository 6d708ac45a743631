"""`ucfast sanitize` as a user runs it, in subprocesses: torchrun with two gloo ranks against a single
process, kill -9 midway then resume, refusals on resume, and a failing rank reported by rank."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_sanitize import files_equal, make_checkpoint, make_folder

N, CHUNK = 2000, 100
ARGS = ["--arch", "cnn", "--ratio", "0.05", "--denoisers", "median", "--batch-size", "25", "--chunk-size", str(CHUNK),
        "--mean", "0.5", "--std", "0.25", "--no-progress"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if os.path.exists("/sys/class/net/lo"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # the ranks talk over loopback, whatever the host name resolves to
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env


def sanitize_cmd(data, ckpt, out, *extra):
    return [sys.executable, "-m", "ucfast", "sanitize", str(data), "--checkpoint", str(ckpt), "--out", str(out),
            *ARGS, *extra]


def torchrun_cmd(data, ckpt, out, *extra):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ucfast",
            "sanitize", str(data), "--checkpoint", str(ckpt), "--out", str(out), *ARGS, *extra]


def run(cmd, timeout=240):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def identical_files(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)["files"]["byte_identical"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The dataset, the checkpoint and one uninterrupted single-process run to compare against."""
    root = tmp_path_factory.mktemp("dist")
    make_folder(root / "data", N)
    ckpt = make_checkpoint(root / "cnn.pt")
    done = run(sanitize_cmd(root / "data", ckpt, root / "single", "--workers", "1"))
    assert done.returncode == 0, done.stderr
    return root, ckpt, root / "single"


def test_torchrun_two_ranks_gives_identical_outputs(job):
    root, ckpt, single = job
    done = run(torchrun_cmd(root / "data", ckpt, root / "dist", "--workers", "0"))
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-3000:]
    assert done.stdout.count("scored 2000 of 2000 samples") == 1  # rank 0 alone prints the summary
    names = identical_files(single)
    assert "scores.npy" in names and "manifest.csv" in names and "report.json" in names
    files_equal(single, root / "dist", names)
    with open(root / "dist" / "run.json") as f:
        run_doc = json.load(f)
    assert run_doc["world_size"] == 2 and [r["chunks_assigned"] for r in run_doc["ranks"]] == [10, 10]


def test_kill_9_midway_then_resume_is_byte_identical(job):
    root, ckpt, single = job
    out = root / "killed"
    proc = subprocess.Popen(sanitize_cmd(root / "data", ckpt, out, "--workers", "0"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = out / ".ucfast" / "chunks"
    deadline = time.time() + 180
    committed = []
    while time.time() < deadline and proc.poll() is None:
        committed = [n for n in os.listdir(chunks) if n.endswith(".npz")] if chunks.exists() else []
        if len(committed) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    left = [n for n in os.listdir(chunks) if n.endswith(".npz")]
    assert 3 <= len(left) < N // CHUNK and not (out / "scores.npy").exists()
    resumed = run(sanitize_cmd(root / "data", ckpt, out, "--workers", "1"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(left)} of {N // CHUNK} chunks reused" in resumed.stdout
    files_equal(single, out, identical_files(single))


def test_resume_with_a_changed_checkpoint_is_refused(job):
    root, ckpt, single = job
    other = make_checkpoint(root / "other.pt", seed=7)
    done = run(sanitize_cmd(root / "data", other, single))
    assert done.returncode == 1
    assert "the model changed" in done.stderr and "Refusing to mix results" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failing_rank_is_reported_with_its_rank_and_error(job, tmp_path):
    root, ckpt, _ = job
    data = tmp_path / "data"
    make_folder(data, 40, classes=2)
    bad = data / "c1" / "00039.jpg"  # the last position: rank 1's share
    bad.write_bytes(b"no image")
    done = run(torchrun_cmd(data, ckpt, tmp_path / "out", "--chunk-size", "10", "--workers", "0"))
    assert done.returncode != 0
    assert "1 of 2 ranks failed" in done.stderr and f"rank 1: ImageReadError: cannot read image {bad}" in done.stderr
    chunks = os.listdir(tmp_path / "out" / ".ucfast" / "chunks")
    assert {"c00000000.npz", "c00000001.npz"} <= set(chunks)  # rank 0's share stays committed


def test_a_rank_ends_with_its_status_and_without_finalisation():
    code = ("import atexit; atexit.register(print, 'finalised'); from ucfast.cli import main; "
            "main(['info'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(_env(), WORLD_SIZE="2"))
    assert done.returncode == 0, done.stderr
    assert "finalised" not in done.stdout and done.stdout.strip()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0 and done.stdout.rstrip().endswith("finalised")


def test_a_rank_s_error_is_printed_and_ends_it_with_status_1(monkeypatch, capsys):
    from ucfast import cli

    def fail(args):
        raise ValueError("no such data")

    def ended(code):
        raise _Ended(code)

    monkeypatch.setattr(cli.os, "_exit", ended)
    monkeypatch.setattr(cli.distributed, "requested", lambda: True)
    monkeypatch.setattr(cli, "build_parser", lambda: _Parser(fail))
    with pytest.raises(_Ended) as end:
        cli.main([])
    assert end.value.args == (1,) and "ValueError: no such data" in capsys.readouterr().err


class _Ended(Exception):
    """os._exit, called."""


class _Parser:
    def __init__(self, func):
        self.func = func

    def parse_args(self, argv):
        return type("Args", (), {"func": staticmethod(self.func)})
