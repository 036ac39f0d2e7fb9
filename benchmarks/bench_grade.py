"""How long `tito grade` takes: a generated class of N submissions graded with -j 1 and -j 2.

The class is made from this checkout's course (tests/grade_class.py): a mix of honest,
partial, tampered, syntax-error and lying submissions, cycled up to ``--students``. Each
``-j`` value grades the whole class from scratch (``--regrade``, a fresh output folder) in
a subprocess; the script prints the wall time, the median time per submission and the
speed-up over ``-j 1`` (ideal: ``j``). ``--complete`` also grades one honest submission on
every module and every milestone and times ``tito demo`` beside it (the issue's yardstick:
"about as long as tito demo"). Not a test: nothing asserts a time.

    python benchmarks/bench_grade.py [--students 20] [--jobs 1 2] [--milestones perceptron,xor] [--complete]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the class generator the tests use

from grade_class import STUDENTS, make_class, released  # noqa: E402

MIX = ["honest", "partial", "tampered", "syntax", "liar"]


def tito(*args, home):
    env = {**os.environ, "TINYTORCH_HOME": str(home), "PYTHONIOENCODING": "utf-8"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tito", *map(str, args)], cwd=ROOT, env=env,
                            capture_output=True, text=True, encoding="utf-8")
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"tito {' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result


def build_class(base, count):
    pristine = released(base / "release")
    students = {}
    for index in range(count):
        kind = MIX[index % len(MIX)]
        students[f"{kind}-{index:02d}"] = STUDENTS[kind]
    return make_class(base / "class", base, students=students, pristine=pristine), pristine


def grade(folder, base, jobs, milestones):
    out = base / f"out-j{jobs}" / "grades.csv"
    args = ["grade", folder, "--out", out, "-j", jobs, "--regrade"]
    if milestones:
        args += ["--milestones", milestones]
    seconds, _ = tito(*args, home=base / "home")
    document = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    per = [row["seconds"] for row in document["students"] if row["status"] == "graded"]
    return seconds, per, document


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--milestones", default="perceptron,xor",
                        help="what to grade ('' for every module and milestone)")
    parser.add_argument("--complete", action="store_true",
                        help="also grade one submission completely and time `tito demo` beside it")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        folder, pristine = build_class(base, args.students)
        print(f"{args.students} submissions ({', '.join(MIX)} in turn), milestones: {args.milestones or 'all'}")
        walls = {}
        for jobs in args.jobs:
            seconds, per, document = grade(folder, base, jobs, args.milestones)
            walls[jobs] = seconds
            print(f"-j {jobs}: {seconds:6.1f} s wall, {seconds / args.students:5.2f} s per submission; "
                  f"one submission's own time: median {statistics.median(per):.1f} s, max {max(per):.1f} s")
        first = args.jobs[0]
        for jobs in args.jobs[1:]:
            print(f"speed-up -j {jobs} over -j {first}: {walls[first] / walls[jobs]:.2f}x (ideal {jobs / first:.0f}x)")
        if args.complete:
            single = base / "one"
            single.mkdir()
            honest = next(path for path in sorted(folder.iterdir()) if path.name.startswith("honest"))
            shutil.copytree(honest, single / "honest")
            seconds, _, document = grade(single, base / "one-out", 1, "")
            (row,) = document["students"]
            demo, _ = tito("demo", home=base / "demo-home")
            print(f"one complete submission ({len(document['modules'])} modules, {len(document['milestones'])} "
                  f"milestones): {seconds:.1f} s wall ({row['seconds']:.1f} s in its worker); tito demo: {demo:.1f} s; "
                  f"ratio {seconds / demo:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
