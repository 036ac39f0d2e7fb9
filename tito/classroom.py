"""Classroom CI: each student's repository grades itself on GitHub's runners.

``tito release DIR --ci github`` writes :data:`WORKFLOW` to ``.github/workflows/tinytorch.yml``
in the student copy. On every push it installs the project, runs ``tito module check --all
--json`` and ``tito milestone run ID --json`` for every milestone that is not locked, and
uploads the artifact ``tinytorch-results``::

    modules/NN_name/name.py            the module sources the results were made from
    tinytorch-ci/modules.json          tito module check --all --json
    tinytorch-ci/milestones/ID.json    tito milestone run ID --json
    tinytorch-ci/manifest.json         the copy's release manifest
    tinytorch-ci/ci.json               repository, commit, run id

The job fails when a protected file differs from the manifest.

``tito grade --from-artifacts DIR`` grades the downloaded artifacts **without trusting
them**: everything in one was made on a machine the student controls, from a workflow file
the student can edit, so a signature made there would prove nothing. Instead:

1. **Cheap checks, on every artifact.** Its manifest must be this course's release; every
   module it claims complete must be in it, hash to the source hash the check recorded,
   differ from the release's stub, keep the course's tests and have its prerequisites
   claimed complete; every milestone it claims passed must have metrics that meet the
   tracker's bars and its modules claimed complete. An artifact failing any check is
   re-run.
2. **Re-runs.** By default (``--verify-sample all``) every artifact is re-graded from the
   sources it carries, exactly as ``tito grade`` grades a folder: the artifact's JSON is used
   only to flag a claim the re-run does not confirm. With ``--verify-sample K`` only a random
   sample of K consistent artifacts (``--seed``, recorded in grades.json) is re-run; the
   others are marked ``unverified`` and get **no total** (their claim is shown as
   ``claimed_total``), so a hand-made JSON never becomes a grade. When a sampled artifact
   claims more than its re-run gives, every remaining artifact is re-run as well.
"""

import hashlib
import json
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tito import files, manifest
from tito.grading import manifest_sha256

WORKFLOW_PATH = ".github/workflows/tinytorch.yml"
RESULTS = "tinytorch-results"
CI_DIR = "tinytorch-ci"
ARTIFACT_NAME = "tinytorch-results"

WORKFLOW = """\
# TinyTorch classroom CI, written by `tito release DIR --ci github`.
#
# On every push this repository grades itself on GitHub's runners: it installs the
# project, runs tito's sealed checks (every module's own tests, then the learning test of
# each milestone that is not locked) and uploads the results, with the module sources they
# were made from, as the artifact `tinytorch-results`. The job fails when a file the course
# protects (tests/milestones, tito/, the modules' tests) differs from .tito/manifest.json.
#
# Your instructor grades the artifacts with `tito grade --from-artifacts`, which re-checks
# them against the course's own tests: editing this file or the results changes nothing.
name: TinyTorch

"on":
  push:
  workflow_dispatch:

permissions:
  contents: read

jobs:
  tinytorch:
    name: TinyTorch sealed checks
    runs-on: ubuntu-latest
    timeout-minutes: 30
    env:
      PYTHONIOENCODING: utf-8
      TITO_RESULTS: tinytorch-results
    steps:
      - name: Check out the repository
        uses: actions/checkout@v4

      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"

      - name: Install the project
        id: install
        run: python -m pip install -e .

      - name: Check every module (tito module check --all)
        id: modules
        shell: bash
        run: |
          mkdir -p "$TITO_RESULTS/tinytorch-ci/milestones"
          status=0
          tito module check --all --json > "$TITO_RESULTS/tinytorch-ci/modules.json" || status=$?
          echo "tito module check --all --json exited with $status"

      - name: Run each milestone that is not locked (tito milestone run)
        id: milestones
        shell: bash
        run: |
          ids=$(tito milestone progress --json | python -c 'import json, sys; print(" ".join(m["id"] for m in json.load(sys.stdin)["milestones"] if m["status"] != "locked"))')
          echo "milestones to run: ${ids:-none}"
          for id in $ids; do
            status=0
            tito milestone run "$id" --json > "$TITO_RESULTS/tinytorch-ci/milestones/$id.json" || status=$?
            echo "tito milestone run $id --json exited with $status"
          done

      - name: Collect the sources the results were made from
        id: sources
        if: always()
        shell: bash
        run: |
          mkdir -p "$TITO_RESULTS/tinytorch-ci"
          for source in modules/[0-9][0-9]_*/*.py; do
            folder=$(basename "$(dirname "$source")")
            if [ "$(basename "$source")" = "${folder#*_}.py" ]; then
              mkdir -p "$TITO_RESULTS/$(dirname "$source")"
              cp "$source" "$TITO_RESULTS/$source"
            fi
          done
          cp .tito/manifest.json "$TITO_RESULTS/tinytorch-ci/manifest.json" || echo "no .tito/manifest.json"
          printf '{"repository": "%s", "commit": "%s", "run_id": "%s"}\\n' \\
            "${GITHUB_REPOSITORY:-}" "${GITHUB_SHA:-}" "${GITHUB_RUN_ID:-}" > "$TITO_RESULTS/tinytorch-ci/ci.json"

      - name: Upload the results
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: tinytorch-results
          path: tinytorch-results/
          if-no-files-found: error
          retention-days: 90

      - name: Fail when a protected file differs from the manifest
        id: protected
        if: always()
        shell: bash
        run: |
          python - <<'EOF'
          import json, sys
          path = "tinytorch-results/tinytorch-ci/modules.json"
          try:
              with open(path, encoding="utf-8") as handle:
                  data = json.load(handle)
          except (OSError, ValueError) as err:
              print(f"::error::tito module check --all produced no results ({err})")
              sys.exit(1)
          tampered = data.get("tampered") or []
          for item in tampered:
              what = item["path"] + (" / " + item["name"] if item.get("name") else "")
              print(f"::error file={item['path']}::{what}: {item['problem']}. {item.get('fix') or ''}")
          if tampered:
              print(f"{len(tampered)} protected file(s) differ from the release manifest: nothing counts until they are restored.")
              sys.exit(1)
          print("Every protected file matches the release manifest.")
          EOF
"""


def write_workflow(stage):
    """The ``extra`` hook of :func:`tito.student_copy.build_release` for ``--ci github``."""
    files.write_atomic(Path(stage) / WORKFLOW_PATH, WORKFLOW)


# ---------------------------------------------------------------------------------------
# Reading artifacts


def artifact_files(course):
    """The files of an artifact read besides the module sources (relative to its top)."""
    return [f"{CI_DIR}/modules.json", f"{CI_DIR}/manifest.json", f"{CI_DIR}/ci.json",
            *(f"{CI_DIR}/milestones/{mid}.json" for mid in course.milestone_order)]


@dataclass
class Claims:
    """What a CI artifact says, and why it cannot be taken as it is (``problems``)."""

    modules: dict = field(default_factory=dict)  # module id -> the check's verdict ("complete", "failed", ...)
    notes: dict = field(default_factory=dict)  # module id -> the check's note
    milestones: dict = field(default_factory=dict)  # milestone id -> {"passed", "metrics", "reason"}
    problems: list = field(default_factory=list)
    ci: dict = field(default_factory=dict)

    def passed_modules(self):
        return {module_id for module_id, verdict in self.modules.items() if verdict == "complete"}

    def to_dict(self):
        return {"modules": self.modules, "milestones": {k: v.get("passed") for k, v in self.milestones.items()},
                "problems": self.problems, "ci": self.ci}


def _json(text, what, problems):
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        problems.append(f"{what} is not valid JSON")
        return None
    if not isinstance(data, dict):
        problems.append(f"{what} is not a JSON object")
        return None
    return data


def read_claims(submission, course, module_ids, milestone_ids):
    """The artifact's claims about ``module_ids`` and ``milestone_ids``, checked cheaply."""
    from tito.tracker import load_tracker

    claims = Claims()
    problems = claims.problems
    extra = submission.extra
    claims.ci = _json(extra.get(f"{CI_DIR}/ci.json"), "ci.json", []) or {}
    report = _json(extra.get(f"{CI_DIR}/modules.json"), "modules.json", problems)
    if report is None:
        problems.append(f"no CI results ({CI_DIR}/modules.json) in the artifact")
        return claims
    if report.get("tampered"):
        problems.append("the CI run found protected files changed")
    artifact_manifest = _json(extra.get(f"{CI_DIR}/manifest.json"), "manifest.json", problems)
    if artifact_manifest is None or manifest_sha256(artifact_manifest) != course.manifest_sha256:
        problems.append("the artifact's manifest is not this course's release manifest")
    recorded = {}
    for item in report.get("modules") or []:
        if isinstance(item, dict) and isinstance(item.get("module"), str):
            claims.modules[item["module"]] = "complete" if item.get("complete") is True else str(item.get("verdict") or "failed")
            claims.notes[item["module"]] = str(item.get("note") or "")[:500]
            tests = item.get("tests") if isinstance(item.get("tests"), dict) else {}
            recorded[item["module"]] = tests.get("source_sha256")
    complete = claims.passed_modules()
    for module_id in module_ids:
        if module_id not in complete:
            continue
        module = course.module(module_id)
        relpath = module["relpath"]
        text = submission.sources.get(relpath)
        if text is None:
            problems.append(f"{module_id} is claimed complete but its source is not in the artifact")
            continue
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != recorded.get(module_id):
            problems.append(f"{module_id}: the source in the artifact is not the one the check recorded")
        try:
            restored, names = manifest.restore_tests(text, course.manifest["tests"].get(relpath, {}))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            problems.append(f"{module_id} is claimed complete but its source does not parse")
            continue
        if names:
            problems.append(f"{module_id} is claimed complete with the course's tests changed")
        if restored == (course.pristine / relpath).read_text(encoding="utf-8"):
            problems.append(f"{module_id} is claimed complete but is unchanged from the release")
        missing = [required for required in module["requires"] if required not in complete]
        if missing:
            problems.append(f"{module_id} is claimed complete without {', '.join(missing)}")
    tracker = load_tracker(course.pristine)
    for mid in milestone_ids:
        data = _json(extra.get(f"{CI_DIR}/milestones/{mid}.json"), f"milestones/{mid}.json", problems)
        if data is None:
            continue
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        passed = data.get("passed") is True
        claims.milestones[mid] = {"passed": passed, "metrics": metrics, "reason": str(data.get("reason") or "")[:500]}
        if passed:
            unmet = tracker.unmet_bars(mid, metrics)
            if unmet:
                problems.append(f"{mid} is claimed passed with metrics that miss its bars ({unmet[0]})")
            missing = [required for required in course.milestones[mid]["requires"] if required not in complete]
            if missing:
                problems.append(f"{mid} is claimed passed without {', '.join(missing)} complete")
    return claims


def claimed_results(claims, submission, course, module_ids, milestone_ids):
    """The grades an artifact claims, in the gradebook's form (for a row that was not re-run)."""
    modules, milestones = {}, {}
    for module_id in module_ids:
        verdict = claims.modules.get(module_id)
        relpath = course.module(module_id)["relpath"]
        text = submission.sources.get(relpath)
        if verdict == "complete":
            status = "passed"
        elif text is None or text == (course.pristine / relpath).read_text(encoding="utf-8"):
            status = "not attempted"
        elif verdict == "blocked":
            status = "blocked"
        else:
            status = "failed"
        modules[module_id] = {"status": status, "message": claims.notes.get(module_id, ""), "tampered": [],
                              "claimed": True}
    for mid in milestone_ids:
        claim = claims.milestones.get(mid)
        if claim is None:
            missing = [m for m in course.milestones[mid]["requires"] if modules.get(m, {}).get("status") != "passed"]
            milestones[mid] = {"status": "locked" if missing else "not graded", "missing": missing,
                               "reason": f"needs {', '.join(missing)}" if missing else "not run by the CI", "claimed": True}
        else:
            milestones[mid] = {"status": "passed" if claim["passed"] else "failed", "metrics": claim["metrics"],
                               "reason": claim["reason"], "claimed": True}
    return modules, milestones


@dataclass
class Audit:
    """Which artifacts are re-run, and why."""

    sample: object  # "all" or an int
    seed: int
    rerun: set = field(default_factory=set)
    sampled: set = field(default_factory=set)
    inconsistent: set = field(default_factory=set)
    escalated: bool = False
    disagreements: int = 0

    def to_dict(self):
        return {"verify_sample": self.sample, "seed": self.seed, "rerun": len(self.rerun),
                "sampled": len(self.sampled), "inconsistent": len(self.inconsistent),
                "escalated": self.escalated, "disagreements": self.disagreements}


def parse_sample(value):
    """``"all"`` or a number of artifacts (0 or more)."""
    text = str(value).strip().lower()
    if text == "all":
        return "all"
    if not text.isdigit():
        raise ValueError(f"--verify-sample takes `all` or a number, not {value!r}")
    return int(text)


def choose_reruns(jobs, claims, sample, seed=None):
    """The artifacts to re-run: the inconsistent ones, and ``sample`` of the others (or all)."""
    sample = parse_sample(sample)
    seed = secrets.randbits(32) if seed is None else int(seed)
    audit = Audit(sample, seed)
    audit.inconsistent = {job.index for job in jobs if claims[job.index].problems}
    consistent = sorted((job for job in jobs if job.index not in audit.inconsistent),
                        key=lambda job: job.submission.name)
    if sample == "all":
        audit.sampled = {job.index for job in consistent}
    else:
        chosen = random.Random(seed).sample(consistent, min(sample, len(consistent)))
        audit.sampled = {job.index for job in chosen}
    audit.rerun = audit.inconsistent | audit.sampled
    return audit


def settle(audit, jobs, claims, rows, module_ids, milestone_ids):
    """Flag every re-run that gives less than its artifact claims; fill the others from their
    claims (unverified). Returns True when a *consistent* sampled artifact was contradicted."""
    contradicted = False
    audit.disagreements = 0
    for job in jobs:
        row, claim = rows[job.index], claims[job.index]
        row["claims"] = claim.to_dict()
        row["flags"] = [flag for flag in row.get("flags", []) if not flag.startswith("CI artifact")]
        if job.index not in audit.rerun:
            row["verified"] = False
            continue
        row["verified"] = True
        if claim.problems:
            row["flags"].append("CI artifact inconsistent (re-run): " + "; ".join(claim.problems[:5]))
        overclaims = []
        for module_id in module_ids:
            if claim.modules.get(module_id) == "complete" and row["modules"].get(module_id, {}).get("status") != "passed":
                overclaims.append(f"{module_id} (claimed passed, re-run: {row['modules'].get(module_id, {}).get('status')})")
        for mid in milestone_ids:
            if claim.milestones.get(mid, {}).get("passed") and row["milestones"].get(mid, {}).get("status") != "passed":
                overclaims.append(f"{mid} (claimed passed, re-run: {row['milestones'].get(mid, {}).get('status')})")
        if overclaims:
            audit.disagreements += 1
            row["flags"].append("CI artifact claims more than the re-run gives: " + ", ".join(overclaims)
                                + " — graded on the re-run")
            if job.index in audit.sampled and not claim.problems:
                contradicted = True
    return contradicted and not audit.escalated


def fill_unverified(audit, jobs, claims, rows, course, module_ids, milestone_ids):
    """Rows of artifacts that were not re-run: their claims, marked unverified (no total)."""
    for job in jobs:
        if job.index in audit.rerun:
            continue
        row = rows[job.index]
        row["modules"], row["milestones"] = claimed_results(claims[job.index], job.submission, course,
                                                            module_ids, milestone_ids)
        row.update(status="unverified", reason="the CI artifact's claims, not re-run (--verify-sample)", verified=False)
