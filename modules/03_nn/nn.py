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
# - **Layers** — `Linear`, `Sequential`, and the activations `ReLU`, `LeakyReLU`,
#   `Sigmoid`, `Tanh`, `SiLU`, `GELU`, `Softmax`, `LogSoftmax`.
# - **Losses** — `MSELoss`, `BCELoss`, `BCEWithLogitsLoss`, `CrossEntropyLoss`, `NLLLoss`:
#   one number that says how wrong the model is, and whose gradient says how to be less wrong.
# - **Optimizers** — `SGD`, which turns gradients into parameter updates.
#
# The names, signatures and numbers are PyTorch's, so what you learn here reads straight
# across (and code you copy from a PyTorch tutorial does what it says). Plumbing that
# teaches nothing new — the containers `ModuleList`/`ModuleDict`, `nn.init`, and
# `nn.functional` (every layer as a plain function) — is given to you ready-made.
# When you finish, `tito module complete 03` unlocks the **XOR** milestone: the problem
# that a single perceptron cannot solve and a two-layer network can.

# %%
#| default_exp nn.modules
#| requires 00_setup 01_tensor 02_autograd
#| export
import math
import warnings
from collections import OrderedDict

import numpy as np

from tinytorch.core.autograd import Function, _add_hook, _erf_erfc, _rows_matmul, is_grad_enabled, minimum, where
from tinytorch.core.setup import _blas_matmul, in_blocks
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
        if isinstance(data, Tensor):  # a Tensor keeps its dtype (float64 stays float64)
            data, dtype = data.data, data.dtype if dtype is None else dtype
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)
        ### END SOLUTION

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# %%
def test_unit_parameter():
    """Checks `Parameter(data, requires_grad=True, dtype=None)`: a `Tensor` that requires grad by
    default, built from an array (float32 by module 01's dtype rule) or a Tensor (its dtype), frozen with
    `requires_grad=False`. Let `Tensor.__init__` do the work through `super()`, passing `dtype` and
    `requires_grad` on, rather than setting attributes by hand.
    """
    p = Parameter(np.ones((2, 3)))
    assert isinstance(p, Tensor) and p.requires_grad
    assert p.shape == (2, 3) and p.dtype == np.float32
    q = Parameter(Tensor([1.0, 2.0]))
    assert q.requires_grad and q.data.tolist() == [1.0, 2.0]
    assert Parameter(Tensor([1.0], dtype=np.float64)).dtype == np.float64, "a Tensor's dtype is kept"
    assert "Parameter" in repr(p)
    assert not Parameter(np.ones(2), requires_grad=False).requires_grad  # frozen


if __name__ == "__main__":
    test_unit_parameter()

# %% [markdown]
# ## Module: the container that finds its own parameters
#
# A network is a tree: a `Sequential` holds `Linear` layers, each `Linear` holds a
# `weight` and a `bias`. Rather than asking every layer author to register their weights
# somewhere, `Module` simply *looks*: `_members()` lists what a module holds directly,
# walking its own attributes (in the order they were set) and collecting
#
# - every `Parameter`,
# - every sub-`Module`,
# - every `list` or `tuple` of those,
#
# and `_walk()` goes down the tree, depth first, naming everything it meets with a
# dotted path: `"fc1.weight"`, `"layers.0.bias"` — the names `state_dict()` uses to save
# and restore a model. A sub-module reachable twice is walked once, and `named_parameters()`
# reports each parameter once, even if two layers share it (weight tying in a language
# model does exactly that). That is why a subclass calls `super().__init__()` and then
# just assigns `self.fc1 = Linear(...)`.
#
# `train()` and `eval()` flip a `training` flag through the whole tree: layers that
# behave differently at training time (dropout, batch norm — module 04) read it.
# `__call__` forwards to `forward`, so a model is used like a function: `y = model(x)`.
#
# The rest of PyTorch's `Module` interface is given: `modules()` / `named_modules()` /
# `children()` (the tree itself), `apply(fn)` (call `fn` on every module, e.g. to
# re-initialize weights), `requires_grad_(False)` (freeze), and **buffers** —
# `register_buffer(name, tensor)` stores a tensor that is part of the model's state but
# not trained (batch norm's running averages); buffers are saved in `state_dict()`, but
# never handed to an optimizer. As in PyTorch, `parameters()` is every weight in
# the tree; here it (like `modules()` and `children()`) is a list, where PyTorch returns
# a generator.

# %%
#| export
def _child(holder, part):
    """One step along a dotted module path: an attribute, a list index or a container's name."""
    if isinstance(holder, list):
        return holder[int(part)]
    modules = vars(holder).get("_modules") or {}
    return modules[part] if part in modules else getattr(holder, part)


def _check_member_name(module, name, kind, replaceable):
    """PyTorch's checks of a name given to register_buffer/register_parameter/add_module: a
    non-empty string without ".", and not an attribute the module already has for something
    else (``replaceable(value)`` says whether the attribute there may be replaced)."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{kind} name can't be empty or contain \".\", got: {name!r}")
    if hasattr(module, name) and not replaceable(getattr(module, name)):
        raise KeyError(f"attribute '{name}' already exists")


class Module:
    """Base class of every layer, loss and model: holds Parameters, buffers and sub-Modules."""

    def __init__(self):
        self.training = True
        self._buffers = {}  # name -> persistent (saved in state_dict)?

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if "_forward_hooks" in self.__dict__:  # given: register_forward_hook was called on this module
            return _call_with_hooks(self, args, kwargs)
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

    def _walk(self, prefix="", visited=None):
        """(dotted name, Parameter or Module) over the whole tree, depth first; each sub-Module once."""
        ### BEGIN SOLUTION
        visited = set() if visited is None else visited
        visited.add(id(self))
        for name, value in self._members():
            if isinstance(value, Module):
                if id(value) in visited:
                    continue
                yield prefix + name, value
                yield from value._walk(f"{prefix}{name}.", visited)
            else:
                yield prefix + name, value
        ### END SOLUTION

    def named_parameters(self, prefix=""):
        """[(dotted name, Parameter)] over the whole tree, each parameter once."""
        ### BEGIN SOLUTION
        found, seen = [], set()
        for name, value in self._walk(f"{prefix}." if prefix else ""):
            if isinstance(value, Parameter) and id(value) not in seen:
                seen.add(id(value))
                found.append((name, value))
        return found
        ### END SOLUTION

    def parameters(self):
        """Every Parameter in the tree, in attribute order, each once."""
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix=""):
        """[(dotted name, Module)]: this module (named ``prefix``) and every sub-Module, each once."""
        return [(prefix, self)] + [(n, m) for n, m in self._walk(f"{prefix}." if prefix else "") if isinstance(m, Module)]

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_children(self):
        """[(name, Module)] for the sub-Modules this module holds directly, each once."""
        found, seen = [], set()
        for name, value in self._members():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                found.append((name, value))
        return found

    def children(self):
        """The sub-Modules this module holds directly."""
        return [m for _, m in self.named_children()]

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-Module (children first), then on this one; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target):
        """The sub-Module at the dotted path ``target`` (a name from ``named_modules()``; "" is self)."""
        module = self
        for part in target.split(".") if target else []:
            module = _child(module, part)
            if not isinstance(module, (Module, list)):
                raise AttributeError(f"`{part}` is not an nn.Module")
        return module

    def set_submodule(self, target, module):
        """Put ``module`` at the dotted path ``target`` in place of what is there (as PyTorch)."""
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path) if parent_path else self
        if isinstance(parent, list):
            parent[int(name)] = module
        elif name in (vars(parent).get("_modules") or {}):
            parent._modules[name] = module
        else:
            setattr(parent, name, module)

    def register_buffer(self, name, tensor, persistent=True):
        """Keep ``tensor`` (a Tensor, or None) as ``self.<name>``: model state that is not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, not {type(tensor).__name__}")
        if "_buffers" not in vars(self):
            raise AttributeError("call super().__init__() before register_buffer()")
        _check_member_name(self, name, "buffer", lambda value: name in self._buffers)
        self._buffers[name] = persistent
        setattr(self, name, tensor)

    def named_buffers(self, prefix="", persistent_only=False):
        """[(dotted name, Tensor)] for the buffers of the whole tree (None buffers are skipped)."""
        found, seen = [], set()
        for module_name, module in self.named_modules(prefix):
            for name, persistent in vars(module).get("_buffers", {}).items():
                value = getattr(module, name, None)
                if value is not None and (persistent or not persistent_only) and id(value) not in seen:
                    seen.add(id(value))  # one tensor held twice: listed once, as parameters are
                    found.append((f"{module_name}.{name}" if module_name else name, value))
        return found

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.zero_grad()
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def train(self, mode=True):
        if not isinstance(mode, bool):  # given: PyTorch's check
            raise ValueError("training mode is expected to be boolean")
        ### BEGIN SOLUTION
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self
        ### END SOLUTION

    def eval(self):
        return self.train(False)

    def _named_state(self, prefix="", holders=frozenset()):
        """(dotted name, Parameter or persistent buffer) in PyTorch's state_dict order: this
        module's own parameters, its buffers, then each sub-module's. Unlike ``named_parameters``
        nothing is skipped as seen before: a module or Parameter held under two names (tied
        weights) is saved under both, as PyTorch saves it, so the two state dicts have one key set."""
        members = list(self._members())
        yield from ((prefix + name, value) for name, value in members if isinstance(value, Parameter))
        for name, persistent in vars(self).get("_buffers", {}).items():
            value = getattr(self, name, None)
            if value is not None and persistent:
                yield prefix + name, value
        holders = holders | {id(self)}
        for name, value in members:
            if isinstance(value, Module) and id(value) not in holders:  # a module inside itself: once
                yield from value._named_state(f"{prefix}{name}.", holders)

    def state_dict(self):
        """{name: numpy copy} of every parameter and persistent buffer — what you save to disk."""
        return {name: t.data.copy() for name, t in self._named_state()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers; names and shapes must match.

        With ``strict=False`` missing and unexpected names are allowed; returns
        ``(missing_keys, unexpected_keys)`` as PyTorch does.
        """
        own = dict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        for name, t in own.items():
            if name in state_dict and np.shape(state_dict[name]) != t.shape:
                problems.append(
                    f"size mismatch for {name}: the model has {t.shape}, "
                    f"the state_dict has {np.shape(state_dict[name])}"
                )
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems)
            )
        for name, t in own.items():
            if name in state_dict:
                t.data[...] = state_dict[name]
        return missing, unexpected

    def __delattr__(self, name):
        """``del self.<name>``; a buffer is forgotten too (no longer in named_buffers or state_dict)."""
        vars(self).get("_buffers", {}).pop(name, None)
        super().__delattr__(name)

    def extra_repr(self):
        """The text between the parentheses of this module's repr (override it)."""
        return ""

    def _child_lines(self):
        """The repr's lines for the sub-modules: ``(name): repr``, indented."""
        return [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]

    def __repr__(self):
        extra = self.extra_repr()
        lines = self._child_lines()
        if not lines:
            return f"{type(self).__name__}({extra})"
        lines = ([f"  {line}" for line in extra.split("\n")] if extra else []) + lines  # PyTorch's order
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


# %%
def test_unit_module_parameters():
    """Checks `_members`, `_walk`, `named_parameters` and `train`: parameters in attributes and in
    lists, dotted names in the order they were set (`a.parts.0`), plain Tensors ignored, a Parameter
    or sub-Module reachable twice reported once, and `train()`/`eval()` reaching every sub-module.
    There are two kinds of sharing: a Module met twice is walked once (`visited`), a Parameter met
    twice is listed once (by `id`).
    """
    class Block(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.zeros((2, 2)))
            self.parts = [Parameter(np.zeros(3)), Parameter(np.zeros(4))]
            self.not_a_param = Tensor(np.zeros(5))
            self.register_buffer("count", Tensor(np.zeros(1)))

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.a = Block()
            self.b = Block()
            self.shared = self.a.w  # the same Parameter twice: reported once
            self.again = self.a  # the same Module twice: walked once

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.w", "a.parts.0", "a.parts.1", "b.w", "b.parts.0", "b.parts.1"], names
    assert len(net.parameters()) == 6
    assert net.parameters()[0] is net.a.w
    assert [n for n, _ in net.named_modules()] == ["", "a", "b"]
    assert [n for n, _ in net.named_buffers()] == ["a.count", "b.count"]
    assert list(net.state_dict()) == [  # PyTorch's order and key set: a shared Parameter or module saved under each name
        "shared", "a.w", "a.parts.0", "a.parts.1", "a.count", "b.w", "b.parts.0", "b.parts.1", "b.count",
        "again.w", "again.parts.0", "again.parts.1", "again.count"], "buffers are saved too"
    net.eval()
    assert not net.training and not net.a.training and not net.b.training
    net.train()
    assert net.a.training
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Block", "Block", "Net"], "children first, each module once"
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


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
# **Initialization.** If the weights start too large, activations grow layer after
# layer until they overflow; too small, and they (and their gradients) shrink to
# nothing. He et al. (2015) worked out that a ReLU network keeps the scale of its
# activations with $\mathrm{Var}(W) = 2/\text{fan\_in}$ (`fan_in` = `in_features`).
# `Linear` starts from **PyTorch's default**, which is smaller: weight *and* bias uniform
# on $\pm 1/\sqrt{\text{fan\_in}}$ (PyTorch spells it `kaiming_uniform_(weight, a=√5)`,
# a choice inherited from Lua Torch), a variance of $1/(3\,\text{fan\_in})$. It is
# fine for the shallow networks most people train, and a model built here starts from
# the same distribution as the same model in PyTorch. For a deep ReLU stack, apply He's
# recipe yourself with `nn.init` (module 04). (The random biases matter: with all-zero
# biases an all-zero input puts every ReLU unit exactly at its kink, where the gradient
# is 0 — XOR's input $(0, 0)$ is such an input.) The numbers come from NumPy's global
# generator, so `np.random.seed(0)` makes a model's initialization reproducible (as
# `torch.manual_seed` does in PyTorch). `layer.reset_parameters()` (given) draws the same
# distribution again, as PyTorch's does: *into* the existing Parameters (`param.data[...] =`),
# so that an optimizer built before still holds them, and their dtype stays.
# `for m in model.modules(): if hasattr(m, "reset_parameters"): m.reset_parameters()`
# re-initializes a whole model; every layer with parameters has one, with its own default.
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
# dimensions into one before the two reductions — and for the products too: module 02's
# `_rows_matmul(x, w.T)` multiplies all N·T rows in one product instead of N products of
# T rows, and `_blas_matmul` is `@` with module 00's rule for the cores (on a GPT's
# `(16, 128, 128)` activations the forward pass of a layer takes 0.66 ms instead of 0.79).

# %%
#| export
class LinearOp(Function):
    """y = x @ w.T + b in one step; x may be (..., in)."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        y = _rows_matmul(x, w.T)  # x @ w.T, every position of (..., in) one row of one product
        if b is not None:
            y += b  # in place: y is a fresh array, so this saves allocating another
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        x, w = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])  # (N·T, out)
        grad_w = _blas_matmul(rows.T, x.reshape(-1, x.shape[-1]))
        grad_b = rows.sum(axis=0) if ctx.has_bias else None
        grad_x = _rows_matmul(grad, w) if ctx.needs_input_grad[0] else None  # a batch of data needs none
        return grad_x, grad_w, grad_b
        ### END SOLUTION


def _redraw_uniform(param, bound):
    """Fill ``param`` with U(-bound, bound) in place: it stays the same Parameter, with its dtype."""
    param.data[...] = np.random.uniform(-bound, bound, param.shape)


class Linear(Module):
    """y = x @ W.T + b, W of shape (out_features, in_features); PyTorch's default initialization."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        ### BEGIN SOLUTION
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(np.random.uniform(-bound, bound, (out_features, in_features)))
        self.bias = Parameter(np.random.uniform(-bound, bound, out_features)) if bias else None
        ### END SOLUTION

    def reset_parameters(self):
        """Draw the initial weight and bias again (PyTorch's ±1/√in_features), into the same Parameters."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        _redraw_uniform(self.weight, bound)
        if self.bias is not None:
            _redraw_uniform(self.bias, bound)

    def forward(self, x):
        if self.bias is None:
            return LinearOp.apply(x, self.weight)
        return LinearOp.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# %%
def test_unit_linear():
    """Checks `LinearOp` and `Linear`: the weight is `(out_features, in_features)`, weight *and*
    bias start uniform on ±1/√in_features, `bias=False` leaves no bias parameter, and the backward
    gives the formulas of the text for `(N, in)` and `(N, T, in)` inputs. For a sequence batch, fold
    every leading dimension into rows before the two reductions (∂L/∂W and ∂L/∂b), or the weight
    gradient keeps an extra axis.
    """
    np.random.seed(0)
    layer = Linear(3, 2)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    x = Tensor(np.arange(12.0).reshape(4, 3))
    y = layer(x)
    assert y.shape == (4, 2)
    assert np.allclose(y.data, x.data @ layer.weight.data.T + layer.bias.data, atol=1e-5)
    y3 = layer(Tensor(np.ones((5, 7, 3))))  # (..., in) inputs
    assert y3.shape == (5, 7, 2)
    big = Linear(100, 50)
    assert np.all(np.abs(big.weight.data) <= 0.1) and np.all(np.abs(big.bias.data) <= 0.1), "±1/√100"
    assert big.weight.data.max() > 0.09 and big.weight.dtype == np.float32
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
# layers and feeds each one's output to the next. It behaves like a list of layers, as
# PyTorch's does: `len(model)`, `for layer in model`, `model[0]`, `model[-1]`,
# `model.append(layer)`, and a slice `model[:2]` is itself a `Sequential` (the first two
# layers as a smaller network, sharing their weights). Its parameters are named by
# position, `"0.weight"`, `"2.bias"`; pass an `OrderedDict` to name the layers yourself.
# The list behaviour is given (`_Container`, which module 08's `ModuleList` and
# `ModuleDict` share); you write `forward`. **`Identity`** returns its input: a
# placeholder where a layer is optional.

# %%
#| export
class _Container(Module):
    """Plumbing of Sequential, ModuleList and ModuleDict: named sub-Modules, in order."""

    def __init__(self):
        super().__init__()
        self._modules = OrderedDict()

    def _members(self):
        return iter(self._modules.items())

    def _checked(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__} holds Modules, not {type(module).__name__}")
        return module

    def _add(self, name, module):
        self._modules[str(name)] = self._checked(module)

    def __getattr__(self, name):  # called only when normal lookup fails: a named child
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            return modules[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _position(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {len(self)}")
        return index % len(self)

    def _renumber(self, modules):
        self._modules = OrderedDict((str(i), self._checked(m)) for i, m in enumerate(modules))


class _ModuleSequence(_Container):
    """Plumbing of Sequential and ModuleList: modules numbered 0, 1, ... in order."""

    def __delitem__(self, index):
        modules = list(self)
        del modules[index if isinstance(index, slice) else self._position(index)]
        self._renumber(modules)  # PyTorch renumbers too

    def append(self, module):
        self._add(len(self), module)
        return self


class _ModuleMapping(_Container):
    """Plumbing of ModuleDict (and of `module.parametrizations`): named sub-Modules, a dict's methods."""

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self._add(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Sequential(_ModuleSequence):
    """Applies its layers in order: Sequential(Linear(2, 8), ReLU(), Linear(8, 1))."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self._add(name, layer)
        else:
            for i, layer in enumerate(layers):
                self._add(i, layer)

    def forward(self, x):
        ### BEGIN SOLUTION
        for layer in self:
            x = layer(x)
        return x
        ### END SOLUTION

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))  # PyTorch keeps the layers' names
        return items[self._position(index)][1]


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


# %% [markdown]
# ## Activations: where the non-linearity lives
#
# Two `Linear` layers in a row are still one linear map ($W_2 W_1 x$) — no depth is
# gained. An element-wise non-linearity between them is what lets a network bend its
# decision boundary (and solve XOR).
#
# - **ReLU** $\max(0, x)$: cheap, and its gradient is exactly 1 wherever a unit is
#   active, so deep stacks still pass gradients back. The default choice.
# - **LeakyReLU** $x$ for $x > 0$, $s\,x$ otherwise (slope $s$ = 0.01): a unit pushed
#   below zero still gets a small gradient, so it cannot "die" for good.
# - **Sigmoid** $1/(1+e^{-x})$: squashes to $(0, 1)$ — a probability, for the output of a
#   binary classifier.
# - **Tanh**: squashes to $(-1, 1)$, zero-centred.
# - **SiLU** (or *swish*) $x\,\sigma(x)$: a smooth ReLU used by many modern networks.
#
# Your `Tensor` already knows `relu()`, `sigmoid()` and `tanh()` with their backward
# passes (module 02); those layers just call them, so that they can sit in a `Sequential`.
# SiLU is a product of ops you have, so autograd differentiates it for you. LeakyReLU
# needs its own small `Function`: forward `np.where(x > 0, x, s·x)`, backward the same
# selection applied to the gradient (slope 1 or $s$; at exactly 0, PyTorch takes $s$).

# %%
#| export
class _Activation(Module):
    """An activation that PyTorch lets work in place: `inplace=True` is accepted, so that PyTorch
    code runs, but the result is always a new tensor (the input is never overwritten)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Activation):
    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class SiLU(_Activation):
    """x * sigmoid(x)."""

    def forward(self, x):
        return x * x.sigmoid()


class LeakyReLUOp(Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ### BEGIN SOLUTION
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.negative_slope = negative_slope
        return np.where(positive, x, negative_slope * x)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (positive,) = ctx.saved_tensors
        return np.where(positive, grad, ctx.negative_slope * grad)
        ### END SOLUTION


class LeakyReLU(_Activation):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x):
        return LeakyReLUOp.apply(x, negative_slope=self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


# %%
def test_unit_sequential():
    """Checks `Sequential.forward` (with the provided list behaviour), `LeakyReLUOp`, `Tanh` and
    `SiLU`: parameters named by position (`0.weight`, `2.bias`), a slice sharing its layers, and
    LeakyReLU's slope in both passes. Decide 'positive' with a strict x > 0, so that at exactly 0
    the gradient takes the slope as in PyTorch, and select on the gradient exactly as the forward
    selected on the values.
    """
    np.random.seed(0)
    model = Sequential(Linear(2, 4), ReLU(), Linear(4, 1), Sigmoid())
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"], names
    out = model(Tensor(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert out.shape == (2, 1) and np.all((out.data > 0) & (out.data < 1))
    assert isinstance(model[1], ReLU) and len(model) == 4 and model[-1] is model[3]
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    head = model[:2]
    assert isinstance(head, Sequential) and head(Tensor(np.ones((1, 2)))).shape == (1, 4)
    assert head[0] is model[0], "a slice shares the layers"
    assert "(0): Linear(in_features=2, out_features=4, bias=True)" in repr(model)
    assert "(1): ReLU()" in repr(model)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None or not np.any(p.grad.data) for p in model.parameters())
    assert np.allclose(Tanh()(Tensor([0.0, 100.0])).data, [0.0, 1.0])
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = LeakyReLU(0.1)(x)
    assert np.allclose(y.data, [-0.2, 0.0, 3.0])
    y.sum().backward()
    assert np.allclose(x.grad.data, [0.1, 0.1, 1.0])
    assert np.allclose(SiLU()(Tensor([0.0, 2.0])).data, [0.0, 2 / (1 + np.exp(-2.0))])


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
#
# **LogSoftmax.** Classifiers usually want $\log \mathrm{softmax}(x)$, and taking the log
# of a softmax that underflowed to 0 gives $-\infty$. Computed directly it is exact:
# $\log \mathrm{softmax}(x)_i = (x_i - m) - \log \sum_j e^{x_j - m}$, every term finite.
# Its backward is as short: with $o$ the output, $g - e^{o} \sum_j g_j$.
#
# **Fewer arrays.** `np.exp(x - m) / total` makes three arrays of x's size, one per
# operation. Writing each step into the array the previous one made (`np.exp(s, out=s)`,
# `s /= ...`) makes one. (NumPy already reuses the temporary of a chain like `a * b + c`;
# a named array, or the result of a function such as `np.exp`, it cannot.) For the
# attention weights of a GPT (16 sequences × 4 heads × 128 × 128, 4 MB) the forward pass
# takes 1.9 ms instead of 2.1: little, because module 00 lets `malloc` hand the same
# memory back at once — what remains is the extra pass over it. It pays most where an
# expression has many steps (GELU, below). This is module 13's *fuse* lesson, by hand.

# %%
#| export
class SoftmaxOp(Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        ### BEGIN SOLUTION
        s = x - x.max(axis=dim, keepdims=True)
        np.exp(s, out=s)  # in place: one array of x's size, not three
        s /= s.sum(axis=dim, keepdims=True)
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


class LogSoftmaxOp(Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        ### BEGIN SOLUTION
        out = x - x.max(axis=dim, keepdims=True)
        out -= np.log(np.exp(out).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=ctx.dim, keepdims=True)
        ### END SOLUTION


def _along(op, input, dim):
    """``op.apply(input, dim=dim)`` for the softmax family, also for one number (a row of one:
    softmax 1, log_softmax 0) and for an empty tensor (nothing to normalize), as PyTorch allows."""
    if input.ndim == 0:
        return op.apply(input.reshape(1), dim=0).reshape(())
    if input.numel() == 0:
        return input * 1.0
    return op.apply(input, dim=dim)


class Softmax(Module):
    """Softmax along ``dim`` (numerically stable)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _along(SoftmaxOp, x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed directly (finite where softmax underflows)."""

    def forward(self, x):
        return _along(LogSoftmaxOp, x, self.dim)


# %%
def test_unit_softmax():
    """Checks `SoftmaxOp` and `LogSoftmaxOp` along `dim`: rows that sum to 1, scores of 1000 without
    overflow, the closed-form backward of the text, and a log-softmax of −200 where softmax
    underflows to 0. Subtract the maximum along `dim` with the axis kept, so it broadcasts back, and
    compute log-softmax from the shifted scores directly, never as the log of a softmax.
    """
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
    log = LogSoftmax(dim=1)(Tensor([[0.0, -200.0]]))  # softmax underflows to 0 here ...
    assert np.allclose(log.data, [[0.0, -200.0]], atol=1e-4)  # ... its log does not
    z = Tensor(np.array([[0.5, -1.0, 2.0]]), requires_grad=True)
    (LogSoftmax(dim=1)(z) * Tensor([[1.0, 0.0, 0.0]])).sum().backward()  # d o_0 / dx = onehot_0 - s
    assert np.allclose(z.grad.data, np.array([[1.0, 0, 0]]) - y.data, atol=1e-6)


if __name__ == "__main__":
    test_unit_softmax()

# %% [markdown]
# ## GELU: the transformer's activation
#
# GELU weights its input by how likely a standard normal variable is to be smaller:
# $\mathrm{GELU}(x) = x\,\Phi(x)$, with $\Phi$ the normal distribution function. Unlike
# ReLU it is smooth at 0 and lets a little negative signal through, which transformers
# (GPT, BERT) train better with. As in PyTorch there are two forms:
#
# - **exact** (the default, `GELU()`): $\Phi(x) = \tfrac12\,\mathrm{erfc}(-x/\sqrt2)$.
#   NumPy has no `erfc`, so `_erfc` below evaluates W. H. Press et al.'s Chebyshev fit
#   (*Numerical Recipes in C*, 2nd ed., §6.2, `erfcc`), whose relative error is below
#   $1.2\cdot10^{-7}$ everywhere — float32's own precision (a float64 input gets module 02's
#   series instead, as exact as PyTorch's, and slower). Its derivative needs no
#   approximation: $\frac{d}{dx}\,x\Phi(x) = \Phi(x) + x\,\varphi(x)$, with the normal
#   density $\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}$.
# - **tanh** (`GELU(approximate="tanh")`, the form of the original paper and GPT-2):
#   $\tfrac12 x\,(1 + \tanh u)$ with $u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$. By the product
#   and chain rules, with $t = \tanh u$:
#   $\frac{d}{dx} = \tfrac12(1 + t) + \tfrac12 x\,(1 - t^2)\,\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)$.
#
# The two differ by less than $10^{-3}$, but a model trained with one and run with the
# other drifts: pick the form the weights were trained with.
#
# Written as one expression, `0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x**3)))` makes
# an array of x's size for every operation. `_gelu_tanh` builds `u` and the output step
# by step in one array each (`h *= x`, `np.tanh(h, out=h)`), and reuses `x * x` for the
# derivative. Two identities save whole passes: with $h = \tfrac12(1 + t)$ the output is
# $x\,h$, and $1 - t^2 = 4h(1 - h)$, so the derivative is
# $h + x h\,(1 - h)\,(2c + 6c \cdot 0.044715\,x^2)$ — no $t^2$, no second $\tfrac12$.
# (`x * x` rather than `x**2`: NumPy's float32 power is slow.) You write the math of
# `_gelu_tanh` and `_gelu_exact` on plain arrays; `GELUOp.forward` (given) runs them with
# module 00's `in_blocks`, a block of rows at a time, so that the fourteen operations work
# on numbers in the cache: on a GPT's `(16, 128, 512)` hidden layer the forward pass with
# its derivative took 8.0 ms as one expression per line, 6.0 ms with the arrays reused and
# 2.4 ms in blocks (2-core Xeon, one thread).
#
# **Save the derivative, not the inputs.** GELU acts on each number alone, so its whole
# backward is `grad * dGELU/dx`. The forward pass has `x` and `t` at hand: it computes the
# derivative there and saves that one array, where saving `x` and `t` would keep two
# alive until the backward pass (and keep the previous layer's output alive, too). In a
# GPT's feed-forward layer that is a hidden layer's worth of memory less per block (4 MB
# at d_model 128), and the backward pass is a single multiplication. Inside `no_grad()`
# (`ctx.needs_input_grad[0]` is False) nothing is saved, so inference does not pay for it.

# %%
#| export
_GELU_C = math.sqrt(2.0 / math.pi)


_ERFC_COEFFICIENTS = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                      -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223)


def _erfc(x):
    """The complementary error function, relative error < 1.2e-7 (Numerical Recipes' erfcc) — a
    float32's precision; float64 inputs get module 02's series instead, to a few ulp, as PyTorch."""
    if x.dtype == np.float64:
        return _erf_erfc(x)[1]
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = _ERFC_COEFFICIENTS[0] * t  # Horner's rule, in place: no temporary arrays
    for c in _ERFC_COEFFICIENTS[1:-1]:
        poly += c
        poly *= t
    poly += _ERFC_COEFFICIENTS[-1] - z * z
    ans = t * np.exp(poly)  # erfc(|x|)
    return ans + (x < 0) * (2.0 - 2.0 * ans)  # erfc(-a) = 2 - erfc(a), without a branch per element


def _gelu_tanh(x, with_derivative):
    """(GELU(x), and its derivative if asked), tanh form, in as few arrays as the formulas allow."""
    ### BEGIN SOLUTION
    x2 = x * x  # both u and the derivative start from x²
    h = x2 * (_GELU_C * 0.044715)  # u = c·x + c·0.044715·x³, built in one array
    h += _GELU_C
    h *= x
    np.tanh(h, out=h)
    h += 1.0  # h = (1 + tanh u) / 2, and GELU(x) = x·h
    h *= 0.5
    out = x * h
    if not with_derivative:
        return (out,)
    # h + ½x·(1 - t²)·c·(1 + 3·0.044715·x²), with 1 - t² = 4h(1 - h):
    # = h + out·(1 - h)·(2c + 6c·0.044715·x²), built in x²'s array
    d = x2
    d *= 6 * _GELU_C * 0.044715
    d += 2 * _GELU_C
    d *= out
    d *= 1.0 - h
    d += h
    return out, d
    ### END SOLUTION


def _gelu_exact(x, with_derivative):
    """(GELU(x), and its derivative if asked): x·Φ(x), Φ(x) = ½·erfc(-x/√2)."""
    ### BEGIN SOLUTION
    cdf = 0.5 * _erfc(-x * (1.0 / math.sqrt(2.0)))
    out = x * cdf
    if not with_derivative:
        return (out,)
    pdf = np.exp(-0.5 * x * x)  # the derivative Φ(x) + x·φ(x)
    pdf *= x * (1.0 / math.sqrt(2.0 * math.pi))
    pdf += cdf
    return out, pdf
    ### END SOLUTION


class GELUOp(Function):
    @staticmethod
    def forward(ctx, x, approximate="none"):  # given: your functions above, block by block (module 00)
        gelu = _gelu_tanh if approximate == "tanh" else _gelu_exact
        out, *derivative = in_blocks(gelu, x, ctx.needs_input_grad[0])
        if derivative:  # saved instead of x and t
            ctx.save_for_backward(derivative[0])
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (derivative,) = ctx.saved_tensors
        return grad * derivative
        ### END SOLUTION


class GELU(Module):
    """Gaussian Error Linear Unit: exact (erf) by default, ``approximate="tanh"`` for the tanh form."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', not {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return GELUOp.apply(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


# %%
from tinytorch.core.autograd import numerical_gradient


def test_unit_gelu():
    """Checks `_gelu_exact` and `_gelu_tanh` through `GELU` (against Python's `math.erfc` and
    GPT-2's tanh values, on small and on block-sized inputs), the provided `_erfc`, and both
    derivatives against finite differences. Each returns `(out,)`, or `(out, derivative)` when
    asked: d/dx x·Φ(x) = Φ(x) + x·φ(x). Mind the sign: Φ(x) = ½ erfc(−x/√2).
    """
    x0 = np.array([-3.0, 0.0, 1.0, 3.0])
    exact = np.array([x * 0.5 * math.erfc(-x / math.sqrt(2)) for x in x0])  # Python's math has erfc
    assert np.allclose(GELU()(Tensor(x0)).data, exact, atol=1e-6)
    assert np.allclose(GELU(approximate="tanh")(Tensor(x0)).data, [-0.00363752, 0.0, 0.8411920, 2.9963627], atol=1e-5)
    grid = np.linspace(-12, 12, 97)
    assert np.allclose(_erfc(grid), [math.erfc(v) for v in grid], rtol=2e-7, atol=0)
    x1 = np.array([-2.0, -0.5, 0.3, 1.7])
    for form in ("none", "tanh"):
        x = Tensor(x1, requires_grad=True)
        GELU(form)(x).sum().backward()
        numeric = numerical_gradient(
            lambda a: GELUOp.apply(Tensor(a, dtype=np.float64), approximate=form).data.sum(), x1.copy()
        )
        assert np.allclose(x.grad.data, numeric, atol=1e-4), form
    big = np.random.default_rng(0).normal(scale=3.0, size=(3, 20, 1000))  # in several blocks
    tanh_form = 0.5 * big * (1 + np.tanh(math.sqrt(2 / math.pi) * (big + 0.044715 * big**3)))
    assert np.allclose(GELU(approximate="tanh")(Tensor(big, dtype=np.float64)).data, tanh_form, atol=1e-12)
    x = Tensor(big[:, :2, :3], requires_grad=True)  # the same numbers, computed whole
    GELU()(x).sum().backward()
    whole = Tensor(big, requires_grad=True)
    GELU()(whole).sum().backward()
    assert np.allclose(whole.grad.data[:, :2, :3], x.grad.data, atol=1e-6)


if __name__ == "__main__":
    test_unit_gelu()

# %% [markdown]
# ## Losses: one number that says how wrong we are
#
# A loss is a `Module` called as `loss(prediction, target)`; the target may be a `Tensor`
# or a NumPy array. Each loss first computes one number per element, then reduces them
# as its `reduction` says (PyTorch's argument and default):
#
# - `"mean"` (default): the average, so the learning rate does not have to change with
#   the batch size;
# - `"sum"`: the total;
# - `"none"`: no reduction — one loss per element, e.g. to weight examples yourself.
#
# The per-element losses are an ordinary `Tensor`, so the reduction is just `.mean()` or
# `.sum()` and autograd takes care of its gradient: each loss's own backward only has to
# differentiate a single element.
#
# **MSELoss** — squared differences, for regression. It is composed from ops you already
# have. Prediction and target must have the same shape: `(N, 1)` minus `(N,)` would
# silently broadcast to `(N, N)`, a classic bug (PyTorch warns; we refuse).

# %%
#| export
_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses, reduction, count=None):
    """Reduce per-element losses: their mean (over ``count`` elements if given), sum, or none."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.mean() if count is None else losses.sum() / count


class _Loss(Module):
    """Base of the losses: holds ``reduction`` ('mean', 'sum' or 'none')."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise NotImplementedError("size_average= and reduce= are deprecated in PyTorch; use reduction='mean', "
                                      "'sum' or 'none'")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction!r} is not a valid value for reduction: use one of {_REDUCTIONS}")
        self.reduction = reduction


def _target_tensor(target):
    return target if isinstance(target, Tensor) else Tensor(target)


def _same_shape(pred, target, who):
    if pred.shape != target.shape:
        raise ValueError(
            f"{who}: prediction shape {pred.shape} != target shape {target.shape}; "
            "reshape one of them so they match"
        )


class MSELoss(_Loss):
    """Squared error (pred - target)**2, reduced ('mean' by default)."""

    def forward(self, pred, target):
        ### BEGIN SOLUTION
        target = _target_tensor(target)
        _same_shape(pred, target, "MSELoss")
        diff = pred - target
        return _reduce(diff * diff, self.reduction)
        ### END SOLUTION


# %% [markdown]
# **BCELoss** (binary cross-entropy; also called `BinaryCrossEntropyLoss` here) takes
# probabilities $p$ (the output of a `Sigmoid`) and targets $y \in [0, 1]$:
# $-\big(y \log p + (1-y)\log(1-p)\big)$. When the model is confidently wrong, $p$ reaches
# exactly 0 or 1 in float32 and $\log 0 = -\infty$. PyTorch's remedy, which we copy:
# each log is clamped at $-100$, so the loss stays finite, and in the gradient
# $\frac{p - y}{p(1-p)}$ the denominator is clamped at $10^{-12}$, so it never divides by
# zero. Because of the clamps the loss is a `Function` with its own backward.
#
# **BCEWithLogitsLoss** takes the *logit* $z$ instead (no `Sigmoid` layer at the end) and
# is the better choice: with $p = \sigma(z)$ the loss simplifies to
# $\max(z, 0) - z\,y + \log(1 + e^{-|z|})$ — every exponent is $\le 0$, so it never
# overflows, and its gradient is simply $\sigma(z) - y$: no division, no clamp. (The
# targets of both are constants: no gradient flows into them, where PyTorch would
# differentiate a target that requires grad.)

# %%
#| export
class BinaryCrossEntropyOp(Function):
    @staticmethod
    def forward(ctx, p, target):
        ### BEGIN SOLUTION
        y = np.asarray(target, dtype=p.dtype)
        ctx.save_for_backward(p, y)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped right away
            log_p, log_q = np.maximum(np.log(p), -100.0), np.maximum(np.log(1.0 - p), -100.0)
        return -(y * log_p + (1.0 - y) * log_q)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        p, y = ctx.saved_tensors
        return grad * (p - y) / np.maximum(p * (1.0 - p), 1e-12)
        ### END SOLUTION


class BinaryCrossEntropyWithLogitsOp(Function):
    @staticmethod
    def forward(ctx, z, target):
        ### BEGIN SOLUTION
        y = np.asarray(target, dtype=z.dtype)
        ctx.save_for_backward(z, y)
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        z, y = ctx.saved_tensors
        return grad * (0.5 * (1.0 + np.tanh(0.5 * z)) - y)  # sigmoid(z), without overflow
        ### END SOLUTION


def _float_target(pred, target, who):
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    _same_shape(pred, target, who)
    return target


class _WeightedLoss(_Loss):
    """A loss with PyTorch's optional `weight`, kept as a buffer (so it is in the state_dict)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else _target_tensor(weight))

    def _weighted(self, losses):
        if self.weight is None:
            return losses
        _broadcasts_to(self.weight, losses.shape, "weight")
        return losses * self.weight


def _broadcasts_to(factor, shape, name):
    """A weight must broadcast to the loss's own shape, never enlarge it (PyTorch raises too)."""
    if np.broadcast_shapes(tuple(factor.shape), tuple(shape)) != tuple(shape):
        raise ValueError(f"{name} of shape {tuple(factor.shape)} does not broadcast to the input's shape {tuple(shape)}")


class BinaryCrossEntropyLoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (logs clamped at -100, as PyTorch's BCELoss);
    `weight` rescales each element's loss (broadcast against the prediction)."""

    def forward(self, pred, target):
        target = _float_target(pred, target, type(self).__name__)
        if not ((pred.data >= 0) & (pred.data <= 1)).all():  # PyTorch's check (nan fails it too)
            raise RuntimeError("all elements of input should be between 0 and 1")
        return _reduce(self._weighted(BinaryCrossEntropyOp.apply(pred, target=target)), self.reduction)


BCELoss = BinaryCrossEntropyLoss


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits: sigmoid and log fused, stable for any logit. `pos_weight`
    (one number per class, the last dimension) multiplies the loss of the positive targets."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else _target_tensor(pos_weight))

    def forward(self, logits, target):
        target = _float_target(logits, target, type(self).__name__)
        if self.pos_weight is None:
            losses = BinaryCrossEntropyWithLogitsOp.apply(logits, target=target)
        else:  # -(p·y·log σ(z) + (1 - y)·log(1 - σ(z))) = (1 - y)·z + (1 + (p - 1)·y)·softplus(-z)
            _broadcasts_to(self.pos_weight, logits.shape, "pos_weight")
            y = Tensor._wrap(np.asarray(target, dtype=logits.dtype))
            exact = SoftplusOp.apply(-logits, threshold=float("inf"))  # no cut-off: -z + softplus(z) cancels
            losses = (1.0 - y) * logits + (1.0 + (self.pos_weight - 1.0) * y) * exact
        return _reduce(self._weighted(losses), self.reduction)


# %% [markdown]
# **CrossEntropyLoss** is the classification loss. It takes raw scores (*logits*) and
# integer class labels, and its per-example value is
# $-\log \mathrm{softmax}(z)_y = \log\sum_j e^{z_j} - z_y$.
#
# *Shapes, as in PyTorch:* logits `(N, C)` with labels `(N,)`; or, when every example
# has more positions (a sequence, an image), logits `(N, C, d1, ...)` with labels
# `(N, d1, ...)`. **The class axis is dim 1**, not the last one. A language model's
# logits come out `(N, T, C)` from its final `Linear`, so you pass
# `logits.transpose(1, 2)` — or flatten both, `loss(logits.reshape(-1, C), y.reshape(-1))`,
# the idiom of most GPT code. Inside, we move the classes last (`np.moveaxis`), where
# each position is one row.
#
# *Why log-sum-exp?* Computing softmax and then its log loses everything to overflow and
# underflow: a probability of $10^{-50}$ is 0 in float32, and $\log 0 = -\infty$. Written
# as $m + \log\sum_j e^{z_j - m}$ with $m = \max_j z_j$, every exponent is $\le 0$ and the
# sum is $\ge 1$, so the log is always finite.
#
# *Why a fused op?* The gradient of this loss with respect to the logits is beautifully
# simple: $\mathrm{softmax}(z) - \mathrm{onehot}(y)$ per row. One `Function` computes it in
# two NumPy lines, instead of a backward pass through exp, sum, log and indexing.
#
# *Two PyTorch options.* `ignore_index` (default −100) marks positions that are not
# scored — padding in a batch of sequences: their loss and gradient are 0 and the mean
# is over the other positions only. `label_smoothing` $\varepsilon$ trains towards the
# target distribution $q = (1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon/C$ instead of
# a hard one-hot, which keeps the model from becoming over-confident: the loss is
# $-\sum_c q_c \log \mathrm{softmax}(z)_c$ and the gradient stays $\mathrm{softmax}(z) - q$.
# As in PyTorch, the target may also *be* a distribution: floats of the logits' own shape
# (soft labels, a teacher's probabilities in distillation, mixup); that case is given,
# built from `log_softmax` and a sum, and `ignore_index` does not apply to it.
#
# **NLLLoss** is the second half of it alone: it takes log-probabilities (the output of
# `LogSoftmax(dim=1)`) and returns $-\log p_y$. `CrossEntropyLoss()(z, y)` equals
# `NLLLoss()(LogSoftmax(dim=1)(z), y)` — the fused loss is just faster.

# %%
#| export
def _class_labels(scores, target, who, ignore_index):
    """Integer labels for scores (N, C, d1, ...): checked, shape (N, d1, ...)."""
    labels = target.data if isinstance(target, Tensor) else np.asarray(target)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{who}: targets must be integer class labels")
        labels = labels.astype(np.int64)
    expected = scores.shape[:1] + scores.shape[2:]
    if scores.ndim < 2 or labels.shape != expected:
        hint = ""
        if scores.ndim > 2 and labels.shape == scores.shape[:-1]:
            hint = (" PyTorch's layout puts the classes on dim 1: pass logits.transpose(1, 2), or "
                    "flatten both (logits.reshape(-1, C), target.reshape(-1)).")
        raise ValueError(f"{who}: scores {scores.shape} (N, C, ...) need labels of shape {expected}, "
                         f"got {labels.shape}.{hint}")
    classes = scores.shape[1]
    used = labels if ignore_index is None else labels[labels != ignore_index]
    if used.size and (used.min() < 0 or used.max() >= classes):
        ignored = "" if ignore_index is None else f" (or be ignore_index={ignore_index})"
        raise ValueError(f"{who}: labels must lie in [0, {classes - 1}]{ignored}")
    return labels


class CrossEntropyOp(Function):
    """Per-position cross-entropy of logits (N, C, d1, ...) with labels (N, d1, ...)."""

    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100, label_smoothing=0.0):
        ### BEGIN SOLUTION
        z = np.moveaxis(logits, 1, -1)  # classes last: (N, d1, ..., C)
        keep = target != ignore_index
        y = np.where(keep, target, 0)[..., None]
        shifted = z - z.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=-1, keepdims=True)
        log_probs = shifted - np.log(sum_exp)
        loss = -np.take_along_axis(log_probs, y, axis=-1)[..., 0]
        if label_smoothing:
            loss = (1.0 - label_smoothing) * loss - label_smoothing * log_probs.mean(axis=-1)
        ctx.save_for_backward(exp / sum_exp, y, keep)
        ctx.label_smoothing = label_smoothing
        return np.where(keep, loss, 0.0).astype(logits.dtype)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        probs, y, keep = ctx.saved_tensors
        eps = ctx.label_smoothing
        d = probs - eps / probs.shape[-1]  # softmax(z) - q, q = (1 - eps) onehot + eps / C
        np.put_along_axis(d, y, np.take_along_axis(d, y, axis=-1) - (1.0 - eps), axis=-1)
        d *= (grad * keep)[..., None]
        return np.moveaxis(d, -1, 1)
        ### END SOLUTION


class NLLLossOp(Function):
    """-log_probs[label] per position, for log-probabilities (N, C, d1, ...)."""

    @staticmethod
    def forward(ctx, log_probs, target, ignore_index=-100):
        ### BEGIN SOLUTION
        keep = target != ignore_index
        y = np.where(keep, target, 0)[..., None]
        picked = np.take_along_axis(np.moveaxis(log_probs, 1, -1), y, axis=-1)[..., 0]
        ctx.save_for_backward(y, keep)
        ctx.shape = log_probs.shape
        return np.where(keep, -picked, 0.0).astype(log_probs.dtype)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        y, keep = ctx.saved_tensors
        d = np.zeros(ctx.shape[:1] + ctx.shape[2:] + ctx.shape[1:2], dtype=grad.dtype)
        np.put_along_axis(d, y, -(grad * keep)[..., None], axis=-1)
        return np.moveaxis(d, -1, 1)
        ### END SOLUTION


class _ClassificationLoss(_WeightedLoss):
    """Cross-entropy and NLL: labels checked, ignore_index, and `weight` (one number per class):
    each position's loss is scaled by its label's weight, and "mean" divides by their sum."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def _class_weights(self, labels):
        """The weight of every position's label (0 where the label is ignored), a constant array."""
        keep = labels != self.ignore_index
        return np.where(keep, self.weight.data[np.where(keep, labels, 0)], 0.0).astype(self.weight.dtype)

    def _labels(self, scores, target):
        """Labels checked against scores; unbatched scores (C,) with a label () become a batch of 1."""
        if scores.ndim == 1:
            scores = scores.reshape(1, -1)
            target = np.reshape(target.data if isinstance(target, Tensor) else target, (1,))
        return scores, _class_labels(scores, target, type(self).__name__, self.ignore_index)

    def _reduced(self, losses, labels, unbatched):
        count = np.count_nonzero(labels != self.ignore_index)
        if self.weight is not None:
            weights = self._class_weights(labels)
            losses, count = losses * weights, weights.sum()
        if unbatched and self.reduction == "none":  # one example: its (weighted) loss, without the batch
            return losses.reshape(())
        if self.reduction == "mean" and count == 0:  # every label ignored: nan, and a zero gradient, as PyTorch
            return losses.sum() + float("nan")
        return _reduce(losses, self.reduction, count=count)


def _class_probabilities(logits, target):
    """True if ``target`` holds class probabilities (floats of the logits' shape), not labels."""
    data = target.data if isinstance(target, Tensor) else np.asarray(target)
    return data.shape == tuple(logits.shape) and np.issubdtype(data.dtype, np.floating)


class CrossEntropyLoss(_ClassificationLoss):
    """Cross-entropy of logits (N, C) or (N, C, d1, ...) with integer labels (N,) or (N, d1, ...),
    or with class probabilities of the logits' own shape."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, logits, target):
        if _class_probabilities(logits, target):
            if self.ignore_index >= 0:  # PyTorch's check: an index cannot be ignored among probabilities
                raise RuntimeError("ignore_index is not supported for floating point target")
            return self._with_probabilities(logits, _target_tensor(target))
        scores, labels = self._labels(logits, target)
        if self.weight is not None and self.label_smoothing:
            return self._weighted_smoothing(scores, labels, logits.ndim == 1)
        losses = CrossEntropyOp.apply(
            scores, target=labels, ignore_index=self.ignore_index, label_smoothing=self.label_smoothing
        )
        return self._reduced(losses, labels, logits.ndim == 1)

    def _weighted_smoothing(self, scores, labels, unbatched):
        """PyTorch's weighted, smoothed form: (1 - ε)·w_y·(-log p_y) + ε/C · Σ_c w_c·(-log p_c),
        its "mean" divided by the labels' weights (the smoothing term is weighted here already)."""
        eps, classes = self.label_smoothing, scores.shape[1]
        log_p = log_softmax(scores, dim=1)
        weights = self._class_weights(labels)
        picked = NLLLossOp.apply(log_p, target=labels, ignore_index=self.ignore_index) * weights
        per_class = self.weight.reshape(1, classes, *([1] * (scores.ndim - 2)))
        smooth = -(log_p * per_class).sum(dim=1) * Tensor._wrap(labels != self.ignore_index)
        losses = picked * (1.0 - eps) + smooth * (eps / classes)
        if unbatched and self.reduction == "none":
            return losses.reshape(())
        if self.reduction == "mean" and weights.sum() == 0:  # every label ignored: nan, a zero gradient
            return losses.sum() + float("nan")
        if self.reduction == "mean":
            return losses.sum() / weights.sum()
        return _reduce(losses, self.reduction)

    def _with_probabilities(self, logits, q):
        """-Σ_c q_c log softmax(z)_c at every position; ignore_index does not apply, as in PyTorch."""
        classes = 0 if logits.ndim == 1 else 1
        if self.label_smoothing:
            q = q * (1.0 - self.label_smoothing) + self.label_smoothing / logits.shape[classes]
        if self.weight is not None:  # one weight per class, along the class dimension
            q = q * self.weight.reshape(-1, *([1] * (logits.ndim - classes - 1)))
        losses = -(q * log_softmax(logits, dim=classes)).sum(dim=classes)
        return _reduce(losses, self.reduction)


class NLLLoss(_ClassificationLoss):
    """Negative log-likelihood of log-probabilities (N, C, d1, ...) and labels (N, d1, ...)."""

    def forward(self, log_probs, target):
        scores, labels = self._labels(log_probs, target)
        losses = NLLLossOp.apply(scores, target=labels, ignore_index=self.ignore_index)
        return self._reduced(losses, labels, log_probs.ndim == 1)


# %%
def test_unit_losses():
    """Checks `MSELoss`, `BCELoss`, `BCEWithLogitsLoss`, `CrossEntropyLoss` and `NLLLoss` with every
    `reduction` and their gradients, and the edge cases of the text: shapes that differ refused, BCE
    logs clamped at −100, a logit of 800 without overflow, classes on dim 1, `ignore_index`,
    `label_smoothing`. For the fused ops, compare row by row with softmax(z) − onehot(y); ignored
    positions get loss 0 *and* gradient 0.
    """
    pred = Tensor(np.array([[1.0], [3.0]]), requires_grad=True)
    loss = MSELoss()(pred, np.array([[0.0], [1.0]]))
    assert np.isclose(loss.item(), (1 + 4) / 2)
    loss.backward()
    assert np.allclose(pred.grad.data, [[1.0], [2.0]])  # 2 * diff / N
    assert np.allclose(MSELoss(reduction="none")(pred, np.zeros((2, 1))).data, [[1.0], [9.0]])
    assert np.isclose(MSELoss(reduction="sum")(pred, np.zeros((2, 1))).item(), 10.0)
    try:
        MSELoss()(pred, np.zeros(2))
        raise AssertionError("a shape mismatch must raise")
    except ValueError:
        pass

    p = Tensor(np.array([0.9, 0.2, 0.0, 1.0]), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    bce = BCELoss()(p, y)
    assert np.isclose(bce.item(), -(np.log(0.9) + np.log(0.8)) / 4, atol=1e-5)
    wrong = BCELoss(reduction="none")(Tensor([0.0, 1.0]), np.array([1.0, 0.0]))
    assert np.allclose(wrong.data, 100.0), "confidently wrong: log clamped at -100"
    bce.backward()
    assert np.all(np.isfinite(p.grad.data))
    assert np.isclose(p.grad.data[0], (0.9 - 1) / (0.9 * 0.1) / 4, atol=1e-4)
    z = Tensor(np.array([2.0, -1.0, 800.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0])
    logit_loss = BCEWithLogitsLoss(reduction="none")(z, t)
    sig = 1 / (1 + np.exp(-z.data[:2]))
    assert np.allclose(logit_loss.data[:2], -(t[:2] * np.log(sig) + (1 - t[:2]) * np.log(1 - sig)), atol=1e-6)
    assert np.isclose(logit_loss.data[2], 800.0), "no overflow for a huge logit"
    logit_loss.sum().backward()
    assert np.allclose(z.grad.data, [sig[0] - 1, sig[1], 1.0], atol=1e-6)

    logits = Tensor(np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 1000.0]]), requires_grad=True)
    labels = np.array([0, 2])
    ce = CrossEntropyLoss()(logits, labels)
    zr = np.array([2.0, 1.0, 0.1])
    assert np.isclose(ce.item(), (np.log(np.exp(zr).sum()) - 2.0) / 2, atol=1e-5)
    ce.backward()
    soft = np.exp(zr) / np.exp(zr).sum()
    assert np.allclose(logits.grad.data[0], (soft - [1, 0, 0]) / 2, atol=1e-6)
    assert np.allclose(logits.grad.data[1], 0.0, atol=1e-6)
    # (N, C, T) logits: the classes on dim 1, as in PyTorch
    seq = Tensor(np.zeros((2, 4, 3)))
    assert np.isclose(CrossEntropyLoss()(seq, np.zeros((2, 3), dtype=np.int64)).item(), np.log(4))
    assert CrossEntropyLoss(reduction="none")(seq, np.zeros((2, 3), dtype=np.int64)).shape == (2, 3)
    try:
        CrossEntropyLoss()(Tensor(np.zeros((2, 3, 4))), np.zeros((2, 3), dtype=np.int64))
        raise AssertionError("(N, T, C) logits with (N, T) labels must be refused, with a hint")
    except ValueError as err:
        assert "transpose(1, 2)" in str(err)
    # ignore_index: ignored positions are not scored, the mean is over the others
    masked = CrossEntropyLoss(ignore_index=-1)(logits, np.array([0, -1]))
    assert np.isclose(masked.item(), np.log(np.exp(zr).sum()) - 2.0, atol=1e-5)
    # label smoothing: the target is (1 - eps) onehot + eps / C
    smooth = CrossEntropyLoss(label_smoothing=0.3)(Tensor(zr[None]), np.array([0]))
    log_p = zr - np.log(np.exp(zr).sum())
    assert np.isclose(smooth.item(), -(0.7 * log_p[0] + 0.3 * log_p.mean()), atol=1e-5)
    # class probabilities as the target (given code): a one-hot distribution is the label's loss
    soft, one_hot = Tensor(zr[None], requires_grad=True), np.eye(len(zr))[None, 0]
    soft_loss = CrossEntropyLoss(label_smoothing=0.3)(soft, one_hot)
    assert np.isclose(soft_loss.item(), smooth.item(), atol=1e-5)
    soft_loss.backward()
    q = np.eye(len(zr))[0] * 0.7 + 0.3 / len(zr)
    assert np.allclose(soft.grad.data[0], np.exp(log_p) - q, atol=1e-5)  # softmax(z) - q
    # NLLLoss after LogSoftmax is the same loss, and the same gradient
    z2 = Tensor(logits.data.copy(), requires_grad=True)
    nll = NLLLoss()(LogSoftmax(dim=1)(z2), labels)
    assert np.isclose(nll.item(), ce.item(), atol=1e-5)
    nll.backward()
    assert np.allclose(z2.grad.data, logits.grad.data, atol=1e-6)


if __name__ == "__main__":
    test_unit_losses()

# %% [markdown]
# ## The functional API: `nn.functional`
#
# PyTorch offers every layer twice: as a `Module` (`nn.ReLU()`, which can hold
# parameters and sit in a `Sequential`) and as a plain function in
# `torch.nn.functional`, usually imported as `F` (`F.relu(x)`, `F.cross_entropy(logits, y)`),
# handy inside a `forward`. These are given; each one calls the op or the layer you
# wrote, so there is one implementation of every computation. Lowercase functions of
# this file end up in `tinytorch.nn.functional`; the classes in `tinytorch.nn`.

# %%
#| export
def linear(input, weight, bias=None):
    return LinearOp.apply(input, weight) if bias is None else LinearOp.apply(input, weight, bias)


def relu(input):
    return input.relu()


def leaky_relu(input, negative_slope=0.01):
    return LeakyReLUOp.apply(input, negative_slope=negative_slope)


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def silu(input):
    return SiLU()(input)


def gelu(input, approximate="none"):
    return GELU(approximate)(input)


def softmax(input, dim):
    return _along(SoftmaxOp, input, dim)


def log_softmax(input, dim):
    return _along(LogSoftmaxOp, input, dim)


Tensor.softmax, Tensor.log_softmax = softmax, log_softmax  # PyTorch's methods: logits.softmax(-1)


# (PyTorch's signatures, its deprecated size_average= and reduce= included: they are refused)
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return MSELoss(size_average, reduce, reduction)(input, target)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    return BCELoss(weight, size_average, reduce, reduction)(input, target)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    return BCEWithLogitsLoss(weight, size_average, reduce, reduction, pos_weight)(input, target)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    return CrossEntropyLoss(weight, size_average, ignore_index, reduce, reduction, label_smoothing)(input, target)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    return NLLLoss(weight, size_average, ignore_index, reduce, reduction)(input, target)


# %% [markdown]
# ### More of PyTorch's layers, given
#
# A few more layers and functions that PyTorch code often uses, so that it runs here as
# written: `L1Loss`, `SmoothL1Loss`, `HuberLoss`, `Softplus`, `ELU`, `Unflatten`, and
# `F.one_hot`, `F.pad`, `F.normalize`, `F.cosine_similarity` with the functional forms of
# the layers; `Module.to(dtype)`, `float()`, `double()`, `half()`, `add_module`,
# `register_parameter`, `get_parameter`, `get_buffer` and forward hooks
# (`register_forward_hook`, `register_forward_pre_hook`: look at or change what a layer
# receives and returns, as PyTorch users do to collect activations; with PyTorch's options
# `prepend=True` runs a hook first, `with_kwargs=True` also hands it the keyword arguments,
# `always_call=True` runs a forward hook even when the forward raised) and backward hooks
# (`register_full_backward_pre_hook(hook)`: `hook(module, grad_output)` sees the gradients
# that reach the layer's outputs, and may return replacements; `register_full_backward_hook(hook)`:
# `hook(module, grad_input, grad_output)` sees those of its inputs, `None` for an input that
# needs none, and may return replacements that travel on). They need no change to the engine:
# when a layer has such hooks, its call passes the tensors in and out through identity
# `Function`s whose backward runs the hooks — one node for all the inputs (and one for all the
# outputs), so that a hook sees the gradients of every input at once. The losses above
# take PyTorch's full signatures: a class `weight` for `CrossEntropyLoss` and `NLLLoss`
# (each position's loss times its label's weight; "mean" divides by the sum of those
# weights, not by the count), an element `weight` for the binary losses and `pos_weight`
# for `BCEWithLogitsLoss`; the activations accept `inplace=True` (the result is a new
# tensor all the same). Most are built from the operations of module 02 — note how each
# keeps its unused branch finite (`clamp` before `exp`), so that a gradient of 0 is never
# multiplied by an infinity.

# %%
#| export
def _elementwise_loss(pred, target, who):
    target = _target_tensor(target)
    _same_shape(pred, target, who)
    return pred - target


class L1Loss(_Loss):
    """Absolute error |pred - target|, reduced ('mean' by default)."""

    def forward(self, pred, target):
        return _reduce(_elementwise_loss(pred, target, "L1Loss").abs(), self.reduction)


class SmoothL1Loss(_Loss):
    """0.5·d²/beta where |d| < beta, |d| - 0.5·beta elsewhere (d = pred - target)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, pred, target):
        d = _elementwise_loss(pred, target, type(self).__name__)
        size = d.abs()
        if self.beta == 0:  # no quadratic part at all: L1, as PyTorch
            return _reduce(size, self.reduction)
        return _reduce(where(size < self.beta, d * d * (0.5 / self.beta), size - 0.5 * self.beta), self.reduction)


class HuberLoss(SmoothL1Loss):
    """delta · SmoothL1Loss(beta=delta): 0.5·d² where |d| < delta, delta·(|d| - 0.5·delta) elsewhere."""

    def __init__(self, reduction="mean", delta=1.0):  # PyTorch's order for HuberLoss: reduction first
        super().__init__(reduction=reduction, beta=delta)
        self.delta = delta

    def forward(self, pred, target):
        return super().forward(pred, target) * self.delta


class SoftplusOp(Function):
    """log(1 + exp(beta·x)) / beta, computed as logaddexp(0, beta·x) (no overflow); x itself above threshold."""

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        z = x * beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        return np.where(z > threshold, x, np.logaddexp(0, z) / beta).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        sigmoid = np.exp(-np.logaddexp(0, -z))  # σ(z) without overflow
        return grad * np.where(z > ctx.threshold, 1, sigmoid).astype(grad.dtype)


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return SoftplusOp.apply(x, beta=self.beta, threshold=self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(_Activation):
    """x where x > 0, alpha·(exp(x) - 1) elsewhere."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return where(x > 0, x, (x.clamp(max=0).exp() - 1) * self.alpha)  # clamp: exp of a large x is never taken

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Unflatten(Module):
    """Split dimension `dim` into `unflattened_size` (the inverse of Flatten)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, x):
        dim = self.dim % x.ndim
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return L1Loss(size_average, reduce, reduction)(input, target)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    return SmoothL1Loss(size_average, reduce, reduction, beta)(input, target)


def huber_loss(input, target, reduction="mean", delta=1.0):
    return HuberLoss(reduction=reduction, delta=delta)(input, target)


def softplus(input, beta=1.0, threshold=20.0):
    return SoftplusOp.apply(input, beta=beta, threshold=threshold)


def elu(input, alpha=1.0):
    return ELU(alpha)(input)


def one_hot(tensor, num_classes=-1):
    """Integer labels (...) -> int64 (..., num_classes) with a 1 at each label (torch's F.one_hot)."""
    labels = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if labels.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1 and not labels.size:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    count = int(labels.max()) + 1 if num_classes == -1 else num_classes
    if labels.size and labels.max() >= count:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({count})")
    return Tensor._wrap((labels[..., None] == np.arange(count)).astype(np.int64))


class PadOp(Function):
    """Constant padding: `pad` is (left, right) for the last dimension, then the one before, ..."""

    @staticmethod
    def forward(ctx, x, pad=(), value=0.0):
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(f"pad: give (before, after) pairs for at most {x.ndim} dimensions, got {pad}")
        widths = [(0, 0)] * (x.ndim - len(pad) // 2) + [tuple(pad[i:i + 2]) for i in range(len(pad) - 2, -1, -2)]
        if any(w < 0 for pair in widths for w in pair):
            raise ValueError("pad: negative padding (cropping) is not supported; slice the tensor instead")
        ctx.region = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return np.pad(x, widths, constant_values=value)

    @staticmethod
    def backward(ctx, grad):  # the padding was constant: only the original region has a gradient
        return grad[ctx.region]


def pad(input, pad, mode="constant", value=0.0):
    """Pad with `value` ("constant"), or with copies of the input ("reflect", "replicate", "circular")."""
    if mode == "constant":
        return PadOp.apply(input, pad=tuple(pad), value=value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', not {mode!r}")
    return _copy_pad(input, tuple(pad), mode)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(‖input‖_p over dim, eps) (torch's F.normalize)."""
    return input / input.norm(p=p, dim=dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps)) along `dim` (torch's F.cosine_similarity)."""
    shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))  # broadcast first, then take the norms
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    return (x1 * x2).sum(dim=dim) / (x1.norm(dim=dim).clamp(min=eps) * x2.norm(dim=dim).clamp(min=eps))


def _to(self, *args, dtype=None, **kwargs):
    """Convert floating-point parameters and buffers to `dtype` (Module.to); a device must be the CPU."""
    for arg in args:
        if isinstance(arg, str):
            if arg.split(":")[0] != "cpu":
                raise RuntimeError(f"tinytorch runs on the CPU only; .to({arg!r}) is not possible")
        else:
            dtype = arg
    if kwargs.get("device") not in (None, "cpu"):
        raise RuntimeError(f"tinytorch runs on the CPU only; .to(device={kwargs['device']!r}) is not possible")
    if dtype is not None:
        for tensor in self.parameters() + self.buffers():
            if tensor.is_floating_point():
                tensor.data = tensor.data.astype(dtype)
                if tensor.grad is not None:
                    tensor.grad = Tensor._wrap(tensor.grad.data.astype(dtype))
    return self


def _register_parameter(self, name, param):
    if param is not None and not isinstance(param, Parameter):
        raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, not {type(param).__name__}")
    _check_member_name(self, name, "parameter", lambda value: value is None or isinstance(value, Parameter))
    setattr(self, name, param)


def _add_module(self, name, module):
    if module is not None and not isinstance(module, Module):
        raise TypeError(f"add_module: {name!r} must be a Module or None, not {type(module).__name__}")
    _check_member_name(self, name, "module", lambda value: value is None or isinstance(value, Module))
    setattr(self, name, module)


def _module_hooks(module):
    """The module's hooks, one ordered dict per kind, made on first use: from then on Module.__call__
    takes the slow path (`_call_with_hooks`), and a module without hooks pays nothing. The sets
    "with_kwargs" and "always_call" hold the keys of the forward hooks registered with those options."""
    kinds = ("pre", "post", "backward_pre", "backward")
    hooks = {kind: OrderedDict() for kind in kinds}
    hooks.update(with_kwargs=set(), always_call=set())
    return module.__dict__.setdefault("_forward_hooks", hooks)


def _add_forward_hook(module, kind, hook, prepend=False, with_kwargs=False, always_call=False):
    everything = _module_hooks(module)
    hooks = everything[kind]
    handle = _add_hook(hooks, hook)  # module 02's, as Tensor.register_hook: a handle with remove()
    if prepend:
        hooks.move_to_end(handle._key, last=False)
    if with_kwargs:
        everything["with_kwargs"].add(handle._key)
    if always_call:
        everything["always_call"].add(handle._key)
    return handle


def _run_forward_hook(module, hooks, key, hook, args, kwargs, output):
    """One forward hook: hook(module, args, output), or hook(module, args, kwargs, output) when it was
    registered with_kwargs; its result, if not None, replaces the output."""
    changed = hook(module, args, kwargs, output) if key in hooks["with_kwargs"] else hook(module, args, output)
    return output if changed is None else changed


def _call_with_hooks(module, args, kwargs):
    """PyTorch's order: each pre-hook(module, args) may replace the arguments (one registered
    with_kwargs gets (module, args, kwargs) and may return new (args, kwargs)), forward runs, then
    each hook(module, args, output) may replace the output (a hook returning None changes nothing).
    A hook registered with always_call=True also runs when something before it raised.
    With backward hooks, the (tensor) arguments and outputs pass through `_BackwardHookCall`'s nodes."""
    hooks, output, called = module._forward_hooks, None, set()
    try:
        for key, hook in list(hooks["pre"].items()):
            if key in hooks["with_kwargs"]:
                changed = hook(module, args, kwargs)
                if changed is not None:
                    if not (isinstance(changed, tuple) and len(changed) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {changed}.")
                    args, kwargs = changed
            else:
                changed = hook(module, args)
                if changed is not None:
                    args = changed if isinstance(changed, tuple) else (changed,)
        backward = None
        if (hooks["backward"] or hooks["backward_pre"]) and is_grad_enabled():
            backward = _BackwardHookCall(module, hooks)
            args = backward.wrap_inputs(args)
        output = module.forward(*args, **kwargs)
        for key, hook in list(hooks["post"].items()):
            if key in hooks["always_call"]:
                called.add(key)
            output = _run_forward_hook(module, hooks, key, hook, args, kwargs, output)
        if backward is not None:
            output = backward.wrap_outputs(output)
        return output
    except Exception:
        for key, hook in list(hooks["post"].items()):  # the always_call hooks not run yet, then the error
            if key in hooks["always_call"] and key not in called:
                try:
                    output = _run_forward_hook(module, hooks, key, hook, args, kwargs, output)
                except Exception as err:
                    warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {err}")
        raise


class _BackwardHookJoin(Function):
    """The meeting point of a module call's inputs (or outputs): its forward returns a dummy 0 on which
    every wrapped tensor hangs (`_BackwardHookPass`), so its backward runs once, after the gradient of
    every wrapped tensor has arrived, and gives them all to ``done`` together (which runs the hooks
    and returns the gradients to send on)."""

    @staticmethod
    def forward(ctx, *arrays, done=None):
        ctx.done = done
        return np.zeros(())

    @staticmethod
    def backward(ctx, grad):
        return ctx.done()


class _BackwardHookPass(Function):
    """Identity on one tensor of the call; its backward writes the gradient down for the join (and sends
    the tensor's own node nothing: the join sends it on, after the hooks)."""

    @staticmethod
    def forward(ctx, join, x, grads=None, slot=0):
        ctx.grads, ctx.slot = grads, slot
        return x

    @staticmethod
    def backward(ctx, grad):
        ctx.grads[ctx.slot] = grad
        return np.zeros(()), None


def _hook_gradient(value, like):
    """A gradient a hook returned (Tensor, array or None) as the array for tensor ``like``."""
    if value is None:
        return None
    value = np.asarray(value.data if isinstance(value, Tensor) else value)
    if value.shape != like.shape:
        raise RuntimeError(f"backward hook has changed the size of value: {like.shape} -> {value.shape}")
    return value.astype(like.dtype, copy=False)


def _hook_replacement(changed, current, who, what):
    """A backward hook's return value checked as PyTorch: None keeps ``current`` (a tuple), else
    a tuple of as many gradients."""
    if changed is None:
        return current
    changed = tuple(changed) if isinstance(changed, (tuple, list)) else (changed,)
    if len(changed) != len(current):
        raise RuntimeError(f"{who} returned an invalid number of {what}, got {len(changed)}, but expected "
                           f"{len(current)}")
    return changed


class _BackwardHookCall:
    """One call of a module that has backward hooks (PyTorch's `BackwardHook`). Its tensors that require
    a gradient are wrapped: the outputs' join runs the pre-hooks (grad_output), the inputs' join then
    runs the hooks (grad_input, grad_output). Non-tensor positions get None."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_output, self.n_inputs, self.input_tensors = None, 0, []

    @staticmethod
    def _wrap(values, done):
        """(values with the tensors that require a gradient wrapped, their positions, the gradients' dict)."""
        positions = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        grads = {}
        if not positions:
            return values, positions, grads
        join = _BackwardHookJoin.apply(*(values[i] for i in positions), done=done)
        wrapped = list(values)
        for slot, i in enumerate(positions):
            wrapped[i] = _BackwardHookPass.apply(join, values[i], grads=grads, slot=slot)
        return tuple(wrapped), positions, grads

    @staticmethod
    def _packed(grads, positions, size):
        """The gradients as a tuple of `size` (a Tensor, or None where there is none)."""
        packed = [None] * size
        for slot, i in enumerate(positions):
            if grads.get(slot) is not None:
                packed[i] = Tensor._wrap(grads[slot])
        grads.clear()
        return tuple(packed)

    def wrap_inputs(self, args):
        self.n_inputs = len(args)
        self.zero_inputs = {i: v for i, v in enumerate(args) if isinstance(v, Tensor) and not v.requires_grad}
        args, self.input_positions, self.input_grads = self._wrap(args, self._inputs_done)
        self.input_tensors = [args[i] for i in self.input_positions]
        return args

    def wrap_outputs(self, output):
        if not isinstance(output, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                          f"Tensors but received {type(output)}", stacklevel=3)
        single = not isinstance(output, tuple)
        values = (output,) if single else output
        self.n_outputs = len(values)
        values, self.output_positions, self.output_grads = self._wrap(values, self._outputs_done)
        self.output_tensors = [values[i] for i in self.output_positions]
        return values[0] if single else values

    def _outputs_done(self):
        grad_output = self._packed(self.output_grads, self.output_positions, self.n_outputs)
        for hook in list(self.hooks["backward_pre"].values()):
            grad_output = _hook_replacement(hook(self.module, grad_output), grad_output, "Backward pre hook",
                                            "grad_output")
        self.grad_output = grad_output
        if not self.input_positions:  # no input needs a gradient: the hooks fire now, grad_input all None
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients.", stacklevel=2)
            grad_input = (None,) * self.n_inputs
            for hook in list(self.hooks["backward"].values()):
                changed = hook(self.module, grad_input, grad_output)
                if changed is not None and not (isinstance(changed, tuple) and all(g is None for g in changed)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
            self.grad_output = None
        return tuple(_hook_gradient(grad_output[i], t) for i, t in zip(self.output_positions, self.output_tensors))

    def _inputs_done(self):
        # as PyTorch: zeros for a tensor input that got no gradient (it needs none, or forward left it unused)
        grad_input = list(self._packed(self.input_grads, self.input_positions, self.n_inputs))
        for i, t in [*self.zero_inputs.items(), *zip(self.input_positions, self.input_tensors)]:
            if grad_input[i] is None:
                grad_input[i] = Tensor._wrap(np.zeros(t.shape, dtype=t.dtype))
        grad_input = tuple(grad_input)
        if self.grad_output is None:  # the gradient reached the inputs without passing the outputs
            return tuple(None if g is None else g.data for g in (grad_input[i] for i in self.input_positions))
        for hook in list(self.hooks["backward"].values()):
            grad_input = _hook_replacement(hook(self.module, grad_input, self.grad_output), grad_input,
                                           "Backward hook", "grad_input")
        self.grad_output = None
        return tuple(_hook_gradient(grad_input[i], t) for i, t in zip(self.input_positions, self.input_tensors))


def _get_tensor(self, target, kind):
    """The Parameter or buffer at a dotted path (get_parameter / get_buffer)."""
    path, _, name = target.rpartition(".")
    owner = self.get_submodule(path)
    value = getattr(owner, name, None)
    found = isinstance(value, Parameter) if kind == "parameter" else name in vars(owner).get("_buffers", {})
    if not found:
        raise AttributeError(f"{type(owner).__name__} has no {kind} {name!r}")
    return value


Module.to = _to
Module.float, Module.double = (lambda self: self.to(np.float32)), (lambda self: self.to(np.float64))
Module.half, Module.type = (lambda self: self.to(np.float16)), (lambda self, dst_type: self.to(dst_type))
Module.cpu = lambda self: self
Module.register_parameter, Module.add_module = _register_parameter, _add_module
Module.register_module = _add_module
Module.register_forward_pre_hook = lambda self, hook, *, prepend=False, with_kwargs=False: _add_forward_hook(
    self, "pre", hook, prepend, with_kwargs)
Module.register_forward_hook = lambda self, hook, *, prepend=False, with_kwargs=False, always_call=False: (
    _add_forward_hook(self, "post", hook, prepend, with_kwargs, always_call))
Module.register_full_backward_pre_hook = lambda self, hook, prepend=False: _add_forward_hook(
    self, "backward_pre", hook, prepend)
Module.register_full_backward_hook = lambda self, hook, prepend=False: _add_forward_hook(self, "backward", hook, prepend)
Module.register_backward_hook = lambda self, hook: _add_forward_hook(self, "backward", hook)  # deprecated: the full one
Module.get_parameter = lambda self, target: _get_tensor(self, target, "parameter")
Module.get_buffer = lambda self, target: _get_tensor(self, target, "buffer")

# %%
def test_unit_more_of_torchs_layers():
    """Checks the provided losses, activations and helpers against hand values and finite
    differences. This code is provided: if it fails, look at the operation it is built
    from (`where` and `abs` for the losses, `clamp` and `exp` for ELU, `norm` for
    normalize and cosine_similarity), or at `_Loss` and `_reduce` for the reductions.
    """
    pred, target = Tensor([0.0, 2.0, -3.0]), Tensor([0.5, 0.0, 0.0])
    assert np.isclose(L1Loss()(pred, target).item(), (0.5 + 2.0 + 3.0) / 3)
    assert np.allclose(SmoothL1Loss(reduction="none")(pred, target).data, [0.125, 1.5, 2.5])
    assert np.allclose(HuberLoss(reduction="none", delta=2.0)(pred, target).data, [0.125, 2.0, 4.0])
    assert np.allclose(Softplus()(Tensor([0.0, 100.0])).data, [math.log(2.0), 100.0])
    assert np.allclose(ELU()(Tensor([-1.0, 2.0])).data, [math.exp(-1.0) - 1.0, 2.0])
    assert one_hot(Tensor([2, 0], dtype=np.int64), 3).data.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert pad(Tensor([[1.0, 2.0]]), (1, 2)).data.tolist() == [[0.0, 1.0, 2.0, 0.0, 0.0]]
    assert np.allclose(normalize(Tensor([[3.0, 4.0]])).data, [[0.6, 0.8]])
    assert np.isclose(cosine_similarity(Tensor([[1.0, 0.0]]), Tensor([[1.0, 1.0]])).item(), math.sqrt(0.5))
    assert Unflatten(1, (2, 3))(Tensor(np.zeros((4, 6)))).shape == (4, 2, 3)
    layer = Linear(2, 2).double()
    assert layer.weight.dtype == np.float64 and layer.float().bias.dtype == np.float32
    rng = np.random.default_rng(0)
    for loss in (L1Loss(), SmoothL1Loss(beta=0.5), HuberLoss(delta=0.7)):
        x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
        check = Tensor(x, dtype=np.float64, requires_grad=True)
        loss(check, Tensor(y, dtype=np.float64)).backward()
        step = 1e-6
        bumped = x.copy()
        bumped[0, 0] += step
        slope = (loss(Tensor(bumped, dtype=np.float64), Tensor(y, dtype=np.float64)).item()
                 - loss(Tensor(x, dtype=np.float64), Tensor(y, dtype=np.float64)).item()) / step
        assert np.isclose(check.grad.data[0, 0], slope, atol=1e-4), type(loss).__name__
    big = Tensor([-200.0, 0.0, 200.0], requires_grad=True)
    (ELU()(big).sum() + softplus(big).sum()).backward()
    assert np.all(np.isfinite(big.grad.data)), "no infinity meets a zero gradient"


if __name__ == "__main__":
    test_unit_more_of_torchs_layers()


# %%
def test_unit_backward_hooks():
    """Checks the provided backward hooks: the pre-hook sees grad_output before the hook sees
    (grad_input, grad_output), a hook's tuple replaces the gradients that go on to the leaves, and
    `remove()` takes a hook away. If it fails, look at `_call_with_hooks` and `_BackwardHookCall`.
    """
    layer, calls = Linear(3, 2), []
    layer.register_full_backward_pre_hook(lambda m, g_out: calls.append(("pre", g_out[0].shape)))
    handle = layer.register_full_backward_hook(lambda m, g_in, g_out: calls.append(("hook", g_in[0].shape)))
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    layer(x).sum().backward()
    assert calls == [("pre", (4, 2)), ("hook", (4, 3))]
    assert np.allclose(x.grad.data, np.tile(layer.weight.data.sum(0), (4, 1)), atol=1e-6)
    handle.remove()
    layer.register_full_backward_hook(lambda m, g_in, g_out: (g_in[0] * 0,))
    x.grad = None
    layer(x).sum().backward()
    assert np.all(x.grad.data == 0) and len(calls) == 3, "the replacement reaches x; the removed hook is gone"
    assert layer.weight.grad is not None and np.any(layer.weight.grad.data != 0), "parameters' gradients stay"


if __name__ == "__main__":
    test_unit_backward_hooks()

# %% [markdown]
# ### State-dict hooks, extra state and device stubs, given
#
# A layer sometimes has state that is not a tensor (a vocabulary, a config): override
# `get_extra_state()` to return it and `set_extra_state(state)` to take it back, and
# `state_dict()` saves it under `<prefix>_extra_state`, as PyTorch does. Four hooks let code
# watch or rewrite saving and loading: `register_state_dict_pre_hook(hook(module, prefix,
# keep_vars))` runs before a module's entries are saved, `register_state_dict_post_hook(
# hook(module, state_dict, prefix, local_metadata))` after (it may edit the dict in place),
# `register_load_state_dict_pre_hook(hook(module, state_dict, prefix, local_metadata, strict,
# missing_keys, unexpected_keys, error_msgs))` before a module is loaded (renaming old keys is
# its classic use), and `register_load_state_dict_post_hook(hook(module, incompatible_keys))`
# after the load, before `strict` is checked. `weight_norm` and `spectral_norm` (module 04) are
# built on the same machinery. tinytorch runs on the CPU with NumPy dtypes, so `cuda()`,
# `xpu()`, `ipu()`, `mtia()` and `bfloat16()` raise a clear error; `share_memory()`,
# `to_empty()` and `compile()` are the harmless CPU versions.

# %%
#| export
from collections import namedtuple

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_plain_state_dict, _plain_load_state_dict = Module.state_dict, Module.load_state_dict


def _state_hooks(module):
    """The module's state-dict hooks, one ordered dict per kind (None while it has none)."""
    return vars(module).get("_state_dict_hooks")


def _register_state_hook(module, kind, hook):
    kinds = ("pre", "post", "load_pre", "load_post")
    hooks = vars(module).setdefault("_state_dict_hooks", {k: OrderedDict() for k in kinds})
    return _add_hook(hooks[kind], hook)  # module 02's: a handle with remove()


def _has_extra_state(module, method):
    return getattr(type(module), method) is not getattr(Module, method)


def _state_tree(module, prefix="", holders=frozenset()):
    """(prefix, module) in state_dict order, parents before children, as `_named_state` walks them."""
    yield prefix, module
    holders = holders | {id(module)}
    for name, value in list(module._members()):
        if isinstance(value, Module) and id(value) not in holders:
            yield from _state_tree(value, f"{prefix}{name}.", holders)


def _save_state(module, state, prefix, holders):
    hooks = _state_hooks(module) or {}
    for hook in list(hooks.get("pre", {}).values()):
        hook(module, prefix, False)
    members = list(module._members())
    children = {id(value) for _, value in members if isinstance(value, Module)}
    for name, value in module._named_state(prefix, holders | children | {id(module)}):
        state[name] = value.data.copy()  # this module's own parameters and buffers only
    if _has_extra_state(module, "get_extra_state"):
        state[prefix + "_extra_state"] = module.get_extra_state()
    holders = holders | {id(module)}
    for name, value in members:
        if isinstance(value, Module) and id(value) not in holders:
            _save_state(value, state, f"{prefix}{name}.", holders)
    for hook in list(hooks.get("post", {}).values()):
        if hook(module, state, prefix, {"version": 1}) is not None:
            raise RuntimeError("state_dict post-hook must return None")


def _state_dict(self):
    """{name: numpy copy} of every parameter and persistent buffer (plus `_extra_state` entries)."""
    if not any(_state_hooks(m) or _has_extra_state(m, "get_extra_state") for _, m in _state_tree(self)):
        return _plain_state_dict(self)
    state = {}
    _save_state(self, state, "", frozenset())
    return state


def _load_state_dict(self, state_dict, strict=True):
    """Module.load_state_dict with the load hooks and extra state; returns (missing_keys, unexpected_keys)."""
    tree = list(_state_tree(self))
    if not any(_state_hooks(m) or _has_extra_state(m, "set_extra_state") for _, m in tree):
        return _IncompatibleKeys(*_plain_load_state_dict(self, state_dict, strict))
    state_dict, missing, unexpected, errors = dict(state_dict), [], [], []
    for prefix, module in tree:  # pre-hooks may rewrite the (copied) dict before anything is read
        for hook in list((_state_hooks(module) or {}).get("load_pre", {}).values()):
            hook(module, state_dict, prefix, {}, strict, missing, unexpected, errors)
    for prefix, module in tree:
        key = prefix + "_extra_state"
        if _has_extra_state(module, "set_extra_state"):
            if key in state_dict:
                module.set_extra_state(state_dict.pop(key))
            else:
                missing.append(key)
    found_missing, found_unexpected = _plain_load_state_dict(self, state_dict, strict=False)
    missing[:0], unexpected[:0] = found_missing, found_unexpected
    result = _IncompatibleKeys(missing, unexpected)
    for prefix, module in reversed(tree):  # children first, as PyTorch; hooks may edit the lists in place
        for hook in list((_state_hooks(module) or {}).get("load_post", {}).values()):
            if hook(module, result) is not None:
                raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not expected "
                                     "to return new values, if incompatible_keys need to be modified, it should be "
                                     "done inplace.")
    problems = list(errors)
    if strict and missing:
        problems.append(f"missing keys {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if problems:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems))
    return result


def _get_extra_state(self):
    raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called. "
                       "Override get_extra_state() (and set_extra_state()) to save extra state.")


def _set_extra_state(self, state):
    raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called: the "
                       "state_dict holds extra state that this module does not know how to load.")


def _to_empty(self, *, device=None, recurse=True):
    """Fresh, uninitialized storage of the same shapes and dtypes (PyTorch's to_empty); returns self."""
    if device is not None:
        self.to(device)  # only the CPU is allowed
    tensors = self.parameters() + self.buffers() if recurse else [
        v for v in vars(self).values() if isinstance(v, Parameter)] + [
        getattr(self, n) for n in self._buffers if getattr(self, n, None) is not None]
    for tensor in tensors:
        tensor.data = np.empty_like(tensor.data)
    return self


def _not_on_this_machine(what):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"Module.{what}(): tinytorch runs on the CPU with NumPy dtypes only "
                           f"({'NumPy has no bfloat16' if what == 'bfloat16' else 'no accelerator devices'}); "
                           "use .float(), .double() or .half() instead")
    method.__name__ = what
    return method


Module.state_dict, Module.load_state_dict = _state_dict, _load_state_dict
Module.get_extra_state, Module.set_extra_state = _get_extra_state, _set_extra_state
Module.register_state_dict_pre_hook = lambda self, hook: _register_state_hook(self, "pre", hook)
Module.register_state_dict_post_hook = lambda self, hook: _register_state_hook(self, "post", hook)
Module.register_load_state_dict_pre_hook = lambda self, hook: _register_state_hook(self, "load_pre", hook)
Module.register_load_state_dict_post_hook = lambda self, hook: _register_state_hook(self, "load_post", hook)
Module.share_memory = lambda self: self  # NumPy arrays of one process: nothing to share
Module.to_empty = _to_empty
Module.compile = lambda self, *args, **kwargs: None  # no compiler here: forward runs as written
Module.cuda, Module.xpu, Module.ipu, Module.mtia, Module.bfloat16 = map(
    _not_on_this_machine, ("cuda", "xpu", "ipu", "mtia", "bfloat16"))

# %% [markdown]
# ### Still more of PyTorch's layers, given
#
# The error function as a Tensor method, `x.erf()` and `x.erfc()` (and `tinytorch.erf`),
# from the `_erfc` above (float64 from module 02's `_erf_erfc`, to a few ulp, as PyTorch); the activations (`Hardtanh`, `ReLU6`, `Hardsigmoid`, `Hardswish`,
# `LogSigmoid`, `Mish`, `Softmin`, `GLU`, `Threshold`), the losses and distances (`KLDivLoss`,
# `CosineSimilarity`, `PairwiseDistance`, the margin losses) and the normalizations (`RMSNorm`,
# `GroupNorm`) that modern PyTorch code uses, with their functional forms; `F.pad`'s copying
# modes ("reflect", "replicate", "circular": an `index_select` per padded dimension, built
# with NumPy's own `np.pad` on the positions), `ZeroPad2d`, `ConstantPad1d/2d`, `Upsample` /
# `F.interpolate` (nearest neighbour), `PixelShuffle` and `PixelUnshuffle`. Each is a
# composition of the operations above, so each differentiates without a backward of its
# own. Two details carry over from the layers before: `LogSigmoid` is `-softplus(-x)`,
# never `log(sigmoid(x))` (which is `log(0) = -inf` for x below about -104 in float32),
# and `KLDivLoss` takes 0·log 0 as 0 where the target is 0.

# %%
#| export
_ERF_SERIES = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(8))  # erf's Maclaurin series / (2/√π)


def _erf(x):
    """erf(x) = 1 - erfc(x), except near 0, where that difference would lose the digits: there the
    series 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1)), eight terms (relative error < 1e-9 for |x| < 0.5)."""
    x2 = x * x
    series = np.full_like(x, _ERF_SERIES[-1])
    for c in _ERF_SERIES[-2::-1]:  # Horner's rule in x²
        series *= x2
        series += c
    series *= x * (2.0 / math.sqrt(math.pi))
    return np.where(np.abs(x) < 0.5, series, 1.0 - _erfc(x)).astype(x.dtype, copy=False)


class ErfOp(Function):
    """erf, or erfc (= 1 - erf) with ``complement=True``; d/dx erf(x) = 2/√π · exp(-x²)."""

    @staticmethod
    def forward(ctx, x, complement=False):
        ctx.save_for_backward(x)
        ctx.sign = -1.0 if complement else 1.0
        if complement:
            return _erfc(x).astype(x.dtype, copy=False)
        return _erf_erfc(x)[0] if x.dtype == np.float64 else _erf(x)  # float64: module 02's digits

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (ctx.sign * 2.0 / math.sqrt(math.pi)) * np.exp(-x * x)


Tensor.erf = lambda self: ErfOp.apply(self if self.is_floating_point() else self.float())
Tensor.erfc = lambda self: ErfOp.apply(self if self.is_floating_point() else self.float(), complement=True)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    """input clamped to [min_val, max_val]. Its gradient is 1 strictly inside and 0 at the bounds
    too, as PyTorch's (clamp's own gradient is 1 at its bounds): the clamped copy is detached."""
    inside = (input > min_val) & (input < max_val)
    return where(inside, input, input.detach().clamp(min_val, max_val))


def relu6(input):
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input):
    return hardtanh(input + 3.0, 0.0, 6.0) / 6.0


def hardswish(input):
    return input * hardsigmoid(input)


def logsigmoid(input):
    return -softplus(-input)


def mish(input):
    return input * softplus(input).tanh()


def softmin(input, dim):
    return softmax(-input, dim)


def glu(input, dim=-1):
    """The first half along `dim`, gated by the sigmoid of the second half."""
    if input.shape[dim] % 2:
        raise RuntimeError(f"glu: dimension {dim} of size {input.shape[dim]} must be even to halve it")
    first, second = input.chunk(2, dim)
    return first * second.sigmoid()


def threshold(input, threshold, value):
    """input where it is greater than `threshold`, `value` elsewhere."""
    return where(input > threshold, input, value)


class Hardtanh(_Activation):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(_Activation):
    def forward(self, x):
        return relu6(x)


class Hardsigmoid(_Activation):
    def forward(self, x):
        return hardsigmoid(x)


class Hardswish(_Activation):
    def forward(self, x):
        return hardswish(x)


class LogSigmoid(Module):
    def forward(self, x):
        return logsigmoid(x)


class Mish(_Activation):
    def forward(self, x):
        return mish(x)


class Softmin(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return softmin(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class GLU(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Threshold(_Activation):
    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def forward(self, x):
        return threshold(x, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target ‖ exp(input)) pointwise: target·(log target − input), 0 where target is 0.
    ``input`` holds log-probabilities; "batchmean" divides the sum by the batch size."""
    if size_average is not None or reduce is not None:
        raise NotImplementedError("size_average= and reduce= are deprecated in PyTorch; use reduction=")
    target = _target_tensor(target)
    if log_target:
        losses = target.exp() * (target - input)
    else:
        positive = target > 0
        safe = where(positive, target, 1.0)  # log(1) = 0: no log(0) is ever taken
        losses = where(positive, target * (safe.log() - input), 0.0 * input)
    if reduction == "batchmean":
        return losses.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(losses, reduction)


class KLDivLoss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        if reduction not in ("none", "mean", "sum", "batchmean"):
            raise ValueError(f"reduction must be 'none', 'mean', 'sum' or 'batchmean', not {reduction!r}")
        super().__init__(size_average, reduce)
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """‖x1 − x2 + eps‖_p over the last dimension (eps keeps the gradient finite at x1 = x2)."""
    return (x1 - x2 + eps).norm(p=p, dim=-1, keepdim=keepdim)


class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x²) + eps) over the last len(normalized_shape) dims, times weight;
    eps defaults to the dtype's machine epsilon, as in PyTorch."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"RMSNorm: input of shape {input.shape} does not end with normalized_shape {shape}")
    eps = float(np.finfo(input.dtype).eps) if eps is None else eps
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * ((input * input).mean(dim=dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape)) if elementwise_affine else None

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.data[...] = 1.0

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each sample's channels in `num_groups` groups (with the group's mean and biased
    variance over its channels and positions), then scale and shift per channel."""
    batch, channels = input.shape[0], input.shape[1]
    if channels % num_groups:
        raise ValueError(f"GroupNorm: num_channels ({channels}) must be divisible by num_groups ({num_groups})")
    groups = input.reshape(batch, num_groups, -1)
    mean = groups.mean(dim=-1, keepdim=True)
    centred = groups - mean
    variance = (centred * centred).mean(dim=-1, keepdim=True)
    out = (centred * (variance + eps).rsqrt()).reshape(input.shape)
    per_channel = (1, channels) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


def _reset_affine(norm):
    """A normalization layer's scale back to ones and its shift to zeros, in place (reset_parameters)."""
    if norm.weight is not None:
        norm.weight.data[...] = 1.0
    if norm.bias is not None:
        norm.bias.data[...] = 0.0


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(np.ones(num_channels)) if affine else None
        self.bias = Parameter(np.zeros(num_channels)) if affine and bias else None  # bias=False: a scale only

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"


def _pad_source_positions(size, before, after, mode):
    """Which input position each output position reads along one dimension, for the padding modes
    that copy the input: "reflect" (mirror without the edge), "replicate" (the edge), "circular"."""
    numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    if mode == "reflect" and max(before, after) >= size:
        raise RuntimeError(f"pad: reflect padding ({before}, {after}) must be smaller than the dimension ({size})")
    if mode == "circular" and max(before, after) > size:
        raise RuntimeError(f"pad: circular padding ({before}, {after}) can be at most the dimension ({size})")
    return np.pad(np.arange(size), (before, after), mode=numpy_mode)


def _copy_pad(input, pad, mode):
    """pad by copying input positions: an index_select per padded dimension, so gradients add up."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: give (before, after) pairs for at most {input.ndim} dimensions, got {pad}")
    out = input
    for k in range(len(pad) // 2):
        dim = input.ndim - 1 - k  # (left, right) of the last dimension first, as PyTorch
        before, after = pad[2 * k], pad[2 * k + 1]
        if before or after:
            index = _pad_source_positions(input.shape[dim], before, after, mode)
            out = out.index_select(dim, Tensor._wrap(index.astype(np.int64)))
    return out


class _ConstantPadNd(Module):
    def __init__(self, padding, value, sides):
        super().__init__()
        self.padding = (padding,) * (2 * sides) if isinstance(padding, int) else tuple(padding)
        self.value = value

    def forward(self, x):
        return pad(x, self.padding, value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    def __init__(self, padding, value):
        super().__init__(padding, value, 1)


class ConstantPad2d(_ConstantPadNd):
    def __init__(self, padding, value):
        super().__init__(padding, value, 2)


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):  # PyTorch's: ZeroPad2d((1, 1, 1, 1))
        return f"{self.padding}"


def _interpolation_sizes(input, size, scale_factor):
    spatial = input.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        return tuple(size) if isinstance(size, (tuple, list)) else (size,) * len(spatial)
    scales = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * len(spatial)
    return tuple(int(np.floor(n * s)) for n, s in zip(spatial, scales))


def interpolate(input, size=None, scale_factor=None, mode="nearest"):
    """Resize the spatial dimensions of (N, C, ...) by nearest neighbour (PyTorch's "nearest": output
    pixel i reads input pixel floor(i · in / out), or floor(i / scale_factor) when a scale is given,
    in float32 as PyTorch computes it); an index_select per dimension. Module 05 adds more modes."""
    if mode != "nearest":
        raise NotImplementedError(f"interpolate: only mode='nearest' is implemented, not {mode!r}")
    out, spatial = input, input.ndim - 2
    scales = None if scale_factor is None else tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) \
        else (scale_factor,) * spatial
    for k, (n, target) in enumerate(zip(input.shape[2:], _interpolation_sizes(input, size, scale_factor))):
        step = np.float32(n / target if scales is None else 1.0 / scales[k])
        index = np.floor(np.arange(target, dtype=np.float32) * step).astype(np.int64)
        out = out.index_select(k + 2, Tensor._wrap(np.minimum(index, n - 1)))
    return out


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode)

    def extra_repr(self):
        shown = f"size={self.size}" if self.size is not None else f"scale_factor={float(self.scale_factor)}"
        return f"{shown}, mode='{self.mode}'"


def pixel_shuffle(input, upscale_factor):
    """(*, C·r², H, W) -> (*, C, H·r, W·r): sub-pixel convolution's rearrangement (any leading dims)."""
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input with at least 3 dimensions, got shape {input.shape}")
    *lead, c, h, w = input.shape
    r = upscale_factor
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle: channels ({c}) must be divisible by upscale_factor² ({r * r})")
    k = len(lead)
    blocks = input.reshape(*lead, c // (r * r), r, r, h, w).permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return blocks.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """The inverse of pixel_shuffle: (*, C, H·r, W·r) -> (*, C·r², H, W)."""
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input with at least 3 dimensions, got shape {input.shape}")
    *lead, c, h, w = input.shape
    r = downscale_factor
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle: height and width ({h}, {w}) must be divisible by downscale_factor ({r})")
    k = len(lead)
    blocks = input.reshape(*lead, c, h // r, r, w // r, r).permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return blocks.reshape(*lead, c * r * r, h // r, w // r)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -y·(x1 - x2) + margin): x1 should rank above x2 where y = 1, below where y = -1."""
    return _reduce((-_target_tensor(target) * (input1 - input2) + margin).clamp(min=0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (x is a distance)."""
    target = _target_tensor(target)
    return _reduce(where(target == 1, input, (margin - input).clamp(min=0.0)), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1 (rows are pairs)."""
    cos = cosine_similarity(input1, input2, dim=-1)
    target = _target_tensor(target)
    return _reduce(where(target == 1, 1.0 - cos, (cos - margin).clamp(min=0.0)), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin), d the p-norm pairwise distance (with swap, the smaller
    of d(a, n) and d(p, n))."""
    if margin <= 0:
        raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    return _reduce((pairwise_distance(anchor, positive, p, eps) - to_negative + margin).clamp(min=0.0), reduction)


class MarginRankingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_Loss):
    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return hinge_embedding_loss(input, target, self.margin, self.reduction)


class CosineEmbeddingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_Loss):
    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap, self.reduction)

# %%
def test_unit_still_more_layers():
    """Hand values for the provided activations, KL divergence and normalizations. This code
    is provided: if it fails, look at the operation it is built from (`clamp`, `softplus`,
    `where`, `mean`, `rsqrt`)."""
    x = Tensor([-4.0, -1.0, 0.0, 2.0, 7.0])
    assert np.allclose(ReLU6()(x).data, [0, 0, 0, 2, 6]) and np.allclose(Hardtanh()(x).data, [-1, -1, 0, 1, 1])
    assert np.allclose(Hardswish()(x).data, [0.0, -1.0 / 3.0, 0.0, 2.0 * 5.0 / 6.0, 7.0])
    assert np.isclose(LogSigmoid()(Tensor([-200.0])).item(), -200.0), "finite far below 0, no log(0)"
    assert np.allclose(GLU()(Tensor([[1.0, 2.0, 0.0, 100.0]])).data, [[0.5, 2.0]])
    p, log_q = Tensor([[0.0, 1.0]]), Tensor([[math.log(0.5), math.log(0.5)]])
    assert np.isclose(KLDivLoss(reduction="batchmean")(log_q, p).item(), math.log(2.0)), "0·log 0 counts as 0"
    rows = Tensor([[3.0, 4.0]])
    assert np.allclose(RMSNorm(2, eps=0.0)(rows).data, [[3.0, 4.0]] / np.sqrt(12.5))
    assert np.allclose(GroupNorm(1, 2)(Tensor([[[1.0], [3.0]]])).data, [[[-1.0], [1.0]]], atol=1e-4)


if __name__ == "__main__":
    test_unit_still_more_layers()

# %% [markdown]
# ### PyTorch's remaining activations, given
#
# The activations of `torch.nn` not met yet, each a composition of what is above, with the
# functional form beside the layer:
#
# - **PReLU** is a LeakyReLU that *learns* its slope: a `Parameter` named `weight`, one slope
#   for all channels (the default) or one per channel, the channels on dim 1 as everywhere in
#   PyTorch (`where(x > 0, x, w·x)`, `w` reshaped to `(C, 1, ..., 1)`).
# - **SELU** is `scale · ELU(x, alpha)` with the two constants that make a deep stack of
#   `Linear` + SELU keep its activations at mean 0 and variance 1 ("self-normalizing");
#   **CELU** is ELU with its input scaled by `1/alpha`, so that its slope is 1 on both sides of 0.
# - **Softsign** $x/(1+|x|)$, a slower-saturating tanh; **Tanhshrink** $x - \tanh x$.
# - **Hardshrink** zeroes $|x| \le \lambda$; **Softshrink** also moves the rest $\lambda$
#   towards 0, which is `x - clamp(x, -λ, λ)`: at $|x| = \lambda$ both give 0 and a
#   gradient of 0, as PyTorch's.
# - **RReLU** is a LeakyReLU whose negative slope is drawn uniformly from `[lower, upper]`
#   for every element while training (from the global NumPy generator that
#   `tinytorch.manual_seed` seeds), a regularizer like dropout; in `eval()` mode the
#   slope is fixed at the middle, `(lower + upper) / 2`.

# %%
#| export
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def prelu(input, weight):
    """x where x > 0, weight·x elsewhere: one weight for every element, or one per channel (dim 1)."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if weight.numel() == 1:
        slope = weight.reshape(())
    else:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.numel() != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {channels}.")
        slope = weight.reshape(channels, *([1] * (input.ndim - 2)))
    return where(input > 0, input, slope * input)


def selu(input, inplace=False):
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """x where x > 0, alpha·(exp(x/alpha) - 1) elsewhere (alpha of either sign, not 0)."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return where(input > 0, input, ((input.clamp(max=0.0) / alpha).exp() - 1.0) * alpha)  # any sign of alpha


def softsign(input):
    return input / (input.abs() + 1.0)


def tanhshrink(input):
    return input - input.tanh()


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, 0 elsewhere."""
    return where(input.abs() > lambd, input, 0.0)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 in between."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be at least 0, but found {lambd}")
    return input - input.clamp(-lambd, lambd)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """LeakyReLU with a random slope in [lower, upper] per element in training, (lower + upper) / 2 otherwise."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return LeakyReLUOp.apply(input, negative_slope=(lower + upper) / 2)
    slopes = np.where(input.data > 0, 1.0, np.random.uniform(lower, upper, input.shape)).astype(input.dtype)
    return input * Tensor._wrap(slopes)


def _with_inplace(text, inplace):
    return text + (", inplace=True" if inplace else "")


class PReLU(Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(np.zeros(num_parameters))
        self.reset_parameters()

    def reset_parameters(self):
        self.weight.data[...] = self.init  # every slope back to `init`

    def forward(self, x):
        return prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class SELU(_Activation):
    def forward(self, x):
        return selu(x)


class CELU(_Activation):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return celu(x, self.alpha)

    def extra_repr(self):
        return _with_inplace(f"alpha={self.alpha}", self.inplace)


class Softsign(Module):
    def forward(self, x):
        return softsign(x)


class Tanhshrink(Module):
    def forward(self, x):
        return tanhshrink(x)


class Hardshrink(Module):
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return hardshrink(x, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    def forward(self, x):
        return softshrink(x, self.lambd)


class RReLU(_Activation):
    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def forward(self, x):
        return rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self):
        return _with_inplace(f"lower={self.lower}, upper={self.upper}", self.inplace)


# %%
def test_unit_remaining_activations():
    """Hand values of the provided activations, at their kinks too. This code is provided: if it
    fails, look at the operation it is built from (`where`, `clamp`, `elu`, `abs`)."""
    x = Tensor([-1.0, -0.5, 0.0, 0.25, 2.0], requires_grad=True)
    prelu_layer = PReLU()
    y = prelu_layer(x)
    assert np.allclose(y.data, [-0.25, -0.125, 0.0, 0.25, 2.0]) and prelu_layer.weight.shape == (1,)
    y.sum().backward()
    assert np.allclose(x.grad.data, [0.25, 0.25, 0.25, 1.0, 1.0]), "slope w at exactly 0, as PyTorch"
    assert np.isclose(prelu_layer.weight.grad.item(), -1.5), "the sum of x where x <= 0"
    per_channel = PReLU(2, init=0.5)(Tensor([[[-2.0]], [[-4.0]]]).reshape(1, 2, 1))
    assert np.allclose(per_channel.data.ravel(), [-1.0, -2.0])
    assert np.allclose(Hardshrink()(x).data, [-1.0, 0.0, 0.0, 0.0, 2.0]), "|x| == lambd gives 0"
    assert np.allclose(Softshrink()(x).data, [-0.5, 0.0, 0.0, 0.0, 1.5])
    x.grad = None
    softshrink(x).sum().backward()
    assert np.allclose(x.grad.data, [1.0, 0.0, 0.0, 0.0, 1.0]), "no gradient at |x| == lambd"
    assert np.allclose(Softsign()(x).data, [-0.5, -1 / 3, 0.0, 0.2, 2 / 3])
    assert np.allclose(Tanhshrink()(Tensor([1.0])).data, [1.0 - math.tanh(1.0)])
    assert np.allclose(CELU(2.0)(Tensor([-2.0, 3.0])).data, [2.0 * (math.exp(-1.0) - 1.0), 3.0])
    assert np.allclose(SELU()(Tensor([-1.0, 1.0])).data,
                       [_SELU_SCALE * _SELU_ALPHA * (math.exp(-1.0) - 1.0), _SELU_SCALE])
    rrelu_layer = RReLU(0.1, 0.3)
    assert np.allclose(rrelu_layer.eval()(Tensor([-1.0, 1.0])).data, [-0.2, 1.0]), "eval: the middle slope"
    slopes = rrelu_layer.train()(Tensor(-np.ones(1000))).data
    assert slopes.dtype == np.float32 and np.all((slopes <= -0.1) & (slopes >= -0.3)) and slopes.std() > 0.01


if __name__ == "__main__":
    test_unit_remaining_activations()

# %% [markdown]
# ### PyTorch's remaining losses, given
#
# Six more of `torch.nn`'s losses, with PyTorch's formulas, defaults and `reduction`, each
# composed from the operations above (and `_Loss` / `_WeightedLoss` for the reduction and the
# `weight` buffer):
#
# - **SoftMarginLoss**, the logistic loss of a label $y = \pm 1$: $\log(1 + e^{-yx})$, which is
#   `softplus(-y·x)` (so it never overflows, where PyTorch's own `log1p(exp(-y·x))` returns `inf`
#   beyond about 88 in float32).
# - **MultiLabelSoftMarginLoss**: a binary cross-entropy of logits per class,
#   $-(y\log\sigma(x) + (1-y)\log\sigma(-x))$ with `logsigmoid`, averaged over the classes (the
#   last dimension), one loss per sample; `weight` scales each class.
# - **MultiMarginLoss**, the multi-class hinge (SVM) loss of logits `(N, C)` and labels `(N,)`:
#   $\sum_{i \ne y} \max(0, \mathrm{margin} - x_y + x_i)^p / C$, `p` 1 or 2, times `weight[y]`.
#   The score of the label, $x_y$, is picked with a one-hot mask, so autograd sends its gradient
#   back to the right column; `relu` takes PyTorch's gradient 0 at the hinge.
# - **MultiLabelMarginLoss**: the same hinge (margin 1) between every target class $j$ and every
#   non-target class $i$, $\sum_{j}\sum_{i} \max(0, 1 - (x_j - x_i)) / C$. The target has the
#   input's shape and lists the target classes first, then -1 ("no more"). All pairs of one
#   sample are one `(C, C)` slice of a broadcast `1 - x_j + x_i`, multiplied by how often $j$ is
#   listed (PyTorch counts a repeated class twice) and by "$i$ is not a target".
# - **PoissonNLLLoss** for counts: `exp(x) - y·x` with `log_input=True` (the default), else
#   `x - y·log(x + eps)`; `full=True` adds Stirling's approximation of $\log y!$,
#   $y\log y - y + \tfrac12\log(2\pi y)$, only where $y > 1$, as PyTorch.
# - **GaussianNLLLoss**: $\tfrac12(\log v + (x - y)^2 / v)$ with a predicted variance $v$ of the
#   input's shape, or of the input's shape less the last dimension, or with a 1 in one dimension
#   (or a number). PyTorch clamps $v$ at `eps` *in place, without autograd knowing*: the value is
#   the clamped one, the gradient flows to every variance as if there were no clamp. Adding the
#   constant `v.detach().clamp(min=eps) - v.detach()` to $v$ does exactly that.
#
# As with `MSELoss`, the target of the element-wise losses must have the input's shape.

# %%
#| export
def _matching_target(input, target, who):
    """The target as a floating Tensor of the input's shape (integer counts and ±1 labels included)."""
    target = _target_tensor(target)
    _same_shape(input, target, who)
    return target if target.is_floating_point() else target.to(input.dtype)


def _batch_of_labels(input, target, who):
    """Scores (C,) or (N, C) as (N, C), with their labels checked, shape (N,)."""
    if input.ndim not in (1, 2) or input.numel() == 0:
        raise RuntimeError(f"{who}: expected a non-empty vector or matrix of scores, got shape {input.shape}")
    if input.ndim == 1:
        input = input.reshape(1, -1)
        target = np.reshape(target.data if isinstance(target, Tensor) else target, (1,))
    return input, _class_labels(input, target, who, ignore_index=None)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y·x)) for labels y = ±1."""

    def forward(self, input, target):
        target = _matching_target(input, target, type(self).__name__)
        return _reduce(SoftplusOp.apply(-target * input), self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Binary cross-entropy of logits (N, C) with 0/1 targets, averaged over the C classes."""

    def forward(self, input, target):
        y = _matching_target(input, target, type(self).__name__)
        losses = self._weighted(-(y * logsigmoid(input) + (1.0 - y) * logsigmoid(-input)))
        return _reduce(losses.sum(dim=-1) / input.shape[-1], self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Σ_{i≠y} max(0, margin - x_y + x_i)^p / C per sample, times weight[y]."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and np.ndim(weight.data if isinstance(weight, Tensor) else weight) != 1:
            raise ValueError("weight must be one-dimensional")
        super().__init__(weight, size_average, reduce, reduction)
        self.p, self.margin = p, margin

    def forward(self, input, target):
        scores, labels = _batch_of_labels(input, target, type(self).__name__)
        classes = scores.shape[1]
        is_label = Tensor._wrap((labels[:, None] == np.arange(classes)).astype(scores.dtype))
        label_score = (scores * is_label).sum(dim=1, keepdim=True)
        hinge = (self.margin - label_score + scores).relu()
        if self.p == 2:
            hinge = hinge * hinge
        losses = (hinge * (1.0 - is_label)).sum(dim=1) / classes
        if self.weight is not None:
            losses = losses * Tensor._wrap(self.weight.data[labels].astype(scores.dtype))
        if input.ndim == 1 and self.reduction == "none":
            return losses.reshape(np.shape(target.data if isinstance(target, Tensor) else target))
        return _reduce(losses, self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Σ over target classes j and non-target classes i of max(0, 1 - (x_j - x_i)) / C per sample;
    the target lists the classes of each sample, then -1."""

    def forward(self, input, target):
        labels = np.asarray(target.data if isinstance(target, Tensor) else target)
        if labels.shape != tuple(input.shape) or input.ndim not in (1, 2):
            raise RuntimeError(f"MultiLabelMarginLoss: inconsistent target size {labels.shape} for input of size "
                               f"{input.shape} (a vector or matrix)")
        scores, labels = input.reshape(-1, input.shape[-1]), labels.reshape(-1, input.shape[-1])
        rows, classes = scores.shape
        if not np.all(labels == np.round(labels)) or labels.size and (labels.min() < -1 or labels.max() >= classes):
            raise RuntimeError(f"MultiLabelMarginLoss: target classes must be integers in [0, {classes - 1}], or -1")
        listed = np.cumprod(labels >= 0, axis=1).astype(bool)  # the classes before the first -1
        counts = np.zeros((rows, classes + 1), dtype=scores.dtype)  # column C collects what is not listed
        np.add.at(counts, (np.arange(rows)[:, None], np.where(listed, labels, classes).astype(np.int64)), 1.0)
        counts = counts[:, :classes]
        pairs = counts[:, :, None] * (counts[:, None, :] == 0)  # [n, j, i]: j listed (with repeats), i not
        hinge = (1.0 - scores.reshape(rows, classes, 1) + scores.reshape(rows, 1, classes)).relu()
        losses = (hinge * Tensor._wrap(pairs)).sum(dim=(1, 2)) / classes
        return _reduce(losses.reshape(()) if input.ndim == 1 else losses, self.reduction)


class PoissonNLLLoss(_Loss):
    """exp(x) - y·x (log_input) or x - y·log(x + eps); Stirling's term for y > 1 with full=True."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        target = _matching_target(log_input, target, type(self).__name__)
        if self.log_input:
            losses = log_input.exp() - target * log_input
        else:
            losses = log_input - target * (log_input + self.eps).log()
        if self.full:
            counted = target > 1
            y = where(counted, target, 1.0)  # log(1) = 0 where the term is not used: no log(0) is taken
            stirling = y * y.log() - y + (y * (2 * math.pi)).log() * 0.5
            losses = losses + where(counted, stirling, 0.0)
        return _reduce(losses, self.reduction)


class GaussianNLLLoss(_Loss):
    """0.5·(log v + (x - y)² / v), v the predicted variance clamped at eps (its gradient kept)."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        if isinstance(var, (int, float)):
            if var < 0:
                raise ValueError("var has negative entry/entries")
            var = Tensor._wrap(np.full(input.shape, var, dtype=input.dtype))
        var = _target_tensor(var)
        if np.any(var.data < 0):
            raise ValueError("var has negative entry/entries")
        if var.shape != input.shape:
            if var.shape == input.shape[:-1]:  # one variance per row of expectations
                var = var.unsqueeze(-1)
            elif var.ndim != input.ndim or sum(v for n, v in zip(input.shape, var.shape) if n != v) != 1:
                raise ValueError("var is of incorrect size")
        var = var + (var.detach().clamp(min=self.eps) - var.detach())
        diff = input - _target_tensor(target)
        losses = (var.log() + diff * diff / var) * 0.5
        if self.full:
            losses = losses + 0.5 * math.log(2 * math.pi)
        return _reduce(losses, self.reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return SoftMarginLoss(size_average, reduce, reduction)(input, target)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    return MultiLabelSoftMarginLoss(weight, size_average, reduce, reduction)(input, target)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    return MultiMarginLoss(p, margin, weight, size_average, reduce, reduction)(input, target)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return MultiLabelMarginLoss(size_average, reduce, reduction)(input, target)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    return PoissonNLLLoss(log_input, full, size_average, eps, reduce, reduction)(input, target)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    return GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(input, target, var)


# %%
def test_unit_remaining_losses():
    """Hand values of the provided losses. This code is provided: if it fails, look at the
    operation it is built from (`softplus`, `relu`, `where`, `log`), or at `_reduce`."""
    x = Tensor([[0.1, 0.2, 0.4]])
    assert np.isclose(MultiLabelMarginLoss()(x, np.array([[1, -1, 0]])).item(), (0.9 + 1.2) / 3)
    assert np.isclose(MultiLabelMarginLoss()(x, np.array([[1, 1, -1]])).item(), 2 * (0.9 + 1.2) / 3), "repeats count"
    assert np.isclose(MultiMarginLoss()(x, np.array([2])).item(), (0.7 + 0.8) / 3)
    assert np.isclose(MultiMarginLoss(p=2, weight=[1.0, 1.0, 2.0])(x, np.array([2])).item(), 2 * (0.49 + 0.64) / 3)
    assert np.isclose(SoftMarginLoss()(Tensor([0.0, 200.0]), np.array([1.0, -1.0])).item(), (math.log(2) + 200) / 2)
    assert np.isclose(MultiLabelSoftMarginLoss()(Tensor([[0.0, 0.0]]), np.array([[1.0, 0.0]])).item(), math.log(2))
    assert np.isclose(PoissonNLLLoss()(Tensor([0.0]), np.array([2.0])).item(), 1.0)
    stirling = 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi)
    full = PoissonNLLLoss(full=True, reduction="none")(Tensor([0.0, 0.0]), np.array([1.0, 2.0]))
    assert np.allclose(full.data, [1.0, 1.0 + stirling]), "Stirling's term only where the count is above 1"
    var = Tensor([0.0, 4.0], requires_grad=True)
    loss = GaussianNLLLoss(eps=0.5, reduction="sum")(Tensor([1.0, 2.0]), np.array([0.0, 0.0]), var)
    assert np.isclose(loss.item(), 0.5 * (math.log(0.5) + 2.0) + 0.5 * (math.log(4.0) + 1.0))
    loss.backward()
    expected = [0.5 * (1 / 0.5 - 1 / 0.25), 0.5 * (1 / 4 - 4 / 16)]  # d/dv at the clamped v = 0.5, and at v = 4
    assert np.allclose(var.grad.data, expected), "the clamp keeps its gradient"


if __name__ == "__main__":
    test_unit_remaining_losses()

# %% [markdown]
# ### Bilinear, Gumbel-softmax and ChannelShuffle, given
#
# - **Bilinear** mixes two inputs multiplicatively: $y_o = x_1^\top W_o\, x_2 + b_o$, one matrix
#   $W_o$ per output feature, so the weight has shape `(out_features, in1_features, in2_features)`
#   and PyTorch initializes it (and the bias) uniformly in $\pm 1/\sqrt{\text{in1\_features}}$.
#   The leading dimensions of both inputs are flattened into one batch, and the product is one
#   `einsum("bi,oij,bj->bo")`, whose backward module 02 already knows.
# - **`F.gumbel_softmax`** draws a differentiable sample of a categorical distribution: add
#   Gumbel noise $-\log E$ ($E$ exponential, from the global NumPy generator) to the logits, divide
#   by the temperature `tau`, take the softmax. With `hard=True` the forward is the one-hot of the
#   sample's largest entry while the gradient is the soft sample's: the *straight-through*
#   trick `y_hard - y_soft.detach() + y_soft`.
# - **ChannelShuffle** (ShuffleNet) interleaves the channels of `groups` groups, so that the next
#   grouped convolution sees channels of every group: `(N, g·k, ...)` viewed as `(N, g, k, ...)`,
#   its two channel axes swapped, and flattened back.

# %%
#| export
import warnings

from tinytorch.core.autograd import einsum


def bilinear(input1, input2, weight, bias=None):
    """x1ᵀ W_o x2 + b_o for every output feature o; x1 (..., in1), x2 (..., in2), W (out, in1, in2)."""
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}")
    for dim, (a, b) in enumerate(zip(input1.shape[:-1], input2.shape[:-1])):
        if a != b:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {dim}: got {a} and {b}")
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-dimensional (out, in1, in2), got {weight.ndim} dimensions")
    for k, x in ((1, input1), (2, input2)):
        if x.shape[-1] != weight.shape[k]:
            raise RuntimeError(f"bilinear(): input{k} size does not match weight size: got {x.shape[-1]} but "
                               f"expected {weight.shape[k]}")
    if bias is not None and tuple(bias.shape) != weight.shape[:1]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[-1]} but expected "
                           f"{weight.shape[0]}")
    rows1, rows2 = input1.reshape(-1, weight.shape[1]), input2.reshape(-1, weight.shape[2])
    out = einsum("bi,oij,bj->bo", rows1, weight, rows2)
    if bias is not None:
        out = out + bias
    return out.reshape(*input1.shape[:-1], weight.shape[0])


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """A soft sample softmax((logits + Gumbel noise) / tau) along dim; with hard=True its one-hot,
    differentiated as the soft sample (straight through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -np.log(np.random.standard_exponential(logits.shape))  # ~Gumbel(0, 1)
    y_soft = softmax((logits + Tensor._wrap(gumbels.astype(logits.dtype))) / tau, dim)
    if not hard:
        return y_soft
    y_hard = np.zeros(y_soft.shape, dtype=y_soft.dtype)
    np.put_along_axis(y_hard, np.argmax(y_soft.data, axis=dim, keepdims=True), 1.0, axis=dim)
    return Tensor._wrap(y_hard) - y_soft.detach() + y_soft


def channel_shuffle(input, groups):
    """(N, g·k, ...) -> (N, k·g, ...): the channels of the g groups interleaved."""
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    batch, channels, rest = input.shape[0], input.shape[1], input.shape[2:]
    if channels % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {channels} channels and {groups} "
                           "groups.")
    return input.reshape(batch, groups, channels // groups, *rest).transpose(1, 2).reshape(*input.shape)


class Bilinear(Module):
    """y = x1ᵀ W x2 + b, W of shape (out_features, in1_features, in2_features); PyTorch's initialization."""

    def __init__(self, in1_features, in2_features, out_features, bias=True):
        super().__init__()
        if in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={in1_features})")
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(np.zeros((out_features, in1_features, in2_features)))
        self.bias = Parameter(np.zeros(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.in1_features)  # PyTorch's: ±1/√in1_features for the weight and the bias
        _redraw_uniform(self.weight, bound)
        if self.bias is not None:
            _redraw_uniform(self.bias, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class ChannelShuffle(Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


# %%
def test_unit_bilinear_gumbel_channel_shuffle():
    """Hand values of the provided layers. This code is provided: if it fails, look at the
    operation it is built from (`einsum`, `softmax`, `reshape`, `transpose`)."""
    layer = Bilinear(2, 3, 1)
    assert layer.weight.shape == (1, 2, 3) and np.all(np.abs(layer.weight.data) <= 1 / math.sqrt(2))
    layer.weight.data[...] = np.arange(6).reshape(1, 2, 3)
    layer.bias.data[...] = 0.5
    out = layer(Tensor([[1.0, 2.0]]), Tensor([[1.0, 0.0, -1.0]]))
    assert out.shape == (1, 1) and np.isclose(out.item(), (0 - 2) + 2 * (3 - 5) + 0.5)
    logits = Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    sample = gumbel_softmax(logits, tau=0.5, hard=True)
    assert sorted(sample.data.ravel().tolist()) == [0.0, 0.0, 1.0], "hard: one-hot in the forward"
    (sample * Tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert abs(logits.grad.data.sum()) < 1e-6 and np.any(logits.grad.data != 0), "soft sample's gradient"
    shuffled = ChannelShuffle(2)(Tensor(np.arange(6.0).reshape(1, 6, 1)))
    assert shuffled.data.ravel().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


if __name__ == "__main__":
    test_unit_bilinear_gumbel_channel_shuffle()


# %% [markdown]
# ### In-place activations, pairwise distances, a lazy Linear, given
#
# - **In-place activations.** `F.relu_(x)`, `F.elu_`, `F.leaky_relu_`, `F.hardtanh_`,
#   `F.threshold_`, `F.selu_`, `F.celu_` and `F.rrelu_` write the activation into `x`'s own
#   memory and return `x`, as PyTorch's (a trailing underscore is PyTorch's mark of an
#   in-place operation). Each is module 02's `Tensor._inplace` around the functional form
#   above: the version counter goes up, the graph stays right (the old value keeps `x`'s old
#   node), and a leaf that requires grad is refused.
# - **`F.pdist(x, p)`** is the p-norm distance between every pair of rows i < j of an
#   (N, M) matrix, in the order of the upper triangle: N·(N − 1)/2 numbers. One
#   `Function`: the forward takes the row differences of all pairs at once
#   (`np.triu_indices`); the backward is the norm's derivative, `sign(d)·|d|^(p−1)/‖d‖^(p−1)`
#   (0 for a pair at distance 0, as PyTorch's), added back onto both rows of each pair.
# - **`TripletMarginWithDistanceLoss`** is `TripletMarginLoss` with any distance function
#   (default: `pairwise_distance`), e.g. `1 − cosine similarity`.
# - **`LazyLinear(out_features)`** does not know its `in_features` until it sees its first
#   input: the first call sizes (and initializes) the weight from the input's last
#   dimension, and from then on the layer *is* a `Linear` (its class changes, as in PyTorch).
#   The Parameters stay the same objects, so an optimizer made before the first call works.

# %%
#| export
def relu_(input):
    return input._inplace(relu)


def elu_(input, alpha=1.0):
    return input._inplace(lambda t: elu(t, alpha))


def leaky_relu_(input, negative_slope=0.01):
    return input._inplace(lambda t: leaky_relu(t, negative_slope))


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return input._inplace(lambda t: hardtanh(t, min_val, max_val))


_threshold = threshold  # the function: inside threshold_, the name `threshold` is PyTorch's argument


def threshold_(input, threshold, value):
    return input._inplace(lambda t: _threshold(t, threshold, value))


def selu_(input):
    return input._inplace(selu)


def celu_(input, alpha=1.0):
    return input._inplace(lambda t: celu(t, alpha))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return input._inplace(lambda t: rrelu(t, lower, upper, training))


class PdistOp(Function):
    """The p-norm distance of every pair of rows i < j of (N, M), in the upper triangle's order."""

    @staticmethod
    def forward(ctx, x, p=2.0):
        i, j = np.triu_indices(x.shape[0], 1)
        diff = x[i] - x[j]  # (pairs, M)
        if p == 0:
            dist = (diff != 0).sum(axis=1).astype(x.dtype)
        elif np.isinf(p):
            dist = np.abs(diff).max(axis=1, initial=0.0)
        else:
            dist = (np.abs(diff) ** p).sum(axis=1) ** (1.0 / p)
        ctx.save_for_backward(diff, dist)
        ctx.pairs, ctx.p, ctx.n = (i, j), p, x.shape[0]
        return dist.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        diff, dist = ctx.saved_tensors
        p, (i, j), d = ctx.p, ctx.pairs, dist[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0:
                local = np.zeros_like(diff)
            elif np.isinf(p):
                local = np.sign(diff) * (np.abs(diff) == d)
            else:
                local = np.sign(diff) * np.abs(diff) ** (p - 1) / d ** (p - 1)
        local = np.where((d == 0) | ((diff == 0) & (p < 1)), 0.0, local) * grad[:, None]
        grad_x = np.zeros((ctx.n, diff.shape[1]), dtype=diff.dtype)
        np.add.at(grad_x, i, local)
        np.add.at(grad_x, j, -local)
        return grad_x


def pdist(input, p=2):
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    return PdistOp.apply(input, p=float(p))


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with any distance d (default pairwise_distance); with swap,
    d(a, n) is the smaller of d(a, n) and d(p, n)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    distance = pairwise_distance if distance_function is None else distance_function
    to_negative = distance(anchor, negative)
    if swap:
        to_negative = minimum(to_negative, distance(positive, negative))
    return _reduce((distance(anchor, positive) - to_negative + margin).clamp(min=0.0), reduction)


class TripletMarginWithDistanceLoss(_Loss):
    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} "
                             "instead")
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=self.distance_function,
                                                 margin=self.margin, swap=self.swap, reduction=self.reduction)


class _LazyMixin:
    """The lazy part of PyTorch's Lazy* layers: the first input sizes them (`_sized`), their default
    initialization fills the same Parameters, and they become the plain class (`cls_to_become`)."""

    cls_to_become = None
    _inferred = None  # the size the first input gives: "in_features", "in_channels", "num_features"

    def has_uninitialized_params(self):
        return getattr(self, self._inferred) == 0

    def reset_parameters(self):
        if not self.has_uninitialized_params():  # nothing to fill before the first call
            self.cls_to_become.reset_parameters(self)

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self._sized(input)  # the layer's own part: its sizes, its arrays resized in place
            self.reset_parameters()
            self.__class__ = self.cls_to_become

    def forward(self, input, *args, **kwargs):
        self.initialize_parameters(input)
        return type(self).forward(self, input, *args, **kwargs)  # the plain class's forward from now on


class LazyLinear(_LazyMixin, Linear):
    """A Linear whose in_features is the last dimension of its first input; then it becomes a Linear."""

    cls_to_become, _inferred = Linear, "in_features"

    def __init__(self, out_features, bias=True):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = Parameter(np.zeros((out_features, 0)))  # sized at the first call, the same Parameter
        self.bias = Parameter(np.zeros(out_features)) if bias else None

    def _sized(self, input):
        self.in_features = input.shape[-1]
        self.weight.data = np.zeros((self.out_features, self.in_features), dtype=self.weight.dtype)


# %%
def test_unit_inplace_pdist_lazy_linear():
    """Checks the provided in-place activations (same tensor back, its values changed, the gradient
    through the old value, a leaf that requires grad refused), `F.pdist` against hand distances and
    its gradient, `LazyLinear` turning into a `Linear` of the first input's width, and forward hooks
    with PyTorch's options. If it fails, look at `Tensor._inplace` (module 02) and `_call_with_hooks`.
    """
    leaf = Tensor([-1.0, 2.0], requires_grad=True)
    hidden = leaf * 1.0
    assert relu_(hidden) is hidden and hidden.data.tolist() == [0.0, 2.0]
    hidden.sum().backward()
    assert leaf.grad.data.tolist() == [0.0, 1.0]
    try:
        relu_(leaf)
        raise AssertionError("a leaf that requires grad is refused")
    except RuntimeError:
        pass
    rows = Tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], requires_grad=True)
    distances = pdist(rows)
    assert np.allclose(distances.data, [5.0, 1.0, math.sqrt(18.0)])
    distances[0].backward()
    assert np.allclose(rows.grad.data, [[-0.6, -0.8], [0.6, 0.8], [0.0, 0.0]])
    layer = LazyLinear(2)
    assert layer.in_features == 0 and layer(Tensor(np.ones((4, 3)))).shape == (4, 2)
    assert type(layer) is Linear and layer.weight.shape == (2, 3) and np.any(layer.weight.data != 0)
    seen = []
    layer.register_forward_pre_hook(lambda m, args, kwargs: seen.append(sorted(kwargs)), with_kwargs=True)
    layer.register_forward_hook(lambda m, args, out: seen.append("first"), prepend=True)
    layer(Tensor(np.ones((1, 3))))
    assert seen == [[], "first"]


if __name__ == "__main__":
    test_unit_inplace_pdist_lazy_linear()


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
# **Parameter groups.** Like PyTorch's, an optimizer keeps its parameters in
# `optimizer.param_groups`: a list of dicts, each holding some `"params"` and the
# hyper-parameters that apply to them (`"lr"`, `"momentum"`, ...). Passing a plain list
# of parameters makes one group with the defaults; passing a list of dicts makes several,
# e.g. a smaller learning rate for a pre-trained body than for a new head:
#
# ```python
# SGD([{"params": body.parameters(), "lr": 1e-3}, {"params": head.parameters()}], lr=1e-2)
# ```
#
# `step()` reads the hyper-parameters from the groups every time, so changing
# `group["lr"]` in the middle of training takes effect at the next step — that is how a
# learning-rate schedule works (module 04). What an optimizer remembers per parameter
# (momentum, Adam's averages) lives in `optimizer.state`, keyed by `id(parameter)`;
# `state_dict()` / `load_state_dict()` save and restore groups and state together, in
# PyTorch's layout, so training can resume exactly where it stopped.
#
# Three refinements of SGD are standard (PyTorch's `SGD` has them, with the same meaning):
#
# - **Momentum.** Plain SGD zig-zags across narrow valleys and crawls along flat ones.
#   Momentum keeps a running velocity $v \leftarrow \mu v + g$ (the first $v$ is $g$)
#   and steps along $v$: directions that agree from step to step add up, oscillating
#   ones cancel. With $\mu = 0.9$ the steady-state step is ten times the gradient.
#   (`dampening` $d$ scales the new gradient: $v \leftarrow \mu v + (1-d)\,g$.)
# - **Nesterov momentum** steps along $g + \mu v$ instead of $v$: it looks one step ahead
#   along the velocity, which damps the overshoot of plain momentum.
# - **Weight decay** adds $\lambda p$ to the gradient — the gradient of
#   $\frac{\lambda}{2}\lVert p\rVert^2$ — pulling weights towards zero so the model
#   prefers simple solutions.
#
# The update changes `p.data` directly: it is bookkeeping outside the computation
# graph, not an operation autograd should record.

# %%
#| export optim.sgd
import copy

import numpy as np

from tinytorch.core.autograd import enable_grad
from tinytorch.core.tensor import Tensor


def _implementation_options(maximize=False, foreach=None, fused=None, capturable=False, differentiable=False):
    """PyTorch's optimizer switches: `maximize` (ascend instead of descend) is kept in the param
    groups; `foreach` and `fused` pick PyTorch kernels, which change no number, so they are accepted
    and ignored; `capturable` (CUDA graphs) and `differentiable` (gradients through the step) are
    not possible here."""
    if capturable or differentiable:
        raise NotImplementedError("capturable=True and differentiable=True are not supported by tinytorch optimizers")
    return {"maximize": bool(maximize)}


def _step_with_options(step):
    """A subclass's step() with PyTorch's extras: `closure` (called first, its loss returned) and
    `maximize` (the step sees -grad, and .grad is left as it was)."""

    def wrapped(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        flipped = [(p, p.grad) for group in self.param_groups if group.get("maximize")
                   for p in group["params"] if p.grad is not None]
        for p, grad in flipped:
            p.grad = Tensor._wrap(-grad.data)
        try:
            step(self)
        finally:
            for p, grad in flipped:
                p.grad = grad
        return loss

    wrapped.__name__, wrapped.__doc__ = step.__name__, step.__doc__
    return wrapped


class Optimizer:
    """Base class: ``param_groups`` (dicts of params and hyper-parameters) and per-parameter ``state``."""

    def __init_subclass__(cls, **kwargs):  # given: every optimizer's step() takes closure= and honours maximize
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _step_with_options(cls.__dict__["step"])

    def __init__(self, params, defaults, **options):
        self.defaults = dict(defaults, **_implementation_options(**options))
        self.param_groups = []
        self.state = {}  # id(parameter) -> dict
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def __setattr__(self, name, value):
        defaults = self.__dict__.get("defaults", {})
        if name in defaults:  # optimizer.lr = ... would be silently ignored (as in PyTorch)
            raise AttributeError(
                f"{type(self).__name__} keeps {name!r} in its param_groups: "
                f"`for group in optimizer.param_groups: group[{name!r}] = ...`"
            )
        super().__setattr__(name, value)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.zero_grad()
                else:
                    p.grad.data[...] = 0

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]} (copies)."""
        index, groups, state = {}, [], {}
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        for key, i in index.items():
            if key in self.state:
                state[i] = copy.deepcopy(self.state[key])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("loaded state dict has a different number of parameter groups or parameters")
        params = [p for group in self.param_groups for p in group["params"]]
        self.state = {id(params[i]): copy.deepcopy(s) for i, s in state_dict["state"].items()}
        for group, saved in zip(self.param_groups, groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch semantics)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, **options):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("lr, momentum and weight_decay must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults, **options)

    def step(self):
        ### BEGIN SOLUTION
        for group in self.param_groups:
            momentum, weight_decay = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if weight_decay:
                    g = g + weight_decay * p.data
                if momentum:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(g)  # a copy, an array even for a 0-d g
                    else:
                        buf *= momentum
                        buf += (1.0 - group["dampening"]) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                p.data -= group["lr"] * g
        ### END SOLUTION


# %%
def test_unit_sgd():
    """Checks `SGD.step()`: a plain step, momentum (the first velocity is the gradient itself),
    weight decay added to the gradient, Nesterov (a step along g + μ·v) and parameter groups whose
    learning rates are read at every step. Read the hyper-parameters from each `group`, keep the
    velocity per parameter in `self.state`, skip parameters whose `.grad` is None, and change
    `p.data` in place.
    """
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

    # nesterov steps along g + momentum * v
    q = Parameter(np.array([0.0]))
    opt = SGD([q], lr=0.1, momentum=0.5, nesterov=True)
    for _ in range(2):
        opt.zero_grad()
        (q * 2.0).sum().backward()  # grad = 2: v = 2, then 3
        opt.step()
    assert np.isclose(q.data[0], -0.1 * (2 + 0.5 * 2) - 0.1 * (2 + 0.5 * 3))

    # parameter groups: each its own learning rate, changeable mid-training
    a, b = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    opt = SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    (a + b).sum().backward()  # both gradients are 1
    opt.step()
    assert np.allclose([a.data[0], b.data[0]], [0.5, 0.9])
    opt.param_groups[1]["lr"] = 0.0
    opt.step()
    assert np.isclose(b.data[0], 0.9), "the new learning rate applies at the next step"
    try:
        opt.lr = 1.0
        raise AssertionError("setting optimizer.lr would be silently ignored: it must raise")
    except AttributeError as err:
        assert "param_groups" in str(err)


if __name__ == "__main__":
    test_unit_sgd()

# %% [markdown]
# ## Saving what a model learned
#
# `state_dict()` maps each parameter's (and buffer's) dotted name to a copy of its array;
# `load_state_dict()` copies the arrays back, checking names and shapes so that loading
# the weights of a different architecture fails loudly instead of half-working.
# (Module 04 writes these dictionaries to `.npz` files.) An optimizer has a `state_dict`
# too: save both, and training resumes exactly where it stopped.

# %%
def test_unit_state_dict():
    """Checks `state_dict()`/`load_state_dict()` of a model and of `SGD` (given code on top of your
    `named_parameters`): keys in attribute order, arrays copied, mismatches raising, and momentum
    restored. If names or order are wrong, look at `_members` and `_walk`; if the momentum is
    missing, at where `SGD.step` keeps it: `self.state`, keyed by `id(p)`, under PyTorch's name
    'momentum_buffer'.
    """
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
    missing, unexpected = b.load_state_dict({"0.bias": np.zeros(3), "extra": np.zeros(1)}, strict=False)
    assert "0.weight" in missing and unexpected == ["extra"] and not np.any(b[0].bias.data)

    opt = SGD(a.parameters(), lr=0.1, momentum=0.9)
    a(x).sum().backward()
    opt.step()
    saved = opt.state_dict()
    assert saved["param_groups"][0]["params"] == [0, 1, 2, 3] and "momentum_buffer" in saved["state"][0]
    fresh = SGD(a.parameters(), lr=0.5, momentum=0.9)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.1
    assert np.array_equal(fresh.state[id(a[0].weight)]["momentum_buffer"], saved["state"][0]["momentum_buffer"])


if __name__ == "__main__":
    test_unit_state_dict()

# %% [markdown]
# ## Done
#
# Run `tito module complete 03`. It exports `Module`, `Linear`, the containers, the
# activations and losses into `tinytorch/nn/modules.py`, `nn.init` into
# `tinytorch/nn/init.py` and `SGD` into `tinytorch/optim/sgd.py`, so that this works,
# as it does in PyTorch:
#
# ```python
# from tinytorch import Tensor, Linear, ReLU, Sigmoid, SGD, BCELoss
# import tinytorch.nn as nn
# import tinytorch.nn.functional as F
# ```
#
# and it unlocks the XOR milestone: `tito milestone run xor`.
