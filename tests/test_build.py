"""The compiled build (CMakeLists.txt, setup.py) and `ucfast info`.

Where nvcc is on PATH (CI has it) the installed ucfast._cuda must have been built, so a CUDA compile
or link error turns the suite red. The build switches are checked by configuring CMake into a
temporary folder (configure only: a few seconds, nothing compiled).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ucfast import compiled
from ucfast.cli import main

ROOT = Path(__file__).resolve().parents[1]
CMAKE = shutil.which("cmake")
# Environment variables through which CMake finds a CUDA compiler, or ucfast reads its settings.
CUDA_ENV = ("CUDACXX", "CUDA_PATH", "CUDAToolkit_ROOT", "CUDA_HOME")
UCFAST_ENV = ("UCFAST_BUILD_CUDA", "UCFAST_FORCE_CUDA", "UCFAST_CUDA_ARCHS")


def _cuda_requested_off() -> bool:
    return os.environ.get("UCFAST_BUILD_CUDA", "").strip().lower() in ("0", "off")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH: the CUDA module is not expected")
@pytest.mark.skipif(_cuda_requested_off(), reason="UCFAST_BUILD_CUDA=0: the CUDA module was switched off")
def test_cuda_module_is_built_where_nvcc_is():
    assert compiled.CUDA_ERROR is None, f"{compiled.CUDA_ERROR} (rebuild: pip install -e . -v shows the CMake output)"
    info = compiled.build_info()["cuda"]
    archs = info["archs"].split(",")
    assert "80" in archs and "90" in archs, f"default architectures must cover sm_80 and sm_90, built {archs}"
    assert info["runtime_version"] >= 11080


# ---- CMake switches, configure only ----------------------------------------------------------------

def _configure(tmp_path: Path, settings: dict, hide_nvcc: bool = False) -> subprocess.CompletedProcess:
    pybind11 = pytest.importorskip("pybind11")
    if CMAKE is None:
        pytest.skip("cmake is not on PATH")
    env = {k: v for k, v in os.environ.items() if k not in UCFAST_ENV}
    env.update(settings)
    if hide_nvcc:
        for name in CUDA_ENV:
            env.pop(name, None)
        env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                      if not os.path.exists(os.path.join(d, "nvcc")))
        assert shutil.which("nvcc", path=env["PATH"]) is None
    command = [CMAKE, "-S", str(ROOT), "-B", str(tmp_path / "build"), f"-DPython_EXECUTABLE={sys.executable}",
               f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _targets(tmp_path: Path) -> set[str]:
    listing = subprocess.run([CMAKE, "--build", str(tmp_path / "build"), "--target", "help"], capture_output=True,
                             text=True, check=True, timeout=120).stdout
    return set(re.findall(r"^\.\.\. (\S+)", listing, flags=re.M) + re.findall(r"^(\S+): ", listing, flags=re.M))


@pytest.mark.parametrize("settings", [{"UCFAST_FORCE_CUDA": "1"}, {"UCFAST_BUILD_CUDA": "1"}])
def test_forced_cuda_build_without_nvcc_fails_clearly(tmp_path, settings):
    result = _configure(tmp_path, settings, hide_nvcc=True)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "ucfast: a CUDA build was required" in message
    assert "no working CUDA compiler was found: put nvcc on PATH or set CUDACXX" in message


def test_cpu_only_build_without_nvcc_is_not_an_error(tmp_path):
    result = _configure(tmp_path, {}, hide_nvcc=True)
    assert result.returncode == 0, result.stderr
    assert "ucfast: no CUDA compiler found: building the CPU module only" in result.stdout
    targets = _targets(tmp_path)
    assert "_cpu" in targets and "_cuda" not in targets


def test_build_cuda_0_configures_the_cpu_module_only(tmp_path):
    result = _configure(tmp_path, {"UCFAST_BUILD_CUDA": "0"})
    assert result.returncode == 0, result.stderr
    assert "ucfast: CUDA module skipped (UCFAST_BUILD_CUDA=0)" in result.stdout
    targets = _targets(tmp_path)
    assert "_cpu" in targets and "_cuda" not in targets


def test_bad_build_cuda_value_is_named(tmp_path):
    result = _configure(tmp_path, {"UCFAST_BUILD_CUDA": "maybe"})
    assert result.returncode != 0
    assert "UCFAST_BUILD_CUDA must be auto, 1 or 0, got 'maybe'" in " ".join(result.stderr.split())


# ---- ucfast info ------------------------------------------------------------------------------------

def _info(capsys, *args) -> str:
    assert main(["info", *args]) == 0
    return capsys.readouterr().out


def test_info_json_says_what_runs_where(capsys):
    report = json.loads(_info(capsys, "--json"))
    assert report["versions"]["torch"] == torch.__version__
    assert report["build"]["cpu"]["kernel_threads"] == torch.get_num_threads()
    assert set(report["backends"]) == {"cpu", "cuda"}
    cpu = report["backends"]["cpu"]
    assert set(cpu) == set(compiled.OPS)
    for op in compiled.OPS:
        assert cpu[op]["cpu"] == [] and cpu[op]["torch"] == []
        assert cpu[op]["cuda"], "the cuda backend cannot run on CPU tensors, and must say why"
    if not torch.cuda.is_available():
        assert report["devices"]["cuda"]
        assert all(why for op in report["backends"]["cuda"].values() for why in op.values())


def test_info_text_lists_modules_table_and_reasons(capsys):
    out = _info(capsys)
    assert "ucfast._cpu: built" in out
    assert f"max_threads: {compiled.build_info()['cpu']['max_threads']}" in out
    if compiled.CUDA_ERROR is None:
        assert f"archs: {compiled.build_info()['cuda']['archs']}" in out
    else:
        assert f"ucfast._cuda: not available: {compiled.CUDA_ERROR}" in out
    header, table = out.split("  on cpu:\n")[1].split("  on cuda:")[0].split("\n", 1)
    assert header.split() == ["cuda", "triton", "cpu", "torch"]
    rows = dict(re.findall(r"^    (\w+) +((?:yes|no)(?: +(?:yes|no)){3})$", table, flags=re.M))
    assert set(rows) == set(compiled.OPS)
    cuda, _, cpu, torch_ = rows["nlm"].split()
    assert (cuda, cpu, torch_) == ("no", "yes", "yes")
    assert "    cuda: the input is on cpu, not on a CUDA device" in out


def test_info_names_a_missing_cpu_module(capsys, monkeypatch):
    why = "the compiled module ucfast._cpu is not built (simulated)"
    monkeypatch.setattr(compiled, "_cpu", None)
    monkeypatch.setattr(compiled, "CPU_ERROR", why)
    report = json.loads(_info(capsys, "--json"))
    assert report["build"]["cpu"] is None and report["build"]["cpu_error"] == why
    assert report["backends"]["cpu"]["nlm"]["cpu"] == [why]
    out = _info(capsys)
    assert f"ucfast._cpu: not available: {why}" in out
    assert f"    cpu: {why}" in out
