# %% [markdown]
# # Module 09 — Profiling: measure before you optimize
#
# Modules 01–08 built a library that *learns*. The next six make it *small and fast*:
# quantization, pruning, a KV cache, acceleration, benchmarking. Every one of them
# starts with the same question, and this module answers it: **where do the bytes and
# the time go?**
#
# "Premature optimization is the root of all evil" (Knuth, 1974) is usually quoted
# without its second half: "yet we should not pass up our opportunities in that
# critical 3 %". Profiling is how you find the 3 %. Engineers who skip it speed up code
# that takes 1 % of the time and wonder why nothing changed.
#
# | you build | it answers |
# |---|---|
# | `count_parameters`, `model_bytes`, `layer_summary` | how big is the model, and which layer holds the bytes? |
# | `linear_macs`, `attention_macs`, `conv2d_macs` | how much arithmetic should a forward pass cost, on paper? |
# | `time_function` | how long does it take, measured so the number means something? |
# | `profile` (a context manager, like `torch.profiler.profile`) | which autograd `Function` takes the time, and how many multiply-adds did it really do? |
#
# The measured count of multiply-adds must equal the count on paper: when the two
# disagree, either the model does work you did not expect or your formula is wrong —
# both worth knowing before you optimize anything.

# %%
#| default_exp perf.profiling
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer
#| export
import io
import math
import time

import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import GPT
from tinytorch.nn.modules import Module

# %% [markdown]
# ## How big is a model?
#
# A model's size is the bytes of the arrays it holds. Most are `Parameter`s, but not
# all: `PositionalEncoding` keeps a constant table, and after module 10 a quantized
# layer holds int8 arrays that are not parameters at all. So we count **every array a
# module holds** — a `Tensor`'s `.data` or a bare NumPy array, alone or in a list — and
# count each array once, even when two layers share it (weight tying).
#
# `model.named_modules()` (module 03, as in PyTorch) walks the module tree and names every
# module by its dotted path (`"blocks.0.attn.q_proj"`). `module_arrays(module)` lists the
# arrays one module holds *directly* (not those of its children). Both are given; you
# write the totals.
#
# Bytes are `array.nbytes`: elements × bytes per element (4 for float32, 1 for int8).
# A GPT-2 small (124 M parameters) is 497 MB in float32; the same weights in int8 are
# 124 MB. That factor of 4 is module 10.

# %%
#| export
def module_arrays(module):
    """The NumPy arrays ``module`` holds directly: Tensor/Parameter data and bare arrays, in lists too."""
    arrays = []
    for value in vars(module).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Tensor):
                arrays.append(item.data)
            elif isinstance(item, np.ndarray):
                arrays.append(item)
    return arrays


def count_parameters(model):
    """How many numbers the model trains: the sum of the sizes of its parameters."""
    ### BEGIN SOLUTION
    return int(sum(p.numel() for p in model.parameters()))
    ### END SOLUTION


def model_bytes(model):
    """Bytes of every array held anywhere in the model (parameters and buffers), each array once."""
    ### BEGIN SOLUTION
    seen, total = set(), 0
    for _, module in model.named_modules():
        for array in module_arrays(module):
            if id(array) not in seen:
                seen.add(id(array))
                total += array.nbytes
    return int(total)
    ### END SOLUTION


# %% [markdown]
# ### Per layer
#
# A total hides where the bytes are. `layer_summary(model)` returns one row per module
# that holds arrays itself: its path, its type, its parameter count and its bytes —
# the table `torchinfo.summary` prints.

# %%
#| export
def layer_summary(model):
    """One dict per module holding arrays: {'name', 'type', 'parameters', 'bytes'}, in tree order."""
    ### BEGIN SOLUTION
    rows = []
    for name, module in model.named_modules():
        arrays = module_arrays(module)
        if not arrays:
            continue
        own = [p for p in vars(module).values() if isinstance(p, Tensor) and p.requires_grad]
        rows.append({
            "name": name or type(module).__name__,
            "type": type(module).__name__,
            "parameters": int(sum(p.numel() for p in own)),
            "bytes": int(sum(a.nbytes for a in arrays)),
        })
    return rows
    ### END SOLUTION


# %% [markdown]
# ### The model of modules 09–14
#
# From here to module 14 we measure, shrink and speed up one model: a GPT of the size the
# last milestone trains (embedding 32, 4 heads, 2 blocks, feed-forward 64, 72 positions,
# a vocabulary of 11). `milestone_gpt(seed)` builds one, untrained and reproducible; the
# milestone trains its own.

# %%
#| export
MILESTONE_GPT = dict(vocab_size=11, embed_dim=32, num_heads=4, num_layers=2, max_len=72, ff_dim=64)


def milestone_gpt(seed=0):
    """An untrained GPT of the mlperf milestone's sizes (MILESTONE_GPT), initialized from ``seed``."""
    np.random.seed(seed)
    return GPT(**MILESTONE_GPT)


# %%
from tinytorch.nn.modules import Linear, ReLU, Sequential
from tinytorch.text.embeddings import PositionalEncoding


def test_unit_model_size():
    """Checks `count_parameters`, `model_bytes` and `layer_summary`: 4 bytes per float32 number, a
    constant table that is no parameter but still holds bytes, ReLU absent from the summary, and an
    array shared by two layers counted once. Walk `named_modules()` and `module_arrays(...)`,
    remember the `id` of every array already counted, and count parameters by `numel()`, bytes by
    `nbytes`.
    """
    mlp = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    assert count_parameters(mlp) == 4 * 8 + 8 + 8 * 2 + 2
    assert model_bytes(mlp) == 4 * count_parameters(mlp), "float32: four bytes per number"
    assert [r["name"] for r in layer_summary(mlp)] == ["0", "2"], "ReLU holds nothing"
    assert layer_summary(mlp)[1] == {"name": "2", "type": "Linear", "parameters": 18, "bytes": 72}
    pe = PositionalEncoding(10, 6)
    assert count_parameters(pe) == 0 and model_bytes(pe) == pe.pe.data.nbytes, "a constant table has bytes"
    mlp.append(mlp[0])  # the same layer twice: its arrays count once
    assert model_bytes(mlp) == 4 * count_parameters(mlp)
    gpt = milestone_gpt()
    assert count_parameters(gpt) == sum(r["parameters"] for r in layer_summary(gpt))
    assert model_bytes(gpt) == sum(p.data.nbytes for p in gpt.parameters())
    names = [name for name, _ in gpt.named_modules()]
    assert names[0] == "" and "blocks.1.attn.q_proj" in names


if __name__ == "__main__":
    test_unit_model_size()

# %% [markdown]
# ## How much arithmetic? Multiply-adds on paper
#
# Almost all of a network's arithmetic is in matrix products, and a matrix product is
# made of **multiply-adds** (MACs): `y += a * b`. Counting them is the standard measure
# of a model's cost ("FLOPs" are usually 2 × MACs). Elementwise work — activations,
# softmax, LayerNorm — is a few operations per number, negligible next to the products
# for any layer wider than a handful of units.
#
# - **Linear** `(rows, in) → (rows, out)`: every output number is a dot product of
#   length `in`: `rows · in · out` MACs. A sequence batch `(B, T, in)` has `B·T` rows.
# - **Attention** with `H` heads of size `d` over `T_q` queries and `T_k` keys: the scores
#   `Q Kᵀ` are `H · T_q · T_k` dot products of length `d`, and the weighted sum `A V` is
#   the same count again: `2 · B · H · T_q · T_k · d`. (The four projections are Linear
#   layers, counted as such.) Note the `T_q · T_k`: for a whole sequence, attention grows
#   with the **square** of its length. Module 12 is about that.
# - **Conv2d** with `C_in → C_out` channels and a `k × k` kernel: every output number
#   (`B · C_out · H_out · W_out` of them) is a dot product over `C_in · k · k` inputs.
#
# All three are "output numbers × the length of the dot product that makes each one".

# %%
#| export
def linear_macs(rows, in_features, out_features):
    """Multiply-adds of a Linear layer applied to ``rows`` input vectors."""
    ### BEGIN SOLUTION
    return rows * in_features * out_features
    ### END SOLUTION


def attention_macs(batch, num_heads, q_len, k_len, head_dim):
    """Multiply-adds of scaled dot-product attention (scores and weighted sum, no projections)."""
    ### BEGIN SOLUTION
    return 2 * batch * num_heads * q_len * k_len * head_dim
    ### END SOLUTION


def conv2d_macs(batch, in_channels, out_channels, kernel_size, out_height, out_width):
    """Multiply-adds of a Conv2d with a square ``kernel_size`` producing (batch, out_channels, out_height, out_width)."""
    ### BEGIN SOLUTION
    return batch * out_channels * out_height * out_width * in_channels * kernel_size * kernel_size
    ### END SOLUTION


# %% [markdown]
# For a whole GPT on a `(B, T)` batch of ids, with embedding size `E`, feed-forward size
# `F`, `L` blocks and a vocabulary of `V`: each block has four `E × E` projections, the
# attention and two feed-forward layers; the head is one `E × V` Linear; embeddings are
# table lookups (no arithmetic):
#
# $$\text{MACs} = L\,\bigl(4BTE^2 + 2BT^2E + 2BTEF\bigr) + BTEV$$
#
# For the course's milestone GPT (`E = 32`, `F = 64`, `L = 2`, `V = 11`, `T = 12`) that is
# 18,272 MACs per token: 90 % in the projections and the feed-forward, 8 % in attention,
# 2 % in the head. At GPT-2 small's size (`E = 768`, `F = 3072`, `L = 12`, `V = 50,257`,
# `T = 1024`) it is about 142 M MACs per token: 27 % in the vocabulary head, 13 % in
# attention — a share that grows with `T`.

# %%
#| export
def gpt_macs(model, batch, seq_len):
    """Multiply-adds of ``model(ids)`` for ids of shape (batch, seq_len), from the GPT's sizes."""
    block = model.blocks[0]
    embed, heads = block.attn.embed_dim, block.attn.num_heads
    ff = block.ff.fc1.out_features
    rows = batch * seq_len
    ### BEGIN SOLUTION
    per_block = (4 * linear_macs(rows, embed, embed)
                 + attention_macs(batch, heads, seq_len, seq_len, embed // heads)
                 + linear_macs(rows, embed, ff) + linear_macs(rows, ff, embed))
    return len(model.blocks) * per_block + linear_macs(rows, embed, model.vocab_size)
    ### END SOLUTION


# %%
def test_unit_analytic_macs():
    """Checks `linear_macs`, `attention_macs`, `conv2d_macs` and `gpt_macs` against the counts of
    the text: 18,272 multiply-adds per token for the milestone GPT at T = 12. Every count is output
    numbers × the length of the dot product that makes each one; in a GPT block attention runs over
    `seq_len` queries *and* `seq_len` keys, the four projections are Linear layers, and embeddings
    cost nothing.
    """
    assert linear_macs(10, 3, 4) == 120
    assert attention_macs(2, 4, 5, 5, 8) == 2 * 2 * 4 * 5 * 5 * 8
    assert conv2d_macs(1, 3, 16, 3, 8, 8) == 16 * 64 * 27
    gpt = milestone_gpt()
    expected = 2 * (4 * 12 * 32 * 32 + 2 * 12 * 12 * 32 + 2 * 12 * 32 * 64) + 12 * 32 * 11
    assert gpt_macs(gpt, 1, 12) == expected == 18_272 * 12
    assert gpt_macs(gpt, 3, 12) == 3 * expected, "MACs grow linearly with the batch"
    assert gpt_macs(gpt, 1, 24) > 2 * expected, "and faster than linearly with the length"


if __name__ == "__main__":
    test_unit_analytic_macs()

# %% [markdown]
# ## How long? Timing that means something
#
# `t = time.time(); f(); print(time.time() - t)` gives a different number every run, and
# often a wrong one. Three habits fix it:
#
# 1. **`time.perf_counter()`**, not `time.time()`: the highest-resolution clock the
#    system has, and monotonic — it never jumps when the wall clock is adjusted.
# 2. **Warm-up.** The first calls pay one-time costs: NumPy allocating buffers, the CPU
#    caches filling, lazy imports, BLAS starting its threads. On this course's machine
#    the first forward pass of the milestone-sized GPT (32 sequences of 12 tokens) took
#    2.3 ms, the median one 1.75 ms. Run a few untimed calls first.
# 3. **Median of repeats.** Noise on a shared machine only ever *adds* time (another
#    process took the core, an interrupt fired), so the distribution has a long right
#    tail. The median ignores the tail; the mean does not; the minimum is optimistic.
#
# `time_function(fn, repeat, warmup)` returns the raw per-call times in seconds, as a
# NumPy array, so the caller can take the median, a percentile (module 14) or plot them.

# %%
#| export
def time_function(fn, repeat=20, warmup=3):
    """Seconds per call of ``fn()``: an array of ``repeat`` timings, after ``warmup`` untimed calls."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        fn()
    times = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times
    ### END SOLUTION


# %%
def test_unit_time_function():
    """Checks `time_function`: `warmup` untimed calls first, then `repeat` timed ones, returned as a
    NumPy array of seconds, each at least the 2 ms the function sleeps. Start and stop
    `time.perf_counter()` around each call on its own: one timer around the whole loop, or timed
    warm-up calls, give the wrong shape or the wrong numbers.
    """
    calls = []
    times = time_function(lambda: calls.append(time.sleep(0.002)), repeat=5, warmup=2)
    assert len(calls) == 7, "warm-up calls run but are not timed"
    assert times.shape == (5,) and np.all(times >= 0.002) and np.all(times < 0.5)
    assert time_function(lambda: None, repeat=3, warmup=0).shape == (3,)


if __name__ == "__main__":
    test_unit_time_function()

# %% [markdown]
# ### Timing a forward pass and a training step
#
# The cell below times the milestone-sized GPT. On the course machine (one BLAS thread)
# a forward pass on 32 sequences of 12 tokens takes about 1.7 ms and a whole training
# step (forward, backward, Adam) about 5.2 ms: the backward pass costs roughly twice the
# forward, as the rule of thumb says (each matrix product has two gradient products).

# %%
def time_gpt_step():
    from tinytorch.core.autograd import no_grad
    from tinytorch.nn.modules import CrossEntropyLoss
    from tinytorch.optim.adam import Adam

    model = milestone_gpt()
    ids = np.random.default_rng(0).integers(0, 11, (32, 12))
    optimizer, loss_fn = Adam(model.parameters(), lr=1e-3), CrossEntropyLoss()

    def forward():
        with no_grad():
            model(ids)

    def step():
        optimizer.zero_grad()
        loss_fn(model(ids[:, :-1]), ids[:, 1:]).backward()
        optimizer.step()

    for name, fn in (("forward", forward), ("training step", step)):
        print(f"{name}: median {np.median(time_function(fn, repeat=50, warmup=5)) * 1e3:.2f} ms")


if __name__ == "__main__":
    time_gpt_step()

# %% [markdown]
# ## Where does the time go? A profiler
#
# A total time says nothing about *where*. Every operation in `tinytorch` goes through
# one door: `Function.apply` (module 02). A profiler can stand at that door, with a
# stopwatch and a tally, and attribute every microsecond to the `Function` that spent
# it — exactly what `torch.profiler` does for PyTorch's operators:
#
# ```python
# with profile() as prof:
#     loss = loss_fn(model(x), y)
#     loss.backward()
# print(prof.table())
# ```
#
# **How it works.** On `__enter__` the profiler replaces `Function.apply` with a version
# that times the original and records, per operation class: the number of calls, the
# forward time and the multiply-adds the call did. Backward time is caught the same way:
# the graph remembers which `Function` to call backward on (`ctx.function`), so the
# profiler hands each context a stand-in whose `backward` times the real one. On
# `__exit__` the original `apply` is put back — even if the block raised.
#
# **Measured multiply-adds.** The rule above — output numbers × dot-product length —
# works from the shapes alone: for `MatMulOp` the length is the last dimension of its
# first input, for `LinearOp` the last dimension of the weight, for `Conv2dOp` a whole
# filter (`C_in·k·k`). `op_macs` looks the rule up by class name, so it knows Conv2d
# without importing module 05.

# %%
#| export
def op_macs(name, inputs, output):
    """Multiply-adds of one forward call of the Function called ``name`` (0 for elementwise ops)."""
    shapes = [np.shape(x.data if isinstance(x, Tensor) else x) for x in inputs]
    outputs = int(np.size(output.data if isinstance(output, Tensor) else output))  # numbers produced
    ### BEGIN SOLUTION
    if name == "MatMulOp":
        return outputs * shapes[0][-1]
    if name == "LinearOp":
        return outputs * shapes[1][-1]
    if name == "Conv2dOp":
        return outputs * math.prod(shapes[1][1:])
    return 0
    ### END SOLUTION


class OpStats:
    """What the profiler recorded for one Function class."""

    def __init__(self, name):
        self.name, self.calls, self.forward, self.backward, self.macs = name, 0, 0.0, 0.0, 0

    @property
    def total(self):
        return self.forward + self.backward


class _TimedBackward:
    """Stands in for a Function in a graph's context: times its backward into ``stats``."""

    def __init__(self, function, stats):
        self.function, self.stats = function, stats

    def backward(self, ctx, grad):
        start = time.perf_counter()
        grads = self.function.backward(ctx, grad)
        self.stats.backward += time.perf_counter() - start
        return grads


class profile:
    """Context manager: per-Function calls, forward/backward time and multiply-adds of the code inside.

    ``with profile() as prof: ...`` then ``prof.key_averages()`` (rows sorted by total time),
    ``prof.total_macs`` or ``print(prof.table())``.
    """

    def __init__(self):
        self.stats = {}
        self._original = None

    def _record(self, cls, inputs, output, elapsed):
        ### BEGIN SOLUTION
        stats = self.stats.setdefault(cls.__name__, OpStats(cls.__name__))
        stats.calls += 1
        stats.forward += elapsed
        stats.macs += op_macs(cls.__name__, inputs, output)
        if output._ctx is not None:
            output._ctx.function = _TimedBackward(cls, stats)
        ### END SOLUTION

    def __enter__(self):
        original = self._original = Function.__dict__["apply"]
        profiler = self

        def timed_apply(cls, *inputs, **options):
            start = time.perf_counter()
            output = original.__func__(cls, *inputs, **options)
            profiler._record(cls, inputs, output, time.perf_counter() - start)
            return output

        Function.apply = classmethod(timed_apply)
        return self

    def __exit__(self, *exc):
        Function.apply = self._original
        return False

    @property
    def total_macs(self):
        return sum(s.macs for s in self.stats.values())

    def key_averages(self):
        """The recorded OpStats, the most expensive (forward + backward) first."""
        return sorted(self.stats.values(), key=lambda s: s.total, reverse=True)

    def table(self, top=None):
        """The profile as text: one row per Function, sorted by total time (a rich table when rich is installed)."""
        rows = self.key_averages()[:top]
        everything = sum(s.total for s in self.stats.values()) or 1.0
        header = ("op", "calls", "forward ms", "backward ms", "total ms", "% time", "MACs")
        body = [(s.name, str(s.calls), f"{s.forward * 1e3:.3f}", f"{s.backward * 1e3:.3f}",
                 f"{s.total * 1e3:.3f}", f"{100 * s.total / everything:.1f}", f"{s.macs:,}") for s in rows]
        return text_table(header, body, title="tinytorch profile (sorted by total time)")


def text_table(header, rows, title=""):
    """Rows of strings under ``header`` as text: a rich table when rich is installed, else aligned columns."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [header, *rows])
    table = Table(title=title or None, title_justify="left")
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(table)
    return console.file.getvalue().rstrip()


def count_macs(fn):
    """The multiply-adds ``fn()`` really performs, measured with the profiler."""
    with profile() as prof:
        fn()
    return prof.total_macs


# %% [markdown]
# The test checks the measured count against the count on paper for a Linear layer, a
# (im2col-style) convolution written as a matrix product, a `MultiHeadAttention` and
# the whole GPT. It also checks that the profiler puts `Function.apply` back.

# %%
def test_unit_profiler():
    """Checks `op_macs` and `profile._record`: measured multiply-adds equal the counts on paper for
    a Linear, a matrix product, a convolution, attention and the whole GPT, and per-op calls,
    forward and backward times. The dot-product length is the last dim of the *first* input for
    `MatMulOp`, of the *weight* for `LinearOp`, a whole filter for `Conv2dOp`; give an output a
    `_TimedBackward` only when it has a node (no node under `no_grad`).
    """
    from tinytorch.core.autograd import MatMulOp, no_grad
    from tinytorch.nn.attention import MultiHeadAttention

    np.random.seed(0)
    layer = Linear(16, 8)
    assert count_macs(lambda: layer(Tensor(np.ones((5, 3, 16))))) == linear_macs(15, 16, 8)
    # A 3x3 convolution, 4 -> 6 channels, on a batch of 2 images of 8x8 (padding 1), as
    # im2col does it: (2*8*8 patches, 4*3*3 numbers each) @ (4*3*3, 6 filters).
    patches, filters = Tensor(np.ones((2 * 8 * 8, 4 * 9))), Tensor(np.ones((4 * 9, 6)))
    assert count_macs(lambda: patches @ filters) == conv2d_macs(2, 4, 6, 3, 8, 8)
    assert op_macs("Conv2dOp", [np.ones((2, 4, 8, 8)), np.ones((6, 4, 3, 3))], np.ones((2, 6, 8, 8))) == conv2d_macs(2, 4, 6, 3, 8, 8)
    mha = MultiHeadAttention(16, 4)
    x = Tensor(np.ones((2, 5, 16)))
    assert count_macs(lambda: mha(x)) == 4 * linear_macs(10, 16, 16) + attention_macs(2, 4, 5, 5, 4)
    gpt = milestone_gpt()
    ids = np.zeros((3, 12), dtype=np.int64)
    with no_grad():
        assert count_macs(lambda: gpt(ids)) == gpt_macs(gpt, 3, 12)

    original = Function.__dict__["apply"]
    with profile() as prof:
        loss = (gpt(ids) * 1.0).sum()
        loss.backward()
    assert Function.__dict__["apply"] is original, "the profiler puts Function.apply back"
    names = [s.name for s in prof.key_averages()]
    assert {"LinearOp", "MatMulOp", "SoftmaxOp", "LayerNormOp"} <= set(names)
    totals = [s.total for s in prof.key_averages()]
    assert totals == sorted(totals, reverse=True), "sorted by total time"
    linear = prof.stats["LinearOp"]
    assert linear.calls == 2 * 6 + 1 and linear.backward > 0, "backward time is attributed too"
    assert prof.total_macs == gpt_macs(gpt, 3, 12)
    text = prof.table()
    assert "LinearOp" in text and "calls" in text
    try:
        with profile():
            raise KeyError("inside")
    except KeyError:
        pass
    assert Function.__dict__["apply"] is original, "even after an exception"
    assert MatMulOp.apply(Tensor([[1.0]]), Tensor([[2.0]])).item() == 2.0


if __name__ == "__main__":
    test_unit_profiler()

# %% [markdown]
# ### What the profile of a training step says
#
# Run the cell below. On the course machine, for twenty training steps of the
# milestone-sized GPT (batch 32, 12 tokens), the profile reads (forward + backward):
#
# | op | share of the time | multiply-adds |
# |---|---|---|
# | `LayerNormOp` | 23 % | 0 |
# | `LinearOp` | 23 % | 118 M |
# | `GELUOp` | 17 % | 0 |
# | `SoftmaxOp` | 11 % | 0 |
# | `MatMulOp` (attention) | 8 % | 10 M |
# | everything else | 18 % | 0 |
#
# The surprise: **operations that do no multiply-adds at all take more than half the
# time.** At this size a matrix product is cheap for BLAS, while LayerNorm, GELU and
# softmax each make several full passes over memory, allocating a temporary array per
# step of their formula. MACs predict the time of large models; small ones are bound by
# memory traffic and per-call overhead. Module 13 fuses those elementwise chains.

# %%
def profile_gpt_step():
    from tinytorch.nn.modules import CrossEntropyLoss

    model = milestone_gpt()
    ids = np.random.default_rng(0).integers(0, 11, (32, 12))
    with profile() as prof:
        for _ in range(20):
            model.zero_grad()
            CrossEntropyLoss()(model(ids[:, :-1]), ids[:, 1:]).backward()
    print(prof.table(top=12))


if __name__ == "__main__":
    profile_gpt_step()

# %% [markdown]
# ## Done
#
# `tito module complete 09` exports the profiler into `tinytorch/perf/profiling.py`:
#
# ```python
# from tinytorch.perf import count_parameters, model_bytes, profile, time_function
# with profile() as prof:
#     model(ids)
# print(prof.table())
# ```
#
# You now know what the milestone GPT costs: its bytes, its multiply-adds per token,
# its time per step and which operation spends it. Module 10 makes it four times smaller.
