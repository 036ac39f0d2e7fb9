"""Shared helpers for the benchmarks (not a test: nothing here asserts a time).

    from _timing import benchmark_parser, compare_and_report, copy_weights, load_torch, train_step
    parser = benchmark_parser(__doc__)     # --repeat, --warmup and --threads; add the script's own
    args = parser.parse_args()
    torch = load_torch(args.threads)       # PyTorch (or None if not installed); both libraries
                                           # set to args.threads BLAS/intra-op threads
    tiny = train_step(opt, lambda: loss_fn(model(x), y))   # one training step as a function
    compare_and_report("mlp step", tiny, torch_step if torch else None, 1.0, args.repeat, args.warmup)

``--threads`` (default 1) sets the threads of *both* libraries (``set_threads``): tinytorch's
``set_num_threads`` (the BLAS threads its large products may use, module 00) and PyTorch's
``torch.set_num_threads``. One thread is the like-for-like comparison that a shared machine
does not disturb much; ``--threads 2`` compares both libraries on two cores.

``compare_and_report`` checks that both steps start from the same first loss, times them
with ``compare_ms`` (interleaved rounds: on a shared machine the load changes from second
to second, so both contenders see the same conditions) and prints one line with ``report``.
``median_ms`` times a single function.
"""

import argparse
import statistics
import sys
import time

import numpy as np

THREADS = {"count": 1}  # what set_threads() last gave both libraries (shown in every result line)


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


def compare_many_ms(fns, repeat=300, warmup=30, rounds=5):
    """The median ms of each function (None for a None entry) over ``rounds`` rounds in which
    every function takes its turn: on a shared machine all of them see the same conditions."""
    per_round = max(1, repeat // rounds)
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, store in zip(fns, times):
            if fn is not None:
                store.append(median_ms(fn, repeat=per_round, warmup=warmup))
    return [statistics.median(store) if store else None for store in times]


def compare_ms(tiny_fn, torch_fn=None, repeat=300, warmup=30, rounds=5):
    """(tinytorch ms, PyTorch ms or None): medians of ``rounds`` alternating rounds of each."""
    tiny, ref = compare_many_ms([tiny_fn, torch_fn], repeat=repeat, warmup=warmup, rounds=rounds)
    return tiny, ref


def set_threads(threads, torch=None):
    """Give tinytorch (its large BLAS products) and PyTorch (if given) ``threads`` threads each."""
    from tinytorch.core.setup import set_num_threads

    set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    THREADS["count"] = threads


def load_torch(threads=1):
    """PyTorch (CPU) when it is installed, else None; both libraries set to ``threads`` threads."""
    try:
        import torch
    except ImportError:
        torch = None
    set_threads(threads, torch)
    return torch


def report(name, tiny_ms, torch_ms, target_ratio):
    """Print one result line; returns tinytorch / PyTorch (None without PyTorch)."""
    if torch_ms is None:
        print(f"{name}: tinytorch {tiny_ms:.3f} ms (PyTorch not installed: no ratio)")
        return None
    ratio = tiny_ms / torch_ms
    verdict = "within target" if ratio <= target_ratio else "ABOVE target"
    count = THREADS["count"]
    print(
        f"{name}: tinytorch {tiny_ms:.3f} ms | PyTorch {torch_ms:.3f} ms ({count} thread{'s' * (count > 1)} each) | "
        f"ratio {ratio:.2f}x (target <= {target_ratio:.2f}x, {verdict})"
    )
    return ratio


def benchmark_parser(doc, repeat=300, warmup=30):
    """The command line of a benchmark: described by the first line of ``doc``, with
    ``--repeat`` (timed calls), ``--warmup`` (untimed calls first) and ``--threads``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--threads", type=int, default=1, help="threads for both libraries (default 1)")
    return parser


def train_step(optimizer, loss):
    """One training step as a function (tinytorch and PyTorch alike): zero the gradients,
    compute ``loss()``, backpropagate, step the optimizer; returns the loss as a float."""

    def step():
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        return value.item()

    return step


def copy_weights(torch, net, model):
    """Load the tinytorch ``model``'s parameters into the PyTorch ``net`` of the same layout."""
    with torch.no_grad():
        for p, q in zip(net.parameters(), model.parameters()):
            p.copy_(torch.from_numpy(q.data.copy()))


def compare_and_report(name, tiny_step, torch_step, target_ratio, repeat, warmup):
    """Time ``tiny_step`` against ``torch_step`` (None without PyTorch) and print the line.

    Both start from the same weights and data, so their first losses must agree; where they
    do not, the script stops with an error (timing two different computations says nothing)."""
    if torch_step is not None:
        first_tiny, first_torch = tiny_step(), torch_step()
        if not np.isclose(first_tiny, first_torch, rtol=1e-4):
            sys.exit(f"tinytorch and PyTorch disagree on the first loss: {first_tiny} vs {first_torch}")
    tiny_ms, torch_ms = compare_ms(tiny_step, torch_step, repeat=repeat, warmup=warmup)
    return report(name, tiny_ms, torch_ms, target_ratio=target_ratio)
