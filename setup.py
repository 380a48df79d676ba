"""Build the optional C kernels; everything else is configured in pyproject.toml.

``sklearn_gdnet._fused`` holds fused element-wise passes of the ReLU training
step. It needs only a C compiler and the Python headers; where it cannot be
built, installation still succeeds and the package uses NumPy for those
passes (the same results up to rounding, somewhat slower).

``sklearn_gdnet._spline`` holds the passes of the exact core of a shallow
network on one input feature (`sklearn_gdnet._network_1d`); without it the
core uses NumPy, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sklearn_gdnet._fused",
            sources=["sklearn_gdnet/_fused.c"],
            extra_compile_args=["-O3", "-fno-trapping-math"],
            optional=True,
        ),
        Extension(
            "sklearn_gdnet._spline",
            sources=["sklearn_gdnet/_spline.c"],
            # no contraction of products into FMAs: the passes round as NumPy's do
            # (errno is never read: sqrt may be vectorized)
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"],
            optional=True,
        ),
    ]
)
