"""Shared timing helpers for the benchmarks (not a test: nothing here asserts a time).

    from _timing import compare_ms, load_torch, median_ms, report
    torch = load_torch()                   # PyTorch with 2 threads, or None if not installed
    tiny_ms = median_ms(step)              # median milliseconds per call
    tiny_ms, torch_ms = compare_ms(step, torch_step if torch else None)  # interleaved rounds
    report("mlp step", tiny_ms, torch_ms, target_ratio=1.0)

On a shared machine the load changes from second to second; `compare_ms` alternates
short rounds of both contenders so that both see the same conditions.
"""

import statistics
import time

TORCH_THREADS = 2  # the course machine has 2 cores: compare like with like


def median_ms(fn, repeat=200, warmup=20):
    """Median wall time of ``fn()`` in milliseconds over ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def compare_ms(tiny_fn, torch_fn=None, repeat=300, warmup=30, rounds=5):
    """(tinytorch ms, PyTorch ms or None): medians of ``rounds`` alternating rounds of each."""
    per_round = max(1, repeat // rounds)
    tiny, ref = [], []
    for _ in range(rounds):
        tiny.append(median_ms(tiny_fn, repeat=per_round, warmup=warmup))
        if torch_fn is not None:
            ref.append(median_ms(torch_fn, repeat=per_round, warmup=warmup))
    return statistics.median(tiny), (statistics.median(ref) if ref else None)


def load_torch(threads=TORCH_THREADS):
    """PyTorch (CPU, ``threads`` intra-op threads) when it is installed, else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def report(name, tiny_ms, torch_ms, target_ratio):
    """Print one result line; returns tinytorch / PyTorch (None without PyTorch)."""
    if torch_ms is None:
        print(f"{name}: tinytorch {tiny_ms:.3f} ms (PyTorch not installed: no ratio)")
        return None
    ratio = tiny_ms / torch_ms
    verdict = "within target" if ratio <= target_ratio else "ABOVE target"
    print(
        f"{name}: tinytorch {tiny_ms:.3f} ms | PyTorch {torch_ms:.3f} ms ({TORCH_THREADS} threads) | "
        f"ratio {ratio:.2f}x (target <= {target_ratio:.2f}x, {verdict})"
    )
    return ratio
