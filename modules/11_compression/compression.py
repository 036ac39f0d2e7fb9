# %% [markdown]
# # Module 11 — Compression: pruning
#
# *Removing the weights a model does not need.*
#
# Quantization kept every weight and gave each fewer bits. **Pruning** removes weights
# altogether. A trained network is heavily over-parameterized: LeCun, Denker and Solla
# ("Optimal Brain Damage", 1990) removed most of a network's weights with little loss,
# and Han et al. (2015) pruned 90 % of AlexNet's and VGG-16's connections with none.
# Their **Deep Compression** (ICLR 2016) chained three techniques — pruning, quantization
# and Huffman coding — and shrank AlexNet from 240 MB to 6.9 MB, 35× smaller, at the same
# accuracy. You already have the second technique; this module builds the first.
#
# | you build | what it does |
# |---|---|
# | `magnitude_mask`, `global_magnitude_masks` | which weights to remove: the smallest, per layer or across the model |
# | `MaskedLinear`, `prune_model`, `remove_masks` | zero them, and keep them zero while the model trains on |
# | `sparsity` | the fraction of weights that are zero, per layer and overall |
# | `prune_ff_units` | structured pruning: remove whole hidden units, for real speed |
# | `to_csr`, `compressed_bytes` | what a sparse matrix costs to store: CSR vs a bit mask |

# %%
#| default_exp compress.pruning
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer 09_profiling 10_quantization
#| export
import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear, LinearOp, Module
from tinytorch.quant.int8 import replace_modules

# %% [markdown]
# ## Which weights? The smallest ones
#
# **Magnitude pruning** assumes that a weight near zero contributes little: removing it
# changes `x · w` by `x · w`, which is small when `w` is. It is crude — a small weight
# on a large input matters — but it is cheap, needs no data, and works remarkably well.
#
# `magnitude_mask(weight, amount)` returns a boolean mask, `True` = keep, that removes
# exactly `round(amount · n)` of the `n` weights: those with the smallest `|w|`. Rank with
# `np.argsort` (`kind="stable"`, so ties are broken the same way every time) rather
# than comparing with a threshold, which would remove *every* weight equal to it.
#
# **Per layer or global?** Pruning 50 % of *each* layer treats all layers alike. But
# layers differ: a wide feed-forward layer is more redundant than a small output layer.
# **Global** pruning ranks all weights of all layers together, with one threshold, so
# redundant layers lose more and sensitive ones less. `global_magnitude_masks(weights,
# amount)` concatenates the magnitudes, ranks them once and splits the mask back into
# one per layer.

# %%
#| export
def _keep_largest(magnitudes, amount):
    """A bool mask over a 1-D array: False for the round(amount * n) smallest entries."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must lie in [0, 1], got {amount}")
    ### BEGIN SOLUTION
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes, kind="stable")[:int(round(amount * magnitudes.size))]] = False
    return keep
    ### END SOLUTION


def magnitude_mask(weight, amount):
    """Bool mask (True = keep) removing the ``amount`` fraction of ``weight`` with the smallest |w|."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    return _keep_largest(np.abs(w).reshape(-1), amount).reshape(w.shape)


def global_magnitude_masks(weights, amount):
    """One mask per weight, removing the ``amount`` fraction with the smallest |w| across all of them."""
    arrays = [np.asarray(w.data if isinstance(w, Tensor) else w) for w in weights]
    ### BEGIN SOLUTION
    keep = _keep_largest(np.concatenate([np.abs(a).reshape(-1) for a in arrays]), amount)
    ends = np.cumsum([a.size for a in arrays])[:-1]
    return [part.reshape(a.shape) for part, a in zip(np.split(keep, ends), arrays)]
    ### END SOLUTION


# %%
def test_unit_magnitude_masks():
    """Checks `_keep_largest` (through `magnitude_mask`) and `global_magnitude_masks`: exactly
    round(amount·n) weights removed even among ties, amounts 0 and 1, and a global mask that empties
    the layer of small weights first. Rank with a stable `np.argsort` (a threshold removes every
    weight equal to it); for the global masks rank all magnitudes together once and cut the mask
    back at the layers' sizes.
    """
    w = np.array([[0.5, -0.1, 0.02], [-2.0, 0.3, 0.0]])
    assert magnitude_mask(w, 0.5).tolist() == [[True, False, False], [True, True, False]]
    assert magnitude_mask(w, 0.0).all() and not magnitude_mask(w, 1.0).any()
    ties = magnitude_mask(np.ones(10), 0.3)
    assert ties.sum() == 7, "exactly round(amount * n) removed, even among equal weights"
    small, large = np.full((4, 4), 0.01), np.full((2, 8), 1.0)
    masks = global_magnitude_masks([small, large], 0.5)
    assert [m.shape for m in masks] == [(4, 4), (2, 8)]
    assert not masks[0].any() and masks[1].all(), "global: the small layer goes first"
    per_layer = [magnitude_mask(w, 0.5) for w in (small, large)]
    assert all(m.mean() == 0.5 for m in per_layer), "per layer: half of each"
    try:
        magnitude_mask(w, 1.5)
    except ValueError:
        pass
    else:
        raise AssertionError("amount > 1 must raise")


if __name__ == "__main__":
    test_unit_magnitude_masks()

# %% [markdown]
# ## Masks that survive training
#
# Zeroing weights once is not enough. Pruning costs some accuracy, and the standard
# remedy is to **fine-tune**: train the pruned model a little longer, letting the
# remaining weights compensate. But an optimizer step would move the zeroed weights
# again, and the model would be dense after one step.
#
# The fix — the one `torch.nn.utils.prune` uses — is to keep the **mask** with the layer
# and multiply it in on every forward pass: `MaskedLinear` computes
# `LinearOp(x, weight * mask, bias)`. Autograd then does the rest: the gradient of
# `weight * mask` with respect to `weight` is `grad * mask` (module 02's `MulOp`), so
# **pruned weights receive exactly zero gradient**. SGD leaves them at zero; so does a
# fresh Adam (its moments stay 0). The pruned weights are zeroed in the parameter
# itself too, so the sparsity is real in memory, not only in the forward pass.
#
# `MaskedLinear` *is* a `Linear` (a subclass holding the same `weight` and `bias`
# Parameters), so an optimizer built before or after pruning updates the same arrays,
# and `quantize_model` (module 10) quantizes a pruned model — Deep Compression's
# pipeline in two calls. `remove_masks(model)` makes pruning permanent: it turns every
# `MaskedLinear` back into a plain `Linear` with the (zeroed) weights, and drops the
# masks, like `torch.nn.utils.prune.remove`.
#
# `prune_model(model, amount=0.5, scope="global")` prunes every `Linear` of the model
# in place (`scope="layer"`: each by its own ranking) and returns the model.

# %%
#| export
class MaskedLinear(Linear):
    """A Linear whose pruned weights (``weight_mask`` False) are zero and get zero gradient."""

    def __init__(self, linear, mask):
        Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.weight_mask = np.asarray(mask, dtype=bool)
        if self.weight_mask.shape != self.weight.shape:
            raise ValueError(f"mask of shape {self.weight_mask.shape} for a weight of shape {self.weight.shape}")
        self.weight.data *= self.weight_mask

    def forward(self, x):
        ### BEGIN SOLUTION
        weight = self.weight * self.weight_mask
        if self.bias is None:
            return LinearOp.apply(x, weight)
        return LinearOp.apply(x, weight, self.bias)
        ### END SOLUTION


def prune_model(model, amount=0.5, scope="global"):
    """Magnitude-prune every Linear weight of ``model`` in place (``scope`` 'global' or 'layer'); returns it."""
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', not {scope!r}")
    layers = [m for _, m in model.named_modules() if isinstance(m, Linear)]
    ### BEGIN SOLUTION
    if scope == "global":
        masks = global_magnitude_masks([layer.weight for layer in layers], amount)
    else:
        masks = [magnitude_mask(layer.weight, amount) for layer in layers]
    mask_of = {id(layer): mask for layer, mask in zip(layers, masks)}
    replace_modules(model, lambda m: id(m) in mask_of, lambda m: MaskedLinear(m, mask_of[id(m)]))
    return model
    ### END SOLUTION


def _unmasked(masked):
    plain = Linear.__new__(Linear)
    Module.__init__(plain)
    plain.in_features, plain.out_features = masked.in_features, masked.out_features
    plain.weight, plain.bias = masked.weight, masked.bias
    return plain


def remove_masks(model):
    """Make pruning permanent: every MaskedLinear becomes a plain Linear (its weights stay zero); returns the model."""
    replace_modules(model, lambda m: isinstance(m, MaskedLinear), _unmasked)
    return model


# %% [markdown]
# ### Measuring sparsity
#
# `sparsity(model)` reports, for every `Linear` layer, the fraction of its weight that
# is exactly zero, and under the key `"global"` the fraction over all of them together
# (weighted by size, so a big layer counts for more than a small one).

# %%
#| export
def sparsity(model):
    """{layer path: fraction of zero weights} for every Linear, plus 'global' over all of them."""
    ### BEGIN SOLUTION
    report, zeros, total = {}, 0, 0
    for name, module in model.named_modules():
        if isinstance(module, Linear):
            w = module.weight.data
            report[name] = float(np.mean(w == 0))
            zeros += int(np.count_nonzero(w == 0))
            total += w.size
    report["global"] = zeros / total if total else 0.0
    return report
    ### END SOLUTION


# %%
from tinytorch.core.autograd import no_grad
from tinytorch.nn.modules import CrossEntropyLoss, ReLU, Sequential
from tinytorch.optim.adam import Adam
from tinytorch.perf.profiling import milestone_gpt


def test_unit_prune_model():
    """Checks `MaskedLinear.forward`, `prune_model` and `sparsity`: 50 % zeros overall with layers
    pruned unequally, the same Parameter objects afterwards, zero gradients for pruned weights while
    the others learn, and unchanged outputs after `remove_masks`. Multiply the mask in *as a Tensor
    operation* in every forward (autograd then zeroes the pruned weights' gradient) and let
    `replace_modules` put the `MaskedLinear`s in place.
    """
    model = milestone_gpt()
    params_before = model.parameters()
    prune_model(model, 0.5)
    report = sparsity(model)
    assert abs(report["global"] - 0.5) < 1e-3 and len(report) == 2 * 6 + 1 + 1
    assert any(abs(v - 0.5) > 0.05 for k, v in report.items() if k != "global"), "global: layers differ"
    assert isinstance(model.blocks[0].attn.q_proj, MaskedLinear)
    assert [id(p) for p in model.parameters()] == [id(p) for p in params_before], "the same Parameters"
    ids = np.random.default_rng(0).integers(0, 11, (8, 12))
    optimizer = Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        CrossEntropyLoss()(model(ids[:, :-1]), ids[:, 1:]).backward()
        optimizer.step()
    layer = model.blocks[1].ff.fc1
    assert np.all(layer.weight.grad.data[~layer.weight_mask] == 0), "pruned weights get zero gradient"
    assert np.any(layer.weight.grad.data[layer.weight_mask]), "the others learn"
    assert abs(sparsity(model)["global"] - 0.5) < 1e-3, "fine-tuning keeps them zero"
    with no_grad():
        before = model(ids).data
    remove_masks(model)
    assert type(model.blocks[0].attn.q_proj) is Linear
    with no_grad():
        assert np.allclose(model(ids).data, before, atol=1e-6), "removing the masks changes nothing"
    mlp = prune_model(Sequential(Linear(8, 8), ReLU(), Linear(8, 2)), 0.25, scope="layer")
    assert [round(v, 3) for v in sparsity(mlp).values()] == [0.25, 0.25, 0.25]


if __name__ == "__main__":
    test_unit_prune_model()

# %% [markdown]
# ## Zeros are not speed: structured pruning
#
# A 50 %-sparse weight matrix is still a dense NumPy array: `x @ W.T` multiplies every
# zero. Unstructured sparsity saves *storage* (below) and, on hardware or libraries
# with sparse kernels, time — but only at high sparsity: a sparse kernel does more work
# per nonzero than a dense one, and typically wins only above 90 % zeros. (NVIDIA's
# Ampere GPUs are the exception that proves the rule: they accelerate exactly "2 of
# every 4 weights zero", a *structured* pattern.)
#
# **Structured pruning** removes whole rows and columns, so the matrices really get
# smaller. In a feed-forward block `fc2(GELU(fc1(x)))`, hidden unit `j` is row `j` of
# `fc1` and column `j` of `fc2`; removing it shrinks both. We score a unit by how much it
# can carry, `‖fc1 row j‖ · ‖fc2 column j‖`, and keep the best.
#
# `prune_ff_units(ff, amount)` replaces `ff.fc1` and `ff.fc2` with smaller `Linear`
# layers holding the kept rows and columns (in their original order) and returns the
# number of units kept. **Measured on the course machine:** the feed-forward block of
# an `E = 128` model (hidden 512) on 64 × 32 tokens, forward: 16.0 ms dense; 16.4 ms
# with 50 % of its weights pruned *unstructured* — no faster at all (the mask even adds
# a multiply); 9.9 ms with half of its hidden units removed, 1.6× faster. (Not 2×: the
# two matrix products halve, but the input and output of the block keep their size.)

# %%
#| export
def prune_ff_units(ff, amount):
    """Remove the ``amount`` fraction of a FeedForward's hidden units with the smallest ‖fc1 row‖·‖fc2 column‖; returns units kept."""
    w1, w2 = ff.fc1.weight.data, ff.fc2.weight.data
    ### BEGIN SOLUTION
    score = np.linalg.norm(w1, axis=1) * np.linalg.norm(w2, axis=0)
    keep = np.sort(np.flatnonzero(_keep_largest(score, amount)))
    fc1, fc2 = Linear(w1.shape[1], keep.size), Linear(keep.size, w2.shape[0])
    fc1.weight.data[...], fc2.weight.data[...] = w1[keep], w2[:, keep]
    fc1.bias.data[...], fc2.bias.data[...] = ff.fc1.bias.data[keep], ff.fc2.bias.data
    ff.fc1, ff.fc2 = fc1, fc2
    return int(keep.size)
    ### END SOLUTION


# %%
def test_unit_prune_ff_units():
    """Checks `prune_ff_units`: 12 of 16 hidden units kept, `fc1` and `fc2` replaced by smaller
    Linears, the output still close, and a zero unit removed with the other units in their original
    order. Unit j is *row* j of fc1 (and its bias) and *column* j of fc2: score with the product of
    their norms, reuse `_keep_largest`, and keep the surviving indices sorted.
    """
    from tinytorch.models.transformer import FeedForward

    np.random.seed(0)
    ff = FeedForward(8, 16)
    ff.fc1.weight.data[3] *= 0.001  # unit 3 carries almost nothing
    x = Tensor(np.random.normal(size=(4, 5, 8)))
    with no_grad():
        full = ff(x).data
    assert prune_ff_units(ff, 0.25) == 12
    assert ff.fc1.weight.shape == (12, 8) and ff.fc2.weight.shape == (8, 12)
    with no_grad():
        small = ff(x).data
    assert small.shape == full.shape
    assert np.abs(small - full).max() < np.abs(full).max(), "the block still computes something close"
    ff2 = FeedForward(8, 16)
    kept_rows = ff2.fc1.weight.data.copy()
    ff2.fc1.weight.data[5] = 0.0
    prune_ff_units(ff2, 1 / 16)
    assert np.array_equal(ff2.fc1.weight.data, np.delete(kept_rows, 5, axis=0)), "the zero unit goes, order kept"


if __name__ == "__main__":
    test_unit_prune_ff_units()

# %%
def time_ff_pruning():
    from tinytorch.models.transformer import FeedForward
    from tinytorch.perf.profiling import time_function

    np.random.seed(0)
    x = Tensor(np.random.normal(size=(64, 32, 128)))
    dense, unstructured, structured = FeedForward(128, 512), FeedForward(128, 512), FeedForward(128, 512)
    prune_model(unstructured, 0.5)
    prune_ff_units(structured, 0.5)
    for name, ff in (("dense", dense), ("50 % unstructured", unstructured), ("50 % of units removed", structured)):
        with no_grad():
            ms = np.median(time_function(lambda: ff(x), repeat=30, warmup=3)) * 1e3
        print(f"{name}: {ms:.2f} ms")


if __name__ == "__main__":
    time_ff_pruning()

# %% [markdown]
# ## What sparsity saves on disk
#
# To *store* a sparse matrix you keep only its nonzeros, plus where they are. Two
# common formats:
#
# - **CSR** (compressed sparse row): the nonzero `values`, the column index of each
#   (`int32`), and `row_ptr`, where each row's nonzeros start (`rows + 1` numbers). For a
#   float32 matrix that is 8 bytes per nonzero: at 50 % sparsity, **more** than the dense
#   4 bytes per weight! CSR pays off only when most weights are gone.
# - **Bit mask + values**: one bit per weight (`np.packbits`) saying "nonzero here", and
#   the nonzero values in order: at 50 % sparsity, 4 × 0.5 + 1/8 = 2.125 bytes per weight,
#   53 % of dense.
#
# Combine with module 10 and store the nonzero *values* as int8: the bit mask format
# costs 0.5 + 0.125 = 0.625 bytes per weight, **16 % of dense float32** — Deep
# Compression in miniature (Han et al. then Huffman-code the values for another ~30 %).
#
# `to_csr(weight)` builds the three arrays without a Python loop: `np.nonzero` gives the
# rows and columns of the nonzeros in row order; counting them per row
# (`np.bincount(rows, minlength=n_rows)`) and a cumulative sum give `row_ptr`.

# %%
#| export
def to_csr(weight):
    """CSR form of a 2-D array: (values, column indices int32, row_ptr int32 of length rows + 1)."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    ### BEGIN SOLUTION
    rows, cols = np.nonzero(w)
    row_ptr = np.zeros(w.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=row_ptr[1:])
    return w[rows, cols], cols.astype(np.int32), row_ptr
    ### END SOLUTION


def compressed_bytes(weight, value_dtype=np.float32):
    """{'dense', 'csr', 'bitmask'}: bytes to store ``weight`` with values of ``value_dtype``."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    values, cols, row_ptr = to_csr(w)
    value_size = np.dtype(value_dtype).itemsize
    return {
        "dense": w.size * value_size,
        "csr": values.size * value_size + cols.nbytes + row_ptr.nbytes,
        "bitmask": np.packbits(w != 0).nbytes + values.size * value_size,
    }


# %%
def test_unit_compressed_bytes():
    """Checks `to_csr` (values, int32 column indices, an int32 `row_ptr` of length rows + 1) and the
    byte counts of `compressed_bytes`, with an empty row in the middle. `np.nonzero` lists the
    nonzeros in row order; `row_ptr` starts at 0 and adds up how many each row has, counted so that
    empty rows — the last ones too — still get their count of 0 (`minlength=`).
    """
    w = np.array([[0.0, 1.5, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, -1.0]], dtype=np.float32)
    values, cols, row_ptr = to_csr(w)
    assert values.tolist() == [1.5, 2.0, 3.0, -1.0] and cols.tolist() == [1, 3, 0, 3]
    assert row_ptr.tolist() == [0, 2, 2, 4] and cols.dtype == np.int32
    rebuilt = np.zeros_like(w)
    rows = np.repeat(np.arange(3), np.diff(row_ptr))
    rebuilt[rows, cols] = values
    assert np.array_equal(rebuilt, w), "CSR holds the whole matrix"
    half = np.where(np.arange(64 * 32).reshape(64, 32) % 2, 1.0, 0.0).astype(np.float32)
    sizes = compressed_bytes(half)
    assert sizes["dense"] == 8192 and sizes["csr"] == 1024 * 8 + 65 * 4 and sizes["bitmask"] == 256 + 4096
    assert sizes["csr"] > sizes["dense"], "at 50 % sparsity CSR is bigger than dense"
    assert compressed_bytes(half, np.int8)["bitmask"] == 256 + 1024


if __name__ == "__main__":
    test_unit_compressed_bytes()

# %% [markdown]
# ## Distillation, in one paragraph
#
# The third way to a smaller model is to train one. **Knowledge distillation**
# (Hinton, Vinyals and Dean, 2015) trains a small *student* network on the *soft*
# outputs of a big *teacher*: the teacher's probabilities, softened with a temperature,
# say not only "this is a 7" but "and it looks a bit like a 1", which teaches the
# student far more per example than the label alone. You have every piece to try it:
# a `GPT` with fewer layers, the teacher's `Softmax(logits / T)`, and a cross-entropy
# between the two distributions. DistilBERT (2019) kept 97 % of BERT's accuracy with
# 40 % fewer parameters this way.
#
# ## Done
#
# `tito module complete 11` exports pruning into `tinytorch/compress/pruning.py`:
#
# ```python
# from tinytorch.compress import prune_model, sparsity
# prune_model(model, amount=0.5)        # global magnitude pruning, masks kept
# ...fine-tune...                       # pruned weights stay zero
# print(sparsity(model)["global"])      # 0.5
# ```
#
# Modules 10 and 11 made the model smaller. Module 12 makes *generation* faster — not by
# changing the model at all, but by never computing the same thing twice.
