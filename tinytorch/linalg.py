"""Skeleton (not generated): ``tinytorch.linalg``, PyTorch's ``torch.linalg``.

``inv``, ``det``, ``solve`` and the norms, gathered from ``tinytorch/core/linalg.py`` once
module 02 is completed (like ``tinytorch.nn.functional``, this file exists at every stage, so
that ``tinytorch.linalg`` always names this project's own package).
"""

from tinytorch._exports import gather, missing_name

__all__ = gather(__name__, globals(), ["tinytorch.core.linalg"])


def __getattr__(name):
    raise missing_name(__name__, name)
