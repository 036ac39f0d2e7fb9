"""Differential (property-based) tests of tinytorch.optim and tinytorch.optim.lr_scheduler against
PyTorch: randomly drawn hyper-parameters (every constructor option PyTorch has), float64
parameters of small drawn shapes (0-d included), drawn gradients (some None: skipped), several
param groups with different options, add_param_group mid-run, zero_grad(set_to_none=True/False),
state_dict / load_state_dict round trips; schedulers with drawn arguments over 20-40 steps,
chained and sequential, resumed with last_epoch; ReduceLROnPlateau on drawn metric sequences.

Exclusions (documented; each an assume() or a restricted strategy where it is excluded):
  refused  Adam/AdamW(amsgrad=True), capturable=True, differentiable=True: tinytorch raises
           NotImplementedError naming the option (checked, then assumed away)
  refused  LBFGS(line_search_fn="strong_wolfe"): NotImplementedError (checked); LBFGS is fuzzed with the
           fixed step only, one param group (PyTorch's own rule), its state not compared
  lenient  tinytorch takes foreach/fused/capturable=False/differentiable=False on every optimizer, also
           where PyTorch's has no such keyword (TypeError there): only PyTorch's own keywords are drawn
  lenient  out-of-range scheduler arguments PyTorch takes (StepLR(step_size=-1), LinearLR/PolynomialLR/
           ConstantLR(total_iters<=0), CyclicLR(scale_mode="bogus"), ...): tinytorch may refuse them, or
           give other numbers (garbage in); only "PyTorch raises => tinytorch raises, no later" is checked
  c        Adagrad: PyTorch fills every state's sum with the constructor's initial_accumulator_value,
           whatever the param group says; tinytorch uses the group's: groups keep the default value
  c        Adagrad: PyTorch creates the state of a parameter that never had a gradient (step 0); only
           states of parameters that have had one are compared
  c        ASGD(foreach=True): PyTorch's foreach kernel computes eta in float32 tensor arithmetic (differs
           at 1e-7): foreach in {None, False} for ASGD (every other optimizer draws True too)
  c        tiny non-zero betas: PyTorch's lerp_(grad, 1 - beta1) keeps few digits of beta1 = 1e-10
  c        eps = 0: a zero gradient gives 0/0 and the NaN/inf goes each kernel's own way
  c        RMSprop(centered=True, alpha=0): sqrt(g^2 - g^2) is rounding noise (NaN in PyTorch's addcmul)
  c        ConstantLR(factor=0): PyTorch divides by the factor at total_iters (ZeroDivisionError)
  c        CosineAnnealingWarmRestarts resumed with last_epoch past the first cycle, T_mult > 1: PyTorch
           restarts with T_cur = last_epoch and T_i = T_0 (wrong cycle)

Bugs found, fixed (each kept as a plain test at the end of this file): an SGD momentum buffer of a 0-d
parameter with weight decay (test_bug_sgd_momentum_weight_decay_0d_parameter); Adam, NAdam and RAdam
without decoupled_weight_decay= (test_bug_decoupled_weight_decay_option_missing); CosineAnnealingWarmRestarts
with a float T_0, OneCycleLR's arguments unchecked, ReduceLROnPlateau's min_lr list of the wrong length
(test_bug_warm_restarts_takes_a_float_T_0, test_bug_one_cycle_does_not_check_its_arguments,
test_bug_plateau_min_lr_length); a resumed ExponentialLR/CosineAnnealingLR/LinearLR/PolynomialLR one epoch
ahead (test_bug_resume_with_last_epoch_is_one_epoch_ahead).
A known difference, kept as a strict xfail: chained with another schedule, a CosineAnnealingLR whose eta_min
equals the rate leaves the other schedule's rate where PyTorch's recursive cosine pulls it to eta_min at the
end of the half-period (test_bug_chained_cosine_with_eta_min_equal_to_the_rate).
"""

import inspect
import math
import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck import torch
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Parameter
from tinytorch.optim import adam as tiny_adam
from tinytorch.optim import lr_scheduler as tiny_sched
from tinytorch.optim import sgd as tiny_sgd

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# derandomize: the same examples on every run, so that a CI run is repeatable; TINYTORCH_FUZZ_SCALE=10
# runs ten times as many (other example counts were tried by hand that way)
SCALE = float(os.environ.get("TINYTORCH_FUZZ_SCALE", "1"))
FAST = settings(max_examples=int(40 * SCALE), deadline=None, derandomize=True)
SOME = settings(max_examples=int(15 * SCALE), deadline=None, derandomize=True)

RTOL, ATOL = 1e-10, 1e-12

TINY_OPTIM = {"SGD": tiny_sgd.SGD, **{name: getattr(tiny_adam, name) for name in (
    "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS")}}

# ---------------------------------------------------------------------------------------
# hyper-parameter strategies (valid values)

lrs = st.sampled_from([0.0, 1e-3, 0.01, 0.1, 0.5, 1.0]) | st.floats(1e-4, 1.0)
decays = st.sampled_from([0.0, 0.0, 0.01, 0.5]) | st.floats(0.0, 0.5)
# eps > 0: with eps = 0 an exact zero gradient gives 0/0, and where the NaN goes (or an inf instead) is
# each kernel's own (PyTorch's foreach RAdam computes the unused rectified branch too): excluded
epss = st.sampled_from([1e-8, 1e-10, 1e-6, 0.1]) | st.floats(1e-10, 1e-1)
# no tiny non-zero betas: PyTorch's exp_avg.lerp_(grad, 1 - beta1) computes 1 - (1 - beta1), which keeps
# few of a tiny beta1's digits (beta1 = 1e-10 acts as 1.0000000827e-10): rounding, excluded
betas_ = st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999]) | st.floats(0.01, 0.999)
unit = st.floats(0.0, 1.0)
foreach_ = st.sampled_from([None, False, True])


@st.composite
def sgd_options(draw):
    momentum = draw(st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99))
    nesterov = draw(st.booleans()) and momentum > 0
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.5]) | unit)
    return dict(lr=draw(lrs), momentum=momentum, dampening=dampening, weight_decay=draw(decays),
                nesterov=nesterov, maximize=draw(st.booleans()), foreach=draw(foreach_))


@st.composite
def adam_options(draw, decoupled=False):
    options = dict(lr=draw(lrs), betas=(draw(betas_), draw(betas_)), eps=draw(epss), weight_decay=draw(decays),
                   maximize=draw(st.booleans()), foreach=draw(foreach_))
    if decoupled and draw(st.booleans()):
        options["decoupled_weight_decay"] = draw(st.booleans())
    return options


@st.composite
def rmsprop_options(draw):
    centered = draw(st.booleans())
    # alpha = 0 with centered: square_avg - grad_avg² is an exact 0 minus a rounding, sqrt of which
    # PyTorch's fused addcmul may make NaN; both are rounding noise (excluded by drawing alpha > 0)
    alpha = draw(st.sampled_from([0.99, 0.9, 0.5]) | st.floats(0.01 if centered else 0.0, 0.999))
    return dict(lr=draw(lrs), alpha=alpha, eps=draw(epss), weight_decay=draw(decays),
                momentum=draw(st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99)), centered=centered,
                maximize=draw(st.booleans()), foreach=draw(foreach_))


@st.composite
def adagrad_options(draw):
    return dict(lr=draw(lrs), lr_decay=draw(decays), weight_decay=draw(decays),
                initial_accumulator_value=draw(st.sampled_from([0.0, 0.1, 1.0]) | st.floats(0.0, 2.0)),
                eps=draw(epss), maximize=draw(st.booleans()), foreach=draw(foreach_))


@st.composite
def adadelta_options(draw):
    return dict(lr=draw(lrs), rho=draw(st.sampled_from([0.0, 0.9, 1.0]) | unit), eps=draw(epss),
                weight_decay=draw(decays), maximize=draw(st.booleans()), foreach=draw(foreach_))


@st.composite
def nadam_options(draw):
    options = draw(adam_options(decoupled=True))
    options["momentum_decay"] = draw(st.sampled_from([4e-3, 0.0, 0.1]) | st.floats(0.0, 0.5))
    return options


@st.composite
def rprop_options(draw):
    smallest = draw(st.sampled_from([1e-6, 0.0, 1e-3]) | st.floats(0.0, 0.01))
    return dict(lr=draw(lrs), etas=(draw(st.floats(0.05, 0.95)), draw(st.floats(1.05, 3.0))),
                step_sizes=(smallest, draw(st.sampled_from([50.0, 0.05, 1.0]) | st.floats(smallest, 10.0))),
                maximize=draw(st.booleans()), foreach=draw(foreach_))


@st.composite
def asgd_options(draw):
    return dict(lr=draw(lrs), lambd=draw(st.sampled_from([1e-4, 0.0, 0.1]) | st.floats(0.0, 1.0)),
                alpha=draw(st.sampled_from([0.75, 1.0, 0.0]) | st.floats(0.0, 2.0)),
                t0=draw(st.sampled_from([1e6, 0.0, 1.0, 3.0]) | st.floats(0.0, 6.0)),
                weight_decay=draw(decays), maximize=draw(st.booleans()),
                foreach=draw(st.sampled_from([None, False])))  # PyTorch's foreach ASGD rounds eta otherwise


OPTIONS = {
    "SGD": sgd_options(), "Adam": adam_options(decoupled=True), "AdamW": adam_options(), "RMSprop": rmsprop_options(),
    "Adagrad": adagrad_options(), "Adadelta": adadelta_options(), "Adamax": adam_options(), "NAdam": nadam_options(),
    "RAdam": adam_options(decoupled=True), "Rprop": rprop_options(), "ASGD": asgd_options(),
}

# ---------------------------------------------------------------------------------------
# helpers

param_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


def make_pair(th, name, groups_spec, defaults):
    """(tiny optimizer, torch optimizer) over groups_spec: [(params_tiny, params_torch, overrides)]."""
    if len(groups_spec) == 1 and not groups_spec[0][2]:
        tiny_groups, ref_groups = groups_spec[0][0], groups_spec[0][1]
    else:
        tiny_groups = [dict(params=t, **o) for t, _, o in groups_spec]
        ref_groups = [dict(params=r, **o) for _, r, o in groups_spec]
    return TINY_OPTIM[name](tiny_groups, **defaults), getattr(th.optim, name)(ref_groups, **defaults)


def give_gradients(th, rng, tiny, ref, none_rate=0.25):
    for p, q in zip(tiny, ref):
        kind = rng.integers(5)
        if rng.random() < none_rate:
            p.grad, q.grad = None, None
            continue
        g = rng.normal(size=p.shape) * (3.0 if kind == 0 else 1.0)
        if kind == 1:
            g = np.round(g)  # exact zeros, repeated values: Rprop's sign rules, Adamax's max
        elif kind == 2:
            g = np.abs(g) if rng.random() < 0.5 else -np.abs(g)
        g = np.asarray(g, dtype=np.float64)
        p.grad, q.grad = Tensor(g.copy(), dtype=np.float64), th.tensor(g.copy())


def assert_params(tiny, ref, what):
    for k, (p, q) in enumerate(zip(tiny, ref)):
        assert p.shape == tuple(q.shape), f"{what}: parameter {k} shape"
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=RTOL, atol=ATOL, equal_nan=True,
                                   err_msg=f"{what}: parameter {k}")


def _close(a, b):
    if isinstance(a, (bool, str)) or a is None or b is None or isinstance(b, (bool, str)):
        return a == b
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    b = b.detach().numpy() if hasattr(b, "detach") else b
    return np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=RTOL, atol=ATOL,
                       equal_nan=True)


def assert_state(opt_tiny, opt_ref, what):
    mine, theirs = opt_tiny.state_dict(), opt_ref.state_dict()
    assert len(mine["param_groups"]) == len(theirs["param_groups"]), what
    for k, (g, h) in enumerate(zip(mine["param_groups"], theirs["param_groups"])):
        assert g["params"] == h["params"], f"{what}: group {k} params"
        for key, value in g.items():
            assert key in h, f"{what}: group {k} has {key!r}, PyTorch's has not"
            assert _close(value, h[key]), f"{what}: group {k} {key!r}: {value!r} != {h[key]!r}"
    for index, state in mine["state"].items():
        assert index in theirs["state"], f"{what}: state of parameter {index} (PyTorch has none)"
        ref_state = theirs["state"][index]
        assert set(state) == set(ref_state), f"{what}: state keys of {index}: {sorted(state)} != {sorted(ref_state)}"
        for key, value in state.items():
            assert _close(value, ref_state[key]), f"{what}: state {index} {key!r}: {value!r} != {ref_state[key]!r}"
    for index, state in theirs["state"].items():  # PyTorch's Adagrad creates states eagerly (step 0)
        if index not in mine["state"]:
            assert float(state["step"]) == 0, f"{what}: parameter {index} has no state in tinytorch"


# ---------------------------------------------------------------------------------------
# Optimizers


@pytest.mark.parametrize("name", list(OPTIONS))
@FAST
@given(data=st.data())
def test_optimizer_follows_torch(name, data):
    th = torch()
    draw = data.draw
    defaults = draw(OPTIONS[name], label="defaults")
    shapes = draw(st.lists(param_shapes, min_size=2, max_size=3), label="shapes")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    starts = [rng.normal(size=s) for s in shapes]
    tiny = [Parameter(a.copy(), dtype=np.float64) for a in starts]
    ref = [th.tensor(a.copy(), requires_grad=True) for a in starts]

    # param groups: consecutive chunks, each with no override, a new lr, or a whole new option set
    n_groups = draw(st.integers(1, len(tiny)), label="groups")
    cuts = sorted(draw(st.lists(st.integers(1, len(tiny) - 1), min_size=n_groups - 1, max_size=n_groups - 1,
                                unique=True))) if n_groups > 1 else []
    bounds = [0, *cuts, len(tiny)]
    groups, all_options = [], [defaults]
    for a, b in zip(bounds, bounds[1:]):
        kind = draw(st.sampled_from(["none", "lr", "all"]))
        override = {} if kind == "none" else {"lr": draw(lrs)} if kind == "lr" else draw(OPTIONS[name])
        all_options.append(override)
        groups.append((tiny[a:b], ref[a:b], override))
    # one extra parameter, added with add_param_group at a drawn step
    extra_shape = draw(param_shapes)
    extra_start = rng.normal(size=extra_shape)
    extra_tiny, extra_ref = Parameter(extra_start.copy(), dtype=np.float64), th.tensor(extra_start.copy(),
                                                                                       requires_grad=True)
    extra_options = draw(st.sampled_from([{}, {"lr": 0.05}]) | OPTIONS[name], label="extra group")
    all_options.append(extra_options)
    # PyTorch's Adagrad fills every state's sum with the *constructor's* initial_accumulator_value
    # (self.defaults), whatever its group says; tinytorch with the group's (excluded: PyTorch quirk)
    assume(name != "Adagrad" or all(o.get("initial_accumulator_value", defaults["initial_accumulator_value"])
                                    == defaults["initial_accumulator_value"] for o in all_options))

    opt_tiny, opt_ref = make_pair(th, name, groups, defaults)
    steps = draw(st.integers(5, 8), label="steps")
    add_at = draw(st.integers(0, steps), label="add_param_group at")
    reload_at = draw(st.integers(0, steps - 1), label="reload at")
    params_tiny, params_ref = list(tiny), list(ref)
    for step in range(steps):
        if step == add_at:
            opt_ref.add_param_group(dict(params=[extra_ref], **extra_options))
            opt_tiny.add_param_group(dict(params=[extra_tiny], **extra_options))
            params_tiny.append(extra_tiny)
            params_ref.append(extra_ref)
            with pytest.raises(Exception):  # a parameter in two groups: both refuse
                opt_ref.add_param_group({"params": [extra_ref]})
            with pytest.raises(Exception):
                opt_tiny.add_param_group({"params": [extra_tiny]})
        give_gradients(th, rng, params_tiny, params_ref)
        grads_before = [None if p.grad is None else p.grad.data.copy() for p in params_tiny]
        opt_tiny.step()
        opt_ref.step()
        assert_params(params_tiny, params_ref, f"step {step}")
        for p, g in zip(params_tiny, grads_before):  # .grad is left as it was (maximize flips only a copy)
            assert (p.grad is None) == (g is None) and (g is None or np.array_equal(p.grad.data, g))
        assert_state(opt_tiny, opt_ref, f"step {step}")
        set_to_none = draw(st.booleans(), label="set_to_none")
        opt_tiny.zero_grad(set_to_none=set_to_none)
        opt_ref.zero_grad(set_to_none=set_to_none)
        for p, q in zip(params_tiny, params_ref):
            assert (p.grad is None) == (q.grad is None), f"zero_grad({set_to_none}) step {step}"
            if p.grad is not None:
                assert p.grad.shape == tuple(q.grad.shape) and not p.grad.data.any()
        if step == reload_at:
            # a fresh optimizer with other options, loaded from the state dict, continues identically
            saved = opt_tiny.state_dict()
            fresh_groups = [dict(params=list(g["params"])) for g in opt_tiny.param_groups]
            opt_tiny = TINY_OPTIM[name](fresh_groups, **defaults)  # defaults are not state (PyTorch's neither)
            opt_tiny.load_state_dict(saved)
            assert_state(opt_tiny, opt_ref, f"reloaded at step {step}")


# optimizer options, some invalid: where PyTorch refuses, tinytorch refuses too, and the other way round
# (but for the documented refusals)
bad_numbers = st.sampled_from([-1.0, -1e-3, 0.0, 0.5, 1.0, 1.5, 2.0])
REFUSED = ("amsgrad", "capturable", "differentiable")


@st.composite
def maybe_invalid_options(draw, name):
    options = dict(draw(OPTIONS[name]))
    keys = sorted(k for k in options if k not in ("foreach", "maximize"))
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        value = options[key]
        if isinstance(value, bool):
            options[key] = not value
        elif isinstance(value, tuple):
            options[key] = (draw(bad_numbers), draw(bad_numbers))
        else:
            options[key] = draw(bad_numbers)
    if draw(st.booleans()):  # only the switches PyTorch's optimizer has: tinytorch takes all of them (leniency)
        has = inspect.signature(getattr(torch().optim, name).__init__).parameters
        extra = draw(st.sampled_from([k for k in ("amsgrad", "capturable", "differentiable", "fused") if k in has]))
        options[extra] = draw(st.booleans()) if extra != "fused" else draw(st.sampled_from([None, False]))
    return options


@pytest.mark.parametrize("name", list(OPTIONS))
@FAST
@given(data=st.data())
def test_optimizer_refuses_what_torch_refuses(name, data):
    th = torch()
    options = data.draw(maybe_invalid_options(name))
    try:
        getattr(th.optim, name)([th.zeros(2, dtype=th.float64, requires_grad=True)], **options)
    except (ValueError, TypeError, RuntimeError, NotImplementedError):
        with pytest.raises(Exception):
            TINY_OPTIM[name]([Parameter(np.zeros(2), dtype=np.float64)], **options)
        return
    try:
        TINY_OPTIM[name]([Parameter(np.zeros(2), dtype=np.float64)], **options)
    except NotImplementedError as error:  # a documented refusal: it names the option
        assert any(options.get(k) for k in REFUSED if k in str(error)), str(error)
        assume(False)


# ---------------------------------------------------------------------------------------
# L-BFGS (fixed step)


@SOME
@given(data=st.data())
def test_lbfgs_follows_torch(data):
    th = torch()
    draw = data.draw
    options = dict(lr=draw(st.sampled_from([1.0, 0.5, 0.1]) | st.floats(0.05, 1.0)),
                   max_iter=draw(st.integers(1, 6)), max_eval=draw(st.sampled_from([None, 3, 10])),
                   tolerance_grad=draw(st.sampled_from([1e-7, 1e-3])),
                   tolerance_change=draw(st.sampled_from([1e-9, 1e-4])),
                   history_size=draw(st.integers(1, 5)))
    shapes = draw(st.lists(param_shapes, min_size=1, max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    starts = [rng.normal(size=s) for s in shapes]
    scales = [rng.uniform(0.5, 3.0, size=s) for s in shapes]
    centres = [rng.normal(size=s) for s in shapes]
    tiny = [Parameter(a.copy(), dtype=np.float64) for a in starts]
    ref = [th.tensor(a.copy(), requires_grad=True) for a in starts]
    opt_tiny, opt_ref = TINY_OPTIM["LBFGS"](tiny, **options), th.optim.LBFGS(ref, **options)

    def loss_of(params, wrap):
        total = None
        for p, s, c in zip(params, scales, centres):
            d = p - wrap(c)
            term = (d * d * wrap(s)).sum() + (d * d * d * d).sum() * 0.1
            total = term if total is None else total + term
        return total

    def closure_tiny():
        opt_tiny.zero_grad()
        loss = loss_of(tiny, lambda a: Tensor(a, dtype=np.float64))
        loss.backward()
        return loss

    def closure_ref():
        opt_ref.zero_grad()
        loss = loss_of(ref, th.tensor)
        loss.backward()
        return loss

    for step in range(draw(st.integers(1, 3))):
        a = opt_tiny.step(closure_tiny)
        b = opt_ref.step(closure_ref)
        assert math.isclose(float(a.data), float(b), rel_tol=1e-8, abs_tol=1e-10), f"step {step} loss"
        for k, (p, q) in enumerate(zip(tiny, ref)):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=f"step {step} p{k}")


def test_lbfgs_refuses_strong_wolfe_and_groups():
    th = torch()
    th.optim.LBFGS([th.zeros(2, requires_grad=True)], line_search_fn="strong_wolfe")  # PyTorch has it
    with pytest.raises(NotImplementedError, match="line_search_fn"):
        TINY_OPTIM["LBFGS"]([Parameter(np.zeros(2))], line_search_fn="strong_wolfe")
    with pytest.raises(ValueError):
        th.optim.LBFGS([{"params": [th.zeros(2, requires_grad=True)]}, {"params": [th.zeros(1, requires_grad=True)]}])
    with pytest.raises(ValueError):
        TINY_OPTIM["LBFGS"]([{"params": [Parameter(np.zeros(2))]}, {"params": [Parameter(np.zeros(1))]}])


# ---------------------------------------------------------------------------------------
# Bugs found (minimal, deterministic); each is assumed away in the property tests above


def test_bug_sgd_momentum_weight_decay_0d_parameter():
    th = torch()
    p, q = Parameter(np.array(1.0), dtype=np.float64), th.tensor(1.0, dtype=th.float64, requires_grad=True)
    opt_tiny = tiny_sgd.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt_ref = th.optim.SGD([q], lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        p.grad, q.grad = Tensor(np.array(1.0), dtype=np.float64), th.tensor(1.0, dtype=th.float64)
        opt_tiny.step()
        opt_ref.step()
    assert np.isclose(float(p.data), q.item(), rtol=RTOL)  # tinytorch 0.476279, PyTorch 0.388169


# ---------------------------------------------------------------------------------------
# Learning-rate schedulers

SRTOL = 1e-9  # PyTorch's recursive forms (lr *= ratio each step) round a little on their way


def make_lambda(spec):
    kind, a, k = spec
    if kind == "pow":
        return lambda epoch: a ** epoch
    if kind == "inv":
        return lambda epoch: 1.0 / (1.0 + a * epoch)
    return lambda epoch: a if epoch % k == 0 else 1.0


lambdas = st.tuples(st.sampled_from(["pow", "inv", "every"]), st.floats(0.5, 1.2), st.integers(1, 5))
gammas = st.sampled_from([0.1, 0.5, 0.9, 1.0]) | st.floats(0.3, 1.2)
iters = st.integers(1, 25)


@st.composite
def scheduler_args(draw, name, groups, invalid=False):
    """Keyword arguments of scheduler `name` (lambdas as specs); with invalid=True, one may be out of range."""
    per_group = lambda values: st.lists(values, min_size=groups, max_size=groups)  # noqa: E731
    if name == "StepLR":
        args = dict(step_size=draw(st.integers(1, 10)), gamma=draw(gammas))
    elif name == "MultiStepLR":
        args = dict(milestones=draw(st.lists(st.integers(0, 40), max_size=5)), gamma=draw(gammas))
    elif name == "ExponentialLR":
        args = dict(gamma=draw(st.floats(0.7, 1.1)))
    elif name == "CosineAnnealingLR":
        args = dict(T_max=draw(iters), eta_min=draw(st.sampled_from([0.0, 1e-3]) | st.floats(0.0, 0.05)))
    elif name == "CosineAnnealingWarmRestarts":
        args = dict(T_0=draw(st.integers(1, 10)), T_mult=draw(st.integers(1, 3)),
                    eta_min=draw(st.sampled_from([0.0, 1e-3]) | st.floats(0.0, 0.05)))
    elif name == "LinearLR":
        args = dict(start_factor=draw(st.sampled_from([1.0 / 3, 1.0]) | st.floats(0.01, 1.0)),
                    end_factor=draw(st.sampled_from([1.0, 0.0]) | st.floats(0.0, 1.0)), total_iters=draw(iters))
    elif name == "ConstantLR":  # factor 0: PyTorch divides by it at total_iters (excluded)
        args = dict(factor=draw(st.sampled_from([1.0 / 3, 1.0]) | st.floats(0.01, 1.0)), total_iters=draw(iters))
    elif name == "PolynomialLR":
        args = dict(total_iters=draw(iters), power=draw(st.sampled_from([1.0, 2.0, 0.5]) | st.floats(0.1, 3.0)))
    elif name in ("LambdaLR", "MultiplicativeLR"):
        args = dict(lr_lambda=draw(lambdas | per_group(lambdas)))
    elif name == "OneCycleLR":
        max_lr = draw(st.floats(0.01, 1.0) | per_group(st.floats(0.01, 1.0)))
        args = dict(max_lr=max_lr, pct_start=draw(st.sampled_from([0.3, 0.5]) | st.floats(0.05, 0.95)),
                    anneal_strategy=draw(st.sampled_from(["cos", "linear"])), cycle_momentum=draw(st.booleans()),
                    base_momentum=draw(st.floats(0.5, 0.85)), max_momentum=draw(st.floats(0.85, 0.99)),
                    div_factor=draw(st.sampled_from([25.0, 1.0]) | st.floats(1.0, 100.0)),
                    final_div_factor=draw(st.sampled_from([1e4, 1.0]) | st.floats(1.0, 1e4)),
                    three_phase=draw(st.booleans()))
        if draw(st.booleans()):
            args["total_steps"] = draw(st.integers(2, 45))
        else:
            args.update(epochs=draw(st.integers(1, 6)), steps_per_epoch=draw(st.integers(1, 9)))
    elif name == "CyclicLR":
        base = draw(st.floats(1e-3, 0.1) | per_group(st.floats(1e-3, 0.1)))
        args = dict(base_lr=base, max_lr=draw(st.floats(0.1, 1.0) | per_group(st.floats(0.1, 1.0))),
                    step_size_up=draw(st.integers(1, 10)), step_size_down=draw(st.none() | st.integers(1, 10)),
                    mode=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
                    gamma=draw(st.sampled_from([1.0, 0.99]) | st.floats(0.8, 1.0)),
                    cycle_momentum=draw(st.booleans()), base_momentum=draw(st.floats(0.5, 0.85)),
                    max_momentum=draw(st.floats(0.85, 0.99)))
        if draw(st.booleans()):
            args.update(scale_fn=draw(lambdas), scale_mode=draw(st.sampled_from(["cycle", "iterations"])))
    else:
        raise AssertionError(name)
    if invalid:
        key = draw(st.sampled_from(sorted(args)))
        args[key] = draw(st.sampled_from([0, -1, 1.5, -0.5, "bogus", [0.1] * (groups + 1)]))
        args["__bad__"] = key
    return args


def build_scheduler(module, name, optimizer, args, **more):
    args = {k: v for k, v in args.items() if not k.startswith("__")}
    for key in ("lr_lambda", "scale_fn"):
        if key in args:
            args[key] = [make_lambda(s) for s in args[key]] if isinstance(args[key], list) else make_lambda(args[key])
    return getattr(module, name)(optimizer, **args, **more)


SCHEDULERS = ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "LinearLR",
              "ConstantLR", "PolynomialLR", "LambdaLR", "MultiplicativeLR", "OneCycleLR", "CyclicLR"]
COMPOSABLE = SCHEDULERS[:10]


def optimizer_spec():
    """SGD with momentum or Adam (OneCycleLR and CyclicLR cycle one or the other), 1-3 param groups."""
    return st.tuples(st.sampled_from(["SGD", "Adam"]),
                     st.lists(st.sampled_from([0.1, 1.0, 0.01]) | st.floats(1e-3, 1.0), min_size=1, max_size=3))


def build_optimizer(th, lib, spec):
    kind, lrs_ = spec
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    if lib == "torch":
        groups = [{"params": [th.zeros(1, dtype=th.float64, requires_grad=True)], "lr": lr} for lr in lrs_]
        return getattr(th.optim, kind)(groups, **extra)
    groups = [{"params": [Parameter(np.zeros(1), dtype=np.float64)], "lr": lr} for lr in lrs_]
    return TINY_OPTIM[kind](groups, **extra)


def momenta(optimizer):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in optimizer.param_groups]


def trace(make, steps, stepper=lambda scheduler, k: scheduler.step()):
    """(records, raised_at): what get_last_lr(), the groups' lrs and momenta were after construction (index 0)
    and after each step; raised_at is the index whose construction or step raised (None if none did)."""
    records = []
    try:
        optimizer, scheduler = make()
        for k in range(steps + 1):
            if k:
                optimizer.step()
                stepper(scheduler, k - 1)
            records.append((scheduler.get_last_lr(), [g["lr"] for g in optimizer.param_groups], momenta(optimizer)))
    except (ValueError, TypeError, ZeroDivisionError, KeyError, IndexError, RuntimeError, OverflowError):
        return records, len(records)
    return records, None


def assert_traces(tiny, ref, what, invalid=False):
    """Equal records; where PyTorch raises, tinytorch raises at the same index (with invalid arguments,
    at that index or earlier: refusing garbage sooner is fine)."""
    (mine, mine_raised), (theirs, theirs_raised) = tiny, ref
    if theirs_raised is not None:
        assert mine_raised is not None, f"{what}: PyTorch raised at {theirs_raised}, tinytorch did not"
        assert mine_raised <= theirs_raised if invalid else mine_raised == theirs_raised, \
            f"{what}: PyTorch raised at {theirs_raised}, tinytorch at {mine_raised}"
    elif invalid:
        return  # PyTorch takes it: what garbage gives is not compared (tinytorch may refuse it)
    else:
        assert mine_raised is None, f"{what}: tinytorch raised at {mine_raised}"
    for k, (a, b) in enumerate(zip(mine, theirs)):
        for part, x, y in zip(("get_last_lr", "group lr", "momentum"), a, b):
            np.testing.assert_allclose(x, y, rtol=SRTOL, atol=1e-15, err_msg=f"{what}: {part} after step {k}")


def made_scheduler(th, lib, name, spec, args):
    """(optimizer, scheduler) of one library ("tiny" or "torch") from the same drawn spec and arguments."""
    module = th.optim.lr_scheduler if lib == "torch" else tiny_sched
    optimizer = build_optimizer(th, lib, spec)
    return optimizer, build_scheduler(module, name, optimizer, args)


@pytest.mark.parametrize("name", SCHEDULERS)
@FAST
@given(data=st.data())
def test_scheduler_follows_torch(name, data):
    th = torch()
    draw = data.draw
    spec = draw(optimizer_spec(), label="optimizer")
    groups = len(spec[1])
    args = draw(scheduler_args(name, groups), label="args")
    steps = draw(st.integers(20, 40), label="steps")
    resume = draw(st.booleans(), label="resume")
    resume_after = draw(st.integers(0, steps), label="resume after")
    # PyTorch's CosineAnnealingWarmRestarts resumes with T_cur = last_epoch and T_i = T_0, right only in
    # the first cycle when T_mult > 1 (excluded: PyTorch quirk)
    assume(not (name == "CosineAnnealingWarmRestarts" and args["T_mult"] > 1 and resume_after >= args["T_0"]))
    more = draw(st.integers(1, 10), label="steps after resuming")

    def make(lib):
        return made_scheduler(th, lib, name, spec, args)

    def resumed(lib):
        """After resume_after steps, a fresh optimizer loaded from the state dict, a scheduler made with
        last_epoch = the epochs done (PyTorch's resume; its rate is then the next epoch's)."""
        optimizer, scheduler = make(lib)
        for _ in range(resume_after):
            optimizer.step()
            scheduler.step()
        fresh = build_optimizer(th, lib, spec)
        fresh.load_state_dict(optimizer.state_dict())
        module = th.optim.lr_scheduler if lib == "torch" else tiny_sched
        return fresh, build_scheduler(module, name, fresh, args, last_epoch=scheduler.last_epoch)

    assert_traces(trace(lambda: make("tiny"), steps), trace(lambda: make("torch"), steps), name)
    if resume:
        assert_traces(trace(lambda: resumed("tiny"), more), trace(lambda: resumed("torch"), more),
                      f"{name} resumed after {resume_after}")


@pytest.mark.parametrize("name", SCHEDULERS)
@SOME
@given(data=st.data())
def test_scheduler_refuses_what_torch_refuses(name, data):
    th = torch()
    draw = data.draw
    spec = draw(optimizer_spec(), label="optimizer")
    args = draw(scheduler_args(name, len(spec[1]), invalid=True), label="args")
    # ConstantLR(factor=0): PyTorch divides by the factor at total_iters (excluded: PyTorch quirk)
    assume(not (name == "ConstantLR" and args["factor"] == 0))

    assert_traces(trace(lambda: made_scheduler(th, "tiny", name, spec, args), 25),
                  trace(lambda: made_scheduler(th, "torch", name, spec, args), 25), name, invalid=True)


@FAST
@given(data=st.data())
def test_sequential_and_chained_follow_torch(data):
    th = torch()
    draw = data.draw
    spec = draw(optimizer_spec(), label="optimizer")
    groups = len(spec[1])
    names = draw(st.lists(st.sampled_from(COMPOSABLE), min_size=1, max_size=3), label="schedulers")
    args = [draw(scheduler_args(n, groups), label=n) for n in names]
    sequential = draw(st.booleans(), label="sequential")
    # test_bug_chained_cosine_with_eta_min_equal_to_the_rate: excluded here
    assume(not any(n == "CosineAnnealingLR" and a["eta_min"] in spec[1] for n, a in zip(names, args)))
    milestones = sorted(draw(st.lists(st.integers(1, 30), min_size=len(names) - 1, max_size=len(names) - 1)))

    def make(lib):
        module = th.optim.lr_scheduler if lib == "torch" else tiny_sched
        optimizer = build_optimizer(th, lib, spec)
        inner = [build_scheduler(module, n, optimizer, a) for n, a in zip(names, args)]
        if sequential:
            return optimizer, module.SequentialLR(optimizer, inner, milestones)
        return optimizer, module.ChainedScheduler(inner, optimizer)

    steps = draw(st.integers(20, 40))
    assert_traces(trace(lambda: make("tiny"), steps), trace(lambda: make("torch"), steps), f"{names} {milestones}")


@FAST
@given(data=st.data())
def test_reduce_lr_on_plateau_follows_torch(data):
    th = torch()
    draw = data.draw
    spec = draw(optimizer_spec(), label="optimizer")
    groups = len(spec[1])
    floors = st.sampled_from([0.0, 1e-3]) | st.floats(0.0, 0.05)
    args = dict(mode=draw(st.sampled_from(["min", "max"])), factor=draw(st.sampled_from([0.1, 0.5]) | st.floats(0.0, 0.99)),
                patience=draw(st.integers(0, 5)), threshold=draw(st.sampled_from([1e-4, 0.0, 0.1]) | st.floats(0.0, 0.2)),
                threshold_mode=draw(st.sampled_from(["rel", "abs"])), cooldown=draw(st.integers(0, 3)),
                min_lr=draw(floors | st.lists(floors, min_size=groups, max_size=groups)),
                eps=draw(st.sampled_from([1e-8, 0.0, 1e-3]) | st.floats(0.0, 0.01)))
    invalid = draw(st.integers(0, 4)) == 0
    if invalid:  # one argument out of range
        args[draw(st.sampled_from(sorted(args)))] = draw(st.sampled_from([1.0, 1.5, -1, "bogus", [0.0] * (groups + 1)]))
    level = st.sampled_from([1.0, 0.5, 2.0, 0.0, -1.0, 1.0001, 0.9999]) | st.floats(-3, 3)
    metrics = draw(st.lists(level, min_size=20, max_size=40), label="metrics")
    counters = {"torch": [], "tiny": []}

    def make(lib):
        module = th.optim.lr_scheduler if lib == "torch" else tiny_sched
        optimizer = build_optimizer(th, lib, spec)
        return optimizer, module.ReduceLROnPlateau(optimizer, **args)

    def stepper(lib):
        def step(scheduler, k):
            scheduler.step(metrics[k])
            counters[lib].append((scheduler.last_epoch, scheduler.num_bad_epochs, scheduler.cooldown_counter,
                                  scheduler.best))
        return step

    assert_traces(trace(lambda: make("tiny"), len(metrics), stepper("tiny")),
                  trace(lambda: make("torch"), len(metrics), stepper("torch")), "ReduceLROnPlateau", invalid=invalid)
    if not invalid:
        assert counters["tiny"] == counters["torch"]


@pytest.mark.parametrize("name", ["Adam", "NAdam", "RAdam"])
def test_bug_decoupled_weight_decay_option_missing(name):
    th = torch()
    p, q = Parameter(np.ones(2), dtype=np.float64), th.ones(2, dtype=th.float64, requires_grad=True)
    opt_tiny = TINY_OPTIM[name]([p], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    opt_ref = getattr(th.optim, name)([q], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    for _ in range(3):
        p.grad, q.grad = Tensor(np.ones(2), dtype=np.float64), th.ones(2, dtype=th.float64)
        opt_tiny.step()
        opt_ref.step()
    assert_params([p], [q], "decoupled")


def test_bug_warm_restarts_takes_a_float_T_0():
    th = torch()
    with pytest.raises(ValueError):
        th.optim.lr_scheduler.CosineAnnealingWarmRestarts(th.optim.SGD([th.zeros(1, requires_grad=True)], lr=0.1), T_0=1.5)
    with pytest.raises(ValueError):
        tiny_sched.CosineAnnealingWarmRestarts(tiny_sgd.SGD([Parameter(np.zeros(1))], lr=0.1), T_0=1.5)


@pytest.mark.parametrize("args", [dict(total_steps=0), dict(epochs=0, steps_per_epoch=3),
                                  dict(total_steps=10, max_lr=[1.0, 1.0]), dict(total_steps=10, pct_start=1.5)])
def test_bug_one_cycle_does_not_check_its_arguments(args):
    th = torch()
    with pytest.raises(ValueError):
        th.optim.lr_scheduler.OneCycleLR(th.optim.SGD([th.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9),
                                         **{"max_lr": 1.0, **args})
    with pytest.raises(ValueError):
        tiny_sched.OneCycleLR(tiny_sgd.SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9), **{"max_lr": 1.0, **args})


def test_bug_plateau_min_lr_length():
    th = torch()
    with pytest.raises(ValueError):
        th.optim.lr_scheduler.ReduceLROnPlateau(th.optim.SGD([th.zeros(1, requires_grad=True)], lr=0.1), min_lr=[0.0, 0.0])
    with pytest.raises(ValueError):
        tiny_sched.ReduceLROnPlateau(tiny_sgd.SGD([Parameter(np.zeros(1))], lr=0.1), min_lr=[0.0, 0.0])


@pytest.mark.parametrize("name, args", [("ExponentialLR", dict(gamma=0.5)), ("CosineAnnealingLR", dict(T_max=10)),
                                        ("LinearLR", dict(start_factor=0.5, total_iters=4)),
                                        ("PolynomialLR", dict(total_iters=4, power=1.0))])
def test_bug_resume_with_last_epoch_is_one_epoch_ahead(name, args):
    th = torch()
    got = {}
    for lib, module, make in [("torch", th.optim.lr_scheduler, lambda: th.optim.SGD([th.zeros(1, requires_grad=True)], lr=0.1)),
                              ("tiny", tiny_sched, lambda: tiny_sgd.SGD([Parameter(np.zeros(1))], lr=0.1))]:
        optimizer = make()
        scheduler = getattr(module, name)(optimizer, **args)
        for _ in range(2):
            optimizer.step()
            scheduler.step()
        fresh = make()
        fresh.load_state_dict(optimizer.state_dict())
        got[lib] = getattr(module, name)(fresh, **args, last_epoch=scheduler.last_epoch).get_last_lr()
    # ExponentialLR: PyTorch 0.025 (the loaded rate), tinytorch 0.0125
    np.testing.assert_allclose(got["tiny"], got["torch"], rtol=SRTOL)


@pytest.mark.xfail(strict=True, reason="(b, a known difference) chained with another schedule, CosineAnnealingLR whose eta_min equals "
                                       "the initial lr leaves the other's rate as it is (its closed form stands still); "
                                       "PyTorch's recursive cosine pulls it to eta_min")
def test_bug_chained_cosine_with_eta_min_equal_to_the_rate():
    th = torch()
    got = {}
    for lib, module, optimizer in [("torch", th.optim.lr_scheduler, th.optim.SGD([th.zeros(1, requires_grad=True)], lr=0.001)),
                                   ("tiny", tiny_sched, tiny_sgd.SGD([Parameter(np.zeros(1))], lr=0.001))]:
        chained = module.ChainedScheduler([module.StepLR(optimizer, step_size=1, gamma=0.1),
                                           module.CosineAnnealingLR(optimizer, T_max=1, eta_min=0.001)], optimizer)
        optimizer.step()
        chained.step()
        got[lib] = chained.get_last_lr()
    np.testing.assert_allclose(got["tiny"], got["torch"], rtol=SRTOL)  # tinytorch [0.0001], PyTorch [0.001]
