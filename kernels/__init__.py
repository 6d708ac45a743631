"""Triton kernels of ucfast, shipped as the subpackage ucfast.kernels."""
