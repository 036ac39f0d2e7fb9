# %% [markdown]
# # Module 06 — Embeddings: from text to vectors
#
# Every network so far took numbers in: pixel intensities, coordinates. Language comes
# as *text*. Before a transformer can read a sentence, three things must happen:
#
# 1. **Tokenize** — cut the text into pieces (here: characters) and give each piece an
#    integer id. `"hello"` becomes `[3, 2, 4, 4, 5]`.
# 2. **Embed** — turn each id into a vector the network can compute with. An id is a
#    *name*, not a quantity: token 4 is not "twice" token 2, so we cannot feed ids in as
#    numbers. Instead each id owns a row of a learnable table, and training moves
#    similar tokens' rows close together.
# 3. **Add positions** — attention (module 07) treats its input as a *set*: shuffle the
#    tokens and every token still sees the same neighbours. "dog bites man" and "man
#    bites dog" would look alike. We add a vector that says *where* each token is.
#
# | you build | what it does |
# |---|---|
# | `CharTokenizer` | text ↔ list of ids |
# | `EmbeddingOp`, `Embedding` | ids `(B, T)` → vectors `(B, T, D)`, with a backward that adds up repeated ids |
# | `PositionalEncoding` | adds fixed sine/cosine waves: position information without parameters |
# | `LearnedPositionalEmbedding` | adds a learned vector per position |

# %%
#| default_exp text.embeddings
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training
#| export
import math

import numpy as np

from tinytorch.core.autograd import Function, where
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Module, Parameter

# %% [markdown]
# ## A character tokenizer
#
# The simplest tokenizer maps every distinct character to an id. Its vocabulary is tiny
# (a few dozen symbols for English text), it never meets a word it cannot spell, and
# `decode(encode(text)) == text` exactly. The price: sequences are long (one token per
# character), so a model needs more steps of attention to see a whole word. Real systems
# (GPT's byte-pair encoding) merge frequent character pairs into bigger tokens to
# shorten sequences; the interface — `encode`, `decode`, `vocab_size` — stays the same.
#
# Built from a text, the vocabulary is its characters in sorted order, so the same text
# always gives the same ids. Built from a list of characters, the list's order is kept.
# A character the tokenizer has never seen is an error that names it, rather than a
# silent "unknown" id that would make the model quietly wrong.
#
# Store the vocabulary twice: `self.chars`, the list (id → character, for `decode`), and
# `self.char_to_id`, a dict (character → id, for `encode`).

# %%
#| export
class CharTokenizer:
    """Characters ↔ integer ids. ``CharTokenizer("hello")`` or ``CharTokenizer(["a", "b"])``."""

    def __init__(self, text_or_chars):
        ### BEGIN SOLUTION
        if isinstance(text_or_chars, str):
            chars = sorted(set(text_or_chars))
        else:
            chars = list(dict.fromkeys(text_or_chars))  # keep order, drop repeats
            bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
            if bad:
                raise ValueError(f"CharTokenizer: the vocabulary must be single characters, got {bad[:5]!r}")
        if not chars:
            raise ValueError("CharTokenizer: the vocabulary is empty; build it from some text")
        self.chars = chars
        self.char_to_id = {c: i for i, c in enumerate(chars)}
        ### END SOLUTION

    @property
    def vocab_size(self):
        return len(self.chars)

    def __len__(self):
        return self.vocab_size

    def encode(self, text):
        """The ids of the characters of ``text``, as a list of ints."""
        ### BEGIN SOLUTION
        unknown = sorted(set(text) - self.char_to_id.keys())
        if unknown:
            raise ValueError(
                f"CharTokenizer.encode: characters not in the vocabulary: {unknown!r}. "
                "Build the tokenizer from text that contains them."
            )
        return [self.char_to_id[c] for c in text]
        ### END SOLUTION

    def decode(self, ids):
        """The text for a sequence of ids (a list, a NumPy array or a Tensor)."""
        ### BEGIN SOLUTION
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids).reshape(-1)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            if not np.all(ids == np.round(ids)):
                raise ValueError("CharTokenizer.decode: ids must be whole numbers")
            ids = ids.astype(np.int64)
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(
                f"CharTokenizer.decode: ids {sorted(set(bad.tolist()))[:5]} are outside "
                f"the vocabulary [0, {self.vocab_size - 1}]"
            )
        return "".join(self.chars[i] for i in ids.tolist())
        ### END SOLUTION

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# %%
def test_unit_char_tokenizer():
    """Checks `CharTokenizer`: the vocabulary of a text is its characters *sorted* (a list keeps its
    order, repeats dropped), `encode` gives Python ints, `decode` takes a list, an array or a
    Tensor, and unknown characters or ids out of range raise a `ValueError` that names them. Keep
    both directions (`self.chars`, `self.char_to_id`), and collect *all* unknown characters before
    raising.
    """
    tok = CharTokenizer("hello world")
    assert tok.vocab_size == 8 and len(tok) == 8
    assert tok.chars == sorted(set("hello world")), "sorted characters: the same text, the same ids"
    ids = tok.encode("hello")
    assert ids == [tok.char_to_id[c] for c in "hello"] and all(isinstance(i, int) for i in ids)
    assert ids[2] == ids[3], "the same character always gets the same id"
    assert tok.decode(ids) == "hello"
    assert tok.decode(np.array(ids)) == "hello"
    assert tok.decode(Tensor(ids, dtype=np.int64)) == "hello"
    assert CharTokenizer(["b", "a", "b"]).encode("ab") == [1, 0], "a list keeps its order"
    try:
        tok.encode("help!")
    except ValueError as err:
        assert "'!'" in str(err) and "'p'" in str(err), "the error names the unknown characters"
    else:
        raise AssertionError("unknown characters must raise ValueError")
    try:
        tok.decode([0, 99])
    except ValueError as err:
        assert "99" in str(err)
    else:
        raise AssertionError("an id outside the vocabulary must raise ValueError")


if __name__ == "__main__":
    test_unit_char_tokenizer()

# %% [markdown]
# ## Embedding: a lookup table that learns
#
# An embedding is a matrix `W` of shape `(num_embeddings, embedding_dim)`: row `i` is
# the vector of token `i`. The forward pass is a **gather** — `W[ids]` — which for ids of
# shape `(B, T)` gives vectors of shape `(B, T, D)`.
#
# Mathematically this is `one_hot(ids) @ W`: a linear layer on one-hot vectors. That
# view tells us the backward pass: the gradient of `W` is `one_hot(ids).T @ grad`, i.e.
# row `i` of `∂L/∂W` is the **sum** of the output gradients at every place where token
# `i` appeared. Rows of tokens that did not appear get zero.
#
# Building the one-hot matrix would waste `vocab × tokens` memory, so we **scatter-add**
# instead. The trap: `grad_W[ids] += grad` looks right but is wrong whenever an id
# repeats — NumPy's fancy-index assignment writes each row once, so "the" appearing
# three times would get one gradient instead of three. `np.add.at(grad_W, ids, grad)`
# is the unbuffered version that really adds every occurrence — but it adds them one row
# at a time, and for the 2,048 tokens of a GPT batch that takes 2.2 ms. Faster, with
# whole-array operations: **sort** the ids (`np.argsort`), so that the occurrences of each
# token sit next to each other; find where each token's run starts; and sum every run in
# one call, `np.add.reduceat(grad[order], starts, axis=0)`. Each used row receives its
# sum once, so a plain assignment is right: 0.3 ms for the same batch.
#
# Ids are integers, not something to differentiate, so they reach `forward` as a
# keyword argument and get no gradient.
#
# The table, `self.weight`, starts as standard normal noise (PyTorch's default for
# `nn.Embedding`). Unlike a `Linear` weight it multiplies no input, so there is no fan-in
# to scale by: each row *is* the token's starting vector, and the LayerNorms of the
# transformer take care of the overall scale. The given `reset_parameters()` draws the table
# again, into the same Parameter, as PyTorch's does (the padding row zero again).
#
# PyTorch's `padding_idx` is given: `Embedding(V, D, padding_idx=0)` starts row 0 at zero
# and never gives it a gradient, so the padding token that fills short sentences in a batch
# stays a zero vector. Your `forward` names the looked-up vectors `vectors`; its given last
# line cuts the padding positions from the graph (`where(keep, vectors, vectors.detach())`:
# the same values, no gradient where `keep` is False).

# %%
#| export
def _token_ids(ids, num_embeddings):
    """ids (a Tensor, an array or a list) as an integer array, checked against the table size."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if not np.issubdtype(ids.dtype, np.integer):
        if ids.size and not np.all(ids == np.round(ids)):
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= num_embeddings):
        raise IndexError(
            f"Embedding: ids must lie in [0, {num_embeddings - 1}], got values from "
            f"{ids.min()} to {ids.max()}"
        )
    return ids


class EmbeddingOp(Function):
    """Row lookup ``weight[ids]``; backward scatter-adds the gradient into the rows used."""

    @staticmethod
    def forward(ctx, weight, ids):
        ### BEGIN SOLUTION
        ctx.save_for_backward(ids)
        ctx.weight_shape = weight.shape
        return weight[ids]
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (ids,) = ctx.saved_tensors
        ids = ids.reshape(-1)
        order = np.argsort(ids, kind="stable")  # the occurrences of each id side by side
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])  # where each id's run begins
        rows = grad.reshape(-1, ctx.weight_shape[-1])[order]
        grad_weight = np.zeros(ctx.weight_shape, dtype=grad.dtype)
        if ids.size:
            grad_weight[sorted_ids[starts]] = np.add.reduceat(rows, starts, axis=0)  # one sum per used row
        return grad_weight
        ### END SOLUTION


def _padding_index(padding_idx, num_embeddings):
    """PyTorch's padding_idx: None, or a row of the table (negative counts from the end)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"Embedding: padding_idx must be within the {num_embeddings} rows, got {padding_idx}")
    return padding_idx % num_embeddings


def _without_padding_gradient(vectors, ids, padding_idx, num_embeddings):
    """The looked-up vectors, unchanged, but those of padding positions cut from the graph: the
    padding row gets no gradient (and so an Embedding's zero row stays zero), as in PyTorch."""
    if padding_idx is None:
        return vectors
    keep = _token_ids(ids, num_embeddings) != padding_idx
    return where(Tensor(keep[..., None]), vectors, vectors.detach())


class Embedding(Module):
    """A learnable table of ``num_embeddings`` vectors of size ``embedding_dim``; ids in, vectors out.
    ``padding_idx`` (as in PyTorch): that row starts at zero and never gets a gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        ### BEGIN SOLUTION
        self.weight = Parameter(np.random.normal(0.0, 1.0, (num_embeddings, embedding_dim)))
        ### END SOLUTION
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0.0

    def reset_parameters(self):
        """PyTorch's: every row N(0, 1) again, the padding row zero, into the same Parameter."""
        self.weight.data[...] = np.random.normal(0.0, 1.0, self.weight.shape)
        self._fill_padding_idx_with_zero()

    def forward(self, ids):
        ### BEGIN SOLUTION
        vectors = EmbeddingOp.apply(self.weight, ids=_token_ids(ids, self.num_embeddings))
        ### END SOLUTION
        return _without_padding_gradient(vectors, ids, self.padding_idx, self.num_embeddings)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):  # given
        """An Embedding holding the (rows, dim) table `embeddings`; frozen (no gradient) unless freeze=False."""
        table = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if table.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (rows, dim), got shape {table.shape}")
        layer = cls(*table.shape, padding_idx=padding_idx)
        layer.weight = Parameter(table.copy(), requires_grad=not freeze, dtype=table.dtype)
        return layer


# %%
def test_unit_embedding():
    """Checks `EmbeddingOp` and `Embedding`: `(2, 3)` ids give `(2, 3, 3)` vectors, a plain list of
    ids works, ids out of range raise an `IndexError`, and a row used three times receives the sum
    of three gradients. The backward scatter-*adds* into a zero table shaped like the weight:
    flatten the ids to 1-D and the gradient to `(tokens, D)` for `np.add.at`, since fancy assignment
    counts a repeated id once. In `forward`, name the looked-up vectors `vectors`: the given last
    line handles `padding_idx` with them.
    """
    np.random.seed(0)
    emb = Embedding(5, 3)
    assert emb.weight.shape == (5, 3) and [n for n, _ in emb.named_parameters()] == ["weight"]
    ids = np.array([[0, 2, 2], [4, 2, 1]])
    out = emb(Tensor(ids, dtype=np.int64))
    assert out.shape == (2, 3, 3)
    assert np.array_equal(out.data[1, 0], emb.weight.data[4]), "row 4 of the table"
    assert emb([3]).shape == (1, 3), "a plain list of ids works too"
    upstream = np.arange(18.0).reshape(2, 3, 3)
    (out * Tensor(upstream)).sum().backward()
    grad = emb.weight.grad.data
    # id 2 appears three times: its row receives the sum of three gradients
    assert np.allclose(grad[2], upstream[0, 1] + upstream[0, 2] + upstream[1, 1])
    assert np.allclose(grad[3], 0.0), "a token that never appeared gets no gradient"
    assert np.allclose(grad[0], upstream[0, 0])
    for bad in ([5], [-1]):
        try:
            emb(bad)
        except IndexError as err:
            assert "[0, 4]" in str(err)
        else:
            raise AssertionError("an id outside the table must raise IndexError")
    assert repr(emb) == "Embedding(5, 3)"
    padded = Embedding(5, 3, padding_idx=-5)  # row 0, counted from the end
    assert padded.padding_idx == 0 and np.all(padded.weight.data[0] == 0) and repr(padded) == "Embedding(5, 3, padding_idx=0)"
    padded(np.array([[0, 1, 0]])).sum().backward()
    assert np.all(padded.weight.grad.data[0] == 0) and np.all(padded.weight.grad.data[1] == 1)


if __name__ == "__main__":
    test_unit_embedding()

# %% [markdown]
# As in PyTorch, the lookup is also a plain function, `F.embedding(ids, weight)`, for
# `tinytorch.nn.functional`; and `Embedding` is also `tinytorch.nn.Embedding`.

# %%
#| export
def embedding(input, weight, padding_idx=None):
    """Rows ``weight[input]``: the functional form of Embedding (no gradient to row ``padding_idx``)."""
    rows = weight.shape[0]
    vectors = EmbeddingOp.apply(weight, ids=_token_ids(input, rows))
    return _without_padding_gradient(vectors, input, _padding_index(padding_idx, rows), rows)

# %% [markdown]
# ## Positions, the fixed way: sinusoidal encoding
#
# Attention compares every token with every other token, and the comparison ignores
# where they stand: permute the input and the output is permuted the same way. A
# language model must know that "not" came *before* "good". So we add to each token's
# vector a vector that depends only on its position `pos`.
#
# The original transformer (Vaswani et al., 2017) uses waves of different wavelengths:
#
# $$PE(pos, 2i) = \sin\!\bigl(pos / 10000^{2i/D}\bigr), \qquad PE(pos, 2i+1) = \cos\!\bigl(pos / 10000^{2i/D}\bigr)$$
#
# Why waves? Low dimensions oscillate quickly (they tell neighbours apart), high ones
# slowly (they tell the beginning from the end) — like the digits of a clock. Every
# value lies in [-1, 1], the same scale as the embeddings, whatever the position. And
# because `sin(a + k)` and `cos(a + k)` are a *rotation* of `sin(a)` and `cos(a)`, "k
# steps further" is the same linear map at every position, which makes relative
# offsets easy for attention to learn. The table is computed once, has no parameters,
# and works for any position up to `max_len`.
#
# Keep the table as `self.pe`, a plain `Tensor` of shape `(max_len, embed_dim)` — not a
# `Parameter`, so no optimizer ever changes it — and add its first `T` rows in `forward`.
# With an odd `embed_dim` the last sine column has no cosine partner.

# %%
#| export
def _check_positions(x, max_len, embed_dim, who):
    """The sequence length T of ``x`` (..., T, embed_dim), with clear errors for bad shapes."""
    if x.ndim < 2 or x.shape[-1] != embed_dim:
        raise ValueError(f"{who}: expected input of shape (..., T, {embed_dim}), got {x.shape}")
    if x.shape[-2] > max_len:
        raise ValueError(f"{who}: sequence length {x.shape[-2]} is longer than max_len={max_len}")
    return x.shape[-2]


class PositionalEncoding(Module):
    """Adds fixed sinusoidal position vectors to ``x`` of shape (..., T, embed_dim)."""

    def __init__(self, max_len, embed_dim):
        super().__init__()
        self.max_len, self.embed_dim = max_len, embed_dim
        ### BEGIN SOLUTION
        pos = np.arange(max_len)[:, None]
        freq = np.exp(-math.log(10000.0) * np.arange(0, embed_dim, 2) / embed_dim)
        table = np.zeros((max_len, embed_dim))
        table[:, 0::2] = np.sin(pos * freq)
        table[:, 1::2] = np.cos(pos * freq[: embed_dim // 2])
        self.pe = Tensor(table)  # a constant, not a Parameter: it never trains
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        length = _check_positions(x, self.max_len, self.embed_dim, "PositionalEncoding")
        return x + self.pe.data[:length]
        ### END SOLUTION

    def extra_repr(self):
        return f"max_len={self.max_len}, embed_dim={self.embed_dim}"



# %%
def test_unit_positional_encoding():
    """Checks `PositionalEncoding`: a `(max_len, embed_dim)` table in `self.pe`, a plain Tensor (no
    parameters), sines in the even columns and cosines in the odd ones, distinct rows, an odd
    `embed_dim`, and a `ValueError` past `max_len`. Columns 2i and 2i + 1 share the frequency
    1/10000^(2i/D); with an odd D there is one more sine column than cosine columns.
    """
    pe = PositionalEncoding(50, 6)
    assert pe.parameters() == [], "sinusoidal positions have no parameters"
    table = pe.pe.data
    assert table.shape == (50, 6) and np.all(np.abs(table) <= 1.0)
    assert np.allclose(table[0], [0, 1, 0, 1, 0, 1]), "position 0: sin 0 = 0, cos 0 = 1"
    assert np.isclose(table[3, 2], np.sin(3 / 10000 ** (2 / 6)))
    assert np.isclose(table[3, 5], np.cos(3 / 10000 ** (4 / 6)))
    assert len({tuple(np.round(row, 6)) for row in table}) == 50, "every position is distinct"
    x = Tensor(np.zeros((2, 4, 6)), requires_grad=True)
    y = pe(x)
    assert y.shape == (2, 4, 6) and np.allclose(y.data[1], table[:4])
    y.sum().backward()
    assert np.allclose(x.grad.data, 1.0), "adding a constant passes the gradient through"
    assert PositionalEncoding(10, 5).pe.shape == (10, 5), "an odd dimension works"
    try:
        pe(Tensor(np.zeros((1, 51, 6))))
    except ValueError as err:
        assert "max_len=50" in str(err)
    else:
        raise AssertionError("a sequence longer than max_len must raise")


if __name__ == "__main__":
    test_unit_positional_encoding()

# %% [markdown]
# ## Positions, the learned way
#
# GPT and BERT simply *learn* a vector per position: a second embedding table, indexed
# by the positions `0, 1, ..., T-1` instead of token ids. It is the same `EmbeddingOp`
# — positions are just ids. It can learn whatever position signal the task needs, at
# the cost of `max_len × D` parameters and no knowledge of positions beyond `max_len`.
#
# Like `PositionalEncoding`, it takes the token vectors `(..., T, D)` and returns them
# with positions added, so the two are interchangeable in a model. The table is
# `self.weight`, standard normal like a token embedding.

# %%
#| export
class LearnedPositionalEmbedding(Module):
    """Adds a learned vector per position to ``x`` of shape (..., T, embed_dim)."""

    def __init__(self, max_len, embed_dim):
        super().__init__()
        self.max_len, self.embed_dim = max_len, embed_dim
        ### BEGIN SOLUTION
        self.weight = Parameter(np.random.normal(0.0, 1.0, (max_len, embed_dim)))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        length = _check_positions(x, self.max_len, self.embed_dim, "LearnedPositionalEmbedding")
        return x + EmbeddingOp.apply(self.weight, ids=np.arange(length))
        ### END SOLUTION

    def extra_repr(self):
        return f"max_len={self.max_len}, embed_dim={self.embed_dim}"


# %%
def test_unit_learned_positional_embedding():
    """Checks `LearnedPositionalEmbedding`: one learned row per position in `self.weight`, the first
    T rows added to every sequence, and each used row collecting the gradient of the whole batch
    (rows past T get none). Positions are ids: look `0 … T − 1` up with `EmbeddingOp` and add; the
    broadcast over the batch is summed back by autograd.
    """
    np.random.seed(0)
    pos = LearnedPositionalEmbedding(8, 4)
    assert [n for n, _ in pos.named_parameters()] == ["weight"]
    x = Tensor(np.zeros((3, 5, 4)))
    y = pos(x)
    assert y.shape == (3, 5, 4) and np.allclose(y.data[2], pos.weight.data[:5])
    y.sum().backward()
    grad = pos.weight.grad.data
    assert np.allclose(grad[:5], 3.0), "each used position collects the gradient of the whole batch"
    assert np.allclose(grad[5:], 0.0), "positions beyond T get none"
    tokens = Embedding(10, 4)(np.array([[1, 2, 3]]))
    assert pos(tokens).shape == (1, 3, 4), "token vectors in, token + position vectors out"


if __name__ == "__main__":
    test_unit_learned_positional_embedding()

# %% [markdown]
# ## Given: EmbeddingBag — a bag of tokens, one vector
#
# A bag-of-words classifier, or a recommender that sums a user's item embeddings, wants one
# vector per *bag* of tokens: the sum, mean or maximum of the bag's rows. PyTorch's
# `nn.EmbeddingBag` does it without ever building the (tokens, D) tensor in the user's code.
# Bags come two ways: a 2-D input `(B, L)` is B bags of L ids; a 1-D input is all the ids one
# after another, with `offsets` saying where each bag starts (`include_last_offset=True`: one
# more offset, the input's length, as in the CSR sparse format). A bag may be empty: its vector is zero.
#
# It is two steps. **Gather** the rows with your `EmbeddingOp` (whose backward already adds up
# repeated ids). Then **reduce each bag**: a bag is a run of consecutive rows, so
# `np.add.reduceat(rows, starts)` sums every run in one call (`BagSumOp`; its backward hands each
# row its bag's gradient, a gather). `np.add.at` would do it one row at a time, which is why this
# is an op of its own. The mean is that sum divided by the bag's size. The max takes, for every
# bag and every dimension, the *first* row that reaches the maximum (as PyTorch does), and gathers
# it, so the gradient goes to that row only. `per_sample_weights` (mode "sum" only, as in PyTorch)
# multiply each row before the sum and get a gradient too. Entries equal to `padding_idx` are left
# out of their bags: not summed, not counted in the mean.

# %%
#| export
from tinytorch.core.autograd import cat


class BagSumOp(Function):
    """The sum of each bag's rows: rows (K, D) whose bag numbers `bags` never decrease -> (num_bags, D),
    zero for an empty bag. Backward: every row gets its bag's gradient."""

    @staticmethod
    def forward(ctx, rows, bags=None, num_bags=0):
        out = np.zeros((num_bags, rows.shape[1]), dtype=rows.dtype)
        if bags.size:
            starts = np.flatnonzero(np.r_[True, bags[1:] != bags[:-1]])  # where each bag's run begins
            out[bags[starts]] = np.add.reduceat(rows, starts, axis=0)
        ctx.bags = bags
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.bags]


def _bags(input, offsets, include_last_offset, num_embeddings):
    """The ids of every entry that is in a bag (1-D), the bag of each (never decreasing), and the number of bags."""
    ids = _token_ids(input, num_embeddings)
    if ids.ndim == 2:  # B fixed-size bags
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets).__name__}")
        return ids.reshape(-1), np.repeat(np.arange(ids.shape[0]), ids.shape[1]), ids.shape[0]
    if ids.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {ids.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    starts = np.asarray(offsets.data if isinstance(offsets, Tensor) else offsets)
    if starts.ndim != 1 or not np.issubdtype(starts.dtype, np.integer) or (include_last_offset and not starts.size):
        raise ValueError(f"offsets has to be a 1D Tensor of integers (at least one with include_last_offset), "
                         f"got {starts.dtype} of shape {starts.shape}")
    bounds = starts if include_last_offset else np.r_[starts, ids.size]  # bag b is ids[bounds[b]:bounds[b + 1]]
    if starts.size and starts[0] != 0:
        raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                           f"position 0. However, got {starts[0]}")
    if np.any(np.diff(bounds) < 0) or bounds[-1] > ids.size:
        raise RuntimeError(f"offsets must not decrease nor exceed the input's length {ids.size}, got {starts.tolist()}")
    if bounds[-1] != ids.size:  # PyTorch's kernels disagree on what the ids after it are: refused
        raise ValueError(f"with include_last_offset=True the last offset must be the input's length {ids.size} "
                         f"(the CSR format), got {bounds[-1]}")
    return ids, np.repeat(np.arange(bounds.size - 1), np.diff(bounds)), bounds.size - 1


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """The sum, mean or max of the rows `weight[ids]` of every bag: (B, L) ids, or 1-D ids and offsets -> (B, D)."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq=True and sparse=True are not "
                                  "supported here")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}').")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D (num_embeddings, embedding_dim), got {weight.shape}")
    ids, bags, num_bags = _bags(input, offsets, include_last_offset, weight.shape[0])
    entries = np.arange(ids.size)  # which entries of the (flattened) input are summed
    padding_idx = _padding_index(padding_idx, weight.shape[0])
    if padding_idx is not None:
        entries = np.flatnonzero(ids != padding_idx)
        ids, bags = ids[entries], bags[entries]
    rows = EmbeddingOp.apply(weight, ids=ids)  # (K, D)
    if per_sample_weights is not None:
        shape = np.shape(input.data if isinstance(input, Tensor) else input)
        if tuple(per_sample_weights.shape) != shape:
            raise ValueError(f"embedding_bag: If per_sample_weights ({tuple(per_sample_weights.shape)}) is not None, "
                             f"then it must have the same shape as the input ({shape})")
        if per_sample_weights.dtype != weight.dtype:
            raise RuntimeError(f"embedding_bag: per_sample_weights ({per_sample_weights.dtype}) must have the "
                               f"weight's dtype ({weight.dtype})")
        rows = rows * per_sample_weights.reshape(-1)[entries].reshape(-1, 1)
    if mode != "max":
        total = BagSumOp.apply(rows, bags=bags, num_bags=num_bags)
        if mode == "sum":
            return total
        sizes = np.maximum(np.bincount(bags, minlength=num_bags), 1)  # an empty bag's mean is 0, not 0 / 0
        return total / Tensor._wrap(sizes[:, None].astype(weight.dtype))
    K, D = rows.shape
    first = np.full((num_bags, D), K)  # row K: a zero row, for the empty bags
    if K:
        starts = np.flatnonzero(np.r_[True, bags[1:] != bags[:-1]])
        peaks = np.maximum.reduceat(rows.data, starts, axis=0)  # (non-empty bags, D)
        run = np.cumsum(np.r_[0, bags[1:] != bags[:-1]])  # each row's non-empty bag
        reaching = np.where(rows.data == peaks[run], np.arange(K)[:, None], K)  # rows that reach their bag's peak
        first[bags[starts]] = np.minimum.reduceat(reaching, starts, axis=0)  # the first of them
    zero_row = Tensor(np.zeros((1, D), dtype=weight.dtype), dtype=weight.dtype)
    return cat([rows, zero_row], dim=0).gather(0, first)


class EmbeddingBag(Module):
    """A table of `num_embeddings` vectors; each bag of ids -> the sum, mean (default) or max of its rows."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError("mode has to be one of sum, mean or max")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: max_norm, scale_grad_by_freq=True and sparse=True are not "
                                      "supported here")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        if _weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim)))
            self.reset_parameters()  # as Embedding: N(0, 1), the padding row zero
        else:
            table = np.asarray(_weight.data if isinstance(_weight, Tensor) else _weight)
            if table.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight must have shape {(num_embeddings, embedding_dim)}, "
                                 f"got {table.shape}")
            self.weight = Parameter(table.copy(), dtype=table.dtype)

    _fill_padding_idx_with_zero, reset_parameters = Embedding._fill_padding_idx_with_zero, Embedding.reset_parameters

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                             include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{padding}"

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag holding the (rows, dim) table `embeddings`; frozen (no gradient) unless freeze=False."""
        table = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if table.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D (rows, dim), got {table.shape}")
        layer = cls(*table.shape, max_norm, norm_type, scale_grad_by_freq, mode, sparse, table, include_last_offset,
                    padding_idx)
        layer.weight.requires_grad = not freeze
        return layer


# %%
def test_unit_embedding_bag():
    """Checks the provided `EmbeddingBag` and `F.embedding_bag` with hand-computed bags: sum, mean and
    max of 1-D ids with offsets (an empty bag gives zeros), fixed-size 2-D bags, per-sample weights,
    `padding_idx` left out of the mean, and the gradients: each row gets its bags' gradients, the
    max's only where the row was the first maximum. This code is provided: if it fails, look at your
    `EmbeddingOp`.
    """
    table = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 0.0], [0.0, 0.0]])
    weight = Tensor(table, dtype=np.float64, requires_grad=True)
    ids, offsets = np.array([0, 1, 2, 2, 1]), np.array([0, 3, 3])  # bags [0, 1, 2], [], [2, 1]
    total = embedding_bag(ids, weight, offsets, mode="sum")
    assert total.data.tolist() == [[7.0, 10.0], [0.0, 0.0], [6.0, 5.0]]
    assert np.allclose(embedding_bag(ids, weight, offsets).data, [[7 / 3, 10 / 3], [0, 0], [3, 2.5]])
    peak = embedding_bag(ids, weight, offsets, mode="max")
    assert peak.data.tolist() == [[3.0, 5.0], [0.0, 0.0], [3.0, 5.0]]
    peak.sum().backward()  # ties go to the first row of the bag that reaches the maximum
    assert weight.grad.data.tolist() == [[0, 1], [1, 1], [1, 0], [0, 0]]
    weighted = embedding_bag(np.array([[0, 3], [1, 1]]), weight, mode="sum",
                             per_sample_weights=Tensor(np.array([[2.0, 1.0], [0.5, 0.5]]), dtype=np.float64))
    assert weighted.data.tolist() == [[2.0, 10.0], [3.0, 5.0]]
    padded = EmbeddingBag.from_pretrained(table, padding_idx=1)  # the 1s are not in the bags
    assert np.allclose(padded(np.array([[1, 0, 2], [1, 1, 1]])).data, [[2.0, 2.5], [0.0, 0.0]])
    bag = EmbeddingBag(10, 3, mode="sum", include_last_offset=True)
    assert bag.weight.shape == (10, 3) and bag.weight.dtype == np.float32
    assert bag(np.array([4, 5, 6]), np.array([0, 2, 3])).shape == (2, 3)  # bags [4, 5] and [6]: the last offset ends
    assert repr(bag) == "EmbeddingBag(10, 3, mode='sum')"


if __name__ == "__main__":
    test_unit_embedding_bag()

# %% [markdown]
# ### Before attention: recurrent layers, given
#
# Until 2017 a sequence was read one step at a time by a recurrent network: a hidden state
# `h` carries what was read so far, and every step mixes the next embedding into it. PyTorch's
# `nn.RNN`, `nn.LSTM` and `nn.GRU` (and their one-step `...Cell`s) are given here, with
# PyTorch's parameter names (`weight_ih_l0`, `weight_hh_l0_reverse`, ...), gate orders
# (LSTM: input, forget, cell, output; GRU: reset, update, new), shapes and initialization,
# so that PyTorch code and checkpoints work. They are built from `linear` and the Tensor
# operations, so their gradients — backpropagation through time — come from autograd. Two
# things keep them quick in NumPy: the input's part of every gate is one matrix product
# for all time steps at once, and only the hidden state's part is computed step by step.
# Module 07 shows why attention replaced them: it needs no step-by-step loop at all.

# %%
#| export nn.recurrent
import math

import numpy as np

from tinytorch.core.autograd import cat, stack
from tinytorch.core.tensor import Tensor
from tinytorch.nn.dropout import dropout
from tinytorch.nn.modules import Module, Parameter, linear

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(mode, x_part, h, c, w_hh, b_hh):
    """One time step: x_part is the input's share of the gates (already x W_ihᵀ + b_ih)."""
    h_part = linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return (x_part + h_part).tanh(), None
    if mode == "RNN_RELU":
        return (x_part + h_part).relu(), None
    if mode == "LSTM":
        i, f, g, o = (x_part + h_part).chunk(4, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    x_r, x_z, x_n = x_part.chunk(3, dim=-1)  # GRU
    h_r, h_z, h_n = h_part.chunk(3, dim=-1)
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1.0 - z) * n + z * h, None


class _RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be an integer greater than zero, got {num_layers}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, dropout, bidirectional
        gates, directions = _GATES[mode] * hidden_size, 2 if bidirectional else 1
        for layer in range(num_layers):
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                width = input_size if layer == 0 else hidden_size * directions
                shapes = {"weight_ih": (gates, width), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for name, shape in shapes.items():
                    setattr(self, name + suffix, Parameter(np.zeros(shape)))
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's init, into the same Parameters: every weight and bias uniform on ±1/√hidden_size."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            weight.data[...] = np.random.uniform(-bound, bound, weight.shape)

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return [getattr(self, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def forward(self, input, hx=None):
        _check_input(self, input, (2, 3))
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if self.batch_first and batched:
            x = x.transpose(0, 1)  # time first inside
        directions = 2 if self.bidirectional else 1
        states = self._initial_states(hx, x.shape[1], directions, batched)
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                h, c = states[0][k], (states[1][k] if self.mode == "LSTM" else None)
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, direction)
                x_parts = linear(x, w_ih, b_ih)  # the input's share of every gate, all steps at once
                steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
                seen = []
                for t in steps:
                    h, c = _rnn_step(self.mode, x_parts[t], h, c, w_hh, b_hh)
                    seen.append(h)
                outputs.append(stack(seen[::-1] if direction else seen))
                last_h.append(h)
                last_c.append(c)
            x = outputs[0] if directions == 1 else cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout(x, self.dropout)
        output = x.transpose(0, 1) if self.batch_first and batched else x
        h_n = stack(last_h)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
        if self.mode != "LSTM":
            return output, h_n
        c_n = stack(last_c)
        return output, (h_n, c_n if batched else c_n.squeeze(1))

    def _initial_states(self, hx, batch, directions, batched):
        count = self.num_layers * directions
        zeros = Tensor._wrap(np.zeros((count, batch, self.hidden_size), dtype=self._weights(0, 0)[0].dtype))
        if hx is None:
            return zeros, zeros
        h0, c0 = hx if self.mode == "LSTM" else (hx, None)
        if not batched:
            h0, c0 = h0.unsqueeze(1), (None if c0 is None else c0.unsqueeze(1))
        for k, state in enumerate((h0, c0) if self.mode == "LSTM" else (h0,)):
            if state.shape != (count, batch, self.hidden_size):
                raise RuntimeError(f"Expected hidden[{k}] size {(count, batch, self.hidden_size)}, got {state.shape}")
        return h0, c0

    def extra_repr(self):
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += "" if self.bias else ", bias=False"
        extra += ", batch_first=True" if self.batch_first else ""
        extra += f", dropout={self.dropout}" if self.dropout else ""
        extra += ", bidirectional=True" if self.bidirectional else ""
        return f"{self.input_size}, {self.hidden_size}{extra}"


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh) (or relu, with nonlinearity="relu")."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory: returns output, (h_n, c_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


class GRU(_RNNBase):
    """Gated recurrent unit: returns output, h_n."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


def _check_sizes(input_size, hidden_size):
    """PyTorch's checks of a recurrent layer's sizes."""
    for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
        if size <= 0:
            raise ValueError(f"{name} must be greater than zero")


def _check_input(layer, input, ndims):
    """The input of a recurrent layer or cell: ndims dimensions (unbatched or batched), input_size features."""
    if input.ndim not in ndims:
        raise ValueError(f"{type(layer).__name__}: Expected input to be {ndims[0]}D or {ndims[1]}D, "
                         f"got {input.ndim}D tensor instead")
    if input.shape[-1] != layer.input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {layer.input_size}, "
                           f"got {input.shape[-1]}")


class _CellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        gates = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(np.zeros((gates, input_size)))
        self.weight_hh = Parameter(np.zeros((gates, hidden_size)))
        self.bias_ih = Parameter(np.zeros(gates)) if bias else None
        self.bias_hh = Parameter(np.zeros(gates)) if bias else None
        self.reset_parameters()

    reset_parameters = _RNNBase.reset_parameters  # the same rule: everything uniform on ±1/√hidden_size

    def forward(self, input, hx=None):
        _check_input(self, input, (1, 2))
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        zeros = Tensor._wrap(np.zeros((x.shape[0], self.hidden_size), dtype=self.weight_ih.dtype))
        h, c = (zeros, zeros) if hx is None else (hx if self.mode == "LSTM" else (hx, None))
        if hx is not None:  # PyTorch's check: one state per example, hidden_size numbers each
            expected = tuple(input.shape[:-1]) + (self.hidden_size,)
            for k, state in enumerate((h, c) if self.mode == "LSTM" else (h,)):
                if tuple(state.shape) != expected:
                    raise RuntimeError(f"hidden{k} of shape {tuple(state.shape)} does not match the input: "
                                       f"expected {expected}")
        if not batched and hx is not None:
            h, c = h.unsqueeze(0), (None if c is None else c.unsqueeze(0))
        h, c = _rnn_step(self.mode, linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), (None if c is None else c.squeeze(0))
        return (h, c) if self.mode == "LSTM" else h

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_CellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, bias)


class LSTMCell(_CellBase):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("LSTM", input_size, hidden_size, bias)


class GRUCell(_CellBase):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("GRU", input_size, hidden_size, bias)

# %% [markdown]
# ## Done
#
# `tito module complete 06` exports the tokenizer, `Embedding`, the given `EmbeddingBag` and both
# positional encodings into `tinytorch/text/embeddings.py` (and the recurrent layers into
# `tinytorch/nn/recurrent.py`: `tinytorch.nn.LSTM`, ...):
#
# ```python
# from tinytorch.text import CharTokenizer, Embedding, LearnedPositionalEmbedding
# tok = CharTokenizer("to be or not to be")
# ids = np.array([tok.encode("to be")])           # (1, 5)
# x = LearnedPositionalEmbedding(32, 16)(Embedding(tok.vocab_size, 16)(ids))  # (1, 5, 16)
# ```
#
# The vectors know *what* each token is and *where* it stands. Next, module 07 lets
# them look at each other: attention.
