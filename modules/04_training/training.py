# %% [markdown]
# # Module 04 — Training
#
# Module 03 gave you layers, losses and plain SGD: enough to solve XOR with four data
# points. Real data sets are bigger and real loss surfaces are less friendly. This
# module adds what turns "it can learn" into "it trains, reliably, on real data":
#
# - **Better optimizers** — SGD with momentum and weight decay (you built them into
#   `SGD` in module 03; here is why they work), then **Adam** and **AdamW**, and
#   **learning-rate schedules** (`StepLR`, `CosineAnnealingLR`).
# - **A good start** — `nn.init`, the initialization recipes.
# - **Layers that know whether they are training** — `Dropout` and `BatchNorm1d`, which
#   behave differently after `model.eval()`; and **gradient clipping**.
# - **Data pipelines** — `Dataset`, `TensorDataset`, `random_split` and `DataLoader`:
#   mini-batches, shuffled every epoch (and, given: samplers, streams, padded sequences).
# - **A training loop** — `Trainer.fit()` with per-epoch loss/accuracy history and a
#   progress bar; `accuracy()`; `evaluate()`.
# - **Checkpoints** — saving a model's `state_dict()` to a `.npz` file and loading it back.
# - **TinyDigits** — 1,797 handwritten 8×8 digits, your first real data set.
#
# Completing it unlocks the **MLP on real digits** milestone: a network you wrote,
# trained by a loop you wrote, reading handwriting it has never seen.

# %%
#| default_exp core.training
#| requires 00_setup 01_tensor 02_autograd 03_nn
#| export
import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Why plain SGD is not enough
#
# Picture the loss as a long, narrow valley. The gradient points mostly across the
# valley (steep walls), barely along it (gentle floor). Plain SGD bounces from wall to
# wall and crawls towards the minimum. Two fixes:
#
# **Momentum** (module 03's `SGD(..., momentum=0.9)`) averages gradients over time,
# $v \leftarrow \mu v + g$, $p \leftarrow p - \eta v$. The bounces cancel out; the
# consistent push along the floor accumulates.
#
# **Adaptive step sizes** (Adam, Kingma & Ba 2015) go further: they give *each
# parameter its own* step size. Adam keeps two running averages per parameter,
#
# $$m \leftarrow \beta_1 m + (1-\beta_1)\,g, \qquad v \leftarrow \beta_2 v + (1-\beta_2)\,g^2,$$
#
# the mean and the uncentred variance of recent gradients, and steps by
# $\eta\,\hat m / (\sqrt{\hat v} + \epsilon)$. Dividing by $\sqrt{v}$ normalizes each
# parameter's step: a parameter with large, noisy gradients moves cautiously, a rarely
# updated one moves boldly, and the step size is roughly $\eta$ whatever the gradient's
# scale — which is why `lr=1e-3` works for so many models.
#
# **Bias correction.** $m$ and $v$ start at zero, so early on they underestimate the
# true averages (after one step, $m = 0.1\,g$). Dividing by $1-\beta^t$ undoes exactly
# that: $\hat m = m/(1-\beta_1^t)$, $\hat v = v/(1-\beta_2^t)$.
#
# **Weight decay, coupled or decoupled.** `Adam(weight_decay=λ)` adds $\lambda p$ to the
# gradient as SGD does — but then Adam's normalization shrinks that pull for parameters
# with large gradients. **AdamW** (Loshchilov & Hutter 2019) *decouples* it: it first
# shrinks every weight by $p \leftarrow p(1 - \eta\lambda)$, then takes the plain Adam step.
# That is the optimizer transformers are trained with. (As in PyTorch, each param group
# says which it wants: `group["decoupled_weight_decay"]`, True for AdamW and for
# `Adam(..., decoupled_weight_decay=True)`.)
#
# **Every number of the model, at every step.** The optimizer touches each parameter
# once per step, so its cost grows with the model: for an MLP 784-2048-2048-10 (5.8
# million weights) Adam's step is a third of the training step's time outside the matrix
# products. Written as `m = beta1 * m + (1 - beta1) * g`, every line makes new arrays of
# the parameter's size. `_adam_update` instead updates `m`, `v` and `p` in place and puts
# every intermediate into one scratch array, with the bias corrections folded into two
# numbers (PyTorch's arrangement); `Adam.step` hands it the arrays through module 00's
# `in_blocks`, so that the thirteen operations on each block of rows run while that block
# is in the cache. Measured on that MLP's parameters (2-core Xeon, one thread): 30.7 ms as
# one expression per line, 22.3 ms in place, 17.8 ms in blocks — PyTorch's default
# (for-loop) Adam takes 28.3 ms.

# %%
#| export optim.adam
import math

import numpy as np

from tinytorch.core.setup import in_blocks
from tinytorch.optim.sgd import Optimizer


def _adam_update(p, g, m, v, beta1, beta2, step_size, eps):
    """One Adam step, in place: m and v move towards g and g², p moves by step_size·m/(√v + eps)."""
    ### BEGIN SOLUTION
    scratch = np.empty_like(m)  # every intermediate goes here: no new array per line
    m *= beta1  # in place: the moments are updated where they are stored
    np.multiply(g, 1.0 - beta1, out=scratch)
    m += scratch
    v *= beta2
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - beta2
    v += scratch
    np.sqrt(v, out=scratch)
    scratch += eps
    np.divide(m, scratch, out=scratch)
    scratch *= step_size
    p -= scratch
    ### END SOLUTION


def _moment_defaults(lr, betas, eps, weight_decay, decoupled_weight_decay=None):
    """The param-group defaults of the Adam family, checked: lr, eps, weight_decay >= 0, 0 <= betas < 1."""
    if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError("need lr >= 0, eps >= 0, weight_decay >= 0 and 0 <= betas < 1")
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
    if decoupled_weight_decay is not None:  # Adam, AdamW, NAdam and RAdam: PyTorch's choice of decay
        defaults["decoupled_weight_decay"] = bool(decoupled_weight_decay)
    return defaults


class Adam(Optimizer):
    """Adam (PyTorch semantics): bias-corrected moments; weight_decay adds wd * p to the gradient
    (or, with decoupled_weight_decay=True, shrinks p by 1 - lr * wd first: AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 decoupled_weight_decay=False, **options):
        defaults = _moment_defaults(lr, betas, eps, weight_decay, decoupled_weight_decay)
        if amsgrad:
            raise NotImplementedError("Adam(amsgrad=True) is not implemented in tinytorch")
        super().__init__(params, defaults, **options)

    def step(self):
        ### BEGIN SOLUTION
        for group in self.param_groups:
            lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if weight_decay:
                    if group["decoupled_weight_decay"]:
                        p.data *= 1.0 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                state = self.state.setdefault(id(p), {})
                if not state:
                    state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
                state["step"] += 1
                t = state["step"]
                # lr * m_hat / (sqrt(v_hat) + eps), the corrections folded into two numbers:
                # = lr / (1 - beta1**t) * root * m / (sqrt(v) + eps * root), root = sqrt(1 - beta2**t)
                root = math.sqrt(1.0 - beta2**t)
                in_blocks(_adam_update, p.data, g, state["exp_avg"], state["exp_avg_sq"],
                          beta1, beta2, lr * root / (1.0 - beta1**t), eps * root)
        ### END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before each Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, **options):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         decoupled_weight_decay=True, **options)


# Given: Adam's two ancestors, with PyTorch's arguments and state names. Adagrad divides each
# step by the root of *all* past squared gradients (rates only shrink); RMSprop by the root of
# a running average of them (Adam's second moment, without the first or the bias correction).
def _decayed_gradients(optimizer, group):
    """(parameter, its gradient plus the group's weight decay, its state) for each parameter of
    ``group`` that has a gradient (PyTorch's coupled decay: wd * p added to the gradient; with
    the group's decoupled_weight_decay, p shrunk by 1 - lr * wd instead, as AdamW does)."""
    decay, decoupled = group["weight_decay"], group.get("decoupled_weight_decay", False)
    for p in group["params"]:
        if p.grad is not None:
            if decay and decoupled:
                p.data *= 1.0 - group["lr"] * decay
            g = p.grad.data + decay * p.data if decay and not decoupled else p.grad.data
            yield p, g, optimizer.state.setdefault(id(p), {})


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(running mean of g²) + eps); optional momentum and centering (PyTorch semantics)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 **options):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or alpha < 0:
            raise ValueError("need lr, alpha, eps, weight_decay and momentum >= 0")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered), **options)

    def step(self):
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p, g, state in _decayed_gradients(self, group):
                if not state:
                    state.update(step=0, square_avg=np.zeros_like(p.data))
                    if momentum:
                        state["momentum_buffer"] = np.zeros_like(p.data)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(p.data)
                state["step"] += 1
                square_avg = state["square_avg"]
                square_avg *= alpha
                square_avg += (1.0 - alpha) * g * g
                if group["centered"]:  # subtract the square of the running mean: a running variance
                    grad_avg = state["grad_avg"]
                    grad_avg *= alpha
                    grad_avg += (1.0 - alpha) * g
                    avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
                else:
                    avg = np.sqrt(square_avg) + eps
                if momentum:
                    buffer = state["momentum_buffer"]
                    buffer *= momentum
                    buffer += g / avg
                    p.data -= lr * buffer
                else:
                    p.data -= lr * g / avg


class Adagrad(Optimizer):
    """p -= lr_t * g / (sqrt(sum of all g²) + eps), lr_t = lr / (1 + (t - 1) * lr_decay) (PyTorch semantics)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 **options):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("need lr, lr_decay, weight_decay, initial_accumulator_value and eps >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps), **options)

    def step(self):
        for group in self.param_groups:
            for p, g, state in _decayed_gradients(self, group):
                if not state:
                    state.update(step=0, sum=np.full_like(p.data, group["initial_accumulator_value"]))
                state["step"] += 1
                state["sum"] += g * g
                rate = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
                p.data -= rate * g / (np.sqrt(state["sum"]) + group["eps"])


# Given: four more of Adam's relatives, in PyTorch's forms (its state names too). Adamax replaces
# the root of the squared average by a running maximum of |g|; NAdam takes a Nesterov look-ahead
# of the first moment; RAdam uses plain momentum until the variance estimate can be trusted
# (about 5 steps); Adadelta needs no learning rate of its own scale: it divides a running root
# of past updates by one of past gradients.
def _moments(state, g, beta1, beta2):
    """Update Adam's two moments in place; returns them and the step count."""
    if "exp_avg" not in state:
        state.update(step=0, exp_avg=np.zeros_like(g), exp_avg_sq=np.zeros_like(g))
    state["step"] += 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    return m, v, state["step"]


class Adamax(Optimizer):
    """p -= lr / (1 - beta1^t) * m / u, with u = max(beta2 * u, |g| + eps) (PyTorch semantics)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, **options):
        super().__init__(params, _moment_defaults(lr, betas, eps, weight_decay), **options)

    def step(self):
        for group in self.param_groups:
            (beta1, beta2), eps = group["betas"], group["eps"]
            for p, g, state in _decayed_gradients(self, group):
                if not state:
                    state.update(step=0, exp_avg=np.zeros_like(p.data), exp_inf=np.zeros_like(p.data))
                state["step"] += 1
                m, u = state["exp_avg"], state["exp_inf"]
                m *= beta1
                m += (1.0 - beta1) * g
                np.maximum(u * beta2, np.abs(g) + eps, out=u)
                p.data -= group["lr"] / (1.0 - beta1 ** state["step"]) * m / u


class NAdam(Optimizer):
    """Adam with Nesterov momentum and a warming momentum schedule mu_t (PyTorch semantics)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, **options):
        if momentum_decay < 0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = _moment_defaults(lr, betas, eps, weight_decay, decoupled_weight_decay)
        super().__init__(params, dict(defaults, momentum_decay=momentum_decay), **options)

    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
            for p, g, state in _decayed_gradients(self, group):
                m, v, t = _moments(state, g, beta1, beta2)
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                # a float32 number, as PyTorch keeps it (its default dtype), so that both libraries round alike
                state["mu_product"] = np.float32(state.get("mu_product", np.float32(1.0)) * np.float32(mu))
                mu_product = float(state["mu_product"])
                denominator = np.sqrt(v / (1.0 - beta2**t)) + eps
                p.data -= lr * (1.0 - mu) / (1.0 - mu_product) * g / denominator
                p.data -= lr * mu_next / (1.0 - mu_product * mu_next) * m / denominator


class RAdam(Optimizer):
    """Rectified Adam: momentum SGD until the variance's rectification term exists (rho_t > 5),
    then Adam's step scaled by it (PyTorch semantics)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 **options):
        super().__init__(params, _moment_defaults(lr, betas, eps, weight_decay, decoupled_weight_decay), **options)

    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            rho_inf = 2.0 / (1.0 - beta2) - 1.0
            for p, g, state in _decayed_gradients(self, group):
                m, v, t = _moments(state, g, beta1, beta2)
                m_hat = m / (1.0 - beta1**t)
                rho = rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)
                if rho > 5.0:
                    rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
                    p.data -= lr * m_hat * rect * math.sqrt(1.0 - beta2**t) / (np.sqrt(v) + eps)
                else:
                    p.data -= lr * m_hat


class Adadelta(Optimizer):
    """p -= lr * sqrt(avg of past updates² + eps) / sqrt(avg of g² + eps) * g (PyTorch semantics)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, **options):
        if lr < 0 or eps < 0 or weight_decay < 0 or not 0.0 <= rho <= 1.0:
            raise ValueError("need lr, eps, weight_decay >= 0 and 0 <= rho <= 1")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay), **options)

    def step(self):
        for group in self.param_groups:
            rho, eps = group["rho"], group["eps"]
            for p, g, state in _decayed_gradients(self, group):
                if not state:
                    state.update(step=0, square_avg=np.zeros_like(p.data), acc_delta=np.zeros_like(p.data))
                state["step"] += 1
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg *= rho
                square_avg += (1.0 - rho) * g * g
                delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
                acc_delta *= rho
                acc_delta += (1.0 - rho) * delta * delta
                p.data -= group["lr"] * delta


# %%
from tinytorch.nn.modules import Linear, MSELoss, Parameter


def test_unit_adam():
    """Checks `_adam_update` and `Adam.step()`, and `AdamW`: the first step from zero moments is
    exactly lr·sign(g) (bias correction), a parameter of many blocks follows the formulas, AdamW
    shrinks a weight even when its gradient is 0 while Adam's coupled decay does not, and Adam fits
    a badly scaled regression. `_adam_update` changes p, m and v in place (it gets blocks of them:
    a new array would be lost). Count steps per parameter and start at t = 1 (1 − β⁰ would be 0),
    keep m and v in `self.state`, and let AdamW shrink p *before* the Adam step instead of adding
    λp to the gradient.
    """
    # One step from zero moments: m_hat = g, v_hat = g^2, so the step is lr * sign(g).
    p = Parameter(np.array([1.0, -1.0, 0.5]))
    opt = Adam([p], lr=0.1)
    (p * Tensor([2.0, -3.0, 0.0])).sum().backward()
    opt.step()
    assert np.allclose(p.data, [0.9, -0.9, 0.5], atol=1e-6)

    # A parameter of many blocks takes exactly the steps of the formulas (three, by hand).
    rng = np.random.default_rng(0)
    big = Parameter(rng.normal(size=(300, 200)))
    expected, m, v = big.data.astype(np.float64), 0.0, 0.0
    opt = Adam([big], lr=0.01)
    for t in range(1, 4):
        g = rng.normal(size=big.shape).astype(np.float32)
        big.grad = Tensor(g)
        opt.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        expected -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(big.data, expected, atol=1e-5)

    # Decoupled decay shrinks the weight even with a zero gradient; Adam's L2 does not
    # (its normalized step is lr * sign(wd * p), whatever wd is).
    w1, w2 = Parameter(np.array([2.0])), Parameter(np.array([2.0]))
    adamw = AdamW([w1], lr=0.1, weight_decay=0.5)
    (w1 * 0.0).sum().backward()
    adamw.step()
    assert np.isclose(w1.data[0], 2.0 * (1 - 0.1 * 0.5))
    adam = Adam([w2], lr=0.1, weight_decay=0.5)
    (w2 * 0.0).sum().backward()
    adam.step()
    assert np.isclose(w2.data[0], 2.0 - 0.1, atol=1e-6)

    # Adam minimizes a badly scaled quadratic.
    np.random.seed(0)
    model = Linear(2, 1)
    x = Tensor(np.random.randn(64, 2) * np.array([1.0, 10.0]))
    y = x.data @ np.array([[3.0], [-0.5]]) + 1.0
    opt = Adam(model.parameters(), lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        loss = MSELoss()(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3, loss.item()


if __name__ == "__main__":
    test_unit_adam()

# %% [markdown]
# ## Learning-rate schedules
#
# A large learning rate makes fast progress early but bounces around the minimum at the
# end; a small one settles precisely but crawls. A **schedule** starts large and decays:
#
# - **StepLR** multiplies the rate by `gamma` every `step_size` epochs:
#   $\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}$.
# - **CosineAnnealingLR** glides from $\eta_0$ to `eta_min` along half a cosine over
#   `T_max` epochs: $\eta_t = \eta_\text{min} + (\eta_0 - \eta_\text{min})\,\frac{1 + \cos(\pi t / T_\text{max})}{2}$
#   — slow at first, fastest in the middle, gentle at the end.
#
# A scheduler wraps an optimizer and, on every `scheduler.step()` (once per epoch, after
# `optimizer.step()`), writes the new rate into each of the optimizer's `param_groups` —
# that is why those groups exist. `get_last_lr()` returns the rates it set. Each group
# keeps its own starting rate ($\eta_0$, stored as `"initial_lr"`), so groups with
# different rates decay in proportion.
#
# You write `get_lr()`, the formula: a list with one rate per group, from `self.base_lrs`
# and the epoch count `self.last_epoch` (0 when the scheduler is created). PyTorch
# computes the same numbers with an equivalent recursive formula from the current rate,
# so that schedulers can be chained; the closed form is the one to understand.

# %%
#| export optim.lr_scheduler
import math


class LRScheduler:
    """Base class: on every step(), set each param group's 'lr' to get_lr() (PyTorch semantics)."""

    # Given: what step() does when someone else has moved a rate since this scheduler last set it
    # (a second scheduler on the same optimizer, a ChainedScheduler, you). None: get_lr() overwrites
    # it (PyTorch's closed-form schedules: LambdaLR, OneCycleLR, ...). A number, the floor (0 for the
    # multiplicative schedules, eta_min for the cosine): this schedule's own change since its last
    # step, (new - floor) / (old - floor), is applied to the current rate — PyTorch's recursive
    # forms, which is what lets two schedules compose. Left alone, the rate is get_lr() exactly.
    _chain_floor = None
    _resume_keeps_rate = False  # see _initial_step

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The constructor's step (SequentialLR repeats it): epoch -1's rates are the base rates.
        Resuming (last_epoch given), get_lr() sets the rate at the next epoch, except in the
        schedules whose PyTorch constructor step keeps the rates the optimizer holds (where the
        saved run left off): ExponentialLR, CosineAnnealingLR, LinearLR, PolynomialLR."""
        resuming = self.last_epoch != -1
        self._closed_lrs = None if resuming else list(self.base_lrs)
        self._is_initial = True
        try:
            if resuming and self._resume_keeps_rate:
                self.last_epoch += 1
                self._closed_lrs = list(self.get_lr())
                self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
            else:
                self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def step(self):
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._chained(self.get_lr())):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _chained(self, closed):
        """The rates to set, given get_lr()'s (see _chain_floor)."""
        previous, self._closed_lrs = getattr(self, "_closed_lrs", None), list(closed)
        floor = self._chain_floor
        if floor is None or previous is None:
            return closed
        rates = []
        for group, new, old in zip(self.optimizer.param_groups, closed, previous):
            lr = group["lr"]
            if lr == old or new == old:  # nobody else moved it, or this schedule stands still
                rates.append(new if lr == old else lr)
            elif old == floor:  # from the floor (the cosine's restart): add the change
                rates.append(lr + (new - old))
            else:
                rates.append(floor + (lr - floor) * ((new - floor) / (old - floor)))
        return rates

    def _restart(self):
        """SequentialLR's hand-over at a milestone: this schedule's epoch 0, from its base rates."""
        self.last_epoch, self._closed_lrs = -1, None
        self.step()

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    _chain_floor = 0.0  # multiplicative: chains as PyTorch's recursive form

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        ### BEGIN SOLUTION
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]
        ### END SOLUTION


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    _resume_keeps_rate = True  # PyTorch's constructor step keeps a resumed rate (LRScheduler._initial_step)

    @property
    def _chain_floor(self):  # given: the cosine scales its distance to eta_min when chained
        return self.eta_min

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        ### BEGIN SOLUTION
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
        ### END SOLUTION


# Given: more of PyTorch's schedules, each a closed form in `last_epoch` like the two above
# (OneCycleLR also moves the momentum, against the rate), and ReduceLROnPlateau, which reads a
# metric instead of the epoch: `step(val_loss)`.
class ExponentialLR(LRScheduler):
    """lr = initial_lr * gamma ** epoch."""

    _resume_keeps_rate = True  # PyTorch's constructor step keeps a resumed rate (LRScheduler._initial_step)

    _chain_floor = 0.0  # multiplicative: chains as PyTorch's recursive form

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = initial_lr * gamma ** (the number of milestones reached)."""

    _chain_floor = 0.0  # multiplicative: chains as PyTorch's recursive form

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        reached = sum(1 for milestone in self.milestones if milestone <= self.last_epoch)
        return [base * self.gamma ** reached for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = initial_lr * a factor going linearly from start_factor to end_factor over total_iters epochs."""

    _resume_keeps_rate = True  # PyTorch's constructor step keeps a resumed rate (LRScheduler._initial_step)

    _chain_floor = 0.0  # multiplicative: chains as PyTorch's recursive form

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError("LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        done = min(self.last_epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * factor for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch): one function, or one per param group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        count = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * count
        if len(self.lr_lambdas) != count:
            raise ValueError(f"LambdaLR: expected {count} lr_lambdas, got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * rule(self.last_epoch) for base, rule in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self):  # functions are not state (PyTorch leaves them out too)
        return {key: value for key, value in super().state_dict().items() if key != "lr_lambdas"}


class ConstantLR(LRScheduler):
    """lr = initial_lr * factor for the first total_iters epochs, then initial_lr."""

    _chain_floor = 0.0  # multiplicative: chains as PyTorch's recursive form

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError("ConstantLR: factor must be between 0 and 1")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        factor = self.factor if self.last_epoch < self.total_iters else 1.0
        return [base * factor for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts: cycle i lasts T_0 · T_mult**i epochs, each from initial_lr down to eta_min."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 < 1:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        into, length = self.last_epoch, self.T_0  # epochs into the current cycle, and its length
        while into >= length:
            into, length = into - length, length * self.T_mult
        cosine = (1.0 + math.cos(math.pi * into / length)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (called after every batch): lr rises from max_lr/div_factor to max_lr over
    the first pct_start of total_steps, then anneals to max_lr/(div_factor·final_div_factor); the
    momentum (SGD's momentum, Adam's beta1) moves the opposite way between its two bounds."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"Expected positive integer {name}, but got {value}")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', not {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"max_lr must have the same length as optimizer.param_groups. max_lr has "
                             f"{len(max_lrs)} values, param_groups has {len(groups)}.")
        starts = [peak / div_factor for peak in max_lrs]
        if last_epoch == -1:
            for group, start in zip(groups, starts):
                group["initial_lr"] = group["lr"] = start
        ends = [start / final_div_factor for start in starts]
        up = float(pct_start * total_steps) - 1  # the step at which the lr peaks
        if three_phase:  # up, down as long, then on to the end
            self._phases = [(up, "initial", "max"), (2 * up, "max", "initial"), (total_steps - 1, "initial", "min")]
        else:
            self._phases = [(up, "initial", "max"), (total_steps - 1, "max", "min")]
        self._lrs = [{"initial": s, "max": m, "min": e} for s, m, e in zip(starts, max_lrs, ends)]
        self._momenta = {"initial": max_momentum, "max": base_momentum, "min": max_momentum}  # the other way round
        self._momentum_key = "betas" if "betas" in groups[0] else "momentum"
        if cycle_momentum and self._momentum_key not in groups[0]:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "linear":
            return start + (end - start) * fraction
        return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * fraction))

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times, but total_steps is {self.total_steps}")
        begin = 0.0
        for end, start_key, end_key in self._phases:
            if step <= end or end == self._phases[-1][0]:
                fraction = (step - begin) / (end - begin)
                break
            begin = end
        if self.cycle_momentum:
            momentum = self._anneal(self._momenta[start_key], self._momenta[end_key], fraction)
            for group in self.optimizer.param_groups:
                if self._momentum_key == "betas":
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum
        return [self._anneal(lrs[start_key], lrs[end_key], fraction) for lrs in self._lrs]


class ReduceLROnPlateau:
    """Divide the lr by 1/factor when a metric (passed to step()) has not improved for `patience`
    epochs; then wait `cooldown` epochs before watching again. lr never goes below min_lr."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if factor >= 1.0 or mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError("ReduceLROnPlateau: need factor < 1, mode 'min' or 'max', threshold_mode 'rel' or 'abs'")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = threshold, threshold_mode, cooldown, eps
        count = len(optimizer.param_groups)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * count
        if len(self.min_lrs) != count:
            raise ValueError(f"expected {count} min_lrs, got {len(self.min_lrs)}")
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _improved(self, value):  # PyTorch's four rules
        if self.mode == "min":
            return value < (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold)
        return value > (self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold)

    def step(self, metrics):
        value = float(metrics)
        self.last_epoch += 1
        if self._improved(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                reduced = max(group["lr"] * self.factor, floor)
                if group["lr"] - reduced > self.eps:
                    group["lr"] = reduced
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


# %%
def test_unit_lr_schedulers():
    """Checks `StepLR.get_lr()` and `CosineAnnealingLR.get_lr()`: one rate per param group, from
    that group's starting rate (`self.base_lrs`) and `self.last_epoch`, which the base class has
    already advanced. Use the closed forms of the text (StepLR counts decays with integer division);
    starting from the *current* `group['lr']` compounds the decay at every step.
    """
    from tinytorch.optim.sgd import SGD

    p, q = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opt = SGD([{"params": [p]}, {"params": [q], "lr": 1.0}], lr=0.1)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    rates = []
    for _ in range(5):
        rates.append(sched.get_last_lr())
        opt.step()
        sched.step()
    assert np.allclose(rates, [[0.1, 1.0], [0.1, 1.0], [0.05, 0.5], [0.05, 0.5], [0.025, 0.25]])
    assert np.isclose(opt.param_groups[1]["lr"], 0.25), "the scheduler writes into the optimizer"
    opt = SGD([p], lr=1.0)
    cosine = CosineAnnealingLR(opt, T_max=4, eta_min=0.2)
    lrs = [cosine.get_last_lr()[0]] + [cosine.step() or cosine.get_last_lr()[0] for _ in range(4)]
    assert np.allclose(lrs, [1.0, 0.2 + 0.8 * (1 + np.cos(np.pi / 4)) / 2, 0.6, 0.2 + 0.8 * (1 + np.cos(3 * np.pi / 4)) / 2, 0.2])


if __name__ == "__main__":
    test_unit_lr_schedulers()

# %%
def test_unit_more_optimizers_and_schedules():
    """Checks the provided `RMSprop`, `Adagrad`, `Adamax`, `RAdam`, `ExponentialLR`, `MultiStepLR`, `LinearLR`,
    `LambdaLR`, `ReduceLROnPlateau` and `OneCycleLR`: hand values of their first steps and rates. This code is provided: if it fails,
    look at the `Optimizer` base class (param groups, `self.state`) or at `LRScheduler.step()`.
    """
    from tinytorch.optim.sgd import SGD

    p = Parameter(np.array([1.0, -2.0]))
    opt = RMSprop([p], lr=0.1, alpha=0.5)
    p.grad = Tensor([2.0, 0.0])
    opt.step()  # square_avg = 0.5 * g², so the step is lr * g / (sqrt(0.5) |g| + eps)
    assert np.allclose(p.data, [1.0 - 0.1 * 2.0 / (np.sqrt(2.0) + 1e-8), -2.0])
    q = Parameter(np.array([1.0]))
    opt = Adagrad([q], lr=0.5)
    for _ in range(2):
        q.grad = Tensor([3.0])
        opt.step()  # sums 9 then 18: steps 0.5 * 3 / 3 and 0.5 * 3 / sqrt(18)
    assert np.isclose(q.data[0], 1.0 - 0.5 - 1.5 / np.sqrt(18.0), atol=1e-8)
    for make, expected in ((lambda ps: Adamax(ps, lr=0.1), 0.9),  # m = 0.2, u = 2: 0.1 / 0.1 · 0.2 / 2
                           (lambda ps: RAdam(ps, lr=0.1), 0.8)):  # first steps: bias-corrected momentum, m̂ = g
        r = Parameter(np.array([1.0]))
        opt = make([r])
        r.grad = Tensor([2.0])
        opt.step()
        assert np.isclose(r.data[0], expected, atol=1e-6), type(opt).__name__
    rates = {}
    for name, make in (("exponential", lambda o: ExponentialLR(o, gamma=0.5)),
                       ("multistep", lambda o: MultiStepLR(o, milestones=[2, 1], gamma=0.1)),
                       ("linear", lambda o: LinearLR(o, start_factor=0.5, total_iters=2)),
                       ("lambda", lambda o: LambdaLR(o, lambda epoch: 1.0 / (epoch + 1)))):
        o = SGD([Parameter(np.zeros(1))], lr=1.0)
        sched = make(o)
        rates[name] = [sched.get_last_lr()[0]] + [sched.step() or sched.get_last_lr()[0] for _ in range(3)]
    assert np.allclose(rates["exponential"], [1.0, 0.5, 0.25, 0.125])
    assert np.allclose(rates["multistep"], [1.0, 0.1, 0.01, 0.01])
    assert np.allclose(rates["linear"], [0.5, 0.75, 1.0, 1.0])
    assert np.allclose(rates["lambda"], [1.0, 1 / 2, 1 / 3, 1 / 4])
    o = SGD([Parameter(np.zeros(1))], lr=1.0)
    plateau = ReduceLROnPlateau(o, patience=1, factor=0.5)
    for loss in (3.0, 2.0, 2.5, 2.2, 2.1):  # two epochs without a new best: halve the rate
        plateau.step(loss)
    assert plateau.get_last_lr() == [0.5]
    o = SGD([Parameter(np.zeros(1))], lr=1.0, momentum=0.9)
    one_cycle = OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=0.4, div_factor=10.0)
    peak = [one_cycle.get_last_lr()[0]] + [one_cycle.step() or one_cycle.get_last_lr()[0] for _ in range(4)]
    assert np.allclose(peak[:2], [0.1, 1.0]) and peak[-1] < 1e-4 and o.param_groups[0]["momentum"] == 0.95


if __name__ == "__main__":
    test_unit_more_optimizers_and_schedules()

# %% [markdown]
# ## Composing schedules
#
# Real recipes join schedules. A transformer is usually trained with a **warm-up** — a few
# hundred steps of `LinearLR` rising from a small rate, while Adam's moment estimates are still
# noisy — then a `CosineAnnealingLR` decay: `SequentialLR(opt, [warmup, cosine], milestones=[500])`
# hands over from one to the next at each milestone (the next one starts from its epoch 0).
# `ChainedScheduler([a, b])` instead steps both every epoch, and their factors multiply: that is
# why the schedules that can be chained move the *current* rate by their own change (see
# `_chain_floor`). Four more of PyTorch's schedules: `PolynomialLR` (to zero along
# $(1 - t/T)^p$), `MultiplicativeLR` (a factor per epoch), and `CyclicLR` (Smith 2017), which
# sweeps the rate between `base_lr` and `max_lr` and back, and the momentum the other way.

# %%
#| export optim.lr_scheduler
from bisect import bisect_right


def _per_group(name, optimizer, value):
    """One value per param group: a list or tuple as long as param_groups, or one value for all."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{name} must have one value per param group: got {len(value)}, there are {count}")
        return list(value)
    return [value] * count


def _scheduler_list(owner, schedulers, optimizer):
    """The optimizer that every scheduler of SequentialLR / ChainedScheduler drives (PyTorch's checks)."""
    name = type(owner).__name__
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{name} expects at least one scheduler")
    optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
    for index, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{name} does not support ReduceLROnPlateau (its step needs a metric): index {index}")
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{name}: the scheduler at index {index} has no optimizer")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name} expects all schedulers to drive the same optimizer (index {index} does not)")
    return schedulers, optimizer


class _SchedulerList(LRScheduler):
    """SequentialLR's and ChainedScheduler's state: their own, and each scheduler's under '_schedulers'."""

    def state_dict(self):
        state = {key: value for key, value in vars(self).items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        self.__dict__.update({key: value for key, value in state_dict.items() if key != "_schedulers"})
        for scheduler, state in zip(self._schedulers, state_dict["_schedulers"]):
            scheduler.load_state_dict(state)


class SequentialLR(_SchedulerList):
    """schedulers[i] drives the rate from milestones[i-1] on, each starting from its own epoch 0."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        self._schedulers, self.optimizer = _scheduler_list(self, schedulers, optimizer)
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"SequentialLR expects one milestone fewer than schedulers: got {len(milestones)} "
                             f"milestones for {len(self._schedulers)} schedulers")
        self._milestones, self.last_epoch = list(milestones), last_epoch + 1
        for group in self.optimizer.param_groups:  # undo what the schedulers' constructors did
            group["lr"] = group["initial_lr"]
        self._undo_initial_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo_initial_steps(self, scheduler):
        for inner in getattr(scheduler, "_schedulers", ()):
            self._undo_initial_steps(inner)
        if not hasattr(scheduler, "_schedulers"):
            scheduler.last_epoch -= 1

    def _initial_step(self):
        self._schedulers[bisect_right(self._milestones, 0)]._initial_step()

    def step(self):
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_SchedulerList):
    """Steps every scheduler at each step(), in order: their changes to the rate multiply."""

    def __init__(self, schedulers, optimizer=None):
        self._schedulers, self.optimizer = _scheduler_list(self, schedulers, optimizer)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _initial_step(self):
        for scheduler in self._schedulers:
            scheduler._initial_step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _restart(self):
        for scheduler in self._schedulers:
            scheduler._restart()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class PolynomialLR(LRScheduler):
    """lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power: zero after total_iters."""

    _resume_keeps_rate = True  # PyTorch's constructor step keeps a resumed rate (LRScheduler._initial_step)

    _chain_floor = 0.0

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        factor = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * factor for base in self.base_lrs]


class MultiplicativeLR(LambdaLR):
    """lr *= lr_lambda(epoch) at every step after the first (one function, or one per param group)."""

    def get_lr(self):  # recursive by nature: it multiplies the current rate
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        return [group["lr"] * rule(self.last_epoch) for group, rule in zip(groups, self.lr_lambdas)]


class CyclicLR(LRScheduler):
    """The rate goes from base_lr up to max_lr in step_size_up steps and back in step_size_down, cycle
    after cycle; the amplitude is scaled by mode ('triangular': 1, 'triangular2': halved every cycle,
    'exp_range': gamma ** step) or by scale_fn. The momentum (SGD's momentum, Adam's beta1) goes from
    max_momentum down to base_momentum and back, against the rate (PyTorch semantics)."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', not {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', not {scale_mode!r}")
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        if scale_fn is None:  # the mode decides what the scale reads
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.scale_mode, self.cycle_momentum = scale_mode, cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("CyclicLR: cycle_momentum needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs  # after the first step, as PyTorch (which used the groups' initial_lr)

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def scale_fn(self, x):
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # where in the cycle, 0 to 1
        rise = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)  # 0 to 1 to 0
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        if self.cycle_momentum:
            for group, bottom, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                self._set_momentum(group, top - (top - bottom) * rise * scale)
        return [base + (peak - base) * rise * scale for base, peak in zip(self.base_lrs, self.max_lrs)]

    def state_dict(self):  # a function is not state (PyTorch leaves it out too)
        return dict(super().state_dict(), _scale_fn_custom=None)

    def load_state_dict(self, state_dict):
        scale_fn = self._scale_fn_custom
        super().load_state_dict(state_dict)
        self._scale_fn_custom = scale_fn


# %%
def test_unit_composed_schedules():
    """Checks the provided `SequentialLR`, `ChainedScheduler`, `PolynomialLR`, `MultiplicativeLR` and
    `CyclicLR`: hand values of their rates. This code is provided: if it fails, look at
    `LRScheduler.step()` (it must write every rate into the optimizer's param groups).
    """
    from tinytorch.optim.sgd import SGD

    def rates(sched, steps):
        return [sched.get_last_lr()[0]] + [sched.step() or sched.get_last_lr()[0] for _ in range(steps)]

    o = SGD([Parameter(np.zeros(1))], lr=1.0)
    warmup = LinearLR(o, start_factor=0.25, total_iters=2)
    decay = ExponentialLR(o, gamma=0.5)
    assert np.allclose(rates(SequentialLR(o, [warmup, decay], milestones=[3]), 5), [0.25, 0.625, 1.0, 1.0, 0.5, 0.25])
    o = SGD([Parameter(np.zeros(1))], lr=1.0)
    chained = ChainedScheduler([ConstantLR(o, factor=0.5, total_iters=2), ExponentialLR(o, gamma=0.5)])
    assert np.allclose(rates(chained, 3), [0.5, 0.25, 0.25, 0.125])  # the factors multiply
    o = SGD([Parameter(np.zeros(1))], lr=1.0)
    assert np.allclose(rates(PolynomialLR(o, total_iters=4, power=2.0), 5), [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0])
    o = SGD([Parameter(np.zeros(1))], lr=1.0)
    assert np.allclose(rates(MultiplicativeLR(o, lambda epoch: 0.5), 2), [1.0, 0.5, 0.25])
    o = SGD([Parameter(np.zeros(1))], lr=1.0, momentum=0.9)
    cyclic = CyclicLR(o, base_lr=0.1, max_lr=0.5, step_size_up=2, mode="triangular2")
    assert np.allclose(rates(cyclic, 6), [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3])  # the second cycle is half as high
    assert np.isclose(o.param_groups[0]["momentum"], 0.85)  # and the momentum goes the other way


if __name__ == "__main__":
    test_unit_composed_schedules()

# %% [markdown]
# ## Three more optimizers: signs, averages and curvature
#
# - **Rprop** (Riedmiller & Braun 1993) ignores the gradient's size and keeps only its sign:
#   each weight has its own step size, grown by `etas[1]` while its gradient keeps its sign and
#   cut by `etas[0]` when the sign flips (it overshot a minimum; that step is skipped). For
#   full-batch training only: mini-batch noise flips signs at random.
# - **ASGD** (Polyak & Juditsky 1992) is SGD with a slowly decaying rate that, after `t0`
#   steps, also keeps the running *average* of the weights, `state["ax"]`: on a noisy problem
#   the average is much closer to the minimum than the last iterate.
# - **L-BFGS** (Liu & Nocedal 1989) estimates the curvature from the last `history_size` steps
#   and gradient changes, and steps along (an approximation of) $-H^{-1}g$, Newton's direction,
#   without ever forming the Hessian. It evaluates the loss several times per `step`, so it
#   takes a `closure` that recomputes the loss and its gradients. (PyTorch's
#   `line_search_fn="strong_wolfe"`, a search for each step's length, is not here: the step is
#   `lr`.) For small, deterministic problems it converges in a handful of steps where
#   first-order methods take hundreds.

# %%
#| export optim.adam
from tinytorch.core.autograd import enable_grad


class Rprop(Optimizer):
    """p -= sign(g) * step_size, each weight's step size grown by etas[1] while its gradient keeps its
    sign and cut by etas[0] (that step skipped) when it flips, within step_sizes (PyTorch semantics)."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), **options):
        if lr < 0:
            raise ValueError(f"Rprop: invalid learning rate {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: need 0 < etas[0] < 1 < etas[1], got {tuple(etas)}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes)), **options)

    def step(self):
        for group in self.param_groups:
            (shrink, grow), (smallest, largest) = group["etas"], group["step_sizes"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                state = self.state.setdefault(id(p), {})
                if not state:  # every step size starts at lr (a later change of lr does not reach it)
                    state.update(step=0, prev=np.zeros_like(p.data), step_size=np.full_like(p.data, group["lr"]))
                state["step"] += 1
                agreement = g * state["prev"]
                factor = np.where(agreement > 0, grow, np.where(agreement < 0, shrink, 1.0)).astype(p.data.dtype)
                step_size = state["step_size"]
                step_size *= factor
                np.clip(step_size, smallest, largest, out=step_size)
                g = np.where(agreement < 0, 0, g).astype(p.data.dtype, copy=False)  # a flipped sign: no step, no flip next time
                p.data -= np.sign(g) * step_size
                state["prev"][...] = g


class ASGD(Optimizer):
    """Averaged SGD: p *= 1 - lambd * eta, p -= eta * g with eta = lr / (1 + lambd * lr * t) ** alpha,
    and state['ax'] the running average of p from step t0 on (PyTorch semantics)."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, **options):
        if lr < 0 or weight_decay < 0:
            raise ValueError("ASGD: need lr >= 0 and weight_decay >= 0")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay), **options)

    def step(self):
        for group in self.param_groups:
            lr, lambd = group["lr"], group["lambd"]
            for p, g, state in _decayed_gradients(self, group):
                if not state:  # eta and mu are float32 numbers, as PyTorch keeps them, so that both round alike
                    state.update(step=0, eta=np.float32(lr), mu=np.float32(1.0), ax=np.zeros_like(p.data))
                state["step"] += 1
                eta, mu = float(state["eta"]), float(state["mu"])
                p.data *= 1.0 - lambd * eta
                p.data -= eta * g
                if mu != 1.0:
                    state["ax"] += (p.data - state["ax"]) * mu
                else:
                    state["ax"][...] = p.data
                state["eta"] = np.float32(lr / (1.0 + lambd * lr * state["step"]) ** group["alpha"])
                state["mu"] = np.float32(1.0 / max(1.0, state["step"] - group["t0"]))


class LBFGS(Optimizer):
    """L-BFGS with a fixed step (PyTorch's default, line_search_fn=None): step(closure) runs up to max_iter
    iterations, each moving all parameters, as one flat vector, by lr along -H·g; H is the inverse Hessian
    estimated from the last history_size (step, gradient change) pairs. One param group."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if lr < 0:
            raise ValueError(f"LBFGS: invalid learning rate {lr}")
        if line_search_fn is not None:
            raise NotImplementedError(f"LBFGS(line_search_fn={line_search_fn!r}) is not supported by tinytorch: "
                                      "only the fixed step (line_search_fn=None, the step length lr)")
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_iter * 5 // 4 if max_eval is None
                                      else max_eval, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=None))
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if getattr(self, "param_groups", None):
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _flat_grad(self):
        return np.concatenate([p.grad.data.ravel() if p.grad is not None else np.zeros(p.data.size, p.data.dtype)
                               for p in self._params])

    def _move(self, length, direction):
        start = 0
        for p in self._params:
            p.data += length * direction[start:start + p.data.size].reshape(p.data.shape)
            start += p.data.size

    def _evaluate(self, closure):
        """The loss (a float) and the flat gradient, from one call of the closure."""
        with enable_grad():
            loss = float(closure())
        return loss, self._flat_grad()


def _inverse_hessian_times(gradient, steps, changes, scale):
    """-H·g by the two-loop recursion (Nocedal & Wright, Algorithm 7.4): H is built from the pairs
    (s, y) = (a step, the gradient's change over it), oldest first, on top of H₀ = scale·I."""
    q, alphas = -gradient, []
    for s, y in zip(reversed(steps), reversed(changes)):  # newest pair first
        alphas.append(s.dot(q) / y.dot(s))
        q -= alphas[-1] * y
    r = q * scale
    for s, y, alpha in zip(steps, changes, reversed(alphas)):  # oldest pair first
        r += (alpha - y.dot(r) / y.dot(s)) * s
    return r


def _lbfgs_step(self, closure):
    """Up to max_iter iterations; the closure must zero the gradients, compute the loss, call
    backward() and return the loss. Returns the first loss, as PyTorch."""
    if closure is None or not callable(closure):
        raise TypeError("LBFGS.step needs a closure that recomputes the loss and its gradients")
    group = self.param_groups[0]
    state = self.state.setdefault(id(self._params[0]), {})  # the whole vector's state, with the first parameter
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)
    with enable_grad():
        first_loss = closure()
    loss, grad, evaluations = float(first_loss), self._flat_grad(), 1
    state["func_evals"] += 1
    if np.abs(grad).max() <= group["tolerance_grad"]:
        return first_loss  # already at a minimum
    steps, changes = state.setdefault("steps", []), state.setdefault("changes", [])
    direction, length, scale = state.get("direction"), state.get("length"), state.get("scale", 1.0)
    for iteration in range(1, group["max_iter"] + 1):
        state["n_iter"] += 1
        if state["n_iter"] == 1:  # nothing known about the curvature yet: steepest descent
            direction, scale = -grad, 1.0
        else:
            change = grad - state["previous_grad"]
            step = direction * length
            curvature = change.dot(step)
            if curvature > 1e-10:  # only a pair along which the loss curves upwards makes H positive definite
                if len(steps) == group["history_size"]:
                    steps.pop(0), changes.pop(0)
                steps.append(step)
                changes.append(change)
                scale = curvature / change.dot(change)
            direction = _inverse_hessian_times(grad, steps, changes, scale)
        state["previous_grad"], previous_loss = grad.copy(), loss
        length = group["lr"] * (min(1.0, 1.0 / np.abs(grad).sum()) if state["n_iter"] == 1 else 1.0)
        if grad.dot(direction) > -group["tolerance_change"]:
            break  # not a descent direction (any more)
        self._move(length, direction)
        if iteration == group["max_iter"]:
            break  # the last iteration's loss is left for the next step to evaluate
        loss, grad = self._evaluate(closure)
        evaluations += 1
        state["func_evals"] += 1
        if evaluations >= group["max_eval"] or np.abs(grad).max() <= group["tolerance_grad"]:
            break
        if np.abs(direction * length).max() <= group["tolerance_change"] or abs(loss - previous_loss) < group[
                "tolerance_change"]:
            break  # no progress
    state.update(direction=direction, length=length, scale=scale)
    return first_loss


# given after the class: the base class wraps a step() defined in a class body (the closure once,
# first); L-BFGS calls its closure itself, many times per step
_lbfgs_step.__name__ = "step"
LBFGS.step = _lbfgs_step


# %%
def test_unit_rprop_asgd_lbfgs():
    """Checks the provided `Rprop`, `ASGD` and `LBFGS`: Rprop's first steps by hand, ASGD's average,
    and L-BFGS solving a badly scaled quadratic in one step(closure). This code is provided: if it
    fails, look at the `Optimizer` base class (param groups, `self.state`) or at `Tensor.backward`.
    """
    p = Parameter(np.array([1.0, 1.0, 1.0]))
    opt = Rprop([p], lr=0.1)
    for g in ([1.0, -2.0, 0.0], [3.0, 1.0, 0.0], [1.0, 1.0, 0.0]):  # same sign: x1.2; flipped: x0.5 and no step
        p.grad = Tensor(g)
        opt.step()
    assert np.allclose(p.data, [1.0 - 0.1 - 0.12 - 0.144, 1.0 + 0.1 - 0.0 - 0.05, 1.0])
    q = Parameter(np.array([1.0]))
    opt = ASGD([q], lr=0.1, lambd=0.0, t0=0)
    for _ in range(4):
        q.grad = Tensor([1.0])
        opt.step()  # eta stays 0.1: 0.9, 0.8, 0.7, 0.6; ax averages the iterates from the second on
    assert np.allclose(q.data, [0.6]) and np.allclose(opt.state[id(q)]["ax"], [0.7])
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3)) * np.array([1.0, 10.0, 0.1])
    target = a @ np.array([1.0, -2.0, 3.0])
    w = Parameter(np.zeros(3))
    opt = LBFGS([w], lr=1.0, max_iter=50)

    def closure():
        opt.zero_grad()
        loss = ((Tensor(a) @ w - Tensor(target)) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure)
    assert first.item() > 1.0 and np.allclose(w.data, [1.0, -2.0, 3.0], atol=1e-4), w.data


if __name__ == "__main__":
    test_unit_rprop_asgd_lbfgs()

# %% [markdown]
# ## A good start: `nn.init`
#
# A layer's weights start random, and *how* random decides whether a deep network trains
# at all: too large and activations grow layer after layer until they overflow; too small
# and they — and their gradients — shrink to nothing. Two recipes keep the variance of
# the signal steady from layer to layer (a uniform distribution on $[-a, a]$ has
# variance $a^2/3$):
#
# - **Xavier / Glorot** (Glorot & Bengio, 2010), for tanh/sigmoid or no non-linearity:
#   $\mathrm{Var}(W) = 2/(\text{fan\_in} + \text{fan\_out})$, so $a = \sqrt{6/(\text{fan\_in}+\text{fan\_out})}$;
#   it balances the forward and the backward pass.
# - **Kaiming / He** (He et al., 2015), for ReLU: ReLU zeroes half the signal, so
#   $\mathrm{Var}(W) = 2/\text{fan\_in}$, $a = \sqrt{6/\text{fan\_in}}$. In general
#   $a = \text{gain}\cdot\sqrt{3/\text{fan\_in}}$ with gain $\sqrt2$ for ReLU and
#   $\sqrt{2/(1+s^2)}$ for a leaky ReLU of slope $s$.
#
# `fan_in` is the number of inputs that feed one output: `in_features` for a `Linear`
# weight `(out, in)`, `in_channels·kh·kw` for a convolution filter. The functions below
# are PyTorch's `torch.nn.init`, with the same names and arguments; like PyTorch's, they
# write into the tensor's own storage (the trailing `_` says "in place") and return it.
# The numbers come from NumPy's global generator, like the layers' own initialization.
# `Linear` starts from PyTorch's default, $\pm 1/\sqrt{\text{fan\_in}}$ for weight and
# bias (module 03), which is `kaiming_uniform_(w, a=√5)`; `_default_layer_init` below is
# that default, for the layers of the later modules. To give a deep ReLU network He's
# start: `model.apply(lambda m: init.kaiming_uniform_(m.weight, nonlinearity="relu") if isinstance(m, Linear) else None)`.

# %%
#| export nn.init
import math
import warnings

import numpy as np


def _fill(tensor, values):
    tensor.data[...] = values  # in place: the Parameter keeps its storage and dtype
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a non-linearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, bool) or not isinstance(param, (int, float))):
            raise ValueError(f"negative_slope {param} not a valid number")
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError("fan in and fan out can not be computed for a tensor with fewer than 2 dimensions")
    receptive_field = int(np.prod(tensor.shape[2:]))  # kh·kw for a convolution, 1 for Linear
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, np.random.uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, np.random.normal(mean, std, tensor.shape))


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def _no_elements(tensor):
    """PyTorch's rule for initializing a tensor with no elements: a warning, and nothing done."""
    if tensor.data.size:
        return False
    warnings.warn("Initializing zero-element tensors is a no-op")
    return True


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    if _no_elements(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    if _no_elements(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) values kept inside [a, b]: those outside are drawn again (GPT-2 and ViT's init)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    values = np.random.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = np.random.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix, the QR factor of a Gaussian one (signs fixed so that it is
    uniformly distributed); dimensions after the first are flattened, as in PyTorch."""
    if tensor.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dimensions are supported")
    if tensor.data.size == 0:  # nothing to fill (PyTorch returns it as it is)
        return tensor
    rows, columns = tensor.shape[0], tensor.data.size // tensor.shape[0]
    gaussian = np.random.normal(size=(max(rows, columns), min(rows, columns)))
    q, r = np.linalg.qr(gaussian)
    q *= np.sign(np.diag(r))
    return _fill(tensor, (gain * (q if rows >= columns else q.T)).reshape(tensor.shape))


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a 2-D tensor, zeros elsewhere)."""
    if tensor.ndim != 2:
        raise ValueError("eye_: only 2-D tensors are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def _default_layer_init(weight, bias):
    """PyTorch's default for Linear and convolutions: weight and bias uniform on ±1/√fan_in."""
    kaiming_uniform_(weight, a=math.sqrt(5))  # gain √(2/6) = 1/√3, so the bound is 1/√fan_in
    if bias is not None:
        bound = 1.0 / math.sqrt(_calculate_fan_in_and_fan_out(weight)[0])
        uniform_(bias, -bound, bound)


# %%
def test_unit_init():
    """Checks the provided `nn.init` functions and `_calculate_fan_in_and_fan_out` (fan_in = C·kh·kw
    for a filter), and that `Linear` starts within ±1/√fan_in. The init code is given; if only the
    `Linear` lines fail, look at your `Linear.__init__` in module 03: weight and bias uniform on
    ±1/√in_features.
    """
    from tinytorch.nn.modules import Linear

    np.random.seed(0)
    w = Parameter(np.zeros((400, 300)))
    storage = w.data
    assert kaiming_uniform_(w, nonlinearity="relu") is w and w.data is storage, "in place, returns the tensor"
    assert np.isclose(w.data.var(), 2 / 300, rtol=0.05) and np.abs(w.data).max() <= np.sqrt(6 / 300)
    assert np.isclose(xavier_uniform_(w).data.var(), 2 / 700, rtol=0.05)
    assert np.isclose(xavier_normal_(w, gain=2.0).data.std(), 2 * np.sqrt(2 / 700), rtol=0.05)
    assert np.isclose(kaiming_normal_(w, mode="fan_out").data.std(), np.sqrt(2 / (1 + 0.0)) / np.sqrt(400), rtol=0.05)
    conv = Parameter(np.zeros((8, 3, 5, 5)))
    assert _calculate_fan_in_and_fan_out(conv) == (75, 200), "fan_in = C·kh·kw"
    layer = Linear(300, 400)
    assert np.abs(layer.weight.data).max() <= 1 / np.sqrt(300), "Linear's default: kaiming_uniform_(a=√5)"
    _default_layer_init(layer.weight, layer.bias)
    assert np.abs(layer.weight.data).max() <= 1 / np.sqrt(300) and np.abs(layer.bias.data).max() <= 1 / np.sqrt(300)
    assert np.abs(layer.weight.data).max() > 0.95 / np.sqrt(300)
    assert np.all(zeros_(w).data == 0) and np.all(constant_(w, 3.0).data == 3) and np.all(ones_(w).data == 1)
    assert np.isclose(calculate_gain("leaky_relu", 0.2), np.sqrt(2 / 1.04))


if __name__ == "__main__":
    test_unit_init()

# %% [markdown]
# ## Layers that know whether they are training
#
# `model.train()` and `model.eval()` (module 03) flip a `training` flag through the
# whole model. Two classic layers read it.
#
# **Dropout** (Srivastava et al., 2014) fights overfitting: during training it zeroes
# each activation with probability $p$, at random, anew for every batch. No unit can
# rely on one particular other unit being there, so the network learns redundant,
# robust features — like training a huge ensemble of thinned networks that share their
# weights. The survivors are scaled by $1/(1-p)$ ("inverted dropout"), so the expected
# value of every activation is unchanged; at test time (`eval()`) dropout does nothing
# at all, and the full network is used as is. Its backward lets the gradient through
# exactly where the forward let the value through, with the same scale: the mask
# $m \in \{0, \frac{1}{1-p}\}$ is the local derivative.
#
# `DropoutOp` draws the mask from NumPy's global generator (`np.random.random(shape) >= p`
# keeps an element with probability $1-p$), so `np.random.seed` makes it repeatable.

# %%
#| export nn.dropout
import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Module


class DropoutOp(Function):
    """Zero each element with probability p, scale the rest by 1 / (1 - p)."""

    @staticmethod
    def forward(ctx, x, p=0.5):
        ### BEGIN SOLUTION
        if p == 1.0:
            mask = np.zeros_like(x)
        else:
            mask = (np.random.random(x.shape) >= p).astype(x.dtype) * (1.0 / (1.0 - p))
        ctx.save_for_backward(mask)
        return x * mask
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (mask,) = ctx.saved_tensors
        return grad * mask
        ### END SOLUTION


def _check_probability(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return p


class Dropout(Module):
    """In training, zero elements with probability p and scale the rest by 1/(1-p); identity in eval."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = _check_probability(p)
        self.inplace = inplace  # shown in the repr; the result is always a new tensor

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


def dropout(input, p=0.5, training=True, inplace=False):
    """The functional form: dropout only when ``training`` (PyTorch's default is True)."""
    if not training or _check_probability(p) == 0.0:
        return input
    return DropoutOp.apply(input, p=p)


class _ChannelDropout(Module):
    """Dropout of whole channels (a feature map or a sequence at a time): Dropout1d and Dropout2d."""

    spatial = 1

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = _check_probability(p)
        self.inplace = inplace  # shown in the repr; the result is always a new tensor

    def forward(self, x):
        return _channel_dropout(x, self.p, self.training, self.spatial)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


def _channel_dropout(input, p, training, spatial):
    if not training or _check_probability(p) == 0.0:
        return input
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"dropout{spatial}d expects (N, C, ...) or (C, ...) with {spatial} spatial dims, got {input.shape}")
    channels = input.shape[:input.ndim - spatial]  # (N, C) or (C,): one draw per channel
    keep = np.random.random(channels + (1,) * spatial) >= p
    return input * Tensor._wrap((keep / (1.0 - p) if p < 1.0 else keep * 0.0).astype(input.dtype))


class Dropout1d(_ChannelDropout):
    spatial = 1


class Dropout2d(_ChannelDropout):
    spatial = 2


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, 2)


# %%
def test_unit_dropout():
    """Checks `DropoutOp`: survivors scaled by 1/(1 − p), about 1 − p of them kept, the gradient
    through the very same mask, a new mask at every call, nothing at all in `eval()`, and p = 1 (all
    zeros, no division by zero) and p = 0. Draw the mask once in the forward, already scaled and in
    the input's dtype, save it, and reuse it in the backward: a mask drawn anew there breaks the
    gradient.
    """
    np.random.seed(0)
    layer = Dropout(p=0.25)
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    y = layer(x)
    kept = y.data != 0
    assert np.allclose(y.data[kept], 1 / 0.75), "survivors are scaled by 1/(1-p)"
    assert abs(kept.mean() - 0.75) < 0.02 and abs(y.data.mean() - 1.0) < 0.03, "the mean is unchanged"
    y.sum().backward()
    assert np.array_equal(x.grad.data, y.data), "the gradient flows through the same mask"
    assert not np.array_equal(layer(x).data, y.data), "a new mask every call"
    layer.eval()
    assert layer(x) is x, "eval(): dropout does nothing"
    assert np.all(Dropout(1.0)(x).data == 0) and Dropout(0.0)(x) is x


if __name__ == "__main__":
    test_unit_dropout()

# %% [markdown]
# ### Given: alpha dropout, for self-normalizing networks
#
# Module 03's SELU keeps a deep stack's activations at mean 0 and variance 1; plain dropout
# would break that (a zero is not "typical" for a SELU unit, whose floor is
# −scale·alpha ≈ −1.758). **AlphaDropout** (Klambauer et al., 2017) sets a dropped unit to
# that floor, α' = −1.758, instead of 0, and then corrects the mean and the variance with
# an affine map a·x + b, a = ((1 − p)(1 + p·α'²))^(−1/2), b = −a·α'·p, so that an input of
# mean 0 and variance 1 keeps them. With the kept mask k (0 or 1) that is one multiply and
# one add, out = x·(a·k) + a·|α'|·(k − 1 + p), and the gradient is the multiplier `a·k`,
# as dropout's is its mask. **FeatureAlphaDropout**
# draws one keep per channel (the (N, C) of the input), as `Dropout2d` does.
# In `eval()` both are the identity, and PyTorch's functional forms default to `training=False`.

# %%
#| export nn.dropout
_ALPHA_FLOOR = 1.7580993408473766  # SELU's scale · alpha: a dropped unit is set to -this


def _alpha_dropout(input, p, training, feature):
    if not training or _check_probability(p) == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input * 0.0
    if feature and input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = input.shape[:2] + (1,) * (input.ndim - 2) if feature else input.shape
    keep = (np.random.random(shape) >= p).astype(input.dtype)
    a = 1.0 / np.sqrt((_ALPHA_FLOOR ** 2 * p + 1.0) * (1.0 - p))
    shift = (keep - 1.0) * _ALPHA_FLOOR * a + _ALPHA_FLOOR * a * p  # -a·α' where dropped, then + a·α'·p
    return input * Tensor._wrap((keep * a).astype(input.dtype)) + Tensor._wrap(shift.astype(input.dtype))


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _alpha_dropout(input, p, training, feature=False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _alpha_dropout(input, p, training, feature=True)


class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean 0 and variance 1: dropped units go to SELU's floor."""

    def forward(self, x):
        return alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """AlphaDropout of whole channels: one draw per (example, channel)."""

    def forward(self, x):
        return feature_alpha_dropout(x, self.p, self.training)


# %%
def test_unit_alpha_dropout():
    """Checks the provided alpha dropout: standard normal inputs keep mean 0 and variance 1, the
    dropped units all share one value, FeatureAlphaDropout drops whole channels, eval() is the identity."""
    np.random.seed(0)
    x = Tensor(np.random.normal(size=(400, 250)), requires_grad=True)
    y = AlphaDropout(0.2)(x)
    assert abs(y.data.mean()) < 0.02 and abs(y.data.var() - 1.0) < 0.03
    y.sum().backward()
    assert len(np.unique(np.round(y.data[x.grad.data == 0], 12))) == 1, "dropped units: one value"
    channels = FeatureAlphaDropout(0.5)(Tensor(np.zeros((8, 6, 5)))).data
    assert np.all(channels.min(axis=2) == channels.max(axis=2)), "a channel is dropped or kept whole"
    layer = AlphaDropout(0.5).eval()
    assert layer(x) is x and alpha_dropout(x, 0.5) is x


if __name__ == "__main__":
    test_unit_alpha_dropout()

# %% [markdown]
# **Batch normalization** (Ioffe & Szegedy, 2015) normalizes every feature (channel)
# over the batch: with $\mu$, $\sigma^2$ the mean and the (biased) variance of that
# feature over the $N$ examples of the batch (and, for sequences or images, over every
# position too),
#
# $$y = \gamma\,\frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta .$$
#
# Each layer then sees inputs of a steady scale however the layers before it change,
# which allows larger learning rates and makes deep networks train much faster; the
# learned `weight` $\gamma$ (ones) and `bias` $\beta$ (zeros) let the network undo the
# normalization where it helps.
#
# **Training and evaluation differ.** A prediction for one image must not depend on the
# other images of its batch, so at test time the layer uses *running* averages collected
# during training instead of the batch's own statistics:
#
# $$\text{running\_mean} \leftarrow (1 - m)\,\text{running\_mean} + m\,\mu, \qquad
#   \text{running\_var} \leftarrow (1 - m)\,\text{running\_var} + m\,\tfrac{n}{n-1}\sigma^2$$
#
# with momentum $m = 0.1$ and $n$ the number of values per feature. Note the
# $\frac{n}{n-1}$: the running variance estimates the variance of the *population*
# (unbiased), while the batch is normalized with its own biased variance — PyTorch does
# exactly this. The running statistics are **buffers** (`register_buffer`, module 03):
# saved in `state_dict()`, never trained. With `momentum=None` they are the plain average
# over all batches seen so far (`num_batches_tracked` counts them). As in PyTorch,
# `reset_running_stats()` forgets them (in the same buffers) and `reset_parameters()` also
# sets $\gamma$ back to ones and $\beta$ to zeros.
#
# **The backward pass.** In training, $\mu$ and $\sigma^2$ are functions of $x$ too, so the
# gradient has three paths. With $g = \gamma \odot \partial L/\partial y$ and means over
# the batch (and positions):
#
# $$\frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}\Bigl(g - \mathrm{mean}(g) - \hat x\,\mathrm{mean}(g \odot \hat x)\Bigr)$$
#
# The two means remove the directions the normalization cancels (shifting or scaling a
# whole feature does not change $\hat x$). In evaluation the statistics are constants and
# the gradient is just $g/\sqrt{\text{running\_var}+\epsilon}$. $\partial L/\partial\gamma$
# is the sum of $\partial L/\partial y \odot \hat x$ and $\partial L/\partial\beta$ the sum
# of $\partial L/\partial y$, over everything but the feature axis.
#
# `BatchNormOp` takes the statistics to use as arguments (`batch_stats=True` when they
# are the batch's own); the function `batch_norm` decides which ones and updates the
# running averages — you write both. Module 08's `LayerNorm` is the same computation
# over the other axes: each token's features instead of each feature's batch.

# %%
#| export nn.batchnorm
import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Module, Parameter


def _feature_axes(x):
    """The axes a batch norm averages over: all but the features (axis 1); and their broadcast shape."""
    return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)


class BatchNormOp(Function):
    """(x - mean) / sqrt(var + eps) * weight + bias per feature (axis 1); weight and bias may be None."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps=1e-5, batch_stats=True):
        ### BEGIN SOLUTION
        axes, shape = _feature_axes(x)
        inv_std = 1.0 / np.sqrt(var.reshape(shape) + eps)
        x_hat = (x - mean.reshape(shape)) * inv_std
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.axes, ctx.shape, ctx.batch_stats = axes, shape, batch_stats
        if weight is None:
            return x_hat.astype(x.dtype)
        return x_hat * weight.reshape(shape) + bias.reshape(shape)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        x_hat, inv_std, weight = ctx.saved_tensors
        axes = ctx.axes
        g = grad if weight is None else grad * weight.reshape(ctx.shape)
        if ctx.batch_stats:
            grad_x = inv_std * (g - g.mean(axis=axes, keepdims=True)
                                - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))
        else:
            grad_x = g * inv_std
        if weight is None:
            return grad_x, None, None
        return grad_x, (grad * x_hat).sum(axis=axes), grad.sum(axis=axes)
        ### END SOLUTION


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize with the batch's statistics (training; the running ones are updated) or the running ones."""
    axes, _ = _feature_axes(input)
    ### BEGIN SOLUTION
    if not training:
        mean, var = running_mean.data, running_var.data
    else:
        values = input.data.size // input.shape[1]
        if values <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        mean, var = input.data.mean(axis=axes), input.data.var(axis=axes)
        if running_mean is not None:
            running_mean.data[...] = (1.0 - momentum) * running_mean.data + momentum * mean
            running_var.data[...] = (1.0 - momentum) * running_var.data + momentum * var * (values / (values - 1))
    ### END SOLUTION
    if (weight is None) != (bias is None):  # given: one of the two alone: the other is its identity (constant)
        weight = Tensor(np.ones(input.shape[1], input.dtype)) if weight is None else weight
        bias = Tensor(np.zeros(input.shape[1], input.dtype)) if bias is None else bias
    return BatchNormOp.apply(input, weight, bias, mean=mean, var=var, eps=eps, batch_stats=training)


class _BatchNorm(Module):
    """Shared by BatchNorm1d (module 04) and BatchNorm2d (module 05): parameters, buffers, modes."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features)) if affine else None
        self.bias = Parameter(np.zeros(num_features)) if affine and bias else None  # bias=False: a scale only
        tracked = track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(num_features)) if tracked else None)
        self.register_buffer("running_var", Tensor(np.ones(num_features)) if tracked else None)
        self.register_buffer("num_batches_tracked", Tensor(0, dtype=np.int64) if tracked else None)

    def reset_running_stats(self):
        """Forget the statistics seen so far (mean 0, variance 1, no batch), in the same buffers."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0.0
            self.running_var.data[...] = 1.0
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        """PyTorch's: the running statistics reset, the scale back to ones and the shift to zeros."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1.0
        if self.bias is not None:
            self.bias.data[...] = 0.0

    def _check_input(self, x):
        raise NotImplementedError

    def forward(self, x):
        self._check_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got {x.shape[1]} features: input {x.shape}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if momentum is None:  # a cumulative average over every batch so far
                momentum = 1.0 / int(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        running = not self.training or self.track_running_stats  # PyTorch's rule: which statistics to pass
        return batch_norm(x, self.running_mean if running else None, self.running_var if running else None,
                          self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features (N, C) or sequences (N, C, L)."""

    def _check_input(self, x):
        if x.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.ndim}D input)")


# %%
def test_unit_batch_norm():
    """Checks `BatchNormOp` and `batch_norm` through `BatchNorm1d`: the batch normalized with its
    *biased* variance, the running variance updated with the *unbiased* one (n/(n − 1)) and momentum
    0.1, the running statistics used in eval mode, and the training backward against a finite
    difference. Statistics are per feature (axis 1) over every other axis, as `_feature_axes` says;
    in training mode the backward needs both mean terms of the formula.
    """
    rng = np.random.default_rng(0)
    x0 = rng.normal(3.0, 2.0, size=(16, 4))
    bn = BatchNorm1d(4)
    y = bn(Tensor(x0))
    assert np.allclose(y.data.mean(0), 0.0, atol=1e-5) and np.allclose(y.data.std(0), 1.0, atol=1e-3)
    assert np.allclose(bn.running_mean.data, 0.1 * x0.mean(0), atol=1e-5)
    assert np.allclose(bn.running_var.data, 0.9 + 0.1 * x0.var(0, ddof=1), atol=1e-4), "unbiased"
    assert int(bn.num_batches_tracked.data) == 1
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    bn.eval()
    z = bn(Tensor(x0[:1]))  # one example: eval mode needs no batch
    expected = (x0[:1] - bn.running_mean.data) / np.sqrt(bn.running_var.data + 1e-5)
    assert np.allclose(z.data, expected, atol=1e-5)
    # the backward pass in training mode, against a finite difference (float64)
    x = Tensor(x0, dtype=np.float64, requires_grad=True)
    w, b = (Tensor(rng.normal(size=4), dtype=np.float64, requires_grad=True) for _ in range(2))
    upstream = rng.normal(size=x0.shape)

    def loss(x_array):  # the batch statistics move with x
        out = BatchNormOp.apply(Tensor(x_array, dtype=np.float64), w, b, mean=x_array.mean(0), var=x_array.var(0))
        return (out.data * upstream).sum()

    out = BatchNormOp.apply(x, w, b, mean=x0.mean(0), var=x0.var(0))
    (out * Tensor(upstream, dtype=np.float64)).sum().backward()
    eps, bumped = 1e-6, x0.copy()
    bumped[3, 2] += eps
    assert np.isclose(x.grad.data[3, 2], (loss(bumped) - loss(x0)) / eps, atol=1e-4)
    assert np.allclose(b.grad.data, upstream.sum(0)) and w.grad.shape == (4,)


if __name__ == "__main__":
    test_unit_batch_norm()

# %% [markdown]
# ## Lazy normalization layers, given
#
# As module 03's `LazyLinear`, PyTorch's `LazyBatchNorm1d(eps, momentum, affine,
# track_running_stats)` leaves out `num_features`: it is read from the first input's channel
# dimension (`shape[1]`; an unbatched instance-norm input `(C, ...)` gives `shape[0]`). Before
# that call the layer's weight, bias and running statistics are 0-sized; at the call they are
# resized **in place** (the same Parameter objects, so an optimizer built earlier still holds
# them), filled with their defaults, and the layer becomes the plain class
# (`type(layer) is BatchNorm1d`, PyTorch's `cls_to_become`). `_LazyNormMixin` is the part they
# share; module 05 adds the 2-D/3-D and instance-norm ones on it.

# %%
#| export nn.batchnorm
from tinytorch.nn.modules import _LazyMixin  # noqa: E402  (module 03's: LazyLinear's lazy part)


class _LazyNormMixin(_LazyMixin):
    """The lazy part of LazyBatchNorm*/LazyInstanceNorm*: num_features from the first input (module 03's _LazyMixin)."""

    _inferred = "num_features"

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, **kwargs):
        self.cls_to_become.__init__(self, 0, eps, momentum, affine, track_running_stats, **kwargs)  # sized at the first call

    def _sized(self, input):
        dims = getattr(self.cls_to_become, "_dims", None)  # instance norms: (C, ...) unbatched is allowed
        channel_dim = 0 if dims is not None and input.ndim == dims + 1 else 1
        if input.ndim <= channel_dim:
            raise ValueError(f"{type(self).__name__} expected an input with a channel dimension, got {tuple(input.shape)}")
        self.num_features = input.shape[channel_dim]
        for name in ("weight", "bias", "running_mean", "running_var"):
            tensor = getattr(self, name)
            if tensor is not None:  # the same object, resized in place
                tensor.data = np.zeros(self.num_features, dtype=tensor.dtype)


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """A BatchNorm1d whose num_features is its first input's shape[1]; then it becomes a BatchNorm1d."""

    cls_to_become = BatchNorm1d


# %%
def test_unit_lazy_batch_norm():
    """Checks `LazyBatchNorm1d`: 0-sized before the first call, then num_features from `shape[1]`,
    the same Parameter objects resized with ones/zeros, running statistics updated by that first
    call, and the class turned into `BatchNorm1d`. If it fails, look at `_LazyNormMixin`."""
    layer = LazyBatchNorm1d()
    weight = layer.weight
    assert layer.weight.shape == (0,) and repr(layer).startswith("LazyBatchNorm1d(0, eps=1e-05")
    x0 = np.random.default_rng(1).normal(2.0, 1.0, size=(8, 3))
    y = layer(Tensor(x0))
    assert type(layer) is BatchNorm1d and layer.num_features == 3 and layer.weight is weight
    assert weight.data.tolist() == [1.0, 1.0, 1.0] and layer.bias.data.tolist() == [0.0, 0.0, 0.0]
    assert np.allclose(layer.running_mean.data, 0.1 * x0.mean(0), atol=1e-5)
    assert np.allclose(y.data.mean(0), 0.0, atol=1e-5) and int(layer.num_batches_tracked.data) == 1


if __name__ == "__main__":
    test_unit_lazy_batch_norm()

# %% [markdown]
# ## Gradient clipping
#
# One unlucky batch can produce a gradient a thousand times the usual size, and one
# step along it throws the model far from where it was — a "loss spike". **Clipping
# the gradient norm** caps the damage: treat all the gradients of the model as one long
# vector; if its length $\lVert g\rVert$ exceeds `max_norm`, scale every gradient by
# `max_norm / ‖g‖`. The direction is kept, only the step is shortened. Call it between
# `loss.backward()` and `optimizer.step()`; like PyTorch's, it returns the norm before
# clipping (worth logging: a rising norm warns of trouble) and changes the gradients in
# place. Transformers are almost always trained with it (`max_norm=1.0`).

# %%
#| export nn.utils
import math

import numpy as np

from tinytorch.core.autograd import cat
from tinytorch.core.tensor import Tensor


def _gradients(parameters):
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad.data for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients in place so that their total norm is at most max_norm; returns that norm."""
    grads = _gradients(parameters)
    if not grads:
        return Tensor(0.0)
    ### BEGIN SOLUTION
    norm_type = float(norm_type)
    if norm_type == 0:  # PyTorch's "0-norm" of the norms: how many gradients are not all zero
        total = float(sum(bool(np.count_nonzero(g)) for g in grads))
    elif math.isinf(norm_type):
        total = max(float(np.abs(g).max()) for g in grads)
    else:
        total = sum(float((np.abs(g) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite")
    scale = max_norm / (total + 1e-6)
    if not scale >= 1.0:  # a nan total makes every gradient nan, as in PyTorch (nan < 1 is False)
        for g in grads:
            g *= scale
    ### END SOLUTION
    return Tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    for g in _gradients(parameters):
        np.clip(g, -clip_value, clip_value, out=g)


def parameters_to_vector(parameters):
    """All parameters flattened into one vector, in order (differentiable, as in PyTorch)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of `vec` into the parameters, in order (the inverse of parameters_to_vector)."""
    values, start = vec.data if isinstance(vec, Tensor) else np.asarray(vec), 0
    parameters = list(parameters)
    if values.ndim != 1 or len(values) != sum(p.data.size for p in parameters):
        raise ValueError(f"vector_to_parameters: a vector of {sum(p.data.size for p in parameters)} numbers is needed, "
                         f"got shape {values.shape}")
    for p in parameters:
        p.data = values[start:start + p.data.size].reshape(p.shape).astype(p.dtype)
        start += p.data.size


# %%
def test_unit_clip_grad_norm():
    """Checks `clip_grad_norm_`: the norm of *all* gradients together (3 and 4 give 5), returned
    before clipping; every gradient scaled by the same max_norm / norm when that is too large, none
    touched otherwise; and `norm_type='inf'` (a string) as the largest absolute value. Scale the
    arrays in `grads` in place (they are the gradients themselves), once for the whole model, never
    per parameter.
    """
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    a.grad, b.grad = Tensor([3.0, 0.0]), Tensor([4.0])
    norm = clip_grad_norm_([a, b], max_norm=1.0)
    assert np.isclose(norm.item(), 5.0), "the norm before clipping"
    assert np.allclose(a.grad.data, [0.6, 0.0], atol=1e-6) and np.allclose(b.grad.data, [0.8], atol=1e-6)
    assert np.isclose(clip_grad_norm_([a, b], max_norm=10.0).item(), 1.0, atol=1e-5)
    assert np.allclose(b.grad.data, [0.8], atol=1e-6), "below max_norm: unchanged"
    assert np.isclose(clip_grad_norm_(a, 1.0, norm_type="inf").item(), 0.6, atol=1e-6)


if __name__ == "__main__":
    test_unit_clip_grad_norm()


# %% [markdown]
# ## Datasets and loaders
#
# A **dataset** is anything with a length and an item at every index: `dataset[i]` is the
# i-th example. `Dataset` is the base class to derive from (define `__len__` and
# `__getitem__`), as in PyTorch. A `TensorDataset` zips arrays that belong together —
# images and their labels — so that `dataset[i]` is the tuple of their i-th entries.
# `random_split(dataset, [0.8, 0.2])` cuts a dataset into random, non-overlapping parts
# (a training and a validation set), each a `Subset` that looks at the original by index;
# the lengths may be counts or fractions, and `generator` (a NumPy `Generator` or a seed)
# makes the split reproducible.
#
# A `DataLoader` serves a dataset in mini-batches.
#
# **Why mini-batches?** The gradient over the whole data set is exact but costs a full
# pass per step. The gradient of 32–256 random examples is a noisy but unbiased
# estimate, at a tiny fraction of the cost: you take many more steps per epoch, and the
# noise even helps to escape sharp minima.
#
# **Why shuffle?** If the batches come in the same order every epoch, or sorted by
# label, consecutive steps all pull the same way and the model chases the most recent
# batch. A fresh random order each epoch makes every batch a fair sample. With a
# `seed` (or a NumPy `generator`), the loader has its own random generator: the order
# changes every epoch, but two runs see the same sequence of orders — reproducible
# experiments.
#
# **Collating.** The loader fetches `batch_size` examples and hands the list to
# `collate_fn`, which makes one batch of them. The default, `default_collate`, does what
# PyTorch's does: examples that are tuples (or dicts) give a tuple (or dict) of batches,
# each stacked along a new first axis; numbers and arrays become one `Tensor`; strings
# stay a list. Pass your own `collate_fn` for anything else (padding sequences of
# different lengths, say). Labels keep their integer dtype; floating-point data becomes
# float32, the course's default (PyTorch would keep float64 arrays as float64). A
# `TensorDataset` (or a `Subset` of one) is served faster: the loader indexes whole
# batches at once (`images[batch_indices]`), one vectorized copy rather than one Python
# call per example.

# %%
#| export data.loader
import os
from collections.abc import Mapping
from itertools import accumulate
from pathlib import Path

import numpy as np

import tinytorch
from tinytorch.core.tensor import Tensor


def _as_batch_tensor(array):
    """A Tensor for one batch: integer arrays (labels) keep their dtype, floats become float32."""
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return Tensor(array, dtype=array.dtype)
    return Tensor(array)


class Dataset:
    """Base class of a dataset: define __len__() and __getitem__(index)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__()")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Arrays (or Tensors) of equal length; item i is the tuple of their i-th entries."""

    def __init__(self, *arrays):
        ### BEGIN SOLUTION
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset arrays must have the same length, got {[len(a) for a in self.arrays]}")
        ### END SOLUTION

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(_as_batch_tensor(np.asarray(a[index])) for a in self.arrays)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        picked = self.indices[index]
        return self.dataset[picked if picked.ndim else int(picked)]


class ConcatDataset(Dataset):
    """The items of several datasets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = list(accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
        index %= len(self)
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        return self.datasets[which][index - (self.cumulative_sizes[which - 1] if which else 0)]


def _batchable(dataset):
    """Can ``dataset[array_of_indices]`` give a whole batch at once?"""
    return isinstance(dataset, TensorDataset) or (isinstance(dataset, Subset) and _batchable(dataset.dataset))


def _generator(generator):
    """A NumPy Generator from a Generator, a seed, or None (NumPy's global one)."""
    if generator is None:
        return np.random
    return generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)


def random_split(dataset, lengths, generator=None):
    """Random non-overlapping Subsets of the given lengths (counts, or fractions that sum to 1)."""
    ### BEGIN SOLUTION
    n = len(dataset)
    if all(0 <= length <= 1 for length in lengths) and np.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(np.floor(n * fraction)) for fraction in lengths]
        for i in range(n - sum(counts)):  # the remainder, one each, round robin (as PyTorch)
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _generator(generator).permutation(n)
    return [Subset(dataset, order[end - length:end]) for end, length in zip(accumulate(lengths), lengths)]
    ### END SOLUTION


def default_collate(batch):
    """Stack a list of examples into a batch: tuples/lists/dicts element-wise, numbers and arrays into a Tensor."""
    first = batch[0]
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([example[key] for example in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(example) != len(first) for example in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(column)) for column in zip(*batch)]
        if hasattr(first, "_fields"):  # a namedtuple
            return type(first)(*columns)
        return tuple(columns) if isinstance(first, tuple) else columns
    return _as_batch_tensor(np.stack([np.asarray(x.data if isinstance(x, Tensor) else x) for x in batch]))


class DataLoader:
    """Mini-batches of a dataset, made by collate_fn; reshuffled every epoch if shuffle=True."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 collate_fn=None, generator=None, *, sampler=None, batch_sampler=None, num_workers=0,
                 pin_memory=False, timeout=0, worker_init_fn=None, persistent_workers=False, prefetch_factor=None):
        # PyTorch's loading options are accepted so that its code runs; tinytorch loads every batch in
        # this process (num_workers, pin_memory and the rest change nothing here: there is no GPU to pin for)
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if batch_size is None:
            raise NotImplementedError("DataLoader: batch_size=None (no automatic batching) is not supported; "
                                      "use batch_size=1, or iterate over the dataset itself")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.collate_fn = shuffle, drop_last, collate_fn
        # Own generator when seeded (reproducible); otherwise NumPy's global one, so
        # np.random.seed() controls it as torch.manual_seed controls PyTorch's loader.
        self._rng = _generator(generator if generator is not None else seed)
        # sampler=, batch_sampler= and iterable datasets: see "Samplers" below
        self._custom_order = sampler is not None or batch_sampler is not None or isinstance(dataset, IterableDataset)
        _set_samplers(self, sampler, batch_sampler)

    def __len__(self):
        if self._custom_order:
            return _custom_len(self)
        ### BEGIN SOLUTION
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        ### END SOLUTION

    def __iter__(self):
        if self._custom_order:
            yield from _custom_batches(self)
            return
        ### BEGIN SOLUTION
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self._fetch(idx)
        ### END SOLUTION

    def _fetch(self, idx):
        if self.collate_fn is None and _batchable(self.dataset):
            return self.dataset[np.asarray(idx, dtype=np.int64)]  # one vectorized copy per array
        items = [self.dataset[int(i) if isinstance(i, np.integer) else i] for i in idx]  # any dataset with __getitem__
        return (self.collate_fn or default_collate)(items)


# %% [markdown]
# ## Samplers, streams and stacked datasets
#
# `shuffle=True` covers most training, but sometimes *which* examples come, and how often,
# is the point. PyTorch splits the loader's job in two, and tinytorch follows it: a
# **sampler** yields dataset indices one at a time, a **batch sampler** groups them into
# lists, and the loader fetches and collates each list. Every loader has both
# (`loader.sampler`, `loader.batch_sampler`); the defaults give exactly the orders you
# wrote above, and `sampler=` or `batch_sampler=` replaces them:
#
# - `SequentialSampler(ds)`: 0, 1, 2, …; `RandomSampler(ds)`: a fresh permutation every
#   epoch (`replacement=True` draws independently; `num_samples` changes how many);
# - `SubsetRandomSampler(indices)`: a shuffle of just those indices (a validation fold
#   without building a `Subset`);
# - `WeightedRandomSampler(weights, num_samples)`: index i with probability proportional
#   to `weights[i]` — give a rare class more weight and the batches are balanced;
# - `BatchSampler(sampler, batch_size, drop_last)`: the lists of indices. Pass your own
#   as `batch_sampler=` (batches of sequences of similar length, say); it then decides
#   the batch size, so `batch_size`, `shuffle`, `sampler` and `drop_last` are refused
#   with it, as in PyTorch — and a `sampler` with `shuffle=True` is refused too.
#
# The randomness comes from a NumPy `generator` (or an int seed) when one is given,
# otherwise from NumPy's global generator, which `tinytorch.manual_seed` seeds.
#
# An **`IterableDataset`** is a stream rather than a table: it defines `__iter__` instead
# of `__getitem__` (lines read from a file too big to index, examples generated on the
# fly). The loader batches it in the order it comes; shuffling or sampling a stream is
# meaningless, so those options raise a `ValueError`. `StackDataset(images, labels)` (or
# `StackDataset(image=..., label=...)`) zips datasets of one length: item i is the tuple
# (or dict) of their items i. `get_worker_info()` is what PyTorch code calls inside a
# worker process; tinytorch loads in this process, so it returns `None`, as PyTorch does
# outside workers.

# %%
#| export data.loader
from itertools import islice


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


def _batch_count(n, batch_size, drop_last):
    return n // batch_size if drop_last else -(-n // batch_size)


class Sampler:
    """Base class of samplers: define __iter__() (indices, or lists of them), and __len__() if known."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__()")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, always in that order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order of the indices every epoch (whole permutations), or independent draws with replacement."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator, self._rng = generator, _generator(generator)
        _check_positive("num_samples", self.num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, wanted = len(self.data_source), self.num_samples
        if self.replacement:
            drawn = self._rng.choice(n, size=wanted)
        else:  # as many permutations as it takes, the last one cut short
            drawn = np.concatenate([self._rng.permutation(n) for _ in range(-(-wanted // n))])[:wanted]
        return iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order every epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator, self._rng = indices, generator, _generator(generator)

    def __iter__(self):
        return (self.indices[i] for i in self._rng.permutation(len(self.indices)).tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices, index i drawn with probability proportional to weights[i]."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _check_positive("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.array(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative, and not all zero")
        if not replacement and num_samples > len(w):
            raise RuntimeError(f"cannot sample {num_samples} > {len(w)} indices without replacement")
        self.weights = Tensor(w, dtype=np.float64)
        self.num_samples, self.replacement, self.generator, self._rng = num_samples, replacement, generator, \
            _generator(generator)

    def __iter__(self):
        w = self.weights.data
        if self.replacement:
            drawn = self._rng.choice(len(w), size=self.num_samples, p=w / w.sum())
        else:  # a race: index i finishes at an exponential time of rate w[i]; the first num_samples to finish win
            with np.errstate(divide="ignore"):
                finish = self._rng.exponential(size=len(w)) / w
            drawn = np.argsort(finish, kind="stable")[:self.num_samples]
        return iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size consecutive indices of `sampler` (any iterable); the last may be short unless drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_positive("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        indices = iter(self.sampler)
        while batch := list(islice(indices, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self):
        return _batch_count(len(self.sampler), self.batch_size, self.drop_last)


class IterableDataset(Dataset):
    """A stream of examples: define __iter__(); a DataLoader batches them in the order they come."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__()")

    def __len__(self):  # a stream has no length unless a subclass knows it
        raise TypeError(f"object of type {type(self).__name__!r} has no len()")


class StackDataset(Dataset):
    """Datasets of one length side by side: item i is the tuple (positional) or dict (keywords) of their items i."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset takes datasets either positionally (tuple items) or by keyword "
                             "(dict items), not both")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        self.datasets = args or kwargs
        lengths = {len(d) for d in (args or kwargs.values())}
        if len(lengths) != 1:
            raise ValueError("Size mismatch between datasets")
        self._length = lengths.pop()

    def __len__(self):
        return self._length

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {key: dataset[index] for key, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)


def get_worker_info():
    """Information about the current loading worker: None, since tinytorch loads in the main process."""
    return None


def _set_samplers(loader, sampler, batch_sampler):
    """The loader's sampler and batch_sampler, with PyTorch's rules for which options go together."""
    if isinstance(loader.dataset, IterableDataset):
        given = {"shuffle": loader.shuffle or None, "sampler": sampler, "batch_sampler": batch_sampler}
        for name, value in given.items():
            if value is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                 f"but got {name}={value}")
        loader.sampler = loader.batch_sampler = None  # the stream decides the order
        return
    if sampler is not None and loader.shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None:
        if loader.batch_size != 1 or loader.shuffle or sampler is not None or loader.drop_last:
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                             "and drop_last")
        loader.batch_size, loader.drop_last = None, False  # the batch sampler decides
    if sampler is None:  # the orders the loader's own __iter__ gives (one permutation from loader._rng)
        shared = None if loader._rng is np.random else loader._rng
        sampler = RandomSampler(loader.dataset, generator=shared) if loader.shuffle else \
            SequentialSampler(loader.dataset)
    loader.sampler = sampler
    if batch_sampler is None:
        batch_sampler = BatchSampler(sampler, loader.batch_size, bool(loader.drop_last))
    loader.batch_sampler = batch_sampler


def _custom_len(loader):
    if isinstance(loader.dataset, IterableDataset):  # a TypeError where the stream has no length, as in PyTorch
        return _batch_count(len(loader.dataset), loader.batch_size, loader.drop_last)
    return len(loader.batch_sampler)


def _custom_batches(loader):
    if not isinstance(loader.dataset, IterableDataset):
        for indices in loader.batch_sampler:
            yield loader._fetch(indices)
        return
    examples, collate = iter(loader.dataset), loader.collate_fn or default_collate
    while batch := list(islice(examples, loader.batch_size)):
        if loader.drop_last and len(batch) < loader.batch_size:
            return
        yield collate(batch)


# %%
def test_unit_samplers():
    """Checks the provided samplers, streams and stacked datasets: a loader with `sampler=` fetches
    exactly the indices it yields, `batch_sampler=` exactly its lists; the default samplers give the
    orders of your own `__iter__`; random samplers give permutations (or weighted draws) that a seed
    reproduces; and PyTorch's refusals of options that contradict each other.
    """
    ds = TensorDataset(np.arange(10.0), np.arange(10))
    assert list(SequentialSampler(ds)) == list(range(10)) and len(SequentialSampler(ds)) == 10
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, drop_last=False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2

    loader = DataLoader(ds, batch_size=3, sampler=[9, 0, 5, 5])
    assert [b[1].data.tolist() for b in loader] == [[9, 0, 5], [5]] and len(loader) == 2
    loader = DataLoader(ds, batch_sampler=[[3, 1], [2]])
    assert [b[1].data.tolist() for b in loader] == [[3, 1], [2]] and loader.batch_size is None
    shuffled = DataLoader(ds, batch_size=10, shuffle=True, seed=3)
    assert isinstance(shuffled.sampler, RandomSampler) and isinstance(shuffled.batch_sampler, BatchSampler)
    assert next(iter(shuffled))[1].data.tolist() == list(RandomSampler(ds, generator=3)), "the same orders"

    assert sorted(RandomSampler(ds)) == list(range(10))
    longer = list(RandomSampler(ds, num_samples=15, generator=0))
    assert len(longer) == 15 and sorted(longer[:10]) == list(range(10)), "a whole permutation, then 5 more"
    assert set(RandomSampler(range(3), replacement=True, num_samples=50, generator=0)) == {0, 1, 2}
    assert sorted(SubsetRandomSampler([4, 7, 8], generator=0)) == [4, 7, 8]
    draws = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 2000, generator=0))
    assert set(draws) == {1, 3} and 0.7 < draws.count(3) / 2000 < 0.8, "probabilities 1/4 and 3/4"
    assert sorted(WeightedRandomSampler([1, 5, 1], 3, replacement=False, generator=0)) == [0, 1, 2]

    class Count(IterableDataset):
        def __iter__(self):
            return iter(range(5))

    assert [b.data.tolist() for b in DataLoader(Count(), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.data.tolist() for b in DataLoader(Count(), batch_size=2, drop_last=True)] == [[0, 1], [2, 3]]
    pairs = StackDataset(x=np.arange(3.0), word=["a", "b", "c"])
    assert len(pairs) == 3 and pairs[1] == {"x": 1.0, "word": "b"}
    batch = next(iter(DataLoader(pairs, batch_size=3)))
    assert batch["x"].data.tolist() == [0.0, 1.0, 2.0] and batch["word"] == ["a", "b", "c"]
    assert StackDataset(np.arange(2), np.arange(2) * 10)[1] == (1, 10) and get_worker_info() is None

    for refused in (lambda: DataLoader(ds, sampler=[0], shuffle=True),
                    lambda: DataLoader(ds, batch_size=2, batch_sampler=[[0]]),
                    lambda: DataLoader(Count(), shuffle=True),
                    lambda: BatchSampler(range(3), 0, False),
                    lambda: StackDataset(np.arange(2), np.arange(3))):
        try:
            refused()
            raise AssertionError("contradictory or bad options must be refused")
        except ValueError:
            pass


if __name__ == "__main__":
    test_unit_samplers()


# %% [markdown]
# ## TinyDigits
#
# The 8×8 handwritten digits from the UCI *optdigits* data set (as bundled with
# scikit-learn, CC BY 4.0), scaled to [0, 1] and split once into 1,438 training and
# 359 held-out test images (a stratified 20 % of every digit). The files ship with the
# course in `datasets/tinydigits/` as plain `.npz` arrays — no pickle, so loading
# a data file can never run code. `load_tinydigits()` finds them from any working
# directory (next to the `tinytorch` package), or from the folder named by the
# `TINYTORCH_DATA` environment variable.

# %%
#| export data.loader
def tinydigits_dir():
    """Where load_tinydigits() looks: $TINYTORCH_DATA, else <project>/datasets/tinydigits."""
    override = os.environ.get("TINYTORCH_DATA")
    if override:
        return Path(override)
    return Path(tinytorch.__file__).resolve().parent.parent / "datasets" / "tinydigits"


def load_tinydigits():
    """((X_train, y_train), (X_test, y_test)): X (N, 8, 8) float32 in [0, 1], y (N,) int64."""
    folder = tinydigits_dir()
    splits = []
    for name in ("train", "test"):
        path = folder / f"{name}.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"TinyDigits file not found: {path}. Rebuild it with "
                "`python datasets/tinydigits/build_tinydigits.py` (needs scikit-learn), "
                "or point TINYTORCH_DATA at a folder holding train.npz and test.npz."
            )
        with np.load(path, allow_pickle=False) as data:
            splits.append((data["images"].astype(np.float32), data["labels"].astype(np.int64)))
    return tuple(splits)


# %%
from tinytorch.nn.modules import CrossEntropyLoss


def test_unit_dataloader():
    """Checks `TensorDataset` and `DataLoader`: item i is the tuple of the arrays' i-th entries,
    different lengths are refused, `len(loader)` rounds up (down with `drop_last`), batches come in
    order without `shuffle`, and a seeded shuffle is a new permutation every epoch but the same
    sequence for the same seed. Draw one permutation per `__iter__` from the loader's own
    `self._rng` and cut it into consecutive slices, so images stay with their labels.
    """
    x = np.arange(10 * 3, dtype=np.float64).reshape(10, 3)
    y = np.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    assert xi.data.tolist() == [9.0, 10.0, 11.0] and yi.item() == 3

    loader = DataLoader(ds, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    xb, yb = batches[0]
    assert isinstance(xb, Tensor) and xb.dtype == np.float32
    assert np.issubdtype(yb.dtype, np.integer), "labels keep an integer dtype"
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]

    shuffled = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    first, second = next(iter(shuffled))[1].data, next(iter(shuffled))[1].data
    assert sorted(first.tolist()) == list(range(10)), "a shuffle is a permutation"
    assert first.tolist() != second.tolist(), "a new order every epoch"
    again = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    assert next(iter(again))[1].data.tolist() == first.tolist(), "same seed, same orders"
    pairs = next(iter(shuffled))
    assert np.allclose(pairs[0].data[:, 0] / 3, pairs[1].data), "images stay with their labels"

    try:
        TensorDataset(np.zeros(3), np.zeros(4))
        raise AssertionError("arrays of different lengths must be refused")
    except ValueError:
        pass


if __name__ == "__main__":
    test_unit_dataloader()


def test_unit_random_split_and_collate():
    """Checks `random_split` (counts or fractions, the remainder of fractions handed out one by one
    from the first part, parts that never overlap, the same split for the same seed as an int or a
    Generator) and the provided collation. Cut every part from one permutation drawn with
    `_generator(generator)`, and raise a `ValueError` when the lengths do not add up.
    """
    ds = TensorDataset(np.arange(10.0)[:, None], np.arange(10))
    train, val = random_split(ds, [0.7, 0.3], generator=0)
    assert (len(train), len(val)) == (7, 3)
    seen = sorted(int(val[i][1].item()) for i in range(3)) + sorted(int(train[i][1].item()) for i in range(7))
    assert sorted(seen) == list(range(10)), "the parts do not overlap and cover everything"
    again, _ = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert [int(again[i][1].item()) for i in range(7)] == [int(train[i][1].item()) for i in range(7)]
    assert [len(part) for part in random_split(ds, [0.34, 0.33, 0.33])] == [4, 3, 3], "remainder round robin"
    try:
        random_split(ds, [5, 4])
        raise AssertionError("lengths must add up")
    except ValueError:
        pass
    xb, yb = next(iter(DataLoader(val, batch_size=3)))  # a Subset of a TensorDataset: fast path
    assert xb.shape == (3, 1) and np.array_equal(xb.data[:, 0], yb.data)

    class Words(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"ids": np.array([i, i + 1]), "word": "abc"[i], "weight": 0.5 * i}

    batch = next(iter(DataLoader(Words(), batch_size=3)))
    assert batch["ids"].shape == (3, 2) and batch["ids"].dtype == np.int64
    assert batch["word"] == ["a", "b", "c"] and np.allclose(batch["weight"].data, [0.0, 0.5, 1.0])
    sizes = next(iter(DataLoader(Words(), batch_size=2, collate_fn=len)))
    assert sizes == 2, "collate_fn receives the list of examples"


if __name__ == "__main__":
    test_unit_random_split_and_collate()


def test_unit_load_tinydigits():
    """Checks the provided `load_tinydigits()`: `(N, 8, 8)` float32 images in [0, 1], int64 labels,
    all ten digits in the test split. The code is given: if it fails, the data files are missing or
    unreadable, and the error names the path (set `TINYTORCH_DATA`, or rebuild them with
    `datasets/tinydigits/build_tinydigits.py`).
    """
    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    assert x_train.shape[1:] == (8, 8) and x_train.dtype == np.float32
    assert y_train.dtype == np.int64 and len(x_train) == len(y_train)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    assert len(x_test) > 0.15 * (len(x_train) + len(x_test))


if __name__ == "__main__":
    test_unit_load_tinydigits()

# %% [markdown]
# ## Padding sequences
#
# Sentences, audio clips and time series come in different lengths, but a batch is one
# rectangular tensor. `pad_sequence` makes it: sequences of shapes `(L_i, *)` become one
# `(max L, batch, *)` tensor (`(batch, max L, *)` with `batch_first=True`), the shorter
# ones filled with `padding_value` after their end (or before their start, with
# `padding_side="left"`, what a decoder that generates from the last position wants).
# It is the usual `collate_fn` for such data, and it is differentiable: the gradient of
# every real position goes back to its sequence, the padding gets none. It is built from
# two operations you already have: one `cat` of all the sequences plus a row of padding,
# then one fancy index that picks, for every (sequence, step), its row or the padding row.
# `unpad_sequence` cuts a padded batch back into its pieces. As in PyTorch they live in
# `tinytorch.nn.utils.rnn`.
#
# PyTorch can also *pack* a padded batch (`pack_padded_sequence`) so that its recurrent
# layers skip the padding. The course's `nn.RNN`, `nn.LSTM` and `nn.GRU` take plain
# tensors only, so packing raises `NotImplementedError`: run them on the padded batch
# and read each sequence's output at its own last step (`output[length - 1, i]`).

# %%
#| export nn.utils
import importlib.machinery
import sys
import types


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (max L, batch, *) — (batch, max L, *) if batch_first — padded."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = [sequences[i] for i in range(sequences.shape[0])]
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    for k, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequence {k} is a {type(s).__name__}, not a Tensor")
        if s.ndim == 0 or s.shape[1:] != sequences[0].shape[1:]:
            raise RuntimeError(f"pad_sequence: every sequence needs the shape (length, *{sequences[0].shape[1:]}) "
                               f"of the first; sequence {k} has shape {s.shape}")
    dtype, trailing = sequences[0].dtype, sequences[0].shape[1:]
    lengths = np.array([s.shape[0] for s in sequences])
    longest, total = int(lengths.max()), int(lengths.sum())
    filler = Tensor(np.full((1, *trailing), padding_value, dtype=dtype), dtype=dtype)
    rows = cat([s.to(dtype) for s in sequences] + [filler])  # every real row, then the padding row (at `total`)
    step = np.arange(longest) - ((longest - lengths)[:, None] if padding_side == "left" else 0)
    starts = np.cumsum(lengths) - lengths
    index = np.where((step >= 0) & (step < lengths[:, None]), starts[:, None] + step, total)  # (batch, max L)
    padded = rows[index]
    return padded if batch_first else padded.transpose(0, 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The inverse of pad_sequence (right padding): the list of sequences, each cut to its length."""
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lengths = lengths.data if isinstance(lengths, Tensor) else lengths
    return [batch[i, :int(length)] for i, length in enumerate(lengths)]


def _no_packing(*args, **kwargs):
    raise NotImplementedError("packed sequences are not supported: tinytorch's RNN, LSTM and GRU take padded "
                              "tensors only. Use pad_sequence, and read each sequence's output at its last step.")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Not supported (tinytorch's recurrent layers take padded tensors): raises NotImplementedError."""
    _no_packing()


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Not supported (tinytorch's recurrent layers take padded tensors): raises NotImplementedError."""
    _no_packing()


def pack_sequence(sequences, enforce_sorted=True):
    """Not supported (tinytorch's recurrent layers take padded tensors): raises NotImplementedError."""
    _no_packing()


# PyTorch keeps these in the submodule torch.nn.utils.rnn. Here they form the module `rnn` of this file,
# registered in sys.modules (as os registers os.path) so that `from tinytorch.nn.utils.rnn import ...` works.
rnn = types.ModuleType(f"{__name__}.rnn", "Utilities for batches of sequences of different lengths.")
rnn.__spec__ = importlib.machinery.ModuleSpec(rnn.__name__, None)  # what importlib.util.find_spec reports
for _function in (pad_sequence, unpad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence):
    setattr(rnn, _function.__name__, _function)
rnn.__all__ = ["pad_sequence", "unpad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence"]
sys.modules[rnn.__name__] = rnn


# %%
def test_unit_pad_sequence():
    """Checks the provided `pad_sequence`: shorter sequences filled with `padding_value` after
    their end (before their start with `padding_side="left"`), time first unless `batch_first`,
    trailing dimensions kept, gradients back to the real positions only; `unpad_sequence` undoes it;
    packing is refused; and the functions are reachable as `rnn.pad_sequence`.
    """
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([4.0], requires_grad=True)
    padded = pad_sequence([a, b], batch_first=True, padding_value=-1.0)
    assert padded.data.tolist() == [[1.0, 2.0, 3.0], [4.0, -1.0, -1.0]]
    assert pad_sequence([a, b]).data.tolist() == [[1.0, 4.0], [2.0, 0.0], [3.0, 0.0]], "time first"
    assert pad_sequence([a, b], True, 0.0, "left").data.tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]]
    (padded * Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert a.grad.data.tolist() == [1.0, 2.0, 3.0] and b.grad.data.tolist() == [4.0], "padding gets no gradient"
    pairs = pad_sequence([Tensor(np.ones((2, 3))), Tensor(np.ones((1, 3)))], batch_first=True)
    assert pairs.shape == (2, 2, 3) and pairs.data[1, 1].tolist() == [0.0, 0.0, 0.0]
    pieces = unpad_sequence(pad_sequence([a, b]), [3, 1])
    assert [p.data.tolist() for p in pieces] == [[1.0, 2.0, 3.0], [4.0]]
    assert rnn.pad_sequence is pad_sequence and sys.modules[rnn.__name__] is rnn
    try:
        rnn.pack_padded_sequence(padded, [3, 1], batch_first=True)
        raise AssertionError("packing must be refused")
    except NotImplementedError:
        pass


if __name__ == "__main__":
    test_unit_pad_sequence()

# %% [markdown]
# ## Accuracy
#
# The loss is what we optimize; accuracy is what we care about. For class scores
# `(N, C)` — logits or probabilities, it makes no difference — the prediction is the
# highest-scoring class. For a single probability per example (`(N,)` or `(N, 1)`, the
# output of a `Sigmoid`), the prediction is "class 1" when it exceeds 0.5.

# %%
#| export
def accuracy(logits_or_probs, labels):
    """Fraction of correct predictions: argmax of (N, C) scores, or probability > 0.5 for (N,) / (N, 1)."""
    ### BEGIN SOLUTION
    scores = logits_or_probs.data if isinstance(logits_or_probs, Tensor) else np.asarray(logits_or_probs)
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if scores.ndim >= 2 and scores.shape[-1] > 1:
        predicted = scores.argmax(axis=-1)
    else:
        predicted = (scores > 0.5).astype(np.int64)
    labels = labels.reshape(predicted.shape)
    return float(np.mean(predicted == labels))
    ### END SOLUTION


# %%
def test_unit_accuracy():
    """Checks `accuracy(scores, labels)`: the argmax class for `(N, C)` scores, probability > 0.5
    for `(N,)` or `(N, 1)`, Tensors or arrays, a Python float out. The classic bug: `(N,)`
    predictions compared with `(N, 1)` labels broadcast to an `(N, N)` grid and give a nonsense
    fraction, so bring the labels to the predictions' shape first.
    """
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    assert accuracy(Tensor(logits), np.array([0, 1, 2, 1])) == 0.75
    assert accuracy(Tensor([[0.9], [0.2], [0.6]]), np.array([[1.0], [0.0], [0.0]])) == 2 / 3
    assert accuracy(np.array([0.1, 0.7]), Tensor([0, 1], dtype=np.int64)) == 1.0


if __name__ == "__main__":
    test_unit_accuracy()

# %% [markdown]
# ## The training loop
#
# Every training loop in every library is the same five lines per batch:
#
# ```python
# optimizer.zero_grad()          # 1. forget last step's gradients
# output = model(x)              # 2. forward
# loss = loss_fn(output, y)      # 3. how wrong?
# loss.backward()                # 4. who is to blame?
# optimizer.step()               # 5. fix it a little
# ```
#
# `Trainer` wraps them with the bookkeeping you always end up writing: average loss
# and accuracy per epoch, an optional validation pass, a history you can plot, a
# callback (the milestones use it to draw their live progress), and a progress bar.
#
# `evaluate()` switches the model to `eval()` mode and runs under `no_grad()`: no graph
# is built, so evaluation is faster and uses less memory, and layers such as dropout
# behave as they should at test time.
#
# The progress bar uses the `rich` library when it is installed; `tinytorch` itself
# never requires it.

# %%
#| export
def _progress_bar(total):
    """A started rich Progress and its task id, or (None, None) when rich is not installed."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:
        return None, None
    bar = Progress(
        TextColumn("[bold]epoch"), MofNCompleteColumn(), BarColumn(),
        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), transient=False,
    )
    bar.start()
    return bar, bar.add_task("train", total=total, stats="")


class Trainer:
    """Trains ``model`` with ``loss_fn`` and ``optimizer``; ``metric`` (default accuracy, None: off)."""

    def __init__(self, model, loss_fn, optimizer, metric=accuracy):
        self.model, self.loss_fn, self.optimizer, self.metric = model, loss_fn, optimizer, metric

    def train_epoch(self, loader):
        """One pass over ``loader``; returns {'loss': mean loss, 'accuracy': ...}."""
        ### BEGIN SOLUTION
        self.model.train()
        total_loss, total_metric, count = 0.0, 0.0, 0
        for x, y in loader:
            self.optimizer.zero_grad()
            output = self.model(x)
            loss = self.loss_fn(output, y)
            loss.backward()
            self.optimizer.step()
            n = len(x)
            total_loss += loss.item() * n
            if self.metric is not None:
                total_metric += self.metric(output, y) * n
            count += n
        ### END SOLUTION
        return self._summary(total_loss, total_metric, count)

    def evaluate(self, loader):
        """Mean loss (and metric) over ``loader`` in eval mode, without building a graph."""
        was_training = self.model.training
        self.model.eval()
        total_loss, total_metric, count = 0.0, 0.0, 0
        with no_grad():
            for x, y in loader:
                output = self.model(x)
                n = len(x)
                total_loss += self.loss_fn(output, y).item() * n
                if self.metric is not None:
                    total_metric += self.metric(output, y) * n
                count += n
        self.model.train(was_training)
        return self._summary(total_loss, total_metric, count)

    def _summary(self, total_loss, total_metric, count):
        if count == 0:
            raise ValueError("the data loader yielded no batches")
        summary = {"loss": total_loss / count}
        if self.metric is not None:
            summary["accuracy"] = total_metric / count
        return summary

    def fit(self, train_loader, epochs, val_loader=None, callback=None, progress=False):
        """Train for ``epochs``; returns the history {'loss': [...], 'accuracy': [...], 'val_accuracy': [...]}.

        ``callback(epoch, stats)`` runs after every epoch (epochs count from 1), with
        ``stats`` the epoch's numbers ('loss', 'accuracy', 'val_loss', 'val_accuracy').
        """
        history = {}
        bar, task = _progress_bar(epochs) if progress else (None, None)
        try:
            for epoch in range(1, epochs + 1):
                stats = self.train_epoch(train_loader)
                if val_loader is not None:
                    stats.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                for key, value in stats.items():
                    history.setdefault(key, []).append(value)
                if callback is not None:
                    callback(epoch, dict(stats))
                if bar is not None:
                    bar.update(task, advance=1, stats="  ".join(f"{k} {v:.4f}" for k, v in stats.items()))
        finally:
            if bar is not None:
                bar.stop()
        return history


# %%
from tinytorch.nn.modules import ReLU, Sequential


def test_unit_trainer():
    """Checks `Trainer.train_epoch` through `fit`: the five lines per batch, the model in training
    mode, and loss and accuracy averaged per *example* (weight each batch by its size: the last one
    is smaller), on a task that needs a hidden layer. If the loss does not fall, check the order
    (`zero_grad`, forward, loss, `backward`, `step`), and keep the totals as Python floats
    (`.item()`), so no graph outlives its batch.
    """
    np.random.seed(0)
    x = np.random.randn(200, 2).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # quadrant parity: needs a hidden layer
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
    model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05))
    seen = []
    history = trainer.fit(loader, epochs=30, val_loader=DataLoader(TensorDataset(x, y), batch_size=100),
                          callback=lambda epoch, stats: seen.append(epoch))
    assert seen == list(range(1, 31))
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 30
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9, history["val_accuracy"][-1]
    assert model.training, "fit leaves the model in training mode"


if __name__ == "__main__":
    test_unit_trainer()

# %% [markdown]
# ## Checkpoints
#
# Training takes minutes to days; you want to keep the result. `save_state_dict`
# writes `model.state_dict()` — parameter names to arrays — into one `.npz` file, and
# `load_state_dict` reads it back into a model of the same architecture. We never use
# pickle: unpickling a file can run arbitrary code, loading an `.npz` with
# `allow_pickle=False` cannot. (Given below: `tinytorch.save` and `tinytorch.load`, PyTorch's
# names, for the rest of what PyTorch code saves — an optimizer's state_dict with its nested
# dicts and numbers, a dict of several state_dicts — on the same principle.)

# %%
#| export
import json
import os


def save_state_dict(module, path):
    """Write module.state_dict() to ``path`` as .npz (NumPy adds the .npz suffix if missing)."""
    ### BEGIN SOLUTION
    np.savez(path, **module.state_dict())
    ### END SOLUTION


def load_state_dict(module, path):
    """Load a .npz written by save_state_dict into ``module`` (names and shapes must match)."""
    ### BEGIN SOLUTION
    with np.load(path, allow_pickle=False) as data:
        module.load_state_dict({name: data[name] for name in data.files})
    ### END SOLUTION
    return module


# Given: torch.save / torch.load for what PyTorch code saves — a state_dict, an optimizer's
# state_dict (nested dicts with int keys, tuples, numbers), a tensor — still without pickle:
# the arrays go into the .npz as they are, and the shape of the nesting into one JSON string.
_STRUCTURE = "__tinytorch_structure__"


def _pack(value, arrays):
    """A JSON-ready description of value; its arrays are moved into `arrays` under new names."""
    if isinstance(value, (Tensor, np.ndarray)):
        name = f"array{len(arrays)}"
        arrays[name] = value.data if isinstance(value, Tensor) else value
        return {"tensor" if isinstance(value, Tensor) else "array": name}
    if isinstance(value, np.generic):  # a NumPy number keeps its dtype (NAdam's float32 mu_product)
        return {"number": value.item(), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {"dict": [[_pack(k, arrays), _pack(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [_pack(v, arrays) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(f"save: cannot store a {type(value).__name__}: tinytorch saves tensors, arrays, numbers, "
                    "strings and dicts, lists and tuples of them (no pickle)")


def _unpack(description, data):
    kind, content = next(iter(description.items()))
    if kind == "tensor":
        return Tensor._wrap(data[content])
    if kind == "array":
        return data[content]
    if kind == "number":
        return np.dtype(description["dtype"]).type(content)
    if kind == "dict":
        return {_unpack(k, data): _unpack(v, data) for k, v in content}
    if kind in ("list", "tuple"):
        items = [_unpack(v, data) for v in content]
        return items if kind == "list" else tuple(items)
    return content


def save(obj, f):
    """Write obj (a state_dict, an optimizer's state_dict, a tensor, ...) to the path or file f,
    as an .npz archive (at exactly that path: no suffix is added)."""
    arrays = {}
    structure = json.dumps(_pack(obj, arrays))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:
            np.savez(handle, **arrays, **{_STRUCTURE: np.array(structure)})
    else:
        np.savez(f, **arrays, **{_STRUCTURE: np.array(structure)})


def load(f, map_location=None, weights_only=True):
    """Read what save() wrote (tensors come back as Tensors); a plain .npz of arrays, such as
    save_state_dict's, comes back as {name: Tensor}. map_location is accepted: everything is on the CPU."""
    try:
        with np.load(f, allow_pickle=False) as data:
            if _STRUCTURE not in data.files:
                return {name: Tensor._wrap(data[name]) for name in data.files}
            return _unpack(json.loads(str(data[_STRUCTURE])), data)
    except (ValueError, OSError) as error:
        raise ValueError(f"load: {f} is not a file written by tinytorch.save or np.savez ({error}); "
                         "PyTorch's pickled .pt files cannot be read without pickle") from error


# %%
def test_unit_checkpoint():
    """Checks `save_state_dict` and `load_state_dict`: a model saved to `.npz` and loaded into a
    fresh one of the same architecture computes the same outputs. Save the `state_dict()` arrays
    under their dotted names (`np.savez` takes them as keyword arguments), load with
    `allow_pickle=False`, and hand the dict to the model's own `load_state_dict`, which checks names
    and shapes.
    """
    import tempfile
    from pathlib import Path

    np.random.seed(0)
    a = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    b = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        save_state_dict(a, path)
        load_state_dict(b, path)
    x = Tensor(np.random.randn(5, 4))
    assert np.allclose(a(x).data, b(x).data)


if __name__ == "__main__":
    test_unit_checkpoint()

# %% [markdown]
# ## More of `torch.nn.utils` and `nn.init`, given
#
# **Weight normalization** (`weight_norm`) splits a weight into a direction `weight_v` and
# a length `weight_g`, and rebuilds `weight = g · v / ‖v‖` (the norm over every dimension
# but `dim`) before each forward, with a forward pre-hook; the gradient reaches g and v
# through ordinary differentiable operations. **Spectral normalization** (`spectral_norm`)
# divides the weight by its largest singular value σ, estimated by power iteration on the
# buffers `weight_u` and `weight_v` (one step per training forward; GANs' discriminators use
# it to keep them Lipschitz). `remove_weight_norm` / `remove_spectral_norm` turn the current
# weight back into a plain Parameter. `get_total_norm` and `clip_grads_with_norm_` are the
# two halves of `clip_grad_norm_`. `fuse_conv_bn_eval` / `fuse_linear_bn_eval` fold an
# eval-mode BatchNorm into the layer before it (the inference trick: one layer instead of
# two, same outputs). `init.dirac_` makes a convolution the identity; `init.sparse_` zeroes
# a fraction of each column of a normal matrix.

# %%
#| export nn.utils
import copy

from tinytorch.nn.modules import Parameter


def _norm_except_dim(v, dim):
    """‖v‖ over every dimension but `dim` (all of them for dim=None), kept for broadcasting."""
    axes = tuple(range(v.ndim)) if dim is None else tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return (v * v).sum(dim=axes, keepdim=True).sqrt()


def _hooks_of(module, kind):
    return vars(module).setdefault(kind, {})


def weight_norm(module, name="weight", dim=0):
    """Reparametrize `module.<name>` as `<name>_g · <name>_v / ‖<name>_v‖`; returns the module."""
    norms = _hooks_of(module, "_weight_norm_hooks")
    if name in norms:
        raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    weight = getattr(module, name)
    dim = None if dim is None or dim == -1 else dim  # PyTorch: -1 means the norm of the whole tensor
    delattr(module, name)
    setattr(module, name + "_g", Parameter(_norm_except_dim(weight, dim).data.copy(), dtype=weight.dtype))
    setattr(module, name + "_v", Parameter(weight.data.copy(), dtype=weight.dtype))

    def compute(mod, args=None):
        v = getattr(mod, name + "_v")
        setattr(mod, name, v * (getattr(mod, name + "_g") / _norm_except_dim(v, dim)))

    compute(module)
    norms[name] = (module.register_forward_pre_hook(compute), compute)
    return module


def _remove_reparametrization(module, name, kind, parts, **last_compute):
    """Undo weight_norm / spectral_norm: compute the weight once more, drop the hook and the
    ``parts`` (suffixes of `name`), and keep a plain Parameter with that value; returns the module."""
    norms = _hooks_of(module, f"_{kind}_hooks")
    if name not in norms:
        raise ValueError(f"{kind} of '{name}' not found in {module}")
    handle, compute = norms.pop(name)
    compute(module, **last_compute)
    weight = getattr(module, name).data.copy()
    handle.remove()
    for suffix in ("",) + parts:
        delattr(module, name + suffix)
    setattr(module, name, Parameter(weight, dtype=weight.dtype))
    return module


def remove_weight_norm(module, name="weight"):
    """Make `module.<name>` a plain Parameter again (its current value); returns the module."""
    return _remove_reparametrization(module, name, "weight_norm", ("_g", "_v"))


def _normalized(x, eps):
    return x / max(float(np.sqrt((x * x).sum())), eps)


def _as_matrix(weight, dim):
    """The weight with `dim` moved first, as a (size of dim, rest) matrix (a Tensor or an array)."""
    if dim != 0:
        order = (dim, *[d for d in range(weight.ndim) if d != dim])
        weight = weight.permute(*order) if isinstance(weight, Tensor) else weight.transpose(order)
    return weight.reshape(weight.shape[0], -1)


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide `module.<name>` by its spectral norm σ (power iteration on buffers u, v); returns the module."""
    norms = _hooks_of(module, "_spectral_norm_hooks")
    if name in norms:
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    if n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
    if dim is None:  # PyTorch: dim 1 for the transposed convolutions (their output channels), else 0
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    weight = getattr(module, name)
    h, w = _as_matrix(weight.data, dim).shape
    delattr(module, name)
    setattr(module, name + "_orig", weight)
    setattr(module, name, Tensor(weight.data, dtype=weight.dtype))
    module.register_buffer(name + "_u", Tensor(_normalized(np.random.normal(size=h), eps), dtype=weight.dtype))
    module.register_buffer(name + "_v", Tensor(_normalized(np.random.normal(size=w), eps), dtype=weight.dtype))

    def compute(mod, args=None, power_iteration=None):
        weight = getattr(mod, name + "_orig")
        u, v = getattr(mod, name + "_u"), getattr(mod, name + "_v")
        matrix = _as_matrix(weight.data, dim)
        if mod.training if power_iteration is None else power_iteration:
            for _ in range(n_power_iterations):  # in place, as PyTorch: the buffers carry the estimate on
                v.data[...] = _normalized(matrix.T @ u.data, eps)
                u.data[...] = _normalized(matrix @ v.data, eps)
        column = Tensor(v.data.reshape(-1, 1).copy(), dtype=v.dtype)  # u and v are constants for the gradient, as in PyTorch
        sigma = (Tensor(u.data.reshape(-1, 1).copy(), dtype=u.dtype) * (_as_matrix(weight, dim) @ column)).sum()
        setattr(mod, name, weight / sigma)

    norms[name] = (module.register_forward_pre_hook(compute), compute)
    return module


def remove_spectral_norm(module, name="weight"):
    """Make `module.<name>` a plain Parameter holding the current normalized weight; returns the module."""
    return _remove_reparametrization(module, name, "spectral_norm", ("_orig", "_u", "_v"), power_iteration=False)


def _total_norm(arrays, norm_type):
    norm_type = float(norm_type)
    if not arrays:
        return 0.0
    if norm_type == 0:
        return float(sum(bool(np.count_nonzero(a)) for a in arrays))
    if math.isinf(norm_type):
        return max(float(np.abs(a).max()) if a.size else 0.0 for a in arrays)
    return sum(float((np.abs(a) ** norm_type).sum()) for a in arrays) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of all the tensors together, as if they were one vector (a 0-d Tensor)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    total = _total_norm(arrays, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
                           "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor(total, dtype=arrays[0].dtype if arrays else np.float32)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6)), given their total norm."""
    total = float(total_norm.item() if isinstance(total_norm, Tensor) else total_norm)
    scale = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else float("nan")
    for g in _gradients(parameters):
        g *= scale


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """The (weight, bias) Parameters of one convolution that computes conv followed by an eval-mode BatchNorm."""
    data = lambda t, like: np.asarray(t.data if isinstance(t, Tensor) else t) if t is not None else like
    rm, rv = data(bn_rm, None), data(bn_rv, None)
    w, b = data(bn_w, np.ones_like(rm)), data(bn_b, np.zeros_like(rm))
    conv_bias = data(conv_b, np.zeros_like(rm))
    scale = w / np.sqrt(rv + bn_eps)
    shape = [1] * conv_w.ndim
    shape[1 if transpose else 0] = -1
    fused_w = conv_w.data * scale.reshape(shape)
    fused_b = (conv_bias - rm) * scale + b
    grad_b = conv_b.requires_grad if isinstance(conv_b, Tensor) else False
    return (Parameter(fused_w, requires_grad=conv_w.requires_grad, dtype=conv_w.dtype),
            Parameter(fused_b, requires_grad=grad_b, dtype=conv_w.dtype))


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of `conv` that computes bn(conv(x)), both in eval mode."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("fuse_conv_bn_eval needs a BatchNorm that tracks running statistics")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """The (weight, bias) Parameters of one Linear that computes linear followed by an eval-mode BatchNorm."""
    return fuse_conv_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b)


def fuse_linear_bn_eval(linear, bn):
    """A copy of `linear` that computes bn(linear(x)), both in eval mode."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError("To fuse, linear.out_features must equal bn.num_features or bn.num_features must be 1")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("fuse_linear_bn_eval needs a BatchNorm that tracks running statistics")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused


def skip_init(module_cls, *args, **kwargs):
    """Build the module; PyTorch leaves its parameters uninitialized (to_empty), and so does this."""
    return module_cls(*args, **kwargs).to_empty()


# %%
#| export nn.init
def dirac_(tensor, groups=1):
    """A convolution weight (3-5 dims) that copies each input channel to an output channel (per group)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = tensor.shape[0] // groups
    channels = np.arange(min(per_group, tensor.shape[1]))
    centre = tuple(size // 2 for size in tensor.shape[2:])
    values = np.zeros(tensor.shape)
    for g in range(groups):
        values[(g * per_group + channels, channels, *centre)] = 1
    return _fill(tensor, values)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D normal(0, std) matrix with ceil(sparsity · rows) zeros in each column."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, columns = tensor.shape
    values = np.random.normal(0.0, std, tensor.shape)
    zeros = np.argsort(np.random.random_sample((rows, columns)), axis=0)[:int(math.ceil(sparsity * rows))]
    values[zeros, np.arange(columns)] = 0
    return _fill(tensor, values)


# %%
def test_unit_weight_norm_fusion_and_dirac():
    """Checks the given utilities: `weight_norm` starts from the same weight (g = ‖v‖) and sends
    gradients to g and v, `fuse_linear_bn_eval` computes Linear then BatchNorm1d (eval) in one
    layer, and `dirac_` copies each input channel to its output channel."""
    np.random.seed(0)
    layer, x = Linear(3, 2), Tensor(np.random.randn(4, 3))
    before = layer(x).data.copy()
    weight_norm(layer)
    assert np.allclose(layer(x).data, before)
    layer(x).sum().backward()
    assert layer.weight_g.grad is not None and layer.weight_v.grad is not None
    remove_weight_norm(layer)
    bn = BatchNorm1d(2)
    bn.running_mean.data[...], bn.running_var.data[...] = [0.5, -1.0], [4.0, 0.25]
    plain = Linear(3, 2)
    plain.eval(), bn.eval()
    assert np.allclose(fuse_linear_bn_eval(plain, bn)(x).data, bn(plain(x)).data, atol=1e-5)
    kernel = dirac_(Tensor(np.ones((2, 2, 3))))
    assert kernel.data[:, :, 1].tolist() == [[1, 0], [0, 1]] and kernel.data.sum() == 2


if __name__ == "__main__":
    test_unit_weight_norm_fusion_and_dirac()

# %% [markdown]
# ## `nn.utils.parametrize` and `nn.utils.parametrizations`, given
#
# A **parametrization** replaces a stored weight by a function of it: after
# `register_parametrization(layer, "weight", P)` the layer keeps the free tensor as
# `layer.parametrizations.weight.original` and `layer.weight` is `P(original)`, computed
# anew on **every** access. That is why it is a *property* (the layer's class is swapped for
# a subclass that has one, as in PyTorch): the optimizer updates `original`, and the next
# forward sees the constrained weight (symmetric, unit-norm, orthogonal, ...) with the
# gradient flowing back through `P` to `original`. If `P` has a `right_inverse`, it turns
# the initial weight (or a value assigned later to `layer.weight`) into `original`; several
# parametrizations on one name are applied in order. `remove_parametrizations` turns the
# weight back into a plain Parameter. `parametrizations.weight_norm` and
# `parametrizations.spectral_norm` are the modern forms of `weight_norm`/`spectral_norm`
# above, built on the same math. Inside `with parametrize.cached():` each parametrized
# weight is computed once and reused.

# %%
#| export nn.utils
import contextlib

from tinytorch.core.autograd import no_grad
from tinytorch.nn.modules import Module, _ModuleMapping, _ModuleSequence

_cache_depth = 0
_cache = {}


@contextlib.contextmanager
def cached():
    """Inside this block each parametrized tensor is computed once, on its first access, and reused."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _register_parameter_or_buffer(module, name, value):
    if isinstance(value, Parameter):
        setattr(module, name, value)
    else:
        module.register_buffer(name, value)


def _as_stored(value, like):
    """`value` as `like` holds it: a Parameter (with like's requires_grad) for a Parameter, else a plain Tensor."""
    data = np.array(value.data if isinstance(value, Tensor) else value)
    if isinstance(like, Parameter):
        return Parameter(data, requires_grad=like.requires_grad, dtype=data.dtype)
    return Tensor(data, dtype=data.dtype)


class ParametrizationList(_ModuleSequence):
    """The parametrizations of one tensor, applied in order to `original` (or original0, original1, ...)."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__()
        if not modules:
            raise ValueError("ParametrizationList requires one or more modules.")
        for module in modules:
            self.append(module)
        self.unsafe = unsafe
        new = original
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        if not isinstance(new, (Tensor, list, tuple)):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                             f"Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:  # the same object stays the original, so an optimizer built before still holds it
            original.data = np.array(new.data, dtype=original.data.dtype)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, tensor in enumerate(new):
                if not isinstance(tensor, Tensor):
                    raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors. Got element {i} "
                                     f"of type {type(tensor).__name__}")
                _register_parameter_or_buffer(self, f"original{i}", _as_stored(tensor, original))
        if not unsafe:
            value = self()
            if not isinstance(value, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(value).__name__}.")
            if value.shape != original.shape or value.dtype != original.dtype:
                raise ValueError("Registering a parametrization may not change the shape or dtype of the tensor, "
                                 f"unless `unsafe` flag is enabled. unparametrized shape {original.shape}, "
                                 f"parametrized shape {value.shape}")

    def _members(self):  # the originals (Parameters or buffers) come first in state_dict, then the modules
        names = ["original"] if self.__dict__.get("is_tensor", True) else \
            [f"original{i}" for i in range(self.ntensors)]
        for name in names:
            if isinstance(self.__dict__.get(name), Parameter):
                yield name, self.__dict__[name]
        yield from super()._members()

    def __getitem__(self, index):
        return list(self)[index]

    def right_inverse(self, value):
        """Store `value` as the tensor: the right_inverses in reverse order give the new originals."""
        with no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            values = [value] if self.is_tensor else list(value)
            names = ["original"] if self.is_tensor else [f"original{i}" for i in range(self.ntensors)]
            for name, new in zip(names, values):
                original = getattr(self, name)
                if new.shape != original.shape and not self.unsafe:
                    raise ValueError(f"When `right_inverse` outputs one tensor, it may not change the shape. "
                                     f"original.shape: {original.shape}, right_inverse(value).shape: {new.shape}")
                original.data = np.array(new.data, dtype=original.data.dtype)

    def forward(self, *args):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


class _Parametrizations(_ModuleMapping):
    """`module.parametrizations`: the ParametrizationList of each parametrized tensor, by name (a ModuleDict)."""


def _parametrized_property(tensor_name):
    def get(self):
        parametrization = self.parametrizations[tensor_name]
        if not _cache_depth:
            return parametrization()
        key = (id(self), tensor_name)
        if key not in _cache:
            _cache[key] = parametrization()
        return _cache[key]

    def set(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    return property(get, set)


def is_parametrized(module, tensor_name=None):
    """Whether `module` has a parametrization (on `tensor_name`, or on anything when it is None)."""
    parametrizations = vars(module).get("parametrizations")
    if not isinstance(parametrizations, _Parametrizations):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module):
    """The class the module had before its first parametrization."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Make `module.<tensor_name>` be `parametrization(original)` on each access; returns the module."""
    if is_parametrized(module, tensor_name):
        parametrizations = module.parametrizations[tensor_name]
        if not unsafe:
            value = parametrization(module.parametrizations[tensor_name]())
            original = getattr(module, tensor_name)
            if not isinstance(value, Tensor) or value.shape != original.shape or value.dtype != original.dtype:
                raise ValueError("Registering a parametrization may not change the shape or dtype of the tensor, "
                                 "unless the `unsafe` flag is enabled.")
        parametrizations.append(parametrization)
        parametrizations.unsafe = parametrizations.unsafe or unsafe
        return module
    original = vars(module).get(tensor_name)
    is_buffer = tensor_name in vars(module).get("_buffers", {})
    if not isinstance(original, Parameter) and not (is_buffer and isinstance(original, Tensor)):
        if hasattr(module, tensor_name):
            raise ValueError(f"Module '{module}' has an attribute with name '{tensor_name}' that is not a "
                             "parameter or a buffer")
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
                         f"with name '{tensor_name}'")
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)  # Module.__delattr__ forgets it as a buffer too
    if not is_parametrized(module):  # PyTorch's trick: a subclass per module, so the property is this module's only
        cls = type(module)
        module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {})
        module.parametrizations = _Parametrizations()
    setattr(type(module), tensor_name, _parametrized_property(tensor_name))
    module.parametrizations[tensor_name] = parametrizations
    return module


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Make `module.<tensor_name>` a plain Parameter (or buffer) again: its current value when
    `leave_parametrized`, else the original; returns the module."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name)
            if value.dtype != original.dtype:
                raise ValueError(f"The parametrized tensor's dtype {value.dtype} differs from the original's {original.dtype}")
            original.data = np.array(value.data)  # the same object goes back, as PyTorch's set_
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                             "parametrized in terms of a sequence of tensors.")
        with no_grad():
            value = getattr(module, tensor_name)
        original = _as_stored(value, parametrizations.original0)
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        del module.parametrizations
        module.__class__ = type(module).__bases__[0]
    return module


class _WeightNorm(Module):
    """weight = g · v / ‖v‖ (the norm over every dimension but `dim`); right_inverse splits a weight into (g, v)."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = None if dim is None or dim == -1 else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


class _SpectralNorm(Module):
    """weight / σ, σ estimated by power iteration on the buffers _u, _v (one step per training forward)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
        self.dim = dim % weight.ndim if weight.ndim else 0
        self.eps, self.n_power_iterations = eps, n_power_iterations
        if weight.ndim > 1:
            h, w = _as_matrix(weight.data, self.dim).shape
            self.register_buffer("_u", Tensor(_normalized(np.random.normal(size=h), eps), dtype=weight.dtype))
            self.register_buffer("_v", Tensor(_normalized(np.random.normal(size=w), eps), dtype=weight.dtype))
            self._power_method(_as_matrix(weight.data, self.dim), 15)  # PyTorch starts from a good estimate

    def _power_method(self, matrix, n_power_iterations):
        for _ in range(n_power_iterations):  # u first, then v, as PyTorch's parametrization (in place)
            self._u.data[...] = _normalized(matrix @ self._v.data, self.eps)
            self._v.data[...] = _normalized(matrix.T @ self._u.data, self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return weight / max(float(np.sqrt((weight.data * weight.data).sum())), self.eps)
        if self.training:
            self._power_method(_as_matrix(weight.data, self.dim), self.n_power_iterations)
        column = Tensor(self._v.data.reshape(-1, 1).copy(), dtype=weight.dtype)  # u and v: constants for the gradient
        sigma = (Tensor(self._u.data.reshape(-1, 1).copy(), dtype=weight.dtype) * (_as_matrix(weight, self.dim) @ column)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def _parametrization_weight_norm(module, name="weight", dim=0):
    """weight_norm as a parametrization: original0 = g, original1 = v; returns the module."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


def _parametrization_spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """spectral_norm as a parametrization (buffers parametrizations.<name>.0._u/_v); returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:  # PyTorch: dim 1 for the transposed convolutions (their output channels), else 0
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    return register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))


# PyTorch's submodules torch.nn.utils.parametrize and torch.nn.utils.parametrizations: modules of
# this file registered in sys.modules, as `rnn` above, so `from tinytorch.nn.utils.parametrize import ...` works.
def _submodule(name, doc, members):
    submodule = types.ModuleType(f"{__name__}.{name}", doc)
    submodule.__spec__ = importlib.machinery.ModuleSpec(submodule.__name__, None)
    for public, value in members.items():
        setattr(submodule, public, value)
    submodule.__all__ = list(members)
    sys.modules[submodule.__name__] = submodule
    return submodule


parametrize = _submodule("parametrize", "Tensors of a module computed as functions of free tensors.", {
    "register_parametrization": register_parametrization, "remove_parametrizations": remove_parametrizations,
    "is_parametrized": is_parametrized, "cached": cached, "type_before_parametrizations": type_before_parametrizations,
    "ParametrizationList": ParametrizationList})
parametrizations = _submodule("parametrizations", "weight_norm and spectral_norm as parametrizations.", {
    "weight_norm": _parametrization_weight_norm, "spectral_norm": _parametrization_spectral_norm})

# %%
def test_unit_parametrize():
    """Checks the given parametrizations: `layer.weight` is recomputed from `original` on each
    access with gradients reaching it, right_inverse sets the original, state_dict names, and
    removal gives back a plain Parameter; weight_norm's parametrization keeps the weight."""
    class Symmetric(Module):
        def forward(self, X):
            return X.triu() + X.triu(1).T

    np.random.seed(0)
    layer = Linear(3, 3)
    register_parametrization(layer, "weight", Symmetric())
    assert np.allclose(layer.weight.data, layer.weight.data.T) and is_parametrized(layer, "weight")
    layer(Tensor(np.ones((2, 3)))).sum().backward()
    assert layer.parametrizations.weight.original.grad is not None
    assert sorted(layer.state_dict()) == ["bias", "parametrizations.weight.original"]
    value = layer.weight.data.copy()
    remove_parametrizations(layer, "weight")
    assert type(layer) is Linear and isinstance(vars(layer)["weight"], Parameter)
    assert np.allclose(layer.weight.data, value) and not is_parametrized(layer)
    before = layer.weight.data.copy()
    parametrizations.weight_norm(layer)
    assert np.allclose(layer.weight.data, before)
    assert "parametrizations.weight.original0" in layer.state_dict()


if __name__ == "__main__":
    test_unit_parametrize()

# %% [markdown]
# ## `parametrizations.orthogonal`, given
#
# `orthogonal(layer)` keeps `layer.weight` orthogonal: $W^\top W = I$ for a tall (or square)
# weight, $W W^\top = I$ for a wide one. The free tensor `X` is mapped onto the orthogonal
# matrices: with `"matrix_exp"` the skew-symmetric $A = \mathrm{tril}(X) - \mathrm{tril}(X)^\top$
# gives $Q = e^A$; with `"cayley"`, $Q = (I - A/2)^{-1}(I + A/2)$; with `"householder"`,
# $Q = H_1 \cdots H_k$, one reflection $H_i = I - \tau_i v_i v_i^\top$ per column below the
# diagonal. A tall weight takes the first $k$ columns of an $n \times n$ one. The default is
# PyTorch's: `"matrix_exp"` for a square weight, `"householder"` otherwise. With
# `use_trivialization=True` (the default) the weight is `base @ Q`: `right_inverse` stores the
# initial weight (made orthogonal by a QR if it is not) as the buffer `base` and starts `X` at
# $-I$, so that $Q = I$ and the weight is unchanged.

# %%
#| export nn.utils
from tinytorch.core.autograd import cat
from tinytorch.core.linalg import matrix_exp, solve

_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _householder_product(A, tau):
    """The first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i column i of A below a unit diagonal."""
    n, k = A.shape[-2], A.shape[-1]
    V = A.tril(-1) + Tensor(np.eye(n, k), dtype=A.dtype)
    Q = Tensor(np.broadcast_to(np.eye(n), A.shape[:-2] + (n, n)).copy(), dtype=A.dtype)
    for i in range(k):  # Q <- Q H_i
        v = V[..., :, i:i + 1]
        Q = Q - (Q @ v) * tau[..., i:i + 1].unsqueeze(-1) @ v.mT
    return Q[..., :k]


def _make_orthogonal(A):
    """The Q of A = QR (A tall) with diag(R) >= 0, as PyTorch's (numpy)."""
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diagonal(R, axis1=-2, axis2=-1))[..., None, :]


class _Orthogonal(Module):
    """An orthogonal matrix (or batch of them) from a free tensor by `orthogonal_map`; `base @ Q` with trivialization."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape, self.orthogonal_map = tuple(weight.shape), orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X, n, k = X.mT, k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:  # embed the tall n x k into an n x n
                X = cat([X, Tensor(np.zeros(X.shape[:-2] + (n, n - k)), dtype=X.dtype)], dim=-1)
            A = X - X.mT  # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
            else:
                eye = Tensor(np.eye(n), dtype=A.dtype)
                Q = solve(eye - A * 0.5, eye + A * 0.5)
            Q = Q[..., :k] if n != k else Q
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(axis=-2))
            signs = np.trunc(np.diagonal(X.data, axis1=-2, axis2=-1))[..., None, :]  # X's diagonal: ±1, no gradient
            Q = _householder_product(A, tau) * Tensor(signs, dtype=X.dtype)
        if "base" in self._buffers:
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q):
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape {tuple(Q.shape)}.")
        value = np.array(Q.data)
        n, k = value.shape[-2], value.shape[-1]
        transposed = n < k
        if transposed:
            value, n, k = np.swapaxes(value, -1, -2), k, n
        if "base" not in self._buffers:
            if self.orthogonal_map != "householder":
                raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                          "or the Cayley parametrizations when use_trivialization=False.")
            reflectors = np.zeros_like(value)  # PyTorch's: geqrf, its diagonal (R's) replaced by its signs
            for index in np.ndindex(value.shape[:-2]):
                h, tau = np.linalg.qr(value[index], mode="raw")  # LAPACK geqrf (h transposed)
                a = h.T.copy()
                signs = np.sign(np.diagonal(a).copy())
                signs[tau == 0.0] *= -1
                a[np.arange(k), np.arange(k)] = signs
                reflectors[index] = a  # R above the diagonal is kept (unused), as PyTorch
            result = np.swapaxes(reflectors, -1, -2) if transposed else reflectors
            return Tensor(result, dtype=Q.dtype)
        if n == k:
            eye = np.eye(k)
            orthogonal = np.allclose(np.swapaxes(value, -1, -2) @ value, eye, atol=10.0 * n * np.finfo(value.dtype).eps)
            base = value.copy() if orthogonal else _make_orthogonal(value)
        else:  # complete Q into a full n x n orthogonal matrix
            extra = np.random.standard_normal(value.shape[:-2] + (n, n - k)).astype(value.dtype)
            base = _make_orthogonal(np.concatenate([value, extra], axis=-1))
        self.base = Tensor(base, dtype=Q.dtype)
        neg_id = np.zeros(Q.shape)  # X = -I: householder(0) * diag(X) = I, and tril(-I) - tril(-I)^T = 0
        neg_id[..., np.arange(min(Q.shape[-2:])), np.arange(min(Q.shape[-2:]))] = -1.0
        return Tensor(neg_id, dtype=Q.dtype)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Make `module.<name>` orthogonal (matrix_exp, cayley or householder map); returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    return register_parametrization(module, name, orth, unsafe=True)


parametrizations.orthogonal = orthogonal
parametrizations.__all__.append("orthogonal")
parametrizations.__doc__ = "weight_norm, spectral_norm and orthogonal as parametrizations."

# %% [markdown]
# ## Done
#
# Run `tito module complete 04`. It exports `Adam`/`AdamW` into `tinytorch/optim/adam.py`,
# the schedulers into `tinytorch/optim/lr_scheduler.py`, `nn.init`, `Dropout`,
# `BatchNorm1d` and `nn.utils.clip_grad_norm_` into `tinytorch/nn/`, the datasets,
# `random_split` and `DataLoader` into `tinytorch/data/loader.py`, and the training loop
# into `tinytorch/core/training.py` — all under PyTorch's names:
#
# ```python
# from tinytorch.optim.lr_scheduler import CosineAnnealingLR
# from tinytorch.nn import Dropout, BatchNorm1d
# from tinytorch.nn.utils import clip_grad_norm_
# from tinytorch.data import DataLoader, random_split
# ```
#
# and it unlocks `tito milestone run mlp_digits`: an MLP trained on real handwriting.
