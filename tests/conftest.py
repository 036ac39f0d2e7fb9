"""Shared fixtures: a real project folder in a temp dir and the real `tito` in a subprocess.

Every test that touches progress points ``TINYTORCH_HOME`` at a temp dir: the real
``~/.tinytorch`` is never read or written by the test suite.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tito.project import copy_project

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test ever sees the user's real ~/.tinytorch."""
    home = tmp_path / "tinytorch-home"
    monkeypatch.setenv("TINYTORCH_HOME", str(home))
    return home


@pytest.fixture
def project(tmp_path):
    """A fresh copy of this project with nothing exported (a student's starting point)."""
    return copy_project(REPO, tmp_path / "project")


@pytest.fixture
def exported_project(tmp_path):
    """A fresh copy of this project with every module exported (no progress recorded)."""
    return copy_project(REPO, tmp_path / "project", keep_exports=True)


def run_tito(*args, cwd, home=None, timeout=600, input=None):
    """Run the real `tito` CLI in a subprocess; returns the CompletedProcess (text)."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120", NO_COLOR="1")
    if home is not None:
        env["TINYTORCH_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "tito", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
        timeout=timeout, input=input,
    )


@pytest.fixture
def tito(_isolated_home):
    """``tito("module", "list", cwd=project)`` runs the CLI with the test's TINYTORCH_HOME."""

    def call(*args, cwd, **kwargs):
        kwargs.setdefault("home", _isolated_home)
        return run_tito(*args, cwd=cwd, **kwargs)

    return call
