"""One training step (forward, backward, Adam step) of MultiHeadAttention(embed 32, 4 heads)
on a batch of 16 sequences of length 16, MSE loss: tinytorch against PyTorch CPU when
installed (``torch.nn.MultiheadAttention``, starting from the same weights; both on
``--threads`` threads, default 1).

    python benchmarks/bench_attention.py [--causal] [--repeat 300] [--threads 1]
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinytorch

from _timing import benchmark_parser, compare_and_report, load_torch, train_step  # noqa: E402

from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.nn.attention import MultiHeadAttention, causal_mask  # noqa: E402
from tinytorch.nn.modules import MSELoss  # noqa: E402
from tinytorch.optim.adam import Adam  # noqa: E402

EMBED, HEADS, BATCH, LENGTH = 32, 4, 16, 16


def tinytorch_step(x, target, causal):
    np.random.seed(0)
    mha = MultiHeadAttention(EMBED, HEADS)
    opt = Adam(mha.parameters(), lr=1e-3)
    loss_fn, xt = MSELoss(), Tensor(x)
    mask = causal_mask(LENGTH) if causal else None
    return mha, train_step(opt, lambda: loss_fn(mha(xt, mask=mask), target))


def torch_step(torch, mha, x, target, causal):
    """torch.nn.MultiheadAttention with tinytorch's weights (q/k/v packed into in_proj)."""
    net = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
    with torch.no_grad():
        packed = [getattr(mha, f"{p}_proj") for p in "qkv"]
        net.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p.weight.data for p in packed])))
        net.in_proj_bias.copy_(torch.from_numpy(np.concatenate([p.bias.data for p in packed])))
        net.out_proj.weight.copy_(torch.from_numpy(mha.out_proj.weight.data.copy()))
        net.out_proj.bias.copy_(torch.from_numpy(mha.out_proj.bias.data.copy()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(target)
    # nn.MultiheadAttention's boolean mask marks what may NOT be attended
    mask = torch.from_numpy(~causal_mask(LENGTH).data) if causal else None

    def loss():
        out = net(xt, xt, xt, attn_mask=mask, need_weights=False)[0]
        return torch.nn.functional.mse_loss(out, yt)

    return train_step(opt, loss)


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--causal", action="store_true", help="apply a causal mask")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, LENGTH, EMBED)).astype(np.float32)
    target = rng.normal(size=(BATCH, LENGTH, EMBED)).astype(np.float32)

    mha, tiny = tinytorch_step(x, target, args.causal)
    torch = load_torch(args.threads)
    reference = torch_step(torch, mha, x, target, args.causal) if torch else None
    name = (
        f"MultiHeadAttention(embed {EMBED}, {HEADS} heads) batch {BATCH} length {LENGTH}"
        f"{' causal' if args.causal else ''} train step (adam)"
    )
    compare_and_report(name, tiny, reference, 1.5, args.repeat, args.warmup)


if __name__ == "__main__":
    main()
