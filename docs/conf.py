"""Sphinx configuration of the mel_gym docs (``make docs``: Markdown pages through MyST, the furo theme).

The reference pages (envs, scenario keys, command line, result files) are written at build time from the code by
the local extension ``docs/_ext/mel_gym_docs.py``; nothing is fetched from the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mel_gym

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "mel_gym"
author = "mel_gym authors"
copyright = "mel_gym authors"
version = release = mel_gym.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "mel_gym_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Markdown (MyST): ::: fences for directives, and anchors on headings down to level 3, so that a link such as
# [the amount](envs.md#the-amount-how-many-of-the-cycles-samples-a-plan-processes-all-envs) resolves.
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# Python objects: signatures without type hints (they name torch, numpy and Gymnasium types that are not documented
# here, and every reference must resolve: the build runs with -n); docstrings in Google style (Args:) or reST.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"exclude-members": "__init__"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = True
# Base classes and types of other packages (no intersphinx: the build needs no network).
nitpick_ignore_regex = [
    (r"py:.*", r"(gymnasium|gym|numpy|np|torch|stable_baselines3|sb3_contrib|pettingzoo)(\..*)?"),
]

html_theme = "furo"
html_title = f"mel_gym {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
