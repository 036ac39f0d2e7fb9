"""Classroom CI: `tito release --ci github` writes a workflow that grades each student's
repository on every push; `tito grade --from-artifacts` builds the gradebook from the
downloaded artifacts without trusting them.

The workflow is checked three ways: parsed as YAML against the shape GitHub needs, its
shell steps run in a student copy (everything but the `pip install`, which would rewire
this test's own environment), and its last step shown to fail on a tampered copy.
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tito.classroom import WORKFLOW_PATH
from tito.exporter import export_module
from tito.project import resolve_module

from conftest import REPO, cli_env, run_tito
from grade_class import CORE, edit, paste, source

RESULTS = "tinytorch-results"


@pytest.fixture(scope="module")
def ci_copy(tmp_path_factory):
    """A student copy released with `--ci github` (the real CLI)."""
    destination = tmp_path_factory.mktemp("ci") / "course"
    result = run_tito("release", destination, "--ci", "github", cwd=REPO, home=tmp_path_factory.mktemp("home"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert WORKFLOW_PATH in result.stdout
    return destination


@pytest.fixture(scope="module")
def workflow(ci_copy):
    return yaml.safe_load((ci_copy / WORKFLOW_PATH).read_text(encoding="utf-8"))


def steps(workflow):
    return workflow["jobs"]["tinytorch"]["steps"]


def test_the_workflow_has_the_shape_github_needs(workflow, ci_copy):
    assert set(workflow) == {"name", "on", "permissions", "jobs"}, "`on` is quoted: YAML 1.1 would read it as True"
    assert "push" in workflow["on"] and "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}
    (job_id, job), = workflow["jobs"].items()
    assert job["runs-on"] == "ubuntu-latest" and isinstance(job["timeout-minutes"], int)
    for step in job["steps"]:
        assert set(step) <= {"name", "id", "if", "uses", "with", "run", "shell", "env"}, step
        assert ("uses" in step) != ("run" in step), f"a step either uses an action or runs a command: {step}"
        assert step.get("name")
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"]
    runs = {step.get("id"): step["run"] for step in job["steps"] if "run" in step}
    assert runs["install"] == "python -m pip install -e ."
    assert "tito module check --all --json" in runs["modules"]
    assert "tito milestone run \"$id\" --json" in runs["milestones"]
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["name"] == RESULTS
    assert upload["with"]["path"] == f"{RESULTS}/" and upload["with"]["if-no-files-found"] == "error"
    last = job["steps"][-1]
    assert last["id"] == "protected" and last["if"] == "always()" and "tampered" in last["run"]
    order = [step.get("id") or step["uses"] for step in job["steps"]]
    assert order.index("modules") < order.index("milestones") < order.index("sources") < \
        order.index("actions/upload-artifact@v4") < order.index("protected")


def test_the_release_protects_its_manifest_and_passes_the_leak_scan(ci_copy):
    data = json.loads((ci_copy / ".tito" / "manifest.json").read_text(encoding="utf-8"))
    assert WORKFLOW_PATH not in data["files"], "the workflow is the student's to change: nothing trusts it"
    result = run_tito("release", ci_copy.parent / "other", "--ci", "gitlab", cwd=REPO)
    assert result.returncode == 2 and "unknown CI 'gitlab'" in result.stderr
    assert not (ci_copy.parent / "other").exists()


def run_steps(workflow, copy, home, skip=("install",)):
    """Run the workflow's shell steps in ``copy`` as a runner would (bash -eo pipefail, the
    job's env); ``{step id: CompletedProcess}``."""
    job = workflow["jobs"]["tinytorch"]
    env = cli_env(home, **job.get("env", {}), GITHUB_REPOSITORY="class/alice", GITHUB_SHA="0" * 40,
                  GITHUB_RUN_ID="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    results = {}
    for step in job["steps"]:
        if "run" not in step or step.get("id") in skip:
            continue
        failed = any(result.returncode for result in results.values())
        if failed and step.get("if") != "always()":
            continue
        results[step["id"]] = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                             cwd=copy, env=env, capture_output=True, text=True, encoding="utf-8",
                                             timeout=600)
    return results


@pytest.fixture(scope="module")
def ci_run(ci_copy, workflow, tmp_path_factory):
    """The workflow's steps, run in a copy where 00-02 are written (the course's solutions) and
    exported, as `tito module complete` leaves them in the student's commits."""
    copy = tmp_path_factory.mktemp("student") / "alice"
    shutil.copytree(ci_copy, copy)
    paste(copy, CORE)
    for module_id in CORE:
        export_module(copy, resolve_module(copy, module_id), warn=lambda message: None)
    return copy, run_steps(workflow, copy, tmp_path_factory.mktemp("home"))


def test_the_workflow_steps_run_and_collect_the_results(ci_run):
    copy, results = ci_run
    assert list(results) == ["modules", "milestones", "sources", "protected"]
    for step_id, result in results.items():
        assert result.returncode == 0, (step_id, result.stdout[-2000:], result.stderr[-2000:])
    ci = copy / RESULTS / "tinytorch-ci"
    modules = json.loads((ci / "modules.json").read_text(encoding="utf-8"))
    assert modules["completed"] == CORE and modules["tampered"] == []
    assert "milestones to run: perceptron" in results["milestones"].stdout
    perceptron = json.loads((ci / "milestones" / "perceptron.json").read_text(encoding="utf-8"))
    assert perceptron["passed"] is True and perceptron["metrics"]["accuracy"] >= 0.95
    assert sorted(path.name for path in (ci / "milestones").iterdir()) == ["perceptron.json"]
    for info_path in (copy / "modules").glob("*/*.py"):
        if info_path.stem == info_path.parent.name.split("_", 1)[1]:
            copied = copy / RESULTS / info_path.relative_to(copy)
            assert copied.read_bytes() == info_path.read_bytes()
    recorded = {item["module"]: item["tests"]["source_sha256"] for item in modules["modules"] if item["tests"]}
    assert recorded["01_tensor"] == hashlib.sha256(source("01_tensor", copy).read_bytes()).hexdigest()
    assert json.loads((ci / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert json.loads((ci / "ci.json").read_text(encoding="utf-8"))["repository"] == "class/alice"
    assert "Every protected file matches the release manifest." in results["protected"].stdout


def test_the_workflow_fails_when_a_protected_file_differs(ci_copy, workflow, tmp_path):
    copy = tmp_path / "bob"
    shutil.copytree(ci_copy, copy)
    learning = copy / "tests" / "milestones" / "test_learning_verification.py"
    learning.write_text(learning.read_text(encoding="utf-8").replace("assert acc >= 0.95", "assert True"),
                        encoding="utf-8")
    results = run_steps(workflow, copy, tmp_path / "home")
    assert results["protected"].returncode == 1
    assert "::error file=tests/milestones/test_learning_verification.py::" in results["protected"].stdout
    assert "differ from the release manifest" in results["protected"].stdout
    assert (copy / RESULTS / "tinytorch-ci" / "modules.json").is_file(), "the results are uploaded all the same"


# -- tito grade --from-artifacts ------------------------------------------------------------------------
def forged_artifact(ci_copy, destination, break_tensor=True):
    """A hand-made artifact: every hash right, every bar met in the JSON — and 01_tensor broken."""
    copy = destination.parent / f"work-{destination.name}"
    shutil.copytree(ci_copy, copy)
    paste(copy, CORE)
    if break_tensor:
        edit(copy, "01_tensor", "Tensor.__neg__ = _neg", "Tensor.__neg__ = lambda self: self")
    ci = destination / "tinytorch-ci"
    (ci / "milestones").mkdir(parents=True)
    items = []
    for module_id in CORE:
        path = source(module_id, copy)
        relpath = path.relative_to(copy)
        (destination / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, destination / relpath)
        items.append({"module": module_id, "complete": True, "verdict": "complete", "note": "",
                      "tests": {"source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "ok": True}})
    (ci / "modules.json").write_text(json.dumps({"completed": CORE, "modules": items, "tampered": []}))
    metrics = {"accuracy": 1.0, "loss_drop": 0.99}
    (ci / "milestones" / "perceptron.json").write_text(json.dumps({"milestone": "perceptron", "passed": True,
                                                                   "metrics": metrics}))
    shutil.copy(copy / ".tito" / "manifest.json", ci / "manifest.json")
    shutil.rmtree(copy)
    return destination


@pytest.fixture(scope="module")
def artifacts(ci_run, ci_copy, tmp_path_factory):
    """Downloaded artifacts: alice's real one (a zip, as GitHub serves it), a forged one that
    passes every cheap check, and a sloppy one claiming modules that are still the release's."""
    folder = tmp_path_factory.mktemp("artifacts") / "downloads"
    folder.mkdir()
    copy, _ = ci_run
    with zipfile.ZipFile(folder / "alice.zip", "w") as archive:
        for path in sorted((copy / RESULTS).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(copy / RESULTS).as_posix())
    forged_artifact(ci_copy, folder / "mallory")
    sloppy = forged_artifact(ci_copy, folder / "trudy", break_tensor=False)
    for module_id in CORE:  # the release's stubs, with the hashes made to match
        path = source(module_id, ci_copy)
        shutil.copy(path, sloppy / path.relative_to(ci_copy))
    report = json.loads((sloppy / "tinytorch-ci" / "modules.json").read_text())
    for item in report["modules"]:
        item["tests"]["source_sha256"] = hashlib.sha256(source(item["module"], ci_copy).read_bytes()).hexdigest()
    (sloppy / "tinytorch-ci" / "modules.json").write_text(json.dumps(report))
    return folder


def grade_artifacts(folder, out, home, *extra):
    result = subprocess.run([sys.executable, "-m", "tito", "grade", "--from-artifacts", str(folder), "--out", str(out),
                             "--milestones", "perceptron", "--json", *map(str, extra)], cwd=REPO,
                            env=cli_env(home), capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    return document, {row["student"]: row for row in document["students"]}


def test_artifacts_are_re_run_and_a_forged_one_gets_only_what_it_earned(artifacts, tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "artifact-grades" / "grades.csv"
    document, rows = grade_artifacts(artifacts, out, tmp_path_factory.mktemp("home"))
    assert document["audit"]["verify_sample"] == "all" and document["audit"]["rerun"] == 3
    alice, mallory, trudy = rows["alice"], rows["mallory"], rows["trudy"]
    assert alice["verified"] is True and alice["flags"] == [] and alice["total"] == alice["max"] == 3 + 2
    assert [alice["modules"][m]["status"] for m in CORE] == ["passed"] * 3
    assert mallory["verified"] is True and mallory["total"] == 1, "only 00_setup really passes"
    assert [mallory["modules"][m]["status"] for m in CORE] == ["passed", "failed", "blocked"]
    assert mallory["milestones"]["perceptron"]["status"] == "locked"
    (flag,) = mallory["flags"]
    assert "claims more than the re-run gives" in flag and "01_tensor (claimed passed, re-run: failed)" in flag
    assert trudy["total"] == 0 and [trudy["modules"][m]["status"] for m in CORE] == ["not attempted"] * 3
    assert any("inconsistent" in flag and "unchanged from the release" in flag for flag in trudy["flags"])


def test_a_forged_artifact_found_in_the_sample_gets_every_artifact_re_run(artifacts, tmp_path_factory):
    consistent = sorted(["alice", "mallory"])
    seed = next(s for s in range(1000) if random.Random(s).sample(consistent, 1) == ["mallory"])
    out = tmp_path_factory.getbasetemp() / "artifact-grades" / "grades.csv"
    document, rows = grade_artifacts(artifacts, out, tmp_path_factory.mktemp("home"),
                                     "--verify-sample", 1, "--seed", seed)
    audit = document["audit"]
    assert audit["seed"] == seed and audit["sampled"] == 1 and audit["escalated"] is True and audit["rerun"] == 3
    assert all(row["verified"] for row in rows.values())
    assert rows["mallory"]["total"] == 1 and rows["alice"]["total"] == 5


def test_a_sample_leaves_the_rest_unverified_and_without_a_total(artifacts, tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "artifact-grades" / "grades.csv"  # the first run's results: reused
    document, rows = grade_artifacts(artifacts, out, tmp_path_factory.mktemp("home"), "--verify-sample", 0)
    assert document["audit"]["sampled"] == 0 and document["audit"]["inconsistent"] == 1
    for name in ("alice", "mallory"):
        assert rows[name]["verified"] is False and rows[name]["status"] == "unverified"
        assert rows[name]["total"] is None and rows[name]["claimed_total"] == 5, "a claim never becomes a grade"
    assert rows["trudy"]["verified"] is True and rows["trudy"]["total"] == 0, "an inconsistent artifact is re-run"
    csv_rows = {line.split(",")[0]: line.split(",") for line in out.read_text().splitlines()[1:]}
    assert csv_rows["mallory"][2] == "" and csv_rows["mallory"][5:7] == ["no", "5"]
