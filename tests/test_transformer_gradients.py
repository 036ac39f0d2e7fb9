"""Gradients of modules 06–08 (embeddings, attention, transformer) in float64.

Each operation is checked against central finite differences, and against PyTorch
(``F.embedding``, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``,
``F.layer_norm``) where it is installed.
"""

import numpy as np
import pytest

from gradcheck import assert_gradients_match, assert_matches_torch, normal, numerical_gradient, rng, torch

from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import GPT, LayerNorm, LayerNormOp, TransformerBlock
from tinytorch.nn.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from tinytorch.nn.modules import SoftmaxOp
from tinytorch.text.embeddings import Embedding, EmbeddingOp, LearnedPositionalEmbedding, PositionalEncoding

IDS = np.array([[1, 3, 1], [0, 3, 3]])  # ids 1 and 3 repeat; 2 and 4 never appear


def to_float64(module):
    """Make a module's parameters float64, so finite differences are accurate."""
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def assert_parameter_gradients(module, forward, atol=1e-6, rtol=1e-4):
    """Every parameter's autograd gradient of sum(forward() * R) equals finite differences."""
    out = forward()
    weights = np.random.default_rng(0).normal(size=out.shape)
    module.zero_grad()
    (out * Tensor(weights, dtype=np.float64)).sum().backward()
    for name, p in module.named_parameters():
        def scalar(values, p=p):
            saved, p.data = p.data, values
            try:
                return float((forward().data * weights).sum())
            finally:
                p.data = saved

        expected = numerical_gradient(scalar, p.data.copy())
        assert p.grad is not None, f"{name} got no gradient"
        np.testing.assert_allclose(p.grad.data, expected, atol=atol, rtol=rtol, err_msg=name)


# -- 06 embeddings -----------------------------------------------------------------------

def test_embedding_gradient_accumulates_repeated_ids():
    assert_gradients_match(lambda w: EmbeddingOp.apply(w, ids=IDS), normal(5, 4))


def test_embedding_gradient_by_hand():
    emb = to_float64(Embedding(5, 2))
    out = emb(IDS)
    upstream = normal(*out.shape)
    (out * Tensor(upstream, dtype=np.float64)).sum().backward()
    expected = np.zeros((5, 2))
    for (i, j), token in np.ndenumerate(IDS):
        expected[token] += upstream[i, j]
    np.testing.assert_allclose(emb.weight.grad.data, expected)
    assert not np.any(emb.weight.grad.data[[2, 4]]), "unused ids get exactly zero"


def test_learned_positions_gradient():
    pos = to_float64(LearnedPositionalEmbedding(6, 3))
    x = Tensor(normal(2, 4, 3), dtype=np.float64, requires_grad=True)
    assert_parameter_gradients(pos, lambda: pos(x))
    assert np.allclose(pos.weight.grad.data[4:], 0.0)


def test_sinusoidal_positions_pass_the_gradient_through():
    pe = PositionalEncoding(10, 4)
    assert_gradients_match(lambda x: pe(x), normal(2, 5, 4))


def test_embedding_matches_torch():
    th = torch()
    F = th.nn.functional
    assert_matches_torch(
        lambda w: EmbeddingOp.apply(w, ids=IDS),
        lambda w: F.embedding(th.tensor(IDS), w),
        normal(5, 4),
    )


# -- 07 attention ------------------------------------------------------------------------

def test_softmax_gradient():
    assert_gradients_match(lambda x: SoftmaxOp.apply(x, dim=-1), normal(3, 5))
    assert_gradients_match(lambda x: SoftmaxOp.apply(x, dim=1), normal(2, 4, 3))


@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "causal"])
def test_attention_gradient(masked):
    mask = causal_mask(4) if masked else None
    assert_gradients_match(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask),
        normal(2, 4, 3), normal(2, 4, 3), normal(2, 4, 5),
    )


def test_attention_gradient_with_padding_mask_and_heads():
    # (B, H, T_q, d) queries, 6 keys of which the last two are padding for batch 1
    mask = np.ones((2, 1, 1, 6), dtype=bool)
    mask[1, ..., 4:] = False
    assert_gradients_match(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask),
        normal(2, 2, 3, 4), normal(2, 2, 6, 4), normal(2, 2, 6, 4),
    )


def test_multi_head_attention_parameter_gradients():
    mha = to_float64(MultiHeadAttention(6, 2))
    x = Tensor(normal(2, 4, 6), dtype=np.float64)
    assert_parameter_gradients(mha, lambda: mha(x, mask=causal_mask(4)))


def test_multi_head_attention_input_gradient():
    mha = to_float64(MultiHeadAttention(6, 3))
    memory = Tensor(normal(2, 5, 6), dtype=np.float64)
    assert_gradients_match(lambda q: mha(q, memory, memory), normal(2, 3, 6))


@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "causal"])
def test_attention_matches_torch(masked):
    th = torch()
    F = th.nn.functional
    mask = causal_mask(5) if masked else None
    assert_matches_torch(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask),
        lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=None if mask is None else th.tensor(mask.data)
        ),
        normal(2, 3, 5, 4), normal(2, 3, 5, 4), normal(2, 3, 5, 4),
    )


def test_multi_head_attention_matches_torch():
    th = torch()
    mha = to_float64(MultiHeadAttention(8, 2))
    ref = th.nn.MultiheadAttention(8, 2, batch_first=True, dtype=th.float64)
    with th.no_grad():
        ref.in_proj_weight.copy_(th.tensor(np.concatenate([mha.q_proj.weight.data, mha.k_proj.weight.data, mha.v_proj.weight.data])))
        ref.in_proj_bias.copy_(th.tensor(np.concatenate([mha.q_proj.bias.data, mha.k_proj.bias.data, mha.v_proj.bias.data])))
        ref.out_proj.weight.copy_(th.tensor(mha.out_proj.weight.data))
        ref.out_proj.bias.copy_(th.tensor(mha.out_proj.bias.data))
    mask = causal_mask(5)
    # nn.MultiheadAttention's boolean mask means the opposite: True = *not* allowed
    assert_matches_torch(
        lambda x: mha(x, mask=mask),
        lambda x: ref(x, x, x, attn_mask=th.tensor(~mask.data), need_weights=False)[0],
        normal(3, 5, 8),
    )
    x = Tensor(normal(3, 5, 8), dtype=np.float64)
    weights = rng.normal(size=(3, 5, 8))
    (mha(x, mask=mask) * Tensor(weights, dtype=np.float64)).sum().backward()
    xt = th.tensor(x.data)
    (ref(xt, xt, xt, attn_mask=th.tensor(~mask.data), need_weights=False)[0] * th.tensor(weights)).sum().backward()
    np.testing.assert_allclose(mha.v_proj.weight.grad.data, ref.in_proj_weight.grad[16:].numpy(), atol=1e-8)
    np.testing.assert_allclose(mha.q_proj.weight.grad.data, ref.in_proj_weight.grad[:8].numpy(), atol=1e-8)
    np.testing.assert_allclose(mha.out_proj.weight.grad.data, ref.out_proj.weight.grad.numpy(), atol=1e-8)


# -- 08 transformer ----------------------------------------------------------------------

def test_layer_norm_gradient():
    assert_gradients_match(
        lambda x, w, b: LayerNormOp.apply(x, w, b, eps=1e-5), normal(2, 3, 5), normal(5), normal(5)
    )


def test_layer_norm_gradient_over_two_dims():
    assert_gradients_match(
        lambda x, w, b: LayerNormOp.apply(x, w, b, eps=1e-5), normal(2, 3, 4), normal(3, 4), normal(3, 4)
    )


def test_layer_norm_matches_torch():
    th = torch()
    F = th.nn.functional
    assert_matches_torch(
        lambda x, w, b: LayerNormOp.apply(x, w, b, eps=1e-5),
        lambda x, w, b: F.layer_norm(x, (6,), w, b, eps=1e-5),
        normal(4, 3, 6) * 3 + 1, normal(6), normal(6),
    )


def test_layer_norm_module_is_stable_for_large_offsets():
    ln = LayerNorm(4)
    x = Tensor(np.array([[1e4, 1e4 + 1, 1e4 + 2, 1e4 + 3]]))
    y = ln(x).data
    expected = (np.arange(4) - 1.5) / np.sqrt(1.25 + 1e-5)
    np.testing.assert_allclose(y[0], expected, atol=1e-3)


def test_transformer_block_parameter_gradients():
    np.random.seed(0)
    block = to_float64(TransformerBlock(4, 2, 8, causal=True))
    x = Tensor(normal(2, 3, 4), dtype=np.float64)
    assert_parameter_gradients(block, lambda: block(x))


def test_gpt_gradients_reach_every_parameter():
    np.random.seed(1)
    model = to_float64(GPT(vocab_size=5, embed_dim=4, num_heads=2, num_layers=1, max_len=4, ff_dim=8))
    ids = np.array([[0, 1, 1, 4], [2, 2, 0, 3]])
    assert_parameter_gradients(model, lambda: model(ids))
