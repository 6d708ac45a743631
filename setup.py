"""Thin setup: the package layout lives here, the compiled build in CMakeLists.txt."""
from setuptools import setup

setup(
    packages=["ucfast", "ucfast.reference", "ucfast.kernels"],
    package_dir={"ucfast": "ucfast", "ucfast.kernels": "kernels"},
)
