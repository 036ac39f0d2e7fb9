# %% [markdown]
# # Module 12 — The KV cache
#
# *Never compute the same thing twice.*
#
# Look again at the generation loop you wrote in module 08:
#
# ```python
# for step in range(max_new_tokens):
#     logits = self(ids[:, -self.max_len:])   # the WHOLE sequence, every step ...
#     ...                                      # ... to pick a token from its last position
#     ids = np.concatenate([ids, next_token], axis=1)
# ```
#
# To produce token 71 it runs all 70 previous positions through every layer — and
# uses the result of only the last one. Step 72 recomputes those 70 positions again,
# exactly as before, plus one. Generating `n` tokens this way processes
# `1 + 2 + … + n ≈ n²/2` positions to produce `n`.
#
# The waste has a precise cause and a precise cure. In a **causal** model, position
# `i` attends only to positions `j ≤ i`, so nothing computed for position `i` ever
# changes when tokens are appended after it. In particular its **keys and values** — the
# only things later positions read from it — are final the moment they are computed.
# So we compute them once and keep them: a **KV cache**. Each new token then runs
# through the network alone, and its attention reads the cached keys and values of
# everything before it. This is **memoization**: trading memory for recomputation, the
# oldest optimization there is.
#
# Every production language model generates this way (it is the `use_cache=True` of
# Hugging Face's `generate`). The price is memory: the cache of a 7-billion-parameter
# model at 4,096 tokens is 2 GB per sequence, often more than the activations.
#
# | you build | what it does |
# |---|---|
# | `KVCache` | per layer, the keys and values of every position seen so far (preallocated) |
# | `MultiHeadAttention.forward_with_cache` | attention for the new positions only, reading the cache |
# | `GPT.forward_with_cache`, `GPT.generate(..., use_cache=True)` | generation that costs one position per new token |

# %%
#| default_exp models.kv_cache
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer 09_profiling
#| export
import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import GPT, TransformerBlock
from tinytorch.nn.attention import MultiHeadAttention, scaled_dot_product_attention

# %% [markdown]
# ## The cache
#
# For each layer the cache holds keys and values of shape `(B, H, T, d)` — batch,
# heads, positions, head size — exactly what attention's `_split_heads` produces. We
# **preallocate** room for `max_len` positions once, `(layers, B, H, max_len, d)`, and
# write each new position into the next free slot. Growing an array by concatenation at
# every step would copy the whole cache every step — `n²/2` copies again, the very cost
# we are removing.
#
# `update(layer, k, v)` writes the new keys and values `(B, H, t, d)` of one layer after
# the ones it already holds, advances that layer's length by `t`, and returns the keys
# and values of **all** positions so far: `(B, H, length, d)` views of the buffers, no
# copy. A cache that would overflow `max_len` raises a `ValueError`.
#
# **How big is it?** Two arrays (keys and values) × layers × batch × heads × positions ×
# head size × 4 bytes. Heads × head size is the embedding size `E`, so per sequence it
# is `2 · L · E · T · 4` bytes: 36 KB for the milestone GPT at 72 positions; for GPT-2
# small (`L = 12`, `E = 768`) at 1,024 positions, 75 MB.

# %%
#| export
class KVCache:
    """Keys and values of every layer for the positions seen so far, in preallocated (L, B, H, max_len, d) buffers."""

    def __init__(self, num_layers, batch_size, num_heads, head_dim, max_len, dtype=np.float32):
        shape = (num_layers, batch_size, num_heads, max_len, head_dim)
        self.keys = np.zeros(shape, dtype=dtype)
        self.values = np.zeros(shape, dtype=dtype)
        self.max_len = max_len
        self.lengths = [0] * num_layers  # positions stored, per layer

    @classmethod
    def for_model(cls, model, batch_size):
        """An empty cache sized for ``model`` (a GPT) and ``batch_size`` sequences."""
        attention = model.blocks[0].attn
        return cls(len(model.blocks), batch_size, attention.num_heads, attention.head_dim, model.max_len,
                   dtype=attention.k_proj.weight.dtype)

    @property
    def length(self):
        """Positions every layer has stored."""
        return min(self.lengths)

    @property
    def nbytes(self):
        return self.keys.nbytes + self.values.nbytes

    def reset(self):
        self.lengths = [0] * len(self.lengths)

    def update(self, layer, k, v):
        """Append keys/values (B, H, t, d) to ``layer``; returns that layer's keys and values so far."""
        ### BEGIN SOLUTION
        start = self.lengths[layer]
        end = start + k.shape[-2]
        if end > self.max_len:
            raise ValueError(f"KVCache: {end} positions do not fit in max_len={self.max_len}")
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        self.lengths[layer] = end
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]
        ### END SOLUTION


# %%
def test_unit_kv_cache():
    """Checks `KVCache.update`: new keys and values `(B, H, t, d)` written after what the layer
    holds, a length per layer, every position so far returned as a *view* of the preallocated
    buffers, and a `ValueError` naming `max_len` on overflow. The positions are the fourth axis of
    `(L, B, H, max_len, d)`: write into the next free slots and return slices — a concatenation
    would copy.
    """
    cache = KVCache(num_layers=2, batch_size=3, num_heads=4, head_dim=5, max_len=8)
    assert cache.keys.shape == (2, 3, 4, 8, 5) and cache.length == 0
    assert cache.nbytes == 2 * 2 * 3 * 4 * 8 * 5 * 4
    rng = np.random.default_rng(0)
    k1, v1 = rng.normal(size=(2, 3, 4, 6, 5)).astype(np.float32)
    keys, values = cache.update(0, k1, v1)
    assert keys.shape == (3, 4, 6, 5) and np.array_equal(keys, k1) and np.array_equal(values, v1)
    assert cache.lengths == [6, 0] and cache.length == 0, "only layer 0 has stored anything"
    k2, v2 = rng.normal(size=(2, 3, 4, 1, 5)).astype(np.float32)
    keys, values = cache.update(0, k2, v2)
    assert keys.shape == (3, 4, 7, 5) and np.array_equal(keys[:, :, 6:], k2) and np.array_equal(keys[:, :, :6], k1)
    assert np.shares_memory(keys, cache.keys), "a view of the buffer, not a copy"
    try:
        cache.update(0, k1, v1)
    except ValueError as err:
        assert "max_len=8" in str(err)
    else:
        raise AssertionError("overflowing the cache must raise")
    cache.reset()
    assert cache.lengths == [0, 0]


if __name__ == "__main__":
    test_unit_kv_cache()

# %% [markdown]
# ## Attention with a cache
#
# `forward_with_cache(x, cache, layer)` is `MultiHeadAttention.forward` for the `t`
# **new** positions `x` `(B, t, E)` of a sequence whose earlier positions are in the
# cache:
#
# 1. project the new positions to queries, keys and values (`t` rows each, not `T`);
# 2. `cache.update(layer, k, v)` stores the new keys/values and hands back all of them;
# 3. attend: the `t` new queries against all `start + t` keys.
#
# **The mask.** New position `i` sits at absolute position `start + i` and may see keys
# `0 … start + i`. That is a lower-triangular `(t, start + t)` matrix shifted right by
# `start`: `np.tril(np.ones((t, start + t), dtype=bool), k=start)`. When `t = 1` — every
# step after the first — the one new token may see everything, so no mask is needed.
#
# We add the method to the class from here, as module 02 taught `Tensor` to
# differentiate: modules 07 and 08 stay as you wrote them.

# %%
#| export
def _attention_with_cache(self, x, cache, layer):
    """Attention of the new positions ``x`` (B, t, E) over the cached ones and themselves."""
    q = self._split_heads(self.q_proj(x))
    k = self._split_heads(self.k_proj(x))
    v = self._split_heads(self.v_proj(x))
    ### BEGIN SOLUTION
    start, new = cache.lengths[layer], x.shape[1]
    keys, values = cache.update(layer, k.data, v.data)
    mask = None if new == 1 else np.tril(np.ones((new, start + new), dtype=bool), k=start)
    heads = scaled_dot_product_attention(q, Tensor._wrap(keys), Tensor._wrap(values), attn_mask=mask)
    ### END SOLUTION
    return self.out_proj(self._merge_heads(heads))


def _block_with_cache(self, x, cache, layer):
    """The pre-norm block of module 08, with cached attention."""
    x = x + self.attn.forward_with_cache(self.ln1(x), cache, layer)
    return x + self.ff(self.ln2(x))


MultiHeadAttention.forward_with_cache = _attention_with_cache
TransformerBlock.forward_with_cache = _block_with_cache

# %% [markdown]
# ## The model with a cache
#
# `GPT.forward_with_cache(idx, cache)` takes only the ids the cache has not seen,
# `(B, t)`, and returns their logits `(B, t, vocab)`. One detail matters: the new tokens
# are at positions `start … start + t − 1`, not `0 … t − 1`, so they get *those* rows of
# the learned position table, `self.position_embedding.weight[start:start + t]`. (Forget
# the offset and every new token believes it is the first one — the most common KV-cache
# bug, and the test below catches it.) Then each block, with its layer number, and the
# final LayerNorm and head as usual.

# %%
#| export
def _gpt_with_cache(self, idx, cache):
    """Logits (B, t, vocab) of the t new ids ``idx`` (B, t), the earlier positions being in ``cache``."""
    ids = np.asarray(idx.data if isinstance(idx, Tensor) else idx, dtype=np.int64)
    start, new = cache.length, ids.shape[1]
    if start + new > self.max_len:
        raise ValueError(f"forward_with_cache: {start + new} positions exceed max_len={self.max_len}")
    ### BEGIN SOLUTION
    x = self.token_embedding(ids) + self.position_embedding.weight[start:start + new]
    for layer, block in enumerate(self.blocks):
        x = block.forward_with_cache(x, cache, layer)
    return self.head(self.ln_f(x))
    ### END SOLUTION


GPT.forward_with_cache = _gpt_with_cache


# %%
from tinytorch.core.autograd import no_grad
from tinytorch.perf.profiling import milestone_gpt


def test_unit_forward_with_cache():
    """Checks `_attention_with_cache` and `_gpt_with_cache`: a prompt of 8 and then one token at a
    time must give exactly the logits of one full forward pass. The classic bug is the offset: new
    tokens at positions start … start + t − 1 take *those* rows of the position table, and a step of
    several tokens needs the causal mask shifted right by start (a single token, none).
    """
    model = milestone_gpt()
    ids = np.random.default_rng(0).integers(0, 11, (3, 20))
    with no_grad():
        full = model(ids).data
        cache = KVCache.for_model(model, batch_size=3)
        parts = [model.forward_with_cache(ids[:, :8], cache).data]  # a prompt of 8, then one at a time
        for t in range(8, 20):
            parts.append(model.forward_with_cache(ids[:, t:t + 1], cache).data)
    assert cache.length == 20 and cache.lengths == [20, 20]
    assert np.allclose(np.concatenate(parts, axis=1), full, atol=1e-5), "the cache changes nothing but the work"
    try:
        model.forward_with_cache(np.zeros((3, 60), dtype=np.int64), cache)
    except ValueError as err:
        assert "max_len=72" in str(err)
    else:
        raise AssertionError("running past max_len must raise")


if __name__ == "__main__":
    test_unit_forward_with_cache()

# %% [markdown]
# ## `generate(..., use_cache=True)`
#
# The generation loop of module 08 needs no change at all. It calls `self(window)` and
# keeps the last position's logits. With `use_cache=True` we run that same loop on a
# stand-in for the model, `_CachedLM`, whose `__call__` feeds only the tokens of the
# window that its cache has not seen — the whole prompt on the first call, one token on
# every call after — and returns their logits, the last of which is the one the loop
# uses. So the cached generation returns **exactly** the tokens of the uncached one,
# greedy or sampled with the same seed: same loop, same logits, less work.
#
# **Past `max_len`.** The window then slides: position 0 of the window is a different
# token at every step, so every cached key (computed at its old position) is stale. The
# stand-in notices (the window is no longer longer than what it has cached), empties
# the cache and recomputes the window — what the uncached loop does at every step. The
# constant cost per token holds while the sequence fits in `max_len`; models with
# relative positions (RoPE, ALiBi) can keep a sliding cache, learned absolute positions
# cannot.

# %%
#| export
class _CachedLM:
    """What module 08's generation loop calls instead of the model: only unseen tokens are computed."""

    def __init__(self, model):
        self.model, self.max_len, self.vocab_size = model, model.max_len, model.vocab_size
        self.cache = None

    def __call__(self, window):
        window = np.asarray(window.data if isinstance(window, Tensor) else window, dtype=np.int64)
        if self.cache is None:
            self.cache = KVCache.for_model(self.model, batch_size=window.shape[0])
        seen = self.cache.length
        if window.shape[1] <= seen:  # the window slid past max_len: cached positions are stale
            self.cache.reset()
            seen = 0
        return self.model.forward_with_cache(window[:, seen:], self.cache)

    forward = __call__


_generate_without_cache = getattr(GPT.generate, "__wrapped__", GPT.generate)


def _generate(self, idx, max_new_tokens, temperature=1.0, greedy=False, seed=None, use_cache=False):
    """Extend ``idx`` (B, T) or (T,) by ``max_new_tokens`` tokens; ``use_cache=True`` reuses keys and values."""
    model = _CachedLM(self) if use_cache else self
    return _generate_without_cache(model, idx, max_new_tokens, temperature=temperature, greedy=greedy, seed=seed)


_generate.__wrapped__ = _generate_without_cache
GPT.generate = _generate


# %% [markdown]
# ### Proof by counting
#
# Wall-clock time is noisy; a count is not. The test below counts the **positions**
# that go through the first block's query projection at each step of generation (by
# wrapping that layer's `forward`): without the cache the count grows with the sequence,
# `7, 8, 9, …`; with it, it is the prompt once and then exactly **one** per new token.

# %%
def count_positions(layer):
    """Wrap ``layer.forward`` so that every call records how many positions went through it."""
    counts, forward = [], layer.forward

    def counting(x):
        counts.append(int(np.prod(x.shape[:-1])))
        return forward(x)

    layer.forward = counting
    return counts


def test_unit_generate_with_cache():
    """Checks `generate(..., use_cache=True)` (the provided `_CachedLM` on top of your cached
    forward): the same tokens as without the cache, greedy and sampled, the prompt once then one
    position per step, and exact past `max_len`. If the tokens differ, make
    `test_unit_forward_with_cache` pass first: a cached forward slightly off changes a greedy pick
    somewhere in 40 steps.
    """
    model = milestone_gpt()
    prompts = np.random.default_rng(1).integers(0, 11, (4, 7))
    plain = model.generate(prompts, 40, greedy=True).data
    counts = count_positions(model.blocks[0].attn.q_proj)
    cached = model.generate(prompts, 40, greedy=True, use_cache=True).data
    assert np.array_equal(cached, plain), "exactly the tokens of the uncached generation"
    assert counts == [4 * 7] + [4] * 39, "the prompt once, then one position per sequence and step"
    counts.clear()
    model.generate(prompts[:1], 5, greedy=True)
    assert counts == [7, 8, 9, 10, 11], "without the cache the whole sequence, every step"
    sampled = model.generate(prompts, 20, temperature=0.8, seed=3, use_cache=True).data
    assert np.array_equal(sampled, model.generate(prompts, 20, temperature=0.8, seed=3).data), "sampling too"
    one = model.generate(prompts[0], 10, greedy=True, use_cache=True)
    assert one.shape == (17,) and np.array_equal(one.data, plain[0, :17])
    long = model.generate(prompts[:2], 80, greedy=True, use_cache=True).data  # 87 tokens > max_len = 72
    assert np.array_equal(long, model.generate(prompts[:2], 80, greedy=True).data), "past max_len: still exact"


if __name__ == "__main__":
    test_unit_generate_with_cache()

# %% [markdown]
# ## What the cache buys
#
# Run the cell below. On the course machine, generating 64 tokens from a 7-token
# prompt with the milestone GPT (one BLAS thread):
#
# | | positions processed | time, 1 sequence | time, 8 sequences |
# |---|---|---|---|
# | without cache | 7 + 8 + … + 70 = 2,464 | 48 ms | 150 ms |
# | with cache | 7 + 63 × 1 = 70 | 27 ms | 42 ms |
# | speed-up | 35× fewer | 1.8× | 3.6× |
#
# The positions fall 35-fold, the time only 2–4-fold: at this toy size every layer call
# costs mostly Python and NumPy overhead (a few microseconds per operation), which the
# cache does not remove — a step on one position and a step on 70 cost nearly the same
# overhead. The more real work each position carries (longer sequences, wider models,
# bigger batches), the closer the time follows the count: 6–10× is typical for real
# models at a few hundred tokens. The profiler of module 09 tells you which regime
# you are in.

# %%
def time_generation():
    from tinytorch.perf.profiling import time_function

    model = milestone_gpt()
    for batch in (1, 8):
        prompts = np.random.default_rng(0).integers(0, 11, (batch, 7))
        for use_cache in (False, True):
            times = time_function(lambda: model.generate(prompts, 64, greedy=True, use_cache=use_cache), repeat=5, warmup=1)
            print(f"batch {batch}, use_cache={use_cache}: {np.median(times) * 1e3:.0f} ms")


if __name__ == "__main__":
    time_generation()

# %% [markdown]
# ## Done
#
# `tito module complete 12` exports the cache into `tinytorch/models/kv_cache.py`; from
# then on every `GPT` can do
#
# ```python
# model.generate(prompt, 64, greedy=True, use_cache=True)   # the same tokens, a fraction of the work
# ```
#
# Module 13 looks at the other side of the table above: the time that is *not* in the
# arithmetic, and how to win it back.
