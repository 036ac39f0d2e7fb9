"""`tito milestone list | progress | info | run`: the real CLI in a subprocess, on a temp
copy of the project, with TINYTORCH_HOME in a temp dir."""

import json

from conftest import milestone_progress, run_tracker_script
from honesty import break_backward

CORE = ["00_setup", "01_tensor", "02_autograd"]
IDS = ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"]


def mark_complete(project, home, *modules):
    """Record modules as complete through the tracker's own script entry."""
    result = run_tracker_script("complete", *modules, cwd=project, home=home)
    assert result.returncode == 0, result.stderr




def test_list_shows_every_milestone_locked_at_first(tito, project):
    result = tito("milestone", "list", cwd=project)
    assert result.returncode == 0, result.stderr
    for year, title, mid in [("1957", "The Perceptron", "perceptron"), ("1969", "The XOR Problem", "xor"),
                             ("1986", "MLP on Real Digits", "mlp_digits"), ("1998", "Convolutional Networks", "cnn"),
                             ("2017", "Attention Is All You Need", "transformer"),
                             ("2018", "MLPerf: The Optimization Era", "mlperf")]:
        line = next(line for line in result.stdout.splitlines() if f" {mid} " in line)
        assert year in line and title in line and "locked" in line
    assert "0/3" in result.stdout and "0/8" in result.stdout and "0/14" in result.stdout
    assert "Next: tito module complete 00" in result.stdout


def test_progress_after_the_core_modules(tito, project, _isolated_home):
    mark_complete(project, _isolated_home, *CORE)
    result = tito("milestone", "progress", cwd=project)
    assert result.returncode == 0, result.stderr
    rows = {mid: next(line for line in result.stdout.splitlines() if name in line)
            for mid, name in [("perceptron", "The Perceptron"), ("xor", "The XOR Problem"),
                              ("transformer", "Attention Is All")]}
    assert "unlocked" in rows["perceptron"] and "3/3" in rows["perceptron"]
    assert "locked" in rows["xor"] and "unlocked" not in rows["xor"] and "3/4" in rows["xor"]
    assert "03_nn" in rows["xor"]
    assert "3/8" in rows["transformer"]
    assert "Next: tito milestone run perceptron" in result.stdout

    result = tito("milestone", "progress", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["completed_modules"] == CORE
    assert [m["id"] for m in data["milestones"]] == IDS
    assert [m["status"] for m in data["milestones"]] == ["unlocked"] + ["locked"] * 5
    assert [(m["modules_done"], m["modules_total"]) for m in data["milestones"]] == [
        (3, 3), (3, 4), (3, 5), (3, 6), (3, 8), (3, 14)]
    assert data["next_step"] == "tito milestone run perceptron"
    listed = tito("milestone", "list", "--json", cwd=project)
    assert listed.returncode == 0 and json.loads(listed.stdout) == data, listed.stderr


def test_info_shows_story_requirements_and_test(tito, project, _isolated_home):
    mark_complete(project, _isolated_home, "00_setup")
    result = tito("milestone", "info", "perceptron", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1957 - The Perceptron" in out and "Rosenblatt" in out
    assert "tests/milestones/test_learning_verification.py::test_perceptron_learning" in out
    lines = out.splitlines()
    assert "✅" in next(line for line in lines if "00_setup" in line)
    assert "❌" in next(line for line in lines if "02_autograd" in line)
    assert "No runs yet" in out
    assert "Next: tito module complete 01" in out


def test_unknown_milestone_exits_2_with_the_valid_ids(tito, project):
    for command in (["run", "perceptorn"], ["info", "nope"]):
        result = tito("milestone", *command, cwd=project)
        assert result.returncode == 2
        assert "Unknown milestone" in result.stderr
        assert all(mid in result.stderr for mid in IDS)
        assert "Traceback" not in result.stderr
    result = tito("milestone", "run", "nope", "--json", cwd=project)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["milestone"] == "nope" and data["passed"] is False and data["exit_code"] == 2
    assert "Unknown milestone" in data["error"]


def test_a_locked_milestone_is_refused_with_the_missing_modules(tito, project, _isolated_home):
    mark_complete(project, _isolated_home, "00_setup")
    result = tito("milestone", "run", "perceptron", cwd=project)
    assert result.returncode == 1
    assert "locked" in result.stdout
    assert "01_tensor" in result.stdout and "02_autograd" in result.stdout
    assert "00_setup" not in result.stdout
    assert "Next: tito module complete 01" in result.stdout
    assert milestone_progress(_isolated_home, project)["runs"] == {}

    result = tito("milestone", "run", "xor", "--json", cwd=project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["error"] == "locked" and data["missing"] == ["01_tensor", "02_autograd", "03_nn"]
    assert data["next_step"] == "tito module complete 01"


def test_run_perceptron_learns_and_completes(tito, exported_project, _isolated_home):
    mark_complete(exported_project, _isolated_home, *CORE)
    result = tito("milestone", "run", "perceptron", cwd=exported_project)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "epoch 40/40" in out
    for text in ("Learning metrics", "initial loss", "final loss", "loss drop", "accuracy", "≥ 95.0 %", "duration",
                 "🏆 MILESTONE COMPLETED!", "1957 - The Perceptron", "Your neural network actually learns."):
        assert text in out, text
    assert "Next: tito module complete 03" in out
    data = milestone_progress(_isolated_home, exported_project)
    assert data["completed_milestones"] == ["perceptron"]
    (run,) = data["runs"]["perceptron"]
    assert run["passed"] is True and run["metrics"]["accuracy"] >= 0.95 and run["duration"] > 0

    result = tito("milestone", "info", "perceptron", cwd=exported_project)
    assert "passed" in result.stdout and "accuracy 99.0 %" in result.stdout
    result = tito("milestone", "list", cwd=exported_project)
    assert "completed" in next(line for line in result.stdout.splitlines() if " perceptron " in line)


def test_run_json_prints_one_document(tito, exported_project, _isolated_home):
    mark_complete(exported_project, _isolated_home, *CORE)
    result = tito("milestone", "run", "perceptron", "--json", cwd=exported_project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing but the document on stdout
    assert data["milestone"] == "perceptron" and data["passed"] is True and data["exit_code"] == 0
    assert data["metrics"]["accuracy"] >= 0.95
    assert data["metrics"]["final_loss"] <= 0.5 * data["metrics"]["initial_loss"]
    assert data["duration"] > 0
    assert "MILESTONE COMPLETED" in result.stderr


def test_a_network_that_does_not_learn_fails_the_run(tito, exported_project, _isolated_home):
    mark_complete(exported_project, _isolated_home, *CORE)
    break_backward(exported_project, "MatMulOp")
    result = tito("milestone", "run", "perceptron", cwd=exported_project)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "The learning test failed" in out
    assert "The loss did not fall enough" in out
    assert "❌" in next(line for line in out.splitlines() if "loss drop" in line)
    assert "MILESTONE COMPLETED" not in out
    assert "Next: tito milestone run perceptron" in out
    data = milestone_progress(_isolated_home, exported_project)
    assert data["completed_milestones"] == []
    (run,) = data["runs"]["perceptron"]
    assert run["passed"] is False and run["metrics"]["loss_drop"] < 0.5

    result = tito("milestone", "run", "perceptron", "--json", cwd=exported_project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["exit_code"] == 1
    assert "The loss did not fall enough" in data["output_tail"]


def test_the_students_journey_through_tito_module_complete(tito, project, _isolated_home):
    for number in ("00", "01"):
        result = tito("module", "complete", number, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "MILESTONE UNLOCKED" not in result.stdout
    result = tito("module", "complete", "02", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    for text in ("🔓 MILESTONE UNLOCKED!", "1957 - The Perceptron", "Run: tito milestone run perceptron"):
        assert text in result.stdout
    assert milestone_progress(_isolated_home, project)["unlocked_milestones"] == ["perceptron"]

    result = tito("milestone", "run", "perceptron", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MILESTONE COMPLETED" in result.stdout
    result = tito("milestone", "run", "xor", cwd=project)
    assert result.returncode == 1 and "03_nn" in result.stdout


def test_outside_a_project_is_a_clear_error(tito, tmp_path):
    result = tito("milestone", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert "not inside a TinyTorch project" in result.stderr
    assert "Traceback" not in result.stderr
