"""Modules 10, 11 and 13 against PyTorch, where it is installed: int8 per-channel
quantization (``torch.quantize_per_channel``), magnitude pruning and masked layers
(``torch.nn.utils.prune``), CSR (``Tensor.to_sparse_csr``) and the fused inference
kernels (``F.gelu(approximate="tanh")``, ``F.layer_norm``) and the fused attention
(``F.scaled_dot_product_attention``, values and gradients). The inline tests of each
module check the rest by hand.
"""

import importlib

import numpy as np
import pytest

from gradcheck import F, assert_gradients_match, assert_matches_torch, normal, torch

from tinytorch.compress.pruning import MaskedLinear, global_magnitude_masks, magnitude_mask, to_csr
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear
from tinytorch.nn.attention import scaled_dot_product_attention
from tinytorch.perf.acceleration import fused_gelu, fused_layer_norm, use_fused_attention
from tinytorch.quant.int8 import QuantizedLinear, dequantize, quantize_per_channel


def torch_prune():
    torch()  # skips where PyTorch is not installed
    return importlib.import_module("torch.nn.utils.prune")


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_quantize_per_channel_matches_torch():
    th = torch()
    w = (normal(8, 16) * np.linspace(0.01, 3.0, 8)[:, None]).astype(np.float32)  # rows of very different ranges
    q, scale = quantize_per_channel(w)
    reference = th.quantize_per_channel(th.from_numpy(w), th.from_numpy(scale.astype(np.float64)),
                                        th.zeros(8, dtype=th.long), axis=0, dtype=th.qint8)
    assert np.array_equal(q, reference.int_repr().numpy())
    assert np.allclose(dequantize(q, scale), reference.dequantize().numpy())


def test_quantized_linear_matches_the_dequantized_torch_layer():
    th = torch()
    np.random.seed(0)
    layer = Linear(16, 8)
    x = normal(5, 16).astype(np.float32)
    quantized = QuantizedLinear.from_float(layer)
    weight = th.from_numpy(dequantize(quantized.weight_int8, quantized.scale))
    expected = F().linear(th.from_numpy(x), weight, th.from_numpy(layer.bias.data)).numpy()
    assert np.allclose(quantized(Tensor(x)).data, expected, atol=1e-5)


def test_magnitude_masks_match_torch_prune():
    th, prune = torch(), torch_prune()
    layers = [th.nn.Linear(6, 4), th.nn.Linear(4, 3)]
    weights = [layer.weight.detach().numpy().copy() for layer in layers]
    prune.l1_unstructured(layers[0], "weight", amount=0.5)
    assert np.array_equal(magnitude_mask(weights[0], 0.5), layers[0].weight_mask.numpy().astype(bool))
    fresh = [th.nn.Linear(6, 4), th.nn.Linear(4, 3)]
    with th.no_grad():
        for layer, w in zip(fresh, weights):
            layer.weight.copy_(th.from_numpy(w))
    prune.global_unstructured([(layer, "weight") for layer in fresh], pruning_method=prune.L1Unstructured, amount=0.6)
    ours = global_magnitude_masks(weights, 0.6)
    for mask, layer in zip(ours, fresh):
        assert np.array_equal(mask, layer.weight_mask.numpy().astype(bool))


def test_masked_linear_matches_torch_custom_mask():
    th = torch()
    np.random.seed(1)
    layer = Linear(6, 4)
    net = th.nn.Linear(6, 4)
    with th.no_grad():
        net.weight.copy_(th.from_numpy(layer.weight.data))
        net.bias.copy_(th.from_numpy(layer.bias.data))
    mask = magnitude_mask(layer.weight, 0.5)
    torch_prune().custom_from_mask(net, "weight", th.from_numpy(mask))
    masked = MaskedLinear(layer, mask)
    x = normal(3, 6).astype(np.float32)
    out, ref = masked(Tensor(x)), net(th.from_numpy(x))
    assert np.allclose(out.data, ref.detach().numpy(), atol=1e-6)
    upstream = normal(3, 4).astype(np.float32)
    (out * Tensor(upstream)).sum().backward()
    (ref * th.from_numpy(upstream)).sum().backward()
    assert np.allclose(layer.weight.grad.data, net.weight_orig.grad.numpy(), atol=1e-5), "pruned weights get no gradient"
    assert np.allclose(layer.bias.grad.data, net.bias.grad.numpy(), atol=1e-5)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_to_csr_matches_torch():
    th = torch()
    w = normal(5, 7).astype(np.float32)
    w[np.abs(w) < 0.8] = 0.0
    w[2] = 0.0  # an empty row
    values, cols, row_ptr = to_csr(w)
    reference = th.from_numpy(w).to_sparse_csr()
    assert np.array_equal(row_ptr, reference.crow_indices().numpy())
    assert np.array_equal(cols, reference.col_indices().numpy())
    assert np.array_equal(values, reference.values().numpy())


def test_fused_kernels_match_torch():
    th = torch()
    x = normal(4, 6, 16).astype(np.float32)
    weight, bias = normal(16).astype(np.float32), normal(16).astype(np.float32)
    gelu = F().gelu(th.from_numpy(x), approximate="tanh").numpy()
    assert np.allclose(fused_gelu(x), gelu, atol=1e-6)
    norm = F().layer_norm(th.from_numpy(x), (16,), th.from_numpy(weight), th.from_numpy(bias), eps=1e-5).numpy()
    assert np.allclose(fused_layer_norm(x, weight, bias), norm, atol=1e-5)
    wide = normal(6, 16).astype(np.float32)
    norm2 = F().layer_norm(th.from_numpy(x), (6, 16), th.from_numpy(wide), None, eps=1e-5).numpy()
    assert np.allclose(fused_layer_norm(x, wide, np.zeros_like(wide)), norm2, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_fused_attention_matches_torch(causal):
    q, k, v = normal(2, 3, 9, 4), normal(2, 3, 7 if not causal else 9, 4), normal(2, 3, 7 if not causal else 9, 5)

    def tiny(a, b, c):
        with use_fused_attention():
            return scaled_dot_product_attention(a, b, c, is_causal=causal)

    assert_matches_torch(tiny, lambda a, b, c: F().scaled_dot_product_attention(a, b, c, is_causal=causal), q, k, v)
    assert_gradients_match(tiny, q, k, v)  # and against finite differences, without PyTorch's help
    assert tiny(*(Tensor(x, requires_grad=True) for x in (q, k, v)))._ctx.function.__name__ == "BlockedAttentionOp"
