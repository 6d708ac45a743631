"""Thin setup: the package layout lives here, the compiled build in CMakeLists.txt.

`build_ext` configures, builds and installs the CMake project into the build tree (or, for editable
installs, next to the sources); the CMake settings, and the environment variables that steer them
(UCFAST_BUILD_CUDA, UCFAST_FORCE_CUDA, UCFAST_CUDA_ARCHS), are documented at its top.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()


class CMakeBuild(build_ext):
    """Build every compiled module with one CMake project; keep the extensions that CMake produced."""

    not_built = ()  # the extensions this build did not produce (ucfast._cuda without nvcc)

    def build_extensions(self):
        import pybind11

        if shutil.which("cmake") is None:
            sys.exit("ucfast: building the compiled modules needs CMake >= 3.18 on PATH (apt-get install cmake,"
                     " or pip install cmake)")
        build_dir = Path(self.build_temp).resolve() / "cmake"
        prefix = Path(self.get_ext_fullpath(self.extensions[0].name)).resolve().parent.parent
        configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), f"-DPython_EXECUTABLE={sys.executable}",
                     f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", "-DCMAKE_BUILD_TYPE=Release"]
        if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").exists():
            configure += ["-G", "Ninja"]
        jobs = ["--parallel", str(self.parallel)] if self.parallel else ["--parallel"]
        for ext in self.extensions:  # a module left by an earlier build must not pass for one of this build
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
        try:
            subprocess.run(configure, check=True)
            subprocess.run(["cmake", "--build", str(build_dir), *jobs], check=True)
            subprocess.run(["cmake", "--install", str(build_dir), "--prefix", str(prefix)], check=True)
        except subprocess.CalledProcessError as err:
            cuda = "; for a CPU-only build set UCFAST_BUILD_CUDA=0" if os.environ.get("UCFAST_BUILD_CUDA") != "0" else ""
            sys.exit(f"ucfast: the CMake build failed ({' '.join(err.cmd[:2])} exited {err.returncode}): see the"
                     f" messages above{cuda}")
        self.not_built = tuple(e for e in self.extensions if not Path(self.get_ext_fullpath(e.name)).exists())
        self.extensions = [e for e in self.extensions if e not in self.not_built]

    def copy_extensions_to_source(self):
        """In-place and editable builds: copy the modules built, and remove stale copies of those not built."""
        super().copy_extensions_to_source()
        for ext in self.not_built:
            (ROOT / self.get_ext_filename(ext.name)).unlink(missing_ok=True)


setup(
    packages=find_packages(include=["ucfast", "ucfast.*"]) + ["ucfast.kernels"],
    package_dir={"ucfast": "ucfast", "ucfast.kernels": "kernels"},
    ext_modules=[Extension("ucfast._cpu", sources=[]), Extension("ucfast._cuda", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
