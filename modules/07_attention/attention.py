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
from tinytorch.nn import init
from tinytorch.nn.dropout import dropout
from tinytorch.nn.modules import Linear, Module, SoftmaxOp, softmax

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
# A mask has shape `(T_q, T_k)` or anything that broadcasts to the scores' shape
# `(..., T_q, T_k)`, and comes in two kinds — exactly those of PyTorch's
# `F.scaled_dot_product_attention`:
#
# - a **boolean** mask: `True` = may attend, `False` = masked out (integer 0/1 masks
#   are read the same way);
# - a **float** mask is *added* to the scores: 0 where attending is allowed, a large
#   negative number or `-inf` where it is not (and any other value to bias the scores,
#   as ALiBi does).
#
# Careful: a float 0/1 mask is *not* a boolean one — 1 added to a score barely changes
# it. (`torch.nn.MultiheadAttention` uses yet another convention for boolean masks,
# `True` = *not* allowed; see `MultiheadAttention` below.)
#
# Internally every mask becomes a float one: we *add* a large negative number to the
# forbidden scores before the softmax; `e^(score - 10⁹)` is exactly 0 in floating point,
# so those weights vanish and so do their gradients. Why not `-inf`? A query whose every
# key is masked (a padding position, say) would become `-inf - (-inf) = nan`. We keep
# such rows finite, and then give them what PyTorch gives them: an output of 0 (there
# is nothing to attend to), not the average of the values that a softmax of equal
# scores would produce. So `_mask_parts` returns, for each mask, the float bias to add
# and which keys it blocks (`False` in a boolean mask, `-inf` in a float one). Masks are
# constants here (PyTorch would also differentiate a float mask that requires grad).

# %%
#| export
MASKED_SCORE = -1e9  # added to the scores of masked-out positions


def causal_mask(size):
    """Boolean (size, size) mask, True on and below the diagonal: position i sees j <= i."""
    ### BEGIN SOLUTION
    return Tensor(np.tril(np.ones((size, size), dtype=bool)), dtype=bool)
    ### END SOLUTION


def _mask_parts(mask, dtype):
    """(bias added to the scores, blocked keys) for a boolean (True = may attend) or a float mask."""
    ### BEGIN SOLUTION
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer):
        blocked = ~m.astype(bool)
        return np.where(blocked, MASKED_SCORE, 0.0).astype(dtype), blocked
    blocked = np.isneginf(m)
    return np.where(blocked, MASKED_SCORE, m).astype(dtype), blocked
    ### END SOLUTION


# %%
def test_unit_causal_mask():
    """Checks `causal_mask(T)` (a bool Tensor, True on and below the diagonal) and `_mask_parts`: a
    bool or 0/1 integer mask becomes a bias of `MASKED_SCORE` where it is False and 0 elsewhere, a
    float mask is added as it is with −inf made `MASKED_SCORE`; both come back with the keys they
    block, in the scores' dtype. In a bool mask False blocks, in a float mask −inf does.
    """
    m = causal_mask(4)
    assert m.shape == (4, 4) and m.dtype == bool
    assert m.data.tolist()[1] == [True, True, False, False], "position 1 sees positions 0 and 1"
    assert m.data.sum() == 10 and not m.data[0, 3] and m.data[3, 0]
    bias, blocked = _mask_parts([[True, False], [True, True]], np.float32)
    assert bias.dtype == np.float32 and bias[0, 1] == MASKED_SCORE and bias[1, 0] == 0.0
    assert blocked.tolist() == [[False, True], [False, False]]
    bias, blocked = _mask_parts(np.array([[0.0, -np.inf], [0.5, 0.0]]), np.float64)
    assert bias.tolist() == [[0.0, MASKED_SCORE], [0.5, 0.0]], "a float mask is added; -inf is kept finite"
    assert blocked.tolist() == [[False, True], [False, False]]


if __name__ == "__main__":
    test_unit_causal_mask()

# %% [markdown]
# ## Scaled dot-product attention
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Bigl(\frac{Q K^\top}{\sqrt{d}} + M\Bigr)\, V$$
#
# with `Q` of shape `(..., T_q, d)`, `K` `(..., T_k, d)`, `V` `(..., T_k, d_v)` and `M`
# the masks' biases. `Q Kᵀ` holds every query–key dot product, `(..., T_q, T_k)`; row `i`
# of the softmax is how token `i` spreads its attention; multiplying by `V` averages the
# values with those weights.
#
# **Why divide by √d?** If the entries of `q` and `k` are independent with variance 1,
# their dot product is a sum of `d` such products: its variance is `d`. With `d = 64`
# the scores have a spread of ±8, softmax saturates — one weight ≈ 1, the rest ≈ 0 —
# and its gradient (`s (g - Σ g s)`) nearly vanishes: the model stops learning where to
# look. Dividing by `√d` brings the variance back to 1, whatever the head size.
# (`scale=` overrides the factor, as in PyTorch.)
#
# The leading dimensions are free: `(B, T, d)` for one head, `(B, H, T, d)` for many
# heads at once — `@` broadcasts over them, so there is no loop over batch or heads.
#
# `_attention` does the work for a *list* of masks (a multi-head layer may combine a
# causal mask with a padding mask): their biases add up, a key is blocked if any mask
# blocks it, and a query whose every key is blocked gets weights of 0 — multiply the
# weights by `~empty`, with `empty` the queries that have no key left. It returns the
# output and the weights. Mind the sizes: `scores` and the weights are `(..., T, T)`, the
# largest arrays of a transformer (16 sequences of 128 tokens, 4 heads: a million numbers
# per layer), while `q` is `(..., T, d)`. So multiply `q` by the scale before the product
# rather than the scores after it, sum the masks' biases while they are still `(T, T)`
# and add them to the scores once, and find the empty queries on the mask's own shape.
# `dropout_p` drops attention weights at random (module 04's
# dropout), a regularizer used while training. The public function is PyTorch's
# `F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
# is_causal=False, scale=None)`; `is_causal=True` is the causal mask, aligned top-left
# (query `i` sees keys `0..i`), and — as in PyTorch — cannot be combined with an
# `attn_mask`. `return_weights=True` (a tinytorch extra) also returns the weights.

# %%
#| export
def _attention(q, k, v, masks=(), dropout_p=0.0, scale=None):
    """softmax(q kᵀ · scale + Σ mask biases) v, for masks in sdpa's convention; returns (out, weights)."""
    ### BEGIN SOLUTION
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q * scale) @ k.transpose(-2, -1)  # scale q (T × d), not the scores (T × T)
    bias = blocked = None
    for mask in masks:  # combine the masks while they are small, then add them once
        part, blocks = _mask_parts(mask, scores.dtype)
        bias = part if bias is None else bias + part
        blocked = blocks if blocked is None else blocked | blocks
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores, dim=-1)  # module 03's: SoftmaxOp, and an empty sequence gives empty weights
    if blocked is not None:
        empty = blocked.all(axis=-1, keepdims=True)  # on the mask's own (small) shape
        if empty.any():  # a query with nothing to attend to gets 0, as in PyTorch
            weights = weights * ~empty
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ v, weights
    ### END SOLUTION


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 return_weights=False):
    """softmax(q @ kᵀ / √d + mask) @ v for q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v).

    ``attn_mask``: boolean (True = may attend) or float (added to the scores), broadcast to
    (..., T_q, T_k). ``is_causal=True``: query i sees keys 0..i. Returns the output
    (..., T_q, d_v), or ``(output, weights)`` with ``return_weights=True``.
    """
    if attn_mask is not None and is_causal:
        raise RuntimeError("scaled_dot_product_attention: attn_mask and is_causal cannot both be set")
    masks = [] if attn_mask is None else [attn_mask]
    if is_causal:
        masks.append(np.tril(np.ones((query.shape[-2], key.shape[-2]), dtype=bool)))
    out, weights = _attention(query, key, value, masks, dropout_p, scale)
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
                if not mask[i].any():
                    continue  # nothing to attend to: the output stays 0
                scores = np.where(mask[i], scores, -np.inf)
            w = np.exp(scores - scores.max())
            out[index][i] = (w / w.sum()) @ v[index]
    return out


def test_unit_scaled_dot_product_attention():
    """Checks `_attention` through `scaled_dot_product_attention` against a loop version: rows of
    weights summing to 1, the causal mask in three spellings, a query with every key masked getting
    0, huge scores, and any leading dims. Transpose only the last two axes of k, scale by 1/√d with
    d the *last* dim of q, add every mask's bias before the softmax (`softmax` or `SoftmaxOp`) over the last axis, and zero the
    weights of queries that have no key left.
    """
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), return_weights=True)
    assert out.shape == (2, 3, 5, 4) and w.shape == (2, 3, 5, 5)
    assert np.allclose(w.data.sum(-1), 1.0), "each row of weights is a distribution"
    assert np.allclose(out.data, _reference_attention(q, k, v), atol=1e-5)
    mask = causal_mask(5)
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask, return_weights=True)
    assert np.all(w.data[..., 0, 1:] == 0.0), "the first token sees only itself"
    assert np.allclose(out.data, _reference_attention(q, k, v, mask.data), atol=1e-5)
    assert np.allclose(out.data[..., 0, :], v[..., 0, :], atol=1e-6)
    causal = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True)
    assert np.allclose(causal.data, out.data), "is_causal=True is the causal mask"
    additive = np.where(mask.data, 0.0, -np.inf)  # PyTorch's float form of the same mask
    assert np.allclose(scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=additive).data, out.data)
    lonely = np.ones((5, 5), dtype=bool)
    lonely[2] = False  # query 2 may attend to nothing
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=lonely)
    assert np.all(out.data[..., 2, :] == 0.0), "a query with every key masked gets 0"
    assert np.allclose(out.data, _reference_attention(q, k, v, lonely), atol=1e-5)
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
    """Checks that gradients flow through attention (∂/∂k against a finite difference) and that a
    masked key gets none from the queries that cannot see it. Build `_attention` from Tensor
    operations (`@`, `transpose`, `*`, `+`, `SoftmaxOp`) only: one detour through NumPy arrays
    silently cuts the graph.
    """
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
    out = scaled_dot_product_attention(Tensor(q0, np.float64), k2, Tensor(v0, np.float64), attn_mask=causal_mask(3))
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
# `self.q_proj`, `self.k_proj`, `self.v_proj`, `self.out_proj`. Their initialization is
# PyTorch's: the three input projections together are one `(3E, E)` Xavier-uniform
# matrix (there is no ReLU after them, so the variance-preserving choice is Glorot's),
# their biases and `out_proj`'s bias start at zero, and `out_proj.weight` keeps
# `Linear`'s default.
#
# **Masks.** `mask=` follows `scaled_dot_product_attention` (boolean `True` = may attend,
# or a float mask added to the scores), `(T_q, T_k)` or `(B, H, T_q, T_k)`;
# `is_causal=True` adds the causal mask; `key_padding_mask` `(B, T_k)` marks padded keys
# with `True` (PyTorch's meaning for this argument), or is a float mask added to the keys'
# scores. With `need_weights=True` the layer also returns the attention weights, averaged
# over the heads unless `average_attn_weights=False`; `dropout` drops attention weights
# while training.

# %%
#| export
class MultiHeadAttention(Module):
    """Multi-head attention with learned q/k/v/out projections; inputs (B, T, embed_dim)."""

    def __init__(self, embed_dim, num_heads, bias=True, dropout=0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads
        ### BEGIN SOLUTION
        self.q_proj = Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        ### END SOLUTION
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's initialization: q/k/v as one (3E, E) Xavier matrix, zero biases."""
        in_proj = init.xavier_uniform_(Tensor(np.zeros((3 * self.embed_dim, self.embed_dim))))
        for part, layer in zip(np.split(in_proj.data, 3), (self.q_proj, self.k_proj, self.v_proj)):
            layer.weight.data[...] = part
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if layer.bias is not None:
                init.zeros_(layer.bias)

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

    def forward(self, query, key=None, value=None, mask=None, key_padding_mask=None, is_causal=False,
                need_weights=False, average_attn_weights=True):
        """Self-attention ``forward(x, mask=...)``, or ``forward(query, key, value, mask)``."""
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(
                    f"MultiHeadAttention: {name} must have shape (B, T, {self.embed_dim}), got {t.shape}"
                )
        masks = [] if mask is None else [mask]
        if key_padding_mask is not None:
            padding = np.asarray(key_padding_mask.data if isinstance(key_padding_mask, Tensor) else key_padding_mask)
            padding = ~padding if padding.dtype == np.bool_ else padding  # True = padding: may NOT attend
            masks.append(padding.reshape(padding.shape[0], 1, 1, padding.shape[-1]))
        if is_causal:
            masks.append(np.tril(np.ones((query.shape[1], key.shape[1]), dtype=bool)))
        ### BEGIN SOLUTION
        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        heads, weights = _attention(q, k, v, masks, self.dropout if self.training else 0.0)
        out = self.out_proj(self._merge_heads(heads))
        ### END SOLUTION
        if not need_weights:
            return out
        return out, (weights.mean(axis=1) if average_attn_weights else weights)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


# %%
def test_unit_multi_head_attention():
    """Checks `MultiHeadAttention`: `q_proj`, `k_proj`, `v_proj`, `out_proj` in that order, the
    output equal to a head-by-head NumPy computation, causal and padding masks, cross-attention, and
    a gradient for every parameter. Each head is a consecutive slice of E: split `(B, T, E)` into
    `(B, T, H, d)` *then* move H forward, and merge in reverse; reshaping straight to `(B, H, T, d)`
    gives the right shape and wrong numbers.
    """
    np.random.seed(0)
    mha = MultiHeadAttention(8, 2)
    names = [n for n, _ in mha.named_parameters()]
    assert names == [f"{p}_proj.{w}" for p in "qkv" for w in ("weight", "bias")] + ["out_proj.weight", "out_proj.bias"]
    assert np.all(mha.q_proj.bias.data == 0) and np.abs(mha.q_proj.weight.data).max() <= math.sqrt(6 / 32)
    for p in mha.parameters():  # random biases, so the check below tests them too
        p.data[...] = np.random.normal(size=p.shape) * 0.5
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
    a, b = mha(x, mask=causal_mask(5)), mha(x2, is_causal=True)
    assert np.allclose(a.data[:, :-1], b.data[:, :-1], atol=1e-6)
    assert not np.allclose(a.data[:, -1], b.data[:, -1])
    # padding: keys marked True are ignored, as if they were not there
    padding = np.zeros((3, 5), dtype=bool)
    padding[:, 3:] = True
    short = mha(x[:, :3], x[:, :3], x[:, :3])
    assert np.allclose(mha(x, key_padding_mask=padding).data[:, :3], short.data, atol=1e-5)
    out, weights = mha(x, need_weights=True)
    assert weights.shape == (3, 5, 5) and np.allclose(weights.data.sum(-1), 1.0), "averaged over heads"
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
# ## PyTorch's `nn.MultiheadAttention`
#
# Code written for PyTorch calls `nn.MultiheadAttention` (lowercase h) with a different
# interface, and a silent mismatch would be the worst kind of bug, so it gets its own
# class rather than a second name for ours. It is our layer underneath, with PyTorch's
# calling convention:
#
# - inputs are `(T, B, E)` — sequence first — unless `batch_first=True`;
# - `forward(query, key, value)` always returns a pair `(output, weights)` (weights
#   `None` with `need_weights=False`);
# - a **boolean `attn_mask` means the opposite** of `scaled_dot_product_attention`'s:
#   `True` = *not* allowed to attend (float masks are added, as everywhere);
# - `is_causal=True` is only a hint that `attn_mask` *is* the causal mask.
#
# One deliberate difference: a query whose every key is masked gets an output of 0 here
# (as from `F.scaled_dot_product_attention`); PyTorch 2.13's `nn.MultiheadAttention`
# returns NaN for it. Parameters are named like ours (`q_proj`, ...), not PyTorch's
# packed `in_proj_weight`, so state dicts do not transfer between the two.

# %%
#| export
class MultiheadAttention(MultiHeadAttention):
    """torch.nn.MultiheadAttention's interface: (T, B, E) unless batch_first, or one sequence (T, E);
    returns (output, weights)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False):
        super().__init__(embed_dim, num_heads, bias=bias, dropout=dropout)
        self.batch_first = batch_first

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal is a hint; pass the causal attn_mask too")
        unbatched = query.ndim == 2  # one sequence (L, E), as PyTorch allows: a batch of one
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(getattr(key_padding_mask, "data", key_padding_mask))[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if attn_mask is not None:
            attn_mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
            if attn_mask.dtype != np.bool_ and not np.issubdtype(attn_mask.dtype, np.floating):
                raise RuntimeError(f"only bool and floating types of attn_mask are supported, got {attn_mask.dtype}")
            attn_mask = ~attn_mask if attn_mask.dtype == np.bool_ else attn_mask  # True = NOT allowed
            if attn_mask.ndim == 3:  # PyTorch's (B·H, L, S): one mask per sequence and head -> (B, H, L, S)
                expected = (query.shape[0] * self.num_heads, query.shape[1], key.shape[1])
                if attn_mask.shape != expected:
                    raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be {expected}.")
                attn_mask = attn_mask.reshape(query.shape[0], self.num_heads, *attn_mask.shape[1:])
        out, weights = super().forward(query, key, value, mask=attn_mask, key_padding_mask=key_padding_mask,
                                       need_weights=True, average_attn_weights=average_attn_weights)
        if unbatched:
            out, weights = out.squeeze(0), weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, (weights if need_weights else None)


# %%
def test_unit_torch_multihead_attention():
    """Checks the provided `MultiheadAttention` (PyTorch's interface: sequence first, a bool
    `attn_mask` with True = *not* allowed) against your `MultiHeadAttention`. It is given code that
    calls yours: if only this test fails, look at how your `forward` combines its masks with
    `is_causal`, and at `_merge_heads` on a batch that is not contiguous in memory.
    """
    np.random.seed(0)
    mha = MultiheadAttention(8, 2)
    x = Tensor(np.random.normal(size=(5, 3, 8)))  # (T, B, E): sequence first
    out, weights = mha(x, x, x)
    assert out.shape == (5, 3, 8) and weights.shape == (3, 5, 5)
    ours = MultiHeadAttention.forward(mha, x.transpose(0, 1))
    assert np.allclose(out.data, ours.transpose(0, 1).data, atol=1e-6), "the same layer underneath"
    future = ~causal_mask(5).data  # PyTorch's boolean attn_mask: True = NOT allowed
    out, _ = mha(x, x, x, attn_mask=future)
    assert np.allclose(out.data, MultiHeadAttention.forward(mha, x.transpose(0, 1), is_causal=True).transpose(0, 1).data)
    assert mha(x, x, x, need_weights=False)[1] is None
    one, one_weights = mha(x[:, 0], x[:, 0], x[:, 0])  # one sequence, no batch dimension
    assert one.shape == (5, 8) and one_weights.shape == (5, 5) and np.allclose(one.data, mha(x, x, x)[0].data[:, 0])


if __name__ == "__main__":
    test_unit_torch_multihead_attention()

# %% [markdown]
# ## Done
#
# `tito module complete 07` exports attention into `tinytorch/nn/attention.py`:
#
# ```python
# from tinytorch.nn import MultiHeadAttention
# import tinytorch.nn.functional as F
# attn = MultiHeadAttention(embed_dim=32, num_heads=4)
# y = attn(x, is_causal=True)                      # (B, T, 32) -> (B, T, 32)
# z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
# ```
#
# Attention alone is not yet a model: module 08 wraps it with normalization, a
# feed-forward network and residual connections into a transformer block, and stacks
# blocks into a small GPT.
