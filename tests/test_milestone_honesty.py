"""The honesty rule (DESIGN §2), for every milestone, in a copy of the project:

with exactly the required modules solved and exported a milestone's learning test
passes (and reports that it met its bar); with its newest required module not exported
it fails on the import; with that module left unsolved it fails. Each run is the one
``tito milestone run`` makes (see honesty.py).
"""

import pytest

from tito.exporter import generated_source, parse_module
from tito.project import discover_modules, is_generated, resolve_module
from tito.solutions import strip_solutions
from tito.tracker import load_tracker

from conftest import REPO
from honesty import export_only, run_learning_test

TRACKER = load_tracker(REPO)


def leave_unsolved(module):
    module.source.write_text(strip_solutions(module.source.read_text(encoding="utf-8"), module.id), encoding="utf-8")


def exported_sources(project):
    """The module sources the copy's generated files name."""
    return {generated_source(path) for path in (project / "tinytorch").rglob("*.py") if is_generated(path)}


@pytest.mark.parametrize("milestone_id", TRACKER.MILESTONE_ORDER)
def test_milestone_needs_exactly_its_modules(project, milestone_id):
    required = TRACKER.MILESTONES[milestone_id]["requires"]
    modules = {module.id: module for module in discover_modules(project)}
    assert set(required) <= set(modules)
    for module_id, module in modules.items():
        if module_id not in required:
            leave_unsolved(module)
    export_only(project, required)
    assert exported_sources(project) == {modules[m].source.relative_to(project).as_posix() for m in required}

    solved, metrics = run_learning_test(project, milestone_id)
    assert solved.passed, f"{milestone_id} must pass on its required modules alone:\n{solved.output[-3000:]}"
    assert metrics["milestone"] == milestone_id
    assert metrics["loss_drop"] >= 0.5
    assert not TRACKER.unmet_bars(milestone_id, metrics)

    newest = modules[required[-1]]
    leave_unsolved(newest)
    export_only(project, [newest.id])
    unsolved, _ = run_learning_test(project, milestone_id)
    assert not unsolved.passed, f"{milestone_id} passed with {newest.id} unsolved"
    assert "NotImplementedError" in unsolved.output, unsolved.output[-3000:]


@pytest.mark.parametrize("milestone_id", TRACKER.MILESTONE_ORDER)
def test_milestone_fails_without_its_newest_module(project, milestone_id):
    *older, newest = TRACKER.MILESTONES[milestone_id]["requires"]
    export_only(project, older)
    result, metrics = run_learning_test(project, milestone_id)
    newest_package = "tinytorch." + parse_module(project, resolve_module(project, newest)).default_exp
    assert not result.passed and newest_package in result.output, result.output[-3000:]
    assert metrics is None, "it trained without the module it needs"
