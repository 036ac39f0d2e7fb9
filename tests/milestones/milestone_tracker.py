"""Milestone tracker — the single source of truth for TinyTorch's milestones.

Everything about milestones lives here: which exist (:data:`MILESTONES`, in
:data:`MILESTONE_ORDER`), which modules each requires, which learning test proves it, the
bars its metrics must meet, and the user's progress (``$TINYTORCH_HOME/progress.json``,
default ``~/.tinytorch``). ``tito`` imports this file from the project
(``tito/tracker.py``); it never defines a milestone itself. Adding a milestone = an entry
below + a test in ``test_learning_verification.py``.

Progress is kept **per project**: every project has an id (``.tito/project.json``, written
by ``tito release`` or on first use), and the file holds one section per id with the keys of
the original tracker, so two copies on one account never read or change each other's state::

    {"version": 2,
     "projects": {
       "3f2a…": {"root": "/home/ada/course",
                 "completed_modules":    ["00_setup", "01_tensor", "02_autograd"],
                 "unlocked_milestones":  ["perceptron"],
                 "completed_milestones": ["perceptron"],
                 "runs": {"perceptron": [{"timestamp": "…", "passed": true, "metrics": {…},
                                          "duration": 0.8, "project": "3f2a…"}]}}}}

A version-1 file (one shared record) is migrated, never dropped: the first project that
opens it adopts its progress.

Script entry (from the project root) — an instructor and debugging tool: it records
progress **without running any test** (``tito module complete`` is the student's way)::

    python3 tests/milestones/milestone_tracker.py complete 00_setup
    python3 tests/milestones/milestone_tracker.py progress
    python3 tests/milestones/milestone_tracker.py list

The module's top level is plain data and functions (the learning tests read the bars from
here); tito's helpers are imported only when progress is read or shown.
"""

import argparse
import contextlib
import datetime
import difflib
import os
import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_FILE = "tests/milestones/test_learning_verification.py"
_CORE = ["00_setup", "01_tensor", "02_autograd"]

MILESTONES = {
    "perceptron": {
        "id": "perceptron",
        "name": "1957 - The Perceptron",
        "year": 1957,
        "requires": _CORE,
        "test": "test_perceptron_learning",
        "required": {"accuracy": (">=", 0.95), "loss_drop": (">=", 0.5)},
        "seconds": 1,
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
        "required": {"accuracy": (">=", 1.0), "final_loss": ("<", 0.1), "loss_drop": (">=", 0.5)},
        "seconds": 1,
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
        "required": {"accuracy": (">=", 0.90), "loss_drop": (">=", 0.5)},
        "seconds": 1,
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
        "required": {"accuracy": (">=", 0.95), "loss_drop": (">=", 0.5)},
        "seconds": 2,
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
        "required": {"accuracy": (">=", 0.95), "loss_drop": (">=", 0.5)},
        "seconds": 2,
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
        "required": {"accuracy": (">=", 0.9), "loss_drop": (">=", 0.5), "profile_counts_match": (">=", 1.0),
                     "int8_weight_fraction": ("<=", 0.30), "int8_accuracy_drop": ("<=", 0.01),
                     "sparsity": (">=", 0.5), "pruned_accuracy_drop": ("<=", 0.02),
                     "kv_cache_tokens_identical": (">=", 1.0), "kv_cache_one_position_per_token": (">=", 1.0)},
        "seconds": 4,
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
VERSION = 2
_COMPARE = {">=": lambda value, bar: value >= bar, ">": lambda value, bar: value > bar,
            "<=": lambda value, bar: value <= bar, "<": lambda value, bar: value < bar}
_SIGN = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


class TrackerError(ValueError):
    """A user mistake (unknown milestone, malformed module name); ``str()`` says what to do."""


class UnknownMilestoneError(TrackerError):
    pass


def milestone(milestone_id):
    """The milestone's entry (ids are case-insensitive); a clear error for an unknown one."""
    key = str(milestone_id).strip().lower()
    if key in MILESTONES:
        return MILESTONES[key]
    close = difflib.get_close_matches(key, MILESTONE_ORDER, n=1, cutoff=0.5)
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


def bar_text(milestone_id, metric):
    """``"≥ 0.95"`` for a metric's bar."""
    op, bar = milestone(milestone_id)["required"][metric]
    return f"{_SIGN[op]} {bar}"


def meets_bar(milestone_id, metric, value):
    """Whether ``value`` meets the milestone's bar for ``metric`` (False when it is not a number)."""
    op, bar = milestone(milestone_id)["required"][metric]
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return number is not None and number == number and _COMPARE[op](number, bar)


def unmet_bars(milestone_id, metrics):
    """What keeps ``metrics`` from meeting the milestone's bars (``[]``: every bar is met)."""
    unmet = []
    for metric in milestone(milestone_id)["required"]:
        value = (metrics or {}).get(metric)
        if value is None:
            unmet.append(f"{metric} was not reported")
        elif not meets_bar(milestone_id, metric, value):
            unmet.append(f"{metric} {value!r} does not meet the bar {bar_text(milestone_id, metric)}")
    return unmet


def tinytorch_home():
    """``$TINYTORCH_HOME``, or ``~/.tinytorch``."""
    return Path(os.environ.get("TINYTORCH_HOME") or Path.home() / ".tinytorch")


def project_modules(root=PROJECT_ROOT):
    """The module ids of the project (``modules/NN_name/name.py``), in course order."""
    folder = Path(root) / "modules"
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p.name for p in entries if _MODULE_ID.match(p.name) and (p / f"{p.name.split('_', 1)[1]}.py").is_file()]


# -- the progress file ------------------------------------------------------------------------
def _fresh_section(root=None):
    return {"root": None if root is None else str(root), "completed_modules": [], "unlocked_milestones": [],
            "completed_milestones": [], "runs": {}}


def _fresh():
    return {"version": VERSION, "projects": {}}


def _validate(data):
    """What makes the file unusable (empty: it can be used, perhaps after repairs)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    if "projects" in data and not isinstance(data["projects"], dict):
        return ["'projects' is not an object"]
    if "projects" not in data:  # a version-1 file: its lists must be lists
        problems = [f"{key!r} is not a list of names" for key in _LIST_KEYS
                    if key in data and not isinstance(data[key], list)]
        if "runs" in data and not isinstance(data["runs"], dict):
            problems.append("'runs' is not a run history")
        return problems
    return []


def _clean_run(entry):
    if not (isinstance(entry, dict) and isinstance(entry.get("passed"), bool) and isinstance(entry.get("timestamp"), str)):
        return None
    metrics = entry.get("metrics")
    duration = entry.get("duration")
    return {**entry, "metrics": metrics if isinstance(metrics, dict) else {},
            "duration": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None}


def _clean_section(section, report, label):
    """A project section with every key present and malformed entries dropped (reported)."""
    clean = _fresh_section(section.get("root") if isinstance(section.get("root"), str) else None)
    for key in _LIST_KEYS:
        values = section.get(key, [])
        if not isinstance(values, list):
            report(f"{label}: dropped {key!r} (not a list)")
            continue
        kept = [v for v in values if isinstance(v, str)]
        if len(kept) != len(values):
            report(f"{label}: dropped {len(values) - len(kept)} malformed entries of {key!r}")
        clean[key] = list(dict.fromkeys(kept))
    runs = section.get("runs", {})
    if not isinstance(runs, dict):
        report(f"{label}: dropped the run history (not an object)")
        runs = {}
    for milestone_id, entries in runs.items():
        if not isinstance(entries, list):
            report(f"{label}: dropped the runs of {milestone_id!r} (not a list)")
            continue
        kept = [run for run in map(_clean_run, entries) if run is not None]
        if len(kept) != len(entries):
            report(f"{label}: dropped {len(entries) - len(kept)} malformed runs of {milestone_id!r}")
        clean["runs"][milestone_id] = kept
    for key, value in section.items():
        if key not in clean:
            clean[key] = value
    return clean


def _normalize(data, report=lambda message: None):
    """The version-2 shape: version-1 progress migrated, keys filled, bad entries dropped."""
    if "projects" not in data:
        legacy = _clean_section(data, report, "version-1 progress")
        legacy.pop("root", None)
        data = {"version": VERSION, "projects": {}, "unclaimed_v1": legacy}
    out = {key: value for key, value in data.items() if key not in ("projects", "unclaimed_v1")}
    out["version"] = VERSION
    out["projects"] = {}
    for project_id, section in data["projects"].items():
        if isinstance(section, dict):
            out["projects"][str(project_id)] = _clean_section(section, report, f"project {project_id}")
        else:
            report(f"dropped the malformed section of project {project_id!r}")
    if isinstance(data.get("unclaimed_v1"), dict):
        out["unclaimed_v1"] = data["unclaimed_v1"]
    return out


def _now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def when(timestamp):
    """``2026-01-31T14:05:09+01:00`` -> ``2026-01-31 14:05`` (for tables)."""
    return str(timestamp)[:16].replace("T", " ")


def _tito():
    """tito's helpers; from the checkout this file sits in when tito is not installed."""
    try:
        import tito.identity
        import tito.json_store
    except ImportError:
        sys.path.insert(0, str(PROJECT_ROOT))
        import tito.identity
        import tito.json_store
    return tito


class MilestoneTracker:
    """The user's milestone progress in one project, through a locked, atomic store.

    ``project`` is the project folder (default: the one this file belongs to); ``home``
    the folder of ``progress.json`` (default: :func:`tinytorch_home`).
    """

    def __init__(self, home=None, warn=None, project=None):
        tito = _tito()
        self.home = Path(home) if home is not None else tinytorch_home()
        self.path = self.home / "progress.json"
        self.root = Path(project if project is not None else PROJECT_ROOT).resolve()
        self.project_id = tito.identity.project_identity(self.root)["id"]
        self.store = tito.json_store.JsonStore(self.path, default=_fresh, validate=_validate, warn=warn,
                                               normalize=_normalize)

    # -- storage ---------------------------------------------------------------------
    def _section(self, data, write):
        """This project's section of ``data`` (created, or claimed from a copy, when ``write``)."""
        identity = _tito().identity
        section = data["projects"].get(self.project_id)
        if section is not None and section.get("root") not in (None, str(self.root)):
            other = Path(section["root"])
            if (identity.read_identity(other) or {}).get("id") == self.project_id:
                # This folder is a copy of another project (same id): it gets its own id.
                if not write:
                    return _fresh_section(self.root)
                self.project_id = identity.new_identity(self.root)["id"]
                section = data["projects"].get(self.project_id)
            elif write:
                section["root"] = str(self.root)  # the project was moved
        if section is None:
            section = _fresh_section(self.root)
            legacy = data.get("unclaimed_v1")
            if legacy is not None and write:
                section.update(legacy, root=str(self.root), migrated_from="version 1")
                del data["unclaimed_v1"]
            elif legacy is not None:
                section.update(legacy, root=str(self.root))
            if write:
                data["projects"][self.project_id] = section
        elif write and section.get("root") is None:
            section["root"] = str(self.root)
        return section

    def load(self):
        """This project's progress (every key present; fresh if there is none yet)."""
        return self._section(_normalize(self.store.read()), write=False)

    def load_all(self):
        """The whole file (every project)."""
        return _normalize(self.store.read())

    def save(self, section):
        """Replace this project's progress with ``section``."""
        problems = [f"{key!r} is not a list of names" for key in _LIST_KEYS
                    if not (isinstance(section.get(key), list) and all(isinstance(v, str) for v in section[key]))]
        if problems:
            raise TrackerError(f"Refusing to save malformed progress: {'; '.join(problems)}.")
        with self._update() as current:
            current.update(section)

    @contextlib.contextmanager
    def _update(self):
        """``with self._update() as section:`` — this project's section, locked and saved."""
        with self.store.update() as data:
            yield self._section(data, write=True)

    # -- modules and unlocks -----------------------------------------------------------
    def check_module(self, module):
        """A clear error unless ``module`` is a module id of this project (with "did you mean")."""
        _check_module(module)
        known = project_modules(self.root)
        if known and module not in known:
            close = difflib.get_close_matches(module, known, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise TrackerError(f"{module!r} is not a module of this project.{hint} Modules: {', '.join(known)}.")

    def mark_module_complete(self, module):
        """Record a completed module; returns the milestones this newly unlocks (in order)."""
        self.check_module(module)
        with self._update() as section:
            if module not in section["completed_modules"]:
                section["completed_modules"].append(module)
            return self._refresh_unlocks(section)

    def mark_module_incomplete(self, *modules):
        """Forget modules (``tito module reset``); milestones they enabled lock again."""
        for module in modules:
            _check_module(module)
        with self._update() as section:
            section["completed_modules"] = [m for m in section["completed_modules"] if m not in modules]
            self._refresh_unlocks(section)

    def set_completed_modules(self, modules):
        """Rebuild: exactly ``modules`` are complete (``tito module check --all``).

        Unlocks are recomputed; completed milestones and run history are kept. Returns
        the milestones newly unlocked.
        """
        modules = list(dict.fromkeys(modules))
        for module in modules:
            self.check_module(module)
        with self._update() as section:
            section["completed_modules"] = modules
            return self._refresh_unlocks(section)

    @staticmethod
    def _refresh_unlocks(section):
        """``unlocked_milestones`` := the milestones whose modules are all complete."""
        done = set(section["completed_modules"])
        previous = set(section["unlocked_milestones"])
        unlocked = [m for m in MILESTONE_ORDER if set(MILESTONES[m]["requires"]) <= done]
        # Milestones this file no longer defines are kept as they were.
        section["unlocked_milestones"] = unlocked + [m for m in section["unlocked_milestones"] if m not in MILESTONES]
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
        if milestone(milestone_id)["id"] in data["completed_milestones"]:
            return "completed"
        return "locked" if self.missing_modules(milestone_id, data) else "unlocked"

    # -- milestone runs ------------------------------------------------------------------
    def record_run(self, milestone_id, passed, metrics=None, duration=None, reason=None):
        """Append one run to the milestone's history (the last 20 are kept).

        Only tito calls this with ``passed=True``, after deciding the verdict itself.
        """
        milestone_id = milestone(milestone_id)["id"]
        entry = {"timestamp": _now(), "passed": bool(passed), "metrics": metrics or {},
                 "duration": None if duration is None else round(float(duration), 3),
                 "project": self.project_id, "root": str(self.root)}
        if reason:
            entry["reason"] = str(reason)[:500]
        with self._update() as section:
            runs = section["runs"].setdefault(milestone_id, [])
            runs.append(entry)
            del runs[:-_RUNS_KEPT]
            if passed and milestone_id not in section["completed_milestones"]:
                section["completed_milestones"].append(milestone_id)
        return entry

    def mark_milestone_complete(self, milestone_id, metrics=None, duration=None):
        """Record a passing run and mark the milestone complete."""
        return self.record_run(milestone_id, True, metrics, duration)

    def runs(self, milestone_id):
        return list(self.load()["runs"].get(milestone(milestone_id)["id"], []))

    def elsewhere(self):
        """Milestones completed in the user's other projects: ``[(root, [ids])]``."""
        found = []
        for project_id, section in self.load_all()["projects"].items():
            mine = project_id == self.project_id and section.get("root") in (None, str(self.root))
            if not mine and section["completed_milestones"]:
                found.append((section.get("root") or project_id, list(section["completed_milestones"])))
        return found

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
        return "tito milestone list", "every milestone is complete — run any of them again to see your network learn"

    @staticmethod
    def unlock_message(milestone_id):
        entry = milestone(milestone_id)
        return f"{_icon('🔓')} MILESTONE UNLOCKED!\n{entry['name']}\nRun: tito milestone run {entry['id']}"

    @staticmethod
    def completion_message(milestone_id):
        entry = milestone(milestone_id)
        return (f"{_icon('🏆')} MILESTONE COMPLETED!\n{entry['name']}\n"
                f"Your neural network actually learns.\n{entry['proves']}")


def _icon(symbol):
    _tito()
    from tito.console import icon

    return icon(symbol)


def _check_module(module):
    if not isinstance(module, str) or not _MODULE_ID.match(module):
        raise TrackerError(f"{module!r} is not a module id: use the folder name, e.g. 01_tensor.")


# -- rendering (rich) -----------------------------------------------------------------------
_STATUS_STYLE = {"completed": ("🏆", "bold green"), "unlocked": ("🔓", "bold yellow"), "locked": ("🔒", "dim")}


def _console(console):
    if console is not None:
        return console
    _tito()
    from tito.console import console as default

    return default


def status_label(status):
    symbol, style = _STATUS_STYLE[status]
    return f"[{style}]{_icon(symbol)} {status}[/{style}]"


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
        description=(
            "TinyTorch milestone progress of this project (in $TINYTORCH_HOME/progress.json, default "
            "~/.tinytorch). An instructor and debugging tool: `complete` RECORDS modules as complete "
            "WITHOUT running their tests and without exporting them; students use `tito module complete NN`."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    complete = commands.add_parser("complete", help="record modules as complete (no tests are run) and show what unlocks")
    complete.add_argument("modules", nargs="+", metavar="MODULE", help="module ids, e.g. 00_setup")
    commands.add_parser("progress", help="show milestone progress")
    commands.add_parser("list", help="list the milestones and their learning tests")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{parser.prog}: error: choose a command: complete, progress or list\n")
    try:
        _tito()
        from tito.console import console
    except ImportError as err:
        parser.exit(1, f"{parser.prog}: error: {err}. Activate the course's virtual environment "
                       "(e.g. `. .venv/bin/activate`) or install the course with `pip install -e .`.\n")
    from tito.project import ProjectError

    try:
        if args.command == "complete":
            tracker = MilestoneTracker()
            for module in args.modules:
                tracker.check_module(module)
            for module in args.modules:
                result = check_module_export(module, console)
                if not result["newly_unlocked"]:
                    console.print(f"{_icon('✅')} {module} recorded as complete (no tests were run)")
        elif args.command == "progress":
            show_progress(console)
        else:
            console.print(milestones_table())
            for test in list_tests():
                console.print(test, soft_wrap=True)
    except TrackerError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    except ProjectError as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
