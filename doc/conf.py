"""Sphinx configuration of the sklearn_gdnet documentation.

Build with ``bash doc/build.sh`` (warnings are errors). Set
``SKLEARN_GDNET_EXAMPLES_QUICK=1`` to run the gallery with fewer widths and
seeds, as CI does: every example reads it (sphinx-gallery runs them in this
process, so they see the environment).
"""

import os
import re
from datetime import date

from sphinx.util import logging as sphinx_logging

import sklearn_gdnet

logger = sphinx_logging.getLogger("sklearn_gdnet.docs")

project = "sklearn_gdnet"
author = "The sklearn_gdnet developers"
copyright = f"{date.today().year}, {author}"
release = sklearn_gdnet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "sg_execution_times.rst"]
root_doc = "index"
default_role = "code"

# -- autodoc / autosummary / numpydoc -----------------------------------------------------

autosummary_generate = True
# Every public method, inherited ones included (a kernel's __call__, diag,
# get_params come from scikit-learn's Kernel), is listed on its class's page.
autodoc_default_options = {"members": True, "inherited-members": True}
# numpydoc writes the members table of each class itself; autosummary's table
# would list every method twice and warn about duplicate objects.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Cross-link parameter types such as "ndarray" only when the other projects'
# inventories are available (see intersphinx below): numpydoc's default aliases
# point into numpy's and Python's glossaries.
numpydoc_xref_param_type = os.environ.get("SKLEARN_GDNET_DOCS_INTERSPHINX", "0") not in ("", "0")
numpydoc_xref_aliases = {
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "Line2D": "matplotlib.lines.Line2D",
    "PathCollection": "matplotlib.collections.PathCollection",
    "RandomState": "numpy.random.RandomState",
    "RateFit": "sklearn_gdnet.model_selection.RateFit",
    "WidthStudyResult": "sklearn_gdnet.model_selection.WidthStudyResult",
    "WidthStudyDisplay": "sklearn_gdnet.WidthStudyDisplay",
    "SphereHarmonicTarget": "sklearn_gdnet.datasets.SphereHarmonicTarget",
    "IntervalTarget": "sklearn_gdnet.datasets.IntervalTarget",
}
# Words in type descriptions that are not objects to link to.
numpydoc_xref_ignore = {
    "of",
    "or",
    "and",
    "shape",
    "default",
    "optional",
    "instance",
    "object",
    "pair",
    "floats",
    "n_samples",
    "n_features",
    "n_outputs",
    "n_widths",
    "n_seeds",
    "n_points",
    "n_degrees",
    "n_features_in_",
    "n_samples_X",
    "n_samples_Y",
    "matplotlib",
    "array-like",
    "like",
    "to",
    "int",
    "float",
    "str",
    "bool",
    "dict",
    "list",
    "tuple",
    "callable",
    "ndarray",
    "None",
    "sparse",
    "matrix",
}
numpydoc_validation_checks = set()

# Links into other projects' docs need their inventories from the network; CI
# machines may be offline, and a failed download is a warning (an error under
# -W). Opt in with SKLEARN_GDNET_DOCS_INTERSPHINX=1.
if os.environ.get("SKLEARN_GDNET_DOCS_INTERSPHINX", "0") not in ("", "0"):
    extensions.append("sphinx.ext.intersphinx")
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "matplotlib": ("https://matplotlib.org/stable/", None),
}

# -- sphinx-gallery -----------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "ExampleTitleSortKey",  # the sphere study first
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_gdnet",),
    "reference_url": {"sklearn_gdnet": None},
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "min_reported_time": 1,
    "write_computation_times": True,
}

# -- HTML ---------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_gdnet {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
}
html_show_sourcelink = False


# -- hooks --------------------------------------------------------------------------------

_TRAILING_UNDERSCORE_SHAPE = re.compile(r"\((n_[a-z_]+_),\)")


def _quote_fitted_shapes(app, what, name, obj, options, lines):
    """Quote shapes such as ``(n_features_in_,)`` in docstrings.

    A word ending in ``_`` is a hyperlink reference in reStructuredText, so an
    unquoted ``n_features_in_`` in a type is an "unknown target" error.
    scikit-learn writes it in backticks; this keeps the sources readable either way.
    """
    lines[:] = [_TRAILING_UNDERSCORE_SHAPE.sub(r"(``\1``,)", line) for line in lines]


_INTERSPHINX = os.environ.get("SKLEARN_GDNET_DOCS_INTERSPHINX", "0") not in ("", "0")
_EXTERNAL_ROLE = re.compile(r":(ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _unlink_inherited_references(app, what, name, obj, options, lines):
    """Turn ``:ref:`` and ``:term:`` roles of inherited scikit-learn docstrings into text.

    Methods such as ``get_metadata_routing`` or ``set_fit_request`` come with
    scikit-learn's docstrings, whose ``:ref:`` and ``:term:`` roles point into
    scikit-learn's user guide and glossary. Without its inventory (offline
    builds) those are "undefined label" errors; their text is kept.
    """
    module = getattr(obj, "__module__", None) or ""
    if _INTERSPHINX or module.startswith("sklearn_gdnet"):
        return
    lines[:] = [_EXTERNAL_ROLE.sub(lambda m: m.group(2).strip(), line) for line in lines]


def _no_files_outside_the_package(app, what, name, obj, options, lines):
    """Docstrings may cite papers, not files that users do not have."""
    if any("DESIGN.md" in line for line in lines):
        logger.warning("%s cites DESIGN.md, which is not part of the package", name)


def _check_every_public_method_is_documented(app, env):
    """Each class page lists all public methods and properties, inherited ones included."""
    import inspect

    documented = set(env.get_domain("py").objects)
    for full_name, entry in list(env.get_domain("py").objects.items()):
        if entry.objtype != "class" or entry.aliased or not full_name.startswith("sklearn_gdnet."):
            continue
        module_name, _, class_name = full_name.rpartition(".")
        cls = getattr(__import__(module_name, fromlist=[class_name]), class_name, None)
        if cls is None or not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        public = [
            member
            for member, value in inspect.getmembers(cls)
            if not member.startswith("_")
            and (callable(value) or isinstance(inspect.getattr_static(cls, member), property))
        ]
        missing = [m for m in public if f"{full_name}.{m}" not in documented]
        if missing:
            logger.warning("the API page of %s misses %s", full_name, ", ".join(missing))


def _resolve_public_alias(app, env, node, contnode):
    """Resolve ``sklearn_gdnet.NTK`` to where it is documented, ``sklearn_gdnet.kernels.NTK``.

    The package re-exports some names at the top level (and docstrings use
    both spellings); the API reference documents each object once. A
    reference that names an object of the package by a path the reference
    does not document is sent to the one documented object of that name.
    """
    if node.get("refdomain") != "py" or node.get("reftype") == "mod":
        return None
    target = node["reftarget"]
    if not target.startswith("sklearn_gdnet.") and "." in target:
        return None
    name = target.rsplit(".", 1)[-1]
    domain = env.get_domain("py")
    documented = [
        full
        for full in domain.objects
        if full.startswith("sklearn_gdnet.") and full.rsplit(".", 1)[-1] == name
    ]
    if len(documented) != 1:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], documented[0], node, contnode
    )


def setup(app):
    # before numpydoc (priority 500) turns the docstring into reStructuredText
    app.connect("autodoc-process-docstring", _quote_fitted_shapes, priority=400)
    app.connect("autodoc-process-docstring", _unlink_inherited_references, priority=300)
    app.connect("autodoc-process-docstring", _no_files_outside_the_package)
    app.connect("env-check-consistency", _check_every_public_method_is_documented)
    app.connect("missing-reference", _resolve_public_alias)
