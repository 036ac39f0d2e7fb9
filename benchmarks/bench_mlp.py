"""One training step (forward, backward, optimizer step) of an MLP 64-128-10 on a batch
of 256 with cross-entropy: tinytorch against PyTorch CPU (2 threads) when installed.

    python benchmarks/bench_mlp.py [--optimizer sgd|plain-sgd|adam] [--repeat 300]

``sgd`` has momentum 0.9; ``plain-sgd`` has none.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import compare_ms, load_torch, report  # noqa: E402

from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential  # noqa: E402
from tinytorch.optim.adam import Adam  # noqa: E402
from tinytorch.optim.sgd import SGD  # noqa: E402

SIZES, BATCH = (64, 128, 10), 256
MOMENTUM = {"sgd": 0.9, "plain-sgd": 0.0}


def tinytorch_step(x, y, optimizer_name):
    np.random.seed(0)
    model = Sequential(Linear(SIZES[0], SIZES[1]), ReLU(), Linear(SIZES[1], SIZES[2]))
    params = model.parameters()
    opt = Adam(params, lr=1e-3) if optimizer_name == "adam" else SGD(params, lr=0.01, momentum=MOMENTUM[optimizer_name])
    loss_fn, xt = CrossEntropyLoss(), Tensor(x)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), y)
        loss.backward()
        opt.step()
        return loss.item()

    return model, step


def torch_step(torch, model, x, y, optimizer_name):
    """The same network, starting from the same weights."""
    net = torch.nn.Sequential(torch.nn.Linear(*SIZES[:2]), torch.nn.ReLU(), torch.nn.Linear(*SIZES[1:]))
    with torch.no_grad():
        for p, q in zip(net.parameters(), model.parameters()):
            p.copy_(torch.from_numpy(q.data.copy()))
    params = net.parameters()
    if optimizer_name == "adam":
        opt = torch.optim.Adam(params, lr=1e-3)
    else:
        opt = torch.optim.SGD(params, lr=0.01, momentum=MOMENTUM[optimizer_name])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=["sgd", "plain-sgd", "adam"], default="sgd")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)

    model, tiny = tinytorch_step(x, y, args.optimizer)
    torch = load_torch()
    reference = torch_step(torch, model, x, y, args.optimizer) if torch else None
    if reference is not None:  # same weights, same data: the first losses must agree
        first_tiny, first_torch = tiny(), reference()
        if not np.isclose(first_tiny, first_torch, rtol=1e-4):
            sys.exit(f"tinytorch and PyTorch disagree on the first loss: {first_tiny} vs {first_torch}")

    tiny_ms, torch_ms = compare_ms(tiny, reference, repeat=args.repeat, warmup=args.warmup)
    name = f"MLP {'-'.join(map(str, SIZES))} batch {BATCH} train step ({args.optimizer})"
    report(name, tiny_ms, torch_ms, target_ratio=1.0)


if __name__ == "__main__":
    main()
