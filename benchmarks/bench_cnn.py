"""One training step (forward, backward, Adam step) of a small CNN on a batch of 64 8×8
images with cross-entropy: tinytorch against PyTorch CPU (2 threads) when installed.

    Conv2d(1, C1, 3, padding=1) → ReLU → MaxPool2d(2) → Conv2d(C1, C2, 3, padding=1)
    → ReLU → MaxPool2d(2) → Flatten → Linear(4·C2, 10)

    python benchmarks/bench_cnn.py [--channels 8 16] [--batch 64] [--repeat 300]

``--channels 16 32`` is the network of the cnn milestone's learning test.

NumPy's BLAS (OpenBLAS) starts its own threads for the larger matrix products; on a busy
2-core machine they fight the other processes for the cores and a step can take 10× longer.
These products are too small to gain from threads, so ``OPENBLAS_NUM_THREADS=1 python
benchmarks/bench_cnn.py`` gives the steadier (and usually faster) tinytorch number.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import compare_ms, load_torch, report  # noqa: E402

from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential  # noqa: E402
from tinytorch.nn.spatial import Conv2d, Flatten, MaxPool2d  # noqa: E402
from tinytorch.optim.adam import Adam  # noqa: E402

IMAGE, CLASSES = 8, 10


def tinytorch_step(x, y, c1, c2):
    np.random.seed(0)
    model = Sequential(
        Conv2d(1, c1, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(c2 * (IMAGE // 4) ** 2, CLASSES),
    )
    opt, loss_fn, xt = Adam(model.parameters(), lr=1e-3), CrossEntropyLoss(), Tensor(x)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), y)
        loss.backward()
        opt.step()
        return loss.item()

    return model, step


def torch_step(torch, model, x, y, c1, c2):
    """The same network, starting from the same weights."""
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (IMAGE // 4) ** 2, CLASSES),
    )
    with torch.no_grad():
        for p, q in zip(net.parameters(), model.parameters()):
            p.copy_(torch.from_numpy(q.data.copy()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs=2, default=(8, 16), metavar=("C1", "C2"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    c1, c2 = args.channels

    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, IMAGE, IMAGE), dtype=np.float32)
    y = rng.integers(0, CLASSES, args.batch).astype(np.int64)

    model, tiny = tinytorch_step(x, y, c1, c2)
    torch = load_torch()
    reference = torch_step(torch, model, x, y, c1, c2) if torch else None
    if reference is not None:  # same weights, same data: the first losses must agree
        first_tiny, first_torch = tiny(), reference()
        if not np.isclose(first_tiny, first_torch, rtol=1e-4):
            sys.exit(f"tinytorch and PyTorch disagree on the first loss: {first_tiny} vs {first_torch}")

    tiny_ms, torch_ms = compare_ms(tiny, reference, repeat=args.repeat, warmup=args.warmup)
    name = f"CNN conv 1-{c1}-{c2} batch {args.batch} of {IMAGE}x{IMAGE} train step (adam)"
    report(name, tiny_ms, torch_ms, target_ratio=2.0)


if __name__ == "__main__":
    main()
