# %% [markdown]
# # Module 03 — Neural-network building blocks
#
# With `Tensor` and autograd you can already train a model: write `x @ w + b`, compute a
# loss, call `backward()`, nudge `w` and `b`. But a real network has dozens of weight
# tensors, and writing each one out by hand does not scale. This module adds the
# *structure* every deep-learning library has:
#
# - **`Module`** — an object that owns parameters and sub-modules and knows how to find
#   them all, so `model.parameters()` hands an optimizer every weight in one call.
# - **Layers** — `Linear`, `Sequential`, and the activations `ReLU`, `Sigmoid`, `Tanh`,
#   `Softmax`, `GELU`.
# - **Losses** — `MSELoss`, `BinaryCrossEntropyLoss`, `CrossEntropyLoss`: one number
#   that says how wrong the model is, and whose gradient says how to be less wrong.
# - **Optimizers** — `SGD`, which turns gradients into parameter updates.
#
# The names and signatures are PyTorch's, so what you learn here reads straight across.
# When you finish, `tito module complete 03` unlocks the **XOR** milestone: the problem
# that a single perceptron cannot solve and a two-layer network can.

# %%
#| default_exp nn.modules
#| requires 00_setup 01_tensor 02_autograd
#| export
import math

import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Parameter: a tensor that wants to learn
#
# Inside a layer there are two kinds of tensors: the *inputs* that flow through it, and
# the *weights* that training should change. A `Parameter` is a `Tensor` that marks the
# second kind. It has `requires_grad=True` (unless you freeze it), and — more
# importantly — a `Module` recognizes it when it searches its attributes for things to
# hand to an optimizer.

# %%
#| export
class Parameter(Tensor):
    """A Tensor that is a weight of a Module; ``requires_grad=False`` freezes it."""

    def __init__(self, data, requires_grad=True, dtype=None):
        ### BEGIN SOLUTION
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)
        ### END SOLUTION

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# %%
def test_unit_parameter():
    p = Parameter(np.ones((2, 3)))
    assert isinstance(p, Tensor) and p.requires_grad
    assert p.shape == (2, 3) and p.dtype == np.float32
    q = Parameter(Tensor([1.0, 2.0]))
    assert q.requires_grad and q.data.tolist() == [1.0, 2.0]
    assert "Parameter" in repr(p)
    assert not Parameter(np.ones(2), requires_grad=False).requires_grad  # frozen


if __name__ == "__main__":
    test_unit_parameter()

# %% [markdown]
# ## Module: the container that finds its own parameters
#
# A network is a tree: a `Sequential` holds `Linear` layers, each `Linear` holds a
# `weight` and a `bias`. Rather than asking every layer author to register their weights
# somewhere, `Module` simply *looks*: it walks its own attributes (in the order they
# were set) and collects
#
# - every `Parameter`,
# - every sub-`Module` (recursively),
# - every `list` or `tuple` of those.
#
# That is why a subclass calls `super().__init__()` and then just assigns
# `self.fc1 = Linear(...)`. Each parameter is reported once, even if two layers share it
# (weight tying in a language model does exactly that), and each gets a dotted name,
# `"fc1.weight"` or `"layers.0.bias"`, which is what `state_dict()` uses to save and
# restore a model.
#
# `train()` and `eval()` flip a `training` flag through the whole tree: layers that
# behave differently at training time (dropout, batch norm) read it. `__call__` forwards
# to `forward`, so a model is used like a function: `y = model(x)`.

# %%
#| export
class Module:
    """Base class of every layer, loss and model: holds Parameters and sub-Modules."""

    def __init__(self):
        self.training = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _members(self):
        """(name, Parameter or Module) for everything this module holds directly."""
        ### BEGIN SOLUTION
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item
        ### END SOLUTION

    def children(self):
        """The sub-Modules this module holds directly."""
        return [m for _, m in self._members() if isinstance(m, Module)]

    def named_parameters(self, prefix=""):
        """[(dotted name, Parameter)] over the whole tree, each parameter once."""
        ### BEGIN SOLUTION
        found, seen = [], set()

        def walk(module, prefix, visited):
            if id(module) in visited:  # a module reachable twice is walked once
                return
            visited.add(id(module))
            for name, value in module._members():
                if isinstance(value, Module):
                    walk(value, f"{prefix}{name}.", visited)
                elif id(value) not in seen:
                    seen.add(id(value))
                    found.append((prefix + name, value))

        walk(self, prefix, set())
        return found
        ### END SOLUTION

    def parameters(self):
        """Every Parameter in the tree, in attribute order, each once."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        ### BEGIN SOLUTION
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self
        ### END SOLUTION

    def eval(self):
        return self.train(False)

    def state_dict(self):
        """{name: numpy copy of the parameter} — what you save to disk."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict):
        """Copy arrays from ``state_dict`` into the parameters; names and shapes must match."""
        ### BEGIN SOLUTION
        params = dict(self.named_parameters())
        problems = []
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        for name, p in params.items():
            if name in state_dict and np.shape(state_dict[name]) != p.shape:
                problems.append(
                    f"size mismatch for {name}: the model has {p.shape}, "
                    f"the state_dict has {np.shape(state_dict[name])}"
                )
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems)
            )
        for name, p in params.items():
            p.data[...] = state_dict[name]
        ### END SOLUTION

    def extra_repr(self):
        """The text between the parentheses of this module's repr (override it)."""
        return ""

    def __repr__(self):
        lines = []
        for name, child in self._members():
            if isinstance(child, Module):
                body = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {body}")
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


# %%
def test_unit_module_parameters():
    class Block(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.zeros((2, 2)))
            self.parts = [Parameter(np.zeros(3)), Parameter(np.zeros(4))]
            self.not_a_param = Tensor(np.zeros(5))

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.a = Block()
            self.b = Block()
            self.shared = self.a.w  # the same Parameter twice: reported once

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.w", "a.parts.0", "a.parts.1", "b.w", "b.parts.0", "b.parts.1"], names
    assert len(net.parameters()) == 6
    assert net.parameters()[0] is net.a.w
    net.eval()
    assert not net.training and not net.a.training and not net.b.training
    net.train()
    assert net.a.training


if __name__ == "__main__":
    test_unit_module_parameters()

# %% [markdown]
# ## Linear: the layer everything else is built around
#
# `Linear(in_features, out_features)` computes $y = x W^\top + b$ with `W` of shape
# `(out_features, in_features)` — PyTorch's layout: one row of weights per output unit.
# Because `@` broadcasts, the same code handles a batch `(N, in)` and a sequence batch
# `(N, T, in)`.
#
# **Why the initialization matters.** If the weights start too large, activations grow
# layer after layer until they overflow; too small, and they (and their gradients)
# shrink to nothing. Kaiming He et al. (2015) worked out the scale that keeps the
# variance of activations constant through ReLU layers: $\mathrm{Var}(W) = 2/\text{fan\_in}$.
# A uniform distribution on $[-a, a]$ has variance $a^2/3$, so
# $a = \sqrt{6/\text{fan\_in}}$. For tanh or sigmoid networks, Glorot and Bengio's
# *Xavier* init, $a = \sqrt{6/(\text{fan\_in}+\text{fan\_out})}$, balances the forward
# and the backward pass instead. Biases start small and random, uniform on
# $\pm 1/\sqrt{\text{fan\_in}}$ as in PyTorch. (All-zero biases are common too, but then
# an all-zero input puts every ReLU unit exactly at its kink, where the gradient is 0 —
# XOR's input $(0, 0)$ is such an input.)
#
# The weights come from NumPy's global random generator, so `np.random.seed(0)` makes
# a model's initialization reproducible (as `torch.manual_seed` does in PyTorch).
#
# **Its own backward.** You could write the forward pass as `x @ self.weight.T + self.bias`
# and let autograd chain three ops (transpose, matmul, add). Every library instead
# makes the layer one operation, because its backward is short and worth knowing by
# heart. With $y = xW^\top + b$ and upstream gradient $G = \partial L/\partial y$:
#
# $$\frac{\partial L}{\partial x} = G\,W, \qquad
#   \frac{\partial L}{\partial W} = G^\top x, \qquad
#   \frac{\partial L}{\partial b} = \textstyle\sum_{\text{rows}} G$$
#
# (check the shapes: $G$ is `(N, out)`, $W$ is `(out, in)`, $x$ is `(N, in)`). For
# `(N, T, in)` inputs, every position is just another row, so we fold the leading
# dimensions into one before the two reductions.

# %%
#| export
class LinearOp(Function):
    """y = x @ w.T + b in one step; x may be (..., in)."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        y = x @ w.T
        if b is not None:
            y += b  # in place: y is a fresh array, so this saves allocating another
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        x, w = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])  # (N·T, out)
        grad_w = rows.T @ x.reshape(-1, x.shape[-1])
        grad_b = rows.sum(axis=0) if ctx.has_bias else None
        grad_x = grad @ w if ctx.needs_input_grad[0] else None  # a batch of data needs none
        return grad_x, grad_w, grad_b
        ### END SOLUTION


class Linear(Module):
    """y = x @ W.T + b, W of shape (out_features, in_features); init 'kaiming' or 'xavier'."""

    def __init__(self, in_features, out_features, bias=True, init="kaiming"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        ### BEGIN SOLUTION
        if init == "kaiming":
            bound = math.sqrt(6.0 / in_features)
        elif init == "xavier":
            bound = math.sqrt(6.0 / (in_features + out_features))
        else:
            raise ValueError(f"init must be 'kaiming' or 'xavier', not {init!r}")
        self.weight = Parameter(np.random.uniform(-bound, bound, (out_features, in_features)))
        if bias:
            b = 1.0 / math.sqrt(in_features)
            self.bias = Parameter(np.random.uniform(-b, b, out_features))
        else:
            self.bias = None
        ### END SOLUTION

    def forward(self, x):
        if self.bias is None:
            return LinearOp.apply(x, self.weight)
        return LinearOp.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# %%
def test_unit_linear():
    np.random.seed(0)
    layer = Linear(3, 2)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    x = Tensor(np.arange(12.0).reshape(4, 3))
    y = layer(x)
    assert y.shape == (4, 2)
    assert np.allclose(y.data, x.data @ layer.weight.data.T + layer.bias.data, atol=1e-5)
    y3 = layer(Tensor(np.ones((5, 7, 3))))  # (..., in) inputs
    assert y3.shape == (5, 7, 2)
    assert np.all(np.abs(Linear(100, 50).weight.data) <= math.sqrt(6 / 100))
    assert np.all(np.abs(Linear(100, 50, init="xavier").weight.data) <= math.sqrt(6 / 150))
    assert [n for n, _ in Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    y.sum().backward()  # dL/dy = 1 everywhere
    assert np.allclose(layer.bias.grad.data, [4.0, 4.0])
    assert np.allclose(layer.weight.grad.data, np.tile(x.data.sum(0), (2, 1)))
    layer.zero_grad()
    x3 = Tensor(np.random.rand(5, 7, 3), requires_grad=True)
    layer(x3).sum().backward()  # a sequence batch: every position is one more row
    assert np.allclose(layer.weight.grad.data, np.tile(x3.data.sum((0, 1)), (2, 1)), atol=1e-4)
    assert np.allclose(layer.bias.grad.data, [35.0, 35.0])
    assert np.allclose(x3.grad.data, np.broadcast_to(layer.weight.data.sum(0), (5, 7, 3)))
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=True)"


if __name__ == "__main__":
    test_unit_linear()

# %% [markdown]
# ## Sequential: layers in a row
#
# Most networks start as "this layer, then that one". `Sequential(*layers)` stores the
# layers and feeds each one's output to the next. Its parameters are named by position,
# `"0.weight"`, `"2.bias"`, like PyTorch's.

# %%
#| export
class Sequential(Module):
    """Applies its layers in order: Sequential(Linear(2, 8), ReLU(), Linear(8, 1))."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def _members(self):
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def forward(self, x):
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self):
        return len(self.layers)


# %% [markdown]
# ## Activations: where the non-linearity lives
#
# Two `Linear` layers in a row are still one linear map ($W_2 W_1 x$) — no depth is
# gained. An element-wise non-linearity between them is what lets a network bend its
# decision boundary (and solve XOR).
#
# - **ReLU** $\max(0, x)$: cheap, and its gradient is exactly 1 wherever a unit is
#   active, so deep stacks still pass gradients back. The default choice.
# - **Sigmoid** $1/(1+e^{-x})$: squashes to $(0, 1)$ — a probability, for the output of a
#   binary classifier.
# - **Tanh**: squashes to $(-1, 1)$, zero-centred.
#
# Your `Tensor` already knows `relu()`, `sigmoid()` and `tanh()` with their backward
# passes (module 02); the layers just call them, so that they can sit in a `Sequential`.

# %%
#| export
class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


# %%
def test_unit_sequential():
    np.random.seed(0)
    model = Sequential(Linear(2, 4), ReLU(), Linear(4, 1), Sigmoid())
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"], names
    out = model(Tensor(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert out.shape == (2, 1) and np.all((out.data > 0) & (out.data < 1))
    assert isinstance(model[1], ReLU) and len(model) == 4
    assert "(0): Linear(in_features=2, out_features=4, bias=True)" in repr(model)
    assert "(1): ReLU()" in repr(model)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None or not np.any(p.grad.data) for p in model.parameters())
    assert np.allclose(Tanh()(Tensor([0.0, 100.0])).data, [0.0, 1.0])


if __name__ == "__main__":
    test_unit_sequential()

# %% [markdown]
# ## Softmax: scores to probabilities, without overflow
#
# $\mathrm{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}$ turns a row of scores into a
# probability distribution. Computed naively, $e^{1000}$ overflows to `inf` and the
# result is `nan`. Since adding a constant to every score does not change the result
# ($e^{x_i - m}/\sum_j e^{x_j - m}$), we subtract the row maximum first: the largest
# exponent is then $e^0 = 1$ and nothing overflows.
#
# Softmax gets its own `Function` because its backward has a neat closed form. With
# $s = \mathrm{softmax}(x)$ and upstream gradient $g$, the Jacobian-vector product is
# $s \odot (g - \sum_j g_j s_j)$ — one line of NumPy instead of a chain of five ops.

# %%
#| export
class SoftmaxOp(Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        ### BEGIN SOLUTION
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        s = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(s)
        ctx.dim = dim
        return s
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (s,) = ctx.saved_tensors
        return s * (grad - (grad * s).sum(axis=ctx.dim, keepdims=True))
        ### END SOLUTION


class Softmax(Module):
    """Softmax along ``dim`` (numerically stable)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return SoftmaxOp.apply(x, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


# %%
def test_unit_softmax():
    s = Softmax(dim=-1)(Tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]]))
    assert np.all(np.isfinite(s.data))
    assert np.allclose(s.data.sum(-1), 1.0)
    assert np.allclose(s.data[1], 1 / 3)
    e = np.exp([1.0, 2.0, 3.0])
    assert np.allclose(s.data[0], e / e.sum())
    assert np.allclose(Softmax(dim=0)(Tensor([[0.0], [0.0]])).data, 0.5)
    x = Tensor(np.array([[0.5, -1.0, 2.0]]), requires_grad=True)
    y = Softmax()(x)
    (y * Tensor([[1.0, 0.0, 0.0]])).sum().backward()  # d s_0 / d x = s_0 (onehot_0 - s)
    s0 = y.data[0, 0]
    assert np.allclose(x.grad.data, s0 * (np.array([[1.0, 0, 0]]) - y.data), atol=1e-6)


if __name__ == "__main__":
    test_unit_softmax()

# %% [markdown]
# ## GELU: the transformer's activation
#
# GELU weights its input by how likely a standard normal variable is to be smaller:
# $x\,\Phi(x)$. Unlike ReLU it is smooth at 0 and lets a little negative signal through,
# which transformers (GPT, BERT) train better with. We use the tanh approximation from
# the paper (and GPT-2):
#
# $$\mathrm{GELU}(x) \approx \tfrac12 x\,\bigl(1 + \tanh(u)\bigr),\quad u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$$
#
# Differentiating with the product and chain rules, with $t = \tanh(u)$:
#
# $$\frac{d}{dx} = \tfrac12(1 + t) + \tfrac12 x\,(1 - t^2)\,\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)$$

# %%
#| export
_GELU_C = math.sqrt(2.0 / math.pi)


class GELUOp(Function):
    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        t = np.tanh(_GELU_C * (x + 0.044715 * x * x * x))  # x * x * x: numpy's float32 power is slow
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1.0 + t)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        x, t = ctx.saved_tensors
        du = _GELU_C * (1.0 + 3 * 0.044715 * x * x)
        return grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
        ### END SOLUTION


class GELU(Module):
    """Gaussian Error Linear Unit, tanh approximation."""

    def forward(self, x):
        return GELUOp.apply(x)


# %%
from tinytorch.core.autograd import numerical_gradient


def test_unit_gelu():
    g = GELU()(Tensor([-3.0, 0.0, 1.0, 3.0]))
    assert np.allclose(g.data, [-0.00363752, 0.0, 0.8411920, 2.9963627], atol=1e-5)
    x0 = np.array([-2.0, -0.5, 0.3, 1.7])
    x = Tensor(x0, requires_grad=True)
    GELU()(x).sum().backward()
    numeric = numerical_gradient(lambda a: GELUOp.apply(Tensor(a, dtype=np.float64)).data.sum(), x0.copy())
    assert np.allclose(x.grad.data, numeric, atol=1e-3)


if __name__ == "__main__":
    test_unit_gelu()

# %% [markdown]
# ## Losses: one number that says how wrong we are
#
# A loss is a `Module` called as `loss(prediction, target)`; the target may be a `Tensor`
# or a NumPy array. All three losses here average over the batch (PyTorch's default
# `reduction="mean"`), so the learning rate does not have to change with the batch size.
#
# **MSELoss** — mean of squared differences, for regression. It is composed from ops you
# already have, so autograd gives its gradient for free. Prediction and target must have
# the same shape: `(N, 1)` minus `(N,)` would silently broadcast to `(N, N)`, a classic bug.

# %%
#| export
def _target_tensor(target):
    return target if isinstance(target, Tensor) else Tensor(target)


class MSELoss(Module):
    """Mean squared error: mean((pred - target)**2)."""

    def forward(self, pred, target):
        ### BEGIN SOLUTION
        target = _target_tensor(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"MSELoss: prediction shape {pred.shape} != target shape {target.shape}; "
                "reshape one of them so they match"
            )
        diff = pred - target
        return (diff * diff).mean()
        ### END SOLUTION


# %% [markdown]
# **BinaryCrossEntropyLoss** takes probabilities $p$ (the output of a `Sigmoid`) and
# targets $y \in \{0, 1\}$: $-\big(y \log p + (1-y)\log(1-p)\big)$, averaged. When the
# model is confidently wrong, $p$ reaches exactly 0 or 1 in float32 and $\log 0 = -\infty$.
# We clamp $p$ into $[\epsilon, 1-\epsilon]$ first, so the loss stays finite and the
# gradient, $\frac{p - y}{p(1-p)} / N$, never divides by zero. Because the clamp is not
# one of our Tensor ops, the loss is a `Function` with its own backward.

# %%
#| export
class BinaryCrossEntropyOp(Function):
    @staticmethod
    def forward(ctx, p, target, eps=1e-7):
        ### BEGIN SOLUTION
        y = np.asarray(target, dtype=p.dtype)
        pc = np.clip(p, eps, 1.0 - eps)
        ctx.save_for_backward(pc, y)
        return np.asarray(-np.mean(y * np.log(pc) + (1.0 - y) * np.log(1.0 - pc)), dtype=p.dtype)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        pc, y = ctx.saved_tensors
        return grad * (pc - y) / (pc * (1.0 - pc)) / pc.size
        ### END SOLUTION


class BinaryCrossEntropyLoss(Module):
    """Binary cross-entropy on probabilities (clamped to [eps, 1 - eps]); mean over elements."""

    def __init__(self, eps=1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, pred, target):
        target = target.data if isinstance(target, Tensor) else np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"BinaryCrossEntropyLoss: prediction shape {pred.shape} != target shape "
                f"{target.shape}; reshape one of them so they match"
            )
        return BinaryCrossEntropyOp.apply(pred, target=target, eps=self.eps)


# %% [markdown]
# **CrossEntropyLoss** is the classification loss. It takes raw scores (*logits*)
# `(N, C)` and integer class labels `(N,)`, and returns the mean of
# $-\log \mathrm{softmax}(z)_y = \log\sum_j e^{z_j} - z_y$.
#
# *Why log-sum-exp?* Computing softmax and then its log loses everything to overflow and
# underflow: a probability of $10^{-50}$ is 0 in float32, and $\log 0 = -\infty$. Written
# as $m + \log\sum_j e^{z_j - m}$ with $m = \max_j z_j$, every exponent is $\le 0$ and the
# sum is $\ge 1$, so the log is always finite.
#
# *Why a fused op?* The gradient of this loss with respect to the logits is beautifully
# simple: $(\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N$. One `Function` computes it in
# two NumPy lines, instead of a backward pass through exp, sum, log and indexing. Language
# models score every position of a sequence, so logits `(N, T, C)` with labels `(N, T)`
# are flattened to `(N·T, C)`.

# %%
#| export
class CrossEntropyOp(Function):
    @staticmethod
    def forward(ctx, logits, target):
        ### BEGIN SOLUTION
        z = logits.reshape(-1, logits.shape[-1])
        y = target.reshape(-1)
        shifted = z - z.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = np.mean(np.log(sum_exp[:, 0]) - shifted[rows, y])
        ctx.save_for_backward(exp / sum_exp, y)
        ctx.shape = logits.shape
        return np.asarray(loss, dtype=logits.dtype)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        probs, y = ctx.saved_tensors
        d = probs.copy()
        d[np.arange(len(y)), y] -= 1.0
        return (d * (grad / len(y))).reshape(ctx.shape)
        ### END SOLUTION


class CrossEntropyLoss(Module):
    """Cross-entropy of logits (N, C) or (N, T, C) with integer labels (N,) or (N, T); mean."""

    def forward(self, logits, target):
        labels = target.data if isinstance(target, Tensor) else np.asarray(target)
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.all(labels == np.round(labels)):
                raise ValueError("CrossEntropyLoss: targets must be integer class labels")
            labels = labels.astype(np.int64)
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"CrossEntropyLoss: logits {logits.shape} need labels of shape {logits.shape[:-1]}, "
                f"got {labels.shape}"
            )
        classes = logits.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"CrossEntropyLoss: labels must lie in [0, {classes - 1}]")
        return CrossEntropyOp.apply(logits, target=labels)


# %%
def test_unit_losses():
    pred = Tensor(np.array([[1.0], [3.0]]), requires_grad=True)
    loss = MSELoss()(pred, np.array([[0.0], [1.0]]))
    assert np.isclose(loss.item(), (1 + 4) / 2)
    loss.backward()
    assert np.allclose(pred.grad.data, [[1.0], [2.0]])  # 2 * diff / N
    try:
        MSELoss()(pred, np.zeros(2))
        raise AssertionError("a shape mismatch must raise")
    except ValueError:
        pass

    p = Tensor(np.array([0.9, 0.2, 0.0, 1.0]), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    bce = BinaryCrossEntropyLoss()(p, y)
    assert np.isclose(bce.item(), -(np.log(0.9) + np.log(0.8)) / 4, atol=1e-5)
    wrong = BinaryCrossEntropyLoss()(Tensor([0.0, 1.0]), np.array([1.0, 0.0]))
    assert np.isfinite(wrong.item())  # confidently wrong: large but finite
    bce.backward()
    assert np.all(np.isfinite(p.grad.data))
    assert np.isclose(p.grad.data[0], (0.9 - 1) / (0.9 * 0.1) / 4, atol=1e-4)

    logits = Tensor(np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 1000.0]]), requires_grad=True)
    labels = np.array([0, 2])
    ce = CrossEntropyLoss()(logits, labels)
    z = np.array([2.0, 1.0, 0.1])
    assert np.isclose(ce.item(), (np.log(np.exp(z).sum()) - 2.0) / 2, atol=1e-5)
    ce.backward()
    soft = np.exp(z) / np.exp(z).sum()
    assert np.allclose(logits.grad.data[0], (soft - [1, 0, 0]) / 2, atol=1e-6)
    assert np.allclose(logits.grad.data[1], 0.0, atol=1e-6)
    seq = CrossEntropyLoss()(Tensor(np.zeros((2, 3, 4))), np.zeros((2, 3), dtype=np.int64))
    assert np.isclose(seq.item(), np.log(4))


if __name__ == "__main__":
    test_unit_losses()

# %% [markdown]
# ## Optimizers: turning gradients into progress
#
# After `loss.backward()`, every parameter's `.grad` points uphill. Stochastic gradient
# descent takes a small step the other way: $p \leftarrow p - \eta\,\nabla p$. An
# `Optimizer` is built once from `model.parameters()` and then, every training step:
#
# ```python
# optimizer.zero_grad()     # gradients accumulate, so clear last step's
# loss = loss_fn(model(x), y)
# loss.backward()
# optimizer.step()
# ```
#
# Two refinements are standard (PyTorch's `SGD` has both, with the same meaning):
#
# - **Momentum.** Plain SGD zig-zags across narrow valleys and crawls along flat ones.
#   Momentum keeps a running velocity $v \leftarrow \mu v + g$ and steps along $v$:
#   directions that agree from step to step add up, oscillating ones cancel. With
#   $\mu = 0.9$ the steady-state step is ten times the gradient.
# - **Weight decay** adds $\lambda p$ to the gradient — the gradient of
#   $\frac{\lambda}{2}\lVert p\rVert^2$ — pulling weights towards zero so the model
#   prefers simple solutions.
#
# The update changes `p.data` directly: it is bookkeeping outside the computation
# graph, not an operation autograd should record.

# %%
#| export optim.sgd
class Optimizer:
    """Base class: holds the parameters; subclasses define step()."""

    def __init__(self, params):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} must define step()")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay (PyTorch semantics)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("lr, momentum and weight_decay must be >= 0")
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = [None] * len(self.params)

    def step(self):
        ### BEGIN SOLUTION
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                if self.velocity[i] is None:
                    self.velocity[i] = g.copy()
                else:
                    self.velocity[i] = self.momentum * self.velocity[i] + g
                g = self.velocity[i]
            p.data -= self.lr * g
        ### END SOLUTION


# %%
def test_unit_sgd():
    w = Parameter(np.array([1.0, -2.0]))
    opt = SGD([w], lr=0.1)
    (w * w).sum().backward()  # grad = 2w
    opt.step()
    assert np.allclose(w.data, [0.8, -1.6])
    opt.zero_grad()
    assert w.grad is None or not np.any(w.grad.data)

    # momentum: v1 = g1, v2 = 0.9 v1 + g2 ; weight decay adds wd * p to g
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    expected, v = 1.0, None
    for _ in range(3):
        opt.zero_grad()
        (p * 3.0).sum().backward()  # grad = 3
        g = 3.0 + 0.5 * expected
        v = g if v is None else 0.9 * v + g
        expected -= 0.1 * v
        opt.step()
        assert np.isclose(p.data[0], expected, atol=1e-6)


if __name__ == "__main__":
    test_unit_sgd()

# %% [markdown]
# ## Saving what a model learned
#
# `state_dict()` maps each parameter's dotted name to a copy of its array;
# `load_state_dict()` copies the arrays back, checking names and shapes so that loading
# the weights of a different architecture fails loudly instead of half-working.
# (Module 04 writes these dictionaries to `.npz` files.)

# %%
def test_unit_state_dict():
    np.random.seed(1)
    a = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    b = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.weight"][...] = 0  # a copy: changing it leaves the model alone
    assert np.any(a[0].weight.data)
    b.load_state_dict(a.state_dict())
    x = Tensor(np.ones((1, 2)))
    assert np.allclose(a(x).data, b(x).data)
    for bad in ({**a.state_dict(), "0.weight": np.zeros((3, 3))}, {"0.weight": a[0].weight.data}):
        try:
            b.load_state_dict(bad)
            raise AssertionError("a mismatching state_dict must raise")
        except RuntimeError as err:
            assert "0.weight" in str(err) or "missing" in str(err)


if __name__ == "__main__":
    test_unit_state_dict()

# %% [markdown]
# ## Done
#
# Run `tito module complete 03`. It exports `Module`, `Linear`, the activations and
# losses into `tinytorch/nn/modules.py` and `SGD` into `tinytorch/optim/sgd.py`, so
# that this works:
#
# ```python
# from tinytorch import Tensor, Linear, ReLU, Sigmoid, SGD, BinaryCrossEntropyLoss
# ```
#
# and it unlocks the XOR milestone: `tito milestone run xor`.
