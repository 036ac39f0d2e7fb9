"""Milestone tracker — the single source of truth for TinyTorch's milestones.

Everything about milestones lives here: which exist (:data:`MILESTONES`, in
:data:`MILESTONE_ORDER`), which modules each requires, which learning test proves it,
and the user's progress (``$TINYTORCH_HOME/progress.json``, default ``~/.tinytorch``).
``tito`` imports this file from the project (``tito/tracker.py``); it never defines a
milestone itself. Adding a milestone = an entry below + a test in
``test_learning_verification.py``.

Progress file (keys of the original tracker keep their meaning; the rest are extras)::

    {"version": 1,
     "completed_modules":    ["00_setup", "01_tensor", "02_autograd"],
     "unlocked_milestones":  ["perceptron"],
     "completed_milestones": ["perceptron"],
     "runs": {"perceptron": [{"timestamp": "...", "passed": true,
                              "metrics": {...}, "duration": 0.8}]}}

Script entry (from the project root)::

    python3 tests/milestones/milestone_tracker.py complete 00_setup
    python3 tests/milestones/milestone_tracker.py progress
    python3 tests/milestones/milestone_tracker.py list
"""

import argparse
import datetime
import difflib
import os
import re
import sys
from pathlib import Path

try:
    from tito.console import icon
    from tito.json_store import JsonStore
except ImportError:  # run as a script from a checkout whose tito is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tito.console import icon
    from tito.json_store import JsonStore

TEST_FILE = "tests/milestones/test_learning_verification.py"
_CORE = ["00_setup", "01_tensor", "02_autograd"]

MILESTONES = {
    "perceptron": {
        "id": "perceptron",
        "name": "1957 - The Perceptron",
        "year": 1957,
        "requires": _CORE,
        "test": "test_perceptron_learning",
        "description": (
            "Frank Rosenblatt's perceptron learned to separate two classes by nudging its "
            "weights after every mistake. Yours is one sigmoid unit trained by gradient "
            "descent on two clusters of points, with nothing but your Tensor and autograd."
        ),
        "proves": "Your autograd computes real gradients, and following them learns.",
    },
    "xor": {
        "id": "xor",
        "name": "1969 - The XOR Problem",
        "year": 1969,
        "requires": _CORE + ["03_nn"],
        "test": "test_xor_learning",
        "description": (
            "Minsky and Papert showed that a single perceptron cannot learn XOR, and neural "
            "networks fell out of favour for a decade. A hidden layer solves it: your "
            "Linear, activations, loss and SGD fit the four XOR points exactly."
        ),
        "proves": "Your layers compose: a hidden layer learns what one unit cannot.",
    },
    "mlp_digits": {
        "id": "mlp_digits",
        "name": "1986 - MLP on Real Digits",
        "year": 1986,
        "requires": _CORE + ["03_nn", "04_training"],
        "test": "test_mlp_digits_learning",
        "description": (
            "Rumelhart, Hinton and Williams made backpropagation famous by training "
            "multi-layer networks. Your MLP, optimizer and data loader learn to read "
            "handwritten 8x8 digits and are graded on digits they never saw."
        ),
        "proves": "Your training loop generalizes to held-out data.",
    },
    "cnn": {
        "id": "cnn",
        "name": "1998 - Convolutional Networks",
        "year": 1998,
        "requires": _CORE + ["03_nn", "04_training", "05_spatial"],
        "test": "test_cnn_learning",
        "description": (
            "LeCun's LeNet read the cheques of American banks with convolutions that share "
            "their weights across the image. Your Conv2d and pooling layers beat the MLP "
            "on the same held-out digits."
        ),
        "proves": "Your convolutions learn spatial features.",
    },
    "transformer": {
        "id": "transformer",
        "name": "2017 - Attention Is All You Need",
        "year": 2017,
        "requires": _CORE + ["03_nn", "04_training", "06_embeddings", "07_attention", "08_transformer"],
        "test": "test_transformer_learning",
        "description": (
            "Vaswani et al. replaced recurrence with attention, and the transformer became "
            "the architecture of modern language models. Your embeddings, attention and "
            "transformer blocks learn a sequence task only attention can solve."
        ),
        "proves": "Your attention routes information between positions.",
    },
    "mlperf": {
        "id": "mlperf",
        "name": "2018 - MLPerf: The Optimization Era",
        "year": 2018,
        "requires": _CORE + ["03_nn", "04_training", "06_embeddings", "07_attention", "08_transformer",
                             "09_profiling", "10_quantization", "11_compression", "12_kv_cache",
                             "13_acceleration", "14_benchmarking"],
        "test": "test_mlperf_learning",
        "description": (
            "MLPerf made speed claims comparable: a fixed model, a fixed quality target, and "
            "only results that keep the accuracy count. Your GPT learns to sort digits; your "
            "profiler counts it, your int8 quantizer shrinks it, your pruner halves it, your "
            "KV cache speeds up its generation — and it must still sort."
        ),
        "proves": "Your optimizations make the model smaller and faster without losing what it learned.",
    },
}

MILESTONE_ORDER = ["perceptron", "xor", "mlp_digits", "cnn", "transformer", "mlperf"]

_LIST_KEYS = ("completed_modules", "unlocked_milestones", "completed_milestones")
_MODULE_ID = re.compile(r"^\d{2}_[a-z][a-z0-9_]*$")
_RUNS_KEPT = 20
VERSION = 1


class TrackerError(ValueError):
    """A user mistake (unknown milestone, malformed module name); ``str()`` says what to do."""


class UnknownMilestoneError(TrackerError):
    pass


def milestone(milestone_id):
    """The milestone's entry; a clear error (with the valid ids) for an unknown one."""
    if milestone_id in MILESTONES:
        return MILESTONES[milestone_id]
    close = difflib.get_close_matches(str(milestone_id), MILESTONE_ORDER, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise UnknownMilestoneError(
        f"Unknown milestone {milestone_id!r}.{hint} Valid milestones: {', '.join(MILESTONE_ORDER)}."
    )


def nodeid(milestone_id):
    """``tests/milestones/test_learning_verification.py::test_perceptron_learning``."""
    return f"{TEST_FILE}::{milestone(milestone_id)['test']}"


def module_number(module_id):
    """``"02_autograd"`` -> ``"02"`` (what ``tito module complete`` takes)."""
    return module_id.split("_", 1)[0]


def tinytorch_home():
    """``$TINYTORCH_HOME``, or ``~/.tinytorch``."""
    return Path(os.environ.get("TINYTORCH_HOME") or Path.home() / ".tinytorch")


def _fresh():
    return {"version": VERSION, "completed_modules": [], "unlocked_milestones": [],
            "completed_milestones": [], "runs": {}}


def _validate(data):
    """Problems with the file's shape (empty list: it is fine)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = []
    for key in _LIST_KEYS:
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            problems.append(f"{key!r} is not a list of names")
    runs = data.get("runs", {})
    if not isinstance(runs, dict) or not all(isinstance(v, list) for v in runs.values()):
        problems.append("'runs' is not a run history")
    return problems


def _now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def when(timestamp):
    """``2026-01-31T14:05:09+01:00`` -> ``2026-01-31 14:05`` (for tables)."""
    return str(timestamp)[:16].replace("T", " ")


class MilestoneTracker:
    """The user's milestone progress, read and written through a locked, atomic store."""

    def __init__(self, home=None, warn=None):
        self.home = Path(home) if home is not None else tinytorch_home()
        self.path = self.home / "progress.json"
        self.store = JsonStore(self.path, default=_fresh, validate=_validate, warn=warn)

    # -- storage ---------------------------------------------------------------------
    def load(self):
        """The progress (every key present; a fresh one if the file is missing or was corrupt)."""
        return self._fill(self.store.read())

    def save(self, data):
        problems = _validate(data)
        if problems:
            raise TrackerError(f"Refusing to save malformed progress: {'; '.join(problems)}.")
        self.store.write(data)

    def _update(self):
        return self.store.update()

    @staticmethod
    def _fill(data):
        for key, value in _fresh().items():
            data.setdefault(key, value)
        return data

    # -- modules and unlocks -----------------------------------------------------------
    def mark_module_complete(self, module):
        """Record a completed module; returns the milestones this newly unlocks (in order)."""
        _check_module(module)
        with self._update() as data:
            self._fill(data)
            if module not in data["completed_modules"]:
                data["completed_modules"].append(module)
            return self._refresh_unlocks(data)

    def mark_module_incomplete(self, module):
        """Forget a module (``tito module reset``); milestones it enabled lock again."""
        _check_module(module)
        with self._update() as data:
            self._fill(data)
            data["completed_modules"] = [m for m in data["completed_modules"] if m != module]
            self._refresh_unlocks(data)

    def set_completed_modules(self, modules):
        """Rebuild: exactly ``modules`` are complete (``tito module check --all``).

        Unlocks are recomputed; completed milestones and run history are kept. Returns
        the milestones newly unlocked.
        """
        modules = list(dict.fromkeys(modules))
        for module in modules:
            _check_module(module)
        with self._update() as data:
            self._fill(data)
            data["completed_modules"] = modules
            return self._refresh_unlocks(data)

    @staticmethod
    def _refresh_unlocks(data):
        """``unlocked_milestones`` := the milestones whose modules are all complete."""
        done = set(data["completed_modules"])
        previous = set(data["unlocked_milestones"])
        unlocked = [m for m in MILESTONE_ORDER if set(MILESTONES[m]["requires"]) <= done]
        # Milestones this file no longer defines are kept as they were.
        data["unlocked_milestones"] = unlocked + [m for m in data["unlocked_milestones"] if m not in MILESTONES]
        return [m for m in unlocked if m not in previous]

    def missing_modules(self, milestone_id, data=None):
        data = data or self.load()
        done = set(data["completed_modules"])
        return [m for m in milestone(milestone_id)["requires"] if m not in done]

    def can_run_milestone(self, milestone_id):
        """``(True, [])``, or ``(False, [modules still to complete])``."""
        missing = self.missing_modules(milestone_id)
        return not missing, missing

    def status(self, milestone_id, data=None):
        """``"completed"``, ``"unlocked"`` or ``"locked"``."""
        data = data or self.load()
        if milestone_id in data["completed_milestones"]:
            return "completed"
        return "locked" if self.missing_modules(milestone_id, data) else "unlocked"

    # -- milestone runs ------------------------------------------------------------------
    def record_run(self, milestone_id, passed, metrics=None, duration=None):
        """Append one run to the milestone's history (the last 20 are kept)."""
        milestone(milestone_id)
        entry = {"timestamp": _now(), "passed": bool(passed), "metrics": metrics or {},
                 "duration": None if duration is None else round(float(duration), 3)}
        with self._update() as data:
            self._fill(data)
            runs = data["runs"].setdefault(milestone_id, [])
            runs.append(entry)
            del runs[:-_RUNS_KEPT]
            if passed and milestone_id not in data["completed_milestones"]:
                data["completed_milestones"].append(milestone_id)
        return entry

    def mark_milestone_complete(self, milestone_id, metrics=None, duration=None):
        """Record a passing run and mark the milestone complete."""
        return self.record_run(milestone_id, True, metrics, duration)

    def runs(self, milestone_id):
        milestone(milestone_id)
        return list(self.load()["runs"].get(milestone_id, []))

    # -- summaries and messages -----------------------------------------------------------
    def summary(self):
        """One dict per milestone, in order: what every view of progress shows."""
        data = self.load()
        rows = []
        for mid in MILESTONE_ORDER:
            entry = MILESTONES[mid]
            missing = self.missing_modules(mid, data)
            runs = data["runs"].get(mid, [])
            rows.append({
                "id": mid, "name": entry["name"], "year": entry["year"], "test": entry["test"],
                "title": entry["name"].split(" - ", 1)[-1],
                "status": self.status(mid, data), "requires": list(entry["requires"]),
                "modules_done": len(entry["requires"]) - len(missing),
                "modules_total": len(entry["requires"]), "missing": missing,
                "runs": len(runs), "last_run": runs[-1] if runs else None,
            })
        return rows

    def suggest_next(self):
        """``(command, why)``: the one next thing to do."""
        rows = self.summary()
        for row in rows:
            if row["status"] == "unlocked":
                return f"tito milestone run {row['id']}", f"{row['name']} is unlocked"
        for row in rows:
            if row["status"] == "locked":
                module = row["missing"][0]
                return f"tito module complete {module_number(module)}", f"{module} brings you closer to {row['name']}"
        return "tito demo", "every milestone is complete — watch the whole journey again"

    @staticmethod
    def unlock_message(milestone_id):
        entry = milestone(milestone_id)
        return f"{icon('🔓')} MILESTONE UNLOCKED!\n{entry['name']}\nRun: tito milestone run {milestone_id}"

    @staticmethod
    def completion_message(milestone_id):
        entry = milestone(milestone_id)
        return (f"{icon('🏆')} MILESTONE COMPLETED!\n{entry['name']}\n"
                f"Your neural network actually learns.\n{entry['proves']}")


def _check_module(module):
    if not isinstance(module, str) or not _MODULE_ID.match(module):
        raise TrackerError(f"{module!r} is not a module id: use the folder name, e.g. 01_tensor.")


# -- rendering (rich) -----------------------------------------------------------------------
_STATUS_STYLE = {"completed": ("🏆", "bold green"), "unlocked": ("🔓", "bold yellow"), "locked": ("🔒", "dim")}


def _console(console):
    if console is not None:
        return console
    from tito.console import console as default

    return default


def status_label(status):
    symbol, style = _STATUS_STYLE[status]
    return f"[{style}]{icon(symbol)} {status}[/{style}]"


def print_panel(message, console=None, style="green"):
    """A message (an unlock or completion) as a rich panel."""
    from rich.panel import Panel
    from rich.text import Text

    title, _, body = message.partition("\n")
    text = Text(title, style=f"bold {style}")
    if body:
        text.append("\n" + body)
    _console(console).print(Panel(text, border_style=style, expand=False, padding=(0, 2)))


def milestones_table(tracker=None):
    """The catalog: year, name, id, status, required modules n/m (``tito milestone list``)."""
    from rich.table import Table

    table = Table(title="TinyTorch milestones", title_justify="left")
    for column in ("Year", "Milestone", "Id", "Status", "Modules"):
        table.add_column(column, no_wrap=column != "Milestone")
    for row in (tracker or MilestoneTracker()).summary():
        table.add_row(str(row["year"]), row["title"], row["id"], status_label(row["status"]),
                      f"{row['modules_done']}/{row['modules_total']}")
    return table


def progress_table(tracker=None):
    """Progress: each milestone's status, modules n/m, what is missing or the last result."""
    from rich.table import Table

    table = Table(title="Milestone progress", title_justify="left")
    for column in ("Milestone", "Status", "Modules", "Still to do"):
        table.add_column(column, no_wrap=column in ("Status", "Modules"))
    for row in (tracker or MilestoneTracker()).summary():
        if row["missing"]:
            detail = ", ".join(row["missing"])
        elif row["last_run"]:
            last = row["last_run"]
            detail = f"last run {'passed' if last['passed'] else 'failed'} {when(last['timestamp'])}"
        else:
            detail = "ready to run"
        table.add_row(row["name"], status_label(row["status"]),
                      f"{row['modules_done']}/{row['modules_total']}", detail)
    return table


# -- module-level API (what tito calls) ----------------------------------------------------
def check_module_export(module_name, console=None):
    """A module was exported: mark it complete, detect unlocks, show them.

    Returns ``{'newly_unlocked': [ids], 'messages': [str]}``; with a ``console`` (rich)
    each unlock is printed as a panel.
    """
    tracker = MilestoneTracker()
    newly = tracker.mark_module_complete(module_name)
    messages = [tracker.unlock_message(mid) for mid in newly]
    if console is not None:
        for message in messages:
            print_panel(message, console, style="yellow")
    return {"newly_unlocked": newly, "messages": messages}


def show_progress(console=None):
    """Print the progress table; returns the summary rows."""
    tracker = MilestoneTracker()
    _console(console).print(progress_table(tracker))
    return tracker.summary()


def list_tests():
    """The pytest node id of every milestone's learning test, in milestone order."""
    return [nodeid(mid) for mid in MILESTONE_ORDER]


# -- script entry ---------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="milestone_tracker.py",
        description="TinyTorch milestone progress (in $TINYTORCH_HOME/progress.json, default ~/.tinytorch).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    complete = commands.add_parser("complete", help="mark modules complete and show what unlocks")
    complete.add_argument("modules", nargs="+", metavar="MODULE", help="module ids, e.g. 00_setup")
    commands.add_parser("progress", help="show milestone progress")
    commands.add_parser("list", help="list the milestones and their learning tests")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{parser.prog}: error: choose a command: complete, progress or list\n")

    from tito.console import console

    try:
        if args.command == "complete":
            for module in args.modules:
                result = check_module_export(module, console)
                if not result["newly_unlocked"]:
                    console.print(f"{icon('✅')} {module} complete")
        elif args.command == "progress":
            show_progress(console)
        else:
            console.print(milestones_table())
            for nodeid in list_tests():
                console.print(nodeid, soft_wrap=True)
    except TrackerError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
