"""Build the optional C kernels; everything else is configured in pyproject.toml.

``sklearn_gdnet._fused`` holds fused element-wise passes of the ReLU training
step. It needs only a C compiler and the Python headers; where it cannot be
built, installation still succeeds and the package uses NumPy for those
passes (the same results up to rounding, somewhat slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sklearn_gdnet._fused",
            sources=["sklearn_gdnet/_fused.c"],
            extra_compile_args=["-O3", "-fno-trapping-math"],
            optional=True,
        )
    ]
)
