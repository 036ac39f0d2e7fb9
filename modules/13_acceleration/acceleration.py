# %% [markdown]
# # Module 13 — Acceleration: fast NumPy
#
# *Where the time goes in NumPy code, and how to win it back.*
#
# Module 09's profile held a surprise: in a training step of the milestone GPT, the
# operations with **no** multiply-adds — LayerNorm, GELU, softmax — took more than half
# the time. Module 12's cache cut the positions 35-fold but the time only 2–4-fold. Both
# say the same thing: at the sizes of this course, the arithmetic is not the
# bottleneck. Something else is. This module finds it, in seven measured lessons, each
# a rule you can apply to any NumPy (or PyTorch) code:
#
# | lesson | the rule | measured here |
# |---|---|---|
# | vectorize | never loop in Python over numbers; turn loops into array operations, ideally a matrix product | 430× |
# | batch | one call on 64 sequences, not 64 calls on one | 28× the tokens per second |
# | fuse | fewer passes over memory and no temporary arrays; blocks that stay in the cache | LayerNorm 1.4×; GELU with its derivative 3.3×; attention 1.2× |
# | dtype | float32 unless you need float64; watch for silent upcasts | 2× |
# | layout | operate on memory in the order it is stored | 7× |
# | memory and cores | reuse freed memory; spread only large products over cores | 2× (a LeNet-5 step); 2× or 0.03× (a product on two cores) |
# | data parallelism | two cores for everything: half the batch each | 1.8× (a GPT step on 2 cores) |
#
# The numbers were measured on the course machine (one BLAS thread); run the cells to
# get yours. The functions you write here are exported, and `fuse_for_inference` turns
# any model's LayerNorms and GELUs into their fused versions — the milestone uses it.
#
# **The cost model.** Every NumPy call has a fixed overhead — measured here, 0.3 µs for
# `a + a` on 32 numbers, 1.4 µs for `a.sum()`, 2.9 µs for a `Tensor` addition through
# autograd — plus a cost per element (a pass over memory). A Python loop adds about
# 20 ns per iteration before any of that. Small arrays are overhead-bound, large ones
# memory-bound, and only matrix products are compute-bound: an `n × n` product does
# about `n` multiply-adds per number it loads, an elementwise op one.

# %%
#| default_exp perf.acceleration
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer 09_profiling 10_quantization 12_kv_cache
#| export
import copy
import math

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import LayerNorm
from tinytorch.nn.modules import GELU, Module
from tinytorch.quant.int8 import replace_modules

# %% [markdown]
# ## 1. Vectorize: from a loop to a matrix product
#
# The squared distance between every row of `a` `(n, d)` and every row of `b` `(m, d)`
# — nearest-neighbour search over embeddings, k-means, RBF kernels — written as the
# definition, is two nested loops and `n · m` small NumPy calls. Expanding the square
# turns it into one matrix product:
#
# $$\lVert a_i - b_j \rVert^2 = \lVert a_i \rVert^2 + \lVert b_j \rVert^2 - 2\, a_i \cdot b_j$$
#
# The first two terms are vectors, broadcast into an `(n, m)` grid; the third is
# `a @ b.T`, which BLAS computes at full speed. **Measured** for 256 × 256 rows of 64
# numbers: the double loop 126 ms, the vectorized version 0.29 ms — 430× faster.
# Rounding can make a distance of zero come out as −1e-7; clip at 0.

# %%
#| export
def pairwise_sq_distances(a, b):
    """(n, m) squared Euclidean distances between the rows of a (n, d) and b (m, d), without a Python loop."""
    ### BEGIN SOLUTION
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(sq, 0.0)
    ### END SOLUTION


# %%
def pairwise_loop(a, b):
    """The definition, as a double loop (teaching only)."""
    out = np.empty((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = ((a[i] - b[j]) ** 2).sum()
    return out


def test_unit_pairwise_sq_distances():
    """Checks `pairwise_sq_distances` against the double loop: `(n, m)` squared distances, zero on
    the diagonal, never negative. Expand the square as in the text: the two vectors of squared norms
    broadcast as a column and as a row, one matrix product for the cross term, and a clip at 0 for
    rounding.
    """
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    assert np.allclose(pairwise_sq_distances(a, b), pairwise_loop(a, b))
    assert np.allclose(pairwise_sq_distances(a, a).diagonal(), 0.0, atol=1e-9)
    assert pairwise_sq_distances(a, a).min() >= 0, "never negative"


if __name__ == "__main__":
    test_unit_pairwise_sq_distances()


def time_pairwise():
    from tinytorch.perf.profiling import time_function

    a, b = np.random.default_rng(0).normal(size=(2, 256, 64))
    for name, fn in (("loop", pairwise_loop), ("vectorized", pairwise_sq_distances)):
        seconds = np.median(time_function(lambda: fn(a, b), repeat=3 if name == "loop" else 30, warmup=1))
        print(f"pairwise distances, {name}: {seconds * 1e3:.2f} ms")


if __name__ == "__main__":
    time_pairwise()

# %% [markdown]
# ## 2. Batch: many sequences per call
#
# Generating with the KV cache, each step processes one position per sequence — a
# `(B, 1, E)` input. With `B = 1` every operation works on 32 numbers, and the
# per-call overhead is everything. With `B = 64` the same number of calls does 64
# times the work. **Measured** (milestone GPT, 64 new tokens per sequence, with the
# cache), tokens generated per second:
#
# | sequences per call | 1 | 8 | 64 |
# |---|---|---|---|
# | tokens / s | 3,300 | 22,800 | 93,000 |
#
# Throughput rises 7× from 1 to 8 sequences and 28× at 64: the per-call overhead is
# shared by more and more work, until the arithmetic and the memory traffic set the
# pace. The price is **latency**: a
# sequence in a batch of 64 finishes only when all 64 do. Throughput versus latency is
# exactly the trade-off MLPerf's *offline* and *server* scenarios measure (module 14).
#
# `generate_in_batches(model, prompts, max_new_tokens, batch_size)` generates greedily,
# with the cache, for `prompts` `(N, T)` in chunks of `batch_size` sequences, and
# returns all `N` results `(N, T + max_new_tokens)` — the same tokens whatever the batch
# size (each sequence's computation is independent of the others in its batch).

# %%
#| export
def generate_in_batches(model, prompts, max_new_tokens, batch_size=64):
    """Greedy cached generation for prompts (N, T), ``batch_size`` sequences per call; returns (N, T + new) ids."""
    prompts = np.asarray(prompts.data if isinstance(prompts, Tensor) else prompts, dtype=np.int64)
    ### BEGIN SOLUTION
    parts = [model.generate(prompts[i:i + batch_size], max_new_tokens, greedy=True, use_cache=True).data
             for i in range(0, len(prompts), batch_size)]
    return np.concatenate(parts, axis=0)
    ### END SOLUTION


# %%
from tinytorch.core.autograd import no_grad
from tinytorch.perf.profiling import milestone_gpt


def test_unit_generate_in_batches():
    """Checks `generate_in_batches`: whatever the `batch_size` (1, 4, 10 or 64 for 10 prompts), the
    result equals greedy generation of all prompts at once. Take the prompts in consecutive chunks
    of `batch_size` (the last one may be shorter), generate each greedily with the cache, and stack
    the results back in order along the batch axis.
    """
    model = milestone_gpt()
    prompts = np.random.default_rng(0).integers(0, 11, (10, 7))
    expected = model.generate(prompts, 12, greedy=True).data
    for batch_size in (1, 4, 10, 64):
        out = generate_in_batches(model, prompts, 12, batch_size=batch_size)
        assert out.shape == (10, 19) and np.array_equal(out, expected), batch_size


if __name__ == "__main__":
    test_unit_generate_in_batches()

# %%
def time_batched_generation():
    from tinytorch.perf.profiling import time_function

    model = milestone_gpt()
    prompts = np.random.default_rng(0).integers(0, 11, (64, 7))
    for batch_size in (1, 8, 64):
        seconds = np.median(time_function(lambda: generate_in_batches(model, prompts, 64, batch_size), repeat=3, warmup=1))
        print(f"batch {batch_size}: {64 * 64 / seconds:,.0f} tokens/s")


if __name__ == "__main__":
    time_batched_generation()

# %% [markdown]
# ## 3. Fuse: one pass, no temporaries
#
# `0.5 * x * (1 + tanh(c * (x + 0.044715 * x**3)))` looks like one line. NumPy runs it
# as nine operations, and each one **allocates a new array the size of `x`** and makes a
# full pass over memory. For a large `x` the arithmetic is free; the allocations and the
# passes are the cost. And allocations are dearer than they look: an array above a
# few hundred kilobytes is fresh memory from the operating system, and the first write to
# every 4 KB page of it is a page fault. (Module 10 met this: `(x @ q.T) * s + b` was
# four times slower than the matrix product alone, because of two temporaries.)
#
# **Fusion** computes the chain with as few arrays as possible. GPUs fuse into a single
# kernel (what `torch.compile` generates); in NumPy we get most of the way with
# in-place operations: allocate one output buffer, then `buf *= x`, `np.tanh(buf,
# out=buf)`, … each step rewrites it. **Measured** on a `(64, 128, 512)` float32 array
# (16 MB, `time_fusion()` below, one thread of a 2-core Xeon): LayerNorm 11.6 ms as
# module 08's op, 8.1 ms fused (1.4×). GELU is 9.2 ms as module 03's op and 9.3 ms fused:
# module 03 already writes it this way. On the milestone GPT's much smaller activations,
# `(32, 12, 32)`, fusing still gains 1.3–1.5× (GELU 0.028 → 0.021 ms, LayerNorm 0.062 →
# 0.041 ms): the per-call overhead is a larger share there.
#
# **Blocks.** A fused chain still streams its arrays from memory once per operation when
# they are larger than a core's cache (its L2: one or two megabytes). Module 00's
# `in_blocks(fn, x, ...)` runs `fn` on blocks of `x`'s rows of about 128 KB, so that the
# whole chain works on one block while it is in the cache. It pays when a chain is long
# and its arrays are many: GELU's forward pass *with* its derivative (module 03, fourteen
# operations, three arrays) on a `(16, 128, 512)` layer takes 6.0 ms whole and 2.4 ms in
# blocks (8.0 ms written one expression per line), and Adam's update of an MLP's 5.8
# million weights 22.3 ms whole and 17.8 ms in blocks (module 04). A short chain gains
# little, and a row-wise reduction such as LayerNorm's mean can lose: measure first.
#
# For LayerNorm there is one more trick: the variance needs `Σ (x − μ)²` per row, and
# `(c * c).mean(-1)` builds a full-size temporary to sum it. `np.einsum("ij,ij->i", c, c)`
# computes the sums of squares directly, without it.
#
# Both fused functions are for **inference**: they build no graph and keep nothing for
# a backward pass (training needs those temporaries — module 08's op saves `x̂` on
# purpose). Write them with exactly one output-sized allocation.

# %%
#| export
_GELU_C = math.sqrt(2.0 / math.pi)


def fused_gelu(x):
    """GELU (tanh approximation) of a float array with one output-sized allocation (inference only)."""
    ### BEGIN SOLUTION
    buf = x * x
    buf *= x
    buf *= 0.044715
    buf += x
    buf *= _GELU_C
    np.tanh(buf, out=buf)
    buf += 1.0
    buf *= x
    buf *= 0.5
    return buf
    ### END SOLUTION


def fused_layer_norm(x, weight, bias, eps=1e-5):
    """LayerNorm over the last ``weight.ndim`` dims with one output-sized allocation (inference only)."""
    axes = tuple(range(-weight.ndim, 0))
    ### BEGIN SOLUTION
    out = x - x.mean(axis=axes, keepdims=True)
    rows = out.reshape(-1, weight.size)
    inv_std = np.einsum("ij,ij->i", rows, rows)
    inv_std /= weight.size
    inv_std += eps
    np.sqrt(inv_std, out=inv_std)
    rows /= inv_std[:, None]
    out *= weight
    out += bias
    return out
    ### END SOLUTION


class FusedGELU(Module):
    """Inference-only GELU: fused_gelu, no graph."""

    def forward(self, x):
        return Tensor._wrap(fused_gelu(x.data))


class FusedLayerNorm(Module):
    """Inference-only LayerNorm sharing a LayerNorm's weight and bias: fused_layer_norm, no graph."""

    def __init__(self, norm):
        super().__init__()
        self.normalized_shape, self.eps = norm.normalized_shape, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x):
        return Tensor._wrap(fused_layer_norm(x.data, self.weight.data, self.bias.data, self.eps))


def fuse_for_inference(model, inplace=False):
    """A copy of ``model`` (or the model itself) whose tanh-form GELUs and LayerNorms are the fused, inference-only ones."""
    target = model if inplace else copy.deepcopy(model)
    replace_modules(target, lambda m: type(m) is GELU and m.approximate == "tanh", lambda m: FusedGELU())
    replace_modules(target, lambda m: type(m) is LayerNorm, FusedLayerNorm)
    return target


# %%
def test_unit_fusion():
    """Checks `fused_gelu` and `fused_layer_norm` against `GELUOp` and `LayerNormOp` (a 2-D `weight`
    too), float32 results, an untouched input, and `fuse_for_inference` on the GPT. The one
    allocation must be a *new* array that every later step rewrites in place (`*=`, `+=`, `out=`); a
    step in place on `x` itself corrupts the caller's data, and with a 2-D weight each row's
    statistics cover as many numbers as the weight holds.
    """
    from tinytorch.models.transformer import LayerNormOp
    from tinytorch.nn.modules import GELUOp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 16)).astype(np.float32)
    w, b = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32)
    with no_grad():
        assert np.allclose(fused_gelu(x), GELUOp.apply(Tensor(x), approximate="tanh").data, atol=1e-6)
        assert np.allclose(fused_layer_norm(x, w, b), LayerNormOp.apply(Tensor(x), Tensor(w), Tensor(b)).data, atol=1e-5)
        w2 = rng.normal(size=(6, 16)).astype(np.float32)
        assert np.allclose(fused_layer_norm(x, w2, 0 * w2), LayerNormOp.apply(Tensor(x), Tensor(w2), Tensor(0 * w2)).data, atol=1e-5)
    assert fused_gelu(x).dtype == np.float32 and x.std() > 0.5, "float32 in, float32 out; the input is untouched"
    model = milestone_gpt()
    fast = fuse_for_inference(model)
    names = {type(m).__name__ for m in [fast.ln_f, fast.blocks[0].ln1, fast.blocks[1].ff.act]}
    assert names == {"FusedLayerNorm", "FusedGELU"} and type(model.ln_f) is LayerNorm, "a copy by default"
    ids = rng.integers(0, 11, (3, 12))
    with no_grad():
        assert np.allclose(fast(ids).data, model(ids).data, atol=1e-4)


if __name__ == "__main__":
    test_unit_fusion()

# %%
def time_fusion():
    from tinytorch.models.transformer import LayerNormOp
    from tinytorch.nn.modules import GELUOp
    from tinytorch.perf.profiling import time_function

    for shape in ((64, 128, 512), (32, 12, 32)):
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        w, b = np.ones(shape[-1], np.float32), np.zeros(shape[-1], np.float32)
        with no_grad():
            cases = {
                "GELU op": lambda: GELUOp.apply(Tensor._wrap(x), approximate="tanh"), "GELU fused": lambda: fused_gelu(x),
                "LayerNorm op": lambda: LayerNormOp.apply(Tensor._wrap(x), Tensor._wrap(w), Tensor._wrap(b)),
                "LayerNorm fused": lambda: fused_layer_norm(x, w, b),
            }
            for name, fn in cases.items():
                print(f"{shape} {name}: {np.median(time_function(fn, repeat=30, warmup=3)) * 1e3:.3f} ms")


if __name__ == "__main__":
    time_fusion()

# %% [markdown]
# ### Fused attention, for training too
#
# Attention is the chain that costs a GPT the most outside its matrix products. For every
# head it makes a `(T, T)` grid of scores, adds the mask, and takes a softmax; the
# backward pass walks the same grids again. At the scaling benchmark's GPT size (16
# sequences × 4 heads × 128 × 128 positions) each grid of the batch is 4 MB, far more
# than a core's cache, and module 07's `_attention` passes over it about a dozen times —
# each pass streamed from main memory.
#
# `BlockedAttentionOp` (given: it is long, and the lesson is its shape) computes the same
# `softmax(q kᵀ · scale + mask) v` a few heads at a time, so that each head's scores are
# made, masked, normalised and used while they are in the cache — the idea of
# FlashAttention (Dao et al. 2022), without its running softmax: the weights of every
# head are still kept for the backward pass, which walks them in the same blocks. One
# `Function` holds forward and backward together, as every op of module 02 does.
# `fused_attention` takes `_attention`'s arguments and falls back to it where the blocks
# would not give the same answer (dropout, a query that may attend to nothing, inputs
# that are not `(B, H, T, d)`). The weights it returns carry no gradient, as PyTorch's
# fused kernels return none. `with use_fused_attention():` makes module 07's attention
# (`MultiHeadAttention`, `scaled_dot_product_attention`, and so the GPT and the KV cache)
# use it, the way `torch.backends` switches PyTorch's attention kernels.
#
# Two more details, each measured on a block of four heads' 128 × 128 scores. NumPy
# reduces *down the columns* of an array (adding or comparing whole rows at once) much
# faster than *along* short rows (one small loop per row): a max over the last axis
# took 54 µs, over the one before it 15 µs. So the op makes the scores transposed,
# `k qᵀ` (one key per row, one query per column) — the same product, in BLAS's other
# order — and each query's softmax runs down its column. And the backward pass needs,
# for every query, `Σ_keys dw·w` (softmax's backward); with `dw = g vᵀ` and `out = w v`
# that is just `g·out`, a sum over the `d` numbers of a head (FlashAttention's `D`)
# instead of over the `T` keys: no product of two score grids at all.
#
# **Measured** (one thread, 2-core Xeon): forward and backward of the attention core of
# that GPT layer (`time_fused_attention()` below), 11.6–12.7 ms as module 07 computes it,
# 9.6–10.5 ms in blocks, 8.2–8.4 ms with the two details above; a whole training step of
# the scaling benchmark's GPT (before the two details)
# (`benchmarks/bench_scaling.py --fused-attention`), 6–8 % faster at d_model 128 (107 → 98
# and 112 → 105 ms in two runs of alternating rounds) and 11–12 % at d_model 64 (54 → 48,
# 57 → 51 ms), where attention is a larger share; and its step needs a fifth less memory
# (99 → 80 MiB at d_model 128); the two details took the step at d_model 128 a further
# 3 % (98.4 → 95.1 ms, alternating rounds in one process). PyTorch's kernel goes
# further: it also skips the masked half of causal attention, and never writes the
# weights out at all (it recomputes them in the backward pass).

# %%
#| export
import tinytorch.nn.attention as _attention_module
from tinytorch.core.autograd import Function

_plain_attention = _attention_module._attention  # module 07's, before any switch
SCORES_PER_BLOCK = 1 << 16  # scores of one block (256 KB of float32): a few heads of 128 x 128


def _head_blocks(batch, heads, per_block):
    """Indices covering (batch, heads) in blocks of about ``per_block`` heads: whole batch items
    when one's heads fit in a block, else one batch item's heads a few at a time."""
    if per_block >= heads:
        items = per_block // heads
        return [(slice(b, b + items),) for b in range(0, batch, items)]
    return [(b, slice(h, h + per_block)) for b in range(batch) for h in range(0, heads, per_block)]


class BlockedAttentionOp(Function):
    """softmax(q kᵀ · scale + bias) v for q (B, H, T, d), k and v (B, H, S, d), a block of heads at a time."""

    @staticmethod
    def forward(ctx, q, k, v, bias, scale=1.0, weights_out=None, scores_per_block=SCORES_PER_BLOCK):
        (batch, heads, length, _), keys = q.shape, k.shape[-2]
        dtype = np.result_type(q, k, v)
        bias = np.asarray(bias).reshape((1,) * max(0, 2 - np.ndim(bias)) + np.shape(bias))  # at least 2-D
        bias_t = np.broadcast_to(np.ascontiguousarray(np.swapaxes(bias, -1, -2)), (batch, heads, keys, length))
        weights_t = np.empty((batch, heads, keys, length), dtype)  # transposed: one key per row
        out = np.empty((batch, heads, length, v.shape[-1]), dtype)
        blocks = _head_blocks(batch, heads, max(1, scores_per_block // (length * keys)))
        for ix in blocks:
            s = weights_t[ix]  # this block's scores (k qᵀ), computed where its weights are kept
            np.matmul(k[ix], np.swapaxes(q[ix] * scale, -1, -2), out=s)
            s += bias_t[ix]
            s -= s.max(axis=-2, keepdims=True)  # each query's softmax runs down its column
            np.exp(s, out=s)
            s /= s.sum(axis=-2, keepdims=True)
            np.matmul(np.swapaxes(s, -1, -2), v[ix], out=out[ix])
        ctx.save_for_backward(q, k, v, weights_t, out)
        ctx.scale, ctx.blocks = scale, blocks
        if weights_out is not None:  # fused_attention returns them, as _attention does
            weights_out.append(np.swapaxes(weights_t, -1, -2))
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, weights_t, out = ctx.saved_tensors
        dq, dk, dv = (np.empty(x.shape, grad.dtype) for x in (q, k, v))
        for ix in ctx.blocks:
            w, g = weights_t[ix], grad[ix]
            np.matmul(w, g, out=dv[ix])
            ds = v[ix] @ np.swapaxes(g, -1, -2)  # the gradient of the weights, then of the scores:
            ds -= np.einsum("...td,...td->...t", g, out[ix])[..., None, :]  # softmax's backward,
            ds *= w  # w·(dw − Σ_keys dw·w), and Σ_keys dw·w = g·out for each query
            ds *= ctx.scale
            np.matmul(np.swapaxes(ds, -1, -2), k[ix], out=dq[ix])
            np.matmul(ds, q[ix], out=dk[ix])
        return dq, dk, dv, None


def fused_attention(q, k, v, masks=(), dropout_p=0.0, scale=None):
    """Module 07's ``_attention`` (same arguments, same results), computed by BlockedAttentionOp
    where that gives the same answer; the weights it returns carry no gradient."""
    parts = [_attention_module._mask_parts(mask, q.dtype) for mask in masks]
    blocked = None
    for _, blocks in parts:
        blocked = blocks if blocked is None else blocked | blocks
    if dropout_p > 0.0 or not q.ndim == k.ndim == v.ndim == 4 or (blocked is not None and blocked.all(axis=-1).any()):
        return _plain_attention(q, k, v, masks, dropout_p, scale)  # where blocks would not give the same answer
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = sum(part for part, _ in parts) if parts else np.zeros((1, 1), q.dtype)
    weights = []
    out = BlockedAttentionOp.apply(q, k, v, bias, scale=scale, weights_out=weights)
    return out, Tensor._wrap(weights[0])


class use_fused_attention:
    """``with use_fused_attention():`` module 07's attention runs as ``fused_attention`` (a switch
    for the whole process, like ``torch.backends``' attention kernels); off again at the end."""

    def __enter__(self):
        self._previous = _attention_module._attention
        _attention_module._attention = fused_attention
        return self

    def __exit__(self, *exc):
        _attention_module._attention = self._previous


# %%
def test_unit_fused_attention():
    """Checks `fused_attention` against module 07's `_attention` — outputs, weights and the
    gradients of q, k and v, with no mask, causal, padding and float masks and cross-attention;
    `BlockedAttentionOp` in blocks of a few heads and of a few batch items; the fall-backs
    (dropout, a query with nothing to attend to); and a GPT under `use_fused_attention()`.
    Given code: if it fails, module 07's attention and this one disagree — check `_attention`.
    """
    import contextlib

    rng = np.random.default_rng(0)
    B, H, T, D = 3, 4, 20, 8
    causal = np.tril(np.ones((T, T), dtype=bool))
    padding = np.ones((B, 1, 1, T), dtype=bool)
    padding[1, ..., 15:] = False  # the second sequence is 15 long
    cases = {"no mask": ([], T), "causal": ([causal], T), "causal and padding": ([causal, padding], T),
             "float mask": ([rng.normal(size=(T, T))], T), "cross-attention": ([], 13)}

    def attend(function, q, k, v, seed, masks=(), **options):
        tensors = [Tensor(x, dtype=np.float64, requires_grad=True) for x in (q, k, v)]
        out, weights = function(*tensors, masks, **options)
        (out * Tensor(seed, dtype=np.float64)).sum().backward()
        return [out.data, weights.data] + [t.grad.data for t in tensors]

    for name, (masks, keys) in cases.items():
        q, seed = rng.normal(size=(2, B, H, T, D))
        k, v = rng.normal(size=(2, B, H, keys, D))
        for plain, fused in zip(attend(_plain_attention, q, k, v, seed, masks), attend(fused_attention, q, k, v, seed, masks)):
            assert np.allclose(plain, fused, atol=1e-10), name
    q, k, v, seed = rng.normal(size=(4, B, H, T, D))
    whole = attend(fused_attention, q, k, v, seed, [causal])
    bias = np.where(causal, 0.0, -1e9)
    for per_block in (2 * T * T, 2 * H * T * T):  # two heads of a batch item; two batch items (and one)
        def blocked(tq, tk, tv, masks):
            return BlockedAttentionOp.apply(tq, tk, tv, bias, scale=1 / math.sqrt(D), scores_per_block=per_block), whole[1]
        assert all(np.allclose(a, b, atol=1e-10) for a, b in zip(attend(blocked, q, k, v, seed), whole)), per_block
    x = Tensor(q, requires_grad=True)
    assert fused_attention(x, x, x, [], dropout_p=0.5)[0]._ctx.function is not BlockedAttentionOp
    nobody = causal.copy()
    nobody[3] = False  # query 3 may attend to nothing: PyTorch gives it 0
    out, _ = fused_attention(x, x, x, [nobody])
    assert out._ctx.function is not BlockedAttentionOp and np.all(out.data[:, :, 3] == 0)
    model, ids = milestone_gpt(), rng.integers(0, 11, (2, 12))
    grads = []
    for switch in (False, True):
        model.zero_grad()
        with use_fused_attention() if switch else contextlib.nullcontext():
            model(ids).sum().backward()
        grads.append([p.grad.data.copy() for p in model.parameters()])
    assert _attention_module._attention is _plain_attention, "the switch is off again after the with"
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(*grads))


if __name__ == "__main__":
    test_unit_fused_attention()


# %%
def time_fused_attention():
    from tinytorch.perf.profiling import time_function

    rng = np.random.default_rng(0)
    q, k, v, seed = (rng.normal(size=(16, 4, 128, 32)).astype(np.float32) for _ in range(4))
    causal = np.tril(np.ones((128, 128), dtype=bool))
    for name, function in (("module 07", _plain_attention), ("fused", fused_attention)):
        def step():
            tensors = [Tensor(x, requires_grad=True) for x in (q, k, v)]
            (function(*tensors, [causal])[0] * Tensor(seed)).sum().backward()
        print(f"attention core, forward and backward, {name}: {np.median(time_function(step, repeat=20, warmup=2)) * 1e3:.1f} ms")


if __name__ == "__main__":
    time_fused_attention()

# %% [markdown]
# ## 4. dtype: float32, and no silent upcasts
#
# A float64 number is 8 bytes, a float32 one 4: float64 arrays move twice the memory and
# BLAS multiplies half as many per instruction. **Measured:** a 512 × 512 matrix product
# takes 2.6 ms in float32 and 5.2 ms in float64. Deep learning needs float64 almost
# never (the gradient checks of modules 02–08 are the exception), which is why `Tensor`
# defaults to float32 — and GPUs go further down, to bfloat16 and int8 (module 10).
#
# The trap is the **silent upcast**: NumPy computes in the widest dtype of its inputs,
# so one float64 array anywhere in a chain makes everything after it float64, twice as
# slow. Python numbers are safe (`x * 0.5` stays float32); arrays are not
# (`x + np.ones(3)` is float64, because `np.ones` defaults to float64). When a model
# suddenly runs at half speed, print the dtypes.

# %%
def test_unit_upcasts():
    """Checks NumPy's dtype rules of lesson 4: a Python float keeps float32, a float64 array
    upcasts, and `Tensor` turns float64 data into float32 on the way in. Nothing to write here; if
    the last line fails, your `Tensor(...)` of module 01 keeps float64 arrays as float64.
    """
    x = np.ones(3, dtype=np.float32)
    assert (x * 0.5).dtype == np.float32, "a Python float does not upcast"
    assert (x + np.ones(3)).dtype == np.float64, "a float64 array does"
    assert (x + np.ones(3, dtype=np.float32)).dtype == np.float32
    assert (Tensor([1.0, 2.0]) * Tensor(np.ones(2))).dtype == np.float32, "Tensor converts to float32 on the way in"


if __name__ == "__main__":
    test_unit_upcasts()

# %% [markdown]
# ## 5. Layout: walk memory in the order it is stored
#
# A 2-D NumPy array is one block of memory plus **strides**: how many bytes to skip for
# one step along each dimension. A C-ordered (row-major) float32 array of shape
# `(2000, 2000)` has strides `(8000, 4)`: the next column is 4 bytes away, the next row
# 8,000. `a.T` copies nothing — it swaps the strides to `(4, 8000)` — so walking `a.T`
# row by row jumps 8,000 bytes at every step, and every jump misses the CPU cache.
#
# **Measured** on `(2000, 2000)` float32: `a + a` 0.63 ms, `a + a.T` 4.5 ms (7×), and
# `a.T.copy()` 4.3 ms against 0.68 ms for `a.copy()`. Transposes are free until you
# compute on them. Attention's `_merge_heads` (module 07) does a `transpose` then a
# `reshape`, and the reshape of a non-contiguous array must copy; layers that use the
# result repeatedly benefit from one `np.ascontiguousarray` up front.
#
# `contiguous_strides(shape, itemsize)` computes the strides of a C-contiguous array:
# the last dimension steps by `itemsize`, each earlier one by the size in bytes of
# everything after it. An array is C-contiguous exactly when its strides equal these.

# %%
#| export
def contiguous_strides(shape, itemsize):
    """The strides (bytes per step along each dimension) of a C-contiguous array of ``shape``."""
    ### BEGIN SOLUTION
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))
    ### END SOLUTION


# %%
def test_unit_contiguous_strides():
    """Checks `contiguous_strides` against NumPy's own strides: `(8000, 4)` for a `(2000, 2000)`
    float32 array, transposes that are not contiguous, and `()` for a 0-d shape. The last dimension
    steps by `itemsize`, each earlier one by the bytes of everything after it, so the tuple is built
    from the back.
    """
    a = np.zeros((2000, 2000), dtype=np.float32)
    assert contiguous_strides(a.shape, 4) == a.strides == (8000, 4)
    assert a.T.strides == (4, 8000) and a.T.strides != contiguous_strides(a.T.shape, 4), "a transpose is a view"
    heads = np.zeros((2, 4, 5, 8)).transpose(0, 2, 1, 3)
    assert heads.strides != contiguous_strides(heads.shape, 8)
    assert np.ascontiguousarray(heads).strides == contiguous_strides(heads.shape, 8) == (1280, 256, 64, 8)
    assert contiguous_strides((), 4) == ()


if __name__ == "__main__":
    test_unit_contiguous_strides()

# %%
def time_layout_and_dtype():
    from tinytorch.perf.profiling import time_function

    a = np.random.default_rng(0).normal(size=(2000, 2000)).astype(np.float32)
    m32 = a[:512, :512].copy()
    m64 = m32.astype(np.float64)
    for name, fn in (("a + a", lambda: a + a), ("a + a.T", lambda: a + a.T), ("a.copy()", a.copy),
                     ("a.T.copy()", lambda: a.T.copy()), ("matmul float32", lambda: m32 @ m32),
                     ("matmul float64", lambda: m64 @ m64)):
        print(f"{name}: {np.median(time_function(fn, repeat=20, warmup=2)) * 1e3:.2f} ms")


if __name__ == "__main__":
    time_layout_and_dtype()

# %% [markdown]
# ## 6. Memory that stays, and cores that pay
#
# Two costs hide *between* NumPy's operations. Module 00 sets both for the whole
# package; here is what they are and how to see them.
#
# **Page faults.** A training step makes the same big arrays at every step. By default
# glibc's `malloc` gives a large block back to the operating system when NumPy frees it,
# so the next step's array is fresh memory again, and the first write to each 4 KB page
# of fresh memory is a page fault — a trip into the kernel, which also zeroes the page.
# Count them with `resource.getrusage(resource.RUSAGE_SELF).ru_minflt` before and after
# a step. **Measured**, one LeNet-5 step (28×28 images, batch 64): 2,900 page faults and
# 16 ms of CPU time, half of it in the kernel; with module 00's `_keep_freed_memory()`
# (`malloc` keeps freed blocks up to 256 MiB for reuse) 0 faults and 8 ms. This is also
# why in-place tricks (lesson 3) now buy less than they used to: a temporary array costs
# its pass over memory, no longer its page faults.
#
# **Threads.** OpenBLAS can split one matrix product over every core. **Measured** on
# the course machine (2 cores): a 2048³ product runs at 101 GFLOP/s on one thread and
# 196 on two when the machine is otherwise idle; a 256³ product takes 0.33 ms on one
# thread and 16 ms on two while other programs keep the cores busy — one of its two
# halves waits for a core for a whole scheduler time slice. So module 00 runs a product
# on every core only from `PARALLEL_MACS` (2²⁴) multiply-adds up, the test suite pins
# one thread, and on a shared machine `set_num_threads(1)` is the safe choice.
# Everything that is not a product — elementwise operations, reductions, copies — NumPy
# runs on one core whatever you set: on two threads a GPT step's products take half the
# time and the rest the same, which is why PyTorch, whose elementwise kernels use every
# thread too, pulls ahead there. `time_threads()` measures your machine.

# %%
def time_threads():
    """Products of three sizes on one BLAS thread and on two (the BLAS set directly, not by size)."""
    from tinytorch.core import setup
    from tinytorch.perf.profiling import time_function

    if setup._blas is None:
        print("threadpoolctl cannot control this NumPy's BLAS")
        return
    for size in (128, 256, 1024):
        a = np.random.default_rng(0).random((size, size), dtype=np.float32)
        for threads in (1, 2):
            setup._blas.set_num_threads(threads)
            seconds = np.median(time_function(lambda: a @ a, repeat=20, warmup=2))
            print(f"{size}³ product on {threads} thread(s): {seconds * 1e3:.3f} ms")
        setup._blas.set_num_threads(1)


if __name__ == "__main__":
    time_threads()

# %% [markdown]
# ## 7. Two cores for everything: data parallelism
#
# Lesson 6 ended on a limit: BLAS threads share out the products, and NumPy runs all
# the rest on one core. Multi-GPU training has the answer, **data parallelism**: split
# the batch into as many parts as there are workers; every worker runs the forward and
# backward pass of its part with the *same* parameters; a parameter's gradient is the
# sum of the workers' gradients. For a mean loss, weight each part's loss by its share
# of the batch, `n_part / n`: the sum is then exactly the gradient of the whole batch's
# mean loss (up to rounding), and the weighted losses add up to the batch's loss.
#
# On one machine the workers can be threads. NumPy lets go of Python's global
# interpreter lock inside its array loops and its BLAS calls, so two threads' arrays are
# computed on two cores at once, while the Python between them takes turns. Each
# worker's products run on one BLAS thread — the workers are the parallelism — and
# module 02's backward pass adds to a parameter's `.grad` under a lock, since both
# workers reach the same parameters.
#
# `parallel_backward(loss_of, *batch, workers=None)` replaces `loss.backward()`: it
# splits every array of `batch` along its first dimension into `workers` parts (by
# default `get_num_threads()`, module 00), runs `loss_of(*part)` and its backward pass
# for each part on its own thread, and returns the batch's loss as a number.
#
# ```python
# optimizer.zero_grad()
# loss = parallel_backward(lambda x, y: loss_fn(model(x), y), x, y)
# optimizer.step()
# ```
#
# **Measured** on the course machine (2 cores, nothing else running), one training step
# of module 08's GPT at d_model 128 (16 sequences of 128 tokens): 94 ms on one core,
# 68 ms with BLAS threads on two (the products only), 53 ms with `parallel_backward` on
# two workers. Each worker needs a core of its own: on a machine busy with other
# programs the step waits for the slower worker. And the limits of data parallelism
# anywhere apply: a layer that computes statistics of its batch (`BatchNorm`) sees only
# its part, and `no_grad()` is one switch for the whole process in tinytorch (in
# PyTorch it is per thread), so a forward pass must not switch it.

# %%
#| export
import concurrent.futures

from tinytorch.core.setup import get_num_threads, set_num_threads

_pools = {}


def _pool(workers):
    """A thread pool of ``workers`` threads, made once and reused."""
    if workers not in _pools:
        _pools[workers] = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tinytorch-worker")
    return _pools[workers]


def parallel_backward(loss_of, *batch, workers=None):
    """``loss_of(*batch).backward()`` for a mean loss, the batch split into ``workers`` parts run on
    threads at once; the parameters get the whole batch's gradients. Returns the batch's loss (a float)."""
    workers = get_num_threads() if workers is None else workers
    n = len(batch[0])
    ### BEGIN SOLUTION
    bounds = np.linspace(0, n, workers + 1).round().astype(int)
    parts = [tuple(b[lo:hi] for b in batch) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]

    def run(part):
        loss = loss_of(*part) * (len(part[0]) / n)  # this part's share of the batch's mean
        loss.backward()
        return loss.item()

    if len(parts) == 1:
        return run(parts[0])
    before = get_num_threads()
    set_num_threads(1)  # one BLAS thread per worker: the workers are the parallelism
    try:
        return sum(_pool(len(parts)).map(run, parts))
    finally:
        set_num_threads(before)
    ### END SOLUTION


# %%
def test_unit_parallel_backward():
    """Each part's loss must be weighted by its share of the batch (a mean of means is not the
    batch's mean when the parts differ in size: 7 rows in 3 parts), and every part's
    backward must run before you return, or the gradients are partial."""
    from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)).astype(np.float32), rng.integers(0, 3, 7)
    np.random.seed(0)
    model = Sequential(Linear(5, 16), ReLU(), Linear(16, 3))
    loss_fn = CrossEntropyLoss()
    whole = loss_fn(model(Tensor(x)), y)
    whole.backward()
    expected = [p.grad.data.copy() for p in model.parameters()]
    for workers in (1, 2, 3):
        model.zero_grad()
        loss = parallel_backward(lambda a, b: loss_fn(model(Tensor(a)), b), x, y, workers=workers)
        assert np.isclose(loss, whole.item(), rtol=1e-5), "the weighted parts add up to the batch's loss"
        for p, g in zip(model.parameters(), expected):
            assert np.allclose(p.grad.data, g, atol=1e-6), f"{workers} workers: the whole batch's gradient"
    model.zero_grad()
    ids = rng.integers(0, 11, (4, 12))
    gpt = milestone_gpt()
    parallel_backward(lambda a: gpt(a).mean(), ids, workers=2)
    assert all(p.grad is not None for p in gpt.parameters())


if __name__ == "__main__":
    test_unit_parallel_backward()

# %% [markdown]
# ## Done
#
# `tito module complete 13` exports these tools into `tinytorch/perf/acceleration.py`:
#
# ```python
# from tinytorch.perf import fuse_for_inference, generate_in_batches, parallel_backward
# fast = fuse_for_inference(model)          # the same logits, fewer passes over memory
# loss = parallel_backward(lambda x, y: loss_fn(model(x), y), x, y)   # both cores
# ```
#
# You can now make a model smaller (10, 11) and faster (12, 13). Module 14 measures all
# of it the way the industry does: MLPerf.
