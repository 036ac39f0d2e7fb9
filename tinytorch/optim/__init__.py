"""Skeleton (not generated): re-exports whatever modules have exported into tinytorch.optim.

``lr_scheduler`` is a namespace of its own, as in PyTorch (``tinytorch.optim.lr_scheduler.StepLR``).
"""

from tinytorch._exports import gather, load_submodules, missing_name

__all__ = gather(__name__, globals(), ["sgd", "adam"])
load_submodules(__name__, ["lr_scheduler"])


def __getattr__(name):
    raise missing_name(__name__, name)
