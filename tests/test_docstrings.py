"""Docstrings cite papers, not files that users of the package do not have."""

import inspect
from pathlib import Path

import pytest

import sklearn_gdnet
from sklearn_gdnet import datasets, exceptions, kernels, metrics, model_selection, schedules

PACKAGE = Path(sklearn_gdnet.__file__).parent


def _public_objects():
    seen = {}
    for module in [
        sklearn_gdnet,
        datasets,
        exceptions,
        kernels,
        metrics,
        model_selection,
        schedules,
    ]:
        seen[module.__name__] = module
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            seen[f"{module.__name__}.{name}"] = obj
            if inspect.isclass(obj):
                for member, value in inspect.getmembers(obj):
                    if not member.startswith("_") or member == "__call__":
                        seen[f"{module.__name__}.{name}.{member}"] = value
    return seen


@pytest.mark.parametrize("name, obj", sorted(_public_objects().items(), key=lambda item: item[0]))
def test_public_docstrings_cite_no_files_outside_the_package(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "DESIGN.md" not in doc, name


def test_package_sources_cite_no_files_outside_the_package():
    offenders = [
        path.name for path in PACKAGE.rglob("*.py") if "DESIGN.md" in path.read_text()
    ]
    assert offenders == []
