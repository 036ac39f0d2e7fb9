"""PyTorch semantics of the composed and cyclic learning-rate schedules (SequentialLR,
ChainedScheduler, PolynomialLR, MultiplicativeLR, CyclicLR) and of the optimizers Rprop, ASGD
and LBFGS: the same rates, momenta and parameter trajectories as PyTorch's step by step, across
milestones and cycles, with param groups of different rates, and state_dicts that resume exactly.
"""

import numpy as np
import pytest

from gradcheck import normal, torch
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Parameter
from tinytorch.optim.adam import Adam
from tinytorch.optim.sgd import SGD


def _pair_of_parameters(th, shapes=((3, 2), (2,), (4,)), dtype=np.float64):
    start = [normal(*shape).astype(dtype) for shape in shapes]
    return [Parameter(a, dtype=dtype) for a in start], [th.tensor(a, requires_grad=True) for a in start]


def _give_gradients(tiny, ref, th):
    for p, q in zip(tiny, ref):
        g = normal(*p.shape).astype(p.data.dtype)
        p.grad, q.grad = Tensor(g, dtype=g.dtype), th.tensor(g)


def _assert_same(tiny, ref, message="", rtol=1e-10, atol=1e-12):
    for p, q in zip(tiny, ref):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=rtol, atol=atol, err_msg=message)


# ---------------------------------------------------------------------------------------
# Learning-rate schedules


def _two_groups(ps):
    return [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3}]


def _optimizers(th, tiny, ref, kind):
    if kind == "sgd":
        return SGD(_two_groups(tiny), lr=0.1, momentum=0.9), th.optim.SGD(_two_groups(ref), lr=0.1, momentum=0.9)
    return Adam(_two_groups(tiny), lr=0.1), th.optim.Adam(_two_groups(ref), lr=0.1)


def _follow(th, make, kind="sgd", epochs=30, on_epoch=None):
    """Build the schedule on both libraries' optimizers and compare every epoch's rates, momenta and
    parameters; returns both optimizers and schedulers."""
    import tinytorch.optim.lr_scheduler as ours

    tiny, ref = _pair_of_parameters(th)
    opt_tiny, opt_ref = _optimizers(th, tiny, ref, kind)
    sched_tiny, sched_ref = make(ours, opt_tiny), make(th.optim.lr_scheduler, opt_ref)
    momentum_key = "momentum" if kind == "sgd" else "betas"
    for epoch in range(epochs):
        np.testing.assert_allclose(sched_tiny.get_last_lr(), sched_ref.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"epoch {epoch}")
        np.testing.assert_allclose([g["lr"] for g in opt_tiny.param_groups], [g["lr"] for g in opt_ref.param_groups],
                                   rtol=1e-12, atol=1e-15, err_msg=f"epoch {epoch}")
        np.testing.assert_allclose([g[momentum_key] for g in opt_tiny.param_groups],
                                   [g[momentum_key] for g in opt_ref.param_groups], rtol=1e-12, err_msg=f"epoch {epoch}")
        _give_gradients(tiny, ref, th)
        opt_tiny.step()
        opt_ref.step()
        if on_epoch:
            on_epoch(epoch, opt_tiny, opt_ref)
        sched_tiny.step()
        sched_ref.step()
        _assert_same(tiny, ref, f"epoch {epoch}")
    return opt_tiny, opt_ref, sched_tiny, sched_ref


def _warmup_then_cosine(m, opt):
    return m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5),
                                m.CosineAnnealingLR(opt, T_max=12, eta_min=0.001)], milestones=[6])


SCHEDULES = {
    "warmup_then_cosine": _warmup_then_cosine,
    "sequential_three": lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt, factor=0.2, total_iters=4), m.ExponentialLR(opt, gamma=0.8),
              m.StepLR(opt, step_size=3, gamma=0.5)], milestones=[3, 9]),
    "sequential_into_polynomial": lambda m, opt: m.SequentialLR(
        opt, [m.ExponentialLR(opt, gamma=0.9), m.PolynomialLR(opt, total_iters=6, power=2.0)], milestones=[4]),
    "chained_constant_exponential": lambda m, opt: m.ChainedScheduler(
        [m.ConstantLR(opt, factor=0.1, total_iters=4), m.ExponentialLR(opt, gamma=0.9)]),
    "chained_linear_step_cosine": lambda m, opt: m.ChainedScheduler(
        [m.LinearLR(opt, start_factor=0.5, total_iters=4), m.StepLR(opt, step_size=5, gamma=0.5),
         m.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)], optimizer=opt),
    "chained_cosine_past_its_minimum": lambda m, opt: m.ChainedScheduler(  # rises again from eta_min every 2·T_max
        [m.CosineAnnealingLR(opt, T_max=4, eta_min=0.01), m.ExponentialLR(opt, gamma=0.95)]),
    "chained_multistep_polynomial": lambda m, opt: m.ChainedScheduler(
        [m.MultiStepLR(opt, milestones=[3, 8], gamma=0.5), m.PolynomialLR(opt, total_iters=20, power=0.5)]),
    "polynomial": lambda m, opt: m.PolynomialLR(opt),
    "polynomial_power": lambda m, opt: m.PolynomialLR(opt, total_iters=9, power=1.7),
    "multiplicative": lambda m, opt: m.MultiplicativeLR(opt, lambda epoch: 0.95),
    "multiplicative_per_group": lambda m, opt: m.MultiplicativeLR(
        opt, [lambda epoch: 0.9 if epoch % 2 else 1.05, lambda epoch: 1.0 / (1.0 + 0.1 * epoch)]),
    "cyclic": lambda m, opt: m.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "cyclic_triangular2_uneven": lambda m, opt: m.CyclicLR(
        opt, base_lr=[0.01, 0.02], max_lr=[0.1, 0.5], step_size_up=3, step_size_down=5, mode="triangular2",
        base_momentum=[0.7, 0.75], max_momentum=0.95),
    "cyclic_exp_range": lambda m, opt: m.CyclicLR(opt, base_lr=0.01, max_lr=0.2, step_size_up=2, mode="exp_range",
                                                  gamma=0.93),
    "cyclic_scale_fn_iterations": lambda m, opt: m.CyclicLR(
        opt, base_lr=0.05, max_lr=0.3, step_size_up=3, scale_fn=lambda x: 1.0 / (1.0 + 0.1 * x),
        scale_mode="iterations"),
    "cyclic_without_momentum": lambda m, opt: m.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                         cycle_momentum=False),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_follow_torch_with_sgd(name):
    _follow(torch(), SCHEDULES[name])


@pytest.mark.parametrize("name", ["warmup_then_cosine", "chained_constant_exponential", "cyclic",
                                  "cyclic_triangular2_uneven"])
def test_schedules_follow_torch_with_adam(name):
    """With Adam, CyclicLR cycles beta1 (and keeps beta2)."""
    _follow(torch(), SCHEDULES[name], kind="adam")


def test_two_schedulers_on_one_optimizer_compose_like_torch():
    """Without ChainedScheduler too: each chainable schedule moves the current rate by its own change."""
    _follow(torch(), lambda m, opt: _Both(m.StepLR(opt, step_size=4, gamma=0.5), m.LinearLR(opt, 0.5, total_iters=6)))


class _Both:
    """Steps two schedulers, as a training loop with two schedulers does."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def step(self):
        self.first.step()
        self.second.step()

    def get_last_lr(self):
        return self.second.get_last_lr()


@pytest.mark.parametrize("name", ["step", "cosine", "linear"])
def test_a_rate_set_by_hand_is_carried_on_like_torch(name):
    """PyTorch's recursive schedules continue from a rate changed by hand mid-training."""
    make = {"step": lambda m, opt: m.StepLR(opt, step_size=3, gamma=0.5),
            "cosine": lambda m, opt: m.CosineAnnealingLR(opt, T_max=6, eta_min=0.01),
            "linear": lambda m, opt: m.LinearLR(opt, start_factor=0.2, total_iters=8)}[name]

    def by_hand(epoch, opt_tiny, opt_ref):
        if epoch == 4:
            for opt in (opt_tiny, opt_ref):
                opt.param_groups[0]["lr"] *= 3

    _follow(torch(), make, epochs=16, on_epoch=by_hand)


def _state_round_trip(th, make, kind, epochs, split):
    """Run `split` epochs, save the scheduler's and optimizer's state_dicts (through tinytorch.save),
    load them into fresh objects, and go on: the rates equal an uninterrupted PyTorch run's."""
    import tinytorch
    import tinytorch.optim.lr_scheduler as ours

    tiny, ref = _pair_of_parameters(th)
    opt_tiny, opt_ref = _optimizers(th, tiny, ref, kind)
    sched_tiny, sched_ref = make(ours, opt_tiny), make(th.optim.lr_scheduler, opt_ref)
    for _ in range(split):
        _give_gradients(tiny, ref, th)
        for opt, sched in ((opt_tiny, sched_tiny), (opt_ref, sched_ref)):
            opt.step()
            sched.step()
    return tinytorch, ours, tiny, ref, opt_tiny, opt_ref, sched_tiny, sched_ref


@pytest.mark.parametrize("name", ["warmup_then_cosine", "sequential_three", "chained_linear_step_cosine",
                                  "polynomial_power", "multiplicative_per_group", "cyclic_triangular2_uneven",
                                  "cyclic_scale_fn_iterations"])
def test_scheduler_state_dict_resumes_exactly(name, tmp_path):
    th = torch()
    make = SCHEDULES[name]
    tinytorch, ours, tiny, ref, opt_tiny, opt_ref, sched_tiny, sched_ref = _state_round_trip(th, make, "sgd", 20, 7)
    tinytorch.save({"scheduler": sched_tiny.state_dict(), "optimizer": opt_tiny.state_dict()}, tmp_path / "ckpt")
    saved = tinytorch.load(tmp_path / "ckpt")
    assert "optimizer" not in saved["scheduler"]
    # a fresh optimizer and scheduler (built as at the start), then the saved state
    fresh = _optimizers(th, tiny, ref, "sgd")[0]
    resumed = make(ours, fresh)
    fresh.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["scheduler"])
    assert resumed.get_last_lr() == pytest.approx(sched_ref.get_last_lr(), rel=1e-12)
    for epoch in range(13):
        _give_gradients(tiny, ref, th)
        fresh.step()
        opt_ref.step()
        resumed.step()
        sched_ref.step()
        np.testing.assert_allclose(resumed.get_last_lr(), sched_ref.get_last_lr(), rtol=1e-12, err_msg=str(epoch))
        np.testing.assert_allclose([g["lr"] for g in fresh.param_groups], sched_ref.get_last_lr(), rtol=1e-12)
        _assert_same(tiny, ref, f"epoch {epoch}")


def test_schedule_lists_keep_each_schedulers_state():
    import tinytorch.optim.lr_scheduler as ours

    opt = SGD([Parameter(np.zeros(2))], lr=1.0)
    seq = _warmup_then_cosine(ours, opt)
    for _ in range(8):
        seq.step()
    state = seq.state_dict()
    assert state["last_epoch"] == 8 and state["_milestones"] == [6]
    assert [s["last_epoch"] for s in state["_schedulers"]] == [5, 2]  # the cosine restarted at epoch 6
    assert all("optimizer" not in s for s in state["_schedulers"])


def test_schedule_lists_and_cyclic_refuse_what_torch_refuses():
    import tinytorch.optim.lr_scheduler as ours
    from tinytorch.optim.adam import Adagrad

    opt, other = SGD([Parameter(np.zeros(2))], lr=1.0), SGD([Parameter(np.zeros(2))], lr=1.0)
    a, b = ours.ExponentialLR(opt, gamma=0.9), ours.StepLR(other, step_size=2)
    with pytest.raises(ValueError, match="milestone"):
        ours.SequentialLR(opt, [a, ours.ExponentialLR(opt, gamma=0.5)], milestones=[2, 4])
    with pytest.raises(ValueError, match="same optimizer"):
        ours.SequentialLR(opt, [a, b], milestones=[2])
    with pytest.raises(ValueError, match="same optimizer"):
        ours.ChainedScheduler([a, b])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ours.ChainedScheduler([a, ours.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="at least one"):
        ours.ChainedScheduler([])
    with pytest.raises(ValueError, match="mode"):
        ours.CyclicLR(opt, base_lr=0.1, max_lr=1.0, mode="sawtooth")
    with pytest.raises(ValueError, match="momentum"):
        ours.CyclicLR(Adagrad([Parameter(np.zeros(2))]), base_lr=0.1, max_lr=1.0)
    with pytest.raises(ValueError, match="param group"):
        ours.CyclicLR(opt, base_lr=[0.1, 0.2], max_lr=1.0)
    ours.CyclicLR(Adagrad([Parameter(np.zeros(2))]), base_lr=0.1, max_lr=1.0, cycle_momentum=False)


# ---------------------------------------------------------------------------------------
# Rprop and ASGD


def _optimizer_classes():
    from tinytorch.optim.adam import ASGD, LBFGS, Rprop

    return {"Rprop": Rprop, "ASGD": ASGD, "LBFGS": LBFGS}


def _steps(th, name, options, dtype, steps=10, skip_at=3):
    """Both optimizers from the same start; gradients drawn anew each step (parameter 1 has none at
    step skip_at); parameters compared after every step."""
    tiny, ref = _pair_of_parameters(th, dtype=dtype)
    opt_tiny = _optimizer_classes()[name](tiny, **options)
    opt_ref = getattr(th.optim, name)(ref, **options)
    tight = dtype == np.float64
    for step in range(steps):
        _give_gradients(tiny, ref, th)
        if step == skip_at:
            tiny[1].grad, ref[1].grad = None, None
        opt_tiny.step()
        opt_ref.step()
        _assert_same(tiny, ref, f"step {step}", rtol=1e-10 if tight else 2e-6, atol=1e-12 if tight else 1e-6)
        assert all(p.data.dtype == dtype for p in tiny), "the parameters keep their dtype"
    return tiny, ref, opt_tiny, opt_ref


FIRST_ORDER = [
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.08)}),  # both bounds are reached
    ("Rprop", {"lr": 0.02, "maximize": True, "foreach": False}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 3, "weight_decay": 0.1}),  # averaging from step 4
    ("ASGD", {"lr": 0.1, "lambd": 0.1, "t0": 0, "maximize": True, "foreach": None}),
]
FIRST_ORDER_IDS = ["rprop", "rprop_options", "rprop_maximize", "asgd", "asgd_options", "asgd_maximize"]


@pytest.mark.parametrize("name, options", FIRST_ORDER, ids=FIRST_ORDER_IDS)
def test_rprop_and_asgd_follow_torch(name, options):
    th = torch()
    tiny, ref, opt_tiny, opt_ref = _steps(th, name, options, np.float64)
    for index, state in opt_ref.state_dict()["state"].items():
        ours = opt_tiny.state_dict()["state"][index]
        assert set(ours) == set(state), index
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(ours[key], dtype=np.float64), np.asarray(value, dtype=np.float64),
                                       rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name, options", FIRST_ORDER[::2], ids=FIRST_ORDER_IDS[::2])
def test_rprop_and_asgd_keep_float32_and_follow_torch_in_float32(name, options):
    th = torch()
    tiny, _, opt_tiny, _ = _steps(th, name, options, np.float32)
    for state in opt_tiny.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_asgd_averages_like_torch_and_follows_a_schedule():
    """ASGD's rate eta decays from the group's current lr: a scheduler reaches it from the next step."""
    th = torch()
    import tinytorch.optim.lr_scheduler as ours

    tiny, ref = _pair_of_parameters(th)
    options = {"lr": 0.1, "lambd": 0.05, "t0": 2}
    opt_tiny, opt_ref = _optimizer_classes()["ASGD"](tiny, **options), th.optim.ASGD(ref, **options)
    sched_tiny, sched_ref = ours.ExponentialLR(opt_tiny, gamma=0.7), th.optim.lr_scheduler.ExponentialLR(opt_ref, 0.7)
    for step in range(8):
        _give_gradients(tiny, ref, th)
        opt_tiny.step()
        opt_ref.step()
        sched_tiny.step()
        sched_ref.step()
        _assert_same(tiny, ref, f"step {step}")
        for p, q in zip(tiny, ref):
            np.testing.assert_allclose(opt_tiny.state[id(p)]["ax"], opt_ref.state[q]["ax"].numpy(), rtol=1e-10)
    assert not np.allclose(opt_tiny.state[id(tiny[0])]["ax"], tiny[0].data), "the average differs from the iterate"


@pytest.mark.parametrize("name, options", FIRST_ORDER[:2] + FIRST_ORDER[3:5], ids=FIRST_ORDER_IDS[:2] + FIRST_ORDER_IDS[3:5])
def test_rprop_and_asgd_state_dict_resumes_exactly(name, options, tmp_path):
    import tinytorch

    th = torch()
    tiny, ref, opt_tiny, opt_ref = _steps(th, name, options, np.float64, steps=5)
    saved, torch_saved = opt_tiny.state_dict(), opt_ref.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in torch_saved["param_groups"]]
    assert set(saved["param_groups"][0]) <= set(torch_saved["param_groups"][0])
    tinytorch.save(saved, tmp_path / "optimizer")
    resumed = _optimizer_classes()[name](tiny, lr=1.0)
    resumed.load_state_dict(tinytorch.load(tmp_path / "optimizer"))
    for step in range(5):
        _give_gradients(tiny, ref, th)
        resumed.step()
        opt_ref.step()
        _assert_same(tiny, ref, f"step {step} after the load")
    with pytest.raises(ValueError):
        _optimizer_classes()[name](tiny[:2]).load_state_dict(saved)


def test_rprop_asgd_and_lbfgs_refuse_what_they_cannot_do():
    classes = _optimizer_classes()
    params = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="etas"):
        classes["Rprop"](params, etas=(1.2, 0.5))
    with pytest.raises(ValueError):
        classes["ASGD"](params, lr=-1.0)
    for name in ("Rprop", "ASGD"):
        with pytest.raises(NotImplementedError, match="capturable"):
            classes[name](params, capturable=True)
        with pytest.raises(TypeError):
            classes[name](params, bogus=1)
    with pytest.raises(TypeError):
        classes["LBFGS"](params, foreach=True)  # PyTorch's LBFGS has no such switches either
    with pytest.raises(TypeError):
        classes["LBFGS"](params, maximize=True)
    for search in ("strong_wolfe", "armijo"):  # tinytorch's L-BFGS takes the fixed step only
        with pytest.raises(NotImplementedError, match="line_search_fn"):
            classes["LBFGS"](params, line_search_fn=search)
    with pytest.raises(ValueError, match="parameter groups"):
        classes["LBFGS"]([{"params": params}, {"params": [Parameter(np.zeros(1))]}])
    opt = classes["LBFGS"](params)
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [Parameter(np.zeros(1))]})


# ---------------------------------------------------------------------------------------
# L-BFGS


def _problem(th, dtype):
    """A small non-convex regression (a tanh layer), the same data and start for both libraries."""
    draw = np.random.default_rng(7).normal  # its own numbers, whatever ran before
    x, y = draw(size=(24, 3)).astype(dtype), draw(size=(24, 2)).astype(dtype)
    start = [(draw(size=(3, 4)) * 0.5).astype(dtype), (draw(size=(4, 2)) * 0.5).astype(dtype), np.zeros(2, dtype)]
    tiny = [Parameter(a, dtype=dtype) for a in start]
    ref = [th.tensor(a, requires_grad=True) for a in start]

    def tiny_loss():
        w1, w2, b = tiny
        hidden = (Tensor(x, dtype=dtype) @ w1).tanh()
        return ((hidden @ w2 + b - Tensor(y, dtype=dtype)) ** 2).mean() + (w1 * w1).sum() * 0.1

    def ref_loss():
        w1, w2, b = ref
        hidden = (th.tensor(x) @ w1).tanh()
        return ((hidden @ w2 + b - th.tensor(y)) ** 2).mean() + (w1 * w1).sum() * 0.1

    return tiny, ref, tiny_loss, ref_loss


def _closure(opt, loss_fn, calls):
    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss
    return closure


# (options, steps): near the minimum the gradient differences that L-BFGS learns from are mostly
# rounding, which it then amplifies (about 100-fold per 20 iterations here, in both libraries alike),
# so the runs of 20 iterations per step compare two steps and the short ones four
LBFGS_OPTIONS = [
    ({}, 2),
    ({"lr": 0.5, "max_iter": 4, "history_size": 3}, 4),  # the history is full and shifts
    ({"max_iter": 6, "history_size": 2, "max_eval": 4}, 4),  # stops when its evaluations run out
    ({"tolerance_change": 1e-3, "max_iter": 30}, 4),  # stops early for lack of progress
    ({"lr": 0.05, "max_iter": 5, "tolerance_grad": 0.5}, 3),  # stops at a gradient this small
]
LBFGS_IDS = ["fixed_step", "short_history", "max_eval", "tolerance_change", "tolerance_grad"]


def _lbfgs_pair(th, options, dtype=np.float64):
    tiny, ref, tiny_loss, ref_loss = _problem(th, dtype)
    opt_tiny, opt_ref = _optimizer_classes()["LBFGS"](tiny, **options), th.optim.LBFGS(ref, **options)
    calls_tiny, calls_ref = [], []
    return (tiny, ref, opt_tiny, opt_ref, _closure(opt_tiny, tiny_loss, calls_tiny),
            _closure(opt_ref, ref_loss, calls_ref), calls_tiny, calls_ref)


@pytest.mark.parametrize("options, steps", LBFGS_OPTIONS, ids=LBFGS_IDS)
def test_lbfgs_follows_torch(options, steps):
    th = torch()
    tiny, ref, opt_tiny, opt_ref, closure_tiny, closure_ref, calls_tiny, calls_ref = _lbfgs_pair(th, options)
    losses = []
    for step in range(steps):
        loss_tiny, loss_ref = opt_tiny.step(closure_tiny), opt_ref.step(closure_ref)
        losses.append(loss_tiny.item())
        assert np.isclose(loss_tiny.item(), loss_ref.item(), rtol=1e-9), step
        _assert_same(tiny, ref, f"step {step}", rtol=1e-8, atol=1e-10)
        assert len(calls_tiny) == len(calls_ref), "as many closure evaluations as PyTorch"
    ours, theirs = opt_tiny.state[id(tiny[0])], opt_ref.state[ref[0]]
    assert (ours["n_iter"], ours["func_evals"]) == (theirs["n_iter"], theirs["func_evals"])
    assert len(ours["steps"]) == len(theirs["old_dirs"]), "as many curvature pairs kept"
    assert losses[-1] < losses[0]


def test_lbfgs_keeps_float32_and_follows_torch_in_float32():
    th = torch()
    options = {"max_iter": 5}
    tiny, ref, opt_tiny, opt_ref, closure_tiny, closure_ref, _, _ = _lbfgs_pair(th, options, np.float32)
    for step in range(2):
        opt_tiny.step(closure_tiny)
        opt_ref.step(closure_ref)
        _assert_same(tiny, ref, f"step {step}", rtol=1e-4, atol=1e-5)
    assert all(p.data.dtype == np.float32 for p in tiny)
    assert opt_tiny.state[id(tiny[0])]["direction"].dtype == np.float32


def test_lbfgs_state_dict_resumes_exactly(tmp_path):
    import tinytorch

    th = torch()
    options = {"max_iter": 3, "history_size": 4}
    tiny, ref, opt_tiny, opt_ref, closure_tiny, closure_ref, _, _ = _lbfgs_pair(th, options)
    for _ in range(2):
        opt_tiny.step(closure_tiny)
        opt_ref.step(closure_ref)
    saved = opt_tiny.state_dict()
    assert list(saved["state"]) == [0] and list(opt_ref.state_dict()["state"]) == [0]
    tinytorch.save(saved, tmp_path / "lbfgs")
    resumed = _optimizer_classes()["LBFGS"](tiny, lr=0.1)
    resumed.load_state_dict(tinytorch.load(tmp_path / "lbfgs"))
    assert resumed.param_groups[0]["max_iter"] == 3 and resumed.param_groups[0]["lr"] == 1
    closure = _closure(resumed, closure_tiny.__closure__[1].cell_contents, [])
    for step in range(2):
        resumed.step(closure)
        opt_ref.step(closure_ref)
        _assert_same(tiny, ref, f"step {step} after the load", rtol=1e-8, atol=1e-10)


def test_lbfgs_stops_at_once_at_a_minimum():
    from tinytorch.optim.adam import LBFGS

    w = Parameter(np.zeros(2))
    opt = LBFGS([w])
    calls = []
    loss = opt.step(_closure(opt, lambda: (w * w).sum(), calls))
    assert loss.item() == 0.0 and calls == [1] and np.array_equal(w.data, [0.0, 0.0])
