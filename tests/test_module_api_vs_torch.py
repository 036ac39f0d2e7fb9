"""nn.Module's bookkeeping as PyTorch's, compared with PyTorch itself: the state_dict's keys and
their order (tied weights and shared modules included, so that one library's state dict loads
into the other's model), and every layer's repr (what `print(model)` shows)."""

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as tnn
from gradcheck import torch


def _shared_model(nn, zeros):
    """A model with a buffer of its own, a nested Sequential, a module held twice and a tied weight."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 2)
            self.body = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.BatchNorm1d(2))
            self.register_buffer("steps", zeros(1))
            self.head = nn.Linear(2, 5, bias=False)
            self.head.weight = self.embed.weight  # tied: one Parameter under two names
            self.again = self.body  # one module under two names

    return Model()


def test_state_dict_keys_and_order_match_torch_with_tied_and_shared_modules():
    th = torch()
    mine, theirs = _shared_model(tnn, tinytorch.zeros), _shared_model(th.nn, th.zeros)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    # a PyTorch state dict loads strictly into the tinytorch model, and back
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(mine.head.weight.data, theirs.head.weight.detach().numpy())
    theirs.load_state_dict({k: th.from_numpy(np.array(v)) for k, v in mine.state_dict().items()})


REPRS = [
    "Linear(2, 3)", "Linear(2, 3, bias=False)", "BatchNorm1d(3)", "BatchNorm2d(4, momentum=None)",
    "BatchNorm1d(3, affine=False)", "LayerNorm(4)", "LayerNorm((2, 3), elementwise_affine=False)",
    "GroupNorm(2, 4)", "GroupNorm(2, 4, affine=False)", "InstanceNorm2d(3)", "InstanceNorm1d(3, affine=True)",
    "Dropout(0.3)", "Dropout2d()", "Dropout1d(0.2, inplace=True)", "Embedding(10, 3)", "Embedding(10, 3, padding_idx=0)",
    "ReLU()", "ReLU(inplace=True)", "LeakyReLU(0.2)", "ELU()", "GELU()", "GELU(approximate='tanh')", "Softmax(dim=1)",
    "LogSoftmax(dim=1)", "Sigmoid()", "Tanh()", "SiLU()", "Softplus()", "Softplus(beta=2)", "Hardtanh()", "ReLU6()",
    "PReLU()", "Flatten()", "Unflatten(1, (2, 2))", "Identity()", "CrossEntropyLoss()", "MSELoss()", "NLLLoss()",
    "BCEWithLogitsLoss()", "L1Loss()", "SmoothL1Loss()", "HuberLoss()", "KLDivLoss()", "Upsample(scale_factor=2)",
    "PixelShuffle(2)", "PixelUnshuffle(2)", "ZeroPad2d(1)", "ConstantPad1d(2, 3.5)", "ReflectionPad2d(1)",
    "EmbeddingBag(10, 3)", "Bilinear(2, 3, 4)", "CosineSimilarity()", "PairwiseDistance()", "Hardswish()", "Mish()",
    "Threshold(0.1, 20)", "Softmin(dim=1)", "GLU()", "Fold((4, 4), 2)", "Unfold(2)",
    "Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1))",
    "Conv1d(1, 2, 3)", "Conv2d(1, 2, 3, stride=2, padding=1)", "Conv2d(1, 2, 3, bias=False)",
    "Conv2d(2, 4, (3, 5), dilation=2, groups=2)", "Conv2d(2, 2, 3, padding='same', padding_mode='reflect')",
    "Conv3d(1, 2, 3, padding=1)", "ConvTranspose2d(1, 2, 3, stride=2, output_padding=1)", "ConvTranspose1d(2, 2, 3)",
    "MaxPool1d(2)", "MaxPool1d(3, 1, 1)", "MaxPool2d(2)", "MaxPool2d(3, stride=1, padding=1)", "MaxPool2d((2, 3))",
    "MaxPool3d(2)", "AvgPool1d(3)", "AvgPool1d(3, 1, 1, count_include_pad=False)", "AvgPool2d(2)",
    "AvgPool2d(3, 1, 1, count_include_pad=False)", "AvgPool2d(2, divisor_override=3)", "AvgPool3d(2)",
    "AdaptiveAvgPool2d((1, 1))", "AdaptiveAvgPool2d(1)",
]


@pytest.mark.parametrize("text", REPRS)
def test_repr_matches_torch(text):
    theirs, mine = (eval("nn." + text, {"nn": nn}) for nn in (torch().nn, tnn))
    assert repr(mine) == repr(theirs)
