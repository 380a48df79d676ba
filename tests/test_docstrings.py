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


_PRIVATE_NAMES = ("DESIGN.md", "STYLE" + ".md", "../" + "shared")
# The files that enforce the rule name what they look for.
_ENFORCERS = {Path("doc") / "conf.py", Path("tests") / "test_docstrings.py"}


def test_tests_docs_examples_and_benchmarks_cite_no_files_outside_the_project():
    root = PACKAGE.parent
    if not (root / "tests").is_dir():
        pytest.skip("not run from a source checkout")
    paths = [root / "README.md"]
    for folder in ("tests", "examples", "benchmarks", "doc"):
        for suffix in ("*.py", "*.rst", "*.md", "*.txt"):
            paths += (root / folder).rglob(suffix)
    offenders = sorted(
        f"{path.relative_to(root)}: {name}"
        for path in paths
        if path.is_file()
        and path.relative_to(root) not in _ENFORCERS
        and "generated" not in path.relative_to(root).parts
        and "_build" not in path.relative_to(root).parts
        for name in _PRIVATE_NAMES
        if name in path.read_text(errors="replace")
    )
    assert offenders == []


def _api_page_entries():
    """Names listed under each ``.. module::`` of doc/api.rst's autosummaries."""
    import re

    listed, module, in_summary = {}, None, False
    for line in (PACKAGE.parent / "doc" / "api.rst").read_text().splitlines():
        match = re.match(r"\.\. (?:current)?module:: (\S+)", line)
        if match:
            module, in_summary = match.group(1), False
        elif line.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and line.startswith("   ") and not line.strip().startswith(":"):
            listed.setdefault(module, set()).add(line.strip())
        elif in_summary and line.strip() and not line.startswith(" "):
            in_summary = False
    return listed


@pytest.mark.parametrize(
    "module", [datasets, exceptions, kernels, metrics, model_selection, schedules]
)
def test_every_public_name_of_a_module_has_an_api_page(module):
    if not (PACKAGE.parent / "doc" / "api.rst").is_file():
        pytest.skip("not run from a source checkout")
    listed = _api_page_entries().get(module.__name__, set())
    assert sorted(set(module.__all__) - listed) == []
