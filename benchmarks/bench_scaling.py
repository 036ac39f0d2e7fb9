"""Time per training step at realistic sizes, tinytorch against PyTorch CPU, on 1 and 2
threads: LeNet-5, a CIFAR-like CNN, a wide MLP and the course's GPT, each at three sizes
(``_workloads.py``), with the GFLOP/s each step reaches against the machine's matmul peak
and the peak memory of a step. Not a test: nothing asserts a time.

    python benchmarks/bench_scaling.py [--workloads lenet cnn mlp gpt] [--threads 1 2]
        [--sizes all|table] [--seconds 3] [--rounds 5] [--no-memory] [--fused-attention]
        [--markdown] [--json FILE] [--plot FILE]

``--fused-attention``: the GPT's tinytorch steps run under module 13's
``use_fused_attention()`` (its attention core a few heads at a time, in the cache).

* **Time:** for each size and thread count both libraries get the same number of threads
  (``_timing.set_threads``) and are timed in alternating rounds (``_timing.compare_many_ms``):
  the median of each round's median, ``--seconds`` of timed steps per library. Both start
  from the same weights; the first losses must agree. On more than one thread tinytorch is
  timed twice: as written (its large products use the BLAS's threads, module 00) and with
  module 13's ``parallel_backward`` (the batch split over the threads, so that NumPy's
  one-core elementwise work runs on every core too).
* **GFLOP/s:** 2 × the multiply-adds of a step's matrix products (forward and backward,
  ``Workload.flops``) per second, against the peak of NumPy's float32 matmul (2048³) on
  the same number of threads: the fastest of 8 products, at the start and at the end of
  the run (the table uses the better; the lines printed during the run, the start's).
* **Memory:** each library in a fresh process (1 thread): resident memory at its peak
  during three training steps, minus the resident memory before the first step (the
  model, the data and the library itself) — what the steps' activations, gradients and
  optimizer state take. Linux only (``/proc/self/status``).
* **Plot** (``--plot FILE``, needs matplotlib): the time ratio against size, one panel per
  workload, a line per thread count (dashed: with ``parallel_backward``); skipped with a
  message when matplotlib is missing.

The machine's load average is printed at the start and the end: on a shared machine,
quote ratios from one run and say the load.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _timing import compare_many_ms, load_torch, set_threads  # noqa: E402
from _workloads import WORKLOADS, build  # noqa: E402

from tinytorch.core.setup import _blas_matmul  # noqa: E402


def matmul_peak(threads, size=2048, repeat=8):
    """GFLOP/s of NumPy's float32 (size x size) @ (size x size) on ``threads`` threads: the best
    of ``repeat`` products (a peak is what the machine can do, so the fastest run estimates it)."""
    set_threads(threads)
    a, b = np.random.default_rng(0).random((2, size, size), dtype=np.float32)
    _blas_matmul(a, b)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        _blas_matmul(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def step_memory(library, name, size, fused_attention=False):
    """MiB of resident memory a training step takes (peak minus before), in a fresh process."""
    result = subprocess.run([sys.executable, __file__, "--memory-child", library, name, str(size), str(int(fused_attention))],
                            capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1",
                                                                     OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    if result.returncode != 0:
        print(f"  (memory of {library} {name} {size} not measured: {result.stderr.strip()[-300:]})")
        return None
    return json.loads(result.stdout.splitlines()[-1])["step_mib"]


def _memory_child(library, name, size, fused_attention):
    def resident(key):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith(key))

    torch = load_torch(1) if library == "torch" else None
    work = build(name, size, torch, fused_attention)
    step = work.torch if library == "torch" else work.tiny
    before = resident("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # restart the peak (VmHWM) from the present
    for _ in range(3):
        step()
    print(json.dumps({"step_mib": (resident("VmHWM:") - before) / 2**20}))


def time_workload(work, threads, torch, seconds, rounds):
    """(tinytorch ms, tinytorch with parallel_backward ms or None, PyTorch ms or None): alternating
    rounds, ``seconds`` of timed steps each. The parallel step is timed on more than one thread."""
    set_threads(threads, torch)
    steps = [work.tiny, work.tiny_parallel if threads > 1 else None, work.torch]
    start = time.perf_counter()
    for step in steps:
        if step is not None:
            step()
    one = (time.perf_counter() - start) / sum(step is not None for step in steps)
    per_round = max(2, int(seconds / rounds / max(one, 1e-4)))
    return compare_many_ms(steps, repeat=per_round * rounds, warmup=1, rounds=rounds)


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib, or tinytorch[bench])")
        return
    names = [n for n in WORKLOADS if any(r["workload"] == n for r in rows)]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        mine = [r for r in rows if r["workload"] == name and r["ratio"] is not None]
        for threads in sorted({r["threads"] for r in mine}):
            label = f"{threads} thread{'s' * (threads > 1)}"
            points = sorted((r["size"], r["ratio"]) for r in mine if r["threads"] == threads)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
            points = sorted((r["size"], r["parallel_ratio"]) for r in mine if r["threads"] == threads and r["parallel_ratio"])
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="s", linestyle="--",
                        label=f"{label}, parallel_backward")
        ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks([p for p in WORKLOADS[name][0]], [str(p) for p in WORKLOADS[name][0]])
        ax.set_title(name)
        ax.set_xlabel(WORKLOADS[name][2])
        ax.set_ylabel("tinytorch / PyTorch time")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def markdown(rows, peaks, load):
    lines = [f"Load average (1 min) at the start and end of the run: {load[0]:.2f}, {load[1]:.2f}. "
             f"NumPy float32 matmul peak: " + ", ".join(f"{p:.0f} GFLOP/s on {t} thread{'s' * (t > 1)}"
                                                        for t, p in sorted(peaks.items())) + ".",
             "",
             "| workload | size | threads | tinytorch ms | with parallel_backward ms | PyTorch ms | ratio "
             "(parallel) | tinytorch GFLOP/s (% of peak) | PyTorch GFLOP/s | step memory tinytorch / PyTorch MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        torch_ms = f"{r['torch_ms']:.1f}" if r["torch_ms"] else "—"
        parallel_ms = f"{r['parallel_ms']:.1f}" if r.get("parallel_ms") else "—"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "—"
        if r.get("parallel_ratio"):
            ratio += f" ({r['parallel_ratio']:.2f}x)"
        torch_gflops = f"{r['torch_gflops']:.0f}" if r["torch_gflops"] else "—"
        memory = ""
        if r.get("tiny_mib") is not None and r.get("torch_mib"):
            memory = f"{r['tiny_mib']:.0f} / {r['torch_mib']:.0f} ({r['tiny_mib'] / r['torch_mib']:.2f}x)"
        elif r.get("tiny_mib") is not None:
            memory = f"{r['tiny_mib']:.0f}"
        lines.append(f"| {r['description']} | {r['size']} | {r['threads']} | {r['tiny_ms']:.1f} | {parallel_ms} | {torch_ms} | {ratio} | "
                     f"{r['tiny_gflops']:.0f} ({r['tiny_gflops'] / peaks[r['threads']]:.0%}) | {torch_gflops} | {memory} |")
    return "\n".join(lines)


def main(argv=None):
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        return _memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--threads", dest="thread_counts", type=int, nargs="+", default=[1, 2],
                        help="thread counts to compare at, each for both libraries (default: 1 2)")
    parser.add_argument("--sizes", choices=["all", "table"], default="all",
                        help="all three sizes, or only issue 14's size of each workload")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per library and setting")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--fused-attention", action="store_true",
                        help="the GPT's tinytorch steps under module 13's use_fused_attention()")
    parser.add_argument("--markdown", action="store_true", help="print the results as a markdown table")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)

    load = [os.getloadavg()[0]]
    print(f"load average at the start: {load[0]:.2f} ({os.cpu_count()} cores)")
    torch = load_torch(1)
    peaks = {t: matmul_peak(t) for t in args.thread_counts}
    print("NumPy float32 matmul peak: " + ", ".join(f"{p:.0f} GFLOP/s ({t} thr)" for t, p in peaks.items()))
    rows = []
    for name in args.workloads:
        sizes, table_size, _ = WORKLOADS[name]
        for size in sizes if args.sizes == "all" else [table_size]:
            work = build(name, size, torch, args.fused_attention)
            if work.torch is not None:  # the same weights and data: the same first loss
                first_tiny, first_torch = work.tiny(), work.torch()
                if not np.isclose(first_tiny, first_torch, rtol=1e-4):
                    sys.exit(f"{work.description}: the first losses disagree ({first_tiny} vs {first_torch})")
            memory = {}
            if not args.no_memory and sys.platform.startswith("linux"):
                memory = {"tiny_mib": step_memory("tiny", name, size, args.fused_attention),
                          "torch_mib": step_memory("torch", name, size) if torch else None}
            for threads in args.thread_counts:
                tiny_ms, parallel_ms, torch_ms = time_workload(work, threads, torch, args.seconds, args.rounds)
                best = min(tiny_ms, parallel_ms or tiny_ms)
                row = dict(workload=name, size=size, threads=threads, description=work.description,
                           tiny_ms=tiny_ms, parallel_ms=parallel_ms, torch_ms=torch_ms,
                           ratio=tiny_ms / torch_ms if torch_ms else None,
                           parallel_ratio=parallel_ms / torch_ms if torch_ms and parallel_ms else None,
                           tiny_gflops=work.flops / best / 1e6,
                           torch_gflops=work.flops / torch_ms / 1e6 if torch_ms else None, **memory)
                rows.append(row)
                mem = ""
                if memory.get("tiny_mib") is not None:
                    mem = f" | step memory {memory['tiny_mib']:.0f} MiB" + (
                        f" vs {memory['torch_mib']:.0f} MiB" if memory.get("torch_mib") else "")
                parallel = f" | parallel_backward {parallel_ms:.1f} ms" if parallel_ms else ""
                ratios = ""
                if torch_ms:
                    ratios = f" | PyTorch {torch_ms:.1f} ms | ratio {row['ratio']:.2f}x" + (
                        f" ({row['parallel_ratio']:.2f}x parallel)" if parallel_ms else "")
                print(f"{work.description}, {threads} thread{'s' * (threads > 1)}: tinytorch {tiny_ms:.1f} ms"
                      + parallel + ratios
                      + f" | {row['tiny_gflops']:.0f} GFLOP/s = {row['tiny_gflops'] / peaks[threads]:.0%} of peak" + mem,
                      flush=True)
    load.append(os.getloadavg()[0])
    print(f"load average at the end: {load[1]:.2f}")
    for threads in args.thread_counts:  # the peak again at the end: the higher of the two counts
        peaks[threads] = max(peaks[threads], matmul_peak(threads))
    print("NumPy float32 matmul peak (the better of start and end): "
          + ", ".join(f"{p:.0f} GFLOP/s ({t} thr)" for t, p in peaks.items()))
    if args.markdown:
        print()
        print(markdown(rows, peaks, load))
    if args.json:
        args.json.write_text(json.dumps({"load": load, "peaks": peaks, "rows": rows}, indent=1))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
