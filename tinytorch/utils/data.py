"""Skeleton (not generated): ``tinytorch.utils.data``, PyTorch's ``torch.utils.data``.

The same names as ``tinytorch.data`` (``Dataset``, ``TensorDataset``, ``DataLoader``,
``random_split``, ...), gathered from ``tinytorch/data/loader.py`` once module 04 is completed,
so that code written for PyTorch imports them from where PyTorch keeps them.
"""

from tinytorch._exports import gather, missing_name

__all__ = gather(__name__, globals(), ["tinytorch.data.loader"])


def __getattr__(name):
    raise missing_name(__name__, name)
