"""Skeleton (not generated): ``tinytorch.utils``, PyTorch's ``torch.utils``.

Only ``data`` so far: ``from tinytorch.utils.data import DataLoader, TensorDataset`` as in PyTorch.
"""

from tinytorch._exports import load_submodules, missing_name

load_submodules(__name__, ["data"])


def __getattr__(name):
    raise missing_name(__name__, name)
