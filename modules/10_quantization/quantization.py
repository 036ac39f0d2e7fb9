# %% [markdown]
# # Module 10 — Quantization: int8 weights
#
# *The same model in a quarter of the bytes.*
#
# Your GPT stores every weight as a 32-bit float: about seven significant digits. The
# network does not need them. Trained weights are noisy estimates anyway; rounding each
# one to one of 255 levels changes the output far less than the noise of training
# itself. **Quantization** stores weights as 8-bit integers plus one float scale per
# row, and the model becomes **4× smaller** with, typically, 98–99 % of its accuracy.
#
# Why it matters in practice:
#
# - **Memory and bandwidth.** A 7-billion-parameter model is 28 GB in float32 and 7 GB in
#   int8: the difference between "needs a server" and "runs on a laptop". Reading
#   weights from memory is what limits generation speed, so fewer bytes = faster tokens.
# - **Integer arithmetic.** CPUs (AVX-512 VNNI), phones' NPUs and GPUs' tensor cores
#   multiply int8 numbers 2–4× faster than float32 ones, accumulating in int32.
#
# Jacob et al. (Google, 2018) showed how to run whole networks in integer arithmetic on
# phones; MLPerf's inference benchmark (2019) accepts quantized results as long as they
# keep 99 % of the float32 accuracy. This module builds post-training quantization:
#
# | you build | what it does |
# |---|---|
# | `quantize_per_channel`, `dequantize` | float32 weights ↔ int8 values and one scale per output row |
# | `QuantizedLinear` | a Linear layer that stores int8; computes in float (dequantize) or integers (int32 accumulate) |
# | `replace_modules`, `quantize_model` | swap every `Linear` of a model for its quantized twin |

# %%
#| default_exp quant.int8
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training 06_embeddings 07_attention 08_transformer 09_profiling
#| export
import copy

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear, Module

# %% [markdown]
# ## Symmetric int8 quantization
#
# We map a float `w` to an integer `q` with one number, the **scale** `s`:
#
# $$q = \mathrm{clip}\bigl(\mathrm{round}(w / s),\,-127,\,127\bigr), \qquad \hat w = q \cdot s$$
#
# Choosing `s = max|w| / 127` maps the largest weight to ±127 and spreads the rest
# evenly in between: the step between two levels is `s`, so rounding moves any weight
# by at most `s / 2`. This is **symmetric** quantization: 0.0 maps to exactly 0, and
# there is no zero-point offset to carry through the arithmetic. We use −127…127 and
# leave −128 unused, so that the range is symmetric and `−q` never overflows.
#
# **Why one scale per output row?** A single outlier weight sets the scale for every
# weight that shares it. With one scale for a whole matrix, a row of small weights
# (say ±0.007) next to a row containing a 2.0 gets a step of 2.0/127 ≈ 0.016 — more
# than twice its largest weight: they all round to 0. **Per-channel** quantization gives each output
# row (each output unit) its own scale, and costs one float per row: for a 32×32 layer,
# 128 bytes of scales next to 1,024 bytes of int8 weights. The test below measures the
# difference on exactly such a matrix: per-tensor quantization zeroes the small row
# (100 % error), per-channel keeps its error under half a percent of its range.
#
# A row of all zeros has `max|w| = 0`; give it a scale of 1.0 (any positive number
# works: its weights quantize to 0 either way), never a division by zero.

# %%
#| export
INT8_MAX = 127


def quantize_per_channel(weight):
    """Symmetric int8 quantization of a 2-D weight, one scale per row: returns (q int8, scale float32 (rows,))."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float32)
    ### BEGIN SOLUTION
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale
    ### END SOLUTION


def dequantize(q, scale):
    """The float32 weights that int8 ``q`` with per-row ``scale`` stands for."""
    ### BEGIN SOLUTION
    return q.astype(np.float32) * scale[:, None]
    ### END SOLUTION


# %%
def test_unit_quantize_per_channel():
    """Checks `quantize_per_channel` and `dequantize`: int8 values and one float32 scale per *row*,
    each row's largest |w| at ±127, a rounding error of at most s/2, a positive scale for an
    all-zero row, and per-channel beating per-tensor on a row of tiny weights. Divide and multiply
    row by row (the scales as a column), and round *before* clipping and casting: a bare cast to
    int8 truncates 63.5 to 63.
    """
    rng = np.random.default_rng(0)
    w = rng.normal(0.0, 0.5, size=(6, 10)).astype(np.float32)
    q, scale = quantize_per_channel(w)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert scale.dtype == np.float32 and scale.shape == (6,)
    assert np.all(np.abs(q).max(axis=1) == 127), "each row's largest weight uses the full range"
    assert np.all(np.abs(dequantize(q, scale) - w) <= scale[:, None] / 2 + 1e-7), "rounding error <= s / 2"
    assert q.nbytes * 4 == w.nbytes, "one byte per weight instead of four"
    z, s = quantize_per_channel(np.zeros((2, 3)))
    assert np.all(z == 0) and np.all(s > 0), "an all-zero row is no division by zero"
    assert quantize_per_channel(np.array([[1.0, -1.0, 0.5]]))[0].tolist() == [[127, -127, 64]]
    # Per channel vs per tensor, on a matrix with one small row and one large one
    mixed = np.array([[0.007, -0.004, 0.006, 0.002], [2.0, -0.3, 0.5, 1.1]], dtype=np.float32)
    q, scale = quantize_per_channel(mixed)
    small_range = np.abs(mixed[0]).max()
    per_channel_error = np.abs(dequantize(q, scale) - mixed)[0].max() / small_range
    tensor_scale = np.abs(mixed).max() / 127
    per_tensor = np.round(mixed / tensor_scale) * tensor_scale
    per_tensor_error = np.abs(per_tensor - mixed)[0].max() / small_range
    assert np.all(per_tensor[0] == 0) and np.isclose(per_tensor_error, 1.0), "one scale for all zeroes the small row"
    assert per_channel_error < 0.005


if __name__ == "__main__":
    test_unit_quantize_per_channel()

# %% [markdown]
# ## A quantized Linear layer
#
# `QuantizedLinear` keeps `weight_int8` (int8, `(out, in)`), `scale` (float32, one per
# output row) and the `bias` in float32 (it is tiny, and adding it costs nothing).
# There are two ways to compute `y = x Wᵀ + b` from it:
#
# **1. Dequantize, then multiply in float.** Since row `j` of `W` is `q_j · s_j`,
#
# $$y_j = \sum_i x_i\, q_{ji}\, s_j = s_j \sum_i x_i\, q_{ji}$$
#
# so we multiply by the int8 matrix (NumPy turns it into float32 on the way) and scale
# each output *column* afterwards: `(x @ q.T) * scale`. That is one multiply per output
# number instead of one per weight. The result equals the float layer with dequantized
# weights. This is what "weight-only" quantization does: int8 in memory, float in the
# arithmetic.
#
# **2. Integers all the way (int32 accumulate).** Integer hardware wants the *inputs*
# in int8 too. We quantize the activations on the fly with one scale for the whole
# input, `s_x = max|x| / 127` (they change with every input, so the scale is computed
# per call: *dynamic* quantization), multiply int8 by int8 and add up in **int32**
# (a product of two int8 numbers needs 15 bits; a sum of 32 of them, 20 bits; int8 or
# int16 accumulators would overflow), then convert back with both scales:
#
# $$y_j \approx s_x\, s_j \sum_i q^x_i\, q_{ji} + b_j$$
#
# **Measured on the course machine** (a 3,500 × 32 input through a 32 → 128 layer):
# the float32 `Linear` 0.39 ms, the dequantize path 0.49 ms, the int32 path **11 ms**.
# NumPy has no integer BLAS: its int32 matrix product is a plain loop, about 25× slower
# than the vectorized float kernel. On hardware with int8 units the ranking flips. The lesson
# of this course's last modules in one line: *the fastest algorithm is the one your
# hardware has a kernel for.*
#
# Write `from_float` (quantize a `Linear`'s weight, copy its bias) and the two paths of
# `forward`. Scale and add the bias *in place* (`y *= ...`): `y = (x @ q.T) * scale + b`
# allocates two more output-sized arrays, and on this input that alone took 1.6 ms —
# four times the matrix product (module 13 explains why). The layer is for inference:
# its output is a plain `Tensor`, not part of a graph.

# %%
#| export
class QuantizedLinear(Module):
    """A Linear layer stored as int8 weights with per-row float scales; ``accumulate`` 'float' or 'int32'."""

    def __init__(self, weight_int8, scale, bias=None, accumulate="float"):
        super().__init__()
        if accumulate not in ("float", "int32"):
            raise ValueError(f"accumulate must be 'float' or 'int32', not {accumulate!r}")
        self.out_features, self.in_features = weight_int8.shape
        self.weight_int8, self.scale = weight_int8, scale
        self.bias = None if bias is None else Tensor(bias)
        self.accumulate = accumulate

    @classmethod
    def from_float(cls, linear, accumulate="float"):
        """The quantized twin of a ``Linear`` layer."""
        ### BEGIN SOLUTION
        q, scale = quantize_per_channel(linear.weight)
        bias = None if linear.bias is None else linear.bias.data.copy()
        return cls(q, scale, bias, accumulate=accumulate)
        ### END SOLUTION

    def forward(self, x):
        x = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float32)
        ### BEGIN SOLUTION
        if self.accumulate == "float":
            y = x @ self.weight_int8.T  # int8 becomes float32 inside the product
            y *= self.scale  # in place: no second output-sized array
        else:
            peak = np.abs(x).max()
            x_scale = np.float32(peak / INT8_MAX if peak > 0 else 1.0)
            xq = np.clip(np.round(x / x_scale), -INT8_MAX, INT8_MAX).astype(np.int32)
            y = (xq @ self.weight_int8.T.astype(np.int32)).astype(np.float32)
            y *= x_scale * self.scale
        if self.bias is not None:
            y += self.bias.data
        return Tensor._wrap(y)
        ### END SOLUTION

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, accumulate={self.accumulate}"


# %%
def test_unit_quantized_linear():
    """Checks `QuantizedLinear.from_float` and `forward` in both modes: shapes and dtypes, an error
    under 2 % of the output's range, exactly the dequantized float layer in 'float' mode, its own
    copy of the weights, and no bias when the Linear had none. Row j of W scales output *column* j;
    in 'int32' mode the activations get one dynamic scale of their own and the int8 products are
    summed in int32, where int8 would overflow.
    """
    np.random.seed(0)
    layer = Linear(32, 16)
    x = Tensor(np.random.normal(size=(5, 7, 32)))
    y = layer(x).data
    for accumulate in ("float", "int32"):
        ql = QuantizedLinear.from_float(layer, accumulate=accumulate)
        assert ql.weight_int8.dtype == np.int8 and ql.weight_int8.shape == (16, 32)
        yq = ql(x)
        assert isinstance(yq, Tensor) and yq.shape == (5, 7, 16) and yq.dtype == np.float32
        error = np.abs(yq.data - y).max()
        assert 0 < error < 0.02 * np.abs(y).max(), (accumulate, error)
    deq = x.data @ dequantize(ql.weight_int8, ql.scale).T + layer.bias.data
    assert np.allclose(QuantizedLinear.from_float(layer)(x).data, deq, atol=1e-5), "= the dequantized float layer"
    layer.weight.data[...] = 0.0  # the quantized layer keeps its own copy of the weights
    assert np.any(ql.weight_int8)
    no_bias = QuantizedLinear.from_float(Linear(4, 3, bias=False))
    assert no_bias.bias is None and no_bias(Tensor(np.ones((2, 4)))).shape == (2, 3)
    assert "accumulate=float" in repr(no_bias)


if __name__ == "__main__":
    test_unit_quantized_linear()

# %% [markdown]
# ## Quantizing a whole model
#
# Post-training quantization of a model is a walk over its tree: every `Linear` is
# replaced by `QuantizedLinear.from_float(layer)`. Layers live in attributes
# (`self.q_proj`), in lists and in containers (`Sequential`, `ModuleList`), and module 03
# gave every `Module` the two tools that hide the difference, as PyTorch does:
# `named_modules()` names each sub-module by its dotted path (`"blocks.0.attn.q_proj"`)
# and `set_submodule(path, new)` puts a new module at such a path. `replace_modules(model,
# select, build)` replaces each sub-module for which `select(module)` is true by
# `build(module)` (and does not look inside what it replaced). Modules 11 and 13 reuse it
# to swap layers of their own.
#
# `quantize_model(model)` quantizes a **copy** (`copy.deepcopy`) unless `inplace=True`,
# as `torch.ao.quantization.quantize_dynamic` does: you usually want to compare the two.
# Embeddings and LayerNorms stay in float32 here: lookups and normalizations do no
# matrix products, and for this GPT they are a small part of the bytes.

# %%
#| export
def replace_modules(model, select, build):
    """Replace every sub-module ``m`` with ``select(m)`` true by ``build(m)`` (not looking inside
    what it replaced); returns how many. ``named_modules`` finds them, ``set_submodule`` puts the
    new ones in place — in attributes, lists and containers alike."""
    ### BEGIN SOLUTION
    replaced = []
    for name, module in model.named_modules():
        if name and select(module) and not any(name.startswith(done + ".") for done in replaced):
            model.set_submodule(name, build(module))
            replaced.append(name)
    return len(replaced)
    ### END SOLUTION


def quantize_model(model, inplace=False, accumulate="float"):
    """Post-training int8 quantization: every Linear becomes a QuantizedLinear (of a copy, unless inplace)."""
    ### BEGIN SOLUTION
    target = model if inplace else copy.deepcopy(model)
    replace_modules(target, lambda m: isinstance(m, Linear),
                    lambda m: QuantizedLinear.from_float(m, accumulate=accumulate))
    return target
    ### END SOLUTION


# %%
from tinytorch.core.autograd import no_grad
from tinytorch.nn.modules import ReLU, Sequential
from tinytorch.perf.profiling import milestone_gpt, model_bytes


def test_unit_quantize_model():
    """Checks `replace_modules` and `quantize_model`: all 13 Linears of the milestone GPT replaced,
    the original untouched (a deep copy unless `inplace=True`), logits within 5 %, and the Linear
    bytes under 30 %. Find targets with `named_modules()`, put replacements in with `set_submodule`,
    skip paths *inside* something already replaced, and return how many you replaced.
    """
    model = milestone_gpt()
    ids = np.random.default_rng(0).integers(0, 11, (4, 12))
    with no_grad():
        reference = model(ids).data
    quantized = quantize_model(model)
    kinds = [type(m).__name__ for _, m in quantized.named_modules()]
    assert kinds.count("QuantizedLinear") == 2 * 6 + 1 and "Linear" not in kinds
    assert any(isinstance(m, Linear) for _, m in model.named_modules()), "the original is untouched"
    logits = quantized(ids).data
    assert np.abs(logits - reference).max() < 0.05 * np.abs(reference).max()
    assert np.mean(logits.argmax(-1) == reference.argmax(-1)) > 0.95, "the same predictions, nearly everywhere"
    linear_bytes = sum(m.weight.data.nbytes for _, m in model.named_modules() if isinstance(m, Linear))
    int8_bytes = sum(m.weight_int8.nbytes + m.scale.nbytes for _, m in quantized.named_modules()
                     if isinstance(m, QuantizedLinear))
    assert int8_bytes <= 0.3 * linear_bytes, (int8_bytes, linear_bytes)
    assert model_bytes(quantized) < 0.5 * model_bytes(model)
    mlp = Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    assert replace_modules(mlp, lambda m: isinstance(m, ReLU), lambda m: Sequential()) == 1
    assert isinstance(mlp[1], Sequential)
    same = quantize_model(mlp, inplace=True)
    assert same is mlp and isinstance(mlp[0], QuantizedLinear)


if __name__ == "__main__":
    test_unit_quantize_model()

# %% [markdown]
# ## What quantization cost and saved
#
# Run the cell below. For the milestone-sized GPT (`E = 32`, two blocks, 72 positions),
# on the course machine:
#
# | | float32 | int8 |
# |---|---|---|
# | bytes of the Linear weights | 66,944 | 18,572 (27.7 %, scales included) |
# | bytes of the whole model | 80,684 | 32,312 (40.0 %: embeddings, LayerNorms and biases stay float32) |
# | largest logit error on random ids (untrained model) | — | 0.9 % of the largest logit |
#
# The Linear weights shrink to 27.7 %, not 25 %: the per-row scales (4 bytes for every
# 32 int8 weights) cost 3 points. In a real model rows are thousands of weights long and
# the overhead vanishes. The milestone measures what matters most: the accuracy of the
# trained model after quantization.

# %%
def quantization_report():
    model = milestone_gpt()
    quantized = quantize_model(model)
    linear = sum(m.weight.data.nbytes for _, m in model.named_modules() if isinstance(m, Linear))
    int8 = sum(m.weight_int8.nbytes + m.scale.nbytes for _, m in quantized.named_modules() if isinstance(m, QuantizedLinear))
    print(f"Linear weights: {linear:,} -> {int8:,} bytes ({int8 / linear:.1%})")
    print(f"whole model: {model_bytes(model):,} -> {model_bytes(quantized):,} bytes "
          f"({model_bytes(quantized) / model_bytes(model):.1%})")
    ids = np.random.default_rng(0).integers(0, 11, (64, 12))
    with no_grad():
        ref, out = model(ids).data, quantized(ids).data
    print(f"largest logit error: {np.abs(ref - out).max() / np.abs(ref).max():.2%} of the largest logit")


if __name__ == "__main__":
    quantization_report()

# %% [markdown]
# ## Done
#
# `tito module complete 10` exports quantization into `tinytorch/quant/int8.py`:
#
# ```python
# from tinytorch.quant import quantize_model
# small = quantize_model(model)       # a copy with int8 Linear layers
# ```
#
# Quantization removed three quarters of every weight's bits. Module 11 removes half of
# the weights altogether.
