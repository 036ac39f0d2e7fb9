"""PyTorch semantics of tinytorch.nn (issue 11): every layer, loss and functional op a
student reaches for gives PyTorch's values and gradients, and the silent differences of
the past (inverted float attention masks, the class axis of cross-entropy, GELU's form,
Linear's initialization, ``Sequential[0:2]``) stay fixed.

Each differentiable op is checked against finite differences (float64) and against
PyTorch 2.x where it is installed; hand-computed values keep the check alive without it.
"""

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tinytorch.nn as nn
import tinytorch.nn.functional as F
import tinytorch.optim as optim
from gradcheck import assert_gradients_match, assert_matches_torch, normal, rng, torch
from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import LayerNorm, TransformerBlock
from tinytorch.nn.attention import MultiheadAttention, MultiHeadAttention, causal_mask
from tinytorch.nn.batchnorm import BatchNormOp
from tinytorch.nn.dropout import DropoutOp
from tinytorch.nn.modules import (
    GELUOp,
    LeakyReLUOp,
    LogSoftmaxOp,
    Parameter,
)
from tinytorch.nn.spatial import Conv1d, Conv2d


def T(array):
    return Tensor(np.asarray(array, dtype=np.float64), dtype=np.float64)


def to_float64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


# ---------------------------------------------------------------------------------------
# Attention masks: PyTorch's conventions, never inverted


def _qkv(*shape, seed=3):
    g = np.random.default_rng(seed)
    return [g.normal(size=shape) for _ in range(3)]


def test_float_causal_mask_is_added_not_cast_to_bool():
    q, k, v = _qkv(1, 3, 4)
    additive = np.triu(np.full((3, 3), -1e9), 1)  # PyTorch's 0 / -1e9 convention
    out, weights = F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=additive, return_weights=True)
    np.testing.assert_allclose(weights.data[0, 0], [1.0, 0.0, 0.0], atol=1e-12)  # was [0, .5, .5]
    np.testing.assert_allclose(out.data[0, 0], v[0, 0], atol=1e-12)
    boolean, _ = F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=causal_mask(3), return_weights=True)
    np.testing.assert_allclose(out.data, boolean.data, atol=1e-12)


@pytest.mark.parametrize("kind", ["bool", "float_inf", "float_1e9", "bias"])
def test_sdpa_masks_match_torch(kind):
    th = torch()
    allowed = np.random.default_rng(1).random((2, 1, 4, 5)) > 0.3
    allowed[..., 0] = True  # every query keeps one key: the gradients are defined everywhere
    mask = {
        "bool": allowed,
        "float_inf": np.where(allowed, 0.0, -np.inf),
        "float_1e9": np.where(allowed, 0.0, -1e9),
        "bias": np.random.default_rng(2).normal(size=(4, 5)),  # any float mask is added (ALiBi-like)
    }[kind]
    assert_matches_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        lambda q, k, v: th.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=th.tensor(mask)),
        normal(2, 3, 4, 6), normal(2, 3, 5, 6), normal(2, 3, 5, 2), atol=1e-10, rtol=1e-8,
    )


@pytest.mark.parametrize("kind", ["bool", "float_inf"])
def test_fully_masked_query_gives_zero_like_torch(kind):
    allowed = np.ones((3, 3), dtype=bool)
    allowed[1] = False  # query 1 may attend to nothing
    mask = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf)
    q, k, v = _qkv(2, 3, 4)
    out = F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=mask)
    assert np.all(out.data[:, 1] == 0.0), "not the mean of V"
    assert np.all(np.isfinite(out.data))
    th = torch()
    assert_matches_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        lambda q, k, v: th.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=th.tensor(mask)),
        q, k, v, atol=1e-10, rtol=1e-8,
    )


def test_fully_masked_query_gradients_match_finite_differences():
    allowed = np.ones((1, 4, 4), dtype=bool)
    allowed[0, 2] = False
    assert_gradients_match(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed),
        normal(2, 4, 3), normal(2, 4, 3), normal(2, 4, 5),
    )


@pytest.mark.parametrize("lengths", [(4, 4), (3, 5), (5, 3)])
def test_is_causal_matches_torch_top_left(lengths):
    th = torch()
    tq, tk = lengths
    assert_matches_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
        lambda q, k, v: th.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
        normal(2, tq, 4), normal(2, tk, 4), normal(2, tk, 3), atol=1e-10, rtol=1e-8,
    )


def test_sdpa_refuses_mask_and_is_causal_together_and_gradchecks_is_causal():
    q, k, v = _qkv(1, 3, 2)
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(T(q), T(k), T(v), attn_mask=causal_mask(3), is_causal=True)
    assert_gradients_match(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                           normal(2, 4, 3), normal(2, 4, 3), normal(2, 4, 5))


def test_sdpa_dropout_drops_weights_with_the_rescaling():
    q, k, v = _qkv(1, 6, 4)
    np.random.seed(0)
    out, weights = F.scaled_dot_product_attention(T(q), T(k), T(v), dropout_p=0.5, return_weights=True)
    full = F.scaled_dot_product_attention(T(q), T(k), T(v), return_weights=True)[1].data
    kept = weights.data != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(weights.data[kept], 2 * full[kept])
    np.testing.assert_allclose(out.data, weights.data @ v)


def _torch_mha(ours, batch_first):
    """torch.nn.MultiheadAttention holding our layer's weights."""
    th = torch()
    ref = th.nn.MultiheadAttention(ours.embed_dim, ours.num_heads, batch_first=batch_first).double()
    with th.no_grad():
        ref.in_proj_weight.copy_(th.tensor(np.concatenate([ours.q_proj.weight.data, ours.k_proj.weight.data,
                                                             ours.v_proj.weight.data])))
        ref.in_proj_bias.copy_(th.tensor(np.concatenate([ours.q_proj.bias.data, ours.k_proj.bias.data,
                                                           ours.v_proj.bias.data])))
        ref.out_proj.weight.copy_(th.tensor(ours.out_proj.weight.data))
        ref.out_proj.bias.copy_(th.tensor(ours.out_proj.bias.data))
    return ref


def _random_parameters(module, seed=0):
    g = np.random.default_rng(seed)
    for p in module.parameters():
        p.data = g.normal(size=p.shape) * 0.5
    return module


@pytest.mark.parametrize("batch_first", [False, True])
def test_torch_style_multihead_attention_matches_torch(batch_first):
    th = torch()
    ours = _random_parameters(MultiheadAttention(6, 2, batch_first=batch_first))
    ref = _torch_mha(ours, batch_first)
    shape = (2, 4, 6) if batch_first else (4, 2, 6)
    x0, m0 = normal(*shape), normal(*(shape[:-2] + (5,) + shape[-1:]) if batch_first else (5, 2, 6))
    not_allowed = ~causal_mask(5).data[:4]  # PyTorch's boolean attn_mask: True = NOT allowed
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True  # PyTorch's key_padding_mask: True = padding
    x, memory = T(x0), T(m0)
    for kwargs in ({}, {"attn_mask": not_allowed}, {"key_padding_mask": padding},
                   {"attn_mask": np.where(not_allowed, -np.inf, 0.0), "average_attn_weights": False}):
        out, weights = ours(x, memory, memory, **kwargs)
        torch_kwargs = {k: th.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        ref_out, ref_weights = ref(th.tensor(x0), th.tensor(m0), th.tensor(m0), **torch_kwargs)
        np.testing.assert_allclose(out.data, ref_out.detach().numpy(), atol=1e-10, err_msg=str(kwargs))
        np.testing.assert_allclose(weights.data, ref_weights.detach().numpy(), atol=1e-10, err_msg=str(kwargs))
    # gradients, with a boolean mask
    xt = th.tensor(x0, requires_grad=True)
    ref(xt, xt, xt, attn_mask=th.tensor(~causal_mask(4).data))[0].sum().backward()
    xg = Tensor(x0, dtype=np.float64, requires_grad=True)
    ours(xg, xg, xg, attn_mask=~causal_mask(4).data)[0].sum().backward()
    np.testing.assert_allclose(xg.grad.data, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.q_proj.weight.grad.data, ref.in_proj_weight.grad.numpy()[:6], atol=1e-10)
    assert ours(x, x, x, need_weights=False)[1] is None


def test_multihead_attention_fully_masked_query_is_zero_where_torch_gives_nan():
    th = torch()
    ours = _random_parameters(MultiheadAttention(4, 2, batch_first=True))
    ref = _torch_mha(ours, batch_first=True)
    x0 = normal(2, 3, 4)
    not_allowed = np.zeros((3, 3), dtype=bool)
    not_allowed[0] = True  # query 0 may attend to nothing
    out, _ = ours(T(x0), T(x0), T(x0), attn_mask=not_allowed)
    ref_out = ref(th.tensor(x0), th.tensor(x0), th.tensor(x0), attn_mask=th.tensor(not_allowed))[0].detach().numpy()
    assert np.all(np.isnan(ref_out[:, 0])), "PyTorch 2.13 gives NaN here (documented difference)"
    np.testing.assert_allclose(out.data[:, 0], np.broadcast_to(ours.out_proj.bias.data, (2, 4)), atol=1e-12)
    np.testing.assert_allclose(out.data[:, 1:], ref_out[:, 1:], atol=1e-10)


def test_our_multi_head_attention_conventions():
    mha = _random_parameters(to_float64(MultiHeadAttention(6, 3)))
    x = T(normal(2, 5, 6))
    causal = mha(x, is_causal=True)
    np.testing.assert_allclose(mha(x, mask=causal_mask(5)).data, causal.data)  # True = may attend
    np.testing.assert_allclose(mha(x, mask=np.triu(np.full((5, 5), -np.inf), 1)).data, causal.data)
    padding = np.zeros((2, 5), dtype=bool)
    padding[:, 4] = True
    both = mha(x, key_padding_mask=padding, is_causal=True)
    allowed = causal_mask(5).data & ~padding[:, None, None, :]
    np.testing.assert_allclose(both.data, mha(x, mask=allowed).data)
    assert_gradients_match(lambda x: mha(x, key_padding_mask=padding, is_causal=True), normal(2, 5, 6))


def test_attention_dropout_only_in_training_and_transformer_block_is_causal():
    np.random.seed(0)
    mha = MultiHeadAttention(4, 2, dropout=0.5)
    x = T(normal(2, 5, 4))
    mha.eval()
    np.testing.assert_allclose(mha(x).data, mha(x).data)
    mha.train()
    assert not np.allclose(mha(x).data, mha(x).data)
    block = to_float64(TransformerBlock(4, 2, 8, causal=True))
    y = block(x)
    changed = x.data.copy()
    changed[:, 3:] = 0
    np.testing.assert_allclose(block(T(changed)).data[:, :3], y.data[:, :3], atol=1e-12)


# ---------------------------------------------------------------------------------------
# Cross-entropy and NLL: the class axis is dim 1


def test_cross_entropy_takes_classes_on_dim_1_even_when_c_equals_d():
    th = torch()
    z, y = normal(2, 3, 3), rng.integers(0, 3, size=(2, 3))  # C == d: both layouts fit the shapes
    ours = nn.CrossEntropyLoss()(T(z), y).item()
    assert np.isclose(ours, th.nn.functional.cross_entropy(th.tensor(z), th.tensor(y)).item(), atol=1e-12)
    last_axis = -np.mean(np.take_along_axis(z - np.log(np.exp(z).sum(-1, keepdims=True)), y[..., None], -1))
    first_axis = -np.mean(np.take_along_axis(z - np.log(np.exp(z).sum(1, keepdims=True)),
                                             y[:, None, :], 1))
    assert np.isclose(ours, first_axis) and not np.isclose(ours, last_axis)


@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (2, 3, 2, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"ignore_index": 1}, {"label_smoothing": 0.2},
                                     {"ignore_index": 0, "label_smoothing": 0.1}])
def test_cross_entropy_matches_torch(shape, reduction, options):
    th = torch()
    labels = rng.integers(0, shape[1], size=shape[:1] + shape[2:])
    labels.flat[0] = options.get("ignore_index", 0)  # at least one ignored position when asked for
    labels.flat[-1] = (options.get("ignore_index", 0) + 1) % shape[1]  # and one scored
    assert_matches_torch(
        lambda z, y: F.cross_entropy(z, y, reduction=reduction, **options),
        lambda z, y: th.nn.functional.cross_entropy(z, y, reduction=reduction, **options),
        normal(*shape), labels, atol=1e-10, rtol=1e-8,
    )


@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (5,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_with_class_probabilities_matches_torch(shape, reduction, label_smoothing):
    th = torch()
    classes = 0 if len(shape) == 1 else 1
    q = rng.random(shape)
    q /= q.sum(axis=classes, keepdims=True)  # a distribution over the classes at every position
    assert_matches_torch(  # the gradients of the logits and of the target distribution too
        lambda z, p: F.cross_entropy(z, p, reduction=reduction, label_smoothing=label_smoothing),
        lambda z, p: th.nn.functional.cross_entropy(z, p, reduction=reduction, label_smoothing=label_smoothing),
        normal(*shape), q, atol=1e-10, rtol=1e-8,
    )


@pytest.mark.parametrize("options", [{}, {"ignore_index": 2}, {"label_smoothing": 0.3}])
def test_cross_entropy_gradients_match_finite_differences(options):
    labels = np.array([[0, 2, 1], [2, 2, 3]])
    assert_gradients_match(lambda z, y: nn.CrossEntropyLoss(**options)(z, y), normal(2, 4, 3), labels)


def test_cross_entropy_hand_values_and_errors():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 0.5, 0.5]])
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert np.isclose(nn.CrossEntropyLoss(reduction="sum")(T(z), [0, 2]).item(), -(log_p[0, 0] + log_p[1, 2]))
    smooth = nn.CrossEntropyLoss(label_smoothing=0.5, ignore_index=2)(T(z), [1, 2]).item()
    assert np.isclose(smooth, -(0.5 * log_p[0, 1] + 0.5 * log_p[0].mean()))
    one = nn.CrossEntropyLoss(reduction="none")(T(z[0]), 0)  # unbatched (C,) with a label ()
    assert one.shape == () and np.isclose(one.item(), -log_p[0, 0])
    with pytest.raises(ValueError, match=r"transpose\(1, 2\)"):
        nn.CrossEntropyLoss()(T(normal(2, 5, 3)), np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        nn.CrossEntropyLoss()(T(z), [0, 3])


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch_and_finite_differences(shape, reduction):
    th = torch()
    labels = rng.integers(0, shape[1], size=shape[:1] + shape[2:])
    labels.flat[0] = 1
    for options in ({}, {"ignore_index": 1}):
        assert_matches_torch(
            lambda x, y: F.nll_loss(F.log_softmax(x, dim=1), y, reduction=reduction, **options),
            lambda x, y: th.nn.functional.nll_loss(th.log_softmax(x, 1), y, reduction=reduction, **options),
            normal(*shape), labels, atol=1e-10, rtol=1e-8,
        )
    assert_gradients_match(lambda x, y: nn.NLLLoss(reduction=reduction)(x, y), normal(*shape), labels)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_every_label_ignored_gives_nan_and_a_zero_gradient_like_torch(loss):
    th = torch()
    scores, labels = normal(4, 3), np.full(4, 1)
    mine = lambda x, y: getattr(F, loss)(x, y, ignore_index=1)  # noqa: E731
    theirs = lambda x, y: getattr(th.nn.functional, loss)(x, y, ignore_index=1)  # noqa: E731
    assert_matches_torch(mine, theirs, scores, labels)
    assert np.isnan(mine(T(scores), labels).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss, options", [("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}),
                                           ("smooth_l1_loss", {"beta": 0.0}),
                                           ("huber_loss", {}), ("huber_loss", {"delta": 0.4})])
def test_regression_losses_match_torch(loss, options, reduction):
    th = torch()
    assert_matches_torch(lambda x, y: getattr(F, loss)(x, y, reduction=reduction, **options),
                         lambda x, y: getattr(th.nn.functional, loss)(x, y, reduction=reduction, **options),
                         normal(4, 3), normal(4, 3))


@pytest.mark.parametrize("name, mine, theirs", [
    ("softplus", lambda x: F.softplus(x), lambda th, x: th.nn.functional.softplus(x)),
    ("softplus_beta", lambda x: nn.Softplus(beta=2.0, threshold=3.0)(x * 3),
     lambda th, x: th.nn.Softplus(beta=2.0, threshold=3.0)(x * 3)),
    ("elu", lambda x: nn.ELU(alpha=0.7)(x), lambda th, x: th.nn.ELU(alpha=0.7)(x)),
    ("normalize", lambda x: F.normalize(x, dim=-1), lambda th, x: th.nn.functional.normalize(x, dim=-1)),
    ("normalize_p1", lambda x: F.normalize(x, p=1, dim=0), lambda th, x: th.nn.functional.normalize(x, p=1, dim=0)),
    ("cosine_similarity", lambda x: F.cosine_similarity(x, x.flip(0) + 0.5, dim=1),
     lambda th, x: th.nn.functional.cosine_similarity(x, x.flip(0) + 0.5, dim=1)),
    ("pad", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5) * 2, lambda th, x: th.nn.functional.pad(x, (1, 2, 0, 1), value=0.5) * 2),
    ("unflatten", lambda x: nn.Unflatten(1, (2, 2))(x) * 2, lambda th, x: th.nn.Unflatten(1, (2, 2))(x) * 2),
])
def test_more_layers_and_functions_match_torch(name, mine, theirs):
    th = torch()
    assert_matches_torch(mine, lambda x: theirs(th, x), normal(3, 4))


STILL_MORE_LAYERS = {  # name: (tinytorch, PyTorch given the torch module, input maker)
    "hardtanh": (lambda x: nn.Hardtanh(-2.0, 3.0)(x * 4), lambda th, x: th.nn.Hardtanh(-2.0, 3.0)(x * 4)),
    "relu6": (lambda x: nn.ReLU6()(x * 5) + F.relu6(x), lambda th, x: th.nn.ReLU6()(x * 5) + th.nn.functional.relu6(x)),
    "hardsigmoid_hardswish": (lambda x: nn.Hardsigmoid()(x * 4) * nn.Hardswish()(x * 4),
                              lambda th, x: th.nn.Hardsigmoid()(x * 4) * th.nn.Hardswish()(x * 4)),
    "logsigmoid": (lambda x: nn.LogSigmoid()(x * 3), lambda th, x: th.nn.LogSigmoid()(x * 3)),
    "mish": (lambda x: nn.Mish()(x * 3), lambda th, x: th.nn.Mish()(x * 3)),
    "softmin": (lambda x: nn.Softmin(dim=0)(x) + F.softmin(x, 1), lambda th, x: th.nn.Softmin(dim=0)(x) + th.nn.functional.softmin(x, 1)),
    "glu": (lambda x: nn.GLU()(x) * F.glu(x.T, 0).T, lambda th, x: th.nn.GLU()(x) * th.nn.functional.glu(x.T, 0).T),
    "threshold": (lambda x: nn.Threshold(0.3, -2.0)(x), lambda th, x: th.nn.Threshold(0.3, -2.0)(x)),
    "cosine_similarity_layer": (lambda x: nn.CosineSimilarity(dim=0)(x, x.flip(1) + 0.3),
                                lambda th, x: th.nn.CosineSimilarity(dim=0)(x, x.flip(1) + 0.3)),
    "pairwise_distance": (lambda x: nn.PairwiseDistance()(x, x.flip(0)) + F.pairwise_distance(x, x * 2, p=1.0, keepdim=True).T,
                          lambda th, x: th.nn.PairwiseDistance()(x, x.flip(0))
                          + th.nn.functional.pairwise_distance(x, x * 2, p=1.0, keepdim=True).T),
    "rms_norm": (lambda x: F.rms_norm(x, (4,), eps=1e-3) + nn.RMSNorm([3, 4], eps=1e-4).double()(x),
                 lambda th, x: th.nn.functional.rms_norm(x, (4,), eps=1e-3) + th.nn.RMSNorm([3, 4], eps=1e-4).double()(x)),
}


@pytest.mark.parametrize("name", STILL_MORE_LAYERS)
def test_still_more_layers_match_torch_and_finite_differences(name):
    mine, theirs = STILL_MORE_LAYERS[name]
    x = normal(3, 4)
    assert_matches_torch(mine, lambda t: theirs(torch(), t), x)
    assert_gradients_match(mine, x, atol=1e-4)


@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 3), 3), ((3, 4, 5), 2), ((2, 4), 4)])
def test_group_and_rms_norm_gradients_reach_their_weights_like_torch(shape, groups):
    th = torch()
    channels = shape[1]
    x, weight, bias = normal(*shape), normal(channels) + 1, normal(channels)
    assert_matches_torch(lambda a, w, b: F.group_norm(a, groups, w, b),
                         lambda a, w, b: th.nn.functional.group_norm(a, groups, w, b), x, weight, bias)
    assert_gradients_match(lambda a, w, b: F.group_norm(a, groups, w, b), x, weight, bias, atol=1e-4)
    last = normal(shape[-1]) + 1
    assert_matches_torch(lambda a, w: F.rms_norm(a, (shape[-1],), w), lambda a, w: th.nn.functional.rms_norm(a, (shape[-1],), w),
                         x, last)
    layer = nn.GroupNorm(groups, channels, affine=False)
    assert layer.parameters() == [] and nn.GroupNorm(groups, channels).weight.shape == (channels,)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(groups + 1 if channels % (groups + 1) else 5, channels)
    with pytest.raises(ValueError, match="does not end with"):
        F.rms_norm(Tensor(np.zeros((2, 3))), (4,))


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "none", "mean"])
def test_kl_div_matches_torch_and_takes_zero_log_zero_as_zero(reduction):
    th = torch()
    log_q = np.log(rng.dirichlet(np.ones(5), size=4))
    p = rng.dirichlet(np.ones(5), size=4)
    p[0, 1] = p[2, 4] = 0.0  # zeros in the target: their terms are 0, not nan
    mine = Tensor(log_q, dtype=np.float64, requires_grad=True)
    theirs = th.tensor(log_q, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that 'mean' is not the KL divergence's mean
        expected = th.nn.KLDivLoss(reduction=reduction)(theirs, th.tensor(p))
    loss = nn.KLDivLoss(reduction=reduction)(mine, Tensor(p, dtype=np.float64))
    np.testing.assert_allclose(loss.data, expected.detach().numpy(), rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(loss.data))
    weights = rng.normal(size=np.shape(loss.data))
    (loss * Tensor(weights, dtype=np.float64)).sum().backward()
    (expected * th.tensor(weights)).sum().backward()
    np.testing.assert_allclose(mine.grad.data, theirs.grad.numpy(), rtol=1e-6, atol=1e-12)
    log_p = np.log(p + 0.1)
    assert_matches_torch(lambda a, t: F.kl_div(a, t, reduction="batchmean", log_target=True),
                         lambda a, t: th.nn.functional.kl_div(a, t, reduction="batchmean", log_target=True), log_q, log_p)
    assert_gradients_match(lambda a: F.kl_div(a, Tensor(p, dtype=np.float64), reduction=reduction), log_q)
    with pytest.raises(ValueError, match="batchmean"):
        nn.KLDivLoss(reduction="average")


def test_one_hot_module_to_and_the_edges_of_the_new_layers_match_torch():
    th = torch()
    labels = np.array([[2, 0], [1, 1]])
    assert F.one_hot(Tensor(labels, dtype=np.int64)).data.tolist() == th.nn.functional.one_hot(th.tensor(labels)).tolist()
    assert F.one_hot(Tensor(labels, dtype=np.int64), 5).data.dtype == np.int64
    with pytest.raises(RuntimeError, match="num_classes"):
        F.one_hot(Tensor(labels, dtype=np.int64), 2)
    big = np.array([-300.0, -30.0, 0.0, 30.0, 300.0])
    for mine, theirs in ((nn.ELU(), th.nn.ELU()), (nn.Softplus(), th.nn.Softplus())):
        assert_matches_torch(mine, theirs, big)
    for mine, theirs in ((nn.LogSigmoid(), th.nn.LogSigmoid()), (nn.Mish(), th.nn.Mish())):
        assert_matches_torch(mine, theirs, big.astype(np.float32))  # float32: sigmoid(-300) is 0 there
    layer = nn.Linear(3, 2).double()
    assert layer.weight.dtype == np.float64 and layer.to("cpu", dtype=np.float32).weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        layer.to("cuda")
    layer.add_module("extra", nn.ReLU())
    layer.register_parameter("scale", nn.Parameter(np.ones(1)))
    assert "scale" in dict(layer.named_parameters()) and layer.extra in layer.children()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"ignore_index": 2}, {"label_smoothing": 0.2}, {"label_smoothing": 0.1, "ignore_index": 0}],
                         ids=["plain", "ignore", "smoothing", "smoothing_ignore"])
def test_class_weights_of_cross_entropy_and_nll_match_torch(reduction, options):
    th = torch()
    weight = np.array([0.5, 2.0, 1.0, 3.0])
    for shape, labels in (((6, 4), np.array([0, 1, 2, 3, 1, 2])), ((2, 4, 3), np.array([[0, 2, 1], [3, 3, 2]]))):
        assert_matches_torch(
            lambda z: nn.CrossEntropyLoss(Tensor(weight, dtype=np.float64), reduction=reduction, **options)(z, labels),
            lambda z: th.nn.CrossEntropyLoss(th.tensor(weight), reduction=reduction, **options)(z, th.tensor(labels)),
            normal(*shape))
        nll_options = {k: v for k, v in options.items() if k != "label_smoothing"}
        assert_matches_torch(
            lambda z: F.nll_loss(F.log_softmax(z, dim=1), labels, Tensor(weight, dtype=np.float64), reduction=reduction,
                                 **nll_options),
            lambda z: th.nn.functional.nll_loss(th.nn.functional.log_softmax(z, dim=1), th.tensor(labels), th.tensor(weight),
                                                reduction=reduction, **nll_options), normal(*shape))
    probabilities = rng.dirichlet(np.ones(4), size=5)
    smoothing = options.get("label_smoothing", 0.0)
    assert_matches_torch(
        lambda z, q: F.cross_entropy(z, q, weight=Tensor(weight, dtype=np.float64), reduction=reduction, label_smoothing=smoothing),
        lambda z, q: th.nn.functional.cross_entropy(z, q, weight=th.tensor(weight), reduction=reduction, label_smoothing=smoothing),
        normal(5, 4), probabilities)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_weight_and_pos_weight_match_torch(reduction):
    th = torch()
    y = (rng.random((4, 3)) > 0.5).astype(np.float64)
    weight, pos_weight = rng.uniform(0.5, 2.0, size=(1, 3)), np.array([3.0, 0.5, 1.0])
    assert_matches_torch(lambda p: nn.BCELoss(Tensor(weight, dtype=np.float64), reduction=reduction)(p, y),
                         lambda p: th.nn.BCELoss(th.tensor(weight), reduction=reduction)(p, th.tensor(y)),
                         rng.uniform(0.05, 0.95, size=(4, 3)))
    logits = normal(4, 3) * 3
    logits[0, 0] = 0.0  # a zero logit (a zero-initialized last layer): the gradient is exact there too
    logits[1, 1] = 40.0  # far out: no overflow
    assert_matches_torch(
        lambda z: F.binary_cross_entropy_with_logits(z, y, Tensor(weight, dtype=np.float64), reduction=reduction,
                                                     pos_weight=Tensor(pos_weight, dtype=np.float64)),
        lambda z: th.nn.functional.binary_cross_entropy_with_logits(z, th.tensor(y), th.tensor(weight), reduction=reduction,
                                                                    pos_weight=th.tensor(pos_weight)), logits)
    assert_gradients_match(lambda z: nn.BCEWithLogitsLoss(pos_weight=Tensor(pos_weight, dtype=np.float64))(z, y), normal(4, 3))


def test_weighted_losses_keep_weight_in_state_dict_and_refuse_deprecated_arguments():
    th = torch()
    ours, theirs = nn.CrossEntropyLoss(Tensor([1.0, 2.0])), th.nn.CrossEntropyLoss(th.tensor([1.0, 2.0]))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == list(th.nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=Tensor([2.0])).state_dict()) == \
        list(th.nn.BCEWithLogitsLoss(pos_weight=th.tensor([2.0])).state_dict())
    with pytest.raises(NotImplementedError, match="deprecated"):
        nn.MSELoss(True)
    with pytest.raises(NotImplementedError, match="deprecated"):
        F.cross_entropy(Tensor([[1.0, 2.0]]), [1], None, True)
    assert nn.HuberLoss("sum").reduction == th.nn.HuberLoss("sum").reduction == "sum", "HuberLoss takes reduction first"


def test_cross_entropy_is_nll_of_log_softmax():
    z, y = normal(4, 5), rng.integers(0, 5, size=4)
    a = nn.CrossEntropyLoss()(T(z), y).item()
    b = nn.NLLLoss()(nn.LogSoftmax(dim=1)(T(z)), y).item()
    assert np.isclose(a, b, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Binary cross-entropy, MSE, reduction everywhere


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_losses_and_mse_match_torch(reduction):
    th = torch()
    tf = th.nn.functional
    p = rng.uniform(0.05, 0.95, size=(4, 3))
    y = rng.integers(0, 2, size=(4, 3)).astype(np.float64)
    y[0, 0] = 0.3  # soft targets are allowed
    # the targets are constants (tinytorch gives them no gradient; PyTorch could)
    assert_matches_torch(lambda p: nn.BCELoss(reduction=reduction)(p, y),
                         lambda p: tf.binary_cross_entropy(p, th.tensor(y), reduction=reduction), p, atol=1e-10)
    z = normal(4, 3) * 4
    assert_matches_torch(lambda z: nn.BCEWithLogitsLoss(reduction=reduction)(z, y),
                         lambda z: tf.binary_cross_entropy_with_logits(z, th.tensor(y), reduction=reduction), z,
                         atol=1e-10)
    assert_matches_torch(lambda a, b: nn.MSELoss(reduction=reduction)(a, b),
                         lambda a, b: tf.mse_loss(a, b, reduction=reduction), normal(4, 3), normal(4, 3))
    assert_gradients_match(lambda p: F.binary_cross_entropy(p, y, reduction=reduction), p)
    assert_gradients_match(lambda z: F.binary_cross_entropy_with_logits(z, y, reduction=reduction), z)


def test_bce_clamps_like_torch_when_confidently_wrong():
    th = torch()
    p0, y = np.array([0.0, 1.0, 1.0, 0.0, 0.5]), np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    p = Tensor(p0, dtype=np.float64, requires_grad=True)
    loss = nn.BCELoss(reduction="sum")(p, y)
    loss.backward()
    pt = th.tensor(p0, requires_grad=True)
    ref = th.nn.functional.binary_cross_entropy(pt, th.tensor(y), reduction="sum")
    ref.backward()
    assert np.isclose(loss.item(), ref.item()) and np.isclose(loss.item(), 200 + np.log(2))
    np.testing.assert_allclose(p.grad.data, pt.grad.numpy())


def test_bce_with_logits_is_stable_for_huge_logits():
    z = Tensor([1000.0, -1000.0, 30.0], requires_grad=True)
    loss = nn.BCEWithLogitsLoss(reduction="none")(z, np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(loss.data, [1000.0, 1000.0, np.log1p(np.exp(-30.0))], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.data, [1.0, -1.0, -1 / (1 + np.exp(30.0))], atol=1e-7)


# ---------------------------------------------------------------------------------------
# Activations


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_both_forms_match_torch_float32_and_float64(approximate):
    th = torch()
    x = np.linspace(-12, 12, 2001)
    ref = th.nn.functional.gelu(th.tensor(x), approximate=approximate).numpy()
    np.testing.assert_allclose(F.gelu(T(x), approximate=approximate).data, ref, rtol=2e-7, atol=1e-12)
    x32 = x.astype(np.float32)
    ours32 = nn.GELU(approximate)(Tensor(x32))
    assert ours32.dtype == np.float32
    # PyTorch's float32 erf form, x/2 (1 + erf(x/√2)), loses digits to cancellation for x < 0
    # (up to ~6e-7 absolute); ours (via erfc) stays within float32 rounding of the exact value
    np.testing.assert_allclose(ours32.data, th.nn.functional.gelu(th.tensor(x32), approximate=approximate).numpy(),
                               rtol=2e-6, atol=1e-6)
    if approximate == "none":  # (PyTorch's float64 cancels too, to 0 below x ≈ -8: compare with math.erfc)
        exact = [float(v) * 0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x32]
        np.testing.assert_allclose(ours32.data, exact, rtol=3e-5, atol=1e-37)  # the input's own rounding
    assert_gradients_match(lambda t: GELUOp.apply(t, approximate=approximate), np.linspace(-5, 5, 21))


def test_erf_and_erfc_match_torch_near_zero_and_in_the_tails():
    th = torch()
    import tinytorch
    x = np.concatenate([np.linspace(-6, 6, 601), [0.0, 1e-9, -1e-5, 0.4999, 0.5, 0.5001, 40.0, -40.0]])
    assert_matches_torch(lambda t: t.erf(), lambda t: t.erf(), x, rtol=2e-7, atol=0)
    assert_matches_torch(lambda t: t.erfc(), lambda t: t.erfc(), x[np.abs(x) < 9], rtol=3e-7, atol=0)
    assert_gradients_match(lambda t: t.erf() + t.erfc() * 3, normal(3, 4))
    small = np.array([1e-3, -2e-4, 0.3], dtype=np.float32)  # 1 - erfc(x) would keep 4 digits of erf(1e-3)
    np.testing.assert_allclose(tinytorch.erf(Tensor(small)).data, th.erf(th.tensor(small)).numpy(), rtol=3e-7)
    assert tinytorch.erf(Tensor([1, 2])).dtype == np.float32
    by_hand = lambda t: t * 0.5 * (1.0 + (t / math.sqrt(2.0)).erf())  # noqa: E731  BERT's GELU, written out
    np.testing.assert_allclose(by_hand(T(x)).data, F.gelu(T(x)).data, rtol=1e-6, atol=1e-12)


def test_gelu_default_is_exact_erf():
    x = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])
    exact = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(nn.GELU()(T(x)).data, exact, rtol=2e-7, atol=1e-15)
    assert not np.allclose(nn.GELU(approximate="tanh")(T(x)).data, exact, rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")


def test_leaky_relu_silu_log_softmax_match_torch():
    th = torch()
    x = normal(3, 4)
    x[0, 0] = 0.0  # PyTorch's gradient at exactly 0 is the slope
    assert_matches_torch(lambda t: nn.LeakyReLU(0.2)(t), lambda t: th.nn.functional.leaky_relu(t, 0.2), x)
    assert_matches_torch(lambda t: F.silu(t), lambda t: th.nn.functional.silu(t), x)
    for dim in (0, 1, -1):
        assert_matches_torch(lambda t: nn.LogSoftmax(dim)(t), lambda t: th.log_softmax(t, dim), normal(3, 4, 2))
    x[0, 0] = 0.5  # away from the kink for finite differences
    assert_gradients_match(lambda t: LeakyReLUOp.apply(t, negative_slope=0.1), x)
    assert_gradients_match(lambda t: F.silu(t), x)
    assert_gradients_match(lambda t: LogSoftmaxOp.apply(t, dim=1), normal(3, 4, 2))
    big = F.log_softmax(Tensor([[0.0, -500.0, 500.0]]), dim=-1)
    assert np.all(np.isfinite(big.data))


# ---------------------------------------------------------------------------------------
# Functional forms equal PyTorch's


def test_functional_layers_match_torch():
    th = torch()
    tf = th.nn.functional
    assert_matches_torch(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: tf.linear(x, w, b),
                         normal(2, 3, 4), normal(5, 4), normal(5))
    assert_matches_torch(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                         lambda x, w, b: tf.conv2d(x, w, b, stride=2, padding=1),
                         normal(2, 3, 7, 6), normal(4, 3, 3, 2), normal(4))
    assert_matches_torch(lambda x, w: F.conv1d(x, w, None, stride=2, padding=2),
                         lambda x, w: tf.conv1d(x, w, None, stride=2, padding=2), normal(2, 3, 9), normal(4, 3, 3))
    assert_matches_torch(lambda x: F.max_pool2d(x, 2), lambda x: tf.max_pool2d(x, 2), normal(2, 3, 6, 4))
    assert_matches_torch(lambda x: F.avg_pool2d(x, (3, 2), 1), lambda x: tf.avg_pool2d(x, (3, 2), 1),
                         normal(2, 3, 6, 4))
    assert_matches_torch(lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda x, w, b: tf.layer_norm(x, (4,), w, b),
                         normal(2, 3, 4), normal(4), normal(4))
    assert_matches_torch(lambda x: F.layer_norm(x, (3, 4)), lambda x: tf.layer_norm(x, (3, 4)), normal(2, 3, 4))
    ids = np.array([[1, 3, 1], [0, 2, 3]])
    assert_matches_torch(lambda w: F.embedding(ids, w), lambda w: tf.embedding(th.tensor(ids), w), normal(4, 5))
    assert_matches_torch(lambda x: F.softmax(x, dim=1), lambda x: tf.softmax(x, dim=1), normal(2, 3, 4))
    assert_matches_torch(lambda x: F.gelu(x), lambda x: tf.gelu(x), normal(2, 3))
    assert_matches_torch(lambda x: F.relu(x) + F.sigmoid(x) + F.tanh(x) + F.leaky_relu(x),
                         lambda x: tf.relu(x) + th.sigmoid(x) + th.tanh(x) + tf.leaky_relu(x), normal(3, 4))


def test_functional_namespace_holds_functions_and_nn_holds_classes():
    for name in ("relu", "gelu", "softmax", "log_softmax", "cross_entropy", "mse_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "nll_loss", "dropout", "linear", "conv2d", "conv1d",
                 "max_pool2d", "avg_pool2d", "layer_norm", "scaled_dot_product_attention", "embedding",
                 "batch_norm", "silu", "leaky_relu"):
        assert callable(getattr(F, name)), name
        assert not callable(getattr(nn, name, None)), f"tinytorch.nn.{name} would not exist in PyTorch"
    for name in ("Linear", "Embedding", "LayerNorm", "MultiheadAttention", "MultiHeadAttention", "Dropout",
                 "BatchNorm1d", "BatchNorm2d", "Conv1d", "ModuleList", "ModuleDict", "Identity", "LeakyReLU",
                 "SiLU", "LogSoftmax", "NLLLoss", "BCEWithLogitsLoss", "BCELoss"):
        assert isinstance(getattr(nn, name), type), name
    assert nn.Embedding.__module__ == "tinytorch.text.embeddings" and nn.LayerNorm is LayerNorm
    assert callable(nn.init.kaiming_uniform_) and callable(nn.utils.clip_grad_norm_)
    assert not hasattr(F, "Linear") and not hasattr(nn, "CharTokenizer")


# ---------------------------------------------------------------------------------------
# Dropout


def test_dropout_train_eval_scaling_and_gradient():
    np.random.seed(0)
    layer = nn.Dropout(0.4)
    x = T(np.ones((100, 100)))
    y = layer(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.6)
    assert abs(kept.mean() - 0.6) < 0.02
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.4, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)

    def seeded(t):
        np.random.seed(7)  # the same mask on every finite-difference evaluation
        return DropoutOp.apply(t, p=0.3)

    assert_gradients_match(seeded, normal(4, 5))
    th = torch()
    out = seeded(Tensor(normal(4, 5), dtype=np.float64))
    mask = out.data != 0  # PyTorch's rule with the same mask: x * mask / (1 - p)
    xs = normal(4, 5)
    np.random.seed(7)
    expected = th.tensor(xs) * th.tensor(mask) / 0.7
    np.testing.assert_allclose(DropoutOp.apply(T(xs), p=0.3).data, expected.numpy())
    assert th.nn.Dropout(0.3).eval()(th.tensor(xs)).numpy().tolist() == xs.tolist()


# ---------------------------------------------------------------------------------------
# Batch normalization


def _torch_batchnorm(ours, cls_name):
    th = torch()
    ref = getattr(th.nn, cls_name)(ours.num_features, eps=ours.eps, momentum=ours.momentum, affine=ours.affine,
                                   track_running_stats=ours.track_running_stats).double()
    if ours.affine:
        with th.no_grad():
            ref.weight.copy_(th.tensor(ours.weight.data))
            ref.bias.copy_(th.tensor(ours.bias.data))
    return ref


@pytest.mark.parametrize("cls_name, shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                             ("BatchNorm2d", (4, 3, 3, 2))])
@pytest.mark.parametrize("options", [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
                                     {"momentum": 0.3, "eps": 1e-3}])
def test_batch_norm_matches_torch_in_training_and_eval(cls_name, shape, options):
    th = torch()
    ours = to_float64(getattr(nn, cls_name)(3, **options))
    if ours.affine:
        ours.weight.data, ours.bias.data = normal(3), normal(3)
    ref = _torch_batchnorm(ours, cls_name)
    for step in range(3):  # running statistics over several batches
        x0 = normal(*shape) * (step + 1) + step
        x = Tensor(x0, dtype=np.float64, requires_grad=True)
        xt = th.tensor(x0, requires_grad=True)
        out, ref_out = ours(x), ref(xt)
        np.testing.assert_allclose(out.data, ref_out.detach().numpy(), atol=1e-10)
        weights = normal(*shape)
        (out * T(weights)).sum().backward()
        (ref_out * th.tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-10)
        if ours.affine:
            np.testing.assert_allclose(ours.weight.grad.data, ref.weight.grad.numpy(), atol=1e-10)
            np.testing.assert_allclose(ours.bias.grad.data, ref.bias.grad.numpy(), atol=1e-10)
            ours.zero_grad()
            ref.zero_grad()
    ours_state, ref_state = ours.state_dict(), ref.state_dict()
    assert list(ours_state) == list(ref_state)
    for name, value in ref_state.items():
        np.testing.assert_allclose(ours_state[name], value.numpy(), atol=1e-6, err_msg=name)
    ours.eval()
    ref.eval()
    x0 = normal(*shape)
    x = Tensor(x0, dtype=np.float64, requires_grad=True)
    xt = th.tensor(x0, requires_grad=True)
    np.testing.assert_allclose(ours(x).data, ref(xt).detach().numpy(), atol=1e-6)
    ours(x).sum().backward()
    ref(xt).sum().backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3), (3, 3, 4), (2, 3, 2, 3)])
def test_batch_norm_op_gradients_match_finite_differences(shape):
    def training(x, w, b):  # the batch statistics are functions of x
        return F.batch_norm(x, None, None, w, b, training=True)

    assert_gradients_match(training, normal(*shape), normal(3), normal(3))
    mean, var = normal(3), np.abs(normal(3)) + 0.5
    assert_gradients_match(lambda x, w, b: BatchNormOp.apply(x, w, b, mean=mean, var=var, batch_stats=False),
                           normal(*shape), normal(3), normal(3))


def test_batch_norm_errors_and_buffers():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(T(normal(1, 3)))
    with pytest.raises(ValueError, match="2D or 3D"):
        nn.BatchNorm1d(3)(T(normal(2, 3, 4, 5)))
    bn = nn.BatchNorm2d(4)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert len(bn.parameters()) == 2 and bn.num_batches_tracked.dtype == np.int64
    other = nn.BatchNorm2d(4)
    bn(T(normal(2, 4, 3, 3)))
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_mean.data, bn.running_mean.data)
    assert int(other.num_batches_tracked.data) == 1


# ---------------------------------------------------------------------------------------
# Convolutions, initialization


def test_conv1d_matches_torch_and_finite_differences():
    th = torch()
    conv = to_float64(Conv1d(3, 4, 3, stride=2, padding=1))
    ref = th.nn.Conv1d(3, 4, 3, stride=2, padding=1).double()
    with th.no_grad():
        ref.weight.copy_(th.tensor(conv.weight.data))
        ref.bias.copy_(th.tensor(conv.bias.data))
    assert_matches_torch(conv, ref, normal(2, 3, 8))
    assert [n for n, _ in conv.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert conv.kernel_size == ref.kernel_size and conv.stride == ref.stride and conv.padding == ref.padding
    assert_gradients_match(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
                           normal(2, 3, 8), normal(4, 3, 3), normal(4))


@pytest.mark.parametrize("layer, options", [("MaxPool1d", {"kernel_size": 2}), ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}),
                                             ("AvgPool1d", {"kernel_size": 3}), ("AvgPool1d", {"kernel_size": 4, "stride": 1, "padding": 2}),
                                             ("AdaptiveAvgPool1d", {"output_size": 3}), ("AdaptiveAvgPool1d", {"output_size": 1})])
def test_1d_pooling_matches_torch_and_finite_differences(layer, options):
    th = torch()
    x = rng.permutation(2 * 3 * 7).reshape(2, 3, 7) * 0.1 + rng.uniform(0, 0.01, (2, 3, 7))  # no ties for max
    ours, theirs = getattr(nn, layer)(**options), getattr(th.nn, layer)(**options)
    assert_matches_torch(ours, theirs, x)
    assert_gradients_match(ours, x)
    functional = {"MaxPool1d": "max_pool1d", "AvgPool1d": "avg_pool1d", "AdaptiveAvgPool1d": "adaptive_avg_pool1d"}[layer]
    assert_matches_torch(lambda t: getattr(F, functional)(t, *options.values()),
                         lambda t: getattr(th.nn.functional, functional)(t, *options.values()), x)
    with pytest.raises(ValueError, match="N, C, L"):
        ours(Tensor(np.zeros((2, 3, 4, 4))))


@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Linear(50, 20), 50), (lambda: Conv2d(3, 8, (3, 5)), 45),
                                          (lambda: Conv1d(4, 6, 5), 20)])
def test_default_init_is_torchs_uniform_one_over_sqrt_fan_in(make, fan_in):
    np.random.seed(0)
    layers = [make() for _ in range(20)]
    weights = np.concatenate([layer.weight.data.ravel() for layer in layers])
    biases = np.concatenate([layer.bias.data.ravel() for layer in layers])
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(weights).max() <= bound and np.abs(weights).max() > 0.98 * bound
    assert np.abs(biases).max() <= bound and np.abs(biases).max() > 0.9 * bound
    assert np.isclose(weights.var(), bound**2 / 3, rtol=0.1), "uniform on ±1/√fan_in"


def test_embedding_init_is_standard_normal_and_init_functions_follow_torch():
    th = torch()
    np.random.seed(0)
    emb = nn.Embedding(400, 50)
    assert abs(emb.weight.data.mean()) < 0.01 and abs(emb.weight.data.std() - 1) < 0.01
    w = Parameter(np.zeros((64, 8, 3, 3)))
    reference = th.empty(64, 8, 3, 3)
    assert nn.init._calculate_fan_in_and_fan_out(w) == th.nn.init._calculate_fan_in_and_fan_out(reference)
    for nonlinearity, param in (("relu", None), ("leaky_relu", 0.2), ("tanh", None), ("sigmoid", None)):
        assert np.isclose(nn.init.calculate_gain(nonlinearity, param), th.nn.init.calculate_gain(nonlinearity, param))
    fan_in, fan_out = 72, 576
    cases = [
        (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(fan_in) / math.sqrt(3)),
        (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / fan_in)),
        (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / fan_out)),
        (lambda t: nn.init.xavier_uniform_(t, gain=2.0), 2 * math.sqrt(2 / (fan_in + fan_out))),
        (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / (fan_in + fan_out))),
        (lambda t: nn.init.normal_(t, 1.0, 0.5), 0.5),
        (lambda t: nn.init.uniform_(t, -2.0, 2.0), 4 / math.sqrt(12)),
    ]
    storage = w.data
    for fill, std in cases:
        assert fill(w) is w and w.data is storage and w.dtype == np.float32
        assert np.isclose(w.data.std(), std, rtol=0.05)
    assert np.all(nn.init.constant_(w, 0.25).data == 0.25) and np.all(nn.init.zeros_(w).data == 0)


RESHAPING_LAYERS = {  # name: (tinytorch, PyTorch given the torch module, input shape)
    "pad_reflect": (lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect"),
                    lambda th, x: th.nn.functional.pad(x, (2, 1, 1, 3), mode="reflect"), (2, 3, 5, 6)),
    "pad_replicate": (lambda x: F.pad(x, (2, 1, 1, 3), mode="replicate"),
                      lambda th, x: th.nn.functional.pad(x, (2, 1, 1, 3), mode="replicate"), (2, 3, 5, 6)),
    "pad_circular_1d": (lambda x: F.pad(x, (2, 3), mode="circular"),
                        lambda th, x: th.nn.functional.pad(x, (2, 3), mode="circular"), (2, 3, 5)),
    "zero_and_constant_pad": (lambda x: nn.ZeroPad2d((1, 2, 0, 1))(x) * 2 + nn.ConstantPad2d((2, 1, 1, 0), 0.5)(x),
                              lambda th, x: th.nn.ZeroPad2d((1, 2, 0, 1))(x) * 2 + th.nn.ConstantPad2d((2, 1, 1, 0), 0.5)(x),
                              (2, 3, 5, 6)),
    "upsample_nearest": (lambda x: nn.Upsample(scale_factor=2)(x), lambda th, x: th.nn.Upsample(scale_factor=2)(x), (2, 3, 3, 4)),
    "interpolate_size": (lambda x: F.interpolate(x, size=(7, 3)), lambda th, x: th.nn.functional.interpolate(x, size=(7, 3)),
                         (2, 3, 5, 6)),
    "interpolate_1d_fraction": (lambda x: F.interpolate(x, scale_factor=1.5),
                                lambda th, x: th.nn.functional.interpolate(x, scale_factor=1.5), (2, 3, 5)),
    "pixel_shuffle": (lambda x: nn.PixelShuffle(2)(x) * nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(x)).sum(),
                      lambda th, x: th.nn.PixelShuffle(2)(x) * th.nn.PixelUnshuffle(2)(th.nn.PixelShuffle(2)(x)).sum(),
                      (2, 8, 3, 4)),
    "pixel_shuffle_one_image": (lambda x: nn.PixelShuffle(2)(x), lambda th, x: th.nn.PixelShuffle(2)(x), (8, 3, 4)),
    "pixel_unshuffle_extra_dims": (lambda x: nn.PixelUnshuffle(3)(x), lambda th, x: th.nn.PixelUnshuffle(3)(x),
                                   (2, 2, 3, 6, 9)),
}


@pytest.mark.parametrize("name", RESHAPING_LAYERS)
def test_padding_resizing_and_pixel_shuffle_match_torch(name):
    mine, theirs, shape = RESHAPING_LAYERS[name]
    assert_matches_torch(mine, lambda x: theirs(torch(), x), normal(*shape))
    assert_gradients_match(mine, normal(*shape))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_torch(mode):
    th = torch()
    ours = to_float64(Conv2d(3, 4, 3, padding=1, padding_mode=mode))
    theirs = th.nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    with th.no_grad():
        theirs.weight.copy_(th.tensor(ours.weight.data))
        theirs.bias.copy_(th.tensor(ours.bias.data))
    assert_matches_torch(ours, theirs, normal(2, 3, 5, 6))
    grouped = to_float64(Conv2d(4, 4, 3, padding=1, padding_mode=mode, groups=2))
    assert grouped(Tensor(normal(1, 4, 4, 4), dtype=np.float64)).shape == (1, 4, 4, 4)
    with pytest.raises(ValueError, match="padding_mode"):
        Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(RuntimeError, match="smaller than the dimension"):  # PyTorch's error type
        F.pad(Tensor(np.zeros((1, 1, 2, 2))), (2, 2, 0, 0), mode="reflect")


@pytest.mark.parametrize("loss", ["MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
                                  "TripletMarginLoss_swap"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_losses_match_torch(loss, reduction):
    th = torch()
    signs = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    name, options = (loss[:-5], {"swap": True}) if loss.endswith("_swap") else (loss, {})
    ours, theirs = getattr(nn, name)(reduction=reduction, **options), getattr(th.nn, name)(reduction=reduction, **options)
    if name == "MarginRankingLoss":
        arrays, extra = (normal(6), normal(6)), (Tensor(signs), th.tensor(signs))
    elif name == "HingeEmbeddingLoss":
        arrays, extra = (np.abs(normal(6)),), (Tensor(signs), th.tensor(signs))
    elif name == "CosineEmbeddingLoss":
        arrays, extra = (normal(6, 4), normal(6, 4)), (Tensor(signs), th.tensor(signs))
    else:
        arrays, extra = (normal(6, 4), normal(6, 4), normal(6, 4)), (None, None)
    mine = (lambda *a: ours(*a, extra[0])) if extra[0] is not None else ours
    reference = (lambda *a: theirs(*a, extra[1])) if extra[1] is not None else theirs
    assert_matches_torch(mine, reference, *arrays)


def test_channel_dropout_drops_whole_channels_and_rescales():
    np.random.seed(0)
    x = T(np.ones((8, 6, 3, 3)))
    out = nn.Dropout2d(0.5)(x).data
    per_channel = out.reshape(8, 6, -1)
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1)), "a channel is kept or dropped whole"
    assert set(np.unique(out)) == {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7
    sequences = F.dropout1d(T(np.ones((4, 5, 7))), 0.4).data
    assert np.all(sequences.min(axis=-1) == sequences.max(axis=-1)) and set(np.unique(sequences)) <= {0.0, 1 / 0.6}
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x and nn.Dropout1d(0.0)(x) is x
    with pytest.raises(ValueError, match="spatial"):
        nn.Dropout2d(0.5)(T(np.ones((2, 3))))


def _torch_encoder_layer(ours, th, **options):
    """torch.nn.TransformerEncoderLayer holding our layer's weights."""
    theirs = th.nn.TransformerEncoderLayer(ours.linear1.in_features, ours.self_attn.num_heads,
                                           ours.linear1.out_features, **options).double()
    theirs.self_attn = _torch_mha(ours.self_attn, options.get("batch_first", False))
    with th.no_grad():
        for name in ("linear1", "linear2", "norm1", "norm2"):
            for kind in ("weight", "bias"):
                getattr(getattr(theirs, name), kind).copy_(th.tensor(getattr(getattr(ours, name), kind).data))
    return theirs


@pytest.mark.parametrize("options", [{}, {"norm_first": True}, {"batch_first": True, "activation": "gelu"}],
                         ids=["post_norm", "pre_norm", "batch_first_gelu"])
def test_transformer_encoder_layer_and_encoder_match_torch(options):
    th = torch()
    np.random.seed(0)
    ours = to_float64(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **options))
    _random_parameters(ours)
    theirs = _torch_encoder_layer(ours, th, dropout=0.0, **options)
    theirs.eval()  # PyTorch's fast path is taken in eval mode only with no gradient: the same math either way
    shape = (2, 5, 8) if options.get("batch_first") else (5, 2, 8)
    causal = np.triu(np.full((5, 5), -np.inf), 1)  # float: added to the scores
    blocked = np.triu(np.ones((5, 5), dtype=bool), 1)  # bool: True = may not attend (PyTorch's convention here)
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    assert_matches_torch(lambda x: ours(x, src_mask=blocked, src_key_padding_mask=padding),
                         lambda x: theirs(x, src_mask=th.tensor(blocked), src_key_padding_mask=th.tensor(padding)),
                         normal(*shape), atol=1e-8)
    stack = to_float64(nn.TransformerEncoder(ours, num_layers=2, norm=LayerNorm(8)))
    reference = th.nn.TransformerEncoder(theirs, num_layers=2, norm=th.nn.LayerNorm(8).double(), enable_nested_tensor=False)
    assert [n for n, _ in stack.named_parameters()][-2:] == ["norm.weight", "norm.bias"]
    assert len(stack.layers) == 2 and stack.layers[0] is not stack.layers[1] and stack.layers[0] is not ours
    assert_matches_torch(lambda x: stack(x, mask=causal), lambda x: reference(x, mask=th.tensor(causal)), normal(*shape),
                         atol=1e-8)


def test_transformer_encoder_layer_trains_with_dropout_and_refuses_unknown_activations():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    assert layer.dropout.p == 0.1 and not layer.norm_first and layer.linear1.out_features == 16
    out = layer(Tensor(normal(4, 3, 8)))
    out.sum().backward()
    assert out.shape == (4, 3, 8) and all(p.grad is not None for p in layer.parameters())
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    params = [Parameter(np.ones((2, 2))), Parameter(np.zeros(3))]
    vector = nn.utils.parameters_to_vector(params)
    assert vector.shape == (7,) and vector.data.tolist() == [1.0] * 4 + [0.0] * 3
    nn.utils.vector_to_parameters(Tensor(np.arange(7.0)), params)
    assert params[0].data.tolist() == [[0.0, 1.0], [2.0, 3.0]] and params[1].data.tolist() == [4.0, 5.0, 6.0]
    with pytest.raises(ValueError, match="7 numbers"):
        nn.utils.vector_to_parameters(Tensor(np.arange(6.0)), params)


def test_embedding_from_pretrained_and_layer_norm_without_bias_match_torch():
    th = torch()
    table = normal(5, 3)
    for freeze in (True, False):
        ours = nn.Embedding.from_pretrained(Tensor(table, dtype=np.float64), freeze=freeze, padding_idx=1)
        theirs = th.nn.Embedding.from_pretrained(th.tensor(table), freeze=freeze, padding_idx=1)
        ids = np.array([[1, 4, 0], [2, 2, 1]])
        out, ref = ours(Tensor(ids)), theirs(th.tensor(ids))
        np.testing.assert_array_equal(out.data, ref.detach().numpy())
        assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
        if not freeze:
            out.sum().backward()
            ref.sum().backward()
            np.testing.assert_array_equal(ours.weight.grad.data, theirs.weight.grad.numpy())  # row 1 (padding): none
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(Tensor(np.zeros(3)))
    ours, theirs = to_float64(LayerNorm(4, bias=False)), th.nn.LayerNorm(4, bias=False).double()
    ours.weight.data = normal(4)
    with th.no_grad():
        theirs.weight.copy_(th.tensor(ours.weight.data))
    assert ours.bias is None and [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert_matches_torch(ours, theirs, normal(2, 3, 4))


def test_trunc_normal_orthogonal_and_eye_init_like_torch():
    th = torch()
    np.random.seed(1)
    w = Parameter(np.zeros((200, 300)))
    storage = w.data
    assert nn.init.trunc_normal_(w, mean=0.5, std=1.0, a=-0.5, b=1.0) is w and w.data is storage
    assert w.data.min() >= -0.5 and w.data.max() <= 1.0
    reference = th.nn.init.trunc_normal_(th.empty(200, 300), mean=0.5, std=1.0, a=-0.5, b=1.0)
    assert np.isclose(w.data.mean(), reference.mean().item(), atol=0.01)  # same truncated distribution
    assert np.isclose(w.data.std(), reference.std().item(), rtol=0.02)
    for shape in ((6, 4), (4, 6), (8, 2, 3, 3)):
        q = nn.init.orthogonal_(Parameter(np.zeros(shape)), gain=2.0).data.reshape(shape[0], -1).astype(np.float64)
        small = min(q.shape)
        gram = q @ q.T if q.shape[0] == small else q.T @ q
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    eye = nn.init.eye_(Parameter(np.ones((2, 3))))
    assert eye.data.tolist() == th.nn.init.eye_(th.ones(2, 3)).tolist()
    with pytest.raises(ValueError, match="2-D"):
        nn.init.eye_(Parameter(np.ones(3)))
    with pytest.raises(ValueError, match="2 or more"):
        nn.init.orthogonal_(Parameter(np.ones(3)))


# ---------------------------------------------------------------------------------------
# Sequential and the containers, the Module tree


def test_sequential_behaves_like_torchs():
    th = torch()
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid())
    ref = th.nn.Sequential(th.nn.Linear(2, 3), th.nn.ReLU(), th.nn.Linear(3, 1), th.nn.Sigmoid())
    head = ours[1:3]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert [n for n, _ in head.named_parameters()] == [n for n, _ in ref[1:3].named_parameters()] == ["2.weight",
                                                                                                        "2.bias"]
    assert ours[-1] is ours[3] and [type(m).__name__ for m in ours] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    with pytest.raises(IndexError):
        ours[4]
    ours.append(nn.Identity())
    assert len(ours) == 5 and ours(T(normal(4, 2))).shape == (4, 1)
    del ours[1]
    assert [n for n, _ in ours.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"] and named.fc is named[0]
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


def test_module_list_and_dict_register_their_modules():
    th = torch()
    ours = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    ref = th.nn.ModuleList([th.nn.Linear(2, 2), th.nn.Linear(2, 2)])
    ours.insert(1, nn.ReLU())
    ref.insert(1, th.nn.ReLU())
    ours.extend([nn.Linear(2, 1)])
    ref.extend([th.nn.Linear(2, 1)])
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert isinstance(ours[::2], nn.ModuleList) and len(ours[::2]) == 2
    ours[1] = nn.Tanh()
    assert isinstance(ours[1], nn.Tanh)
    holder = nn.ModuleDict({"a": nn.Linear(2, 2)})
    holder["b"] = nn.ModuleList([nn.Linear(2, 3)])
    assert [n for n, _ in holder.named_parameters()] == ["a.weight", "a.bias", "b.0.weight", "b.0.bias"]
    assert "a" in holder and list(holder) == ["a", "b"] and holder.pop("a") is not None and len(holder) == 1
    x = T(normal(2, 3))
    assert nn.Identity(54, unused=1)(x) is x


def test_parameter_list_and_dict_register_like_torch():
    th = torch()

    def Mixture(module):
        ones = (lambda n: Tensor(np.ones(n))) if module is nn else th.ones
        holder = module.Module()
        holder.weights = module.ParameterList([module.Parameter(ones(2))])
        holder.scales = module.ParameterDict({"a": module.Parameter(ones(3))})
        return holder

    ours, theirs = Mixture(nn), Mixture(th.nn)
    ours.weights.append(Tensor(np.zeros(4), requires_grad=True))  # a plain Tensor becomes a Parameter
    theirs.weights.append(th.zeros(4, requires_grad=True))
    ours.scales["b"], theirs.scales["b"] = Tensor(np.zeros(1)), th.zeros(1)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(isinstance(p, nn.Parameter) for p in ours.parameters())
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
    assert len(ours.weights) == 2 and isinstance(ours.weights[:1], nn.ParameterList)
    assert list(ours.scales) == ["a", "b"] and "b" in ours.scales and ours.scales["a"].shape == (3,)
    restored = Mixture(nn)
    restored.weights.append(Tensor(np.ones(4)))
    restored.scales["b"] = Tensor(np.ones(1))
    restored.load_state_dict(ours.state_dict())
    assert restored.weights[1].data.tolist() == [0.0] * 4
    with pytest.raises(TypeError, match="Parameters or Tensors"):
        nn.ParameterList([nn.Linear(2, 2)])


def test_forward_hooks_see_and_change_inputs_and_outputs_like_torch():
    th = torch()
    layers = {}
    for lib, Linear, Sequential, ReLU in ((nn, nn.Linear, nn.Sequential, nn.ReLU),
                                          (th.nn, th.nn.Linear, th.nn.Sequential, th.nn.ReLU)):
        model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
        if lib is nn:
            to_float64(model)
        else:
            model.double()
        layers[lib] = model
    with th.no_grad():
        for ours, theirs in zip(layers[nn].parameters(), layers[th.nn].parameters()):
            theirs.copy_(th.tensor(ours.data))
    x = normal(5, 3)
    seen = {}
    for lib, wrap, array in ((nn, T, lambda t: t.data), (th.nn, th.tensor, lambda t: t.detach().numpy())):
        model, record = layers[lib], []
        hidden = model[1].register_forward_hook(lambda module, args, out, record=record, array=array:
                                                record.append(array(out).copy()))
        model[2].register_forward_pre_hook(lambda module, args: (args[0] * 2,))  # doubles the last layer's input
        model[0].register_forward_hook(lambda module, args, out: out + 1)  # shifts the first layer's output
        with model[2].register_forward_hook(lambda module, args, out: None):  # a hook returning None changes nothing
            out = model(wrap(x))
        seen[lib] = (array(out), record[0])
        hidden.remove()
        model(wrap(x))
        assert len(record) == 1, "a removed hook is not called again"
    np.testing.assert_allclose(seen[nn][0], seen[th.nn][0], rtol=1e-10)
    np.testing.assert_allclose(seen[nn][1], seen[th.nn][1], rtol=1e-10)
    ours = layers[nn]
    assert ours.get_parameter("0.weight") is ours[0].weight and ours.cpu() is ours
    with pytest.raises(AttributeError, match="no parameter"):
        ours.get_parameter("1.weight")
    norm = nn.BatchNorm1d(4)
    assert norm.get_buffer("running_mean") is norm.running_mean
    assert ours.half()[0].weight.dtype == np.float16 and ours.type(np.float32)[0].weight.dtype == np.float32
    ours.register_module("extra", nn.ReLU())
    assert isinstance(ours.extra, nn.ReLU)


def test_module_tree_methods():
    th = torch()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
            self.head = nn.Linear(4, 2)
            self.register_buffer("scale", Tensor([2.0]))
            self.register_buffer("cache", Tensor([0.0]), persistent=False)

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    class TorchNet(th.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = th.nn.Sequential(th.nn.Linear(3, 4), th.nn.BatchNorm1d(4), th.nn.ReLU())
            self.head = th.nn.Linear(4, 2)
            self.register_buffer("scale", th.tensor([2.0]))
            self.register_buffer("cache", th.tensor([0.0]), persistent=False)

    net, ref = Net(), TorchNet()
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in ref.named_children()]
    assert sorted(n for n, _ in net.named_buffers()) == sorted(n for n, _ in ref.named_buffers())
    assert set(net.state_dict()) == set(ref.state_dict()), "persistent buffers are saved, the others not"
    assert len(net.modules()) == 6 and len(net.children()) == 2
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "BatchNorm1d", "ReLU", "Sequential", "Linear", "Net"]
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert net.requires_grad_(False) is net and not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    net(T(normal(5, 3))).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.data) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(TypeError):
        net.register_buffer("bad", np.zeros(2))


# ---------------------------------------------------------------------------------------
# PyTorch's names and places, at every stage of the course


NAMES_PROBE = """
import json, warnings
warnings.simplefilter("error")
import tinytorch.nn as nn, tinytorch.nn.functional as F, tinytorch.optim as optim
found = {}
for where, name in %r:
    try:
        getattr({"nn": nn, "F": F, "optim": optim}[where], name)
        found[where + "." + name] = "ok"
    except (AttributeError, ImportError) as err:
        found[where + "." + name] = str(err)
print(json.dumps(found))
"""

ASKED = [("nn", "Embedding"), ("nn", "LayerNorm"), ("nn", "CharTokenizer"), ("nn", "init"), ("nn", "Dropout"),
         ("F", "conv2d"), ("F", "relu"), ("F", "scaled_dot_product_attention"), ("optim", "lr_scheduler"),
         ("nn", "ModuleList"), ("nn", "relu")]


def _probe_names(project):
    import json
    import subprocess
    import sys

    from conftest import project_env

    result = subprocess.run([sys.executable, "-c", NAMES_PROBE % (ASKED,)], cwd=project, env=project_env(project),
                            capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_torch_names_appear_with_their_modules_and_say_where_they_come_from(project):
    from tito.exporter import export_module
    from tito.project import resolve_module

    for module in ("00", "01", "02", "03"):
        export_module(project, resolve_module(project, module), warn=lambda message: None)
    seen = _probe_names(project)
    assert seen["F.relu"] == "ok" and "has no attribute 'relu'" in seen["nn.relu"]
    for name, module in (("nn.Embedding", "06"), ("nn.LayerNorm", "08"), ("nn.init", "04"), ("nn.Dropout", "04"),
                         ("F.conv2d", "05"), ("F.scaled_dot_product_attention", "07"),
                         ("optim.lr_scheduler", "04"), ("nn.ModuleList", "08")):
        assert "not exported yet" in seen[name] and f"tito module complete {module}" in seen[name], (name, seen[name])
    assert "not exported yet" not in seen["nn.CharTokenizer"], "tinytorch.nn never holds the tokenizer"
    for module in ("04", "06"):
        export_module(project, resolve_module(project, module), warn=lambda message: None)
    seen = _probe_names(project)
    for name in ("nn.Embedding", "nn.init", "nn.Dropout", "optim.lr_scheduler"):
        assert seen[name] == "ok", (name, seen[name])
    assert "has no attribute 'CharTokenizer'" in seen["nn.CharTokenizer"] and "not exported" not in seen["nn.CharTokenizer"]
    assert "tito module complete 08" in seen["nn.LayerNorm"] and "tito module complete 05" in seen["F.conv2d"]


def test_tensor_softmax_methods_and_mT_match_torch():
    th = torch()
    z = normal(2, 3, 4)
    assert_matches_torch(lambda t: t.softmax(-1), lambda t: t.softmax(-1), z, atol=1e-10)
    assert_matches_torch(lambda t: t.log_softmax(dim=1), lambda t: t.log_softmax(dim=1), z, atol=1e-10)
    assert_matches_torch(lambda t: t.mT @ t, lambda t: t.mT @ t, z, atol=1e-10)
    assert T(z).mT.shape == tuple(th.tensor(z).mT.shape)


@pytest.mark.parametrize("padding_idx", [0, 3, -1])
def test_embedding_padding_idx_matches_torch_through_adam_steps(padding_idx):
    th = torch()
    ours, theirs = nn.Embedding(6, 4, padding_idx=padding_idx), th.nn.Embedding(6, 4, padding_idx=padding_idx)
    assert np.all(ours.weight.data[padding_idx] == 0) and ours.padding_idx == theirs.padding_idx
    with th.no_grad():
        theirs.weight.copy_(th.tensor(ours.weight.data))
    opt = optim.Adam(ours.parameters(), lr=0.1, weight_decay=0.1)
    opt_t = th.optim.Adam(theirs.parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(3):
        ids = rng.integers(0, 6, (3, 5))
        ids[0, 0] = padding_idx % 6  # the padding row is used every step
        upstream = rng.normal(size=(3, 5, 4)).astype(np.float32)
        opt.zero_grad()
        opt_t.zero_grad()
        (ours(Tensor(ids)) * Tensor(upstream)).sum().backward()
        (theirs(th.tensor(ids)) * th.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-6)
        opt.step()
        opt_t.step()
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(6, 4, padding_idx=6)


def test_functional_embedding_padding_idx_keeps_the_row_and_stops_its_gradient_like_torch():
    th = torch()
    ids = np.array([[0, 1, 1, 4], [1, 2, 3, 1]])
    assert_matches_torch(lambda w: F.embedding(ids, w, padding_idx=1),  # a non-zero padding row: looked up as it is
                         lambda w: th.nn.functional.embedding(th.tensor(ids), w, padding_idx=1), normal(5, 3))


def _torch_decoder_layer(ours, th, **options):
    """torch.nn.TransformerDecoderLayer holding our layer's weights."""
    theirs = th.nn.TransformerDecoderLayer(ours.linear1.in_features, ours.self_attn.num_heads,
                                           ours.linear1.out_features, **options).double()
    batch_first = options.get("batch_first", False)
    theirs.self_attn, theirs.multihead_attn = _torch_mha(ours.self_attn, batch_first), _torch_mha(ours.multihead_attn, batch_first)
    with th.no_grad():
        for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
            for kind in ("weight", "bias"):
                getattr(getattr(theirs, name), kind).copy_(th.tensor(getattr(getattr(ours, name), kind).data))
    return theirs


@pytest.mark.parametrize("options", [{}, {"norm_first": True}, {"batch_first": True, "activation": "gelu"}],
                         ids=["post_norm", "pre_norm", "batch_first_gelu"])
def test_transformer_decoder_layer_and_decoder_match_torch(options):
    th = torch()
    np.random.seed(1)
    ours = to_float64(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **options))
    _random_parameters(ours)
    theirs = _torch_decoder_layer(ours, th, dropout=0.0, **options)
    first = options.get("batch_first")
    target_shape, memory_shape = ((2, 5, 8), (2, 3, 8)) if first else ((5, 2, 8), (3, 2, 8))
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=np.float64).data
    padding = np.array([[False] * 3, [False, False, True]])  # the second memory's last position is padding
    assert_matches_torch(
        lambda t, m: ours(t, m, tgt_mask=causal, memory_key_padding_mask=padding),
        lambda t, m: theirs(t, m, tgt_mask=th.tensor(causal), memory_key_padding_mask=th.tensor(padding)),
        normal(*target_shape), normal(*memory_shape), atol=1e-8)
    stack = to_float64(nn.TransformerDecoder(ours, num_layers=2, norm=LayerNorm(8)))
    reference = th.nn.TransformerDecoder(theirs, num_layers=2, norm=th.nn.LayerNorm(8).double())
    assert len(stack.layers) == 2 and stack.layers[0] is not stack.layers[1]
    assert_matches_torch(lambda t, m: stack(t, m, tgt_mask=causal, tgt_is_causal=True),
                         lambda t, m: reference(t, m, tgt_mask=th.tensor(causal), tgt_is_causal=True),
                         normal(*target_shape), normal(*memory_shape), atol=1e-8)


def test_transformer_matches_torch_with_its_names_init_and_masks():
    th = torch()
    np.random.seed(2)
    ours = to_float64(nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                     dim_feedforward=16, dropout=0.0, batch_first=True))
    theirs = th.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16,
                               dropout=0.0, batch_first=True).double()
    packed = {name.replace("in_proj_", "q_proj.") for name in theirs.state_dict()}  # q_proj/k_proj/v_proj here
    ours_names = {name.replace("k_proj.", "q_proj.").replace("v_proj.", "q_proj.") for name in ours.state_dict()}
    assert ours_names == packed, "PyTorch's parameter names, the attention's in_proj split in three"
    weights = ours.encoder.layers[0].linear1.weight.data  # Xavier-uniform: bound sqrt(6 / (8 + 16)), std 0.29
    assert np.abs(weights).max() <= math.sqrt(6 / 24) and weights.std() > 0.25, "not Linear's own init (std 0.20)"
    with th.no_grad():
        for i, layer in enumerate(ours.encoder.layers):
            theirs.encoder.layers[i] = _torch_encoder_layer(layer, th, dropout=0.0, batch_first=True)
        theirs.decoder.layers[0] = _torch_decoder_layer(ours.decoder.layers[0], th, dropout=0.0, batch_first=True)
        for stack in ("encoder", "decoder"):
            for kind in ("weight", "bias"):
                getattr(getattr(theirs, stack).norm, kind).copy_(th.tensor(getattr(getattr(ours, stack).norm, kind).data))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    np.testing.assert_array_equal(mask.data, th.nn.Transformer.generate_square_subsequent_mask(4, dtype=th.float64).numpy())
    assert_matches_torch(lambda s, t: ours(s, t, tgt_mask=mask.data),
                         lambda s, t: theirs(s, t, tgt_mask=th.tensor(mask.data)),
                         normal(2, 6, 8), normal(2, 4, 8), atol=1e-8)
    with pytest.raises(RuntimeError, match="batch number"):
        ours(Tensor(normal(2, 6, 8)), Tensor(normal(3, 4, 8)))
    with pytest.raises(RuntimeError, match="d_model"):
        ours(Tensor(normal(2, 6, 4)), Tensor(normal(2, 4, 4)))


@pytest.mark.parametrize("length, options", [(4, {"scale_factor": 2.6}), (6, {"size": 74}), (5, {"scale_factor": 1.7}),
                                             (7, {"size": 3}), (3, {"scale_factor": (3,)})])
def test_module_03s_nearest_interpolation_picks_torchs_pixels(length, options):
    """Module 03's own interpolate (before module 05 adds the other modes): a given scale_factor sets the
    source pixel, floor(i / scale), in float32 as PyTorch; a size alone, floor(i · in / out)."""
    from tinytorch.nn.modules import interpolate

    th = torch()
    x = np.arange(length, dtype=np.float32).reshape(1, 1, length)
    want = th.nn.functional.interpolate(th.tensor(x), mode="nearest", **options).numpy()
    np.testing.assert_array_equal(interpolate(Tensor(x), **options).data, want)
    assert repr(nn.ZeroPad2d(1)) == repr(th.nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"


@pytest.mark.parametrize("batch_first", [False, True])
def test_attention_and_transformer_layers_take_one_sequence_as_torch(batch_first):
    """PyTorch's MultiheadAttention and transformer layers take one (L, E) sequence without a batch."""
    th = torch()
    np.random.seed(3)
    ours = to_float64(nn.MultiheadAttention(8, 2, batch_first=batch_first))
    _random_parameters(ours)
    theirs = _torch_mha(ours, batch_first)
    padding = np.array([False, False, True, False, False])
    for average in (True, False):
        x = normal(5, 8)
        got = ours(Tensor(x, dtype=np.float64), Tensor(x, dtype=np.float64), Tensor(x, dtype=np.float64),
                   key_padding_mask=padding, average_attn_weights=average)
        want = theirs(th.tensor(x), th.tensor(x), th.tensor(x), key_padding_mask=th.tensor(padding),
                      average_attn_weights=average)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g.data, w.detach().numpy(), atol=1e-10)
    assert_matches_torch(lambda q: ours(q, q, q)[0], lambda q: theirs(q, q, q)[0], normal(5, 8), atol=1e-10)
    encoder = to_float64(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=batch_first))
    _random_parameters(encoder)
    reference = _torch_encoder_layer(encoder, th, dropout=0.0, batch_first=batch_first)
    assert_matches_torch(encoder, reference, normal(5, 8), atol=1e-8)
    decoder = to_float64(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=batch_first))
    _random_parameters(decoder)
    reference = _torch_decoder_layer(decoder, th, dropout=0.0, batch_first=batch_first)
    assert_matches_torch(decoder, reference, normal(5, 8), normal(3, 8), atol=1e-8)
