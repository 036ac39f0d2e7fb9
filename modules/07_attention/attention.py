# %% [markdown]
# # Module 07 — Attention
#
# A linear layer mixes the features *of one token*. A convolution mixes a token with a
# fixed window of neighbours. Neither can do what language constantly needs: let a
# token pull information from whichever other token is relevant, however far away.
# In "The animal didn't cross the street because **it** was too tired", `it` needs
# `animal`, nine tokens back; with "because it was too wide" it needs `street`.
#
# **Attention** makes the choice of neighbours itself a computation. Every token emits
#
# - a **query** `q` — what am I looking for?
# - a **key** `k` — what do I contain (as seen by others)?
# - a **value** `v` — what do I hand over if someone attends to me?
#
# Token `i` scores every token `j` by how well its query matches their key (`q_i · k_j`),
# turns the scores into weights that sum to 1 (softmax), and takes the weighted average
# of the values. Everything is matrix products, so all tokens of all sequences are
# processed at once.
#
# | you build | what it does |
# |---|---|
# | `scaled_dot_product_attention(q, k, v, mask)` | `softmax(q kᵀ / √d + mask) v`, batched over any leading dims |
# | `causal_mask(T)` | lets token `i` see only tokens `≤ i` (for text generation) |
# | `MultiHeadAttention(embed_dim, num_heads)` | several attentions in parallel, each in its own subspace |
#
# The softmax is the `SoftmaxOp` you wrote in module 03 — numerically stable, with its
# own one-line backward. Everything else is `@`, `transpose` and `reshape` from modules
# 01–02: autograd differentiates attention for free.

# %%
#| default_exp nn.attention
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear, Module, SoftmaxOp

# %% [markdown]
# ## Masks: who may look at whom
#
# Sometimes a token must *not* see some others:
#
# - a language model predicting token `t+1` from tokens `≤ t` would cheat if position
#   `t` could read position `t+1` — the answer. A **causal mask** allows `j ≤ i` only:
#   a lower-triangular matrix of `True`.
# - padded positions of short sequences in a batch carry no content.
#
# **Convention (PyTorch's `F.scaled_dot_product_attention`): `True` (or 1) = may attend,
# `False` (or 0) = masked out.** A mask has shape `(T_q, T_k)` or anything that
# broadcasts to the scores' shape `(..., T_q, T_k)`. (Careful: `torch.nn.MultiheadAttention`
# uses the opposite meaning for boolean masks; we follow the functional API.)
#
# We apply a mask by *adding* a large negative number to the forbidden scores before the
# softmax: `e^(score - 10⁹)` is exactly 0 in floating point, so those weights vanish and
# so do their gradients. Why not `-inf`? A row with every position masked would become
# `-inf - (-inf) = nan`; a large finite number keeps it finite.

# %%
#| export
MASKED_SCORE = -1e9  # added to the scores of masked-out positions


def causal_mask(size):
    """Boolean (size, size) mask, True on and below the diagonal: position i sees j <= i."""
    ### BEGIN SOLUTION
    return Tensor(np.tril(np.ones((size, size), dtype=bool)), dtype=bool)
    ### END SOLUTION


def _as_mask(mask):
    """A mask (Tensor, array or nested list; True/1 = may attend) as a NumPy bool array."""
    return np.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)


def _mask_bias(mask, dtype):
    """0 where attending is allowed, MASKED_SCORE where it is not (added to the scores)."""
    ### BEGIN SOLUTION
    return np.where(_as_mask(mask), 0.0, MASKED_SCORE).astype(dtype)
    ### END SOLUTION


# %%
def test_unit_causal_mask():
    m = causal_mask(4)
    assert m.shape == (4, 4) and m.dtype == bool
    assert m.data.tolist()[1] == [True, True, False, False], "position 1 sees positions 0 and 1"
    assert m.data.sum() == 10 and not m.data[0, 3] and m.data[3, 0]
    bias = _mask_bias([[1, 0], [1, 1]], np.float32)
    assert bias.dtype == np.float32 and bias[0, 1] == MASKED_SCORE and bias[1, 0] == 0.0


if __name__ == "__main__":
    test_unit_causal_mask()

# %% [markdown]
# ## Scaled dot-product attention
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Bigl(\frac{Q K^\top}{\sqrt{d}}\Bigr)\, V$$
#
# with `Q` of shape `(..., T_q, d)`, `K` `(..., T_k, d)`, `V` `(..., T_k, d_v)`. `Q Kᵀ`
# holds every query–key dot product, `(..., T_q, T_k)`; row `i` of the softmax is how
# token `i` spreads its attention; multiplying by `V` averages the values with those
# weights.
#
# **Why divide by √d?** If the entries of `q` and `k` are independent with variance 1,
# their dot product is a sum of `d` such products: its variance is `d`. With `d = 64`
# the scores have a spread of ±8, softmax saturates — one weight ≈ 1, the rest ≈ 0 —
# and its gradient (`s (g - Σ g s)`) nearly vanishes: the model stops learning where to
# look. Dividing by `√d` brings the variance back to 1, whatever the head size.
#
# The leading dimensions are free: `(B, T, d)` for one head, `(B, H, T, d)` for many
# heads at once — `@` broadcasts over them, so there is no loop over batch or heads.

# %%
#| export
def scaled_dot_product_attention(q, k, v, mask=None, return_weights=False):
    """softmax(q @ kᵀ / √d + mask) @ v for q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v).

    ``mask`` (True/1 = may attend) broadcasts to (..., T_q, T_k). Returns the output
    (..., T_q, d_v), or ``(output, weights)`` with ``return_weights=True``.
    """
    ### BEGIN SOLUTION
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores + _mask_bias(mask, scores.dtype)
    weights = SoftmaxOp.apply(scores, dim=-1)
    out = weights @ v
    ### END SOLUTION
    return (out, weights) if return_weights else out


# %%
def _reference_attention(q, k, v, mask=None):
    """The same formula in plain NumPy, with explicit loops over rows (teaching only)."""
    d = q.shape[-1]
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for index in np.ndindex(q.shape[:-2]):
        for i in range(q.shape[-2]):
            scores = np.array([q[index][i] @ k[index][j] / math.sqrt(d) for j in range(k.shape[-2])])
            if mask is not None:
                scores = np.where(mask[i], scores, -np.inf)
            w = np.exp(scores - scores.max())
            out[index][i] = (w / w.sum()) @ v[index]
    return out


def test_unit_scaled_dot_product_attention():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), return_weights=True)
    assert out.shape == (2, 3, 5, 4) and w.shape == (2, 3, 5, 5)
    assert np.allclose(w.data.sum(-1), 1.0), "each row of weights is a distribution"
    assert np.allclose(out.data, _reference_attention(q, k, v), atol=1e-5)
    mask = causal_mask(5)
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=mask, return_weights=True)
    assert np.all(w.data[..., 0, 1:] == 0.0), "the first token sees only itself"
    assert np.allclose(out.data, _reference_attention(q, k, v, mask.data), atol=1e-5)
    assert np.allclose(out.data[..., 0, :], v[..., 0, :], atol=1e-6)
    big = Tensor(np.full((1, 2, 4), 300.0))
    assert np.all(np.isfinite(scaled_dot_product_attention(big, big, big).data)), "stable softmax"


if __name__ == "__main__":
    test_unit_scaled_dot_product_attention()

# %% [markdown]
# ### Gradients flow through the attention weights
#
# Nothing new is needed for the backward pass: the graph is `@`, `transpose`, `*`, `+`,
# and `SoftmaxOp`, all differentiable. The test below checks one gradient against a
# finite difference, and that a masked-out key gets no gradient from the queries that
# cannot see it.

# %%
def test_unit_attention_backward():
    rng = np.random.default_rng(1)
    q0, k0, v0 = (rng.normal(size=(1, 3, 2)) for _ in range(3))
    q, k, v = (Tensor(a, dtype=np.float64, requires_grad=True) for a in (q0, k0, v0))
    scaled_dot_product_attention(q, k, v).sum().backward()
    eps = 1e-6
    bumped = k0.copy()
    bumped[0, 1, 0] += eps
    up = scaled_dot_product_attention(Tensor(q0, np.float64), Tensor(bumped, np.float64), Tensor(v0, np.float64))
    down = scaled_dot_product_attention(Tensor(q0, np.float64), Tensor(k0, np.float64), Tensor(v0, np.float64))
    numeric = (up.data.sum() - down.data.sum()) / eps
    assert np.isclose(k.grad.data[0, 1, 0], numeric, atol=1e-4)
    k2 = Tensor(k0, dtype=np.float64, requires_grad=True)
    out = scaled_dot_product_attention(Tensor(q0, np.float64), k2, Tensor(v0, np.float64), mask=causal_mask(3))
    out[:, :2].sum().backward()  # only queries 0 and 1, which cannot see key 2
    assert np.allclose(k2.grad.data[0, 2], 0.0), "a masked key receives no gradient"


if __name__ == "__main__":
    test_unit_attention_backward()

# %% [markdown]
# ## Multi-head attention
#
# One attention computes one weighted average per token: it can follow one kind of
# relation at a time. **Multi-head attention** runs `H` attentions in parallel, each
# with its own projections into a smaller space of size `d = embed_dim / H` — one head
# can track "the previous token", another "the subject of this verb" — and then mixes
# their outputs with a final projection. The cost is the same as one big head: `H`
# heads of size `embed_dim / H`.
#
# ```
# x (B, T, E) ─ q_proj ─ reshape (B, T, H, d) ─ transpose → (B, H, T, d) ─┐
#             ─ k_proj ─        ...                              (B, H, T, d) ─┼─ attention → (B, H, T, d)
#             ─ v_proj ─        ...                              (B, H, T, d) ─┘
#   → transpose (B, T, H, d) → reshape (B, T, E) → out_proj → (B, T, E)
# ```
#
# The heads are split with `reshape` + `transpose`, not a Python loop: the head axis
# becomes one more batch dimension for the batched `@`.
#
# With one argument, `forward(x)` is **self-attention** (queries, keys and values all
# come from `x`). `forward(query, key, value)` is the general form — e.g. a translation
# decoder's queries attending to the encoder's keys and values (cross-attention).
# The projections are four `Linear(embed_dim, embed_dim)` layers named as in PyTorch:
# `self.q_proj`, `self.k_proj`, `self.v_proj`, `self.out_proj`. They use Xavier
# initialization (as PyTorch's `MultiheadAttention` does): there is no ReLU after them,
# so the variance-preserving choice is Glorot's.

# %%
#| export
class MultiHeadAttention(Module):
    """Multi-head attention with learned q/k/v/out projections; inputs (B, T, embed_dim)."""

    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        ### BEGIN SOLUTION
        self.q_proj = Linear(embed_dim, embed_dim, bias=bias, init="xavier")
        self.k_proj = Linear(embed_dim, embed_dim, bias=bias, init="xavier")
        self.v_proj = Linear(embed_dim, embed_dim, bias=bias, init="xavier")
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, init="xavier")
        ### END SOLUTION

    def _split_heads(self, x):
        """(B, T, E) -> (B, H, T, d)."""
        ### BEGIN SOLUTION
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        ### END SOLUTION

    def _merge_heads(self, x):
        """(B, H, T, d) -> (B, T, E)."""
        ### BEGIN SOLUTION
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.embed_dim)
        ### END SOLUTION

    def forward(self, query, key=None, value=None, mask=None):
        """Self-attention ``forward(x, mask=...)``, or ``forward(query, key, value, mask)``."""
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(
                    f"MultiHeadAttention: {name} must have shape (B, T, {self.embed_dim}), got {t.shape}"
                )
        ### BEGIN SOLUTION
        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        heads = scaled_dot_product_attention(q, k, v, mask=mask)
        return self.out_proj(self._merge_heads(heads))
        ### END SOLUTION

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


# %%
def test_unit_multi_head_attention():
    np.random.seed(0)
    mha = MultiHeadAttention(8, 2)
    names = [n for n, _ in mha.named_parameters()]
    assert names == [f"{p}_proj.{w}" for p in "qkv" for w in ("weight", "bias")] + ["out_proj.weight", "out_proj.bias"]
    x = Tensor(np.random.normal(size=(3, 5, 8)))
    y = mha(x)
    assert y.shape == (3, 5, 8)
    # the same computation written head by head, with NumPy
    W = {p: getattr(mha, f"{p}_proj") for p in "qkv"}
    proj = {p: x.data @ W[p].weight.data.T + W[p].bias.data for p in "qkv"}
    heads = []
    for h in range(2):
        part = slice(4 * h, 4 * h + 4)
        heads.append(_reference_attention(*(proj[p][..., part] for p in "qkv")))
    expected = np.concatenate(heads, axis=-1) @ mha.out_proj.weight.data.T + mha.out_proj.bias.data
    assert np.allclose(y.data, expected, atol=1e-5)
    # causal: changing the last token leaves every earlier output unchanged
    x2 = Tensor(x.data.copy())
    x2.data[:, -1] += 1.0
    a, b = mha(x, mask=causal_mask(5)), mha(x2, mask=causal_mask(5))
    assert np.allclose(a.data[:, :-1], b.data[:, :-1], atol=1e-6)
    assert not np.allclose(a.data[:, -1], b.data[:, -1])
    # cross-attention: 4 queries attend to 6 keys/values
    memory = Tensor(np.random.normal(size=(3, 6, 8)))
    assert mha(x[:, :4], memory, memory).shape == (3, 4, 8)
    y.sum().backward()
    assert all(p.grad is not None and np.any(p.grad.data) for p in mha.parameters())
    try:
        MultiHeadAttention(10, 3)
    except ValueError as err:
        assert "divisible" in str(err)
    else:
        raise AssertionError("embed_dim not divisible by num_heads must raise")


if __name__ == "__main__":
    test_unit_multi_head_attention()

# %% [markdown]
# ## Done
#
# `tito module complete 07` exports attention into `tinytorch/nn/attention.py`:
#
# ```python
# from tinytorch.nn import MultiHeadAttention, causal_mask
# attn = MultiHeadAttention(embed_dim=32, num_heads=4)
# y = attn(x, mask=causal_mask(x.shape[1]))      # (B, T, 32) -> (B, T, 32)
# ```
#
# Attention alone is not yet a model: module 08 wraps it with normalization, a
# feed-forward network and residual connections into a transformer block, and stacks
# blocks into a small GPT.
