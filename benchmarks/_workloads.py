"""The realistic workloads of the scaling benchmark, built twice from the same weights:
once with tinytorch, once with PyTorch (when installed). Not a test: nothing asserts a time.

    from _workloads import WORKLOADS, build
    work = build("mlp", 2048, torch)     # torch may be None
    work.tiny(); work.torch()            # one Adam training step each; returns the loss
    work.tiny_parallel()                 # the tinytorch step with module 13's parallel_backward
    work.flops                           # multiply-adds of the step's matrix products, x 2

Each workload has three sizes; the middle one is the size of issue 14's table:

- ``lenet``: LeNet-5 (Conv 1→6 5×5 pad 2, ReLU, MaxPool 2, Conv 6→16 5×5, ReLU, MaxPool 2,
  Linear 400-120-84-10) on 28×28 images; the size is the batch (32, 64, 256).
- ``cnn``: a CIFAR-like CNN (Conv 3→c 3×3 pad 1, ReLU, MaxPool 2, Conv c→2c 3×3 pad 1, ReLU,
  MaxPool 2, Linear) on 32×32 images, batch 64; the size is c (16, 32, 64).
- ``mlp``: MLP 784-h-h-10 with ReLU, batch 256; the size is h (1024, 2048, 4096).
- ``gpt``: the course's GPT (4 heads, 2 blocks, sequence 128, batch 16, vocabulary 64,
  feed-forward 4·d); the size is d_model (64, 128, 256).

Every workload trains with Adam (lr 1e-3) on cross-entropy. The PyTorch GPT is the same
architecture written the way PyTorch users write it (``F.scaled_dot_product_attention``
with ``is_causal=True``, ``nn.GELU(approximate="tanh")``, ``nn.LayerNorm``).
"""

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import copy_weights, train_step  # noqa: E402

from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.models.transformer import GPT  # noqa: E402
from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential  # noqa: E402
from tinytorch.nn.spatial import Conv2d, Flatten, MaxPool2d  # noqa: E402
from tinytorch.optim.adam import Adam  # noqa: E402
from tinytorch.perf.acceleration import parallel_backward, use_fused_attention  # noqa: E402

WORKLOADS = {  # name: (sizes, the size of issue 14's table, what the size is)
    "lenet": ((32, 64, 256), 64, "batch"),
    "cnn": ((16, 32, 64), 32, "channels c"),
    "mlp": ((1024, 2048, 4096), 2048, "hidden width"),
    "gpt": ((64, 128, 256), 128, "d_model"),
}
GPT_HEADS, GPT_LAYERS, GPT_SEQ, GPT_BATCH, GPT_VOCAB = 4, 2, 128, 16, 64


@dataclass
class Workload:
    name: str
    size: int
    tiny: object  # one tinytorch training step (a function)
    tiny_parallel: object  # the same step with parallel_backward (module 13): the batch split over the threads
    torch: object  # one PyTorch training step, or None
    flops: float  # 2 x multiply-adds of the matrix products (forward and backward)
    description: str


def parallel_step(optimizer, loss_of, *batch):
    """One training step whose backward pass is module 13's ``parallel_backward`` (as many
    parts as tinytorch's threads, ``set_num_threads``); returns the loss as a float."""

    def step():
        optimizer.zero_grad()
        value = parallel_backward(loss_of, *batch)
        optimizer.step()
        return value

    return step


def _copy(torch, pairs):
    with torch.no_grad():
        for mine, theirs in pairs:
            theirs.copy_(torch.from_numpy(np.ascontiguousarray(mine.data)))


# -- multiply-add counts: forward, plus two products per layer in the backward (one when the
#    layer's input needs no gradient: the first layer, whose input is the data) ---------------
def _dense_macs(rows, fan_in, fan_out, first=False):
    forward = rows * fan_in * fan_out
    return forward * (2 if first else 3)


def _conv_macs(batch, c_in, c_out, k, h_out, w_out, first=False):
    return _dense_macs(batch * h_out * w_out, c_in * k * k, c_out, first)


def _classifier_data(rng, shape, classes, batch):
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, classes, batch).astype(np.int64)
    return x, y


def _sequential(torch, tiny_layers, torch_layers, x, y, name, size, flops, description):
    model, xt, loss_fn = Sequential(*tiny_layers), Tensor(x), CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=1e-3)
    tiny_step = train_step(optimizer, lambda: loss_fn(model(xt), y))
    tiny_parallel = parallel_step(optimizer, lambda xs, ys: loss_fn(model(xs), ys), xt, y)
    torch_step = None
    if torch is not None:
        net = torch.nn.Sequential(*torch_layers())
        copy_weights(torch, net, model)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        torch_step = train_step(torch.optim.Adam(net.parameters(), lr=1e-3),
                                lambda: torch.nn.functional.cross_entropy(net(xs), ys))
    return Workload(name, size, tiny_step, tiny_parallel, torch_step, flops, description)


def lenet(batch, torch):
    rng = np.random.default_rng(0)
    x, y = _classifier_data(rng, (batch, 1, 28, 28), 10, batch)
    np.random.seed(0)
    tiny = [Conv2d(1, 6, 5, padding=2), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(), MaxPool2d(2),
            Flatten(), Linear(400, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10)]

    def theirs():
        nn = torch.nn
        return [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10)]

    macs = (_conv_macs(batch, 1, 6, 5, 28, 28, first=True) + _conv_macs(batch, 6, 16, 5, 10, 10)
            + _dense_macs(batch, 400, 120) + _dense_macs(batch, 120, 84) + _dense_macs(batch, 84, 10))
    return _sequential(torch, tiny, theirs, x, y, "lenet", batch, 2 * macs, f"LeNet-5 28x28, batch {batch}")


def cnn(c, torch, batch=64):
    rng = np.random.default_rng(0)
    x, y = _classifier_data(rng, (batch, 3, 32, 32), 10, batch)
    np.random.seed(0)
    tiny = [Conv2d(3, c, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(c, 2 * c, 3, padding=1), ReLU(),
            MaxPool2d(2), Flatten(), Linear(2 * c * 64, 10)]

    def theirs():
        nn = torch.nn
        return [nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c, 2 * c, 3, padding=1),
                nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * c * 64, 10)]

    macs = (_conv_macs(batch, 3, c, 3, 32, 32, first=True) + _conv_macs(batch, c, 2 * c, 3, 16, 16)
            + _dense_macs(batch, 2 * c * 64, 10))
    return _sequential(torch, tiny, theirs, x, y, "cnn", c, 2 * macs,
                       f"CNN conv 3-{c}-{2 * c} 32x32, batch {batch}")


def mlp(hidden, torch, batch=256):
    rng = np.random.default_rng(0)
    x, y = _classifier_data(rng, (batch, 784), 10, batch)
    np.random.seed(0)
    tiny = [Linear(784, hidden), ReLU(), Linear(hidden, hidden), ReLU(), Linear(hidden, 10)]

    def theirs():
        nn = torch.nn
        return [nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10)]

    macs = _dense_macs(batch, 784, hidden, first=True) + _dense_macs(batch, hidden, hidden) + _dense_macs(batch, hidden, 10)
    return _sequential(torch, tiny, theirs, x, y, "mlp", hidden, 2 * macs,
                       f"MLP 784-{hidden}-{hidden}-10, batch {batch}")


def _torch_gpt(torch, d, model):
    """The same GPT in PyTorch, loaded with ``model``'s weights."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.fc1, self.act, self.fc2 = nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d)

        def forward(self, x):
            B, T, _ = x.shape
            h = self.ln1(x)
            q, k, v = (p(h).view(B, T, GPT_HEADS, -1).transpose(1, 2) for p in (self.q, self.k, self.v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(B, T, d))
            return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(GPT_VOCAB, d)
            self.pos = nn.Parameter(torch.zeros(GPT_SEQ, d))
            self.blocks = nn.Sequential(*(Block() for _ in range(GPT_LAYERS)))
            self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, GPT_VOCAB)

        def forward(self, idx):
            x = self.tok(idx) + self.pos[: idx.shape[1]]
            return self.head(self.ln_f(self.blocks(x)))

    net = TorchGPT()
    pairs = [(model.token_embedding.weight, net.tok.weight), (model.position_embedding.weight, net.pos)]
    for mine, theirs in zip(model.blocks, net.blocks):
        for a, b in ((mine.ln1, theirs.ln1), (mine.attn.q_proj, theirs.q), (mine.attn.k_proj, theirs.k),
                     (mine.attn.v_proj, theirs.v), (mine.attn.out_proj, theirs.o), (mine.ln2, theirs.ln2),
                     (mine.ff.fc1, theirs.fc1), (mine.ff.fc2, theirs.fc2)):
            pairs += [(a.weight, b.weight), (a.bias, b.bias)]
    pairs += [(model.ln_f.weight, net.ln_f.weight), (model.ln_f.bias, net.ln_f.bias),
              (model.head.weight, net.head.weight), (model.head.bias, net.head.bias)]
    _copy(torch, pairs)
    return net


def gpt(d, torch):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, GPT_VOCAB, (GPT_BATCH, GPT_SEQ + 1))
    x, y = ids[:, :-1], ids[:, 1:].reshape(-1)
    np.random.seed(0)
    model = GPT(GPT_VOCAB, d, GPT_HEADS, GPT_LAYERS, GPT_SEQ)
    loss_fn, optimizer = CrossEntropyLoss(), Adam(model.parameters(), lr=1e-3)
    tiny_step = train_step(optimizer, lambda: loss_fn(model(x).reshape(-1, GPT_VOCAB), y))
    targets = ids[:, 1:]  # (B, T): split along the batch like the inputs
    tiny_parallel = parallel_step(optimizer, lambda xs, ys: loss_fn(model(xs).reshape(-1, GPT_VOCAB), ys.reshape(-1)),
                                  x, targets)
    torch_step = None
    if torch is not None:
        net = _torch_gpt(torch, d, model)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        torch_step = train_step(torch.optim.Adam(net.parameters(), lr=1e-3),
                                lambda: torch.nn.functional.cross_entropy(net(xt).reshape(-1, GPT_VOCAB), yt))
    rows = GPT_BATCH * GPT_SEQ
    per_block = 4 * _dense_macs(rows, d, d) + _dense_macs(rows, d, 4 * d) + _dense_macs(rows, 4 * d, d)
    per_block += 2 * 3 * GPT_BATCH * GPT_SEQ * GPT_SEQ * d  # q kᵀ and weights @ v, forward and backward
    macs = GPT_LAYERS * per_block + _dense_macs(rows, d, GPT_VOCAB)
    return Workload("gpt", d, tiny_step, tiny_parallel, torch_step, 2 * macs,
                    f"GPT d_model {d}, {GPT_HEADS} heads, {GPT_LAYERS} blocks, seq {GPT_SEQ}, batch {GPT_BATCH}")


BUILDERS = {"lenet": lenet, "cnn": cnn, "mlp": mlp, "gpt": gpt}


def build(name, size, torch, fused_attention=False):
    """The workload; with ``fused_attention`` its tinytorch steps run under module 13's
    ``use_fused_attention()`` (only the GPT has attention)."""
    work = BUILDERS[name](size, torch)
    if not fused_attention or name != "gpt":
        return work

    def fused(step):
        def run():
            with use_fused_attention():
                return step()

        return run

    return replace(work, tiny=fused(work.tiny), tiny_parallel=fused(work.tiny_parallel),
                   description=work.description + ", module 13's fused attention")
