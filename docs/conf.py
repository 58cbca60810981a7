"""Sphinx configuration for the sklm documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors). The examples in ``examples/`` are run by sphinx-gallery and rendered
with their printed output and figures; set ``SKLM_EXAMPLES_QUICK=1`` to build
with their quick versions (as CI does).
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sklm  # noqa: E402
from sklm._demo import build_parser  # noqa: E402

# ``python -m sklm demo --help``, shown on the API page.
GENERATED = Path(__file__).parent / "generated"
GENERATED.mkdir(exist_ok=True)
os.environ.setdefault("COLUMNS", "88")
(GENERATED / "demo_help.txt").write_text(build_parser().format_help())

# The deployment page of the benchmarks links the export benchmarks
# (docs/benchmarks_export.md) once that page exists.
if (Path(__file__).parent / "benchmarks_export.md").exists():
    _export = "See {doc}`/benchmarks_export`.\n"
else:
    _export = "That page is not written yet.\n"
(GENERATED / "benchmarks_export_link.md").write_text(_export)

project = "sklm"
author = "the sklm developers"
copyright = "the sklm developers"  # noqa: A001
version = release = sklm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# benchmarks.md maps old section titles to the pages of benchmarks/ (for
# readers of the source tree); generated/*.md are included, not pages.
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "benchmarks.md", "generated/*.md"]
templates_path = ["_templates"]
html_theme = "alabaster"
html_static_path = ["_static"] if (Path(__file__).parent / "_static").is_dir() else []
html_theme_options = {"description": "Levenberg-Marquardt training for scikit-learn",
                      "fixed_sidebar": True, "page_width": "1100px"}

# API reference: autosummary pages from the numpydoc docstrings.
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Markdown pages (the benchmarks section).
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# The examples, executed and rendered with output and figures.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "capture_repr": (),
}
