# %% [markdown]
# # Module 08 — The Transformer
#
# Module 07 gave tokens a way to read each other. A transformer is attention plus three
# pieces of engineering that make a *deep stack* of it trainable, and a language model
# is that stack between an embedding and a classifier over the vocabulary:
#
# | you build | why |
# |---|---|
# | `LayerNorm` | keeps every token's activations at mean 0, variance 1, so layers deep in the stack see inputs of a steady scale |
# | `FeedForward` | attention *moves* information between tokens; this per-token MLP *computes* with it |
# | `TransformerBlock` | attention + feed-forward, each wrapped as `x + f(norm(x))` (pre-norm residual) |
# | `GPT` | token + position embeddings → N causal blocks → LayerNorm → logits over the vocabulary, and `generate()` |
#
# It is the architecture of GPT-2 (Radford et al., 2019), at toy scale.

# %%
#| default_exp models.transformer
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention
#| export
import numpy as np

from tinytorch.core.autograd import Function, no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn.attention import MultiHeadAttention
from tinytorch.nn.modules import GELU, Linear, Module, Parameter, Sequential, SoftmaxOp
from tinytorch.text.embeddings import Embedding, LearnedPositionalEmbedding

# %% [markdown]
# ## LayerNorm
#
# Each layer's output feeds the next. If one layer's activations drift to a larger
# scale during training, every layer after it sees inputs it was not tuned for — and in
# a stack of residual blocks, where outputs are *added* up, scales grow with depth.
# **Layer normalization** (Ba et al., 2016) re-centres and re-scales each token's
# feature vector on its own:
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \odot \hat x + \beta$$
#
# with `μ`, `σ²` the mean and variance over the last dimension(s) — the features of
# *one* token, so unlike batch norm it does not depend on the other examples in the
# batch and works the same in training and generation. `ε` keeps the division safe for
# a constant vector; the learned `γ` (ones) and `β` (zeros) let the network undo the
# normalization where it helps.
#
# **The backward pass**, as one `Function`. Written with ops, LayerNorm would be a chain
# of ten (mean, subtract, square, mean, add, sqrt, divide, multiply, add). Deriving it by
# hand gives, with `g = ∂L/∂y · γ` and means over the normalized dimension(s):
#
# $$\frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}\Bigl(g - \mathrm{mean}(g) - \hat x\,\mathrm{mean}(g \odot \hat x)\Bigr)$$
#
# The two means remove the directions that normalization itself cancels: shifting all
# features (the mean) or scaling them (the variance) does not change `x̂`. `∂L/∂γ` is
# `∂L/∂y · x̂` and `∂L/∂β` is `∂L/∂y`, summed over every token (returned per token, the
# backward pass would sum them — `unbroadcast`, module 02 — since `γ` was broadcast
# across the leading dimensions; below they are summed as they are made). As in module
# 03's softmax, the forward and backward steps write into arrays they already made
# (`x_hat *= inv_std`, `g -= ...`): fewer arrays of the activations' size to allocate and
# fill.
#
# **Statistics of many short rows.** Seen as a matrix, the activations are one row per
# token: (B·T, features), e.g. (2048, 128) in a small GPT. NumPy's `mean(axis=-1)` over
# such short rows pays a little overhead per row (75 µs for that array, measured);
# written as a matrix–vector product, `rows @ np.full(n, 1 / n)`, the same means are one
# BLAS pass (16 µs). The sums of squares, `Σ x̂²` per row, and `Σ g·x̂` in the backward
# pass are row-wise dot products, `np.einsum("ij,ij->i", a, b)`: no squared array is made
# at all. `∂L/∂γ = Σ_tokens ∂L/∂y · x̂` is the same product summed down the columns,
# `np.einsum("ij,ij->j", ...)`, and `∂L/∂β` a vector–matrix product with ones; returned
# summed, `unbroadcast` has nothing left to do. With these, one LayerNorm's forward and
# backward on (2048, 128) went from 1.3 to 0.95 ms (2 % of a GPT training step).
#
# `LayerNorm` holds `self.weight` (γ) and `self.bias` (β), each of shape
# `normalized_shape`; the number of dimensions normalized is `weight.ndim`. (Module 04's
# `BatchNormOp` has the same backward, with the means taken over the batch instead.)
# As in PyTorch, `LayerNorm(..., elementwise_affine=False)` has no γ and β, and
# `F.layer_norm(x, normalized_shape, weight=None, bias=None)` is the functional form.

# %%
#| export
def _row_means(rows):
    """The mean of every row of a 2-D array, as one matrix-vector product."""
    ### BEGIN SOLUTION
    return rows @ np.full(rows.shape[1], 1.0 / rows.shape[1], dtype=rows.dtype)
    ### END SOLUTION


class LayerNormOp(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last ``len(weight.shape)`` dims."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        ### BEGIN SOLUTION
        rows = x.reshape(-1, weight.size)  # one row per token, its normalized features
        x_hat = rows - _row_means(rows)[:, None]  # centred, then scaled in place
        variance = np.einsum("ij,ij->i", x_hat, x_hat) / weight.size
        inv_std = (1.0 / np.sqrt(variance + eps))[:, None]
        x_hat *= inv_std
        ctx.save_for_backward(x_hat, inv_std, weight)
        out = x_hat * weight.reshape(-1)
        out += bias.reshape(-1)
        return out.reshape(x.shape)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        x_hat, inv_std, weight = ctx.saved_tensors
        grad_rows = grad.reshape(x_hat.shape)
        g = grad_rows * weight.reshape(-1)
        mean_gx = np.einsum("ij,ij->i", g, x_hat) / weight.size
        g -= _row_means(g)[:, None]  # grad_x, computed in g's own array
        g -= x_hat * mean_gx[:, None]
        g *= inv_std
        grad_weight = grad_bias = None  # summed over the tokens here, so backward() has nothing to sum
        if ctx.needs_input_grad[1]:
            grad_weight = np.einsum("ij,ij->j", grad_rows, x_hat).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_bias = (np.ones(len(grad_rows), grad.dtype) @ grad_rows).reshape(weight.shape)
        return g.reshape(grad.shape), grad_weight, grad_bias
        ### END SOLUTION


def _normalized_shape(normalized_shape):
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


class LayerNorm(Module):
    """Layer normalization over the last dimension(s) ``normalized_shape``, with learned scale and shift."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        self.normalized_shape, self.eps = _normalized_shape(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        ### BEGIN SOLUTION
        self.weight = Parameter(np.ones(self.normalized_shape)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape)) if elementwise_affine else None
        ### END SOLUTION
        if not bias:  # given: PyTorch's LayerNorm(bias=False) learns a scale only
            self.bias = None

    def reset_parameters(self):
        """The scale back to ones and the shift to zeros, in the same Parameters (PyTorch's)."""
        if self.weight is not None:
            self.weight.data[...] = 1.0
        if self.bias is not None:
            self.bias.data[...] = 0.0

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The functional form of LayerNorm; weight and bias default to ones and zeros."""
    shape = _normalized_shape(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"LayerNorm: input of shape {input.shape} does not end with normalized_shape {shape}")
    ### BEGIN SOLUTION
    weight = np.ones(shape, dtype=input.dtype) if weight is None else weight
    bias = np.zeros(shape, dtype=input.dtype) if bias is None else bias
    return LayerNormOp.apply(input, weight, bias, eps=eps)
    ### END SOLUTION


# %%
def test_unit_layer_norm():
    """Checks `LayerNormOp`, `LayerNorm` and `layer_norm`: each token at mean 0 and std 1, a
    constant row staying finite, ∂/∂x against a finite difference, weight and bias gradients of
    shape `normalized_shape`, two normalized dims for `LayerNorm((3, 6))`, and no parameters without
    `elementwise_affine`. Take the statistics over the last `weight.ndim` axes, use the biased
    variance (`_row_means(rows)` is `rows @` a vector of 1/n); weight and bias gradients may be
    returned per token (`Function.apply` sums them) or already summed to `normalized_shape`.
    """
    rng = np.random.default_rng(0)
    x0 = rng.normal(3.0, 5.0, size=(2, 3, 6))
    ln = LayerNorm(6)
    y = ln(Tensor(x0))
    assert y.shape == (2, 3, 6)
    assert np.allclose(y.data.mean(-1), 0.0, atol=1e-5) and np.allclose(y.data.std(-1), 1.0, atol=1e-3)
    assert np.all(np.isfinite(ln(Tensor(np.full((1, 6), 7.0))).data)), "a constant row stays finite"
    # the backward pass, against a finite difference (float64)
    x = Tensor(x0, dtype=np.float64, requires_grad=True)
    w, b = (Tensor(rng.normal(size=6), dtype=np.float64, requires_grad=True) for _ in range(2))
    upstream = rng.normal(size=x0.shape)
    (LayerNormOp.apply(x, w, b) * Tensor(upstream, dtype=np.float64)).sum().backward()
    assert w.grad.shape == (6,) and b.grad.shape == (6,)
    assert np.allclose(b.grad.data, upstream.sum(axis=(0, 1)))

    def loss(x_array):
        return (LayerNormOp.apply(Tensor(x_array, dtype=np.float64), w, b).data * upstream).sum()

    eps, bumped = 1e-6, x0.copy()
    bumped[1, 2, 4] += eps
    assert np.isclose(x.grad.data[1, 2, 4], (loss(bumped) - loss(x0)) / eps, atol=1e-4)
    wide_norm = LayerNorm((3, 6))
    wide_out = wide_norm(Tensor(x0))
    wide = wide_out.data.reshape(2, -1)  # normalize over the last two dims
    assert np.allclose(wide.mean(-1), 0.0, atol=1e-5) and np.allclose(wide.std(-1), 1.0, atol=1e-3)
    (wide_out * Tensor(upstream)).sum().backward()
    assert wide_norm.weight.grad.shape == (3, 6)
    assert np.allclose(wide_norm.bias.grad.data, upstream.sum(axis=0), atol=1e-5)
    assert np.allclose(wide_norm.weight.grad.data, (upstream * wide_out.data).sum(axis=0), atol=1e-4)
    plain = LayerNorm(6, elementwise_affine=False)
    assert plain.parameters() == [] and np.allclose(plain(Tensor(x0)).data, y.data, atol=1e-6)


if __name__ == "__main__":
    test_unit_layer_norm()

# %% [markdown]
# ## The feed-forward network
#
# Attention is a weighted *average*: it routes information between tokens but does
# little computing on it (apart from the softmax, it is linear in the values). Each
# block therefore also has a two-layer MLP applied to every token separately:
# `Linear(E → H) → GELU → Linear(H → E)`, with the hidden size `H` usually `4·E`. About
# two thirds of a GPT's parameters live here; it is where the model stores most of what
# it "knows". `Linear` acts on the last dimension, so `(B, T, E)` needs no reshaping.
#
# Name the parts `self.fc1`, `self.act` and `self.fc2`. They keep `Linear`'s default
# (PyTorch's) initialization. The activation is GPT-2's: the tanh form of GELU,
# `GELU(approximate="tanh")` — in NumPy it is about twice as fast as the exact form
# (PyTorch's default), and the two differ by less than $10^{-3}$.

# %%
#| export
class FeedForward(Module):
    """Position-wise MLP: Linear(embed_dim, hidden_dim) -> GELU -> Linear(hidden_dim, embed_dim)."""

    def __init__(self, embed_dim, hidden_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.fc1 = Linear(embed_dim, hidden_dim)
        self.act = GELU(approximate="tanh")
        self.fc2 = Linear(hidden_dim, embed_dim)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.fc2(self.act(self.fc1(x)))
        ### END SOLUTION


# %%
def test_unit_feed_forward():
    """Checks `FeedForward`: parameters `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`, the
    shape `(B, T, E)` kept, and no mixing across tokens. Three parts named `self.fc1`, `self.act`,
    `self.fc2`, applied in that order; the activation is GPT-2's tanh form of GELU, which holds no
    parameters.
    """
    np.random.seed(0)
    ff = FeedForward(4, 16)
    assert [n for n, _ in ff.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    x = Tensor(np.random.normal(size=(2, 3, 4)))
    y = ff(x)
    assert y.shape == (2, 3, 4)
    one = ff(x[:, 1:2])  # each token on its own gives the same answer: no mixing across tokens
    assert np.allclose(one.data[:, 0], y.data[:, 1], atol=1e-6)


if __name__ == "__main__":
    test_unit_feed_forward()

# %% [markdown]
# ## The transformer block: pre-norm residuals
#
# ```
# x = x + Attention(LayerNorm(x))
# x = x + FeedForward(LayerNorm(x))
# ```
#
# **Why residuals?** `x + f(x)` makes each block compute a *correction* to its input.
# The gradient of the sum has a direct path, `∂(x + f(x))/∂x = 1 + ∂f/∂x`: however deep
# the stack, the loss's gradient reaches the first layers undiminished through the
# additions. Without them, deep stacks barely train.
#
# **Why pre-norm?** The original transformer normalized *after* each addition
# (`LayerNorm(x + f(x))`), which puts a normalization on the residual path itself; it
# needs a careful learning-rate warm-up to train. GPT-2 and nearly every model since
# normalize the *input of each branch* instead, leaving the residual stream a clean
# sum. It trains stably with plain Adam — which is what we use.
#
# With `causal=True` the block applies a causal mask itself (the attention's
# `is_causal=True`, combined with any mask passed in), so a stack of causal blocks can
# never leak the future.
#
# The parts are `self.ln1`, `self.attn` (a `MultiHeadAttention`), `self.ln2` and
# `self.ff` (a `FeedForward`).

# %%
#| export
class TransformerBlock(Module):
    """Pre-norm block: x + MHA(LN(x)), then x + FF(LN(x)). ``causal=True`` masks the future."""

    def __init__(self, embed_dim, num_heads, ff_dim, causal=False):
        super().__init__()
        self.causal = causal
        ### BEGIN SOLUTION
        self.ln1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim, ff_dim)
        ### END SOLUTION

    def forward(self, x, mask=None):
        ### BEGIN SOLUTION
        x = x + self.attn(self.ln1(x), mask=mask, is_causal=self.causal)
        return x + self.ff(self.ln2(x))
        ### END SOLUTION

    def extra_repr(self):
        return f"causal={self.causal}"


# %%
def test_unit_transformer_block():
    """Checks `TransformerBlock`: a causal block's earlier outputs ignore changes to later tokens, a
    non-causal one sees them, every parameter gets a gradient, and with both branches' output layers
    zeroed the block returns its input (the residual path). Pre-norm: normalize the *input of each
    branch* and add the branch to the un-normalized x; hand `self.causal` to the attention as
    `is_causal`.
    """
    np.random.seed(0)
    block = TransformerBlock(8, 2, 32, causal=True)
    x = Tensor(np.random.normal(size=(2, 5, 8)))
    y = block(x)
    assert y.shape == (2, 5, 8)
    x2 = Tensor(x.data.copy())
    x2.data[:, 3:] = 0.0  # change the future...
    assert np.allclose(block(x2).data[:, :3], y.data[:, :3], atol=1e-6), "...the past's output is unchanged"
    open_block = TransformerBlock(8, 2, 32)
    assert not np.allclose(open_block(x2).data[:, :3], open_block(x).data[:, :3]), "non-causal blocks see it"
    y.sum().backward()
    assert all(p.grad is not None and np.any(p.grad.data) for p in block.parameters())
    # a zero branch leaves the input untouched: the residual path
    for p in (block.attn.out_proj.weight, block.attn.out_proj.bias, block.ff.fc2.weight, block.ff.fc2.bias):
        p.data[...] = 0.0
    assert np.allclose(block(x).data, x.data)


if __name__ == "__main__":
    test_unit_transformer_block()

# %% [markdown]
# ## Containers: `ModuleList` and `ModuleDict`
#
# A model with a stack of identical blocks keeps them in a container. `Sequential`
# (module 03) calls them in a row; when `forward` needs to loop over them itself —
# passing a mask, keeping each block's output — PyTorch code uses **`ModuleList`**, a
# list of modules with no `forward` of its own, and **`ModuleDict`**, the same keyed by
# name (nanoGPT keeps its whole model in one: `ModuleDict(wte=..., wpe=..., h=ModuleList([...]))`).
# Both register what they hold, so `parameters()`, `state_dict()`, `train()` and
# `eval()` reach it. (A plain Python list of modules also works in tinytorch, whose
# `Module` walks lists; in PyTorch its parameters would be silently missed — use the
# containers.) They are given: the same `_Container` plumbing as `Sequential`; so are
# `ParameterList` and `ParameterDict`, the same containers holding Parameters.

# %%
#| export nn.containers
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Module, Parameter, _check_member_name, _ModuleMapping, _ModuleSequence


class ModuleList(_ModuleSequence):
    """A list of Modules whose parameters are registered; it has no forward of its own."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self)[index])
        return list(self)[self._position(index)]

    def __setitem__(self, index, module):
        self._add(self._position(index), module)

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self)
        modules.insert(index, module)
        self._renumber(modules)

    def _child_lines(self):
        """PyTorch's repr of a ModuleList: a run of equal modules is one line, `(0-2): 3 x Linear(...)`."""
        runs = []  # [first index, last index, repr]
        for index, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        return ["  " + (f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + text.replace("\n", "\n  ")
                for a, b, text in runs]


class ModuleDict(_ModuleMapping):
    """A dict of Modules whose parameters are registered, in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        _check_member_name(self, key, "module", lambda value: value is None or isinstance(value, Module))
        self._add(key, module)

    def update(self, modules):
        for key, module in (modules.items() if hasattr(modules, "items") else modules):
            self[key] = module

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()


def _as_parameter(value):
    """What a ParameterList or ParameterDict holds: a Parameter (a plain Tensor is wrapped, as in PyTorch)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)  # its dtype; requires_grad=True, whatever the Tensor had (PyTorch's rule too)
    raise TypeError(f"a ParameterList or ParameterDict holds Parameters or Tensors, not {type(value).__name__}")


class ParameterList(ModuleList):
    """A list of Parameters registered with the module that holds it (named 0, 1, ...)."""

    _checked = staticmethod(_as_parameter)


class ParameterDict(ModuleDict):
    """A dict of Parameters registered with the module that holds it, in insertion order."""

    _checked = staticmethod(_as_parameter)


# %%
def test_unit_containers():
    """Checks the provided `ModuleList` and `ModuleDict` on top of your `Module`: what they hold is
    registered, renumbered after `del`, reachable by name and by `eval()`, and a non-module is
    refused. The containers are given; a failure points at module 03's `Module` —
    `named_parameters`, `train`, or the `_members` a container overrides.
    """
    np.random.seed(0)
    blocks = ModuleList([Linear(4, 4) for _ in range(3)])
    assert len(blocks) == 3 and blocks[-1] is blocks[2] and isinstance(blocks[:2], ModuleList)
    blocks.append(LayerNorm(4))
    assert [n for n, _ in blocks.named_parameters()][-2:] == ["3.weight", "3.bias"]
    del blocks[0]
    assert [n for n, _ in blocks.named_parameters()][:1] == ["0.weight"], "renumbered, as in PyTorch"
    model = ModuleDict({"embed": Embedding(5, 4), "blocks": blocks})
    assert list(model.keys()) == ["embed", "blocks"] and model["blocks"] is blocks and model.embed is model["embed"]
    assert len(model.parameters()) == 1 + 2 * 3
    model.eval()
    assert not blocks[0].training
    try:
        blocks.append(np.zeros(3))
    except TypeError:
        pass
    else:
        raise AssertionError("a container holds Modules only")


if __name__ == "__main__":
    test_unit_containers()

# %% [markdown]
# ## GPT: a language model
#
# ```
# ids (B, T) → Embedding + LearnedPositionalEmbedding → (B, T, E)
#            → TransformerBlock(causal) × num_layers
#            → LayerNorm → Linear(E → vocab) → logits (B, T, vocab)
# ```
#
# The logits at position `t` are the model's prediction of token `t+1`, made from
# tokens `0..t` only (the causal mask). Training on a text therefore teaches every
# position at once: the targets are the inputs shifted by one. `CrossEntropyLoss` wants
# the classes on dim 1, as in PyTorch, so flatten the positions into the batch:
# `loss_fn(logits.reshape(-1, vocab_size), targets.reshape(-1))`.
#
# **Generation** is the same model in a loop: feed the sequence, take the logits of
# the last position, turn them into probabilities (softmax of `logits / temperature`),
# pick a token, append it, repeat. `greedy=True` always picks the most likely token
# (deterministic, often repetitive); sampling picks at random by probability — a low
# temperature sharpens the distribution towards greedy, a high one flattens it.
# The model only knows `max_len` positions, so it reads the last `max_len` tokens.
#
# The parts: `self.token_embedding`, `self.position_embedding`, `self.blocks` (a
# `Sequential` of causal `TransformerBlock`s), `self.ln_f` and `self.head`. Sampling is
# vectorized over the batch: draw one uniform number `u` per sequence and pick the first
# token whose cumulative probability exceeds `u`.

# %%
#| export
class GPT(Module):
    """A decoder-only transformer language model: ids (B, T) -> logits (B, T, vocab_size)."""

    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_len, ff_dim=None):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        ff_dim = 4 * embed_dim if ff_dim is None else ff_dim
        ### BEGIN SOLUTION
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = LearnedPositionalEmbedding(max_len, embed_dim)
        self.blocks = Sequential(*[TransformerBlock(embed_dim, num_heads, ff_dim, causal=True) for _ in range(num_layers)])
        self.ln_f = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size)
        ### END SOLUTION

    def forward(self, idx):
        ### BEGIN SOLUTION
        x = self.position_embedding(self.token_embedding(idx))
        return self.head(self.ln_f(self.blocks(x)))
        ### END SOLUTION

    def generate(self, idx, max_new_tokens, temperature=1.0, greedy=False, seed=None):
        """Extend ``idx`` (B, T) — or one sequence (T,) — by ``max_new_tokens`` tokens."""
        if not greedy and temperature <= 0:
            raise ValueError("generate: temperature must be > 0 (use greedy=True for the most likely token)")
        ids = np.asarray(idx.data if isinstance(idx, Tensor) else idx, dtype=np.int64)
        single = ids.ndim == 1
        ids = ids[None] if single else ids
        rng = np.random.default_rng(seed)
        ### BEGIN SOLUTION
        with no_grad():
            for _ in range(max_new_tokens):
                logits = self(ids[:, -self.max_len:]).data[:, -1, :]
                if greedy:
                    nxt = logits.argmax(axis=-1)
                else:
                    probs = SoftmaxOp.apply(Tensor(logits / temperature, dtype=np.float64), dim=-1).data
                    draws = rng.random((len(ids), 1))
                    nxt = np.minimum((probs.cumsum(axis=-1) < draws).sum(axis=-1), self.vocab_size - 1)
                ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)
        ### END SOLUTION
        return Tensor(ids[0] if single else ids, dtype=np.int64)


# %%
def test_unit_gpt():
    """Checks `GPT`: logits `(B, T, vocab)`, causal, parameters named from `token_embedding.weight`,
    a gradient for each, and `generate` (greedy = argmax of the last position, a seed makes sampling
    repeatable, one sequence in gives one out). Feed at most the last `max_len` tokens, keep only
    the last position's logits, sample with the `rng` made from `seed` (not `np.random`), and draw
    the whole batch's tokens at once.
    """
    np.random.seed(0)
    model = GPT(vocab_size=7, embed_dim=16, num_heads=2, num_layers=2, max_len=12)
    ids = np.random.randint(0, 7, size=(3, 10))
    logits = model(Tensor(ids, dtype=np.int64))
    assert logits.shape == (3, 10, 7)
    changed = ids.copy()
    changed[:, 6:] = (changed[:, 6:] + 1) % 7
    assert np.allclose(model(changed).data[:, :6], logits.data[:, :6], atol=1e-5), "causal: no peeking"
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "token_embedding.weight" and "blocks.1.attn.q_proj.weight" in names
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    out = model.generate(ids[:, :4], max_new_tokens=10, seed=0)
    assert out.shape == (3, 14) and np.array_equal(out.data[:, :4], ids[:, :4])
    assert out.dtype == np.int64 and out.data.min() >= 0 and out.data.max() < 7
    assert np.array_equal(model.generate(ids[:, :4], 10, seed=0).data, out.data), "a seed makes it repeatable"
    greedy = model.generate(ids[0, :4], 3, greedy=True)
    assert greedy.shape == (7,), "one sequence in, one sequence out"
    expected_next = model(ids[:1, :4]).data[0, -1].argmax()
    assert greedy.data[4] == expected_next, "greedy picks the most likely token"


if __name__ == "__main__":
    test_unit_gpt()

# %% [markdown]
# ### PyTorch's own encoder layer, given
#
# PyTorch users who have not written their own block reach for `nn.TransformerEncoderLayer`
# and `nn.TransformerEncoder`. Here they are, built from the parts of this course: the same
# attention and feed-forward sub-layers as `TransformerBlock`, with PyTorch's defaults —
# post-norm (`norm_first=False`: add, then normalize), ReLU, dropout 0.1, sequence-first
# inputs unless `batch_first=True` — and its parameter names for the feed-forward part
# (`linear1`, `linear2`, `norm1`, `norm2`; the attention keeps this course's `q_proj`,
# `k_proj`, `v_proj` where PyTorch packs one `in_proj_weight`).

# %%
#| export
import copy

from tinytorch.nn.attention import MultiheadAttention
from tinytorch.nn.dropout import Dropout
from tinytorch.nn.modules import gelu, relu


class TransformerEncoderLayer(Module):
    """torch.nn.TransformerEncoderLayer: self-attention then a feed-forward layer, each with dropout,
    a residual connection and a LayerNorm (after the sum, or before the sub-layer with norm_first)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        if isinstance(activation, str) and activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu', 'gelu' or a function, not {activation!r}")
        self.activation = {"relu": relu, "gelu": gelu}.get(activation, activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._attention_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward_block(self.norm2(x))
        x = self.norm1(x + self._attention_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward_block(x))

    def _attention_block(self, x, mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)
        return self.dropout1(out)

    def _feed_forward_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """`num_layers` copies of an encoder layer applied in turn (torch.nn.TransformerEncoder), then `norm`."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        # a list (Module walks lists) rather than this module's ModuleList, which this file cannot
        # import before module 08 is exported: the names are PyTorch's all the same (layers.0.linear1.weight)
        self.layers = [copy.deepcopy(encoder_layer) for _ in range(num_layers)]
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)

# %% [markdown]
# ### PyTorch's decoder layer and `nn.Transformer`, given
#
# The original Transformer (Vaswani et al., 2017) translates: an **encoder** reads the
# source sentence, a **decoder** writes the target one token at a time. A decoder layer is
# an encoder layer with one more sub-layer in the middle — **cross-attention**, whose
# queries come from the decoder and whose keys and values come from the encoder's output
# (`memory`): that is where each target position looks at the source. `nn.Transformer`
# stacks `num_encoder_layers` encoder layers and `num_decoder_layers` decoder layers, each
# stack followed by a LayerNorm, and initializes every weight matrix with Xavier-uniform, as
# PyTorch does. Its parameter names are PyTorch's (`encoder.layers.0.linear1.weight`,
# `decoder.layers.1.multihead_attn.out_proj.bias`, ...), except the attention's packed
# `in_proj_weight`, which is this course's `q_proj`, `k_proj`, `v_proj`.
# `Transformer.generate_square_subsequent_mask(n)` is the causal mask as PyTorch writes it:
# 0 on and below the diagonal, -inf above, added to the scores.

# %%
#| export
from tinytorch.nn import init


class TransformerDecoderLayer(TransformerEncoderLayer):
    """torch.nn.TransformerDecoderLayer: self-attention, cross-attention over the encoder's output
    (`memory`), then a feed-forward layer, each with dropout, a residual connection and a LayerNorm."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout3 = Dropout(dropout)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        def cross(y):
            out, _ = self.multihead_attn(y, memory, memory, attn_mask=memory_mask, need_weights=False,
                                         key_padding_mask=memory_key_padding_mask, is_causal=memory_is_causal)
            return self.dropout2(out)

        x = tgt
        if self.norm_first:
            x = x + self._attention_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + cross(self.norm2(x))
            return x + self._feed_forward_block(self.norm3(x))
        x = self.norm1(x + self._attention_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + cross(x))
        return self.norm3(x + self._feed_forward_block(x))

    def _feed_forward_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoder(Module):
    """`num_layers` copies of a decoder layer applied in turn, each reading `memory` (torch.nn.TransformerDecoder)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = [copy.deepcopy(decoder_layer) for _ in range(num_layers)]  # a list: see TransformerEncoder
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                      bool(tgt_is_causal), memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """torch.nn.Transformer: an encoder stack and a decoder stack, each ending in a LayerNorm."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        shared = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                      layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias)
        self.encoder = custom_encoder or TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **shared),
                                                            num_encoder_layers, LayerNorm(d_model, layer_norm_eps, bias=bias))
        self.decoder = custom_decoder or TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **shared),
                                                            num_decoder_layers, LayerNorm(d_model, layer_norm_eps, bias=bias))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's (private, as there): every matrix Xavier-uniform again, in place; vectors unchanged."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch] != tgt.shape[batch]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                            tgt_is_causal, memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, dtype=None):
        """The causal mask as PyTorch writes it: 0 where position i may see j (j <= i), -inf elsewhere."""
        return Tensor(np.triu(np.full((sz, sz), -np.inf), 1), dtype=dtype or np.float32)

# %% [markdown]
# ## Done
#
# `tito module complete 08` exports the transformer into `tinytorch/models/transformer.py`
# (`LayerNorm`, the encoder and decoder layers and stacks and `Transformer` are also in `tinytorch.nn`,
# and `F.layer_norm` is LayerNorm's functional form), `ModuleList`, `ModuleDict`, `ParameterList`
# and `ParameterDict` into `tinytorch/nn/containers.py`, and unlocks the fifth
# milestone, **2017 — Attention Is All You Need**:
#
# ```
# tito milestone run transformer
# ```
#
# It trains a small transformer, on your own `tinytorch`, to reverse sequences of
# tokens — a task no per-token network can solve: the answer for position 0 sits at
# position 7, and only attention can fetch it.
#
# Modules 09–14 then make this GPT small and fast — profiling, quantization, pruning, a
# KV cache, acceleration, benchmarking — and lead to the sixth milestone, **2018 —
# MLPerf: The Optimization Era**.
