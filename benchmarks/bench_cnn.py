"""One training step (forward, backward, Adam step) of a small CNN on a batch of 64 8×8
images with cross-entropy: tinytorch against PyTorch CPU when installed (both on
``--threads`` threads, default 1).

    Conv2d(1, C1, 3, padding=1) → ReLU → MaxPool2d(2) → Conv2d(C1, C2, 3, padding=1)
    → ReLU → MaxPool2d(2) → Flatten → Linear(4·C2, 10)

    python benchmarks/bench_cnn.py [--channels 8 16] [--batch 64] [--repeat 300] [--threads 1]

``--channels 16 32`` is the network of the cnn milestone's learning test.

These products are below tinytorch's threshold for BLAS threads (module 00), so tinytorch
runs them on one core whatever ``--threads`` says; PyTorch uses ``--threads`` for all its ops.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import benchmark_parser, compare_and_report, copy_weights, load_torch, train_step  # noqa: E402

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
    return model, train_step(opt, lambda: loss_fn(model(xt), y))


def torch_step(torch, model, x, y, c1, c2):
    """The same network, starting from the same weights."""
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (IMAGE // 4) ** 2, CLASSES),
    )
    copy_weights(torch, net, model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return train_step(opt, lambda: nn.functional.cross_entropy(net(xt), yt))


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--channels", type=int, nargs=2, default=(8, 16), metavar=("C1", "C2"))
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    c1, c2 = args.channels

    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, IMAGE, IMAGE), dtype=np.float32)
    y = rng.integers(0, CLASSES, args.batch).astype(np.int64)

    model, tiny = tinytorch_step(x, y, c1, c2)
    torch = load_torch(args.threads)
    reference = torch_step(torch, model, x, y, c1, c2) if torch else None
    name = f"CNN conv 1-{c1}-{c2} batch {args.batch} of {IMAGE}x{IMAGE} train step (adam)"
    compare_and_report(name, tiny, reference, 2.0, args.repeat, args.warmup)


if __name__ == "__main__":
    main()
