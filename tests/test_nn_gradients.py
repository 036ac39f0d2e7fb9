"""Module 03 (nn) and the optimizers of 03/04: every op and loss against finite
differences and PyTorch, every optimizer step against torch.optim, and the Module
container contract (parameters, names, modes, state_dict)."""

import numpy as np
import pytest

from gradcheck import F, assert_gradients_match, assert_matches_torch, normal, rng, torch
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import (
    GELU,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    GELUOp,
    Linear,
    LinearOp,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxOp,
    Tanh,
)
from tinytorch.optim.adam import Adam, AdamW
from tinytorch.optim.sgd import SGD

# ---------------------------------------------------------------------------------------
# Linear


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_op_gradients(x_shape):
    assert_gradients_match(lambda x, w, b: LinearOp.apply(x, w, b), normal(*x_shape), normal(4, 3), normal(4))
    assert_gradients_match(lambda x, w: LinearOp.apply(x, w), normal(*x_shape), normal(4, 3))


def test_linear_matches_torch():
    assert_matches_torch(
        lambda x, w, b: LinearOp.apply(x, w, b),
        lambda x, w, b: F().linear(x, w, b),
        normal(2, 5, 3), normal(4, 3), normal(4),
    )


def test_linear_layer_is_x_wt_plus_b_and_keeps_float64():
    layer = Linear(3, 4)
    layer.weight.data = normal(4, 3)
    layer.bias.data = normal(4)
    x = Tensor(normal(6, 3), dtype=np.float64)
    y = layer(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, x.data @ layer.weight.data.T + layer.bias.data)


def test_linear_init_is_pytorchs_default():
    np.random.seed(0)
    layer = Linear(400, 300)
    weight, bias = layer.weight.data, layer.bias.data
    assert weight.dtype == np.float32 and weight.shape == (300, 400)
    bound = 1 / np.sqrt(400)  # torch.nn.Linear: kaiming_uniform_(a=√5) = U(±1/√fan_in), bias the same
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
    assert np.isclose(weight.var(), bound**2 / 3, rtol=0.05)
    assert np.abs(bias).max() <= bound and bias.std() > 0
    with pytest.raises(TypeError):
        Linear(2, 2, init="xavier")  # torch's signature: initialize with nn.init instead


def test_init_is_reproducible_with_numpy_seed():
    np.random.seed(7)
    a = Linear(5, 5).weight.data.copy()
    np.random.seed(7)
    assert np.array_equal(a, Linear(5, 5).weight.data)


# ---------------------------------------------------------------------------------------
# Activations and softmax


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_gradients(dim):
    assert_gradients_match(lambda x: SoftmaxOp.apply(x, dim=dim), normal(3, 4, 5))


def test_softmax_matches_torch():
    th = torch()
    assert_matches_torch(lambda x: Softmax(dim=1)(x), lambda x: th.softmax(x, dim=1), normal(3, 4, 2))


def test_softmax_is_stable_for_huge_scores():
    s = Softmax()(Tensor([[1e4, 0.0, -1e4], [-1e30, -1e30, -1e30]]))
    assert np.all(np.isfinite(s.data))
    np.testing.assert_allclose(s.data, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradients_and_torch(approximate):
    x = np.linspace(-4, 4, 17).reshape(1, 17)  # both tails and the curved middle
    assert_gradients_match(lambda t: GELUOp.apply(t, approximate=approximate), x)
    assert_matches_torch(lambda t: GELU(approximate)(t), lambda t: F().gelu(t, approximate=approximate), normal(4, 6))


@pytest.mark.parametrize(
    "layer, reference",
    [(ReLU(), lambda x: np.maximum(x, 0)), (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))), (Tanh(), np.tanh)],
)
def test_activation_layers(layer, reference):
    x = normal(3, 4)
    np.testing.assert_allclose(layer(Tensor(x, dtype=np.float64)).data, reference(x), rtol=1e-12)
    assert repr(layer) == f"{type(layer).__name__}()"


def test_activation_layer_gradients():
    x = normal(3, 4)
    x[np.abs(x) < 1e-3] = 0.5  # finite differences are meaningless at ReLU's kink
    for layer in (ReLU(), Sigmoid(), Tanh()):
        assert_gradients_match(layer, x)


# ---------------------------------------------------------------------------------------
# Losses


def test_mse_gradients_and_torch():
    assert_gradients_match(lambda p, t: MSELoss()(p, t), normal(5, 2), normal(5, 2))
    assert_matches_torch(lambda p, t: MSELoss()(p, t), lambda p, t: F().mse_loss(p, t), normal(5, 2), normal(5, 2))


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        MSELoss()(Tensor(np.zeros((4, 1))), np.zeros(4))


def test_bce_gradients_and_torch():
    p = rng.uniform(0.05, 0.95, size=(6, 1))
    y = rng.integers(0, 2, size=(6, 1)).astype(np.float64)
    assert_gradients_match(lambda q: BinaryCrossEntropyLoss()(q, y), p)
    th = torch()
    q = Tensor(p, dtype=np.float64, requires_grad=True)
    loss = BinaryCrossEntropyLoss()(q, y)
    loss.backward()
    q_ref = th.tensor(p, requires_grad=True)
    ref = F().binary_cross_entropy(q_ref, th.tensor(y))  # targets get no gradient in either
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(q.grad.data, q_ref.grad.numpy(), rtol=1e-6)


def test_bce_is_finite_when_confidently_wrong():
    p = Tensor([0.0, 1.0, 1.0, 0.0], requires_grad=True)
    loss = BinaryCrossEntropyLoss()(p, np.array([1.0, 0.0, 1.0, 0.0]))
    assert np.isfinite(loss.item()) and loss.item() > 5
    loss.backward()
    g = p.grad.data
    assert np.all(np.isfinite(g))
    assert g[0] < 0 and g[1] > 0, "a confidently wrong prediction still gets pushed the right way"


@pytest.mark.parametrize("shape", [(7, 5), (2, 4, 3)])
def test_cross_entropy_gradients(shape):
    labels = rng.integers(0, shape[1], size=shape[:1] + shape[2:])  # classes on dim 1, as in PyTorch
    assert_gradients_match(lambda z, y: CrossEntropyLoss()(z, y), normal(*shape), labels)


def test_cross_entropy_matches_torch():
    labels = rng.integers(0, 5, size=7)
    assert_matches_torch(lambda z, y: CrossEntropyLoss()(z, y), lambda z, y: F().cross_entropy(z, y), normal(7, 5), labels)
    seq = rng.integers(0, 4, size=(2, 3))  # (N, C, T) logits with (N, T) labels
    assert_matches_torch(lambda z, y: CrossEntropyLoss()(z, y), lambda z, y: F().cross_entropy(z, y), normal(2, 4, 3), seq)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], requires_grad=True)
    loss = CrossEntropyLoss()(z, np.array([0, 0]))
    assert np.isclose(loss.item(), 1e4 / 2, rtol=1e-5)  # row 0 right (0), row 1 wrong by 1e4
    loss.backward()
    assert np.all(np.isfinite(z.grad.data))


def test_cross_entropy_checks_its_labels():
    z = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        CrossEntropyLoss()(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="shape"):
        CrossEntropyLoss()(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        CrossEntropyLoss()(z, np.array([0.5, 1.0, 2.0]))
    # float labels holding whole numbers (a Tensor made without dtype) are accepted
    assert np.isclose(CrossEntropyLoss()(z, Tensor([0, 1, 2])).item(), np.log(4))


# ---------------------------------------------------------------------------------------
# Optimizers against torch.optim


def _optimizer_trajectory(make_tiny, make_torch, steps=6):
    """Run both optimizers on the same parameters and gradients; return both final values."""
    th = torch()
    start = [normal(3, 2), normal(2)]
    tiny = [Parameter(a, dtype=np.float64) for a in start]
    ref = [th.tensor(a, requires_grad=True) for a in start]
    opt_tiny, opt_ref = make_tiny(tiny), make_torch(ref)
    for step in range(steps):
        for k, (p, q) in enumerate(zip(tiny, ref)):
            if k == 1 and step == 2:  # a step without a gradient: the parameter is left alone
                p.grad, q.grad = None, None
                continue
            g = normal(*p.shape)
            p.grad = Tensor(g, dtype=np.float64)
            q.grad = th.tensor(g)
        opt_tiny.step()
        opt_ref.step()
        for p, q in zip(tiny, ref):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.1), (0.0, 0.05)])
def test_sgd_matches_torch(momentum, weight_decay):
    th = torch()
    _optimizer_trajectory(
        lambda ps: SGD(ps, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        lambda ps: th.optim.SGD(ps, lr=0.1, momentum=momentum, weight_decay=weight_decay),
    )


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_torch(weight_decay):
    th = torch()
    _optimizer_trajectory(
        lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay),
        lambda ps: th.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay),
    )


def test_adamw_matches_torch():
    th = torch()
    _optimizer_trajectory(lambda ps: AdamW(ps, lr=0.01), lambda ps: th.optim.AdamW(ps, lr=0.01))
    _optimizer_trajectory(
        lambda ps: AdamW(ps, lr=0.05, weight_decay=0.3), lambda ps: th.optim.AdamW(ps, lr=0.05, weight_decay=0.3)
    )


def test_optimizer_defaults_and_errors_follow_pytorch():
    p = [Parameter(np.zeros(2))]
    defaults = Adam(p).defaults
    assert defaults["lr"] == 1e-3 and defaults["betas"] == (0.9, 0.999) and defaults["eps"] == 1e-8
    assert AdamW(p).defaults["weight_decay"] == 1e-2 and Adam(p).param_groups[0]["weight_decay"] == 0.0
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError):
        SGD(p, lr=-1.0)
    with pytest.raises(ValueError):
        Adam(p, betas=(0.9, 1.0))


def test_optimizer_accepts_a_generator_and_zero_grad_clears():
    model = Linear(2, 1)
    opt = SGD((p for p in model.parameters()), lr=0.1)
    model(Tensor(np.ones((3, 2)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_step_happens_outside_the_graph():
    w = Parameter(np.array([1.0, 2.0]))
    opt = SGD([w], lr=0.5)
    (w * w).sum().backward()
    opt.step()
    assert w.requires_grad and w._ctx is None, "the update must not turn a leaf into a graph node"
    np.testing.assert_allclose(w.data, [0.0, 0.0])


# ---------------------------------------------------------------------------------------
# The Module container


class _Tower(Module):
    def __init__(self):
        super().__init__()
        self.embed = Parameter(np.zeros((4, 2)))
        self.blocks = [Sequential(Linear(2, 2), ReLU()), Sequential(Linear(2, 2, bias=False))]
        self.head = Linear(2, 3)
        self.tied = self.embed  # shared: reported once, under its first name
        self.scale = 2.0  # plain attributes are ignored
        self.buffer = Tensor(np.zeros(3))  # a Tensor that is not a Parameter is not trained

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x) * self.scale


def test_named_parameters_walk_attributes_lists_and_submodules():
    model = _Tower()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["embed", "blocks.0.0.weight", "blocks.0.0.bias", "blocks.1.0.weight", "head.weight", "head.bias"]
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in model.named_parameters()]
    assert model.children() == [*model.blocks, model.head]


def test_train_eval_reach_every_module():
    model = _Tower()
    assert model.eval() is model
    assert not any(m.training for m in [model, *model.blocks, model.blocks[0][0], model.head])
    model.train()
    assert all(m.training for m in [model, *model.blocks, model.blocks[0][1], model.head])


def test_module_repr_is_readable():
    text = repr(Sequential(Linear(2, 8), ReLU(), Sequential(Linear(8, 1), Sigmoid()), Softmax(dim=0)))
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=8, out_features=1, bias=True)\n"
        "    (1): Sigmoid()\n"
        "  )\n"
        "  (3): Softmax(dim=0)\n"
        ")"
    )


def test_forward_must_be_defined():
    class Empty(Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty"):
        Empty()(Tensor([1.0]))


def test_state_dict_round_trip_and_errors():
    a, b = _Tower(), _Tower()
    state = a.state_dict()
    # PyTorch's state_dict order (each module's own parameters, then its sub-modules'); the tied
    # Parameter is saved under both of its names, as PyTorch saves it, while named_parameters lists it once
    assert list(state) == ["embed", "tied", "blocks.0.0.weight", "blocks.0.0.bias", "blocks.1.0.weight",
                           "head.weight", "head.bias"]
    assert set(state) - {name for name, _ in a.named_parameters()} == {"tied"}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b.load_state_dict(state)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p.data, q.data) and p.data is not q.data
    with pytest.raises(RuntimeError, match=r"size mismatch for head\.weight.*\(3, 2\).*\(2, 2\)"):
        b.load_state_dict({**state, "head.weight": np.zeros((2, 2))})
    with pytest.raises(RuntimeError, match="missing keys.*head.bias"):
        b.load_state_dict({k: v for k, v in state.items() if k != "head.bias"})
    with pytest.raises(RuntimeError, match="unexpected keys.*extra"):
        b.load_state_dict({**state, "extra": np.zeros(1)})


def test_parameter_is_a_trainable_tensor():
    p = Parameter(Tensor([1.0, 2.0]))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert Parameter(np.zeros(2), dtype=np.float64).dtype == np.float64
    assert not Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:")
