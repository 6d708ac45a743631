"""bench/gpu/run.py without a GPU: its plan fits the GPU bars' time limits and its dry run writes the results JSON."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("gpu_run", ROOT / "bench" / "gpu" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_full_plan_builds_sm90_tests_and_benchmarks_within_eight_minutes(runner):
    steps = runner.plan()
    names = [s.name for s in steps]
    assert names[0] == "build"
    assert {"tests_cuda", "tests_gpu", "bench_cuda", "bench_triton", "bench_sanitize"} <= set(names)
    build = steps[0]
    assert build.env["UCFAST_CUDA_ARCHS"] == "90" and build.env["UCFAST_FORCE_CUDA"] == "1"
    assert "--no-index" in build.cmd
    assert sum(s.budget_s for s in steps) <= runner.FULL_BUDGET_S < 8 * 60
    for s in steps:
        assert all((ROOT / a.split("=")[-1]).exists() for a in s.cmd if a.endswith(".py") and "/" in a), s.cmd


def test_quick_plan_skips_a_build_that_is_there_and_fits_four_minutes(runner):
    quick = runner.select(runner.plan(), quick=True, only=None, have_cuda_module=True)
    names = [s.name for s in quick]
    assert names == ["tests_cuda", "bench_cuda", "tests_gpu"]
    assert sum(s.budget_s for s in quick) <= runner.QUICK_BUDGET_S < 4 * 60
    with_build = runner.select(runner.plan(), quick=True, only=None, have_cuda_module=False)
    assert [s.name for s in with_build][0] == "build"
    assert sum(s.budget_s for s in with_build) <= runner.FULL_BUDGET_S


def test_dry_run_writes_the_plan_and_metadata(runner, tmp_path, capsys):
    assert runner.main(["--dry-run", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["dry_run"] is True and results["mode"] == "full" and results["steps"] == {}
    assert [p["name"] for p in results["plan"]] == [s.name for s in runner.plan()]
    assert all(p["budget_s"] > 0 and p["command"] for p in results["plan"])
    assert {"commit", "torch", "triton", "cuda_runtime", "device"} <= set(results["metadata"])
    printed = capsys.readouterr().out
    assert "sum of budgets" in printed and "tests_cuda" in printed


def test_unknown_step_is_named(runner, tmp_path):
    with pytest.raises(SystemExit):
        runner.main(["--dry-run", "--out", str(tmp_path), "--steps", "tests,nope"])


def test_a_step_past_its_limit_is_killed_and_recorded(runner, tmp_path):
    step = runner.Step("sleepy", [runner.PY, "-c", "import time; time.sleep(30)"], 1, "other", True)
    record = runner.run_step(step, tmp_path, 0.5)
    assert record["timed_out"] is True and record["ok"] is False and record["seconds"] < 10
