"""Shared fixtures: a real project folder in a temp dir and the real `tito` in a subprocess;
helpers to run the tracker's script and to write synthetic modules.

Every test that touches progress points ``TINYTORCH_HOME`` at a temp dir: the real
``~/.tinytorch`` is never read or written by the test suite.
"""

import os

# The BLAS thread policy of the test suite, set before anything imports NumPy (or PyTorch,
# whose OpenMP pool reads OMP_NUM_THREADS): one thread each, unless you set it yourself.
# The tests' matrices are small, test processes run side by side (pytest -n 2), and on a
# busy machine BLAS threads waiting for a core are what made the five learning tests take
# 20 s instead of 5 under plain pytest. Subprocesses (tito, probes) inherit the setting.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tito.project import copy_project

REPO = Path(__file__).resolve().parents[1]

# Sealed runs read library bytecode from tito's cache: the suite keeps its own (shared by
# its workers, warm across runs), never the user's ~/.cache/tito.
os.environ.setdefault("TITO_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"tito-test-cache-{os.getuid()}"))


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
def bare_project(tmp_path):
    """A copy of this project without any module (tests write their own with write_module)."""
    import shutil

    root = copy_project(REPO, tmp_path / "toy")
    for folder in (root / "modules").iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """One `tito release` of the course per test process: a pristine student copy (with its
    manifest). Tests copy it before changing anything."""
    destination = tmp_path_factory.mktemp("release") / "course"
    result = run_tito("release", destination, cwd=REPO, home=tmp_path_factory.mktemp("home"))
    assert result.returncode == 0, result.stdout + result.stderr
    return destination


@pytest.fixture
def exported_project(tmp_path):
    """A fresh copy of this project with every module exported (no progress recorded)."""
    return copy_project(REPO, tmp_path / "project", keep_exports=True)


def cli_env(home=None, **extra):
    """The environment of a CLI subprocess: UTF-8, 120 columns, no colour, ``TINYTORCH_HOME``
    at ``home`` (else inherited: the test's own), plus ``extra`` variables."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120", NO_COLOR="1")
    if home is not None:
        env["TINYTORCH_HOME"] = str(home)
    env.update(extra)
    return env


def project_env(project):
    """The environment of a plain ``python`` run against a project's own ``tinytorch`` (probes)."""
    return cli_env(PYTHONPATH=str(project))  # the thread policy set at the top of this file is inherited


def run_tito(*args, cwd, home=None, timeout=600, input=None):
    """Run the real `tito` CLI in a subprocess; returns the CompletedProcess (text).

    tito's bytecode is written into the project copy (and travels with the copies tests make
    of it): under PYTHONDONTWRITEBYTECODE every call compiled tito again (~40 ms). Sealed runs
    never read a project's bytecode (tito.sealed.bytecode_cache), so no verdict depends on it."""
    env = cli_env(home)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(
        [sys.executable, "-m", "tito", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
        timeout=timeout, input=input,
    )


TRACKER_SCRIPT = "tests/milestones/milestone_tracker.py"


def milestone_progress(home, project):
    """The section of ``$TINYTORCH_HOME/progress.json`` that belongs to ``project`` (its milestone
    progress: completed_modules, unlocked_milestones, completed_milestones, runs); None if absent."""
    import json

    data = json.loads((Path(home) / "progress.json").read_text(encoding="utf-8"))
    root = str(Path(project).resolve())
    sections = [section for section in data["projects"].values() if section.get("root") == root]
    assert len(sections) <= 1, f"two sections claim {root}"
    return sections[0] if sections else None


def run_tracker_script(*args, home, cwd=REPO, env_extra=None):
    """``python tests/milestones/milestone_tracker.py ARGS`` in the project ``cwd``, with its
    progress in ``home``; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, TRACKER_SCRIPT, *args], cwd=cwd, env=cli_env(home, **(env_extra or {})),
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def write_module(root, module_id, source):
    """Write a synthetic module: ``source`` (dedented) to ``modules/<id>/<name>.py``; returns its path."""
    folder = Path(root) / "modules" / module_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module_id.split('_', 1)[1]}.py"
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def tito(_isolated_home):
    """``tito("module", "list", cwd=project)`` runs the CLI with the test's TINYTORCH_HOME."""

    def call(*args, cwd, **kwargs):
        kwargs.setdefault("home", _isolated_home)
        return run_tito(*args, cwd=cwd, **kwargs)

    return call
