"""The milestone tracker (tests/milestones/milestone_tracker.py): definitions, unlocks,
progress storage, corrupt files, concurrent writers, script entry and module API."""

import ast
import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from tito.project import ProjectError
from tito.tracker import load_tracker, tracker_file

from conftest import REPO, TRACKER_SCRIPT, cli_env, milestone_progress, run_tracker_script

SCRIPT = REPO / TRACKER_SCRIPT
CORE = ["00_setup", "01_tensor", "02_autograd"]
OPTIMIZATION = ["09_profiling", "10_quantization", "11_compression", "12_kv_cache", "13_acceleration", "14_benchmarking"]


@pytest.fixture(scope="module")
def mt():
    return load_tracker(REPO)


@pytest.fixture
def tracker(mt, project, _isolated_home):
    """The tracker of a project copy (its progress is that copy's section)."""
    return mt.MilestoneTracker(project=project)


def section(home, tracker):
    """The tracker's project section, read from the file itself."""
    return json.loads((home / "progress.json").read_text(encoding="utf-8"))["projects"][tracker.project_id]


# -- definitions ----------------------------------------------------------------------------
def test_milestones_match_the_design(mt):
    assert mt.MILESTONE_ORDER == ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"]
    assert list(mt.MILESTONES) == mt.MILESTONE_ORDER
    requires = {mid: mt.MILESTONES[mid]["requires"] for mid in mt.MILESTONE_ORDER}
    assert requires == {
        "perceptron": CORE,
        "xor": CORE + ["03_nn"],
        "mlp_digits": CORE + ["03_nn", "04_training"],
        "cnn": CORE + ["03_nn", "04_training", "05_spatial"],
        "transformer": CORE + ["03_nn", "04_training", "06_embeddings", "07_attention", "08_transformer"],
        "mlperf": CORE + ["03_nn", "04_training", "06_embeddings", "07_attention", "08_transformer"] + OPTIMIZATION,
    }
    assert [mt.MILESTONES[m]["test"] for m in mt.MILESTONE_ORDER] == [
        "test_perceptron_learning", "test_xor_learning", "test_mlp_digits_learning",
        "test_cnn_learning", "test_transformer_learning", "test_mlperf_learning",
    ]
    assert [mt.MILESTONES[m]["year"] for m in mt.MILESTONE_ORDER] == [1957, 1969, 1986, 1998, 2017, 2018]
    for mid, entry in mt.MILESTONES.items():
        assert entry["id"] == mid
        assert entry["name"].startswith(f"{entry['year']} - ")
        assert entry["description"] and entry["proves"]


def test_every_required_module_exists_in_the_project(mt):
    modules = {p.name for p in (REPO / "modules").iterdir() if p.is_dir()}
    needed = {m for entry in mt.MILESTONES.values() for m in entry["requires"]}
    assert needed <= modules, f"milestones require modules the project lacks: {sorted(needed - modules)}"


@pytest.mark.parametrize("milestone_id", ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"])
def test_every_milestone_has_its_learning_test(mt, milestone_id):
    source = (REPO / mt.TEST_FILE).read_text(encoding="utf-8")
    defined = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert mt.MILESTONES[milestone_id]["test"] in defined, (
        f"{mt.TEST_FILE} has no {mt.MILESTONES[milestone_id]['test']}"
    )


def test_list_tests_are_pytest_node_ids(mt):
    assert mt.list_tests() == [
        f"tests/milestones/test_learning_verification.py::{mt.MILESTONES[m]['test']}" for m in mt.MILESTONE_ORDER
    ]


def test_unknown_milestone_is_a_clear_error_listing_valid_ids(mt, tracker):
    for call in (lambda: mt.milestone("perceptorn"), lambda: tracker.can_run_milestone("nope"),
                 lambda: tracker.mark_milestone_complete("nope"), lambda: tracker.status("nope")):
        with pytest.raises(mt.UnknownMilestoneError) as err:
            call()
        for mid in mt.MILESTONE_ORDER:
            assert mid in str(err.value)
    with pytest.raises(mt.UnknownMilestoneError, match="Did you mean perceptron"):
        mt.milestone("perceptorn")


def test_malformed_module_id_is_refused(mt, tracker):
    for bad in ("tensor", "1_tensor", "", None, "01 tensor"):
        with pytest.raises(mt.TrackerError):
            tracker.mark_module_complete(bad)
    assert tracker.load()["completed_modules"] == []


# -- unlocks --------------------------------------------------------------------------------
def test_unlocks_are_detected_in_order(tracker):
    steps = [
        ("00_setup", []), ("01_tensor", []), ("02_autograd", ["perceptron"]), ("03_nn", ["xor"]),
        ("04_training", ["mlp_digits"]), ("06_embeddings", []), ("07_attention", []),
        ("08_transformer", ["transformer"]), *[(m, []) for m in OPTIMIZATION[:-1]],
        ("14_benchmarking", ["mlperf"]), ("05_spatial", ["cnn"]),
    ]
    for module, unlocked in steps:
        assert tracker.mark_module_complete(module) == unlocked, module
    assert tracker.load()["unlocked_milestones"] == ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"]


def test_several_unlocks_at_once_come_in_milestone_order(tracker):
    tracker.set_completed_modules(["03_nn", "04_training", "00_setup", "01_tensor"])
    assert tracker.mark_module_complete("02_autograd") == ["perceptron", "xor", "mlp_digits"]


def test_completing_a_module_twice_unlocks_once(tracker):
    tracker.mark_module_complete("00_setup")
    tracker.mark_module_complete("01_tensor")
    assert tracker.mark_module_complete("02_autograd") == ["perceptron"]
    assert tracker.mark_module_complete("02_autograd") == []
    data = tracker.load()
    assert data["completed_modules"] == CORE
    assert data["unlocked_milestones"] == ["perceptron"]


def test_later_milestones_stay_locked_until_their_modules_complete(tracker):
    for module in CORE + ["03_nn", "04_training"]:
        tracker.mark_module_complete(module)
    assert tracker.can_run_milestone("perceptron") == (True, [])
    assert tracker.can_run_milestone("mlp_digits") == (True, [])
    assert tracker.can_run_milestone("cnn") == (False, ["05_spatial"])
    assert tracker.can_run_milestone("transformer") == (False, ["06_embeddings", "07_attention", "08_transformer"])
    assert tracker.can_run_milestone("mlperf") == (False, ["06_embeddings", "07_attention", "08_transformer"] + OPTIMIZATION)
    assert [tracker.status(m) for m in ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"]] == [
        "unlocked", "unlocked", "unlocked", "locked", "locked", "locked"]


def test_rebuild_recomputes_unlocks_and_keeps_completed_milestones(tracker):
    tracker.set_completed_modules(CORE + ["03_nn"])
    tracker.mark_milestone_complete("perceptron", {"accuracy": 1.0}, 0.5)
    assert tracker.set_completed_modules(["00_setup", "01_tensor"]) == []
    data = tracker.load()
    assert data["completed_modules"] == ["00_setup", "01_tensor"]
    assert data["unlocked_milestones"] == []
    assert data["completed_milestones"] == ["perceptron"]
    assert len(data["runs"]["perceptron"]) == 1
    assert tracker.can_run_milestone("perceptron") == (False, ["02_autograd"])
    assert tracker.set_completed_modules(CORE + CORE) == ["perceptron"]
    assert tracker.load()["completed_modules"] == CORE


def test_forgetting_a_module_locks_its_milestones_again(tracker):
    tracker.set_completed_modules(CORE + ["03_nn"])
    tracker.mark_module_incomplete("03_nn")
    assert tracker.load()["unlocked_milestones"] == ["perceptron"]
    assert tracker.status("xor") == "locked"


# -- milestone runs ------------------------------------------------------------------------
def test_a_passing_run_completes_the_milestone_with_its_metrics(tracker):
    tracker.set_completed_modules(CORE)
    tracker.record_run("perceptron", False, {"accuracy": 0.5}, 0.2)
    assert tracker.status("perceptron") == "unlocked"
    tracker.mark_milestone_complete("perceptron", metrics={"accuracy": 0.99, "final_loss": 0.05}, duration=0.81234)
    data = tracker.load()
    assert data["completed_milestones"] == ["perceptron"]
    assert tracker.status("perceptron") == "completed"
    runs = data["runs"]["perceptron"]
    assert [r["passed"] for r in runs] == [False, True]
    assert runs[1]["metrics"] == {"accuracy": 0.99, "final_loss": 0.05}
    assert runs[1]["duration"] == 0.812
    assert runs[1]["timestamp"]
    tracker.mark_milestone_complete("perceptron")
    assert tracker.load()["completed_milestones"] == ["perceptron"]


def test_run_history_is_bounded(tracker):
    for i in range(25):
        tracker.record_run("xor", False, {"i": i})
    runs = tracker.runs("xor")
    assert len(runs) == 20 and runs[-1]["metrics"] == {"i": 24} and runs[0]["metrics"] == {"i": 5}


def test_suggest_next(tracker):
    assert tracker.suggest_next()[0] == "tito module complete 00"
    tracker.set_completed_modules(CORE)
    assert tracker.suggest_next()[0] == "tito milestone run perceptron"
    tracker.mark_milestone_complete("perceptron")
    assert tracker.suggest_next()[0] == "tito module complete 03"


# -- storage --------------------------------------------------------------------------------
def test_progress_lives_in_tinytorch_home(mt, tracker, project, _isolated_home):
    tracker.mark_module_complete("00_setup")
    data = section(_isolated_home, tracker)
    assert data["completed_modules"] == ["00_setup"]
    assert data["unlocked_milestones"] == [] and data["completed_milestones"] == []
    assert data["root"] == str(project.resolve())
    assert tracker.path == _isolated_home / "progress.json"
    assert (project / ".tito" / "project.json").is_file(), "first use writes the project's id into it"


def test_a_seed_style_file_is_migrated_not_dropped(mt, project, _isolated_home):
    _isolated_home.mkdir(parents=True, exist_ok=True)
    seed = {"completed_modules": ["00_setup", "01_tensor"], "unlocked_milestones": [], "completed_milestones": [],
            "runs": {"perceptron": [{"timestamp": "2025-01-01T00:00:00+00:00", "passed": True, "metrics": {}}]}}
    (_isolated_home / "progress.json").write_text(json.dumps(seed), encoding="utf-8")
    tracker = mt.MilestoneTracker(project=project)
    assert tracker.load()["completed_modules"] == ["00_setup", "01_tensor"], "read before any write"
    assert tracker.mark_module_complete("02_autograd") == ["perceptron"]
    assert not list(_isolated_home.glob("progress.json.corrupt-*"))
    data = json.loads((_isolated_home / "progress.json").read_text(encoding="utf-8"))
    assert data["version"] == 2 and "unclaimed_v1" not in data
    adopted = data["projects"][tracker.project_id]
    assert adopted["completed_modules"] == CORE and adopted["migrated_from"] == "version 1"
    assert len(adopted["runs"]["perceptron"]) == 1


@pytest.mark.parametrize("content", [
    "",
    "{not json",
    "[1, 2, 3]",
    '{"completed_modules": "00_setup", "unlocked_milestones": [], "completed_milestones": []}',
    '{"completed_modules": [], "unlocked_milestones": [], "completed_milestones": [], "runs": []}',
    '{"version": 2, "projects": []}',
    "[" * 100_000 + "]" * 100_000,
], ids=["empty", "not-json", "list", "string", "bad-runs", "bad-projects", "deeply-nested"])
def test_a_corrupt_file_is_moved_aside_and_progress_starts_clean(tracker, _isolated_home, capsys, content):
    _isolated_home.mkdir(parents=True, exist_ok=True)
    path = _isolated_home / "progress.json"
    path.write_text(content, encoding="utf-8")
    assert tracker.mark_module_complete("00_setup") == []
    backups = list(_isolated_home.glob("progress.json.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_text(encoding="utf-8") == content
    assert "damaged" in capsys.readouterr().err
    assert section(_isolated_home, tracker)["completed_modules"] == ["00_setup"]


@pytest.mark.parametrize("content, dropped", [
    ('{"completed_modules": [1, "00_setup"], "unlocked_milestones": [], "completed_milestones": []}',
     "malformed entries of 'completed_modules'"),
    ('{"completed_modules": ["00_setup"]}', None),
    ('{"completed_modules": ["00_setup"], "runs": {"perceptron": [1, 2]}}', "malformed runs of 'perceptron'"),
], ids=["numbers", "missing-keys", "bad-run-entries"])
def test_a_repairable_file_is_repaired_in_place(tracker, _isolated_home, capsys, content, dropped):
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "progress.json").write_text(content, encoding="utf-8")
    assert tracker.load()["completed_modules"] == ["00_setup"], "what is good is kept"
    tracker.mark_module_complete("01_tensor")
    assert not list(_isolated_home.glob("progress.json.corrupt-*")), "missing keys are filled in, not a reason to drop"
    data = section(_isolated_home, tracker)
    assert data["completed_modules"] == ["00_setup", "01_tensor"] and data["completed_milestones"] == []
    assert all(isinstance(run, dict) for runs in data["runs"].values() for run in runs)
    err = capsys.readouterr().err
    if dropped:
        assert dropped in err


def test_save_refuses_a_malformed_object(mt, tracker):
    with pytest.raises(mt.TrackerError):
        tracker.save({"completed_modules": "oops"})


def test_eight_processes_completing_modules_at_once_lose_nothing(project, _isolated_home):
    modules = ["00_setup", "01_tensor", "02_autograd", "03_nn", "04_training", "05_spatial",
               "06_embeddings", "07_attention"]
    env = cli_env(_isolated_home)
    procs = [subprocess.Popen([sys.executable, TRACKER_SCRIPT, "complete", module], cwd=project, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for module in modules]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    data = milestone_progress(_isolated_home, project)
    assert sorted(data["completed_modules"]) == modules
    assert data["unlocked_milestones"] == ["perceptron", "xor", "mlp_digits", "cnn"]
    assert not list(_isolated_home.glob("progress.json.corrupt-*"))


# -- module-level API ----------------------------------------------------------------------
def test_check_module_export_returns_unlocks_and_messages(mt):
    assert mt.check_module_export("00_setup") == {"newly_unlocked": [], "messages": []}
    assert mt.check_module_export("01_tensor") == {"newly_unlocked": [], "messages": []}
    buffer = io.StringIO()
    result = mt.check_module_export("02_autograd", Console(file=buffer, width=100))
    assert result["newly_unlocked"] == ["perceptron"]
    assert len(result["messages"]) == 1
    message = result["messages"][0]
    for text in ("MILESTONE UNLOCKED!", "1957 - The Perceptron", "Run: tito milestone run perceptron"):
        assert text in message
        assert text in buffer.getvalue()
    assert mt.check_module_export("02_autograd", Console(file=io.StringIO())) == {"newly_unlocked": [], "messages": []}


def test_completion_message(mt):
    message = mt.MilestoneTracker.completion_message("xor")
    assert "MILESTONE COMPLETED!" in message and "1969 - The XOR Problem" in message
    assert "Your neural network actually learns." in message


def test_emoji_fall_back_to_text(mt, monkeypatch):
    monkeypatch.setenv("TITO_ASCII", "1")
    message = mt.MilestoneTracker.unlock_message("perceptron")
    assert message.startswith("(unlocked) MILESTONE UNLOCKED!")
    message.encode("ascii")


def test_show_progress(mt):
    mt.check_module_export("00_setup")
    buffer = io.StringIO()
    rows = mt.show_progress(Console(file=buffer, width=150))
    assert [r["id"] for r in rows] == mt.MILESTONE_ORDER
    assert rows[0]["modules_done"] == 1 and rows[0]["modules_total"] == 3
    assert rows[0]["missing"] == ["01_tensor", "02_autograd"]
    text = buffer.getvalue()
    assert "1957 - The Perceptron" in text and "1/3" in text and "locked" in text


# -- script entry ---------------------------------------------------------------------------
def test_script_complete_progress_and_list(_isolated_home):
    result = run_tracker_script("complete", "00_setup", "01_tensor", home=_isolated_home)
    assert result.returncode == 0, result.stderr
    assert "UNLOCKED" not in result.stdout
    result = run_tracker_script("complete", "02_autograd", home=_isolated_home)
    assert result.returncode == 0, result.stderr
    for text in ("🔓 MILESTONE UNLOCKED!", "1957 - The Perceptron", "Run: tito milestone run perceptron"):
        assert text in result.stdout
    result = run_tracker_script("progress", home=_isolated_home)
    assert result.returncode == 0, result.stderr
    assert "unlocked" in result.stdout and "3/3" in result.stdout and "3/4" in result.stdout
    result = run_tracker_script("list", home=_isolated_home)
    assert result.returncode == 0, result.stderr
    assert "tests/milestones/test_learning_verification.py::test_transformer_learning" in result.stdout
    assert "Attention Is All You Need" in result.stdout


def test_script_ascii_console(_isolated_home):
    result = run_tracker_script("complete", *CORE, home=_isolated_home, env_extra={"TITO_ASCII": "1"})
    assert result.returncode == 0, result.stderr
    assert "(unlocked) MILESTONE UNLOCKED!" in result.stdout


@pytest.mark.parametrize("args, expected", [
    ((), "choose a command"),
    (("complete",), "MODULE"),
    (("complete", "tensor"), "is not a module id"),
    (("frobnicate",), "invalid choice"),
])
def test_script_usage_errors(_isolated_home, args, expected):
    result = run_tracker_script(*args, home=_isolated_home)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


# -- tito.tracker -----------------------------------------------------------------------------
def test_load_tracker_imports_the_projects_own_file(mt, project):
    assert tracker_file(REPO) == SCRIPT
    assert load_tracker(REPO) is mt
    other = load_tracker(project)
    assert other is not mt and other.__file__ == str(tracker_file(project))
    assert other.MILESTONE_ORDER == mt.MILESTONE_ORDER


def test_load_tracker_clear_error_when_missing_or_broken(tmp_path):
    with pytest.raises(ProjectError, match="milestone_tracker.py is missing"):
        load_tracker(tmp_path)
    broken = tmp_path / "broken"
    (broken / "tests" / "milestones").mkdir(parents=True)
    (broken / "tests" / "milestones" / "milestone_tracker.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ProjectError, match="could not be loaded: RuntimeError: boom"):
        load_tracker(broken)
