"""The gradebook of ``tito grade``: collect, grade (or reuse), score, and write it all down.

:func:`grade_class` is the whole of ``tito grade`` but the display: it releases the course,
reads every submission safely (:mod:`tito.submissions`), reuses the results of unchanged
submissions from the last ``grades.json``, grades the rest (:class:`tito.grading.Grader`),
and returns one document. :func:`write_outputs` writes ``grades.csv`` (one row a student),
``grades.json`` (everything) and one feedback file per student (markdown).

Weights (``--weights weights.toml``; every key optional)::

    [modules]            # points for a module that passed; `default` for the others
    default = 1
    "05_spatial" = 2     # a module id, number ("05") or name ("spatial")

    [milestones]         # points for a milestone that passed
    default = 2
    mlperf = 4

    [penalties]
    tampered = 0         # points taken off for each module whose protected tests were changed

The total is the sum of the points earned (never below 0); ``max`` is the sum over the
graded columns. A row from an unverified CI artifact has no total (see ``tito.classroom``).
"""

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tito import files
from tito.grading import Grader, Job, grader_fingerprint, prepare_course, remove_tree, select
from tito.project import ProjectError, resolve_module
from tito.submissions import Limits, list_submissions, read_submission

FORMAT_VERSION = 1
DEFAULT_MODULE_POINTS = 1
DEFAULT_MILESTONE_POINTS = 2
CACHEABLE = ("graded",)
FEEDBACK_MARKER = ".tito-grade-feedback"


# ---------------------------------------------------------------------------------------
# Weights


@dataclass
class Weights:
    modules: dict = field(default_factory=dict)  # module id -> points
    milestones: dict = field(default_factory=dict)  # milestone id -> points
    module_default: float = DEFAULT_MODULE_POINTS
    milestone_default: float = DEFAULT_MILESTONE_POINTS
    tampered_penalty: float = 0
    source: str = ""

    def module(self, module_id):
        return self.modules.get(module_id, self.module_default)

    def milestone(self, milestone_id):
        return self.milestones.get(milestone_id, self.milestone_default)

    def to_dict(self):
        return {"modules": self.modules, "milestones": self.milestones, "module_default": self.module_default,
                "milestone_default": self.milestone_default, "tampered_penalty": self.tampered_penalty,
                "source": self.source or None}


def _load_toml(path):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ProjectError("reading a weights file needs Python 3.11 or `pip install tomli`.") from None
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ProjectError(f"cannot read the weights file {path}: {err.strerror}", exit_code=2) from None
    except tomllib.TOMLDecodeError as err:
        raise ProjectError(f"{path} is not valid TOML: {err}", exit_code=2) from None


def _points(path, where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ProjectError(f"{path}: {where} must be a number of points (0 or more), not {value!r}", exit_code=2)
    return value


def load_weights(path, course):
    """The weights of ``path`` (a TOML file) checked against the course; defaults when None."""
    weights = Weights()
    if path is None:
        return weights
    data = _load_toml(path)
    weights.source = str(path)
    unknown = sorted(set(data) - {"modules", "milestones", "penalties"})
    if unknown:
        raise ProjectError(f"{path}: unknown section(s) {', '.join(unknown)} (use [modules], [milestones], "
                           "[penalties])", exit_code=2)
    for key, value in (data.get("modules") or {}).items():
        if key == "default":
            weights.module_default = _points(path, "modules.default", value)
            continue
        try:
            module_id = resolve_module(course.pristine, key).id
        except ProjectError as err:
            raise ProjectError(f"{path}: [modules] {err}", exit_code=2) from None
        weights.modules[module_id] = _points(path, f"modules.{key}", value)
    for key, value in (data.get("milestones") or {}).items():
        if key == "default":
            weights.milestone_default = _points(path, "milestones.default", value)
            continue
        if key.lower() not in course.milestones:
            raise ProjectError(f"{path}: [milestones] unknown milestone {key!r}; valid: "
                               f"{', '.join(course.milestone_order)}", exit_code=2)
        weights.milestones[key.lower()] = _points(path, f"milestones.{key}", value)
    penalties = data.get("penalties") or {}
    unknown = sorted(set(penalties) - {"tampered"})
    if unknown:
        raise ProjectError(f"{path}: unknown penalty {', '.join(unknown)} (only `tampered`)", exit_code=2)
    weights.tampered_penalty = _points(path, "penalties.tampered", penalties.get("tampered", 0))
    return weights


def score(row, weights, module_ids, milestone_ids):
    """``{"total", "max", "percent"}`` of a row (total None for an unverified artifact)."""
    maximum = sum(weights.module(m) for m in module_ids) + sum(weights.milestone(m) for m in milestone_ids)
    earned = sum(weights.module(m) for m in module_ids if row["modules"].get(m, {}).get("status") == "passed")
    earned += sum(weights.milestone(m) for m in milestone_ids if row["milestones"].get(m, {}).get("status") == "passed")
    earned -= weights.tampered_penalty * len(tampered_modules(row, module_ids))
    total = max(earned, 0)
    if row.get("verified") is False:
        return {"total": None, "claimed_total": _round(total), "max": _round(maximum), "percent": None}
    percent = round(100 * total / maximum, 1) if maximum else None
    return {"total": _round(total), "max": _round(maximum), "percent": percent}


def _round(value):
    return int(value) if float(value).is_integer() else round(value, 2)


def tampered_modules(row, module_ids):
    return [m for m in module_ids if row["modules"].get(m, {}).get("tampered")]


# ---------------------------------------------------------------------------------------
# Grading a class


def cache_key(content_sha256, course, grader, module_ids, milestone_ids, options):
    """What a result depends on: the sources, the course, the grader and the grading options."""
    data = {"content": content_sha256, "course": course.fingerprint, "manifest": course.manifest_sha256,
            "grader": grader, "modules": module_ids, "milestones": milestone_ids, "options": options.describe()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def previous_rows(json_path):
    """``{student: row}`` from an earlier ``grades.json`` (``{}`` when there is none or it is unreadable)."""
    try:
        data = json.loads(Path(json_path).read_text(encoding="utf-8"))
        return {row["student"]: row for row in data.get("students", []) if isinstance(row, dict) and "student" in row}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return {}


def _protected_changed(submission, course):
    """Protected files the student's copy changed (reported; never used)."""
    expected = course.manifest["files"]
    return sorted(rel for rel, digest in submission.protected.items() if digest is not None and digest != expected.get(rel))


def _row(submission, module_ids, milestone_ids):
    return {"student": submission.name, "source": submission.path.name, "kind": submission.kind,
            "status": "rejected" if submission.rejected else "", "reason": submission.rejected,
            "modules": {}, "milestones": {}, "flags": [], "protected_changed": [], "seconds": 0.0,
            "cached": False, "cache_key": None, "content_sha256": None}


def grade_class(course_root, submissions_dir, options, modules=None, milestones=None, weights_path=None,
                previous=None, on_event=None, artifacts=False, verify_sample="all", seed=None, limits=Limits()):
    """Grade every submission of ``submissions_dir``; returns the gradebook document.

    ``previous``: ``{student: row}`` of an earlier run, reused where the cache key matches.
    ``artifacts``: the folder holds CI artifacts (see :mod:`tito.classroom`).
    ``on_event(kind, *details)``: progress for a display ("course", "collect", "start",
    "step", "finish", "cached").
    """
    from tito import classroom

    emit = on_event or (lambda *args: None)
    started = time.perf_counter()
    grader = grader_fingerprint()
    workdir = Path(tempfile.mkdtemp(prefix="tito-grade-"))
    try:
        emit("course", Path(course_root))
        course = prepare_course(course_root, workdir)
        weights = load_weights(weights_path, course)
        module_ids, milestone_ids = select(course, modules, milestones)
        entries, ignored = list_submissions(submissions_dir)
        emit("collect", len(entries))
        extra = classroom.artifact_files(course) if artifacts else ()
        submissions = [read_submission(name, path, kind, course.module_paths, course.manifest["files"], extra, limits)
                       for name, path, kind in entries]
        rows, jobs = [], []
        claims = {}
        for index, submission in enumerate(submissions):
            row = _row(submission, module_ids, milestone_ids)
            rows.append(row)
            if submission.rejected:
                emit("rejected", submission)
                continue
            row["content_sha256"] = submission.content_sha256()
            row["protected_changed"] = _protected_changed(submission, course)
            row["cache_key"] = cache_key(row["content_sha256"], course, grader, module_ids, milestone_ids, options)
            if artifacts:
                claims[index] = classroom.read_claims(submission, course, module_ids, milestone_ids)
            jobs.append(Job(submission, index))
        if artifacts:
            audit = classroom.choose_reruns(jobs, claims, verify_sample, seed)
        else:
            audit = None
        to_grade = [job for job in jobs if audit is None or job.index in audit.rerun]
        reused = _reuse(to_grade, rows, previous or {}, emit)
        grading = Grader(course, options, module_ids, milestone_ids, workdir / "runs", on_event=emit)
        (workdir / "runs").mkdir()
        pending = [job for job in to_grade if job.index not in reused]
        emit("plan", len(pending))
        grading.grade(pending)
        for job in pending:
            rows[job.index].update(job.result)
        if audit is not None:
            escalate = classroom.settle(audit, jobs, claims, rows, module_ids, milestone_ids)
            if escalate:  # a forged artifact was found in the sample: the rest are re-run too
                rest = [job for job in jobs if job.index not in audit.rerun]
                audit.rerun.update(job.index for job in rest)
                audit.escalated = True
                reused = _reuse(rest, rows, previous or {}, emit)
                more = [job for job in rest if job.index not in reused]
                emit("plan", len(more))
                grading.grade(more)
                for job in more:
                    rows[job.index].update(job.result)
                classroom.settle(audit, jobs, claims, rows, module_ids, milestone_ids)
            classroom.fill_unverified(audit, jobs, claims, rows, course, module_ids, milestone_ids)
        for row in rows:
            row.update(score(row, weights, module_ids, milestone_ids))
        changed = grader_fingerprint() != grader
        document = {
            "tito_grade": FORMAT_VERSION,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "course": {"root": str(course.root), "fingerprint": course.fingerprint,
                       "manifest_sha256": course.manifest_sha256},
            "grader": grader,
            "grader_changed_during_grading": changed,
            "source": {"folder": str(Path(submissions_dir).resolve()), "artifacts": artifacts, "ignored": ignored},
            "options": {**options.describe(), "jobs": options.jobs, "modules": module_ids, "milestones": milestone_ids},
            "weights": weights.to_dict(),
            "modules": module_ids,
            "milestones": milestone_ids,
            "milestone_names": {mid: course.milestones[mid]["name"] for mid in milestone_ids},
            "audit": audit.to_dict() if audit is not None else None,
            "seconds": round(time.perf_counter() - started, 2),
            "students": rows,
        }
        return document
    finally:
        if options.keep:
            emit("kept", workdir)
        else:
            remove_tree(workdir)


def _reuse(jobs, rows, previous, emit):
    """Indexes of jobs whose earlier result still holds (same cache key); their rows filled in."""
    reused = set()
    for job in jobs:
        row = rows[job.index]
        old = previous.get(row["student"])
        if not old or old.get("cache_key") != row["cache_key"] or old.get("status") not in CACHEABLE:
            continue
        for key in ("status", "reason", "modules", "milestones", "seconds"):
            row[key] = old.get(key)
        row["flags"] = [flag for flag in old.get("flags", []) if not flag.startswith("CI artifact")]
        row["cached"] = True
        reused.add(job.index)
        emit("cached", job)
    return reused


# ---------------------------------------------------------------------------------------
# Writing it down


_CELL_START = re.compile(r"^[=+\-@\t\r]")


def _cell(value):
    """A CSV cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if _CELL_START.match(text) else text


def render_csv(document):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    artifacts = document["source"]["artifacts"]
    header = ["student", "status", "total", "max", "percent", *document["modules"], *document["milestones"],
              "tampered", "protected_files_changed", "flags", "reason", "seconds"]
    if artifacts:
        header[5:5] = ["verified", "claimed_total"]
    writer.writerow(header)
    for row in document["students"]:
        cells = [row["student"], row["status"], row.get("total"), row.get("max"), row.get("percent")]
        if artifacts:
            cells += ["yes" if row.get("verified", True) else "no", row.get("claimed_total")]
        cells += [row["modules"].get(m, {}).get("status", "") for m in document["modules"]]
        cells += [row["milestones"].get(m, {}).get("status", "") for m in document["milestones"]]
        cells += [" ".join(tampered_modules(row, document["modules"])), " ".join(row.get("protected_changed", [])),
                  " | ".join(row.get("flags", [])), row.get("reason", ""), row.get("seconds", "")]
        writer.writerow([_cell(value) for value in cells])
    return out.getvalue()


def feedback_name(student, taken):
    """A file name for the student's feedback, unique in ``taken``."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._") or "student"
    name, number = f"{base}.md", 2
    while name.lower() in taken:
        name, number = f"{base}-{number}.md", number + 1
    taken.add(name.lower())
    return name


def _fence(text):
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text.rstrip()}\n{ticks}"


_MODULE_MARK = {"passed": "✅ passed", "failed": "❌ failed", "not attempted": "— not attempted",
                "blocked": "🔒 blocked", "not graded": "⏱ not graded"}
_MILESTONE_MARK = {"passed": "🏆 passed", "failed": "❌ failed", "locked": "🔒 locked", "not graded": "⏱ not graded"}


def _metrics_text(metrics):
    """The metrics the milestone's bars are about (all numbers when it names none)."""
    metrics = metrics or {}
    required = metrics.get("required") if isinstance(metrics.get("required"), dict) else {}
    shown = []
    for key in required or metrics:
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        percent = "accuracy" in key or key in ("loss_drop", "sparsity")
        shown.append(f"{key.replace('_', ' ')} {value * 100:.1f} %" if percent else f"{key.replace('_', ' ')} {value:.4g}")
    return ", ".join(shown[:6])


def _clip_lines(text, limit=20):
    lines = text.splitlines()
    return "\n".join(lines[:limit] + ([f"[... {len(lines) - limit} more lines]"] if len(lines) > limit else []))


def render_feedback(row, document):
    """The markdown an instructor can hand back to one student."""
    modules, milestones = document["modules"], document["milestones"]
    weights = document["weights"]

    def module_points(m):
        return weights["modules"].get(m, weights["module_default"])

    def milestone_points(m):
        return weights["milestones"].get(m, weights["milestone_default"])

    lines = [f"# TinyTorch — feedback for {row['student']}", ""]
    when = document["generated"][:10]
    lines += [f"Graded on {when} with the course's own tests (your module sources only; every other file is "
              "the course's).", ""]
    if row["status"] == "rejected":
        lines += ["", f"**Your submission could not be graded:** {row['reason']}", "",
                  "Send your project folder again (a folder, a .zip or a .tar.gz with `modules/NN_name/name.py` "
                  "inside)."]
        return "\n".join(lines) + "\n"
    if row.get("total") is not None:
        percent = f" ({row['percent']} %)" if row.get("percent") is not None else ""
        lines.append(f"**Total: {row['total']} / {row['max']} points{percent}.**")
    elif row.get("claimed_total") is not None:
        lines.append(f"Your CI run claims {row['claimed_total']} / {row['max']} points; not verified yet.")
    if row["status"] in ("time limit", "error"):
        lines += ["", f"⚠️ {row['reason']}"]
    lines += ["", "## Modules", "", "| module | result | points |", "|---|---|---|"]
    for m in modules:
        entry = row["modules"].get(m, {})
        status = entry.get("status", "")
        earned = module_points(m) if status == "passed" else 0
        note = " (tests tampered with)" if entry.get("tampered") else ""
        lines.append(f"| {m} | {_MODULE_MARK.get(status, status)}{note} | {earned:g} / {module_points(m):g} |")
    details = []
    for m in modules:
        entry = row["modules"].get(m, {})
        if entry.get("status") in ("failed", "blocked") and entry.get("message"):
            details += ["", f"### {m} — {entry['status']}", "", _fence(entry["message"])]
            extra = (entry.get("details") or "").strip()
            if extra and extra != entry["message"]:
                details += ["", _fence(_clip_lines(extra))]
    lines += details
    if milestones:
        lines += ["", "## Milestones", "", "| milestone | result | points |", "|---|---|---|"]
        for m in milestones:
            entry = row["milestones"].get(m, {})
            status = entry.get("status", "")
            earned = milestone_points(m) if status == "passed" else 0
            name = document["milestone_names"].get(m, m)
            note = ""
            if status == "passed":
                note = f" — {_metrics_text(entry.get('metrics'))}"
            elif status in ("failed", "locked", "not graded") and entry.get("reason"):
                note = f" — {entry['reason'].splitlines()[0][:200]}"
            lines.append(f"| {name} | {_MILESTONE_MARK.get(status, status)}{_escape_cell(note)} | "
                         f"{earned:g} / {milestone_points(m):g} |")
    integrity = []
    for m in modules:
        names = row["modules"].get(m, {}).get("tampered") or []
        if names:
            integrity.append(f"- The course's tests in module {m} differed from the release "
                             f"({', '.join(names)}): it was graded on the course's own tests. "
                             f"`tito module reset {m.split('_')[0]} --tests` puts them back.")
    if row.get("protected_changed"):
        integrity.append("- These course files differ from the release; they were not used (only your module "
                         "sources are): " + ", ".join(f"`{p}`" for p in row["protected_changed"]) + ".")
    for flag in row.get("flags", []):
        integrity.append(f"- {flag}")
    if integrity:
        lines += ["", "## Integrity", ""] + integrity
    lines += ["", "Run `tito module test NN` to see a module's failures on your machine, and "
                  "`tito milestone run ID` to train a milestone."]
    return "\n".join(lines) + "\n"


def _escape_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def write_outputs(document, out):
    """``out`` (CSV), ``out.with_suffix('.json')`` and ``feedback/`` beside them; returns the paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = out.with_suffix(".json")
    feedback = out.parent / "feedback"
    taken = set()
    written = {}
    for row in document["students"]:
        name = feedback_name(row["student"], taken)
        row["feedback"] = f"feedback/{name}"
        written[name] = render_feedback(row, document)
    if feedback.exists() and not (feedback / FEEDBACK_MARKER).is_file():
        raise ProjectError(f"{feedback} exists and was not written by tito grade: move it away, or choose another "
                           "--out folder.")
    stage = Path(tempfile.mkdtemp(prefix=".feedback-", dir=out.parent))
    try:
        for name, text in written.items():
            (stage / name).write_text(text, encoding="utf-8")
        (stage / FEEDBACK_MARKER).write_text("written by tito grade; replaced by the next run\n", encoding="utf-8")
        if feedback.exists():
            shutil.rmtree(feedback)
        stage.rename(feedback)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    files.write_atomic(out, render_csv(document))
    files.write_atomic(json_path, json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    return {"csv": out, "json": json_path, "feedback": feedback}
