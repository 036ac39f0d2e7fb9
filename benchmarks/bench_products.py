"""Where a training step's time goes: the matrix products, and everything else, for the
workloads of ``bench_scaling.py``; and how fast NumPy's BLAS runs those very products
against PyTorch's. Not a test: nothing asserts a time.

    python benchmarks/bench_products.py [--workloads lenet cnn mlp gpt] [--sizes table|all]
        [--threads 1] [--seconds 2] [--rounds 5] [--fused-attention]

One tinytorch step is run with every matrix product recorded (each call of module 00's
``_blas_matmul``: the operands as tinytorch hands them over, shapes and strides
included). Then, in alternating rounds (``_timing.compare_many_ms``), five things are timed:

1. the tinytorch training step;
2. its recorded products, replayed through ``_blas_matmul`` as they were laid out;
3. the same products on C-contiguous copies of the operands (NumPy's BLAS at its best);
4. the same contiguous products through ``torch.matmul`` (PyTorch's BLAS, same threads);
5. the PyTorch training step.

From these it prints the step split into products (2) and the rest (1 − 2), the BLAS ratio
(3 / 4: what the choice of BLAS alone costs, which no NumPy code can change) and the
ratio tinytorch would reach with PyTorch's BLAS for its products: (1 − 2 + 4) / 5. PyTorch
computes convolutions without im2col products (oneDNN), so for the CNNs (4) is the price
of tinytorch's products on PyTorch's BLAS, not a part of PyTorch's own step.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _timing import compare_many_ms, load_torch, set_threads  # noqa: E402
from _workloads import WORKLOADS, build  # noqa: E402

from tinytorch.core import setup  # noqa: E402


def record_products(step):
    """The ``(a, b)`` operands of every matrix product one call of ``step()`` makes."""
    original, products = setup._blas_matmul, []

    def recording(a, b):
        products.append((a, b))
        return original(a, b)

    users = [m for m in list(sys.modules.values())
             if m is not None and m.__name__.startswith("tinytorch") and getattr(m, "_blas_matmul", None) is original]
    for module in users:
        module._blas_matmul = recording
    try:
        step()
    finally:
        for module in users:
            module._blas_matmul = original
    return products


def replay(products, matmul):
    def run():
        for a, b in products:
            matmul(a, b)

    return run


def breakdown(work, torch, threads, seconds, rounds):
    """The five times (ms) of the module docstring, for one workload on ``threads`` threads."""
    set_threads(threads, torch)
    products = record_products(work.tiny)
    contiguous = [(np.ascontiguousarray(a), np.ascontiguousarray(b)) for a, b in products]
    steps = [work.tiny, replay(products, setup._blas_matmul), replay(contiguous, setup._blas_matmul), None, work.torch]
    if torch is not None:
        as_torch = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in contiguous]
        steps[3] = replay(as_torch, torch.matmul)
    one = sum(median for median in compare_many_ms(steps, repeat=2, warmup=1, rounds=1) if median) / 1e3
    per_round = max(2, int(seconds / rounds / max(one / len(steps), 1e-4)))
    return len(products), compare_many_ms(steps, repeat=per_round * rounds, warmup=1, rounds=rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--sizes", choices=["all", "table"], default="table",
                        help="issue 14's size of each workload (default), or all three")
    parser.add_argument("--threads", type=int, default=1, help="threads for both libraries (default 1)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per workload")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fused-attention", action="store_true",
                        help="the GPT's tinytorch step under module 13's use_fused_attention()")
    args = parser.parse_args(argv)

    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); "
          f"{args.threads} thread{'s' * (args.threads > 1)} for both libraries")
    torch = load_torch(args.threads)
    if torch is None:
        print("PyTorch is not installed: the split into products and the rest only, no BLAS ratio")
    for name in args.workloads:
        sizes, table_size, _ = WORKLOADS[name]
        for size in sizes if args.sizes == "all" else [table_size]:
            work = build(name, size, torch, args.fused_attention)
            count, (step, laid_out, contiguous, torch_products, torch_step) = breakdown(
                work, torch, args.threads, args.seconds, args.rounds)
            line = (f"{work.description}: tinytorch step {step:.1f} ms = {count} products {laid_out:.1f} ms "
                    f"({laid_out / step:.0%}) + the rest {step - laid_out:.1f} ms | "
                    f"products on contiguous operands {contiguous:.1f} ms")
            if torch is not None:
                at_torch_blas = (step - laid_out + torch_products) / torch_step
                line += (f" | the same products in PyTorch {torch_products:.1f} ms: BLAS ratio "
                         f"{contiguous / torch_products:.2f}x | PyTorch step {torch_step:.1f} ms: ratio "
                         f"{step / torch_step:.2f}x, with PyTorch's BLAS for the products {at_torch_blas:.2f}x")
            print(line, flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
