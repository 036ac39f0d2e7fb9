"""QUICKSTART.md works as written: every command of its ```bash blocks, run in order.

The commands run through the real shell (``bash -c``), each in the root of a fresh copy
of this project that has the reference solutions but nothing exported (the ``project``
fixture: what a student's folder looks like once the modules are solved), with the
test's ``TINYTORCH_HOME`` (set by the autouse fixture, inherited by the subprocesses).
``tito`` is the installed CLI, found on ``PATH`` as a student's shell finds it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_env, milestone_progress

QUICKSTART = REPO / "tests" / "milestones" / "QUICKSTART.md"
_FENCE = re.compile(r"^[ \t]*```bash[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)  # indented too
_ANY_FENCE = re.compile(r"^[ \t]*```(bash|text)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)


def samples(markdown):
    """``[(commands of a bash block, lines of the text blocks after it)]``: what each sample shows."""
    found = []
    for kind, block in _ANY_FENCE.findall(markdown):
        if kind == "bash":
            found.append((bash_commands(f"```bash\n{block}```\n"), []))
        elif found:
            found[-1][1].extend(line for line in block.splitlines() if line.strip() and line.strip() != "...")
    return found


def normalized(line):
    """A line of output as a sample shows it: any timing, any bar length, any spacing."""
    line = re.sub(r"\d+\.\d+ ?s\b", "#s", line)
    line = re.sub(r"\d+:\d\d:\d\d", "#:##:##", line)
    line = re.sub(r"━+", "━", line)
    return " ".join(line.split())


def bash_commands(markdown):
    """The commands of every ```bash block, in order: one per line (a line ending in ``\\``
    continues on the next); blank lines and comment-only lines are not commands."""
    commands = []
    for block in _FENCE.findall(markdown):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1]  # as bash joins them
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
        if pending.strip():
            commands.append(pending.strip())
    return commands


def test_bash_commands_parser():
    text = (
        "Intro `tito demo`\n\n```bash\n# a comment\ntito module list  # trailing comment\n\n"
        "tito module complete 00\n```\n\n```text\nnot a command\n```\n\n"
        "```bash\ntito milestone run \\\n  perceptron\n```\n"
        "1. In a list:\n\n   ```bash\n   tito module test 01\n   ```\n"
    )
    assert bash_commands(text) == [
        "tito module list  # trailing comment",
        "tito module complete 00",
        "tito milestone run   perceptron",
        "tito module test 01",
    ]
    assert bash_commands("```python\nprint(1)\n```\n") == []


def _shell_env():
    """The test's environment (TINYTORCH_HOME included), with the installed `tito` of this
    interpreter first on PATH, plain UTF-8 output of a fixed width."""
    env = cli_env(COLUMNS="100")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)  # tito finds the project from the cwd, as for a student
    return env


def test_quickstart_commands_work_as_written(project, _isolated_home):
    commands = bash_commands(QUICKSTART.read_text(encoding="utf-8"))

    # The page must walk the real path: modules completed, then a milestone run.
    completes = [c for c in commands if re.match(r"tito module complete \S+", c)]
    runs = [c for c in commands if re.match(r"tito milestone run \S+", c)]
    assert len(completes) >= 3, f"QUICKSTART.md completes too few modules: {commands}"
    assert runs, f"QUICKSTART.md runs no milestone: {commands}"
    assert commands.index(runs[0]) > commands.index(completes[-1]), "the milestone runs before the modules are done"

    env = _shell_env()
    tito = shutil.which("tito", path=env["PATH"])
    assert tito, "`tito` is not installed: run `pip install -e .` in the repository first"
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("QUICKSTART.md's commands are bash commands; no bash on this machine")

    outputs = {}
    for number, command in enumerate(commands, 1):
        result = subprocess.run(
            [bash, "-c", command], cwd=project, env=env, capture_output=True,
            text=True, encoding="utf-8", errors="replace", timeout=600,
        )
        outputs[command] = {normalized(line) for line in (result.stdout + result.stderr).splitlines()}
        assert result.returncode == 0, (
            f"QUICKSTART.md command {number} of {len(commands)} failed (exit {result.returncode}):\n"
            f"$ {command}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        assert "Traceback" not in result.stdout + result.stderr, f"$ {command}\n{result.stdout}{result.stderr}"

    # The commands really did the work: the modules are recorded and the milestone passed.
    modules = json.loads((project / "progress.json").read_text(encoding="utf-8"))["completed"]
    milestones = milestone_progress(_isolated_home, project)
    assert {"00_setup", "01_tensor", "02_autograd"} <= set(modules)
    for command in runs:
        milestone_id = command.split()[3]
        assert milestone_id in milestones["completed_milestones"], (command, milestones)

    # Every sample of output on the page is what those commands really printed.
    for block_commands, shown in samples(QUICKSTART.read_text(encoding="utf-8")):
        printed = set().union(*(outputs[command] for command in block_commands))
        stale = [line for line in shown if normalized(line) not in printed]
        assert not stale, f"QUICKSTART.md shows lines that {block_commands} no longer print: {stale}"
