"""One training step (forward, backward, optimizer step) of an MLP 64-128-10 on a batch
of 256 with cross-entropy: tinytorch against PyTorch CPU when installed (both on
``--threads`` threads, default 1).

    python benchmarks/bench_mlp.py [--optimizer sgd|plain-sgd|adam] [--repeat 300] [--threads 1]

``sgd`` has momentum 0.9; ``plain-sgd`` has none.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import benchmark_parser, compare_and_report, copy_weights, load_torch, train_step  # noqa: E402

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
    return model, train_step(opt, lambda: loss_fn(model(xt), y))


def torch_step(torch, model, x, y, optimizer_name):
    """The same network, starting from the same weights."""
    net = torch.nn.Sequential(torch.nn.Linear(*SIZES[:2]), torch.nn.ReLU(), torch.nn.Linear(*SIZES[1:]))
    copy_weights(torch, net, model)
    params = net.parameters()
    if optimizer_name == "adam":
        opt = torch.optim.Adam(params, lr=1e-3)
    else:
        opt = torch.optim.SGD(params, lr=0.01, momentum=MOMENTUM[optimizer_name])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return train_step(opt, lambda: torch.nn.functional.cross_entropy(net(xt), yt))


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--optimizer", choices=["sgd", "plain-sgd", "adam"], default="sgd")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)

    model, tiny = tinytorch_step(x, y, args.optimizer)
    torch = load_torch(args.threads)
    reference = torch_step(torch, model, x, y, args.optimizer) if torch else None
    name = f"MLP {'-'.join(map(str, SIZES))} batch {BATCH} train step ({args.optimizer})"
    compare_and_report(name, tiny, reference, 1.0, args.repeat, args.warmup)


if __name__ == "__main__":
    main()
