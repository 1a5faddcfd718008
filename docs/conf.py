"""Sphinx configuration of cmlp's documentation site.

Build it (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Warnings are errors. The gallery (examples/) runs at build time on the MNIST sample bundled
in the package, so the build needs no network and no data beside the checkout.
"""
import os
import warnings
from pathlib import Path

import cmlp

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "cmlp"
author = "the cmlp developers"
copyright = "the cmlp developers, BSD-3-Clause"
release = cmlp.__version__  # the one place the version is written: cmlp/__init__.py
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",  # docs/cli.rst: generated from cmlp.cli.build_parser()
    "myst_parser",  # docs/changelog.rst includes CHANGELOG.md
]
myst_heading_anchors = 3

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "**/*.codeobj.json"]
default_role = "py:obj"
nitpicky = False

# -- API reference -----------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # the class templates list methods through autosummary
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- gallery -----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "abort_on_example_error": True,
}
os.environ.setdefault("MPLBACKEND", "Agg")
# Examples build on the bundled sample; they must not look for the full MNIST elsewhere.
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"cmlp {release}"
html_static_path = ["_static"]
html_css_files = ["cmlp.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "navbar_align": "left",
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without children: no empty "Section Navigation" column.
html_sidebars = {"index": [], "changelog": [], "cli": [], "getting_started": []}
html_show_sourcelink = False
