"""How long the milestone learning tests take together (DESIGN §6: the first five ≤ 5 s, all six ≤ 10 s).

Runs ``pytest tests/milestones/test_learning_verification.py`` in a fresh subprocess
``--rounds`` times (each round pays Python's and numpy's start-up, as a student's run
does), and prints the median wall time of a round, each test's median time from
pytest's JUnit report, and the ratio to the target. Not a test: nothing asserts a time.

    python benchmarks/bench_learning_tests.py [--rounds 3]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEARNING_TESTS = "tests/milestones/test_learning_verification.py"
TARGET_S, STRETCH_S = 20.0, 10.0  # the README's target and DESIGN §6's bar for all six


def one_round(junit):
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", LEARNING_TESTS, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=ROOT, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the learning tests failed:\n{result.stdout[-3000:]}")
    cases = {case.get("name"): float(case.get("time")) for case in ET.parse(junit).iter("testcase")}
    return seconds, cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    totals, per_test = [], defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):
            seconds, cases = one_round(Path(scratch) / f"round{round_number}.xml")
            totals.append(seconds)
            for name, case_seconds in cases.items():
                per_test[name].append(case_seconds)
    for name, times in per_test.items():
        print(f"  {name:<32} {statistics.median(times):6.2f} s")
    total = statistics.median(totals)
    print(
        f"{len(per_test)} learning tests: {total:.1f} s per run (median of {args.rounds}, wall time incl. start-up) | "
        f"target {TARGET_S:.0f} s: {total / TARGET_S:.2f}x | stretch {STRETCH_S:.0f} s: {total / STRETCH_S:.2f}x"
    )


if __name__ == "__main__":
    main()
