"""PyTorch semantics of tinytorch.optim, tinytorch.optim.lr_scheduler, tinytorch.nn.utils
and tinytorch.data (issue 11): param_groups, optimizer state_dict, Nesterov, schedulers,
gradient clipping, Dataset / random_split / collate_fn — trajectories equal PyTorch's.
"""

import math
import zipfile
from collections import namedtuple

import numpy as np
import pytest

from gradcheck import normal, torch
from tinytorch.core.tensor import Tensor
from tinytorch.data.loader import (
    ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split,
)
from tinytorch.nn.modules import Parameter
from tinytorch.nn.utils import clip_grad_norm_, clip_grad_value_
from tinytorch.optim.adam import Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop
from tinytorch.optim.lr_scheduler import CosineAnnealingLR, StepLR
from tinytorch.optim.sgd import SGD


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam, Adadelta)}


def _pair_of_parameters(th, shapes=((3, 2), (2,), (4,))):
    start = [normal(*shape) for shape in shapes]
    return [Parameter(a, dtype=np.float64) for a in start], [th.tensor(a, requires_grad=True) for a in start]


def _give_gradients(tiny, ref, th, skip=None):
    for k, (p, q) in enumerate(zip(tiny, ref)):
        if k == skip:
            p.grad, q.grad = None, None
            continue
        g = normal(*p.shape)
        p.grad, q.grad = Tensor(g, dtype=np.float64), th.tensor(g)


def _assert_same(tiny, ref, message=""):
    for p, q in zip(tiny, ref):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=message)


def _run(opt_tiny, opt_ref, tiny, ref, th, steps, on_step=None):
    for step in range(steps):
        _give_gradients(tiny, ref, th, skip=1 if step == 2 else None)
        opt_tiny.step()
        opt_ref.step()
        if on_step:
            on_step(step)
        _assert_same(tiny, ref, f"step {step}")


# ---------------------------------------------------------------------------------------
# SGD: Nesterov, dampening


@pytest.mark.parametrize("options", [
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    {"momentum": 0.9, "dampening": 0.5},
])
def test_sgd_variants_follow_torch(options):
    th = torch()
    tiny, ref = _pair_of_parameters(th)
    _run(SGD(tiny, lr=0.05, **options), th.optim.SGD(ref, lr=0.05, **options), tiny, ref, th, steps=7)


def test_sgd_refuses_what_torch_refuses():
    p = [Parameter(np.zeros(2))]
    for options in ({"nesterov": True}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}):
        with pytest.raises(ValueError, match="Nesterov"):
            SGD(p, lr=0.1, **options)


# ---------------------------------------------------------------------------------------
# param_groups


@pytest.mark.parametrize("make", ["sgd", "adam", "adamw"])
def test_param_groups_follow_torch_and_lr_can_change_mid_training(make):
    th = torch()
    tiny, ref = _pair_of_parameters(th)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.1, "weight_decay": 0.05}, {"params": [ps[2]]}]  # noqa: E731
    build = {
        "sgd": (lambda ps: SGD(groups(ps), lr=0.01, momentum=0.9), lambda ps: th.optim.SGD(groups(ps), lr=0.01, momentum=0.9)),
        "adam": (lambda ps: Adam(groups(ps), lr=0.01), lambda ps: th.optim.Adam(groups(ps), lr=0.01)),
        "adamw": (lambda ps: AdamW(groups(ps), lr=0.01), lambda ps: th.optim.AdamW(groups(ps), lr=0.01)),
    }[make]
    opt_tiny, opt_ref = build[0](tiny), build[1](ref)
    assert len(opt_tiny.param_groups) == 2
    for ours, theirs in zip(opt_tiny.param_groups, opt_ref.param_groups):
        for key in ("lr", "weight_decay"):
            assert ours[key] == theirs[key], key

    def change_lr(step):
        if step == 3:
            for opt in (opt_tiny, opt_ref):
                opt.param_groups[0]["lr"] = 0.02
                opt.param_groups[1]["lr"] *= 3

    _run(opt_tiny, opt_ref, tiny, ref, th, steps=7, on_step=change_lr)


def test_param_group_rules():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = SGD([{"params": a}], lr=0.3)  # one tensor is a group of one
    opt.add_param_group({"params": [b], "momentum": 0.5})
    assert [g["params"] for g in opt.param_groups] == [[a], [b]]
    assert opt.param_groups[1]["lr"] == 0.3 and opt.param_groups[1]["momentum"] == 0.5
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(AttributeError, match="param_groups"):
        opt.lr = 0.1
    with pytest.raises(AttributeError):
        opt.lr  # PyTorch's optimizers have no .lr either
    assert opt.defaults["lr"] == 0.3


@pytest.mark.parametrize("name, options", [
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.8, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.02, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.3}),
    ("Adamax", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05}),  # plain momentum for 5 steps, then rectified Adam
    ("RAdam", {"lr": 0.05, "betas": (0.9, 0.9), "weight_decay": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
], ids=["rmsprop", "rmsprop_momentum_decay", "rmsprop_centered", "adagrad", "adagrad_decays", "adamax", "adamax_options",
        "nadam", "nadam_options", "radam", "radam_options", "adadelta", "adadelta_options"])
def test_more_optimizers_follow_torch(name, options):
    th = torch()
    tiny, ref = _pair_of_parameters(th)
    _run(OPTIMIZERS[name](tiny, **options), getattr(th.optim, name)(ref, **options), tiny, ref, th, steps=8)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_maximize_and_closure_follow_torch(name):
    th = torch()
    options = {"lr": 0.05, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.05}
    tiny, ref = _pair_of_parameters(th)
    opt_tiny = OPTIMIZERS[name](tiny, maximize=True, foreach=None, **options)
    opt_ref = getattr(th.optim, name)(ref, maximize=True, **options)
    assert opt_tiny.param_groups[0]["maximize"] is True
    _run(opt_tiny, opt_ref, tiny, ref, th, steps=4)  # ascends, as PyTorch's
    grads = [None if p.grad is None else p.grad.data.copy() for p in tiny]
    opt_tiny.step()
    assert all(g is None or np.array_equal(p.grad.data, g) for p, g in zip(tiny, grads)), ".grad is left as it was"

    calls = []

    def closure():
        calls.append(1)
        opt_tiny.zero_grad()
        loss = sum((p * p).sum() for p in tiny)
        loss.backward()
        return loss

    before = sum(float((q.data ** 2).sum()) for q in tiny)
    loss = opt_tiny.step(closure)
    assert calls == [1] and np.isclose(loss.item(), before), "step(closure) evaluates the closure first and returns its loss"


def test_optimizer_switches_pytorch_has_but_tinytorch_cannot_honour_are_refused():
    params = [Parameter(np.zeros(2))]
    SGD(params, lr=0.1, foreach=True, fused=False)  # kernel choices: accepted, nothing changes
    with pytest.raises(NotImplementedError, match="capturable"):
        Adam(params, capturable=True)
    with pytest.raises(NotImplementedError, match="amsgrad"):
        AdamW(params, amsgrad=True)
    with pytest.raises(TypeError):
        SGD(params, lr=0.1, bogus=1)


# ---------------------------------------------------------------------------------------
# Optimizer state_dict


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_state_dict_resumes_exactly_and_has_torchs_layout(name):
    th = torch()
    options = {"lr": 0.05, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.05}
    ours_cls = OPTIMIZERS[name]
    tiny, ref = _pair_of_parameters(th)
    opt_tiny, opt_ref = ours_cls(tiny, **options), getattr(th.optim, name)(ref, **options)
    _run(opt_tiny, opt_ref, tiny, ref, th, steps=3)
    saved, torch_saved = opt_tiny.state_dict(), opt_ref.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert sorted(saved["state"]) == sorted(torch_saved["state"])
    for index, state in torch_saved["state"].items():
        assert set(saved["state"][index]) == set(state), index
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(saved["state"][index][key], dtype=np.float64),
                                       np.asarray(value, dtype=np.float64), rtol=1e-10, err_msg=key)
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in torch_saved["param_groups"]]
    assert set(saved["param_groups"][0]) <= set(torch_saved["param_groups"][0])
    # a fresh optimizer loaded from the state dict continues exactly like the original
    resumed = ours_cls(tiny, lr=1.0)
    resumed.load_state_dict(saved)
    saved["state"][0][next(iter(saved["state"][0]))] = None  # the load copied, it does not alias
    _run(resumed, opt_ref, tiny, ref, th, steps=4)
    with pytest.raises(ValueError):
        ours_cls(tiny[:2], lr=0.1).load_state_dict(opt_tiny.state_dict())


# ---------------------------------------------------------------------------------------
# Learning-rate schedulers


@pytest.mark.parametrize("make", [
    lambda m, opt: m.StepLR(opt, step_size=3, gamma=0.5),
    lambda m, opt: m.StepLR(opt, step_size=1),
    lambda m, opt: m.CosineAnnealingLR(opt, T_max=6),
    lambda m, opt: m.CosineAnnealingLR(opt, T_max=5, eta_min=0.01),
    lambda m, opt: m.ExponentialLR(opt, gamma=0.8),
    lambda m, opt: m.MultiStepLR(opt, milestones=[7, 2, 4], gamma=0.5),
    lambda m, opt: m.LinearLR(opt, start_factor=0.25, end_factor=0.9, total_iters=6),
    lambda m, opt: m.LambdaLR(opt, lambda epoch: 0.9 ** epoch + 0.1),
    lambda m, opt: m.LambdaLR(opt, [lambda epoch: 1.0 / (1 + epoch), lambda epoch: 0.5]),
    lambda m, opt: m.ConstantLR(opt, factor=0.5, total_iters=4),
    lambda m, opt: m.CosineAnnealingWarmRestarts(opt, T_0=3),
    lambda m, opt: m.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.01),
    lambda m, opt: m.OneCycleLR(opt, max_lr=[0.5, 0.2], total_steps=16),
    lambda m, opt: m.OneCycleLR(opt, max_lr=0.4, epochs=4, steps_per_epoch=4, pct_start=0.25, anneal_strategy="linear",
                                three_phase=True, div_factor=10.0),
], ids=["step3", "step1", "cosine", "cosine_eta_min", "exponential", "multistep", "linear", "lambda", "lambda_per_group",
        "constant", "warm_restarts", "warm_restarts_t_mult", "one_cycle", "one_cycle_three_phase_linear"])
def test_schedulers_follow_torch(make):
    th = torch()
    import tinytorch.optim.lr_scheduler as ours_schedulers

    tiny, ref = _pair_of_parameters(th)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3}]  # noqa: E731
    opt_tiny, opt_ref = SGD(groups(tiny), lr=0.1, momentum=0.9), th.optim.SGD(groups(ref), lr=0.1, momentum=0.9)
    sched_tiny, sched_ref = make(ours_schedulers, opt_tiny), make(th.optim.lr_scheduler, opt_ref)
    for epoch in range(16):  # past T_max: the cosine comes back up, in both
        np.testing.assert_allclose(sched_tiny.get_last_lr(), sched_ref.get_last_lr(), rtol=1e-12, err_msg=str(epoch))
        _give_gradients(tiny, ref, th)
        opt_tiny.step()
        opt_ref.step()
        sched_tiny.step()
        sched_ref.step()
        _assert_same(tiny, ref, f"epoch {epoch}")
    assert [g["initial_lr"] for g in opt_tiny.param_groups] == [g["initial_lr"] for g in opt_ref.param_groups]
    assert [g["momentum"] for g in opt_tiny.param_groups] == pytest.approx([g["momentum"] for g in opt_ref.param_groups])


def test_one_cycle_cycles_adams_beta1_like_torch_and_stops_at_total_steps():
    th = torch()
    import tinytorch.optim.lr_scheduler as ours_schedulers

    tiny, ref = _pair_of_parameters(th)
    opt_tiny, opt_ref = Adam(tiny, lr=0.1), th.optim.Adam(ref, lr=0.1)
    sched_tiny = ours_schedulers.OneCycleLR(opt_tiny, max_lr=0.05, total_steps=10, pct_start=0.4)
    sched_ref = th.optim.lr_scheduler.OneCycleLR(opt_ref, max_lr=0.05, total_steps=10, pct_start=0.4)
    for step in range(10):
        assert opt_tiny.param_groups[0]["betas"] == pytest.approx(opt_ref.param_groups[0]["betas"]), step
        _give_gradients(tiny, ref, th)
        opt_tiny.step()
        opt_ref.step()
        sched_tiny.step()
        sched_ref.step()
        _assert_same(tiny, ref, f"step {step}")
    with pytest.raises(ValueError, match="total_steps"):
        sched_tiny.step()
    with pytest.raises(ValueError, match="total_steps"):
        ours_schedulers.OneCycleLR(opt_tiny, max_lr=0.1)


@pytest.mark.parametrize("options", [{}, {"mode": "max", "patience": 1, "factor": 0.5},
                                     {"patience": 1, "cooldown": 2, "min_lr": 0.002, "threshold_mode": "abs",
                                      "threshold": 0.05}])
def test_reduce_lr_on_plateau_follows_torch(options):
    th = torch()
    import tinytorch.optim.lr_scheduler as ours_schedulers

    tiny, ref = _pair_of_parameters(th)
    opt_tiny, opt_ref = SGD(tiny, lr=0.1), th.optim.SGD(ref, lr=0.1)
    sched_tiny = ours_schedulers.ReduceLROnPlateau(opt_tiny, **options)
    sched_ref = th.optim.lr_scheduler.ReduceLROnPlateau(opt_ref, **options)
    metrics = [1.0, 0.9, 0.95, 0.9, 0.89999, 0.91, 0.5, 0.6, 0.6, 0.6, 0.7, -0.2, -0.1, -0.1, 0.3] * 2
    for epoch, metric in enumerate(metrics):
        sched_tiny.step(metric)
        sched_ref.step(metric)
        assert sched_tiny.get_last_lr() == pytest.approx(sched_ref.get_last_lr(), rel=1e-12), epoch
        assert sched_tiny.num_bad_epochs == sched_ref.num_bad_epochs, epoch
    assert sched_tiny.get_last_lr() != [0.1] or options.get("mode") == "max", "the lr was reduced at least once"


def test_scheduler_hand_values_and_state():
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=2)
    assert sched.get_last_lr() == [1.0]
    sched.step()
    assert np.isclose(sched.get_last_lr()[0], 0.5) and np.isclose(opt.param_groups[0]["lr"], 0.5)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 1
    other = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=1)
    other.load_state_dict({"last_epoch": 4})
    assert other.last_epoch == 4


# ---------------------------------------------------------------------------------------
# Gradient clipping


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    th = torch()
    tiny, ref = _pair_of_parameters(th)
    _give_gradients(tiny, ref, th, skip=1)  # a parameter without a gradient is skipped
    total = clip_grad_norm_(tiny, max_norm, norm_type=norm_type)
    ref_total = th.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and np.isclose(total.item(), ref_total.item(), rtol=1e-10)
    for p, q in zip(tiny, ref):
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-10)


def test_clip_grad_value_and_nonfinite():
    th = torch()
    tiny, ref = _pair_of_parameters(th)
    _give_gradients(tiny, ref, th)
    clip_grad_value_(tiny, 0.3)
    th.nn.utils.clip_grad_value_(ref, 0.3)
    for p, q in zip(tiny, ref):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy())
    tiny[0].grad.data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(tiny, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([Parameter(np.zeros(2))], 1.0).item() == 0.0


# ---------------------------------------------------------------------------------------
# Data: Dataset, random_split, collate_fn


@pytest.mark.filterwarnings("ignore:Length of split")
@pytest.mark.parametrize("n, lengths", [
    (10, [0.7, 0.3]), (11, [0.5, 0.5]), (7, [0.34, 0.33, 0.33]), (10, [0.1, 0.2, 0.3, 0.4]), (9, [3, 6]),
    (5, [0.0, 1.0]),
])
def test_random_split_lengths_follow_torch(n, lengths):
    th = torch()
    ours = random_split(TensorDataset(np.arange(n)), lengths, generator=0)
    theirs = th.utils.data.random_split(range(n), lengths, generator=th.Generator().manual_seed(0))
    assert [len(part) for part in ours] == [len(part) for part in theirs]
    items = sorted(int(part[i][0].item()) for part in ours for i in range(len(part)))
    assert items == list(range(n)), "disjoint parts that cover the dataset"
    assert all(isinstance(part, Subset) for part in ours)


def test_random_split_is_reproducible_and_checked():
    ds = TensorDataset(np.arange(20))
    order = lambda parts: [int(parts[0][i][0].item()) for i in range(len(parts[0]))]  # noqa: E731
    assert order(random_split(ds, [15, 5], generator=3)) == order(random_split(ds, [15, 5], generator=np.random.default_rng(3)))
    np.random.seed(1)
    first = order(random_split(ds, [15, 5]))
    np.random.seed(1)
    assert order(random_split(ds, [15, 5])) == first, "without a generator: NumPy's global seed"
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [10, 5])


def test_dataset_base_class_and_subset():
    class Squares(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return np.float64(i), i * i

    ds = Squares()
    part = Subset(ds, [5, 0, 3])
    assert len(part) == 3 and part[0] == (5.0, 25) and part[-1] == (3.0, 9)
    x, y = next(iter(DataLoader(part, batch_size=3)))
    assert x.data.tolist() == [5.0, 0.0, 3.0] and y.data.tolist() == [25, 0, 9] and y.dtype == np.int64
    with pytest.raises(NotImplementedError):
        len(Dataset())


def test_default_collate_structures_like_torch():
    th = torch()
    Point = namedtuple("Point", "x y")
    batch = [{"image": np.full((2, 2), i, dtype=np.float32), "label": i, "name": f"n{i}", "pair": (i, [i, 2 * i])}
             for i in range(3)]
    ours, theirs = default_collate(batch), th.utils.data.default_collate(batch)
    assert set(ours) == set(theirs)
    np.testing.assert_array_equal(ours["image"].data, theirs["image"].numpy())
    np.testing.assert_array_equal(ours["label"].data, theirs["label"].numpy())
    assert ours["label"].dtype == np.int64 and ours["name"] == theirs["name"] == ["n0", "n1", "n2"]
    np.testing.assert_array_equal(ours["pair"][1][1].data, theirs["pair"][1][1].numpy())
    points = default_collate([Point(1.0, 2), Point(3.0, 4)])
    assert isinstance(points, Point) and points.x.data.tolist() == [1.0, 3.0] and points.y.data.tolist() == [2, 4]
    stacked = default_collate([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])])
    assert stacked.shape == (2, 2)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_dataloader_collate_fn_and_drop_last():
    ds = TensorDataset(np.arange(10.0), np.arange(10))
    seen = []

    def collate(examples):
        seen.append(len(examples))
        xs, ys = zip(*examples)
        return sum(float(x.item()) for x in xs), [int(y.item()) for y in ys]

    batches = list(DataLoader(ds, batch_size=4, collate_fn=collate, drop_last=True))
    assert seen == [4, 4] and batches[0] == (6.0, [0, 1, 2, 3])
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2 and len(DataLoader(ds, batch_size=4)) == 3
    g = np.random.default_rng(5)
    a = [b[1].data.tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g)]
    b = [b[1].data.tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, seed=5)]
    assert a == b, "generator= (PyTorch's name) or seed="


def test_dataloader_takes_torchs_loading_options_and_concat_dataset_matches_torch():
    th = torch()
    ds = TensorDataset(np.arange(10.0), np.arange(10))
    loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=2, pin_memory=True, persistent_workers=False)
    assert [b[1].data.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], "loaded in this process"
    assert [b[1].data.tolist() for b in DataLoader(ds, sampler=[3, 1])] == [[3], [1]], "any iterable of indices"
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    parts = [TensorDataset(np.arange(3.0)), TensorDataset(np.arange(10.0, 12.0)), TensorDataset(np.arange(20.0, 24.0))]
    theirs = th.utils.data.ConcatDataset([th.utils.data.TensorDataset(th.tensor(p.arrays[0])) for p in parts])
    ours = ConcatDataset(parts)
    assert len(ours) == len(theirs) and ours.cumulative_sizes == theirs.cumulative_sizes
    for index in list(range(len(ours))) + [-1, -9]:
        assert ours[index][0].item() == theirs[index][0].item(), index
    with pytest.raises(IndexError):
        ours[9]
    assert [b[0].data.tolist() for b in DataLoader(ours, batch_size=4)] == [[0, 1, 2, 10], [11, 20, 21, 22], [23]]


def test_save_and_load_round_trip_state_dicts_without_pickle(tmp_path):
    """tinytorch.save / load: a model's and an optimizer's state_dict (nested, int keys, tuples,
    float32 numbers) come back equal; the file is an .npz at exactly the given path."""
    import tinytorch
    from tinytorch.nn.modules import Linear, ReLU, Sequential

    np.random.seed(0)
    model = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    optimizer = NAdam(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        model(Tensor(np.random.randn(5, 4))).sum().backward()
        optimizer.step()
    path = tmp_path / "checkpoint.pt"
    tinytorch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
                    "history": [0.5, float("nan")], "note": None}, path)
    assert path.exists() and not (tmp_path / "checkpoint.pt.npz").exists()
    assert zipfile.is_zipfile(path) and all(name.endswith(".npy") for name in zipfile.ZipFile(path).namelist())
    loaded = tinytorch.load(path, map_location="cpu")
    assert loaded["epoch"] == 3 and loaded["note"] is None and math.isnan(loaded["history"][1])
    fresh = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    fresh.load_state_dict(loaded["model"])
    x = Tensor(np.random.randn(2, 4))
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    resumed = NAdam(fresh.parameters(), lr=0.5)
    resumed.load_state_dict(loaded["optimizer"])
    saved = optimizer.state_dict()
    assert resumed.state_dict()["param_groups"] == saved["param_groups"]  # betas stay a tuple, lr comes back
    state = loaded["optimizer"]["state"]
    assert sorted(state) == sorted(saved["state"]) and isinstance(state[0]["mu_product"], np.float32)
    for _ in range(2):  # both continue identically
        for opt, net in ((optimizer, model), (resumed, fresh)):
            opt.zero_grad()
            np.random.seed(1)
            net(Tensor(np.random.randn(5, 4))).sum().backward()
            opt.step()
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    tinytorch.save(Tensor(np.arange(3.0), dtype=np.float64), tmp_path / "tensor.bin")
    back = tinytorch.load(tmp_path / "tensor.bin")
    assert isinstance(back, Tensor) and back.dtype == np.float64 and back.data.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="no pickle"):
        tinytorch.save({"f": len}, tmp_path / "bad.pt")
    (tmp_path / "not.pt").write_bytes(b"\x80\x04pickled")
    with pytest.raises(ValueError, match="not a file written by tinytorch.save"):
        tinytorch.load(tmp_path / "not.pt")


def test_data_names_are_also_where_pytorch_keeps_them():
    import tinytorch
    import tinytorch.data
    from tinytorch.utils.data import DataLoader, TensorDataset, random_split

    assert DataLoader is tinytorch.data.DataLoader and TensorDataset is tinytorch.data.TensorDataset
    assert random_split is tinytorch.data.random_split and tinytorch.utils.data.Dataset is tinytorch.data.Dataset
    assert set(tinytorch.data.__all__) <= set(tinytorch.utils.data.__all__)
