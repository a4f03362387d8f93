"""Sphinx configuration for the flask-registration documentation."""

from __future__ import annotations

import os
import sys
import warnings

# Import the package from this checkout, so autodoc documents the code next to the docs.
sys.path.insert(0, os.path.abspath(".."))

import flask_registration  # noqa: E402

# autodoc reads every attribute of AccessTokenMixin, including the declared_attr
# ``user_id``, which SQLAlchemy warns about on a class that is not mapped. Harmless here.
warnings.filterwarnings("ignore", message="Unmanaged access of declarative attribute")

project = "flask-registration"
author = "The flask-registration authors"
copyright = "the flask-registration authors"
release = flask_registration.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
language = "en"
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"flask-registration {release}"
