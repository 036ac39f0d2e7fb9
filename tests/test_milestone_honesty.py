"""The honesty rule (DESIGN §2), for every milestone, in a student copy:

with exactly the required modules solved and exported a milestone's learning test
passes; with one required module left unsolved it fails.
"""

import subprocess

import pytest

from tito.commands.milestone import learning_test_command, learning_test_env
from tito.exporter import export_module
from tito.project import discover_modules
from tito.solutions import strip_solutions
from tito.tracker import load_tracker

from conftest import REPO

TRACKER = load_tracker(REPO)


def leave_unsolved(module):
    module.source.write_text(strip_solutions(module.source.read_text(encoding="utf-8"), module.id), encoding="utf-8")


def run_learning_test(project, milestone):
    nodeid = f"tests/milestones/test_learning_verification.py::{milestone['test']}"
    return subprocess.run(
        learning_test_command(nodeid), cwd=project, env=learning_test_env(project),
        capture_output=True, text=True, encoding="utf-8", timeout=600,
    )


@pytest.mark.parametrize("milestone_id", TRACKER.MILESTONE_ORDER)
def test_milestone_needs_exactly_its_modules(project, milestone_id):
    milestone = TRACKER.MILESTONES[milestone_id]
    modules = {module.id: module for module in discover_modules(project)}
    assert set(milestone["requires"]) <= set(modules)
    for module_id, module in modules.items():
        if module_id not in milestone["requires"]:
            leave_unsolved(module)
    for module_id in milestone["requires"]:
        export_module(project, modules[module_id], warn=lambda message: None)

    solved = run_learning_test(project, milestone)
    assert solved.returncode == 0, f"{milestone_id} must pass on its required modules alone:\n{solved.stdout[-3000:]}"

    newest = modules[milestone["requires"][-1]]
    leave_unsolved(newest)
    export_module(project, newest, warn=lambda message: None)
    unsolved = run_learning_test(project, milestone)
    assert unsolved.returncode != 0, f"{milestone_id} passed with {newest.id} unsolved"
    assert "NotImplementedError" in unsolved.stdout, unsolved.stdout[-3000:]
